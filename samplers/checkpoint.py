"""Checkpoints of a run of chains: the whole sampler state, to resume a run exactly.

A checkpoint is one ``.npz`` file, NumPy's zip of ``.npy`` arrays, read back with
``allow_pickle=False`` (so loading one runs no code):

- ``state_<i>``: the leaves of the chains' states after ``num_draws_done`` draws
  (positions, inner particles, adaptation), typed PRNG keys as their key data;
- ``record_<i>``: the records of every draw so far, ``(chains, draws, ...)``;
- ``meta``: a JSON text: the number of draws done and a description of the run
  (the caller's settings, the key, the number of chains, ``thin``, the state's and
  the records' tree structure, shapes and dtypes, the package and JAX versions).

It is written to ``<path>.partial`` and then renamed over ``<path>``
(``os.replace``, atomic), so a run killed while writing leaves the previous
checkpoint whole. Zip's CRC-32 of every member catches corrupt bytes on loading.

Resuming compares the new run's description with the stored one and names every
difference: the draws of a run depend only on its key and settings, never on its
length (``samplers.run``), so the same description means the resumed run
continues to the draws of an uninterrupted one, and a longer one extends it.
"""

import hashlib
import importlib.metadata
import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from samplers._checks import count

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "check_arguments",
    "check_compatible",
    "describe_run",
    "describe_settings",
    "load",
    "restore_states",
    "save",
]

_FORMAT = "two-stage-posterior checkpoint"
# Raise when the layout of the file changes; older files are then refused.
_FORMAT_VERSION = 1
# A float64 leaf that comes back float32 means x64 is off in one of the runs.
_FLOATS = {"float32", "float64"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that belongs to a different run."""


class Checkpoint(NamedTuple):
    """A loaded checkpoint (see the module docstring for the file).

    Attributes:
        path: where it was read from.
        states: the state leaves in tree order, NumPy arrays (typed keys as
            their key data; :func:`restore_states` rewraps them).
        records: the record leaves in tree order, each ``(chains, draws, ...)``.
        num_draws_done: draws (of ``thin`` steps each) the states have made.
        description: the run that wrote it, as :func:`describe_run` gives it.
    """

    path: str
    states: list[np.ndarray]
    records: list[np.ndarray]
    num_draws_done: int
    description: dict[str, Any]


def describe_settings(model, **settings) -> dict[str, Any]:
    """The settings that change a run's draws, as JSON values.

    Arrays (θ₀, the answers, an ``init`` point) enter as their shape, dtype and a
    SHA-256 of their bytes; a callable (a step-size schedule) by its name only.
    """
    described = {
        "model.num_params": int(model.num_params),
        "model.num_answers": int(model.num_answers),
        "model.lam": float(model.lam),
        "model.sigma1": float(model.sigma1),
        "model.sigma2": float(model.sigma2),
        "model.theta0": model.theta0,
        "model.answers": model.answers,
    }
    described.update(settings)
    return {name: _json(value) for name, value in described.items()}


def describe_run(states, record_shapes, *, key, thin: int, settings=None) -> dict:
    """Everything a resumed run must share with the one that wrote a checkpoint.

    Args:
        states: the chains' states (a pytree with a leading chain axis).
        record_shapes: the records of one draw ``(chains, 1, ...)``, arrays or
            ``jax.ShapeDtypeStruct``.
        key: the run's key.
        thin: steps per draw.
        settings: the caller's :func:`describe_settings`.
    """
    return {
        "versions": versions(),
        "settings": dict(settings or {}),
        "run": {
            "key": _json(key),
            "num_chains": int(jax.tree.leaves(states)[0].shape[0]),
            "thin": int(thin),
        },
        "states": _layout(states, per_draw=False),
        "records": _layout(record_shapes, per_draw=True),
    }


def check_arguments(checkpoint, checkpoint_every, resume, settings):
    """Check ``sample``'s checkpoint arguments before anything is compiled.

    Returns:
        ``(checkpoint_every, resumed)``: the count (or ``None``) and the loaded
        :class:`Checkpoint` of ``resume`` (or ``None``), whose versions and
        settings match ``settings``.
    """
    if checkpoint is not None:
        checkpoint = _path(checkpoint, "checkpoint")
        folder = os.path.dirname(os.path.abspath(checkpoint))
        if os.path.isdir(checkpoint):
            raise ValueError(f"`checkpoint`={checkpoint!r} is a folder, not a file.")
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"The folder of `checkpoint`={checkpoint!r} does not exist."
            )
        if jax.process_count() > 1:
            raise NotImplementedError(
                "Checkpoints gather every chain on one host; multi-host runs "
                "(jax.process_count() > 1) cannot write them."
            )
    if checkpoint_every is not None:
        if checkpoint is None:
            raise ValueError("`checkpoint_every` needs a `checkpoint` path.")
        checkpoint_every = count(checkpoint_every, "checkpoint_every")
    resumed = None
    if resume is not None:
        resumed = load(_path(resume, "resume"))
        stored = resumed.description
        now = {"versions": versions(), "settings": settings}
        _raise_differences(resumed.path, _differences(stored, now))
    return checkpoint_every, resumed


def save(path, states, records, *, num_draws_done: int, description: dict) -> None:
    """Write a checkpoint atomically: to ``<path>.partial``, then renamed.

    Args:
        path: the checkpoint file.
        states: the chains' states after ``num_draws_done`` draws.
        records: the records of those draws, leaves ``(chains, num_draws_done, ...)``.
        num_draws_done: see above.
        description: :func:`describe_run`.
    """
    path = os.fspath(path)
    arrays = {}
    for i, leaf in enumerate(jax.tree.leaves(states)):
        arrays[f"state_{i}"] = np.asarray(jr.key_data(leaf) if _is_key(leaf) else leaf)
    for i, leaf in enumerate(jax.tree.leaves(records)):
        arrays[f"record_{i}"] = np.asarray(leaf)
    meta = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "num_draws_done": int(num_draws_done),
        "description": description,
    }
    arrays["meta"] = np.asarray(json.dumps(meta))
    partial = path + ".partial"
    try:
        with open(partial, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        # A failed write leaves the previous checkpoint, not a stray partial one.
        if os.path.exists(partial):
            os.remove(partial)
        raise
    _sync_folder(path)


def load(path) -> Checkpoint:
    """Read a checkpoint; a truncated, corrupt or foreign file raises
    :class:`CheckpointError` naming the path."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint file at {path!r}.")
    try:
        # Our own handle: NumPy leaves its own open when the zip is unreadable.
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError) as error:
        # BadZipFile: truncated (no central directory) or a bad CRC-32;
        # ValueError: not an npz at all (NumPy then refuses to unpickle).
        raise CheckpointError(
            f"{path!r} is not a readable checkpoint: it is truncated, corrupt or "
            f"not a checkpoint ({type(error).__name__}: {error})."
        ) from error
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise CheckpointError(f"{path!r} is not a two-stage-posterior checkpoint.")
    if meta.get("format_version") != _FORMAT_VERSION:
        raise CheckpointError(
            f"{path!r} has checkpoint format {meta.get('format_version')}; this "
            f"version of the package reads format {_FORMAT_VERSION} only."
        )
    description = meta["description"]
    num_draws_done = int(meta["num_draws_done"])
    states = _leaves(arrays, "state", description["states"], path, None)
    records = _leaves(arrays, "record", description["records"], path, num_draws_done)
    return Checkpoint(path, states, records, num_draws_done, description)


def check_compatible(checkpoint: Checkpoint, description: dict) -> None:
    """Raise :class:`CheckpointError` naming every way the run that wrote
    ``checkpoint`` differs from the run ``description`` describes."""
    _raise_differences(
        checkpoint.path, _differences(checkpoint.description, description)
    )


def restore_states(checkpoint: Checkpoint, like):
    """The stored states as a pytree of JAX arrays shaped like ``like``."""
    layout = checkpoint.description["states"]["leaves"]
    leaves = []
    for array, (_, _, dtype, impl) in zip(checkpoint.states, layout, strict=True):
        if impl is not None:
            leaves.append(jr.wrap_key_data(jnp.asarray(array), impl=impl))
        else:
            leaves.append(jnp.asarray(array, dtype=dtype))
    return jax.tree.unflatten(jax.tree.structure(like), leaves)


def _differences(stored: Mapping, now: Mapping) -> list[str]:
    """Readable differences, section by section, of two run descriptions."""
    out = []
    for name, value in now.get("versions", {}).items():
        before = stored.get("versions", {}).get(name)
        if before != value:
            out.append(f"{name} version {before} in the checkpoint, {value} now")
    for section in ("settings", "run"):
        if section not in now:
            continue
        before, after = stored.get(section, {}), now[section]
        for name in sorted(set(before) | set(after)):
            if name not in after:
                out.append(f"`{name}` set in the checkpoint only")
            elif name not in before:
                out.append(f"`{name}` not in the checkpoint")
            elif before[name] != after[name]:
                out.append(
                    f"`{name}` is {_show(before[name])} in the checkpoint, "
                    f"{_show(after[name])} now"
                )
    for section in ("states", "records"):
        if section not in now:
            continue
        before, after = stored[section], now[section]
        if before["structure"] != after["structure"]:
            out.append(
                f"the {section}' tree structure differs: {before['structure']} in "
                f"the checkpoint, {after['structure']} now"
            )
            continue
        for old, new in zip(before["leaves"], after["leaves"], strict=True):
            if old[1:3] != new[1:3]:
                out.append(
                    f"{section} leaf {new[0]} has shape {tuple(old[1])} {old[2]} in "
                    f"the checkpoint, {tuple(new[1])} {new[2]} now"
                    + (" (jax_enable_x64?)" if {old[2], new[2]} == _FLOATS else "")
                )
    return out


def _raise_differences(path, differences):
    if differences:
        raise CheckpointError(
            f"Cannot resume from {path!r}: it was written by a different run: "
            + "; ".join(differences)
            + ". Resume with the settings of the run that wrote it; only its "
            "length (`num_samples`) may change."
        )


def _layout(tree, *, per_draw: bool) -> dict:
    """Tree structure and ``[path, shape, dtype, key impl]`` of every leaf."""
    paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves = []
    for path, leaf in paths_leaves:
        shape = list(leaf.shape)
        if per_draw:
            # Records are (chains, draws, ...); the draw count is not layout.
            shape = shape[:1] + shape[2:]
        key = _is_key(leaf)
        dtype = "key" if key else str(np.dtype(leaf.dtype))
        impl = str(jr.key_impl(leaf)) if key else None
        leaves.append([jax.tree_util.keystr(path), shape, dtype, impl])
    return {"structure": str(treedef), "leaves": leaves}


def _leaves(arrays, prefix, layout, path, num_draws):
    """The stored leaves, each checked against the file's own description."""
    out = []
    for i, (name, shape, dtype, impl) in enumerate(layout["leaves"]):
        array = arrays.get(f"{prefix}_{i}")
        expected = list(shape)
        if num_draws is not None:
            expected = expected[:1] + [num_draws] + expected[1:]
        if impl is not None:
            expected = None  # key data has the implementation's trailing shape
        elif array is not None and str(array.dtype) != dtype:
            array = None
        if array is None or (expected is not None and list(array.shape) != expected):
            raise CheckpointError(
                f"{path!r} is corrupt: its {prefix} leaf {name} is missing or does "
                "not match the file's own description."
            )
        out.append(array)
    return out


def _is_key(leaf) -> bool:
    return jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _json(value):
    """A JSON value standing for ``value``, equal for equal settings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.integer | np.floating | np.bool_):
        return value.item()
    if isinstance(value, Mapping):
        return {str(name): _json(item) for name, item in value.items()}
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if _is_key(value):
            data = np.asarray(jr.key_data(value)).tolist()
            return {"impl": str(jr.key_impl(value)), "data": data}
        array = np.ascontiguousarray(np.asarray(value))
        digest = hashlib.sha256(array.tobytes()).hexdigest()[:16]
        return f"array{array.shape} {array.dtype} sha256:{digest}"
    if callable(value):
        name = getattr(value, "__qualname__", type(value).__qualname__)
        return f"callable {getattr(value, '__module__', '?')}.{name}"
    return repr(value)


def _show(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def versions() -> dict[str, str]:
    try:
        package = importlib.metadata.version("two-stage-posterior")
    except importlib.metadata.PackageNotFoundError:
        package = "unknown"
    return {"two-stage-posterior": package, "jax": jax.__version__}


def _path(value, name: str) -> str:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"`{name}` must be a file path, got {type(value).__name__}.")
    return os.fspath(value)


def _sync_folder(path: str) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be
    opened)."""
    try:
        descriptor = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
