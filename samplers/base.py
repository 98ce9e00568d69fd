"""Shared types of the samplers: the (init, step) pair and its protocols.

Every algorithm in `samplers/` follows one contract, borrowed from blackjax:
`init(...) -> state` and `step(key, state, *per_step_args) -> (state, info)`,
where `state` holds only what the next step needs and `info` holds diagnostics.
Configuration is captured by closures built in `build_kernel`, handed to the
compiled programs as `samplers.programs.Deferred` values so that a model of the
same shapes finds them compiled.
"""

from collections.abc import Callable
from typing import Any, Protocol

import jax
from jax import Array
from jax.typing import ArrayLike

# Compiled programs' helpers live in samplers.programs; imported here, where the
# package's modules and tests have long found them.
from samplers.programs import compiler_options, jit

__all__ = [
    "EXCHANGE_TARGET_ACCEPTANCE",
    "HMC_TARGET_ACCEPTANCE",
    "MALA_TARGET_ACCEPTANCE",
    "PotentialFn",
    "InitFn",
    "StepFn",
    "compiler_options",
    "jit",
    "values_and_grads",
]

# The acceptance rates the step sizes are tuned to, in one place. MALA: the
# optimal 0.574 of Roberts & Rosenthal (1998), in AIS, in the inner chains, in
# thermodynamic integration and in the nested-AIS θ₁ move. HMC: a common target
# (about 0.65-0.8; blackjax's window adaptation defaults to 0.8). The exchange
# move's Crank-Nicolson step: 0.3, a random-walk-like proposal whose acceptance
# also carries the noise of the auxiliary draw.
MALA_TARGET_ACCEPTANCE = 0.574
HMC_TARGET_ACCEPTANCE = 0.75
EXCHANGE_TARGET_ACCEPTANCE = 0.3

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


def short_repr(result) -> str:
    """A result's fields on one line each: a scalar's value, an array's dtype
    and shape, a nested result's type (printing every particle of a
    ``LogPartitionResult`` took thousands of lines)."""
    lines = [f"{type(result).__name__}("]
    for name, value in zip(result._fields, result, strict=True):
        lines.append(f"  {name}={_brief(value)},")
    return "\n".join(lines + [")"])


def _brief(value) -> str:
    if isinstance(value, float):  # np.float64 too
        return f"{value:.6g}"
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if hasattr(value, "_fields"):
        return f"{type(value).__name__}(...)"
    shape = getattr(value, "shape", None)
    if shape is None:
        return type(value).__name__
    if shape == () and not isinstance(value, jax.core.Tracer):
        return f"{value.item():.6g}"
    return f"{value.dtype}{list(shape)}"
