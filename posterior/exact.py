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
from scipy.special import logsumexp

from . import _checks
from .likelihoods import Gaussian
from .model import TwoStageModel
from .networks import LinearTwoHead

__all__ = ["LinearGaussianCase", "Grid2DCase", "TanhTwoHead"]


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


class TanhTwoHead(eqx.Module):
    r"""A two-parameter non-linear network for quadrature tests:
    $h_1(x) = \tanh(w_0 x)$, $h_2(x) = w_1 x$, real answers."""

    weight: Float[Array, "2"]

    def __call__(self, x: ArrayLike) -> tuple[Array, Array]:
        return jnp.tanh(self.weight[0] * x), self.weight[1] * x


def _normal_kernel(nodes: np.ndarray, sigma: float) -> np.ndarray:
    gap = nodes[:, None] - nodes[None, :]
    return np.exp(-0.5 * (gap / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


class Grid2DCase:
    r"""Quadrature on a grid for any two-stage model with two parameters.

    The Gaussian kernel $\mathcal N(\theta_2; \theta_1, \sigma_2^2 I)$ factorises
    over the two coordinates, so every integral over $(\theta_1, \theta_2)$ on an
    $n \times n$ grid is a pair of matrix products: $O(n^3)$, not $O(n^4)$.

    The grid spans θ₀ ± ``width`` · (σ₁ + σ₂) in each coordinate; mass outside it is
    dropped, so keep the answer set small enough that the posterior of θ₁ stays
    within a few σ₁ of θ₀.
    """

    def __init__(
        self, model: TwoStageModel, *, grid_size: int = 241, width: float = 7.0
    ):
        if not isinstance(model, TwoStageModel):
            raise TypeError(
                f"`model` must be a TwoStageModel, got {type(model).__name__}."
            )
        if model.num_params != 2:
            raise ValueError(
                f"`model` must have exactly 2 parameters, got {model.num_params}."
            )
        grid_size = _checks.count(grid_size, "grid_size", minimum=16)
        width = _checks.positive_scalar(width, "width")
        self.model = model
        self.grid_size = grid_size
        half = width * (model.sigma1 + model.sigma2)
        theta0 = np.asarray(model.theta0, dtype=np.float64)
        self.nodes = [np.linspace(c - half, c + half, grid_size) for c in theta0]
        self.spacing = [nodes[1] - nodes[0] for nodes in self.nodes]
        if max(self.spacing) > model.sigma2 / 4:
            raise ValueError(
                f"`grid_size`={grid_size} gives a spacing {max(self.spacing):.3g} "
                f"coarser than sigma2/4 = {model.sigma2 / 4:.3g}; use a larger grid."
            )

    @classmethod
    def random(
        cls,
        key: PRNGKeyArray,
        *,
        num_agreement: int = 8,
        num_answers: int = 6,
        lam: float = 4.0,
        sigma1: float = 1.0,
        sigma2: float = 0.5,
        noise_scale: float = 0.5,
        grid_size: int = 241,
    ) -> "Grid2DCase":
        """A :class:`TanhTwoHead` model with random inputs and answers."""
        key = _checks.typed_key(key)
        key_w, key_s, key_d, key_noise = jr.split(key, 4)
        network = TanhTwoHead(0.5 * jr.normal(key_w, (2,)))
        answer_inputs = jr.normal(key_d, (num_answers,))
        answers = jnp.tanh(answer_inputs) + noise_scale * jr.normal(
            key_noise, (num_answers,)
        )
        model = TwoStageModel(
            network,
            agreement_inputs=jr.normal(key_s, (num_agreement,)),
            answer_inputs=answer_inputs,
            answers=answers,
            likelihood=Gaussian(noise_scale),
            divergence="squared_gap",
            lam=lam,
            sigma1=sigma1,
            sigma2=sigma2,
        )
        return cls(model, grid_size=grid_size)

    def _on_grid(self, fn) -> np.ndarray:
        a, b = np.meshgrid(*self.nodes, indexing="ij")
        points = jnp.asarray(np.stack([a.ravel(), b.ravel()], axis=1))
        values = jax.jit(jax.vmap(fn))(points)
        return np.asarray(values, dtype=np.float64).reshape(a.shape)

    def _local(self, theta1: ArrayLike, num: int = 161, half_width: float = 9.0):
        """A grid around θ₁ for one Z(θ₁): log weights of N(θ₁, σ₂²) and nodes."""
        theta1 = np.asarray(theta1, dtype=np.float64)
        sigma = self.model.sigma2
        u = np.linspace(-half_width, half_width, num)
        du = u[1] - u[0]
        ua, ub = np.meshgrid(u, u, indexing="ij")
        offsets = np.stack([ua.ravel(), ub.ravel()], axis=1)
        log_weight = (
            -0.5 * np.sum(offsets**2, 1) - math.log(2 * math.pi) + 2 * math.log(du)
        )
        return theta1 + sigma * offsets, log_weight

    def log_partition(self, theta1: Float[ArrayLike, "2"]) -> float:
        r"""$\log Z(\theta_1)$ by quadrature over $\theta_1 \pm 9\sigma_2$."""
        points, log_weight = self._local(theta1)
        log_factor = -self.model.lam * np.asarray(
            jax.vmap(self.model.disagreement)(jnp.asarray(points)), dtype=np.float64
        )
        return float(logsumexp(log_weight + log_factor))

    def grad_log_partition(self, theta1: Float[ArrayLike, "2"]) -> np.ndarray:
        r"""$\nabla\log Z = \mathbb E_{p(\theta'|\theta_1)}[\theta' - \theta_1]/\sigma_2^2$
        by the same quadrature."""
        points, log_weight = self._local(theta1)
        log_factor = -self.model.lam * np.asarray(
            jax.vmap(self.model.disagreement)(jnp.asarray(points)), dtype=np.float64
        )
        log_p = log_weight + log_factor
        p = np.exp(log_p - logsumexp(log_p))
        return (p @ (points - np.asarray(theta1))) / self.model.sigma2**2

    def posterior_mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Mean (4,) and covariance (4, 4) of (θ₁, θ₂) by quadrature.

        $p(\theta_1,\theta_2) \propto f(\theta_1)\,
        \mathcal N(\theta_2;\theta_1,\sigma_2^2)\, g(\theta_2)$ with
        $f = \mathcal N(\theta_1;\theta_0,\sigma_1^2)/Z(\theta_1)$ and
        $g = e^{L(\theta_2) - \lambda C(\theta_2)}$.
        """
        model = self.model
        kernels = [_normal_kernel(nodes, model.sigma2) for nodes in self.nodes]
        agree = np.exp(-model.lam * self._on_grid(model.disagreement))
        area = self.spacing[0] * self.spacing[1]
        # Z(θ₁) at every node: (K_a E K_bᵀ) ΔaΔb, the kernel factorising by axis.
        log_z = np.log(kernels[0] @ agree @ kernels[1].T * area)
        a, b = np.meshgrid(*self.nodes, indexing="ij")
        theta0 = np.asarray(model.theta0, dtype=np.float64)
        log_f = -((a - theta0[0]) ** 2 + (b - theta0[1]) ** 2) / (2 * model.sigma1**2)
        log_f = log_f - log_z
        log_g = self._on_grid(model.log_likelihood) - model.lam * self._on_grid(
            model.disagreement
        )
        f = np.exp(log_f - log_f.max())
        g = np.exp(log_g - log_g.max())
        coordinates = [a, b]

        def moment(f_weight, g_weight):
            # Σ f(θ₁)·f_weight(θ₁) K(θ₁, θ₂) g(θ₂)·g_weight(θ₂) over both grids.
            smoothed = kernels[0] @ (g * g_weight) @ kernels[1].T
            return np.sum(f * f_weight * smoothed)

        one = np.ones_like(a)
        total = moment(one, one)
        firsts = [(c, one) for c in coordinates] + [(one, c) for c in coordinates]
        mean = np.array([moment(fw, gw) / total for fw, gw in firsts])
        second = np.empty((4, 4))
        for i, (fi, gi) in enumerate(firsts):
            for j, (fj, gj) in enumerate(firsts):
                second[i, j] = moment(fi * fj, gi * gj) / total
        return mean, second - np.outer(mean, mean)
