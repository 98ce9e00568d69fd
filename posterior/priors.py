"""Isotropic Gaussian log-densities: the prior of θ₁ and the base measure of θ₂."""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

__all__ = ["log_isotropic_normal"]


def log_isotropic_normal(
    x: Float[ArrayLike, " dim"], mean: Float[ArrayLike, " dim"], sigma: float
) -> Float[Array, ""]:
    r"""$\log \mathcal N(x; \mu, \sigma^2 I)$, normalised.

    $$-\frac{\lVert x-\mu\rVert^2}{2\sigma^2} - \frac d2 \log(2\pi\sigma^2)$$

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(log_isotropic_normal(jnp.zeros(2), jnp.zeros(2), 1.0)), 4)
        -1.8379
    """
    x = jnp.asarray(x)
    dim = x.shape[-1]
    squared = jnp.sum((x - jnp.asarray(mean)) ** 2, axis=-1)
    return -squared / (2 * sigma**2) - 0.5 * dim * jnp.log(2 * jnp.pi * sigma**2)
