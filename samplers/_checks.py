"""Argument checks shared by the samplers' entry points (run before tracing)."""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from samplers.programs import filter_jit

__all__ = [
    "batch_size",
    "count",
    "end_samples",
    "flat_vector",
    "initial_positions",
    "model_dtype",
    "non_negative",
    "param_indices",
    "positive",
    "predict_inputs",
    "scalar_function",
    "schedule",
    "step_size",
    "step_sizes",
    "typed_key",
]


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
    # float() would take True as 1.0 and "0.5" as 0.5: neither is a number here.
    if isinstance(value, bool | np.bool_ | str | bytes):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"`{name}` must be finite and positive, got {number}.")
    return number


def batch_size(batch_size, model) -> int:
    """Answers per minibatch: all of them by default, never more."""
    if batch_size is None:
        return int(model.num_answers)
    batch_size = count(batch_size, "batch_size")
    if batch_size > model.num_answers:
        raise ValueError(
            f"`batch_size`={batch_size} exceeds the {model.num_answers} answers."
        )
    return batch_size


def takes_agreement_batches(model) -> bool:
    """Whether ``model.disagreement`` takes ``batch=`` (indices into
    ``model.num_agreement`` agreement inputs), as ``TwoStageModel``'s does."""
    try:
        parameters = inspect.signature(model.disagreement).parameters
    except (TypeError, ValueError):
        return False
    return "batch" in parameters and hasattr(model, "num_agreement")


def agreement_batch_size(size, model) -> int | None:
    """Agreement inputs per minibatch of C (``None``: all): a count, for a model
    that takes them, never more than it has."""
    if size is None:
        return None
    size = count(size, "agreement_batch_size")
    if not takes_agreement_batches(model):
        raise TypeError(
            "`agreement_batch_size` needs a model whose `disagreement` takes "
            "`batch=` (indices into its `num_agreement` agreement inputs), as "
            "posterior.TwoStageModel's does."
        )
    if size > model.num_agreement:
        raise ValueError(
            f"`agreement_batch_size`={size} exceeds the {model.num_agreement} "
            "agreement inputs."
        )
    return size


def model_dtype(theta0) -> None:
    """The parameters in JAX's default float type, which blackjax's kernels use
    for step sizes and adaptation: a float32 network under x64 would otherwise
    fail deep inside them on mixed float32/float64 branches."""
    default = jnp.result_type(float)
    if theta0.dtype != default:
        raise TypeError(
            f"`model`'s parameters are {theta0.dtype} but JAX's default float is "
            f"{default} (jax_enable_x64={jax.config.jax_enable_x64}); the samplers "
            "need them to match. Cast the network, e.g. `jax.tree.map(lambda l: "
            f"l.astype(jnp.{default}) if eqx.is_inexact_array(l) else l, net)`, "
            "or set jax_enable_x64 to match it."
        )


def non_negative(value, name: str) -> float:
    """A finite real number >= 0."""
    if isinstance(value, bool | str) or not isinstance(value, int | float | np.number):
        raise TypeError(f"`{name}` must be a real number, got {value!r}.")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"`{name}` must be finite and at least 0, got {value}.")
    return float(value)


def step_size(value, num_steps: int) -> None:
    """A finite positive float, or a schedule that is one at its first and
    last step (where a schedule usually takes its extremes)."""
    if callable(value):
        for index in (0, num_steps - 1):
            try:
                size = float(value(index))
            except Exception as error:
                raise TypeError(
                    f"`step_size` schedule failed at step {index}: {error}"
                ) from error
            if not (math.isfinite(size) and size > 0):
                raise ValueError(
                    f"`step_size` schedule gives {size} at step {index}; it must "
                    "be finite and positive."
                )
        return
    positive(value, "step_size")


def predict_inputs(inputs, model, name: str = "predict_inputs") -> None:
    """Inputs the intended head can take: a batch of the network's inputs."""
    if inputs is None:
        return
    leaves = jax.tree.leaves(inputs)
    if not leaves or any(np.ndim(leaf) == 0 for leaf in leaves):
        raise ValueError(f"`{name}` must be a batch of inputs (leading axis).")
    if any(
        jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact)
        and not bool(jnp.all(jnp.isfinite(jnp.asarray(leaf))))
        for leaf in leaves
    ):
        raise ValueError(f"`{name}` has NaN or infinite entries.")
    try:
        jax.eval_shape(model.intended, model.theta0, inputs)
    except Exception as error:
        raise ValueError(f"`{name}` do not fit the network: {error}") from error


def typed_key(key) -> Array:
    """A single typed PRNG key."""
    if not (isinstance(key, Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        got = getattr(key, "dtype", type(key).__name__)
        raise TypeError(
            f"`key` must be a typed PRNG key, jax.random.key(seed), got {got} (a "
            "raw jax.random.PRNGKey is a uint32 array)."
        )
    if key.shape != ():
        raise ValueError(f"`key` must be a single key, got shape {key.shape}.")
    return key


def param_indices(param_indices, num_params: int, max_full_params: int) -> np.ndarray:
    """The coordinates of θ to store."""
    if param_indices is None:
        return np.arange(min(num_params, max_full_params))
    indices = np.asarray(param_indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError("`param_indices` must be a 1-D array of integers.")
    if indices.size == 0 or indices.min() < 0 or indices.max() >= num_params:
        raise ValueError(
            f"`param_indices` must be non-empty and within 0..{num_params - 1}."
        )
    return indices


def initial_positions(init, theta0, num_chains: int) -> tuple[Array, Array]:
    """``(num_chains, d)`` starting θ₁ and θ₂ from ``sample``'s ``init``.

    ``None`` starts at θ₀. A result of ``find_map`` (anything with ``theta1`` and
    ``theta2``) or a pair gives the point; a ``(d,)`` point serves every chain.
    """
    if init is None:
        start = (theta0, theta0)
    elif hasattr(init, "theta1") and hasattr(init, "theta2"):
        start = (init.theta1, init.theta2)
    elif isinstance(init, tuple | list) and len(init) == 2:
        start = tuple(init)
    else:
        raise TypeError(
            "`init` must be None, a MAPResult (from find_map) or a pair "
            f"(theta1, theta2); got {type(init).__name__}."
        )
    dim = theta0.shape[0]
    out = []
    for name, value in zip(("theta1", "theta2"), start, strict=True):
        value = jnp.asarray(value)
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(
                f"`init`'s {name} must be floating point, got {value.dtype}."
            )
        if value.shape not in ((dim,), (num_chains, dim)):
            raise ValueError(
                f"`init`'s {name} must have shape ({dim},) or ({num_chains}, {dim}) "
                f"for {num_chains} chains, got {value.shape}."
            )
        if not bool(jnp.all(jnp.isfinite(value))):
            raise ValueError(f"`init`'s {name} has NaN or infinite entries.")
        value = value.astype(theta0.dtype)
        out.append(jnp.broadcast_to(value, (num_chains, dim)))
    return out[0], out[1]


def flat_vector(value, name: str) -> Array:
    """A flat ``(d,)`` floating-point vector, finite where concrete (a tracer's
    shape and dtype are checked, its values are not)."""
    if not hasattr(value, "ndim"):
        value = np.asarray(value)
    if value.ndim != 1 or value.shape[0] < 1:
        raise ValueError(
            f"`{name}` must be a flat vector of shape (d,), got shape {value.shape}."
        )
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(f"`{name}` must have a floating dtype, got {value.dtype}.")
    if not isinstance(value, jax.core.Tracer) and not np.all(
        np.isfinite(np.asarray(value))
    ):
        raise ValueError(f"`{name}` has NaN or infinite entries.")
    return jnp.asarray(value)


@filter_jit
def _output(fn, theta):
    return fn(theta)


def scalar_function(fn, theta, name: str) -> None:
    """``fn`` maps one vector shaped like ``theta`` to a real scalar.

    Found by tracing it once for shapes (nothing runs or compiles): a vector
    would otherwise fail deep inside a compiled sampler, or be summed without a
    word.
    """
    if not callable(fn):
        raise TypeError(f"`{name}` must be callable theta -> scalar, got {fn!r}.")
    try:
        # Traced as a program of its own: a pytree `fn` (a model's method in
        # `samplers.log_partition.potential`) is then traced once per shape.
        out = _output.trace(fn, jnp.zeros(theta.shape, theta.dtype)).out_info
    except Exception as error:
        raise ValueError(
            f"`{name}` fails on a vector of shape {theta.shape} ({theta.dtype}): "
            f"{error}"
        ) from error
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    if shape != () or not jnp.issubdtype(dtype, jnp.floating):
        got = type(out).__name__ if shape is None else f"shape {shape}, dtype {dtype}"
        raise ValueError(
            f"`{name}` must return a real scalar for one vector theta of shape "
            f"{theta.shape}, got {got}."
        )


def schedule(schedule):
    """A fixed AIS schedule: strictly increasing in (0, 1], ending at 1 (or None)."""
    if schedule is None:
        return None
    array = np.asarray(schedule, dtype=float)
    if array.ndim != 1 or array.size < 1:
        raise ValueError("`schedule` must be a 1-D array of inverse temperatures.")
    if not (np.all(np.diff(array) > 0) and array[0] > 0 and array[-1] == 1.0):
        raise ValueError(
            "`schedule` must increase strictly within (0, 1] and end at 1 "
            f"(0 is implicit), got {array}."
        )
    return array


def step_sizes(step_sizes, schedule):
    """One finite positive step size per temperature of a fixed schedule (or None)."""
    if step_sizes is None:
        return None
    if schedule is None:
        raise ValueError(
            "`step_sizes` applies only with a fixed `schedule` (one per temperature)."
        )
    array = np.asarray(step_sizes, dtype=float)
    if array.shape != schedule.shape:
        raise ValueError(
            f"`step_sizes` must have the shape of `schedule`, {schedule.shape}, "
            f"got {array.shape}."
        )
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"`step_sizes` must be finite and positive, got {array}.")
    return array


def end_samples(end_samples, dim: int) -> None:
    """Exact draws for reverse AIS: a finite `(n, dim)` float array."""
    shape = jnp.shape(end_samples)
    if len(shape) != 2 or shape[1] != dim or shape[0] < 1:
        raise ValueError(f"`end_samples` must have shape (n, {dim}), got {shape}.")
    dtype = jnp.result_type(end_samples)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"`end_samples` must have a floating dtype, got {dtype}.")
    if isinstance(end_samples, jax.core.Tracer):
        return
    finite = np.isfinite(np.asarray(end_samples))
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            f"`end_samples` has NaN or infinite entries in {rows.size} of its "
            f"{shape[0]} rows (first: {rows[:5].tolist()}); reverse AIS needs "
            "exact, finite samples of p(theta' | theta1)."
        )
