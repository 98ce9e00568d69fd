"""The fitted-Gaussian path of `samplers.reference`: its parts against scipy and
autodiff, and `log_partition(reference="fitted")` end to end on small cases."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

from samplers import log_partition
from samplers import reference as reference_path


def test_fit_is_exact_for_a_diagonal_gaussian_from_any_cloud():
    # Stein's identity: with the scores of N(mu, diag v) the fit recovers mu and v
    # from five arbitrarily weighted points, whether the cloud is too wide (as in
    # stiff directions a pilot has not yet contracted) or too narrow (collapsed by
    # resampling). v <= sigma^2, as for any log-concave tilt of the prior.
    rng = np.random.default_rng(0)
    mu, v = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.01, 0.25])
    spread = np.sqrt(v) * np.array([0.3, 5.0, 0.5])
    particles = mu + 0.4 * spread + spread * rng.standard_normal((5, 3))
    scores = -(particles - mu) / v
    fitted = reference_path.fit(
        jnp.asarray(particles),
        jnp.asarray(rng.standard_normal(5)),
        jnp.asarray(scores),
        1.0,
    )
    np.testing.assert_allclose(fitted.mean, mu, atol=1e-12)
    np.testing.assert_allclose(fitted.scale, np.sqrt(v), rtol=1e-12)


def test_fit_follows_the_stein_formulas_within_its_limits():
    # Coordinate 0: a Gaussian score whose mean shift is about two standard
    # deviations, taken. Coordinate 1: a covariance near zero, whose variance is
    # capped at max(sigma^2, moments) and whose shift of about four standard
    # deviations is refused. Coordinate 2: a positive covariance, plain moments.
    rng = np.random.default_rng(1)
    n, sigma = 200, 1.0
    particles = rng.standard_normal((n, 3)) * [0.7, 1.0, 1.0]
    scores = np.stack(
        [
            -(particles[:, 0] - 1.4) / 0.5,
            -0.01 * particles[:, 1] + 4.0 + 0.1 * rng.standard_normal(n),
            particles[:, 2],
        ],
        axis=1,
    )
    log_weights = 0.3 * rng.standard_normal(n)
    weights = np.exp(log_weights) / np.exp(log_weights).sum()
    mean = weights @ particles
    variance = weights @ (particles - mean) ** 2
    score_mean = weights @ scores
    covariance = weights @ ((particles - mean) * (scores - score_mean))
    stein = variance / -covariance
    assert stein[0] < max(sigma**2, variance[0])
    assert stein[1] > 10 * max(sigma**2, variance[1]) and covariance[2] > 0
    expected_variance = np.array([stein[0], max(sigma**2, variance[1]), variance[2]])
    shift = expected_variance * score_mean
    # Shifts in units of the larger of the fitted and the cloud's deviations: the
    # limit is three.
    in_sd = np.abs(shift) / np.sqrt(np.maximum(expected_variance, variance))
    assert 1.5 < in_sd[0] < 2.5 and 3.5 < in_sd[1] < 4.5
    expected_mean = mean + np.array([shift[0], 0.0, 0.0])
    fitted = reference_path.fit(
        jnp.asarray(particles), jnp.asarray(log_weights), jnp.asarray(scores), sigma
    )
    np.testing.assert_allclose(fitted.mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(fitted.scale, np.sqrt(expected_variance), rtol=1e-12)


def test_fit_of_a_collapsed_cloud_falls_back_to_the_prior_scale():
    particles = jnp.array([[1.0, 0.0], [1.0, 2.0], [1.0, 4.0]])
    fitted = reference_path.fit(particles, jnp.zeros(3), -particles, 0.7)
    assert float(fitted.scale[0]) == 0.7
    assert float(fitted.mean[0]) == 1.0


@pytest.fixture(scope="module")
def case(exact):
    return exact.dense_case(0, d=2, m=2, lam=1.0, sigma=0.8, offset=1.0)


def _run(case, key, **kwargs):
    kwargs = {"method": "ais", "num_particles": 16, "reference": "fitted", **kwargs}
    return log_partition(
        case.disagreement,
        jnp.asarray(case.theta1),
        lam=case.lam,
        sigma=case.sigma,
        key=key,
        **kwargs,
    )


@pytest.mark.statistical
def test_fitted_path_is_exact_on_a_diagonal_gaussian_target(exact, stat_key):
    # Quadratic C with axis-aligned curvature: the fitted reference is the target
    # itself, so one temperature suffices and every log-weight is the same.
    diagonal = exact.diagonal_case(
        0, d=100, lam=1.0, sigma=1.0, condition=1e4, power=1.5, offset=0.8
    )
    # Exact for any key, so the key is a statistical one (``--stat-key-offset``
    # moves it); the prior path's error below is Monte Carlo: with 16 particles
    # it is several nats on this d = 100 case, so a false failure (|error| below
    # 1e-3) has a chance well under 1e-4. Passes under offsets 0..5 (checked
    # 2026-12-03).
    result = _run(diagonal, stat_key(0))
    assert int(result.num_temperatures) == 1
    np.testing.assert_allclose(result.log_z, diagonal.log_z, rtol=1e-10)
    # The control-variate gradient is exact on an axis-aligned quadratic, provided
    # the particles' grad U is recovered from grad U_q along the fitted path.
    np.testing.assert_allclose(
        result.grad_log_z, diagonal.grad_log_z, rtol=1e-8, atol=1e-10
    )
    prior = _run(diagonal, stat_key(0), reference="prior")
    print(f"prior path's error {float(prior.log_z) - diagonal.log_z:+.3f}")
    assert abs(float(prior.log_z) - diagonal.log_z) > 1e-3


def test_the_path_keeps_the_target_density():
    # log N(t; theta1, sigma^2) - U(t) == log q(t) - U_q(t) + offset for every t:
    # the fitted path ends at the same unnormalised target, with log Z shifted by
    # the offset.
    rng = np.random.default_rng(1)
    d, sigma = 4, 0.8
    theta1 = jnp.asarray(rng.standard_normal(d))
    fitted = reference_path.Reference(
        jnp.asarray(rng.standard_normal(d)), jnp.asarray(rng.uniform(0.2, 2.0, d))
    )

    def potential_fn(t):
        return jnp.sum(jnp.sin(t) ** 2) + 0.3 * jnp.sum(t**4)

    potential_q = reference_path.potential(potential_fn, theta1, sigma, fitted)
    offset = float(reference_path.log_z_offset(sigma, fitted))
    points = rng.standard_normal((5, d))
    for point in points:
        target = stats.norm.logpdf(point, theta1, sigma).sum() - potential_fn(point)
        along_path = (
            stats.norm.logpdf(point, fitted.mean, fitted.scale).sum()
            - potential_q(jnp.asarray(point))
            + offset
        )
        np.testing.assert_allclose(along_path, target, rtol=1e-12)
    grads_q = jax.vmap(jax.grad(potential_q))(jnp.asarray(points))
    np.testing.assert_allclose(
        reference_path.target_grad(jnp.asarray(points), grads_q, theta1, sigma, fitted),
        jax.vmap(jax.grad(potential_fn))(jnp.asarray(points)),
        rtol=1e-10,
        atol=1e-12,
    )


def test_fitted_result_reports_its_pilot_and_reference(case):
    result = _run(case, jr.key(0), pilot_particles=6)
    assert result.reference.mean.shape == (case.dim,)
    assert np.all(np.asarray(result.reference.scale) > 0)
    pilot_steps = int(result.pilot.num_temperatures)
    assert pilot_steps >= 1
    assert float(result.pilot.info.beta[pilot_steps - 1]) == 1.0
    prior = _run(case, jr.key(0), reference="prior")
    assert prior.pilot is None and prior.reference is None
    # No path, no pilot: plain rejection ignores the reference.
    exact = _run(case, jr.key(0), method="rejection")
    assert exact.pilot is None and exact.reference is None


def test_fitted_same_key_gives_same_numbers_and_vmaps(case):
    first, second = _run(case, jr.key(7)), _run(case, jr.key(7))
    jax.tree.map(np.testing.assert_array_equal, first, second)
    keys = jr.split(jr.key(3), 3)
    batched = jax.vmap(lambda key: _run(case, key))(keys)
    for index in range(3):
        looped = _run(case, keys[index])
        np.testing.assert_allclose(batched.log_z[index], looped.log_z, rtol=1e-10)
        np.testing.assert_allclose(
            batched.grad_log_z[index], looped.grad_log_z, rtol=1e-8, atol=1e-12
        )
