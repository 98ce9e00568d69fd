r"""Exact two-stage posteriors of two-parameter models, by quadrature in log space.

On an $n \times n$ grid of θ₁ and the same grid of θ₂,

$$\log p(\theta_1, \theta_2) = \log f(\theta_1) + \log K(\theta_1, \theta_2)
  + \log g(\theta_2) + \text{const},$$

with $f = \mathcal N(\theta_1; \theta_0, \sigma_1^2 I)/Z(\theta_1)$,
$K = \mathcal N(\theta_2; \theta_1, \sigma_2^2 I)$ and $g = e^{L - \lambda C}$.
The kernel factorises over the two coordinates, so every sum over the four
grid axes is two sums over three: $O(n^3)$, not $O(n^4)$. Each is a
log-sum-exp, never a product of exponentials: where agreement is rare
(κ = λσ₂² · curvature of C large) $e^{-\lambda C}$, Z(θ₁) and the numerator all
underflow in linear space while their ratios are ordinary numbers.
"""

import math
from collections.abc import Callable
from functools import partial

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

__all__ = ["Grid2DCase", "TanhTwoHead", "BASELINES"]

#: As ``samplers.sample``'s: ``None`` the two-stage posterior,
#: ``"no_log_partition"`` the penalty e^{−λC} without −log Z, ``"single_head"``
#: no agreement term (λ = 0).
BASELINES = (None, "no_log_partition", "single_head")
_SUBGRID = 4


class TanhTwoHead(eqx.Module):
    r"""A two-parameter non-linear network for quadrature tests:
    $h_1(x) = \tanh(w_0 x)$, $h_2(x) = w_1 x$, real answers."""

    weight: Float[Array, "2"]

    def __call__(self, x: ArrayLike) -> tuple[Array, Array]:
        return jnp.tanh(self.weight[0] * x), self.weight[1] * x


def _log_matmul(left: np.ndarray, right: np.ndarray, combine=None) -> np.ndarray:
    """``log(exp(left) @ exp(right))`` without leaving log space (``combine="max"``:
    the max-plus product)."""
    return np.asarray(_log_matmul_jit(left, right, combine == "max"))


@partial(jax.jit, static_argnums=2)
def _log_matmul_jit(left, right, use_max):
    def block(rows):
        # Blocks of 8 rows keep the (8, k, n) terms near 10 MB at n = 400.
        terms = rows[:, :, None] + right[None, :, :]
        peak = jnp.max(terms, axis=1)
        if use_max:
            return peak
        peak = jnp.where(jnp.isfinite(peak), peak, 0.0)
        return jnp.log(jnp.sum(jnp.exp(terms - peak[:, None, :]), axis=1)) + peak

    rows, inner = left.shape
    padded = jnp.pad(left, ((0, -rows % 8), (0, 0)), constant_values=-jnp.inf)
    out = jax.lax.map(block, padded.reshape(-1, 8, inner))
    return out.reshape(-1, right.shape[1])[:rows]


class Grid2DCase:
    r"""Quadrature on a grid for any two-stage model with two parameters.

    The grid spans θ₀ ± ``width`` · (σ₁ + σ₂) in each coordinate; mass outside it is
    dropped, so keep the answer set small enough that the posterior of θ₁ stays
    within a few σ₁ of θ₀. Every method that integrates over the posterior takes
    ``baseline`` (see `BASELINES`), so the three methods compare on one grid.

    Example:
        On a two-parameter linear-Gaussian case the grid gives the closed forms:

        >>> import jax.random as jr
        >>> import numpy as np
        >>> from posterior import Grid2DCase, LinearGaussianCase
        >>> case = LinearGaussianCase.random(
        ...     jr.key(900), d=2, m=3, n=4, lam=1.5, sigma1=1.0, sigma2=0.5
        ... )
        >>> grid = Grid2DCase(case.model)
        >>> theta0 = case.model.theta0
        >>> bool(np.isclose(grid.log_partition(theta0), case.log_partition(theta0)))
        True
        >>> mean, cov = grid.posterior_mean_cov()  # of (θ₁, θ₂), 4 coordinates
        >>> bool(np.allclose(mean, case.posterior_mean_cov()[0], atol=1e-6))
        True
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
        if max(self.spacing) > model.sigma2 / 4 * (1 + 1e-9):
            raise ValueError(
                f"`grid_size`={grid_size} gives a spacing {max(self.spacing):.3g} "
                f"coarser than sigma2/4 = {model.sigma2 / 4:.3g}; use a larger grid."
            )
        # log of K(θ₁, θ₂) times the node spacing, per axis: Σ_i K[p, i] ≈ 1.
        self._log_kernels = [
            -0.5 * ((nodes[:, None] - nodes[None, :]) / model.sigma2) ** 2
            - math.log(model.sigma2 * math.sqrt(2 * math.pi))
            + math.log(step)
            for nodes, step in zip(self.nodes, self.spacing, strict=True)
        ]
        self._cache = {}

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

    # -- values on the grid -------------------------------------------------

    def on_grid(self, fn: Callable[[Array], ArrayLike]) -> np.ndarray:
        """``fn(θ)`` at every node, shape ``(n, n)`` (axis 0 the first coordinate)."""
        a, b = np.meshgrid(*self.nodes, indexing="ij")
        points = jnp.asarray(np.stack([a.ravel(), b.ravel()], axis=1))
        values = jax.jit(jax.vmap(fn))(points)
        return np.asarray(values, dtype=np.float64).reshape(a.shape)

    def _cached(self, name, fn):
        if name not in self._cache:
            self._cache[name] = fn()
        return self._cache[name]

    def _disagreement(self) -> np.ndarray:
        return self._cached("C", lambda: self.on_grid(self.model.disagreement))

    def _log_likelihood(self) -> np.ndarray:
        return self._cached("L", lambda: self.on_grid(self.model.log_likelihood))

    def _smooth(self, log_values: np.ndarray, combine=None) -> np.ndarray:
        r"""$\log \sum_{\theta'} K(\theta, \theta')\, e^{v(\theta')}$ at every node
        (``combine="max"``: the largest term instead of the sum)."""
        kernel_a, kernel_b = self._log_kernels
        half = _log_matmul(log_values, kernel_b.T, combine)
        return _log_matmul(kernel_a, half, combine)

    def log_partition_grid(self) -> np.ndarray:
        r"""$\log Z(\theta_1)$ at every node, by the grid's own sums (for θ₁ near
        the grid's edge the kernel reaches past it and Z is underestimated; use
        :meth:`log_partition` for one θ₁)."""
        return self._cached(
            "log_z", lambda: self._smooth(-self.model.lam * self._disagreement())
        )

    def _log_factors(self, baseline):
        if baseline not in BASELINES:
            raise ValueError(
                f"`baseline` must be one of {BASELINES}, got {baseline!r}."
            )
        model = self.model
        a, b = np.meshgrid(*self.nodes, indexing="ij")
        theta0 = np.asarray(model.theta0, dtype=np.float64)
        log_f = -((a - theta0[0]) ** 2 + (b - theta0[1]) ** 2) / (2 * model.sigma1**2)
        lam = 0.0 if baseline == "single_head" else model.lam
        if baseline is None:
            log_f = log_f - self.log_partition_grid()
        log_g = self._log_likelihood() - lam * self._disagreement()
        return log_f, log_g

    def log_marginals(self, baseline: str | None = None):
        """Log posterior masses of the nodes, ``(log p(θ₁), log p(θ₂))``, each
        ``(n, n)`` and normalised (``logsumexp`` of each is 0)."""

        return self._marginals_and_total(baseline)[:2]

    def _marginals_and_total(self, baseline):
        def compute():
            log_f, log_g = self._log_factors(baseline)
            theta1 = log_f + self._smooth(log_g)
            theta2 = log_g + self._smooth(log_f)
            total = logsumexp(theta1)
            return theta1 - total, theta2 - logsumexp(theta2), total

        return self._cached(("marginals", baseline), compute)

    # -- what users read ----------------------------------------------------

    def probability(
        self,
        region: Callable[[Array], ArrayLike],
        *,
        of: str = "theta2",
        baseline: str | None = None,
    ) -> float:
        """Posterior mass of ``region(θ)`` (a boolean of one flat θ) for θ₂ or θ₁."""
        return self.expectation(region, of=of, baseline=baseline)

    def expectation(
        self,
        fn: Callable[[Array], ArrayLike],
        *,
        of: str = "theta2",
        baseline: str | None = None,
    ) -> float:
        """Posterior mean of ``fn(θ)`` (a scalar of one flat θ) for θ₂ or θ₁.

        ``fn`` is averaged over a 4 × 4 sub-grid of each node's cell: the mass
        of a region with a sharp edge then converges with the spacing squared,
        not linearly (each node holds its cell's mass)."""
        if of not in ("theta1", "theta2"):
            raise ValueError(f"`of` must be 'theta1' or 'theta2', got {of!r}.")
        log_p = self.log_marginals(baseline)[0 if of == "theta1" else 1]
        sub = (np.arange(_SUBGRID) + 0.5) / _SUBGRID - 0.5
        offsets = jnp.asarray(
            np.stack(np.meshgrid(sub * self.spacing[0], sub * self.spacing[1]), -1)
        ).reshape(-1, 2)

        def cell_mean(theta):
            values = jax.vmap(lambda o: jnp.asarray(fn(theta + o)).astype(float))
            return jnp.mean(values(offsets))

        return float(np.sum(np.exp(log_p) * self.on_grid(cell_mean)))

    def mode(self, *, of: str = "theta1", baseline: str | None = None) -> np.ndarray:
        """The node of largest marginal posterior mass of θ₁ or θ₂, shape (2,)."""
        log_p = self.log_marginals(baseline)[0 if of == "theta1" else 1]
        i, j = np.unravel_index(np.argmax(log_p), log_p.shape)
        return np.array([self.nodes[0][i], self.nodes[1][j]])

    def joint_map(self, baseline: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The node pair (θ₁, θ₂) of largest joint posterior density."""
        log_f, log_g = self._log_factors(baseline)
        best = log_f + self._smooth(log_g, combine="max")
        p = np.unravel_index(np.argmax(best), best.shape)
        kernel_a, kernel_b = self._log_kernels
        given = kernel_a[p[0]][:, None] + kernel_b[p[1]][None, :] + log_g
        i = np.unravel_index(np.argmax(given), given.shape)
        theta1 = np.array([self.nodes[0][p[0]], self.nodes[1][p[1]]])
        return theta1, np.array([self.nodes[0][i[0]], self.nodes[1][i[1]]])

    def log_partition(self, theta1: Float[ArrayLike, "2"]) -> float:
        r"""$\log Z(\theta_1)$ by quadrature over $\theta_1 \pm 9\sigma_2$."""
        points, log_weight = self._local(theta1)
        return float(logsumexp(log_weight + self._log_agreement(points)))

    def grad_log_partition(self, theta1: Float[ArrayLike, "2"]) -> np.ndarray:
        r"""$\nabla\log Z = \mathbb E_{p(\theta'|\theta_1)}[\theta' - \theta_1]/\sigma_2^2$
        by the same quadrature."""
        points, log_weight = self._local(theta1)
        log_p = log_weight + self._log_agreement(points)
        p = np.exp(log_p - logsumexp(log_p))
        return (p @ (points - np.asarray(theta1))) / self.model.sigma2**2

    def _log_agreement(self, points):
        values = jax.vmap(self.model.disagreement)(jnp.asarray(points))
        return -self.model.lam * np.asarray(values, dtype=np.float64)

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

    def posterior_mean_cov(
        self, baseline: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        r"""Mean (4,) and covariance (4, 4) of (θ₁, θ₂) by quadrature."""
        log_f, log_g = self._log_factors(baseline)
        log_p1, log_p2, log_total = self._marginals_and_total(baseline)
        # Moments of coordinates shifted to be non-negative on the grid (their
        # logs exist); the covariance does not see the shift.
        grids = np.meshgrid(*self.nodes, indexing="ij")
        with np.errstate(divide="ignore"):
            log_shifted = [np.log(c - c.min()) for c in grids]
        p1, p2 = np.exp(log_p1), np.exp(log_p2)
        first = [np.sum(p1 * (c - c.min())) for c in grids]
        first += [np.sum(p2 * (c - c.min())) for c in grids]
        second = np.empty((4, 4))
        for i in range(2):
            for j in range(2):
                shifted = (grids[i] - grids[i].min()) * (grids[j] - grids[j].min())
                second[i, j] = np.sum(p1 * shifted)
                second[2 + i, 2 + j] = np.sum(p2 * shifted)
        for j in range(2):
            # E[θ₁ᵢ θ₂ⱼ] = Σ f θ₁ᵢ · (K ⋆ g θ₂ⱼ), the only joint sums.
            smoothed = self._smooth(log_g + log_shifted[j])
            for i in range(2):
                second[i, 2 + j] = np.exp(
                    logsumexp(log_f + log_shifted[i] + smoothed) - log_total
                )
                second[2 + j, i] = second[i, 2 + j]
        first = np.array(first)
        shift = np.array([c.min() for c in grids] * 2)
        return first + shift, second - np.outer(first, first)
