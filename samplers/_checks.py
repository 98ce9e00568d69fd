"""Argument checks shared by the samplers' entry points (run before tracing)."""

import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["count", "positive"]


def count(value, name: str, minimum: int = 1) -> int:
    """An integer of at least ``minimum`` (bools are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {value}.")
    return int(value)


def positive(value, name: str):
    """A finite positive real number (a scalar tracer passes unchecked)."""
    if isinstance(value, jax.core.Tracer):
        if jnp.shape(value) != ():
            raise ValueError(
                f"`{name}` must be a scalar, got shape {jnp.shape(value)}."
            )
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"`{name}` must be finite and positive, got {number}.")
    return number
