"""Shared types of the samplers: the (init, step) pair and its protocols.

Every algorithm in `samplers/` follows one contract, borrowed from blackjax:
`init(...) -> state` and `step(key, state, *per_step_args) -> (state, info)`,
where `state` holds only what the next step needs and `info` holds diagnostics.
Configuration is captured by closures built in `build_kernel`.
"""

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "PotentialFn",
    "InitFn",
    "StepFn",
    "SamplingAlgorithm",
    "values_and_grads",
]

#: A scalar function of a flat parameter vector, e.g. $\lambda C(\theta)$.
PotentialFn = Callable[[Array], Array]


def values_and_grads(
    potential_fn: PotentialFn, particles: Array
) -> tuple[Array, Array]:
    """`(n,)` values and `(n, d)` gradients of `potential_fn` at `(n, d)` particles."""
    return jax.vmap(jax.value_and_grad(potential_fn))(particles)


class InitFn(Protocol):
    """Build the initial state of a sampler."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


class StepFn(Protocol):
    """Advance a sampler by one step: `(key, state, *args) -> (state, info)`."""

    def __call__(self, key: Array, state: Any, *args: ArrayLike) -> tuple[Any, Any]: ...


class SamplingAlgorithm(NamedTuple):
    """A sampler as a pure (init, step) pair."""

    init: InitFn
    step: StepFn
