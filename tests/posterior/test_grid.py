"""The log-space quadrature of `Grid2DCase` and the mechanism case built on it."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from numpy.testing import assert_allclose

from posterior import Grid2DCase, LinearGaussianCase, MechanismCase
from posterior.mechanism import intended_on_test


def _linear_space_mean_cov(grid):
    """The quadrature before it moved to log space (exponentials multiplied):
    the reference where nothing underflows."""
    model = grid.model
    kernels = [np.exp(k) for k in grid._log_kernels]
    agree = np.exp(-model.lam * grid.on_grid(model.disagreement))
    log_z = np.log(kernels[0] @ agree @ kernels[1].T)
    a, b = np.meshgrid(*grid.nodes, indexing="ij")
    theta0 = np.asarray(model.theta0)
    log_f = -((a - theta0[0]) ** 2 + (b - theta0[1]) ** 2) / (2 * model.sigma1**2)
    log_f = log_f - log_z
    log_g = grid.on_grid(model.log_likelihood) - model.lam * grid.on_grid(
        model.disagreement
    )
    f, g = np.exp(log_f - log_f.max()), np.exp(log_g - log_g.max())
    one = np.ones_like(a)

    def moment(f_weight, g_weight):
        return np.sum(f * f_weight * (kernels[0] @ (g * g_weight) @ kernels[1].T))

    total = moment(one, one)
    firsts = [(c, one) for c in (a, b)] + [(one, c) for c in (a, b)]
    mean = np.array([moment(fw, gw) / total for fw, gw in firsts])
    second = np.array(
        [[moment(fi * fj, gi * gj) / total for fj, gj in firsts] for fi, gi in firsts]
    )
    return mean, second - np.outer(mean, mean)


def test_log_space_agrees_with_linear_space_where_nothing_underflows():
    grid = Grid2DCase.random(jr.key(901))
    mean, cov = grid.posterior_mean_cov()
    old_mean, old_cov = _linear_space_mean_cov(grid)
    assert_allclose(mean, old_mean, rtol=1e-9, atol=1e-12)
    assert_allclose(cov, old_cov, rtol=1e-8, atol=1e-12)


def test_log_z_on_the_grid_matches_the_closed_form_at_kappa_25():
    # κ = λσ₂² = 25 on a two-parameter linear-Gaussian case.
    case = LinearGaussianCase.random(
        jr.key(7), d=2, m=2, n=3, lam=100.0, sigma1=1.0, sigma2=0.5
    )
    grid = Grid2DCase(case.model, grid_size=121, width=5.0)
    log_z = grid.log_partition_grid()
    # Interior nodes only: near the edge the kernel reaches past the grid.
    for i in range(40, 81, 8):
        for j in range(40, 81, 8):
            theta1 = jnp.array([grid.nodes[0][i], grid.nodes[1][j]])
            exact = float(case.log_partition(theta1))
            assert log_z[i, j] == pytest.approx(exact, rel=1e-8, abs=1e-8)
    mean, cov = grid.posterior_mean_cov()
    exact_mean, exact_cov = (np.asarray(x) for x in case.posterior_mean_cov())
    assert_allclose(mean, exact_mean, rtol=1e-7, atol=1e-9)
    assert_allclose(cov, exact_cov, rtol=1e-6, atol=1e-9)


def test_the_mechanism_case_is_the_one_specified():
    case = MechanismCase(25.0, 0.4, 0.1, grid_size=161)
    model = case.model
    assert model.lam == pytest.approx(25.0 / 0.1**2)
    rng = np.random.default_rng(0)
    for a, h in rng.normal(0.5, 1.0, (5, 2)):
        theta = jnp.array([a, h])
        assert float(model.disagreement(theta)) == pytest.approx(
            0.5 * a**2 * (1 - h) ** 2, rel=1e-12
        )
        # L up to its constant, against the formula of the case.
        formula = -((a + (1 - a) * h - 1) ** 2) / (2 * 0.1**2) - (h - 1) ** 2 / (
            2 * 0.05**2
        )
        at_truth = float(model.log_likelihood(jnp.array([1.0, 1.0])))
        assert float(model.log_likelihood(theta)) - at_truth == pytest.approx(
            formula, rel=1e-10
        )
        assert float(intended_on_test(theta)) == pytest.approx(a + (1 - a) * (h - 1))


def test_halving_the_spacing_moves_no_probability_by_a_thousandth():
    # κ = 25, where the posterior is bimodal and linear space underflows.
    coarse = MechanismCase(25.0, 0.4, 0.1, grid_size=161)
    fine = MechanismCase(25.0, 0.4, 0.1, grid_size=321)
    wide = MechanismCase(25.0, 0.4, 0.1, grid_size=201, width=5.0)
    for baseline in (None, "no_log_partition"):
        for which in ("p_honest", "p_imitate"):
            values = [getattr(c, which)(baseline) for c in (coarse, fine, wide)]
            assert abs(values[0] - values[1]) < 1e-3, (baseline, which, values)
            # A wider grid (same spacing) loses no mass either.
            assert abs(values[0] - values[2]) < 1e-3, (baseline, which, values)
    assert 0.05 < coarse.p_honest() < 0.95  # both modes hold mass
