"""Argument checks shared by the model and the exact cases.

Everything here runs on concrete NumPy values, before anything is traced or
compiled, and names the argument at fault.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["count", "positive_scalar", "data_tree", "flat_theta", "typed_key"]


def count(value, name: str, minimum: int = 1) -> int:
    """An integer of at least ``minimum`` (bools and whole floats are not counts)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {value}.")
    return int(value)


def positive_scalar(value, name: str) -> float:
    """A finite float > 0."""
    # float() would take True as 1.0 and "0.5" as 0.5: neither is a number here.
    if isinstance(value, bool | np.bool_ | str | bytes):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
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


def typed_key(key, name: str = "key") -> jax.Array:
    """A single typed PRNG key (a tracer's dtype and shape are checked too)."""
    if not (
        isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    ):
        got = getattr(key, "dtype", type(key).__name__)
        raise TypeError(
            f"`{name}` must be a typed PRNG key, jax.random.key(seed), got {got} "
            "(a raw jax.random.PRNGKey is a uint32 array: wrap it with "
            "jax.random.wrap_key_data)."
        )
    if key.shape != ():
        raise ValueError(f"`{name}` must be a single key, got shape {key.shape}.")
    return key


def batch_index(batch, size: int, what: str) -> jax.Array:
    """A minibatch's indices into ``size`` examples of ``what`` (say "answer"),
    checked: a 1-D, non-empty integer array, in range where it is concrete."""
    index = jnp.asarray(batch)
    if not jnp.issubdtype(index.dtype, jnp.integer) or index.ndim != 1:
        raise TypeError(f"`batch` must be a 1-D integer array of {what} indices.")
    if index.shape[0] == 0:
        raise ValueError("`batch` is empty.")
    if isinstance(index, jax.core.Tracer):
        return index
    # In NumPy: under a trace (a batch closed over by a jitted function) JAX
    # would stage the comparison, and JAX clamps out-of-range indices silently.
    values = np.asarray(index)
    if values.min() < 0 or values.max() >= size:
        raise ValueError(
            f"`batch` indices must lie in 0..{size - 1}, got "
            f"{int(values.min())}..{int(values.max())}."
        )
    return index
