"""NUTS/HMC on (θ₁, θ₂) jointly where there is no log Z (samplers.joint), against
the exact linear-Gaussian posterior of the agreement-penalty baseline.

Tolerances: every mean and every variance of the 2d = 6 coordinates within
z_{1-α/(2m)}·MCSE, m = 12 assertions, α = 1e-3 (Bonferroni), the MCSE from
ArviZ's bulk ESS of the coordinates and of their squared deviations, so the
false-failure rate is about 1e-3. An oblique case (dense A and B) with σ₂ = σ₁/2,
where θ₁ and θ₂ are correlated 0.9 a coordinate: the Gibbs sweep's ESS per draw
there was a fifteenth of a joint kernel's (docs/benchmarks.md). Keys from the
``stat_key`` fixture; checked under ``--stat-key-offset`` 0..5.
"""

import arviz as az
import jax.random as jr
import numpy as np
import pytest
from scipy.stats import norm

import posterior
import samplers

ALPHA = 1e-3


@pytest.fixture(scope="module")
def case():
    return posterior.LinearGaussianCase.random(
        jr.key(4), d=3, m=2, n=5, lam=2.0, sigma1=1.0, sigma2=0.5
    )


@pytest.mark.statistical
@pytest.mark.parametrize("dense_mass", [False, True], ids=["diagonal", "dense"])
def test_joint_nuts_matches_the_baseline_posterior(case, stat_key, dense_mass):
    tree = samplers.sample(
        case.model,
        key=stat_key(40),
        method=samplers.NUTS(dense_mass=dense_mass),
        baseline="no_log_partition",
        num_chains=4,
        num_warmup=300,
        num_samples=500,
        log_partition_every=0,
        pointwise_log_likelihood=False,
        progress=False,
    )
    assert tree.attrs["theta1_update"] == "joint"
    assert tree.attrs["approximate"] == 0
    draws = np.concatenate(
        [tree.posterior["theta1"].values, tree.posterior["theta2"].values], axis=-1
    )
    mean, cov = (
        np.asarray(x) for x in case.posterior_mean_cov(include_log_partition=False)
    )
    squares = (draws - mean) ** 2

    def mcse(values):
        return np.array(
            [
                np.std(values[..., j]) / np.sqrt(float(az.ess(values[..., j])))
                for j in range(values.shape[-1])
            ]
        )

    z = norm.ppf(1 - ALPHA / (2 * 2 * mean.size))
    mean_error = draws.mean(axis=(0, 1)) - mean
    variance_error = squares.mean(axis=(0, 1)) - np.diag(cov)
    print(f"mean z {np.round(mean_error / mcse(draws), 2)}")
    print(f"variance z {np.round(variance_error / mcse(squares), 2)}")
    assert np.all(np.abs(mean_error) < z * mcse(draws))
    assert np.all(np.abs(variance_error) < z * mcse(squares))


def test_single_head_hmc_moves_both_blocks_in_one_kernel(case):
    tree = samplers.sample(
        case.model,
        key=jr.key(0),
        method="hmc",
        baseline="single_head",
        num_chains=2,
        num_warmup=50,
        num_samples=20,
        log_partition_every=0,
        progress=False,
    )
    assert tree.attrs["theta1_update"] == "joint"
    stats = tree.sample_stats
    assert {"acceptance_rate", "diverging", "n_steps", "energy"} <= set(stats.data_vars)
    # The energy is the Hamiltonian's, so ArviZ's BFMI reads it.
    bfmi = az.bfmi(tree)["energy"].values
    assert bfmi.shape == (2,) and np.all(np.isfinite(bfmi) & (bfmi > 0))
    assert "num_rejection_draws" not in stats.data_vars
    assert np.all(stats["n_steps"].values == 10)
    # θ₁ moves with θ₂ at every accepted step: no Gibbs block is left behind.
    theta1 = tree.posterior["theta1"].values
    assert np.all(np.diff(theta1, axis=1).any(axis=-1).mean(axis=1) > 0.5)


def test_dense_mass_is_a_flag():
    with pytest.raises(TypeError, match="`dense_mass` must be True or False"):
        samplers.NUTS(dense_mass=1)


def test_dense_mass_reaches_the_gibbs_sweep_too(case):
    # With log Z in the target, the θ₂ | θ₁ moves take the dense matrix.
    tree = samplers.sample(
        case.model,
        key=jr.key(1),
        method=samplers.HMC(num_integration_steps=3, dense_mass=True),
        num_chains=2,
        num_warmup=50,
        num_samples=20,
        log_partition_every=0,
        progress=False,
    )
    assert tree.attrs["theta1_update"] == "exchange"
    assert np.all(np.isfinite(tree.posterior["theta2"].values))
    assert tree.sample_stats["acceptance_rate"].values.mean() > 0.3
