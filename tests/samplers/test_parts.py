"""Unit tests of the parts the estimators are built from: a move of the
particles (`samplers.moves.build_move`) and the adaptive temperature step
(`samplers.annealing.next_beta`), each against closed forms, and the buffer
of the steps' info (`samplers.ais.empty_info`)."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from samplers import ais
from samplers.ais import AISState
from samplers.annealing import next_beta
from samplers.base import values_and_grads
from samplers.moves import build_move

# π_β ∝ N(θ; m, σ²I) e^{−β U}, U(θ) = ½ Σ a_j θ_j²: Gaussian, with precision
# 1/σ² + β a_j and mean (m_j/σ²)/(1/σ² + β a_j) per coordinate.
CURVATURE = jnp.array([0.5, 4.0, 20.0, 60.0])
MEAN = jnp.array([1.0, -0.5, 0.3, 0.0])
SIGMA, BETA = 1.0, 0.7


def potential(theta):
    return 0.5 * jnp.sum(CURVATURE * theta**2)


def exact_moments():
    precision = 1 / SIGMA**2 + BETA * CURVATURE
    return (MEAN / SIGMA**2) / precision, 1 / precision


@pytest.mark.statistical
@pytest.mark.parametrize(
    "kind, dtype",
    [("mala", jnp.float64), ("hmc", jnp.float64), ("mala", jnp.float32)],
    # float32 particles with x64 on: MALA as one leapfrog step (samplers.moves).
    ids=["mala", "hmc", "mala-float32"],
)
def test_a_move_leaves_the_tempered_target_invariant_and_moves(kind, dtype, stat_key):
    """Checked under --stat-key-offset 0-5."""
    n = 4000
    mean, variance = exact_moments()
    key_start, key_move = jr.split(stat_key(41))
    start = mean[None, :] + jnp.sqrt(variance)[None, :] * jr.normal(key_start, (n, 4))
    start = start.astype(dtype)
    grads = start * CURVATURE[None, :].astype(dtype)
    values = 0.5 * jnp.sum(CURVATURE[None, :].astype(dtype) * start**2, axis=1)
    # A per-coordinate scale near the target's, as a fitted reference gives.
    scale = (jnp.sqrt(variance) * 1.3).astype(dtype)
    move = build_move(potential, kind=kind, num_steps=3)
    end, acceptance = move(
        key_move,
        start,
        values,
        grads,
        BETA,
        MEAN.astype(dtype),
        SIGMA,
        scale,
        jnp.asarray(0.9),
    )
    assert end.dtype == dtype
    end = np.asarray(end, dtype=float)
    # Independent particles, each from π_β: 16 checks at |z| < 4 (two-sided
    # 6e-5 each) fail together about once in a thousand runs.
    mean_z = (end.mean(0) - mean) / np.sqrt(variance / n)
    variance_z = (end.var(0, ddof=1) / variance - 1) / math.sqrt(2 / (n - 1))
    assert np.all(np.abs(mean_z) < 4), mean_z
    assert np.all(np.abs(variance_z) < 4), variance_z
    # It moves: a move that rejects everything would pass the checks above.
    assert 0.1 < float(acceptance) < 1.0
    moved = np.mean(np.any(end != np.asarray(start), axis=1))
    assert moved > 0.5


@pytest.mark.parametrize("kind, dtype", [("mala", jnp.float64), ("hmc", jnp.float32)])
def test_a_move_with_potential_returns_u_and_its_gradient_where_it_ends(kind, dtype):
    # A non-quadratic U, a per-coordinate base scale and beta != 1: the values
    # read from the kernels' states must equal U and grad U evaluated anew.
    def curved(theta):
        return jnp.sum(jnp.log(jnp.cosh(2.0 * theta - 0.5))) + theta[0] * theta[1]

    start = (MEAN[None, :] + 0.1 * jr.normal(jr.key(5), (64, 4))).astype(dtype)
    values, grads = values_and_grads(curved, start)
    sigma = jnp.array([1.0, 0.5, 0.3, 2.0])
    move = build_move(curved, kind=kind, num_steps=2, with_potential=True)
    end, acceptance, end_values, end_grads = move(
        jr.key(6),
        start,
        values,
        grads,
        0.7,
        MEAN.astype(dtype),
        sigma,
        (0.2 * sigma).astype(dtype),
        jnp.asarray(0.1),
    )
    expected_values, expected_grads = values_and_grads(curved, end)
    assert np.mean(np.any(end != start, axis=1)) > 0.3, float(acceptance)
    tolerance = 1e-10 if dtype == jnp.float64 else 1e-3
    np.testing.assert_allclose(end_values, expected_values, atol=tolerance)
    np.testing.assert_allclose(end_grads, expected_grads, atol=tolerance)
    assert end_values.dtype == values.dtype and end_grads.dtype == grads.dtype


def _state(potential_values, log_weights, beta, islands):
    n = potential_values.shape[0]
    return AISState(
        particles=jnp.zeros((n, 1)),
        log_weights=log_weights,
        beta=jnp.asarray(beta),
        log_z=jnp.zeros(islands),
        potential=potential_values,
        potential_grad=jnp.zeros((n, 1)),
        step_size=jnp.asarray(1.0),
        spent=jnp.zeros(islands),
        eve=jnp.arange(n),
        resamples=jnp.zeros(islands, jnp.int32),
    )


def _conditional_ess(potential_values, log_weights, delta):
    w = np.exp(log_weights - log_weights.max())
    w = w / w.sum()
    increment = np.exp(-delta * (potential_values - potential_values.min()))
    return (w @ increment) ** 2 / (w @ increment**2)


def test_next_beta_steps_to_the_target_conditional_ess_in_the_worst_island():
    rng = np.random.default_rng(0)
    potential_values = rng.exponential(5.0, 64)
    log_weights = rng.normal(0.0, 0.3, 64)
    for island in np.split(np.arange(64), 2):
        log_weights[island] -= np.log(np.exp(log_weights[island]).sum())
    state = _state(jnp.asarray(potential_values), jnp.asarray(log_weights), 0.2, 2)
    beta = float(next_beta(state, 1.0, 0.9))
    assert 0.2 < beta < 1.0
    delta = beta - 0.2
    ess = [
        _conditional_ess(potential_values[i], log_weights[i], delta)
        for i in np.split(np.arange(64), 2)
    ]
    assert min(ess) == pytest.approx(0.9, abs=1e-4)
    # A step past it would fall below the target.
    assert (
        min(
            _conditional_ess(potential_values[i], log_weights[i], delta + 1e-3)
            for i in np.split(np.arange(64), 2)
        )
        < 0.9
    )


def test_next_beta_stops_at_the_end_when_the_whole_step_keeps_the_ess():
    potential_values = jnp.linspace(0.0, 1e-3, 16)
    state = _state(potential_values, jnp.full(16, -math.log(16)), 0.5, 1)
    assert float(next_beta(state, 1.0, 0.9)) == pytest.approx(1.0)
    # And backwards (the reverse path), towards a lower β.
    assert float(next_beta(state, 0.0, 0.9)) == pytest.approx(0.0)


@pytest.mark.parametrize("move", ["mala", "hmc"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("precondition", [True, False])
def test_the_info_buffer_has_the_shape_of_a_step_s_info(move, dtype, precondition):
    particles = jr.normal(jr.key(0), (16, 4), dtype)

    def potential_in_dtype(theta):
        return potential(theta).astype(dtype)

    step = ais.build_kernel(
        potential_in_dtype,
        MEAN.astype(dtype),
        SIGMA,
        move=move,
        precondition=precondition,
    )
    state = ais.init(
        particles,
        potential_in_dtype,
        beta=0.0,
        step_size=0.3,
        islands=ais.num_islands(16, precondition),
    )
    _, one = jax.eval_shape(step, jr.key(1), state, state.beta)
    buffer = ais.empty_info(state, 7)
    assert jax.tree.structure(buffer) == jax.tree.structure(one)
    for name, leaf, step_leaf in zip(one._fields, buffer, one, strict=True):
        assert leaf.shape == (7, *step_leaf.shape), name
        assert leaf.dtype == step_leaf.dtype, name
