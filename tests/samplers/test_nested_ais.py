r"""The nested-AIS θ₁ update of `samplers.sample` against the exact posterior.

``theta1_update="nested_ais"`` moves θ₁ by MALA with log Z and ∇log Z from a
nested AIS run of ``nested_particles`` particles (its temperatures adapt, so the
particle count is the whole budget). The noise of log Ẑ in the acceptance ratio
makes the chain approximate; its bias must shrink as the budget grows.

Tolerances: α = 1e-3, one one-sided assertion; MCSEs from ArviZ's ESS of the
mean. Fixed keys.
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
# The smallest budget `sample` accepts and its default. At θ₁'s posterior mean
# log Ẑ has a spread of about 1 nat with 4 particles and 0.13 with 64; two
# posterior standard deviations out, 5.8 and 0.16 nats. Long runs put θ₁'s
# variance at 1.72 ± 0.07 with 4 particles and 1.01 ± 0.03 with 64 (exact: 1.00);
# 4 × 500 draws give MCSEs of about 0.08 and 0.04, a margin of about 0.27.
SMALL_BUDGET, LARGE_BUDGET = 4, 64


@pytest.fixture(scope="module")
def case():
    # d = 1 keeps each sweep cheap, and there the particles'
    # control-variate ∇log Ẑ is exact on a linear-Gaussian case, so the bias
    # comes from the noise of log Ẑ alone. λ = 30 makes −log Z(θ₁) 3.5 nats at
    # θ₁'s posterior mean and 6.4 two standard deviations out.
    return posterior.LinearGaussianCase.random(
        jr.key(1), d=1, m=2, n=3, lam=30.0, sigma1=1.0, sigma2=1.0
    )


def _variance_error(case, budget, key):
    """Error of θ₁'s posterior variance about the exact mean, and its MCSE."""
    tree = samplers.sample(
        case.model,
        key=key,
        # HMC for θ₂: cheaper to compile than NUTS; the θ₁ move is the same.
        method="hmc",
        num_chains=4,
        num_samples=500,
        num_warmup=100,
        theta1_update="nested_ais",
        nested_particles=budget,
        log_partition_every=0,
        pointwise_log_likelihood=False,
        progress=False,
    )
    assert tree.attrs["approximate"] == 1
    mean, cov = case.posterior_mean_cov()
    squares = (tree.posterior["theta1"].values[..., 0] - float(mean[0])) ** 2
    error = float(squares.mean()) - float(cov[0, 0])
    return error, float(az.mcse(squares, method="mean"))


def test_nested_ais_bias_shrinks_as_the_budget_grows(case):
    small, small_mcse = _variance_error(case, SMALL_BUDGET, jr.key(31))
    large, large_mcse = _variance_error(case, LARGE_BUDGET, jr.key(32))
    # One-sided: the larger budget's error is smaller by more than the noise of
    # the difference (independent runs).
    margin = norm.ppf(1 - ALPHA) * np.hypot(small_mcse, large_mcse)
    assert abs(large) < abs(small) - margin, (small, large, margin)
