"""Argument checks shared by the model and the exact cases.

Everything here runs on concrete NumPy values, before anything is traced or
compiled, and names the argument at fault.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["positive_scalar", "data_tree", "flat_theta"]


def positive_scalar(value, name: str) -> float:
    """A finite float > 0."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be finite and positive, got {value}.")
    return value


def data_tree(tree, name: str) -> tuple[object, int]:
    """A pytree of finite arrays sharing a non-empty leading axis.

    Returns:
        The tree with JAX-array leaves, and the length of the leading axis.
    """
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError(f"`{name}` is empty: it holds no arrays.")
    lengths = set()
    for leaf in leaves:
        array = np.asarray(leaf)
        if array.ndim == 0:
            raise ValueError(f"`{name}` needs a leading batch axis; got a scalar.")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise TypeError(f"`{name}` must hold numeric arrays, got {array.dtype}.")
        if np.issubdtype(array.dtype, np.inexact) and not np.all(np.isfinite(array)):
            raise ValueError(f"`{name}` contains NaN or infinite values.")
        lengths.add(array.shape[0])
    if len(lengths) > 1:
        raise ValueError(
            f"The arrays in `{name}` disagree on the number of examples: {lengths}."
        )
    (length,) = lengths
    if length == 0:
        raise ValueError(f"`{name}` is empty: it has no examples.")
    return jax.tree.map(jnp.asarray, tree), length


def flat_theta(theta, dim: int, name: str = "theta") -> jax.Array:
    """A flat floating-point parameter vector of length ``dim``.

    Only shapes and dtypes are read, so this also works on tracers.
    """
    theta = jnp.asarray(theta)
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        raise TypeError(
            f"`{name}` must be a floating-point vector, got dtype {theta.dtype}."
        )
    if theta.shape != (dim,):
        raise ValueError(f"`{name}` must have shape ({dim},), got {theta.shape}.")
    return theta
