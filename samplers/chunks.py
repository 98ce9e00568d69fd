"""How a run is cut into calls of its compiled program (`samplers.run`).

Every call advances the chains by the same number of draws, so that one
compiled program serves them all; the last call may run past the end, and its
extra draws are dropped.
"""

__all__ = ["chunk_size", "chunk_size_at_most", "draws_per_chunk", "ending_at"]


def draws_per_chunk(
    num_left, num_chunks, checkpoint_every, max_chunk_draws, warmup_left=0
):
    """Draws per call of the compiled program: the run cut into ``num_chunks``,
    no longer than the checkpoints' spacing nor ``max_chunk_draws``, with a call
    ending where warm-up ends when few calls do that (:func:`ending_at`)."""
    size = chunk_size(max(num_left, 1), num_chunks)
    if checkpoint_every is not None:
        size = min(size, checkpoint_every)
    if max_chunk_draws is not None and size > max_chunk_draws:
        size = chunk_size_at_most(num_left, max_chunk_draws)
    if 0 < warmup_left < num_left:
        size = ending_at(warmup_left, num_left, size)
    return size


def ending_at(boundary, num_draws, size):
    """A chunk size of at most ``size`` whose calls end at ``boundary``, so that a
    warm-up step, which can cost several draws' time (an adaptation's probes),
    is timed as warm-up and not spread over the draws that share its call.
    The largest divisor of ``boundary`` that keeps the run to at most 20 calls
    (as a progress bar cuts it) or four times ``size``'s, and runs no further
    past ``num_draws`` than ``size`` does (or a twentieth of the run); ``size``
    itself if none does."""
    waste = -num_draws % size
    smallest = min(-(-size // 4), -(-num_draws // 20))
    for candidate in range(min(size, boundary), smallest - 1, -1):
        if boundary % candidate == 0 and -num_draws % candidate <= max(
            waste, num_draws // 20
        ):
            return candidate
    return size


def chunk_size(num_draws: int, num_chunks: int) -> int:
    """About ``num_draws / num_chunks``, preferring a divisor of ``num_draws``."""
    size = max(1, -(-num_draws // max(1, num_chunks)))
    for candidate in range(size, min(2 * size, num_draws) + 1):
        if num_draws % candidate == 0:
            return candidate
    return size


def chunk_size_at_most(num_draws: int, limit: int) -> int:
    """At most ``limit``, preferring a divisor of ``num_draws`` above ``limit / 2``
    (no wasted draws past the end)."""
    for candidate in range(limit, limit // 2, -1):
        if num_draws % candidate == 0:
            return candidate
    return limit
