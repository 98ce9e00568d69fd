"""Settings and closed-form references for tests/samplers.

The references are computed independently of the code under test, in NumPy/SciPy
float64, and reach the tests through the `exact` fixture (the module itself).

Closed-form references for the log-partition tests, computed independently.

Linear-Gaussian: $C(\\theta) = \\frac12\\|A\\theta - b\\|^2$, $K = I + \\lambda\\sigma^2 AA^T$,
$r = A\\theta_1 - b$:
$\\log Z = -\\frac12\\log\\det K - \\frac\\lambda2 r^TK^{-1}r$,
$\\nabla\\log Z = -\\lambda A^TK^{-1}r$, and $p(\\theta'|\\theta_1)$ is Gaussian with
precision $I/\\sigma^2 + \\lambda A^TA$ and mean $P^{-1}(\\theta_1/\\sigma^2 + \\lambda A^Tb)$.

Everything here is NumPy/SciPy in float64, not the code under test.
"""

import sys
from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import Partial
from scipy.special import logsumexp

# Repeated from tests/conftest.py so the sampler tests hold float64 on their own.
jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="session")
def exact():
    """This module: the closed-form cases below."""
    return sys.modules[__name__]


def relative_variance_error(case, draws):
    r"""tr(C⁻¹Ĉ)/D − 1 and its MCSE, from (chain, draw, D) draws of a
    ``LinearGaussianCase``'s (θ₁, θ₂): the relative error of the variance along
    the exact posterior's principal axes, averaged over them.

    With the exact mean μ and covariance C, $s = (x-\mu)^\top C^{-1}(x-\mu)$ has
    mean D under the exact posterior, so mean(s)/D − 1 estimates it; the MCSE is
    ArviZ's, from the ESS of s.
    """
    mean, cov = (np.asarray(a) for a in case.posterior_mean_cov())
    centred = draws - mean
    s = np.einsum("cni,ij,cnj->cn", centred, np.linalg.inv(cov), centred)
    dim = mean.shape[0]
    return float(s.mean()) / dim - 1.0, float(az.mcse(s, method="mean")) / dim


def quadratic_disagreement(a, b, theta):
    """$\\frac12\\|A\\theta - b\\|^2$; `a` is a matrix or, for a diagonal A, a vector."""
    residual = (a @ theta if a.ndim == 2 else a * theta) - b
    return 0.5 * jnp.sum(jnp.square(residual))


class LinearCase(NamedTuple):
    a: np.ndarray  # (m, d), or (d,) for a diagonal A
    b: np.ndarray
    theta1: np.ndarray
    lam: float
    sigma: float
    log_z: float
    grad_log_z: np.ndarray

    @property
    def disagreement(self):
        return Partial(quadratic_disagreement, jnp.asarray(self.a), jnp.asarray(self.b))

    def disagreement_as(self, dtype):
        """The disagreement with its data in `dtype` (e.g. float32)."""
        return Partial(
            quadratic_disagreement,
            jnp.asarray(self.a, dtype=dtype),
            jnp.asarray(self.b, dtype=dtype),
        )

    @property
    def dim(self):
        return self.theta1.shape[0]

    def conditional(self):
        """Mean and covariance of $p(\\theta'|\\theta_1)$ (dense A only)."""
        a = self.a
        precision = np.eye(self.dim) / self.sigma**2 + self.lam * a.T @ a
        covariance = np.linalg.inv(precision)
        mean = covariance @ (self.theta1 / self.sigma**2 + self.lam * a.T @ self.b)
        return mean, covariance

    def exact_samples(self, rng, num):
        """Independent draws of $p(\\theta'|\\theta_1)$."""
        if self.a.ndim == 1:
            c = self.lam * self.sigma**2 * self.a**2
            variance = self.sigma**2 / (1 + c)
            mean = variance * (self.theta1 / self.sigma**2 + self.lam * self.a * self.b)
            return mean + np.sqrt(variance) * rng.standard_normal((num, self.dim))
        mean, covariance = self.conditional()
        return rng.multivariate_normal(mean, covariance, size=num)


def dense_case(seed, *, d, m, lam, sigma, offset):
    """Random dense A; `offset` scales the residual r (and so the quadratic term)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, d)) / np.sqrt(d)
    theta1 = 0.1 * rng.standard_normal(d)
    b = a @ theta1 - offset * rng.standard_normal(m)
    k = np.eye(m) + lam * sigma**2 * a @ a.T
    r = a @ theta1 - b
    log_z = -0.5 * np.linalg.slogdet(k)[1] - 0.5 * lam * r @ np.linalg.solve(k, r)
    grad = -lam * a.T @ np.linalg.solve(k, r)
    return LinearCase(a, b, theta1, lam, sigma, float(log_z), grad)


def diagonal_case(seed, *, d, lam, sigma, condition, power, offset):
    """Diagonal A with curvature $c_i = \\lambda\\sigma^2 a_i^2 = $ `condition` $i^{-p}$."""
    rng = np.random.default_rng(seed)
    c = condition * np.arange(1, d + 1, dtype=float) ** (-power)
    a = np.sqrt(c / (lam * sigma**2))
    theta1 = np.zeros(d)
    target = offset * sigma * rng.standard_normal(d)
    b = a * target
    r = a * theta1 - b
    log_z = -0.5 * np.sum(np.log1p(c)) - 0.5 * lam * np.sum(r**2 / (1 + c))
    grad = -lam * a * r / (1 + c)
    return LinearCase(a, b, theta1, lam, sigma, float(log_z), grad)


def tanh_disagreement(x, theta):
    """A 2-D non-linear disagreement: two "heads" $\\tanh(\\theta_0 x)$ and $\\theta_1 x$."""
    return jnp.mean(jnp.square(jnp.tanh(theta[0] * x) - theta[1] * x))


def tanh_quadrature(x, theta1, lam, sigma, half_width=8.0, num=801):
    """$\\log Z$ and $\\nabla\\log Z$ of `tanh_disagreement` by a dense grid sum."""
    grid = np.linspace(-half_width, half_width, num) * sigma
    u0, u1 = np.meshgrid(grid + theta1[0], grid + theta1[1], indexing="ij")
    c = np.mean((np.tanh(u0[..., None] * x) - u1[..., None] * x) ** 2, axis=-1)
    log_prior = -((u0 - theta1[0]) ** 2 + (u1 - theta1[1]) ** 2) / (2 * sigma**2)
    log_integrand = log_prior - lam * c
    cell = (grid[1] - grid[0]) ** 2
    log_z = logsumexp(log_integrand) + np.log(cell) - np.log(2 * np.pi * sigma**2)
    weights = np.exp(log_integrand - logsumexp(log_integrand))
    mean = np.array([np.sum(weights * u0), np.sum(weights * u1)])
    return float(log_z), (mean - theta1) / sigma**2


def _log_cosh_disagreement(basis, curvature, shift, theta):
    """$\\sum_j c_j \\log\\cosh(q_j^\\top\\theta - t_j)$."""
    u = theta @ basis - shift
    return jnp.sum(curvature * (jnp.logaddexp(u, -u) - jnp.log(2.0)))


class ObliqueCase(NamedTuple):
    """A separable, non-quadratic $C$ along the columns $q_j$ of a random orthogonal
    matrix: log Z is a sum of 1-D quadratures, because the prior is isotropic."""

    basis: np.ndarray  # (d, d) orthogonal, columns q_j
    curvature: np.ndarray
    shift: np.ndarray
    theta1: np.ndarray
    lam: float
    sigma: float
    log_z: float
    grad_log_z: np.ndarray

    @property
    def disagreement(self):
        return Partial(
            _log_cosh_disagreement,
            jnp.asarray(self.basis),
            jnp.asarray(self.curvature),
            jnp.asarray(self.shift),
        )

    @property
    def dim(self):
        return self.theta1.shape[0]


def oblique_case(seed, *, d, condition, offset, sigma=1.0, num=4001):
    """`ObliqueCase` with curvatures $c_j$ = `condition` $/ j$ and shifts $t_j$
    `offset` σ from the centre; λ = 1."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    curvature = condition / np.arange(1, d + 1, dtype=float)
    theta1 = 0.1 * rng.standard_normal(d)
    centre = theta1 @ basis
    shift = centre + offset * sigma * rng.standard_normal(d)
    grid = np.linspace(-12.0, 12.0, num) * sigma
    u = centre[:, None] + grid[None, :]
    x = u - shift[:, None]
    log_integrand = -0.5 * (grid[None, :] / sigma) ** 2 - curvature[:, None] * (
        np.logaddexp(x, -x) - np.log(2.0)
    )
    step = grid[1] - grid[0]
    log_z_parts = (
        logsumexp(log_integrand, axis=1)
        + np.log(step)
        - 0.5 * np.log(2 * np.pi * sigma**2)
    )
    weights = np.exp(log_integrand - logsumexp(log_integrand, axis=1)[:, None])
    mean_shift = np.sum(weights * grid[None, :], axis=1)
    grad = basis @ (mean_shift / sigma**2)
    return ObliqueCase(
        basis, curvature, shift, theta1, 1.0, sigma, float(np.sum(log_z_parts)), grad
    )


def network_case():
    """A small two-head network's disagreement and θ₀ (4 inputs, width 16, 3
    classes, 64 agreement inputs: d = 182), for λ = 200 and σ = 0.3: not
    Gaussian, and near enough the prior that the prior path is short. Its log Z,
    -16.451 ± 0.020, is the mean of four prior-path runs of 4096 particles
    (benchmarks/reference_bench.py)."""
    import jax.random as jr

    import posterior

    net = posterior.TwoHeadMLP(4, 3, width=16, depth=1, key=jr.key(0))
    inputs = jr.normal(jr.key(1), (64, 4))
    model = posterior.TwoStageModel(
        net,
        agreement_inputs=inputs,
        answer_inputs=inputs[:10],
        answers=jnp.zeros(10, int),
        likelihood="categorical",
        lam=200.0,
        sigma1=1.0,
        sigma2=0.3,
    )
    return model.disagreement, model.theta0
