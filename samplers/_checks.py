"""Argument checks shared by the samplers' entry points (run before tracing)."""

import numpy as np

__all__ = ["count"]


def count(value, name: str, minimum: int = 1) -> int:
    """An integer of at least ``minimum`` (bools are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {value}.")
    return int(value)
