r"""Exact reference cases: the linear-Gaussian closed forms and 2-D quadrature.

Both are built through :class:`~posterior.TwoStageModel`, so every estimator and
sampler can be checked against exact numbers on the same model object it would
be given in practice.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from . import _checks
from .likelihoods import Gaussian
from .model import TwoStageModel
from .networks import LinearTwoHead

__all__ = ["LinearGaussianCase"]


class LinearGaussianCase:
    r"""The linear two-head network with squared-gap agreement and Gaussian answers.

    With $C(\theta) = \tfrac12\lVert A\theta - b\rVert^2$ and
    $L(\theta) = -\lVert B\theta - y\rVert^2/2s^2 + \text{const}$:

    $$K = I_m + \lambda\sigma_2^2 AA^\top,\quad r = A\theta_1 - b,\quad
      \log Z(\theta_1) = -\tfrac12\log\det K - \tfrac\lambda2 r^\top K^{-1} r.$$

    ``A, b`` come from the agreement inputs and ``B, y`` from the answer set, read
    off the inputs directly (not through the model's functions), so comparing the
    two is a real test.

    Example:
        >>> import jax.random as jr
        >>> case = LinearGaussianCase.random(
        ...     jr.key(0), d=3, m=2, n=4, lam=1.0, sigma1=1.0, sigma2=0.5
        ... )
        >>> bool(case.log_partition(case.theta0) <= 0.0)
        True
    """

    model: TwoStageModel
    A: Float[Array, "m d"]
    b: Float[Array, " m"]
    B: Float[Array, "n d"]
    y: Float[Array, " n"]
    noise_scale: float

    def __init__(
        self,
        *,
        weight: Float[ArrayLike, " d"],
        agreement_inputs: Float[ArrayLike, "m 2 d+1"],
        answer_inputs: Float[ArrayLike, "n 2 d+1"],
        answers: Float[ArrayLike, " n"],
        lam: float,
        sigma1: float,
        sigma2: float,
        noise_scale: float = 1.0,
    ):
        """Args:
        weight: θ₀, the initial weight vector of the :class:`LinearTwoHead`.
        agreement_inputs: per input, rows of features-and-offset for each head.
        answer_inputs: the same for the answer set (only row 0, the intended
            head, enters the likelihood).
        answers: real answers.
        lam, sigma1, sigma2: as in :class:`~posterior.TwoStageModel`.
        noise_scale: the Gaussian likelihood's scale s.
        """
        weight = jnp.asarray(weight)
        if weight.ndim != 1:
            raise ValueError(f"`weight` must be a vector, got shape {weight.shape}.")
        dim = weight.shape[0]
        for name, value in [
            ("agreement_inputs", agreement_inputs),
            ("answer_inputs", answer_inputs),
        ]:
            if np.ndim(value) != 3 or np.shape(value)[1:] != (2, dim + 1):
                raise ValueError(
                    f"`{name}` must have shape (num, 2, {dim + 1}), got "
                    f"{np.shape(value)}."
                )
        network = eqx.tree_at(
            lambda net: net.weight, LinearTwoHead(dim, key=jr.key(0)), weight
        )
        self.noise_scale = _checks.positive_scalar(noise_scale, "noise_scale")
        self.model = TwoStageModel(
            network,
            agreement_inputs=agreement_inputs,
            answer_inputs=answer_inputs,
            answers=answers,
            likelihood=Gaussian(self.noise_scale),
            divergence="squared_gap",
            lam=lam,
            sigma1=sigma1,
            sigma2=sigma2,
        )
        agreement = self.model.agreement_inputs
        root_m = math.sqrt(agreement.shape[0])
        # h₁ - h₂ = (x₀ - x₁)·w + (c₀ - c₁); the mean of ½(h₁ - h₂)² over m inputs
        # is ½‖Aw - b‖² once each row is divided by √m.
        self.A = (agreement[:, 0, :-1] - agreement[:, 1, :-1]) / root_m
        self.b = (agreement[:, 1, -1] - agreement[:, 0, -1]) / root_m
        self.B = self.model.answer_inputs[:, 0, :-1]
        self.y = self.model.answers - self.model.answer_inputs[:, 0, -1]

    @classmethod
    def random(
        cls,
        key: PRNGKeyArray,
        *,
        d: int,
        m: int,
        n: int,
        lam: float,
        sigma1: float,
        sigma2: float,
        noise_scale: float = 1.0,
    ) -> "LinearGaussianCase":
        """A random instance: Gaussian features scaled by 1/√d, θ₀ ~ N(0, I),
        answers from a random true weight plus noise."""
        key = _checks.typed_key(key)
        d, m, n = (_checks.count(v, name) for v, name in [(d, "d"), (m, "m"), (n, "n")])
        noise_scale = _checks.positive_scalar(noise_scale, "noise_scale")
        key_w, key_s, key_d, key_true, key_noise = jr.split(key, 5)
        features = lambda k, num: jr.normal(k, (num, 2, d + 1)) / math.sqrt(d)  # noqa: E731
        answer_inputs = features(key_d, n)
        true_weight = jr.normal(key_true, (d,))
        heads = answer_inputs[:, 0, :-1] @ true_weight + answer_inputs[:, 0, -1]
        answers = heads + noise_scale * jr.normal(key_noise, (n,))
        return cls(
            weight=jr.normal(key_w, (d,)),
            agreement_inputs=features(key_s, m),
            answer_inputs=answer_inputs,
            answers=answers,
            lam=lam,
            sigma1=sigma1,
            sigma2=sigma2,
            noise_scale=noise_scale,
        )

    @property
    def theta0(self) -> Array:
        return self.model.theta0

    @property
    def lam(self) -> float:
        return self.model.lam

    @property
    def sigma1(self) -> float:
        return self.model.sigma1

    @property
    def sigma2(self) -> float:
        return self.model.sigma2

    def _cholesky_k(self) -> Array:
        m = self.A.shape[0]
        k = jnp.eye(m) + self.lam * self.sigma2**2 * self.A @ self.A.T
        return jnp.linalg.cholesky(k)

    def log_partition(self, theta1: Float[ArrayLike, " d"]) -> Float[Array, ""]:
        r"""$\log Z(\theta_1) = -\tfrac12\log\det K - \tfrac\lambda2 r^\top K^{-1}r$."""
        theta1 = _checks.flat_theta(theta1, self.model.num_params, "theta1")
        chol = self._cholesky_k()
        whitened = jax.scipy.linalg.solve_triangular(
            chol, self.A @ theta1 - self.b, lower=True
        )
        log_det = 2 * jnp.sum(jnp.log(jnp.diag(chol)))
        return -0.5 * log_det - 0.5 * self.lam * whitened @ whitened

    def grad_log_partition(self, theta1: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
        r"""$\nabla\log Z(\theta_1) = -\lambda A^\top K^{-1} r$."""
        theta1 = _checks.flat_theta(theta1, self.model.num_params, "theta1")
        solved = jax.scipy.linalg.cho_solve(
            (self._cholesky_k(), True), self.A @ theta1 - self.b
        )
        return -self.lam * self.A.T @ solved

    def inner_mean_cov(self, theta1: Float[ArrayLike, " d"]) -> tuple[Array, Array]:
        r"""Mean and covariance of $p(\theta'|\theta_1)$, a Gaussian with precision
        $I/\sigma_2^2 + \lambda A^\top A$."""
        theta1 = _checks.flat_theta(theta1, self.model.num_params, "theta1")
        dim = self.A.shape[1]
        precision = jnp.eye(dim) / self.sigma2**2 + self.lam * self.A.T @ self.A
        cov = jnp.linalg.inv(precision)
        mean = cov @ (theta1 / self.sigma2**2 + self.lam * self.A.T @ self.b)
        return mean, cov

    def posterior_precision(
        self, *, include_log_partition: bool = True
    ) -> tuple[Array, Array]:
        r"""The precision $P$ and linear term $h$ of the Gaussian posterior of
        $(\theta_1, \theta_2)$, as in DESIGN.md ($M = K^{-1}$).

        Args:
            include_log_partition: keep the $-\log Z(\theta_1)$ term. ``False``
                gives the agreement-penalty baseline, whose θ₁ ignores how rare
                agreement is: the terms $-\lambda A^\top M A$ and
                $-\lambda A^\top M b$ drop out.
        """
        dim = self.A.shape[1]
        eye = jnp.eye(dim)
        lam, s1, s2 = self.lam, self.sigma1, self.sigma2
        chol = self._cholesky_k()
        m_a = jax.scipy.linalg.cho_solve((chol, True), self.A)  # M A
        m_b = jax.scipy.linalg.cho_solve((chol, True), self.b)  # M b
        noise = self.noise_scale**2
        keep = 1.0 if include_log_partition else 0.0
        p11 = eye / s1**2 + eye / s2**2 - keep * lam * self.A.T @ m_a
        p12 = -eye / s2**2
        p22 = eye / s2**2 + lam * self.A.T @ self.A + self.B.T @ self.B / noise
        h1 = self.theta0 / s1**2 - keep * lam * self.A.T @ m_b
        h2 = lam * self.A.T @ self.b + self.B.T @ self.y / noise
        precision = jnp.block([[p11, p12], [p12, p22]])
        return precision, jnp.concatenate([h1, h2])

    def posterior_mean_cov(
        self, *, include_log_partition: bool = True
    ) -> tuple[Float[Array, " 2d"], Float[Array, "2d 2d"]]:
        """Mean and covariance of (θ₁, θ₂) stacked, θ₁ first (see
        :meth:`posterior_precision` for ``include_log_partition``)."""
        precision, linear = self.posterior_precision(
            include_log_partition=include_log_partition
        )
        chol = jnp.linalg.cholesky(precision)
        cov = jax.scipy.linalg.cho_solve((chol, True), jnp.eye(precision.shape[0]))
        return cov @ linear, cov
