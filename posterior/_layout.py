"""Where each parameter array of a network sits in the flat vector θ."""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

__all__ = ["Layout"]


class Layout(NamedTuple):
    """Where each parameter array of the network sits in the flat vector."""

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[Any, ...]

    @classmethod
    def of(cls, params) -> "Layout":
        leaves, treedef = jax.tree.flatten(params)
        return cls(
            treedef,
            tuple(tuple(leaf.shape) for leaf in leaves),
            tuple(jnp.asarray(leaf).dtype for leaf in leaves),
        )

    def unravel(self, theta: Array) -> PyTree:
        """The inverse of ``ravel_pytree``, as a function of the layout alone
        (``ravel_pytree``'s own inverse is a new closure for every network, which
        would make every model's compiled programs its own)."""
        sizes = [math.prod(shape) for shape in self.shapes]
        parts = jnp.split(theta, np.cumsum(sizes)[:-1]) if sizes else []
        leaves = [
            part.reshape(shape).astype(dtype)
            for part, shape, dtype in zip(parts, self.shapes, self.dtypes, strict=True)
        ]
        return jax.tree.unflatten(self.treedef, leaves)
