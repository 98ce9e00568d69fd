"""Run many chains of any (init, step) sampler: vmap, sharding, thinning, progress.

Chain ``c`` at step ``t`` uses the key ``fold_in(split(key, num_chains)[c], t)``, so
the draws depend only on the key, never on how the chains are laid out over
devices or on how the run is cut into chunks for the progress bar.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array
from jax.sharding import NamedSharding, PartitionSpec

__all__ = ["chain_sharding", "run_chains"]

StepFn = Callable[[Array, Any, Array], tuple[Any, Any]]
RecordFn = Callable[[Array, Any, Any, Array], dict[str, Array]]


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
) -> tuple[Any, dict[str, Array]]:
    """Advance every chain ``num_steps`` steps, recording every ``thin``-th one.

    Args:
        step_fn: ``step(key, state, step_index) -> (state, info)`` for ONE chain.
        states: initial states, a pytree with a leading chain axis.
        key: the run's key.
        num_steps: steps per chain (a multiple of ``thin``).
        record_fn: ``(key, state, info, draw) -> dict`` of the curated arrays to
            keep; it runs inside the scan, so only what it returns is ever
            stored. ``draw`` is the same for every chain, so a ``lax.cond`` on it
            stays a branch under ``vmap``.
        thin: keep one step in ``thin``.
        progress: show a tqdm bar, advanced once per chunk.
        num_chunks: how many calls of one compiled program the run is cut into,
            for the bar (1 without a bar).
        description: the bar's label.

    Returns:
        The states after the last call (which may have run up to one chunk past
        ``num_steps``) and the records, each of shape ``(chains, draws, ...)``.
    """
    if num_steps % thin:
        raise ValueError(f"`num_steps`={num_steps} is not a multiple of `thin`={thin}.")
    # Weakly typed leaves (from Python scalars) come back strongly typed after a
    # step; fixing the types first keeps every chunk on one compiled program.
    states = jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype=leaf.dtype), states)
    num_chains = jax.tree.leaves(states)[0].shape[0]
    chain_keys = jr.split(key, num_chains)
    sharding = chain_sharding(num_chains)
    if sharding is not None:
        states, chain_keys = jax.device_put((states, chain_keys), sharding)

    num_draws = num_steps // thin
    num_chunks = num_chunks if progress else 1
    draws_per_chunk = _chunk_size(num_draws, num_chunks)

    def one_chain(chain_key, state, first_draw, count):
        def one_draw(state, draw):
            def one_step(i, carry):
                state, _ = carry
                index = draw * thin + i
                return step_fn(jr.fold_in(chain_key, index), state, index)

            state, info = step_fn(
                jr.fold_in(chain_key, draw * thin), state, draw * thin
            )
            state, info = jax.lax.fori_loop(1, thin, one_step, (state, info))
            # A key no step uses: fold_in indices of steps are below num_steps.
            record_key = jr.fold_in(jr.fold_in(chain_key, num_steps), draw)
            return state, record_fn(record_key, state, info, draw)

        return jax.lax.scan(one_draw, state, first_draw + jnp.arange(count))

    @jax.jit(static_argnums=3)
    def advance(chain_keys, states, first_draw, count):
        return jax.vmap(one_chain, in_axes=(0, 0, None, None))(
            chain_keys, states, first_draw, count
        )

    # Equal chunks keep to one compiled program; the last one may run past
    # num_draws, and its extra draws are dropped (they come after every kept one,
    # so the kept draws do not change).
    num_calls = -(-num_draws // draws_per_chunk)
    bar = _progress_bar(num_draws * thin, description) if progress else None
    records = []
    for call in range(num_calls):
        states, chunk = advance(
            chain_keys, states, call * draws_per_chunk, draws_per_chunk
        )
        records.append(chunk)
        if bar is not None:
            jax.block_until_ready(chunk)
            bar.update(min(draws_per_chunk, num_draws - call * draws_per_chunk) * thin)
    if bar is not None:
        bar.close()
    stacked = jax.tree.map(
        lambda *parts: jnp.concatenate(parts, axis=1)[:, :num_draws], *records
    )
    return states, stacked


def _chunk_size(num_draws: int, num_chunks: int) -> int:
    """About ``num_draws / num_chunks``, preferring a divisor of ``num_draws``."""
    size = max(1, -(-num_draws // max(1, num_chunks)))
    for candidate in range(size, min(2 * size, num_draws) + 1):
        if num_draws % candidate == 0:
            return candidate
    return size


def _progress_bar(total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="step", leave=False)
