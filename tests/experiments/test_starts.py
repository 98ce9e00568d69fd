"""How the experiment's MAP fits are set up: where they start (θ₀ first, then
prior draws scaled by `start_spread`, the same for every method of a seed: the
methods are compared paired by seed, so they must share their starts as they
share θ₀) and Adam's rate over the fit."""

import dataclasses

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from two_stage_posterior.honest_qa import experiment
from two_stage_posterior.honest_qa.config import QUICK, ModelConfig, SamplerConfig
from two_stage_posterior.honest_qa.world import WorldConfig, make_world


def _models():
    world = make_world(WorldConfig(**QUICK["world"]), seed=0)
    config = ModelConfig(**QUICK["model"])
    key = jr.fold_in(jr.key(0), 0)
    return [
        experiment.build_model(world, method, config, key)
        for method in ("standard", "two_stage")
    ]


def test_starts_are_theta0_then_prior_draws_scaled_by_the_spread():
    model, other = _models()
    theta0 = model.theta0[None]
    sampler = SamplerConfig(num_chains=4)
    key = jr.key(3)
    theta1, theta2 = experiment.starts(model, sampler, key)
    assert theta1.shape == theta2.shape == (4, model.num_params)
    np.testing.assert_array_equal(theta1[0], model.theta0)
    np.testing.assert_array_equal(theta2[0], model.theta0)
    # The same noise at another spread: the offsets scale with it, θ₂'s about
    # θ₁ by σ₂ where θ₁'s about θ₀ go by σ₁.
    wide1, wide2 = experiment.starts(
        model, dataclasses.replace(sampler, start_spread=1.0), key
    )
    np.testing.assert_allclose(
        wide1[1:] - theta0, (theta1[1:] - theta0) / 0.2, rtol=1e-9
    )
    ratio = jnp.std(wide2[1:] - wide1[1:]) / jnp.std(wide1[1:] - theta0)
    assert 0.8 * model.sigma2 / model.sigma1 < ratio < 1.2 * model.sigma2 / model.sigma1
    # Spread 0 starts every fit at θ₀.
    flat1, _ = experiment.starts(
        model, dataclasses.replace(sampler, start_spread=0.0), key
    )
    np.testing.assert_array_equal(flat1, jnp.broadcast_to(model.theta0, flat1.shape))
    # Another method of the seed (other answers, same network): the same starts.
    same1, same2 = experiment.starts(other, sampler, key)
    np.testing.assert_array_equal(same1, theta1)
    np.testing.assert_array_equal(same2, theta2)


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_the_map_rate_decays_by_a_cosine_unless_constant(schedule):
    # Under a constant gradient Adam's step is its rate (m̂ = g, v̂ = g²), so
    # the steps show the rate at every step of the fit.
    sampler = SamplerConfig(map_steps=10, learning_rate=0.1, map_schedule=schedule)
    optimizer = experiment.map_optimizer(sampler)
    params = jnp.zeros(2)
    state = optimizer.init(params)
    rates = []
    for _ in range(sampler.map_steps):
        updates, state = optimizer.update(jnp.array([1.0, -4.0]), state, params)
        rates.append(-updates[0])
        np.testing.assert_allclose(updates[1], -updates[0], rtol=1e-6)
    t = np.arange(sampler.map_steps)
    expected = 0.1 * (0.5 * (1 + np.cos(np.pi * t / 10)) if schedule == "cosine" else 1)
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_every_seed_shares_one_map_optimizer():
    # find_map keys its compiled program by the optimizer's identity: a new
    # one per seed and method would trace (and look up) the program anew.
    first = experiment.map_optimizer(SamplerConfig(map_steps=10))
    assert experiment.map_optimizer(SamplerConfig(map_steps=10)) is first
    assert experiment.map_optimizer(SamplerConfig(map_steps=11)) is not first


def test_an_unknown_map_schedule_is_refused_by_name():
    with pytest.raises(ValueError, match="map_schedule"):
        SamplerConfig(map_schedule="linear")
