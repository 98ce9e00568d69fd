"""Simulation-based calibration (Talts et al., 2018) of the joint NUTS kernel
(samplers.joint) on the agreement-penalty baseline.

The baseline's prior, N(θ₁; θ₀, σ₁²) N(θ₂; θ₁, σ₂²) e^{−λC(θ₂)}, is Gaussian
in a linear-Gaussian case and drawn exactly; answers ~ N(Bθ₂ + c, s²); the
kernel (window adaptation, then NUTS) starts at the truth, a draw from the
posterior, and the rank of the truth among its thinned draws must be uniform.

Tolerances: χ² tests of uniformity, 10 rank bins of 20 expected counts (200
replications), for θ₁[0] and θ₂[0], α = 1e-3 each after Bonferroni, so the
false-failure rate is about 1e-3. Keys from ``stat_key``; checked under
``--stat-key-offset`` 0..5.

Power, measured by breaking the sampler's density under key offset 0: without
its λC term the test fails (p = 0.002 and 0.0002); with the coupling's σ₂
doubled it passes (p = 0.13 and 0.10), so this size of SBC sees a wrong
conditioning, not a wrong prior scale, which the closed-form moments of
tests/samplers/test_joint.py check.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy.stats import chisquare

import posterior
from samplers import joint
from samplers.base import jit
from samplers.target import Target

NUM_REPLICATIONS = 200
NUM_DRAWS = 9  # ranks take NUM_DRAWS + 1 values
THIN = 3
ALPHA = 1e-3


@pytest.fixture(scope="module")
def case():
    return posterior.LinearGaussianCase.random(
        jr.key(23), d=2, m=2, n=3, lam=2.0, sigma1=1.0, sigma2=0.5, noise_scale=0.8
    )


def _prior_mean_chol(case):
    """Mean and Cholesky factor of the baseline's Gaussian prior of (θ₁, θ₂)."""
    d = case.A.shape[1]
    eye = np.eye(d)
    s1, s2, lam = case.sigma1, case.sigma2, case.lam
    A, b = np.asarray(case.A), np.asarray(case.b)
    precision = np.block(
        [
            [eye / s1**2 + eye / s2**2, -eye / s2**2],
            [-eye / s2**2, eye / s2**2 + lam * A.T @ A],
        ]
    )
    linear = np.concatenate([np.asarray(case.theta0) / s1**2, lam * A.T @ b])
    cov = np.linalg.inv(precision)
    return jnp.asarray(cov @ linear), jnp.asarray(np.linalg.cholesky(cov))


def _ranks(case, key):
    d = case.A.shape[1]
    mean, chol = _prior_mean_chol(case)
    inputs = case.model.answer_inputs[:, 0, :]
    s1, s2, noise = case.sigma1, case.sigma2, case.noise_scale
    theta0, lam = case.theta0, case.lam

    def one(key):
        key_prior, key_answers, key_run = jr.split(key, 3)
        truth = mean + chol @ jr.normal(key_prior, (2 * d,))
        answers = inputs[:, :-1] @ truth[d:] + inputs[:, -1]
        answers = answers + noise * jr.normal(key_answers, answers.shape)

        def log_joint(t1, t2, batch=None):
            fitted = inputs[:, :-1] @ t2 + inputs[:, -1]
            return (
                -jnp.sum((answers - fitted) ** 2) / (2 * noise**2)
                - jnp.sum((t1 - theta0) ** 2) / (2 * s1**2)
                - jnp.sum((t2 - t1) ** 2) / (2 * s2**2)
                - lam * case.model.disagreement(t2)
            )

        target = Target(
            log_joint, lambda t: lam * case.model.disagreement(t), lam, False
        )
        key_setup, key_steps = jr.split(key_run)
        chains, (step, positions, _) = joint.setup(
            key_setup,
            target,
            truth[None, :d],
            truth[None, d:],
            method="nuts",
            num_warmup=100,
            num_integration_steps=10,
        )
        chain = jax.tree.map(lambda leaf: leaf[0], chains)

        def advance(chain, key):
            chain, _ = step(key, chain, 0)
            return chain, jnp.concatenate(positions(chain))

        _, draws = jax.lax.scan(advance, chain, jr.split(key_steps, NUM_DRAWS * THIN))
        kept = draws[THIN - 1 :: THIN]
        return jnp.sum(kept[:, 0] < truth[0]), jnp.sum(kept[:, d] < truth[d])

    keys = jr.split(key, NUM_REPLICATIONS)
    return [np.asarray(r) for r in jit(jax.vmap(one))(keys)]


def _p_value(ranks):
    return chisquare(np.bincount(ranks, minlength=NUM_DRAWS + 1)).pvalue


@pytest.mark.statistical
def test_joint_nuts_is_calibrated(case, stat_key):
    rank1, rank2 = _ranks(case, stat_key(24))
    print(f"p-values {_p_value(rank1):.3g}, {_p_value(rank2):.3g}")
    assert _p_value(rank1) > ALPHA / 2, np.bincount(rank1, minlength=NUM_DRAWS + 1)
    assert _p_value(rank2) > ALPHA / 2, np.bincount(rank2, minlength=NUM_DRAWS + 1)
