"""Whether the exact exchange move is affordable, before and during a run.

Its auxiliary draw costs about 1/Z(θ₁) proposals. A pilot at θ₀ chooses the θ₁
move before anything compiles (:func:`choose_theta1_move`); under
``theta1="auto"``, :class:`ExchangeScout` watches the cost in warm-up, where the
chains travel from their start to the posterior, and stops the run when
agreement turns out rarer there; :func:`warn_missed_auxiliaries` reports the
kept draws that missed their cap. :class:`NestedScout` watches the nested-AIS
move's standard error in warm-up the same way, and stops the run when its
budget is too small.
"""

import math
import warnings

import jax.random as jr
import numpy as np

from samplers import rejection
from samplers.health import SamplingWarning, row_means
from samplers.programs import filter_jit

__all__ = [
    "EXCHANGE_BUDGET",
    "ExchangeScout",
    "NestedScout",
    "check_exchange_cost",
    "choose_theta1_move",
    "watch_exchange",
    "watch_nested",
    "warn_missed_auxiliaries",
]

# The exchange move's auxiliary draw costs about 1/Z proposals; it is refused
# (before compiling) when a pilot at θ₀ predicts more than this many.
EXCHANGE_BUDGET = 10**4


@filter_jit
def _pilot(key, potential, theta0, sigma2, num_draws):
    return rejection.pilot_acceptance(key, potential, theta0, sigma2, num_draws)


def check_exchange_cost(key, potential, theta0, sigma2) -> tuple[str | None, int]:
    """A message when agreement is too rare near θ₀ for exact exchange moves,
    and the batch size of the auxiliary draws."""
    # A pilot of twice the budget: fewer than two acceptances means a cost per
    # auxiliary draw above the budget is likely. (No acceptance in a small pilot
    # would only bound Z from above, which proves nothing about the cost.)
    num_pilot = 2 * EXCHANGE_BUDGET
    # In chunks, so that a large network never holds 2·10⁴ parameter vectors.
    chunk = 500
    pilot_key = jr.fold_in(key, 7)
    accepted = sum(
        int(_pilot(jr.fold_in(pilot_key, i), potential, theta0, sigma2, chunk))
        for i in range(num_pilot // chunk)
    )
    # Batches of about twice the expected cost at θ₀ (the posterior usually sits
    # where Z is smaller): fewer rounds of the loop, whose per-round overhead
    # dominates on small models. Any batch size gives the same exact draws.
    expected = num_pilot / max(accepted, 1)
    batch = 2 ** round(math.log2(max(2.0 * expected, 1.0)))
    batch = int(min(max(batch, 64), 1024, max(64, 2**20 // theta0.shape[0])))
    if accepted < 2:
        bound = f"< {2 / num_pilot:.1g}" if accepted == 0 else f"≈ {1 / num_pilot:.1g}"
        message = (
            f"Agreement is too rare near θ₀ for the exact exchange move: a pilot "
            f"accepted {accepted} of {num_pilot} proposals (Z {bound}, so more "
            f"than about {EXCHANGE_BUDGET} proposals per auxiliary draw). Use "
            "theta1_update='nested_ais' (approximate), method='sgld' or 'sghmc', "
            "or a smaller `lam`."
        )
        return message, batch
    return None, batch


def choose_theta1_move(key, target, theta0, sigma2, theta1) -> tuple[str, int]:
    """The θ₁ move in force (``"exchange"``, ``"nested_ais"``, or ``"joint"``
    where there is no log Z) for a
    ``samplers.Exchange`` / ``NestedAIS`` setting, and the auxiliary draws'
    batch size. Raises the pilot's message when the exchange move is too costly
    and there is no fallback."""
    if not target.include_log_partition:
        # The whole density is then known: one kernel moves θ₁ and θ₂ together
        # (samplers.joint).
        return "joint", 64
    if theta1.name == "nested_ais":
        return "nested_ais", 64
    too_rare, batch_size = check_exchange_cost(key, target.potential, theta0, sigma2)
    if too_rare and theta1.fallback is None:
        raise ValueError(too_rare)
    return ("nested_ais" if too_rare else "exchange"), batch_size


# The share of a warm-up stretch's exchange moves whose auxiliary draw may miss
# its cap before "auto" gives the exchange move up: each miss rejects its move
# and biases θ₁ towards larger Z.
EXCHANGE_MISS_LIMIT = 0.01


class ExchangeScout:
    """``run_chains``'s ``stop_when`` for ``theta1="auto"``: watches the cost of
    the exchange move's auxiliary draws in warm-up, where the chains travel from
    their start (where the pilot measured it) to the posterior, and stops the
    run when more than ``EXCHANGE_MISS_LIMIT`` of the latest stretch's draws,
    and two at least, missed their cap, or they averaged more than
    ``EXCHANGE_BUDGET`` proposals. ``message`` then says so.

    Attributes:
        stretch: warm-up draws between looks; short, so that a run whose
            chains travel where agreement is rare stops before it has spent
            long at the cap.
    """

    stretch = 25

    def __init__(self, num_burn: int, max_draws: int):
        self.num_burn, self.max_draws = num_burn, max_draws
        self.message = None

    def __call__(self, chunk, first_draw: int) -> bool:
        warmup = self.num_burn - first_draw
        if warmup <= 0:
            return False
        found = np.asarray(chunk["stat_auxiliary_found"])[:, :warmup]
        cost = np.asarray(chunk["stat_num_rejection_draws"])[:, :warmup]
        # Misses bias θ₁ (each rejects its move); a dear draw that is found
        # only costs time, which the mean counts. Two misses at least: one in
        # a short stretch proves little.
        missed, mean_cost = ~found, float(cost.mean())
        too_many = missed.mean() > EXCHANGE_MISS_LIMIT and missed.sum() >= 2
        if not too_many and mean_cost <= EXCHANGE_BUDGET:
            return False
        self.message = (
            f"theta1='auto' left the exchange move in warm-up: over warm-up draws "
            f"{first_draw}–{first_draw + found.shape[1] - 1}, {missed.mean():.1%} "
            f"of its auxiliary draws missed max_draws={self.max_draws} (limit "
            f"{EXCHANGE_MISS_LIMIT:.0%}, each a rejected move that biases θ₁ "
            f"towards larger Z) and they took {mean_cost:.3g} proposals on average "
            f"(limit {EXCHANGE_BUDGET}): agreement is rarer where the chains went "
            "than at their start. The run started again with the nested-AIS move "
            "(approximate); tree.attrs['theta1_update'] says so."
        )
        return True


def watch_exchange(method, target, theta1_move, num_warmup) -> bool:
    """Whether `sample` watches the exchange move's cost in warm-up
    (:class:`ExchangeScout`): under "auto" (an Exchange with a fallback), when
    the pilot chose it and log Z counts."""
    fallback = getattr(getattr(method, "theta1", None), "fallback", None)
    return (
        theta1_move == "exchange"
        and fallback is not None
        and target.include_log_partition
        and num_warmup > 0
    )


def warn_missed_auxiliaries(records, max_rejection_draws, stacklevel=3):
    found = records.get("stat_auxiliary_found")
    if found is None or found.all():
        return
    missed = int(np.sum(~found))
    warnings.warn(
        f"{missed} of {found.size} kept sweeps had an exchange move that could "
        f"not draw its auxiliary within max_rejection_draws={max_rejection_draws} "
        "proposals and was rejected, which biases θ₁ towards larger Z. Raise "
        "`max_rejection_draws` (see sample_stats.num_rejection_draws for the "
        "cost), or use theta1_update='nested_ais'.",
        SamplingWarning,
        stacklevel=stacklevel,
    )


class NestedScout:
    """``run_chains``'s ``stop_when`` for ``NestedAIS(tolerance=...)``: watches
    the standard error of the nested log Ẑ (``stat_nested_log_z_se``) in
    warm-up, and stops the run when a chain's mean over the latest stretch is
    above ``tolerance``, with ``particles`` set to the budget to start again
    with: about ``(se / tolerance)²`` times the current one (the SE falls as
    one over the root of the particles), a power of two at least 2, and at most
    ``max_particles``. At the cap it lets the run go on and keeps a warning in
    ``capped``.
    """

    stretch = ExchangeScout.stretch

    def __init__(self, num_burn: int, nested):
        self.num_burn, self.nested = num_burn, nested
        self.particles = None
        self.capped = None

    def __call__(self, chunk, first_draw: int) -> bool:
        warmup = self.num_burn - first_draw
        if warmup <= 0:
            return False
        se = np.asarray(chunk["stat_nested_log_z_se"], dtype=float)[:, :warmup]
        means = row_means(se)
        # A chain without a finite SE is the other checks' to report.
        worst = float(np.max(means[np.isfinite(means)], initial=0.0))
        tolerance, current = self.nested.tolerance, self.nested.particles
        if not worst > tolerance:
            return False
        if current >= self.nested.max_particles:
            self.capped = (
                f"The nested AIS estimates of log Z(θ₁) had a standard error of "
                f"{worst:.2g} nats in warm-up (draws {first_draw}–"
                f"{first_draw + se.shape[1] - 1}), above the move's tolerance "
                f"{tolerance:g}, with max_particles={current} particles: their "
                "noise biases θ₁. Raise `NestedAIS(max_particles=...)`."
            )
            return False
        factor = 2 ** max(1, math.ceil(math.log2((worst / tolerance) ** 2)))
        self.particles = min(current * factor, self.nested.max_particles)
        return True


def watch_nested(nested, theta1_move, num_warmup) -> bool:
    """Whether `sample` watches the nested-AIS move's standard error in warm-up
    (:class:`NestedScout`): when that move (``nested``, a ``NestedAIS`` or
    ``None``) is in force and adapts its budget (``tolerance`` set)."""
    return (
        theta1_move == "nested_ais"
        and nested is not None
        and nested.tolerance is not None
        and num_warmup > 0
    )
