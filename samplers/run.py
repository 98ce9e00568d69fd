"""Run many chains of any (init, step) sampler: vmap, sharding, thinning, progress.

Chain ``c`` at step ``t`` uses the key ``fold_in(split(key, num_chains)[c], t)``, so
the draws depend only on the key, never on how the chains are laid out over
devices, on how the run is cut into chunks for the progress bar, or on the run's
length: a run of n draws is the first n draws of every longer one. That is what
lets a run stop at a checkpoint and resume, or be extended, exactly
(:mod:`samplers.checkpoint`).
"""

import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array
from jax.sharding import NamedSharding, PartitionSpec

from samplers import checkpoint as checkpoints
from samplers import chunks
from samplers.programs import filter_jit

__all__ = ["RunTiming", "chain_sharding", "run_chains"]

StepFn = Callable[[Array, Any, Array], tuple[Any, Any]]
RecordFn = Callable[[Array, Any, Any, Array], dict[str, Array]]

# The last fold_in index of a chain's key is its record stream; steps use the
# indices below it, so no step shares a key with a record.
_RECORD_STREAM = 2**32 - 1


class RunTiming(NamedTuple):
    """Where the wall time of a `run_chains` call went.

    Attributes:
        compile_seconds: compiling the program that advances the chains.
        chunk_draws: ``(first_draw, num_draws)`` of each call of that program.
        chunk_seconds: the wall time of each call, to its results being ready.
    """

    compile_seconds: float
    chunk_draws: tuple[tuple[int, int], ...]
    chunk_seconds: tuple[float, ...]

    def seconds_between(self, start: int, stop: int) -> float:
        """The time of draws ``start`` to ``stop``, each chunk shared among its
        draws evenly (a chunk that straddles ``start`` is apportioned)."""
        total = 0.0
        for (first, count), seconds in zip(
            self.chunk_draws, self.chunk_seconds, strict=True
        ):
            inside = max(0, min(first + count, stop) - max(first, start))
            total += seconds * inside / count
        return total


def chain_sharding(num_chains: int) -> NamedSharding | None:
    """A sharding of the leading (chain) axis over as many devices as divide it.

    Returns ``None`` on one device. Multi-host runs call
    ``jax.distributed.initialize()`` first; ``jax.devices()`` then lists every
    host's devices and the same code shards over all of them.
    """
    num_devices = jax.device_count()
    usable = max(n for n in range(1, num_devices + 1) if num_chains % n == 0)
    if usable == 1:
        return None
    # Auto axes: the compiler propagates the chain sharding through the kernels,
    # which were written for one chain and know nothing of meshes.
    mesh = jax.make_mesh(
        (usable,),
        ("chains",),
        axis_types=(jax.sharding.AxisType.Auto,),
        devices=jax.devices()[:usable],
    )
    return NamedSharding(mesh, PartitionSpec("chains"))


def run_chains(
    step_fn: StepFn,
    states: Any,
    *,
    key: Array,
    num_steps: int,
    record_fn: RecordFn,
    thin: int = 1,
    progress: bool = True,
    num_chunks: int = 20,
    description: str = "sampling",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: str | os.PathLike | checkpoints.Checkpoint | None = None,
    settings: dict | None = None,
    max_chunk_draws: int | None = None,
    stop_when: Callable[[dict[str, Array], int], bool] | None = None,
    num_warmup_draws: int = 0,
    phases: tuple[str, str] = ("warm-up", "sampling"),
) -> tuple[Any, dict[str, Array], RunTiming]:
    """Advance every chain ``num_steps`` steps, recording every ``thin``-th one.

    Args:
        step_fn: ``step(key, state, step_index) -> (state, info)`` for ONE chain.
        states: initial states, a pytree with a leading chain axis.
        key: the run's key.
        num_steps: steps per chain (a multiple of ``thin``).
        record_fn: ``(key, state, info, draw) -> dict`` of the curated arrays to
            keep; it runs inside the scan, so only what it returns is ever
            stored. ``draw`` is the same for every chain, so a ``lax.cond`` on it
            stays a branch under ``vmap``. Its key, ``fold_in(fold_in(chain_key,
            2**32 - 1), draw)``, is one no step uses and does not depend on
            ``num_steps``.
        thin: keep one step in ``thin``.
        progress: show a tqdm bar, advanced once per chunk, that names its
            phase (compiling, warm-up, sampling) and stays on screen.
        num_chunks: how many calls of one compiled program the run is cut into,
            for the bar (1 without a bar).
        description: the bar's label.
        checkpoint: a file to write the states and the records so far to
            (:mod:`samplers.checkpoint`), every ``checkpoint_every`` draws and
            at the end.
        checkpoint_every: draws (of ``thin`` steps) between checkpoints; default
            about a twentieth of the run. A checkpoint is written after the first
            chunk that reaches each multiple, so chunks are made no longer.
        resume: a checkpoint (path or :class:`~samplers.checkpoint.Checkpoint`)
            of this run: the chains continue from its states and draws, to the
            draws an uninterrupted run gives. One of fewer draws than
            ``num_steps // thin`` is extended; one of more is cut.
        settings: what else changes the draws (``samplers.checkpoint.
            describe_settings``), stored in checkpoints and checked on resuming.
        max_chunk_draws: draws per call of the program at most, so that
            ``stop_when`` is asked often enough.
        stop_when: ``(chunk, first_draw) -> bool``, asked after each call with
            that call's records (arrays, ``(chains, draws, ...)``) and its
            first draw: ``True`` ends the run there, and fewer than
            ``num_steps // thin`` draws come back.
        num_warmup_draws: the first draws that are warm-up, for the bar's phase.
        phases: the bar's names of the warm-up and of the draws after it.

    Returns:
        The states after the last call (which may have run up to one chunk past
        ``num_steps``), the records, each of shape ``(chains, draws, ...)``, and
        a :class:`RunTiming`.
    """
    _check_steps(num_steps, thin)
    # Weakly typed leaves (from Python scalars) come back strongly typed after a
    # step; fixing the types first keeps every chunk on one compiled program.
    states = jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype=leaf.dtype), states)
    num_chains = jax.tree.leaves(states)[0].shape[0]
    chain_keys = jr.split(key, num_chains)
    sharding = chain_sharding(num_chains)
    num_draws = num_steps // thin

    advance = _Advance(step_fn, record_fn, thin)

    if resume is not None and not isinstance(resume, checkpoints.Checkpoint):
        resume = checkpoints.load(resume)
    num_done = 0 if resume is None else resume.num_draws_done
    if checkpoint is not None and checkpoint_every is None:
        checkpoint_every = chunks.chunk_size(num_draws, 20)
    draws_per_chunk = chunks.draws_per_chunk(
        num_draws - num_done,
        num_chunks if progress else 1,
        checkpoint_every if checkpoint is not None else None,
        max_chunk_draws,
        warmup_left=num_warmup_draws - num_done,
    )
    if sharding is not None:
        states, chain_keys = jax.device_put((states, chain_keys), sharding)

    # Records so far: the resumed ones (host arrays), then one part per chunk.
    records, run = [], None
    if checkpoint is not None or resume is not None:
        # The records' layout from a trace of the first call (no compiling),
        # which that call then reuses.
        traced = advance.trace(chain_keys, states, num_done, draws_per_chunk)
        run = checkpoints.describe_run(
            states, traced.out_info[1], key=key, thin=thin, settings=settings
        )
    if resume is not None:
        states = _restore(resume, run, states, sharding)
        records.append(
            jax.tree.unflatten(jax.tree.structure(traced.out_info[1]), resume.records)
        )

    states, records, timing = _advance_in_chunks(
        advance,
        chain_keys,
        states,
        records,
        num_done=num_done,
        num_draws=num_draws,
        draws_per_chunk=draws_per_chunk,
        thin=thin,
        progress=progress,
        description=description,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        run=run if checkpoint is not None else None,
        stop_when=stop_when,
        num_warmup_draws=num_warmup_draws,
        phases=phases,
    )
    stacked = jax.tree.map(
        lambda *parts: jnp.concatenate(parts, axis=1)[:, :num_draws], *records
    )
    return states, stacked, timing


def _check_steps(num_steps, thin):
    if num_steps % thin:
        raise ValueError(f"`num_steps`={num_steps} is not a multiple of `thin`={thin}.")
    if num_steps >= _RECORD_STREAM:
        # The records' key stream (see `record_fn`) would meet a step's.
        raise ValueError(f"`num_steps` must be below 2**32 - 1, got {num_steps}.")


def _restore(resume, run, states, sharding):
    """The states of a checkpoint of this ``run`` (refused when it is of another)."""
    checkpoints.check_compatible(resume, run)
    states = checkpoints.restore_states(resume, states)
    if sharding is not None:
        states = jax.device_put(states, sharding)
    return states


def _advance_in_chunks(
    advance,
    chain_keys,
    states,
    records,
    *,
    num_done,
    num_draws,
    draws_per_chunk,
    thin,
    progress,
    description,
    checkpoint,
    checkpoint_every,
    run,
    stop_when,
    num_warmup_draws=0,
    phases=("warm-up", "sampling"),
):
    """Calls of ``advance`` from draw ``num_done`` on, ``draws_per_chunk`` at a
    time, until ``num_draws``: the states, the records' parts (appended to
    ``records``) and a :class:`RunTiming`."""
    # Equal chunks keep to one compiled program; the last one may run past
    # num_draws, and its extra draws are dropped (they come after every kept one,
    # so the kept draws do not change).
    bar = None
    if progress:
        start = min(num_done, num_draws) * thin
        bar = _progress_bar(num_draws * thin, start, f"{description}: compiling")

    def phase(num_done):
        if bar is not None:
            name = phases[0] if num_done < num_warmup_draws else phases[1]
            bar.set_description(f"{description}: {name}")

    # Compiled ahead, so that its time is told apart from the chains' (the calls
    # below reuse this program).
    started = time.perf_counter()
    if num_done < num_draws:
        advance.lower(chain_keys, states, num_done, draws_per_chunk).compile()
    compile_seconds = time.perf_counter() - started
    phase(num_done)
    if bar is not None:
        bar.set_postfix_str(f"compiled in {compile_seconds:.1f} s")
    chunk_draws, chunk_seconds = [], []
    # Host copies of the records for the checkpoints: each part is copied once.
    on_host, num_copied = None, 0
    while num_done < num_draws:
        started = time.perf_counter()
        states, chunk = advance(chain_keys, states, num_done, draws_per_chunk)
        jax.block_until_ready(chunk)
        chunk_seconds.append(time.perf_counter() - started)
        chunk_draws.append((num_done, draws_per_chunk))
        records.append(chunk)
        previous, num_done = num_done, num_done + draws_per_chunk
        if bar is not None:
            bar.update((min(num_done, num_draws) - previous) * thin)
            phase(num_done)
        if checkpoint is not None and (
            num_done // checkpoint_every > previous // checkpoint_every
            or num_done >= num_draws
        ):
            on_host = _concatenate([on_host, *jax.device_get(records[num_copied:])])
            num_copied = len(records)
            checkpoints.save(
                checkpoint,
                states,
                on_host,
                num_draws_done=num_done,
                description=run,
            )
        if stop_when is not None and stop_when(chunk, previous):
            break
    if bar is not None:
        bar.close()
    timing = RunTiming(compile_seconds, tuple(chunk_draws), tuple(chunk_seconds))
    return states, records, timing


class _Advance:
    """``advance(chain_keys, states, first_draw, count) -> (states, records)``:
    ``count`` draws of every chain, each of ``thin`` steps, as one program.

    The program is a module-level function of ``step_fn`` and ``record_fn``:
    where they are pytrees (:class:`~samplers.programs.Deferred` values of a
    model), a later run of another model of the same shapes finds it compiled."""

    def __init__(self, step_fn, record_fn, thin):
        self.parts = (step_fn, record_fn, thin)

    def _arguments(self, chain_keys, states, first_draw, count):
        # The first draw as an array: a Python number would be static.
        return (*self.parts, chain_keys, states, jnp.asarray(first_draw), count)

    def __call__(self, *arguments):
        return _advance(*self._arguments(*arguments))

    def lower(self, *arguments):
        return _advance.lower(*self._arguments(*arguments))

    def trace(self, *arguments):
        return _advance.trace(*self._arguments(*arguments))


@filter_jit
def _advance(step_fn, record_fn, thin, chain_keys, states, first_draw, count):
    def one_chain(chain_key, state):
        record_keys = jr.fold_in(chain_key, _RECORD_STREAM)

        def one_draw(state, draw):
            def one_step(i, state):
                index = draw * thin + i
                return step_fn(jr.fold_in(chain_key, index), state, index)[0]

            # The step is traced and compiled once where thin is 1 (a loop of
            # no steps is traced all the same): the steps before the last carry
            # no info, and the last one's info is the draw's.
            if thin > 1:
                state = jax.lax.fori_loop(0, thin - 1, one_step, state)
            last = draw * thin + thin - 1
            state, info = step_fn(jr.fold_in(chain_key, last), state, last)
            record_key = jr.fold_in(record_keys, draw)
            return state, record_fn(record_key, state, info, draw)

        return jax.lax.scan(one_draw, state, first_draw + jnp.arange(count))

    return jax.vmap(one_chain)(chain_keys, states)


def _concatenate(parts):
    """One host pytree of the parts' draws (axis 1); ``None`` parts are skipped."""
    parts = [part for part in parts if part is not None]
    return jax.tree.map(lambda *leaves: np.concatenate(leaves, axis=1), *parts)


def _progress_bar(total: int, initial: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="step", leave=True)
