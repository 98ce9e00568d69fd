"""`sample(init=...)`: chains start where they are told, checked before compiling."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers


@pytest.fixture(scope="module")
def case():
    return posterior.LinearGaussianCase.random(
        jr.key(3), d=3, m=2, n=4, lam=1.0, sigma1=1.0, sigma2=0.5
    )


def _first_draw(model, init, num_chains=2):
    # A vanishing step leaves SGLD where it starts: the first draw is the start.
    tree = samplers.sample(
        model,
        key=jr.key(0),
        method="sgld",
        init=init,
        init_spread=0.0,
        num_chains=num_chains,
        num_warmup=0,
        num_samples=2,
        step_size=1e-14,
        log_partition_every=0,
        progress=False,
    )
    return tree.posterior["theta1"].values[:, 0], tree.posterior["theta2"].values[:, 0]


def test_chains_start_at_a_given_point_or_one_point_per_chain(case):
    model = case.model
    point1 = model.theta0 + 1.0
    point2 = model.theta0 - 2.0
    theta1, theta2 = _first_draw(model, (point1, point2))
    np.testing.assert_allclose(theta1, np.broadcast_to(point1, (2, 3)), atol=1e-6)
    np.testing.assert_allclose(theta2, np.broadcast_to(point2, (2, 3)), atol=1e-6)
    per_chain = jnp.stack([point1, point2])
    theta1, _ = _first_draw(model, (per_chain, per_chain))
    np.testing.assert_allclose(theta1, per_chain, atol=1e-6)


def test_a_map_result_is_a_warm_start(case):
    found = samplers.find_map(case.model, key=jr.key(1), num_steps=50, progress=False)
    theta1, theta2 = _first_draw(case.model, found)
    np.testing.assert_allclose(theta1[0], found.theta1, atol=1e-6)
    np.testing.assert_allclose(theta2[0], found.theta2, atol=1e-6)


def test_find_map_from_several_starts_gives_what_each_gives_alone(case):
    # The penalty baseline: no inner MALA chains, whose accept/reject steps would
    # grow the rounding differences of a batched program into visible ones.
    model = case.model
    starts1 = model.theta0[None] + jr.normal(jr.key(4), (2, 3))
    starts2 = starts1 + 0.5 * jr.normal(jr.key(5), (2, 3))
    kwargs = dict(key=jr.key(6), num_steps=40, baseline="no_log_partition")
    fits = samplers.find_map(model, init=(starts1, starts2), progress=False, **kwargs)
    assert fits.theta1.shape == (2, 3) and fits.loss.shape == (2, 40)
    assert fits.log_partition.shape == (2,) and fits.log_joint.shape == (2,)
    for i in (0, 1):
        alone = samplers.find_map(
            model, init=(starts1[i], starts2[i]), progress=False, **kwargs
        )
        for name in ("theta1", "theta2", "log_joint", "loss"):
            np.testing.assert_allclose(
                getattr(fits, name)[i], getattr(alone, name), rtol=1e-9, err_msg=name
            )
    # The starts end apart (40 steps do not reach the mode), and each chain of
    # a run started from the batch starts at its own optimum.
    assert float(jnp.min(jnp.ptp(fits.theta1, axis=0))) > 1e-3
    theta1, theta2 = _first_draw(model, fits)
    np.testing.assert_allclose(theta1, fits.theta1, atol=1e-6)
    np.testing.assert_allclose(theta2, fits.theta2, atol=1e-6)


def test_init_map_starts_at_the_exact_mode(case):
    # The linear-Gaussian posterior's mode is its mean; find_map's default 2000
    # Adam steps reach it to well within the posterior's spread.
    theta1, theta2 = _first_draw(case.model, "map")
    mean, cov = case.posterior_mean_cov()
    d = case.model.num_params
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(theta1[0] - mean[:d]) < 0.05 * sd[:d])
    assert np.all(np.abs(theta2[0] - mean[d:]) < 0.05 * sd[d:])


@pytest.mark.parametrize(
    "init, error, match",
    [
        ("mode", ValueError, "`init` must be 'map' or 'theta0'"),
        (0.5, TypeError, "`init` must be"),
        ((jnp.zeros(4), jnp.zeros(3)), ValueError, "`init`'s theta1 must have shape"),
        ((jnp.zeros(3), jnp.zeros((5, 3))), ValueError, "`init`'s theta2"),
        ((jnp.zeros(3, int), jnp.zeros(3)), TypeError, "floating point"),
        ((jnp.full(3, jnp.nan), jnp.zeros(3)), ValueError, "NaN"),
    ],
)
def test_bad_init_is_refused_by_name(case, init, error, match):
    with pytest.raises(error, match=match):
        samplers.sample(case.model, key=jr.key(0), method="sgld", init=init)
