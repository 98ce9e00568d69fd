"""Thermodynamic integration along λ against the linear-Gaussian closed form.

Tolerance: z_{1-α/(2m)} standard errors (α = 1e-3, Bonferroni over the m
cases) plus the gap between the trapezoid rule on all nodes and on every other
node, which bounds the discretisation error of the finer rule.

False-failure rate: at most 1e-3 for the three cases together (the standard
error is the estimator's own, from its separate chains per node). Keys from the
``stat_key`` fixture; passes under ``--stat-key-offset`` 0..5 (checked
2026-12-03).
"""

import jax.random as jr
import pytest
from scipy.stats import norm

import posterior
import samplers

CASES = [(2, 3, 2.0, 0.5), (20, 10, 10.0, 0.5), (5, 8, 30.0, 0.3)]


@pytest.mark.statistical
@pytest.mark.parametrize("d, m, lam, sigma2", CASES)
def test_thermodynamic_integration_matches_the_closed_form(d, m, lam, sigma2, stat_key):
    case = posterior.LinearGaussianCase.random(
        jr.fold_in(jr.key(40), d), d=d, m=m, n=3, lam=lam, sigma1=1.0, sigma2=sigma2
    )
    result = samplers.thermodynamic_integration(
        case.model.disagreement,
        case.theta0,
        lam=lam,
        sigma=sigma2,
        key=jr.fold_in(stat_key(41), d),
    )
    exact = float(case.log_partition(case.theta0))
    z = norm.ppf(1 - 1e-3 / (2 * len(CASES)))
    tolerance = z * float(result.standard_error) + abs(
        float(result.log_z - result.log_z_coarse)
    )
    error = abs(float(result.log_z) - exact)
    print(f"error {error:.4f}, tolerance {tolerance:.4f}")
    assert error < tolerance, (result.log_z, exact)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lam=0.0), "lam"),
        (dict(sigma=-1.0), "sigma"),
        (dict(num_nodes=4), "num_nodes"),
        (dict(num_chains=1), "num_chains"),
    ],
)
def test_bad_arguments(kwargs, match):
    import jax.numpy as jnp

    arguments = dict(lam=1.0, sigma=1.0, key=jr.key(0)) | kwargs
    with pytest.raises(ValueError, match=match):
        samplers.thermodynamic_integration(
            lambda t: jnp.sum(t**2), jnp.zeros(2), **arguments
        )
