"""Compiled programs that a second call with new data finds again.

``jax.jit`` keeps a function's compiled programs with the function: a closure
made anew by every ``sample`` call is a new function, so every call traced and
lowered its programs afresh (2-3 s of a small run, docs/benchmarks.md), even
with each compiled program a hit in the persistent cache. Here the programs are
module-level functions, and what used to be closed over is passed in as a
pytree: its arrays are the program's arguments, everything else (shapes, λ and
the σ's, settings, functions) keys the program. A model is such a pytree
(``posterior.TwoStageModel``); so are the sampler's functions of it, as
:class:`Deferred` values.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.tree_util import Partial

__all__ = [
    "Deferred",
    "at_top_level",
    "compiler_options",
    "filter_jit",
    "hashable",
    "jit",
    "method_as_pytree",
]


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


def jit(fun: Callable | None = None, /, **kwargs):
    """``jax.jit`` with :func:`compiler_options`; a decorator with or without
    ``jit``'s own keywords.

    For top-level programs only (a run's chains, a set-up): JAX refuses compiler
    options on a jit traced inside another, so functions that users may call
    under their own ``jit``/``vmap`` (``log_partition``) use
    :func:`filter_jit`, which adds them at top level only.
    """
    if fun is None:
        return functools.partial(jit, **kwargs)
    return jax.jit(fun, compiler_options=compiler_options(), **kwargs)


@jax.tree_util.register_pytree_node_class
class Deferred:
    """The function ``builder(*args, **kwargs)``, kept as its arguments.

    A closure over a model is a new function each time it is made; a
    ``Deferred`` of a module-level ``builder`` is a pytree of the arguments,
    equal in structure for equal settings, so :func:`filter_jit` programs taking
    it find their compiled code again. The closure is built when the value is
    called, which under ``jit`` is once per trace.

    Example:
        >>> import jax.numpy as jnp
        >>> def scaled(scale):
        ...     return lambda x: scale * x
        >>> double = Deferred(scaled, jnp.array(2.0))
        >>> float(double(jnp.array(3.0)))
        6.0
    """

    def __init__(self, builder: Callable[..., Callable], *args, **kwargs):
        self.builder, self.args, self.kwargs = builder, args, kwargs

    def __call__(self, *args, **kwargs):
        return self.builder(*self.args, **self.kwargs)(*args, **kwargs)

    def tree_flatten(self):
        return (self.args, self.kwargs), self.builder

    @classmethod
    def tree_unflatten(cls, builder, children):
        args, kwargs = children
        return cls(builder, *args, **kwargs)

    def __repr__(self):
        return f"Deferred({getattr(self.builder, '__qualname__', self.builder)})"


@functools.cache
def _method(name: str):
    def call(owner, *args, **kwargs):
        return getattr(owner, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def method_as_pytree(fn: Callable) -> Callable:
    """``fn``, or where it is a method of a pytree (``model.disagreement`` of a
    ``TwoStageModel``) the same function as a pytree of its owner: a bound
    method is keyed by its owner's identity, this by the owner's shapes.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> @jax.tree_util.register_pytree_node_class
        ... class Scale:
        ...     def __init__(self, factor):
        ...         self.factor = factor
        ...     def times(self, x):
        ...         return self.factor * x
        ...     def tree_flatten(self):
        ...         return (self.factor,), None
        ...     @classmethod
        ...     def tree_unflatten(cls, _, children):
        ...         return cls(*children)
        >>> double = method_as_pytree(Scale(jnp.array(2.0)).times)
        >>> float(double(jnp.array(3.0))), jax.tree.leaves(double)[0].tolist()
        (6.0, 2.0)
    """
    owner = getattr(fn, "__self__", None)
    if inspect.ismethod(fn) and not jax.tree_util.all_leaves([owner]):
        return Partial(_method(fn.__name__), owner)
    return fn


class _ByIdentity:
    """An unhashable static value, keyed by its identity; called, it calls it."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        return id(self.value)

    def __eq__(self, other):
        return isinstance(other, _ByIdentity) and other.value is self.value

    def __call__(self, *args, **kwargs):
        return self.value(*args, **kwargs)


class _Static(NamedTuple):
    treedef: Any
    leaves: tuple  # the static leaves; `_ARGUMENT` where an array goes


class _Argument:
    """Where an array goes: one instance, equal to itself only."""

    def __repr__(self):
        return "<argument>"


_ARGUMENT = _Argument()


def _is_array(leaf) -> bool:
    return isinstance(leaf, jax.Array | np.ndarray)


def hashable(leaf):
    """``leaf``, or where it cannot be hashed (a callable object with an array
    in it, say) a stand-in keyed by its identity, which calls it when called:
    a program keyed on it compiles once per object, not once per call.

    Example:
        >>> class Unhashable:
        ...     __eq__ = lambda self, other: self is other  # no __hash__ then
        ...     __call__ = lambda self, x: 2 * x
        >>> fn = Unhashable()
        >>> key = hashable(fn)
        >>> key == hashable(fn), hash(key) == hash(hashable(fn)), key(3)
        (True, True, 6)
    """
    try:
        hash(leaf)
    except TypeError:
        return _ByIdentity(leaf)
    return leaf


def _split(tree) -> tuple[list, _Static]:
    leaves, treedef = jax.tree.flatten(tree)
    arrays = [leaf if _is_array(leaf) else None for leaf in leaves]
    static = tuple(_ARGUMENT if _is_array(leaf) else hashable(leaf) for leaf in leaves)
    return arrays, _Static(treedef, static)


def _join(arrays, static: _Static):
    leaves = [
        array
        if kept is _ARGUMENT
        else (kept.value if isinstance(kept, _ByIdentity) else kept)
        for array, kept in zip(arrays, static.leaves, strict=True)
    ]
    return jax.tree.unflatten(static.treedef, leaves)


@functools.cache
def _program(fun: Callable, top: bool):
    def program(arrays, static):
        args, kwargs = _join(arrays, static)
        return fun(*args, **kwargs)

    program.__name__ = program.__qualname__ = getattr(fun, "__name__", "program")
    # Compiler options only at top level: JAX refuses them inside another trace.
    return (jit if top else jax.jit)(program, static_argnums=1)


class _Filtered:
    def __init__(self, fun):
        self.fun = fun
        functools.update_wrapper(self, fun)

    def __call__(self, *args, **kwargs):
        return _program(self.fun, at_top_level())(*_split((args, kwargs)))

    def lower(self, *args, **kwargs):
        return _program(self.fun, at_top_level()).lower(*_split((args, kwargs)))

    def trace(self, *args, **kwargs):
        return _program(self.fun, at_top_level()).trace(*_split((args, kwargs)))


def filter_jit(fun: Callable) -> Callable:
    """``jit`` of a module-level ``fun`` whose arguments are any pytrees: their
    arrays (JAX or NumPy) are traced arguments, every other leaf is static,
    compared by equality (by identity if unhashable). Top-level calls get the
    package's compiler options (:func:`compiler_options`). The
    result also has ``lower`` and ``trace``, as ``jax.jit``'s does.

    Unlike ``jax.jit``, a Python number is static here: pass counters that
    change between calls as arrays.

    Example:
        >>> import jax.numpy as jnp
        >>> @filter_jit
        ... def apply(fn, x):
        ...     return fn(x)
        >>> apply(Deferred(lambda s: lambda x: s * x, jnp.array(2.0)), jnp.ones(2)).tolist()
        [2.0, 2.0]
    """
    return _Filtered(fun)
