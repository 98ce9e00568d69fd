r"""Warm-up adaptation of SGLD/SGHMC: a paired preconditioner and the step.

The outer chain moves in coordinates $z$ with, for every coordinate $j$,

$$\theta_{1j} = a_j z_{1j},\qquad \theta_{2j} = b_j z_{1j} + c_j z_{2j},$$

a lower-triangular 2×2 map per pair $(\theta_{1j}, \theta_{2j})$
(:class:`PairedScale`), chosen so that the posterior has unit curvature in its
stiffest direction. A fixed map makes this plain SGLD/SGHMC with a constant
preconditioner, exact in the small-step limit (no correction term is needed,
unlike a preconditioner that keeps changing, Li et al. 2016).

Why pairs and not a diagonal: the prior's term
$\lVert\theta_2-\theta_1\rVert^2/2\sigma_2^2$ couples each $\theta_{2j}$ with
its $\theta_{1j}$ and is, with $\sigma_2 < \sigma_1$, the stiffest term of the
posterior; along $\theta_1 + \theta_2$ the curvature is about $1/\sigma_1^2$.
No diagonal scaling separates the two (on the linear-Gaussian cases the
condition number stays at 50–100 whatever the diagonal), while the 2×2 blocks
bring it to 5–8, which is 10× fewer steps per independent draw.

During warm-up, in windows that double in length (as Stan's window adaptation):

1. **Block curvature.** Each pair's 2×2 block $F_j$ of $H$, the curvature
   $-\nabla^2$ of every term but $-\log Z$:

   - $F_{12} = -1/\sigma_2^2$ exactly: the coupling
     $\mathcal N(\theta_2;\theta_1,\sigma_2^2)$ is the only term holding both.
   - $F_{11}$ and $F_{22}$, the diagonals of the θ₁ and θ₂ blocks, by
     Hutchinson's estimator $v \odot Hv$ with Rademacher probes $v$ (exact for
     the Gaussian terms, one Hessian-vector product per warm-up step),
     averaged over the window's draws and shrunk towards the previous window's
     as Stan shrinks its variances.

   The map is the Cholesky factor of $F_j^{-1}$. The $-\log Z$ term is left
   out: its Hessian, $\mathrm{Cov}(\theta'\mid\theta_1)/\sigma_2^4 - I/\sigma_2^2$,
   only lowers θ₁'s curvature, so leaving it out errs on the safe side, and an
   estimate from a few persistent inner particles is too noisy for these
   nearly singular blocks (their determinant is a small difference of large
   numbers: a 10% error in $F_{11}$ or $F_{22}$ can misplace the slow
   direction's curvature several-fold). The Fisher identity
   ($\mathbb E[gg^\top] = \mathbb E[-\nabla^2\log p]$ at stationarity, the
   empirical Fisher of stochastic gradient Fisher scoring, Ahn, Korattikara &
   Welling 2012) fails here for the same reason: its noise is relative to
   $1/\sigma_2^2$, and the inner particles' noise inflates $g_1$.
2. **Stiffest direction.** The largest eigenvalue $\Lambda$ of $T^\top H T$, with
   $T$ the map and $H$ the Hessian of every term but $-\log Z$ (full batch), by
   power iteration on Hessian-vector products; the map is then divided by
   $\sqrt\Lambda$. The $-\log Z$ term only lowers θ₁'s curvature, so this errs on
   the safe side.

With unit stiffest curvature, Euler–Maruyama (SGLD with blackjax's step ε:
drift ε∇log p, noise variance 2ε) on a Gaussian inflates a direction of
curvature $c \le 1$ by a factor $1/(1 - \varepsilon c/2)$, so the step is fixed by
the variance bias it may cost: ε = 2·:data:`TARGET_BIAS`. SGHMC uses friction √2
and a time step of 2√2·:data:`TARGET_BIAS`/2 over :data:`SGHMC_STEPS` steps
(blackjax redraws the momentum each outer step, which costs another factor
L/(L−1); see :mod:`samplers.sgld`).
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

__all__ = [
    "SGHMC_STEPS",
    "TARGET_BIAS",
    "PairedScale",
    "Preconditioner",
    "accumulate",
    "adapted_step",
    "init",
    "diagonal_curvature",
    "stiffness",
    "update",
    "window_ends",
]

#: Variance bias allowed in the stiffest direction by the discretisation.
TARGET_BIAS = 0.05
#: SGHMC steps per outer step: the momentum refresh costs a factor L/(L−1).
SGHMC_STEPS = 20
_POWER_ITERATIONS = 20
# Weight, in draws, of the previous curvature when a window's estimate replaces
# it (Stan shrinks its variance estimates by the same rule with 5 draws).
_PRIOR_WEIGHT = 5.0


class PairedScale(NamedTuple):
    """θ₁ = a·z₁, θ₂ = b·z₁ + c·z₂, coordinate by coordinate (each ``(d,)``).

    ``PairedScale.identity`` is no preconditioning; ``b = 0`` a diagonal one.
    """

    a: Array
    b: Array
    c: Array

    @classmethod
    def identity(cls, theta1: Array) -> "PairedScale":
        ones = jnp.ones_like(theta1)
        return cls(ones, jnp.zeros_like(theta1), ones)

    def to_theta(self, z1: Array, z2: Array) -> tuple[Array, Array]:
        return self.a * z1, self.b * z1 + self.c * z2

    def to_z(self, theta1: Array, theta2: Array) -> tuple[Array, Array]:
        z1 = theta1 / self.a
        return z1, (theta2 - self.b * z1) / self.c

    def pull(self, g1: Array, g2: Array) -> tuple[Array, Array]:
        """A gradient in θ as one in z: Tᵀg."""
        return self.a * g1 + self.b * g2, self.c * g2


class Preconditioner(NamedTuple):
    """Per-chain adaptation state.

    Attributes:
        scale: the map from z to θ, a :class:`PairedScale`.
        curvature: ``(F₁₁, F₁₂, F₂₂)``, the 2×2 curvature blocks behind it,
            each ``(d,)``.
        sums: ``(ΣF₁₁, ΣF₂₂)``, the diagonal probes over the current window.
        count: terms in the current window.
    """

    scale: PairedScale
    curvature: tuple[Array, Array, Array]
    sums: tuple[Array, Array]
    count: Array


def adapted_step(method: str) -> float:
    """The step in adapted coordinates (see the module docstring)."""
    if method == "sgld":
        return 2.0 * TARGET_BIAS
    # Euler SGHMC at friction γ inflates a variance by about εω²/(2γ); with
    # ω = 1 and γ = √2, ε = 2√2 · bias / 2 leaves half the bias to the refresh.
    return math.sqrt(2.0) * TARGET_BIAS


def window_ends(num_warmup: int) -> tuple[int, ...]:
    """Steps after which a window closes: doubling windows between 10% and 90%
    of the warm-up (none for under 20 warm-up steps)."""
    if num_warmup < 20:
        return ()
    start, stop, num_windows = 0.1 * num_warmup, 0.9 * num_warmup, 4
    total = 2**num_windows - 1
    return tuple(
        int(round(start + (stop - start) * (2 ** (k + 1) - 1) / total))
        for k in range(num_windows)
    )


def stiffness(key, logdensity_fn, theta1, theta2, scale: PairedScale) -> Array:
    """Largest |eigenvalue| of Tᵀ H T, H = −∇² logdensity at (θ₁, θ₂) and T the
    map of ``scale``, by power iteration on Hessian-vector products."""
    grad = jax.grad(lambda t1, t2: logdensity_fn(t1, t2), argnums=(0, 1))

    def product(v):
        _, h = jax.jvp(grad, (theta1, theta2), scale.to_theta(*v))
        return tuple(-x for x in scale.pull(*h))

    def norm(v):
        return jnp.sqrt(jnp.sum(v[0] ** 2) + jnp.sum(v[1] ** 2))

    key1, key2 = jr.split(key)
    start = (
        jr.normal(key1, theta1.shape, theta1.dtype),
        jr.normal(key2, theta2.shape, theta2.dtype),
    )
    start = jax.tree.map(lambda x: x / norm(start), start)

    def body(_, v):
        w = product(v)
        size = norm(w)
        return jax.tree.map(lambda x: x / jnp.where(size > 0, size, 1.0), w)

    v = jax.lax.fori_loop(0, _POWER_ITERATIONS, body, start)
    w = product(v)
    rayleigh = jnp.abs(jnp.sum(v[0] * w[0]) + jnp.sum(v[1] * w[1]))
    # A flat or NaN Hessian leaves the scale as it was.
    return jnp.where(jnp.isfinite(rayleigh) & (rayleigh > 0), rayleigh, 1.0)


def diagonal_curvature(key, logdensity_fn, theta1, theta2, batch=None):
    """Hutchinson's estimate of the diagonals ``(F₁₁, F₂₂)`` of −∇² logdensity
    at (θ₁, θ₂), one Rademacher probe per block (exact for a diagonal block)."""
    key1, key2 = jr.split(key)
    probe1 = jr.rademacher(key1, theta1.shape, theta1.dtype)
    probe2 = jr.rademacher(key2, theta2.shape, theta2.dtype)
    grad1 = jax.grad(lambda t1: logdensity_fn(t1, theta2, batch))
    grad2 = jax.grad(lambda t2: logdensity_fn(theta1, t2, batch))
    _, hvp1 = jax.jvp(grad1, (theta1,), (probe1,))
    _, hvp2 = jax.jvp(grad2, (theta2,), (probe2,))
    return -probe1 * hvp1, -probe2 * hvp2


def init(key, logdensity_fn, theta1, theta2, sigma2) -> Preconditioner:
    """Blocks from one probe at the start."""
    key_probe, key_stiff = jr.split(key)
    f11, f22 = diagonal_curvature(key_probe, logdensity_fn, theta1, theta2)
    blocks = _blocks(f11, f22, sigma2)
    fallback = (jnp.ones_like(theta1), jnp.zeros_like(theta1), jnp.ones_like(theta2))
    ok = _positive_definite(blocks)
    blocks = tuple(jnp.where(ok, x, y) for x, y in zip(blocks, fallback, strict=True))
    scale = _rescaled(key_stiff, blocks, logdensity_fn, theta1, theta2)
    zeros = jnp.zeros_like(theta1)
    return Preconditioner(scale, blocks, (zeros, zeros), jnp.zeros((), theta1.dtype))


def accumulate(state: Preconditioner, diagonals) -> Preconditioner:
    """Add one draw's probes ``(F₁₁, F₂₂)`` (:func:`diagonal_curvature`)."""
    sums = tuple(s + f for s, f in zip(state.sums, diagonals, strict=True))
    return state._replace(sums=sums, count=state.count + 1)


def _blocks(f11, f22, sigma2):
    """(F₁₁, F₁₂, F₂₂), the diagonals kept at least the coupling's 1/σ₂²
    (a non-convex likelihood's curvature can be negative at a draw)."""
    coupling = 1.0 / sigma2**2
    f11 = jnp.maximum(jnp.nan_to_num(f11, nan=coupling), coupling)
    f22 = jnp.maximum(jnp.nan_to_num(f22, nan=coupling), coupling)
    return f11, jnp.full_like(f11, -coupling), f22


def update(key, state: Preconditioner, logdensity_fn, theta1, theta2, sigma2):
    """Close a window: new curvature blocks, the map rescaled to unit stiffness."""
    n = state.count
    f11, _, f22 = state.curvature
    estimate = _blocks(
        (state.sums[0] + _PRIOR_WEIGHT * f11) / (n + _PRIOR_WEIGHT),
        (state.sums[1] + _PRIOR_WEIGHT * f22) / (n + _PRIOR_WEIGHT),
        sigma2,
    )
    # A block that is not positive definite (a prior that is not log-concave)
    # keeps the previous estimate.
    ok = _positive_definite(estimate)
    curvature = tuple(
        jnp.where(ok, new, old)
        for new, old in zip(estimate, state.curvature, strict=True)
    )
    scale = _rescaled(key, curvature, logdensity_fn, theta1, theta2)
    zeros = tuple(jnp.zeros_like(x) for x in state.sums)
    return Preconditioner(scale, curvature, zeros, jnp.zeros_like(n))


def _positive_definite(blocks) -> Array:
    f11, f12, f22 = blocks
    finite = jnp.isfinite(f11) & jnp.isfinite(f12) & jnp.isfinite(f22)
    return finite & (f11 > 0) & (f22 > 0) & (f11 * f22 > f12**2)


def _rescaled(key, blocks, logdensity_fn, theta1, theta2) -> PairedScale:
    """The blocks' map, divided by √(stiffness) so that the stiffest direction
    of every term but −log Z has unit curvature."""
    scale = _cholesky_of_inverse(blocks)
    stiff = stiffness(key, logdensity_fn, theta1, theta2, scale)
    return PairedScale(*(x / jnp.sqrt(stiff) for x in scale))


def _cholesky_of_inverse(blocks) -> PairedScale:
    """Per coordinate, the lower Cholesky factor of F⁻¹ for F = [[f₁₁, f₁₂],
    [f₁₂, f₂₂]]: Σ = F⁻¹ = LLᵀ with L = [[a, 0], [b, c]]."""
    f11, f12, f22 = blocks
    det = f11 * f22 - f12**2
    s11, s12 = f22 / det, -f12 / det
    a = jnp.sqrt(s11)
    b = s12 / a
    # c² = s22 − b² = 1/f22 exactly; this form keeps it positive.
    return PairedScale(a, b, 1.0 / jnp.sqrt(f22))
