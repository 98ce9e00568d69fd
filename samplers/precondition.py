r"""Warm-up adaptation of SGLD/SGHMC: a diagonal preconditioner and the step.

The outer chain moves in coordinates $z = \theta / s$, with one scale per
coordinate, so that the posterior has unit curvature in its stiffest direction.
A fixed $s$ makes this plain SGLD/SGHMC with a constant preconditioner, exact in
the small-step limit (no correction term is needed, unlike a preconditioner that
keeps changing, Li et al. 2016).

During warm-up, in windows that double in length (as Stan's window adaptation):

1. **Diagonal curvature.** At stationarity the gradient of a log density has
   $\mathbb E[g g^\top] = \mathbb E[-\nabla^2 \log p]$ (for a Gaussian exactly the
   precision; the Fisher identity), so the window's mean of $g_j^2$ estimates
   the curvature of coordinate $j$ (inflated by minibatch noise, which only
   makes the steps safer). $s_j \propto 1/\sqrt{\mathbb E g_j^2}$, shrunk
   towards the previous estimate as Stan shrinks its variances. This is the
   empirical-Fisher preconditioner of stochastic gradient Fisher scoring (Ahn,
   Korattikara & Welling, 2012).
2. **Stiffest direction.** The largest eigenvalue $\Lambda$ of
   $\operatorname{diag}(s)\, H\, \operatorname{diag}(s)$, with $H$ the Hessian of
   every term but $-\log Z$ (full batch), by power iteration on Hessian-vector
   products; $s$ is then divided by $\sqrt\Lambda$. The $-\log Z$ term only
   lowers θ₁'s curvature, so this errs on the safe side.

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
    "Preconditioner",
    "accumulate",
    "adapted_step",
    "init",
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


class Preconditioner(NamedTuple):
    """Per-chain adaptation state.

    Attributes:
        scale: ``(s₁, s₂)``, the coordinates' scales, each ``(d,)``.
        curvature: ``(c₁, c₂)``, the diagonal curvature estimates behind them.
        sum_squares: ``(Σg₁², Σg₂²)`` over the current window.
        count: gradients in the current window.
    """

    scale: tuple[Array, Array]
    curvature: tuple[Array, Array]
    sum_squares: tuple[Array, Array]
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


def stiffness(key, logdensity_fn, theta1, theta2, scale) -> Array:
    """Largest |eigenvalue| of diag(s) H diag(s), H = −∇² logdensity at (θ₁, θ₂),
    by power iteration on Hessian-vector products."""
    grad = jax.grad(lambda t1, t2: logdensity_fn(t1, t2), argnums=(0, 1))
    s1, s2 = scale

    def product(v):
        v1, v2 = v
        _, (h1, h2) = jax.jvp(grad, (theta1, theta2), (s1 * v1, s2 * v2))
        return (-s1 * h1, -s2 * h2)

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


def init(key, logdensity_fn, theta1, theta2) -> Preconditioner:
    """Scales from the stiffness at the start, the same for every coordinate."""
    ones = (jnp.ones_like(theta1), jnp.ones_like(theta2))
    curvature = stiffness(key, logdensity_fn, theta1, theta2, ones)
    curvatures = (curvature * ones[0], curvature * ones[1])
    scale = jax.tree.map(lambda c: 1.0 / jnp.sqrt(c), curvatures)
    zeros = jax.tree.map(jnp.zeros_like, ones)
    return Preconditioner(scale, curvatures, zeros, jnp.zeros((), theta1.dtype))


def accumulate(state: Preconditioner, gradient) -> Preconditioner:
    squares = jax.tree.map(lambda s, g: s + g**2, state.sum_squares, gradient)
    return state._replace(sum_squares=squares, count=state.count + 1)


def update(key, state: Preconditioner, logdensity_fn, theta1, theta2):
    """Close a window: new diagonal curvature, rescaled to unit stiffness."""
    n = state.count

    def shrunk(sum_squares, previous):
        estimate = (sum_squares + _PRIOR_WEIGHT * previous) / (n + _PRIOR_WEIGHT)
        ok = jnp.isfinite(estimate) & (estimate > 0)
        return jnp.where(ok, estimate, previous)

    curvature = jax.tree.map(shrunk, state.sum_squares, state.curvature)
    diagonal = jax.tree.map(lambda c: 1.0 / jnp.sqrt(c), curvature)
    stiff = stiffness(key, logdensity_fn, theta1, theta2, diagonal)
    scale = jax.tree.map(lambda s: s / jnp.sqrt(stiff), diagonal)
    zeros = jax.tree.map(jnp.zeros_like, state.sum_squares)
    return Preconditioner(scale, curvature, zeros, jnp.zeros_like(n))
