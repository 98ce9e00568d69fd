r"""SGHMC (`samplers.sample(method="sghmc")`) against the exact linear-Gaussian posterior.

blackjax's SGHMC takes ``step_size`` as a time step ε (the momentum has unit
variance) and redraws the momentum at every outer step, after L Euler steps.
Held at a fixed L, its ε → 0 limit is a Langevin chain whose variance is about
L/(L−1) times too large; the exact limit keeps the trajectory time T = Lε fixed,
so every run here has T = σ₂ and the friction at its default, 2/σ₂.

Tolerances: α = 1e-3 per test, Bonferroni over its m assertions; MCSEs from
ArviZ's ESS of the mean over 8 chains. The chain is linear on a Gaussian target,
so every statistic here (coordinates, and a quadratic form of them) has light
tails and ArviZ's ESS of 8 × 1000 or more draws is a stable MCSE.
False-failure rate: at most 1e-3 for the mean test; for the variance test
(one-sided; measured errors 0.31 ± 0.02 and 0.07 ± 0.02, whose difference is
about 9 of its standard errors where the assertion needs 3.1) about
Φ(3.1 − 9) ≈ 1e-9. Keys from the ``stat_key`` fixture; passes under
``--stat-key-offset`` 0..5 (checked 2026-12-03).
"""

import arviz as az
import jax.random as jr
import numpy as np
import pytest
from scipy.stats import norm

import posterior
import samplers

pytestmark = pytest.mark.statistical

ALPHA = 1e-3
# Time steps in units of σ₂, each run with L = 1/step Euler steps (T = σ₂). On
# this case the linear-Gaussian theory of the chain gives a mean relative
# variance error (see `relative_variance_error` in conftest.py) of 0.30 at
# 0.2 σ₂, 0.12 at 0.1 σ₂ and 0.054 at 0.05 σ₂, and an integrated
# autocorrelation of about 18 outer steps for the slowest coordinate whatever
# the step.
LARGE_STEP, SMALL_STEP = 0.2, 0.05
# For the mean, whose error does not depend on the step: 8 × 3000 draws give an
# ESS of about 1300, an MCSE of 0.022 for θ₁, a sixth of the 0.13 by which θ₁'s
# mean moves when −log Z is dropped.
MEAN_STEP, MEAN_DRAWS = 0.1, 3000


@pytest.fixture(scope="module")
def case():
    # The case of test_sample.py: -log Z(θ₁) varies by a few nats over the
    # posterior, so a wrong ∇log Z moves θ₁'s mean by many MCSEs.
    return posterior.LinearGaussianCase.random(
        jr.key(11), d=2, m=2, n=4, lam=3.0, sigma1=1.0, sigma2=0.6
    )


def _draws(case, step, key, num_samples=1000):
    """(chain, draw, 4) draws of (θ₁, θ₂) with time step ``step`` σ₂, T = σ₂."""
    tree = samplers.sample(
        case.model,
        key=key,
        method="sghmc",
        num_chains=8,
        num_samples=num_samples,
        num_warmup=200,
        step_size=step * case.sigma2,
        num_integration_steps=round(1 / step),
        progress=False,
        log_partition_every=0,
        pointwise_log_likelihood=False,
    )
    post = tree.posterior
    return np.concatenate([post["theta1"].values, post["theta2"].values], axis=-1)


def _mcse(values):
    """MCSE of the mean of (chain, draw) values."""
    return float(az.mcse(values, method="mean"))


def test_sghmc_matches_the_exact_posterior_mean(case, stat_key):
    # The chain is linear on a Gaussian target, so its step-size bias is in
    # the covariance only: the mean is exact up to the ∇log Z estimate.
    mean, _ = case.posterior_mean_cov()
    draws = _draws(case, MEAN_STEP, stat_key(21), num_samples=MEAN_DRAWS)
    error = np.abs(draws.reshape(-1, 4).mean(0) - np.asarray(mean))
    mcse = np.array([_mcse(draws[..., j]) for j in range(4)])
    z = norm.ppf(1 - ALPHA / (2 * 4))
    print(f"error / MCSE {np.round(error / mcse, 2)}, limit {z:.2f}")
    assert np.all(error < z * mcse), (error, mcse)


def test_sghmc_covariance_error_shrinks_with_the_step_size(case, exact, stat_key):
    large, large_mcse = exact.relative_variance_error(
        case, _draws(case, LARGE_STEP, stat_key(22))
    )
    small, small_mcse = exact.relative_variance_error(
        case, _draws(case, SMALL_STEP, stat_key(23))
    )
    # One-sided: the smaller step's error is smaller by more than the noise of
    # the difference (independent runs).
    margin = norm.ppf(1 - ALPHA) * np.hypot(large_mcse, small_mcse)
    print(f"errors {large:+.4f} ± {large_mcse:.4f}, {small:+.4f} ± {small_mcse:.4f}")
    assert abs(small) < abs(large) - margin, (large, small, margin)
