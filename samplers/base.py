"""Shared types of the samplers: the (init, step) pair and its protocols.

Every algorithm in `samplers/` follows one contract, borrowed from blackjax:
`init(...) -> state` and `step(key, state, *per_step_args) -> (state, info)`,
where `state` holds only what the next step needs and `info` holds diagnostics.
Configuration is captured by closures built in `build_kernel`.
"""

import functools
from collections.abc import Callable
from typing import Any, Protocol

import jax
from jax import Array
from jax.typing import ArrayLike

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


def compiler_options() -> dict:
    """XLA options for the samplers' compiled programs: on CPU, LLVM's
    optimisation level 1 instead of the default, and no small-loop hoisting.

    The programs nest loops (AIS inside MALA inside a scan over draws), and
    there the full optimisation takes most of the compile time for no speed:
    the nested-AIS sweep compiled in 12 s instead of 27 s and ran as fast, and
    on a 4,394-parameter network every part of an SG-MCMC step ran within 5 %
    (docs/benchmarks.md, "Compiling at optimisation level 1"; not every
    program: the exchange move at d = 1 samples 40 % slower, while three other
    small cases sample faster, benchmarks/compile_level.py). On small
    problems XLA's CPU compiler hoists a loop whose data are small, which can be
    a run's whole scan, into one LLVM function: compiling it took 8 of the 10 s
    of a nested-AIS run's program, and without it 3 s, for 6 % more run time
    ("Small-loop hoisting", same page). Other backends keep their defaults.
    Read when a program is made, so it never starts JAX's backends at import.
    """
    if jax.default_backend() == "cpu":
        return {
            "xla_backend_optimization_level": 1,
            "xla_disable_hlo_passes": "small-while-loop-hoisting",
        }
    return {}


def at_top_level() -> bool:
    """Whether no JAX trace (jit, vmap, grad...) is under way, so that a
    program may be compiled with its own options. Reads a private JAX function;
    without it the answer is False, which only costs compile time."""
    try:
        from jax._src.core import trace_state_clean
    except ImportError:  # pragma: no cover - a JAX that moved it
        return False
    return bool(trace_state_clean())


@functools.cache
def _jitted(fun: Callable, top: bool):
    return jit(fun) if top else jax.jit(fun)


def jit_anywhere(fun: Callable) -> Callable:
    """``jax.jit`` for functions that users also call inside their own traces
    (``log_partition``): with :func:`compiler_options` when called at top
    level, plain inside another trace (which refuses them)."""

    @functools.wraps(fun)
    def call(*args, **kwargs):
        return _jitted(fun, at_top_level())(*args, **kwargs)

    return call


def jit(fun: Callable | None = None, /, **kwargs):
    """``jax.jit`` with :func:`compiler_options`; a decorator with or without
    ``jit``'s own keywords.

    For top-level programs only (a run's chains, a set-up): JAX refuses compiler
    options on a jit traced inside another, so functions that users may call
    under their own ``jit``/``vmap`` (``log_partition``) use
    :func:`jit_anywhere`.
    """
    if fun is None:
        return functools.partial(jit, **kwargs)
    return jax.jit(fun, compiler_options=compiler_options(), **kwargs)


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
