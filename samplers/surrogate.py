r"""A diagonal quadratic stand-in for log Z(θ₁), fitted to gradient samples.

The exchange move's auxiliary draws give exact, unbiased samples of
∇log Z(θ₁*) at its proposals; a least-squares line per coordinate through them
shapes the θ₁ proposal (:mod:`samplers.exchange`). Any fixed surrogate keeps
that move exact; a good one makes its acceptance ratio nearly cancel.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

__all__ = [
    "Surrogate",
    "SurrogateStats",
    "fit_surrogate",
    "init_surrogate_stats",
    "update_surrogate_stats",
]


class Surrogate(NamedTuple):
    r"""A diagonal quadratic stand-in $S$ for $\log Z(\theta_1)$:
    $\nabla S(\theta) = \text{gradient} + \text{curvature} \odot
    (\theta - \text{center})$. All zeros gives the plain proposal."""

    center: Array
    gradient: Array
    curvature: Array


class SurrogateStats(NamedTuple):
    """Running per-coordinate moments of gradient samples y at points x."""

    count: Array
    mean_x: Array
    mean_y: Array
    sxx: Array
    sxy: Array


def init_surrogate_stats(dim: int, dtype) -> SurrogateStats:
    """No samples yet."""
    zeros = jnp.zeros((dim,), dtype)
    return SurrogateStats(jnp.zeros((), dtype), zeros, zeros, zeros, zeros)


def update_surrogate_stats(
    stats: SurrogateStats, x: Array, y: Array, use: Array
) -> SurrogateStats:
    """Add the sample (x, y) when ``use`` (Welford's centerd updates)."""
    count = stats.count + 1
    dx = x - stats.mean_x
    mean_x = stats.mean_x + dx / count
    mean_y = stats.mean_y + (y - stats.mean_y) / count
    new = SurrogateStats(
        count,
        mean_x,
        mean_y,
        stats.sxx + dx * (x - mean_x),
        stats.sxy + dx * (y - mean_y),
    )
    return jax.tree.map(lambda a, b: jnp.where(use, a, b), new, stats)


def fit_surrogate(stats: SurrogateStats, tau: float, min_count: int = 20) -> Surrogate:
    """Least-squares line per coordinate through the gradient samples.

    Below ``min_count`` samples it is all zeros. The slope's denominator gets a
    ridge of 1% of the spread a move of size τ would give, so a coordinate the
    proposals barely explored gets no curvature rather than a huge one.
    """
    ready = stats.count >= min_count
    ridge = 0.01 * stats.count * tau**2
    curvature = stats.sxy / (stats.sxx + ridge)
    zeros = jnp.zeros_like(stats.mean_x)
    return Surrogate(
        stats.mean_x,
        jnp.where(ready, stats.mean_y, zeros),
        jnp.where(ready, curvature, zeros),
    )
