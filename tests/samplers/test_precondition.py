"""The warm-up adaptation of SGLD/SGHMC (`samplers.precondition`) against numpy.

On a Gaussian log density the stiffness is an eigenvalue problem and the mean of
squared gradients at exact draws is the precision's diagonal (Fisher identity),
so both are checked against exact numbers.
"""

import arviz as az
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers
from samplers import precondition


def _gaussian(seed, dim=4):
    """A dense precision with a clear gap between its two largest eigenvalues."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(2 * dim, 2 * dim)))
    eigenvalues = np.array([40.0, 12.0, 6.0, 5.0, 3.0, 2.0, 1.5, 1.0])[: 2 * dim]
    precision = basis @ np.diag(eigenvalues) @ basis.T
    mean = rng.normal(size=2 * dim)

    def logdensity(theta1, theta2):
        x = jnp.concatenate([theta1, theta2]) - mean
        return -0.5 * x @ jnp.asarray(precision) @ x

    return precision, mean, logdensity


def _paired(rng, dim=4):
    """A random lower-triangular pair map (a, b, c) and its dense matrix T."""
    a, c = rng.uniform(0.5, 2.0, size=(2, dim))
    b = rng.normal(size=dim)
    matrix = np.block([[np.diag(a), np.zeros((dim, dim))], [np.diag(b), np.diag(c)]])
    scale = precondition.PairedScale(*(jnp.asarray(x) for x in (a, b, c)))
    return scale, matrix


def test_the_paired_map_is_its_matrix():
    rng = np.random.default_rng(0)
    scale, matrix = _paired(rng)
    z = rng.normal(size=8)
    theta = np.concatenate(scale.to_theta(jnp.asarray(z[:4]), jnp.asarray(z[4:])))
    np.testing.assert_allclose(theta, matrix @ z, rtol=1e-12)
    back = np.concatenate(scale.to_z(jnp.asarray(theta[:4]), jnp.asarray(theta[4:])))
    np.testing.assert_allclose(back, z, rtol=1e-12)
    g = rng.normal(size=8)
    pulled = np.concatenate(scale.pull(jnp.asarray(g[:4]), jnp.asarray(g[4:])))
    np.testing.assert_allclose(pulled, matrix.T @ g, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_stiffness_is_the_largest_eigenvalue_of_the_mapped_precision(seed):
    precision, mean, logdensity = _gaussian(seed)
    scale, matrix = _paired(np.random.default_rng(10 + seed))
    value = precondition.stiffness(
        jr.key(seed), logdensity, jnp.asarray(mean[:4]), jnp.asarray(mean[4:]), scale
    )
    exact = np.linalg.eigvalsh(matrix.T @ precision @ matrix).max()
    # 20 power iterations; the mapped spectra have a gap of at least 1.5x, so
    # the Rayleigh quotient is within (1/1.5)^40 ≈ 1e-7 relative.
    np.testing.assert_allclose(float(value), exact, rtol=1e-5)


def _two_stage_gaussian(seed, dim=5, sigma2=0.3):
    """log N(θ₁; 0, I) + log N(θ₂; θ₁, σ₂²) − ½(θ₂ − m)ᵀQ(θ₂ − m), Q dense."""
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(dim, dim))
    quadratic = root @ root.T / dim + np.eye(dim)
    centre = rng.normal(size=dim)

    def logdensity(theta1, theta2, batch=None):
        x = theta2 - centre
        return (
            -0.5 * jnp.sum(theta1**2)
            - 0.5 * jnp.sum((theta2 - theta1) ** 2) / sigma2**2
            - 0.5 * x @ jnp.asarray(quadratic) @ x
        )

    coupling = np.eye(dim) / sigma2**2
    precision = np.block(
        [[np.eye(dim) + coupling, -coupling], [-coupling, coupling + quadratic]]
    )
    return precision, quadratic, logdensity


def test_a_window_of_probes_gives_the_diagonal_blocks():
    """Hutchinson: E[v ⊙ Hv] = diag(H) for Rademacher v; F₁₂ = −1/σ₂² exactly."""
    sigma2, dim = 0.3, 5
    precision, quadratic, logdensity = _two_stage_gaussian(0, dim, sigma2)
    theta = jnp.zeros(dim)
    state = precondition.init(jr.key(0), logdensity, theta, theta, sigma2)
    num_probes = 2000

    def add(state, key):
        probes = precondition.diagonal_curvature(key, logdensity, theta, theta)
        return precondition.accumulate(state, probes), None

    state, _ = jax.lax.scan(add, state, jr.split(jr.key(1), num_probes))
    new = precondition.update(jr.key(2), state, logdensity, theta, theta, sigma2)
    f11, f12, f22 = (np.asarray(x) for x in new.curvature)
    # The θ₁ block is diagonal: its probes are exact.
    np.testing.assert_allclose(f11, 1 + 1 / sigma2**2, rtol=1e-10)
    np.testing.assert_allclose(f12, -1 / sigma2**2, rtol=1e-12)
    # A θ₂ probe has variance Σ_{k≠j} Q_jk²; 5 SE (false failure < 6e-7 per
    # coordinate) plus the shrinkage towards the start, of weight 5/2005.
    se = np.sqrt((np.sum(quadratic**2, axis=1) - np.diag(quadratic) ** 2) / num_probes)
    expected = np.diag(precision)[dim:]
    assert np.all(np.abs(f22 - expected) < 5 * se + 0.003 * expected), (f22, expected)
    # Each pair's map is the Cholesky factor of its block's inverse, up to the
    # one factor that makes the stiffest direction unit.
    a, b, c = (np.asarray(x) for x in new.scale)
    matrix = np.block([[np.diag(a), np.zeros((dim, dim))], [np.diag(b), np.diag(c)]])
    mapped = matrix.T @ precision @ matrix
    # 20 power iterations on a spectrum whose top gap is small: 1e-3 relative.
    np.testing.assert_allclose(np.linalg.eigvalsh(mapped).max(), 1.0, rtol=1e-3)
    for j in range(dim):
        block = np.array([[f11[j], f12[j]], [f12[j], f22[j]]])
        lower = np.array([[a[j], 0.0], [b[j], c[j]]])
        product = lower @ lower.T @ block
        np.testing.assert_allclose(product, product[0, 0] * np.eye(2), atol=1e-9)
    assert int(new.count) == 0


def test_the_paired_map_conditions_the_coupling_a_diagonal_cannot():
    """On this Gaussian the exact blocks bring the condition number from that of
    any diagonal scaling (the best of which is at least that of Jacobi's, up to
    a factor 2d) down to a few."""
    sigma2, dim = 0.2, 5
    precision, _, logdensity = _two_stage_gaussian(1, dim, sigma2)
    theta = jnp.zeros(dim)
    state = precondition.init(jr.key(0), logdensity, theta, theta, sigma2)
    a, b, c = (np.asarray(x) for x in state.scale)
    matrix = np.block([[np.diag(a), np.zeros((dim, dim))], [np.diag(b), np.diag(c)]])
    eigenvalues = np.linalg.eigvalsh(matrix.T @ precision @ matrix)
    jacobi = 1 / np.sqrt(np.diag(precision))
    diagonal = np.linalg.eigvalsh(jacobi[:, None] * precision * jacobi[None, :])
    assert eigenvalues.max() / eigenvalues.min() < 10
    assert diagonal.max() / diagonal.min() > 40


def test_windows_double_inside_the_warm_up():
    ends = precondition.window_ends(1000)
    assert ends == (153, 260, 473, 900)
    lengths = np.diff((100,) + ends)
    np.testing.assert_allclose(lengths[1:] / lengths[:-1], 2.0, rtol=0.05)
    assert precondition.window_ends(19) == ()


@pytest.mark.statistical
def test_adaptive_sgld_matches_an_oblique_posterior(stat_key):
    """Default (adapted) SGLD against the exact posterior of an oblique case.

    Euler–Maruyama keeps a Gaussian's mean exactly, so the mean must agree within
    the Monte Carlo error: 4.5 MCSE per coordinate, a false-failure rate of 7e-6
    each, 4e-5 over the 6 coordinates. The variance carries the adaptation's 5%
    in the stiffest direction and the noise of ∇log Z from 16 inner particles:
    measured under offsets 0–5, ratios 0.87–1.16 (SE about 0.05 each), so it
    must be within 30%. With the diagonal preconditioner and the inner
    particles reweighted in place a θ₁ coordinate reached +45% (offset 4).
    Max |z| of the means 0.58–1.85. Passes under offsets 0–5 (checked
    2026-12-03).
    """
    case = posterior.LinearGaussianCase.random(
        jr.key(5), d=3, m=2, n=6, lam=2.0, sigma1=1.0, sigma2=0.5
    )
    tree = samplers.sample(
        case.model,
        key=stat_key(6),
        method="sgld",
        num_chains=4,
        num_warmup=400,
        num_samples=2500,
        log_partition_every=0,
        pointwise_log_likelihood=False,
        progress=False,
    )
    assert tree.attrs["adaptive"] == 1
    draws = np.concatenate(
        [tree.posterior["theta1"].values, tree.posterior["theta2"].values], axis=-1
    )
    mean, cov = (np.asarray(x) for x in case.posterior_mean_cov())
    errors = []
    for j in range(draws.shape[-1]):
        values = draws[..., j]
        mcse = float(az.mcse(values, method="mean"))
        errors.append((values.mean() - mean[j]) / mcse)
    assert np.all(np.abs(errors) < 4.5), errors
    variance = ((draws - mean) ** 2).reshape(-1, draws.shape[-1]).mean(axis=0)
    ratio = variance / np.diag(cov)
    assert np.all(np.abs(ratio - 1) < 0.3), ratio
