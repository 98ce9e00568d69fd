r"""Exact Gibbs sweeps for ``sample(method="nuts" | "hmc")``.

θ₂ | θ₁ moves by blackjax NUTS/HMC, adapted per chain by window adaptation at
the chain's starting θ₁; θ₁ | θ₂ by the exchange algorithm with exact auxiliary
draws, or by MALA with nested AIS (:mod:`samplers.exchange`). Warm-up adapts the
θ₁ proposals by Robbins–Monro; sampling then runs a fixed, exact kernel.
"""

import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array

from samplers import exchange, rejection
from samplers.base import EXCHANGE_TARGET_ACCEPTANCE, MALA_TARGET_ACCEPTANCE, jit
from samplers.health import SamplingWarning
from samplers.joint import window_adapt

__all__ = [
    "EXCHANGE_BUDGET",
    "ExchangeScout",
    "check_exchange_cost",
    "choose_theta1_move",
    "watch_exchange",
    "setup",
    "warn_missed_auxiliaries",
]

# The exchange move's auxiliary draw costs about 1/Z proposals; it is refused
# (before compiling) when a pilot at θ₀ predicts more than this many.
EXCHANGE_BUDGET = 10**4


def check_exchange_cost(key, potential, theta0, sigma2) -> tuple[str | None, int]:
    """A message when agreement is too rare near θ₀ for exact exchange moves,
    and the batch size of the auxiliary draws."""
    # A pilot of twice the budget: fewer than two acceptances means a cost per
    # auxiliary draw above the budget is likely. (No acceptance in a small pilot
    # would only bound Z from above, which proves nothing about the cost.)
    num_pilot = 2 * EXCHANGE_BUDGET
    # In chunks, so that a large network never holds 2·10⁴ parameter vectors.
    chunk = 500
    pilot = jit(
        lambda k: rejection.pilot_acceptance(k, potential, theta0, sigma2, chunk)
    )
    pilot_key = jr.fold_in(key, 7)
    accepted = sum(
        int(pilot(jr.fold_in(pilot_key, i))) for i in range(num_pilot // chunk)
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


# Largest joint shift of (θ₁, θ₂), in log units of τ (0: one τ).
TRANSLATION_CAP = 0.0

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


class _ExactChain(NamedTuple):
    state: exchange.ExchangeState
    step_size: Array
    inverse_mass_matrix: Array
    # log √(1-ρ²) of the exchange proposal; with nested AIS, log of the joint
    # trajectory's step (in units of τ)
    log_move: Array
    log_translation: Array  # log of the joint shift's scale, in units of τ
    surrogate_stats: exchange.SurrogateStats  # warm-up gradient samples of log Z


def setup(
    key,
    target,
    theta0,
    theta1,
    theta2,
    sigma1,
    sigma2,
    *,
    method,
    num_warmup,
    num_integration_steps,
    theta1_update,
    nested_particles,
    rejection_batch_size=64,
    max_rejection_draws=10**5,
    joint_steps=0,
    num_bridges=0,
    dense_mass=False,
):
    kernel = exchange.build_kernel(
        lambda t1, t2: target.log_joint(t1, t2),
        target.potential,
        theta0,
        sigma1,
        sigma2,
        algorithm=method,
        num_integration_steps=num_integration_steps,
        include_log_partition=target.include_log_partition,
        theta1_update=theta1_update,
        num_inner_particles=nested_particles,
        rejection_batch_size=rejection_batch_size,
        max_rejection_draws=max_rejection_draws,
        joint_steps=joint_steps,
        num_bridges=num_bridges,
    )
    num_chains, dim = theta1.shape
    theta2, step_size, inverse_mass = _adapt_theta2(
        key,
        target,
        theta1,
        theta2,
        method,
        num_warmup,
        num_integration_steps,
        dense_mass,
    )
    # Start both θ₁ moves at a typical size for d coordinates (for the baseline,
    # whose θ₁ | θ₂ is Gaussian, ρ = 0 is an exact Gibbs draw).
    typical = math.log(min(1.0, 2.0 / math.sqrt(dim)))
    start = typical if target.include_log_partition else 0.0
    states = _ExactChain(
        # Compiled as one program: run eagerly, its few dozen operations were
        # each compiled on their own.
        jit(
            jax.vmap(
                lambda a, b: exchange.init(
                    a, b, lambda t1, t2: target.log_joint(t1, t2)
                )
            )
        )(theta1, theta2),
        step_size,
        inverse_mass,
        jnp.full((num_chains,), start),
        jnp.full((num_chains,), typical),
        jax.vmap(lambda _: exchange.init_surrogate_stats(dim, theta1.dtype))(theta1),
    )
    sweep = _build_sweep(
        kernel,
        num_warmup=num_warmup,
        nested=theta1_update == "nested_ais",
        nested_joint=theta1_update == "nested_ais" and joint_steps > 0,
        include_log_partition=target.include_log_partition,
        tau=(sigma1**-2 + sigma2**-2) ** -0.5,
        sigma2=sigma2,
    )
    fields = _INFO_FIELDS
    if theta1_update == "nested_ais":
        fields = _NESTED_JOINT_INFO_FIELDS if joint_steps else _NESTED_INFO_FIELDS
    return states, (sweep, _exact_positions, fields)


def _adapt_theta2(
    key, target, theta1, theta2, method, num_warmup, num_steps, dense_mass=False
):
    """blackjax window adaptation of θ₂ | θ₁ for every chain, at its θ₁: the
    adapted θ₂, step sizes and inverse mass matrices."""

    def adapt(key, t1, t2):
        state, step_size, inverse_mass = window_adapt(
            key,
            lambda t: target.log_joint(t1, t),
            t2,
            method=method,
            num_warmup=num_warmup,
            num_integration_steps=num_steps,
            dense_mass=dense_mass,
        )
        return state.position, step_size, inverse_mass

    return jit(jax.vmap(adapt))(jr.split(key, theta1.shape[0]), theta1, theta2)


def _build_sweep(
    kernel, *, num_warmup, nested, nested_joint, include_log_partition, tau, sigma2
):
    """One chain's ``sweep(key, chain, index) -> (chain, info)``: the kernel,
    then Robbins–Monro on its θ₁ proposal sizes and the surrogate's gradient
    samples, in warm-up only."""
    adapt_move = include_log_partition and not nested
    # The nested sweep's joint trajectory is steered by S too, fitted to the
    # nested estimates of ∇log Z in place of exact auxiliaries.
    fit = adapt_move or nested_joint

    def sweep(key, chain, index):
        rho = jnp.sqrt(1.0 - jnp.exp(2 * chain.log_move))
        surrogate = exchange.fit_surrogate(chain.surrogate_stats, tau) if fit else None
        state, info = kernel(
            key,
            chain.state,
            chain.step_size,
            chain.inverse_mass_matrix,
            rho,
            jnp.exp(chain.log_translation),
            surrogate,
            jnp.exp(chain.log_move),
        )
        # Robbins–Monro on the proposal sizes during warm-up only; frozen
        # afterwards, so the sampling kernel is a fixed, exact one.
        warming = index < num_warmup

        def adapted(log_size, probability, target=EXCHANGE_TARGET_ACCEPTANCE, cap=0.0):
            update = 0.5 * (probability - target)
            return jnp.where(warming, jnp.minimum(log_size + update, cap), log_size)

        log_move, stats = chain.log_move, chain.surrogate_stats
        if adapt_move:
            log_move = adapted(log_move, info.exchange_acceptance_rate)
        if fit:
            # Each exact auxiliary w ~ p(·|θ₁*) gives an unbiased sample
            # (w - θ₁*)/σ₂² of ∇log Z(θ₁*) for the proposal's surrogate; the
            # nested sweep passes θ₁ + σ₂²∇log Ẑ(θ₁) for w, its estimate.
            stats = exchange.update_surrogate_stats(
                stats,
                info.proposal,
                (info.auxiliary - info.proposal) / sigma2**2,
                warming & info.auxiliary_found,
            )
        if nested:
            # The second scale is then the noise of θ₁'s MALA step, in units
            # of τ; up to 2τ, since MALA's optimal step exceeds the conditional
            # scale in a few dimensions. The first is the joint move's.
            log_translation = adapted(
                chain.log_translation,
                info.exchange_acceptance_rate,
                MALA_TARGET_ACCEPTANCE,
                math.log(2.0),
            )
            if nested_joint:
                log_move = adapted(
                    log_move, info.translation_acceptance_rate, cap=TRANSLATION_CAP
                )
        else:
            log_translation = adapted(
                chain.log_translation,
                info.translation_acceptance_rate,
                cap=TRANSLATION_CAP,
            )
        chain = chain._replace(
            state=state,
            log_move=log_move,
            log_translation=log_translation,
            surrogate_stats=stats,
        )
        return chain, info

    return sweep


# sample_stats fields of the exact sweep, from its info.
_INFO_FIELDS = {
    "acceptance_rate": lambda info: info.acceptance_rate,
    "diverging": lambda info: info.is_divergent,
    "n_steps": lambda info: info.num_integration_steps,
    "exchange_accepted": lambda info: info.exchange_accepted,
    "exchange_acceptance_rate": lambda info: info.exchange_acceptance_rate,
    "num_rejection_draws": lambda info: info.num_rejection_draws,
    "auxiliary_found": lambda info: info.auxiliary_found,
    "translation_accepted": lambda info: info.translation_accepted,
    "energy": lambda info: info.energy,
}
# With the nested-AIS move θ₁'s step is MALA: no auxiliary draw, no
# translation; its acceptance is θ₁'s.
_NESTED_INFO_FIELDS = {
    **{
        name: get
        for name, get in _INFO_FIELDS.items()
        if name in ("acceptance_rate", "diverging", "n_steps", "energy")
    },
    "theta1_accepted": lambda info: info.exchange_accepted,
    "theta1_acceptance_rate": lambda info: info.exchange_acceptance_rate,
}


# The nested sweep with its joint move: that move's acceptance too.
_NESTED_JOINT_INFO_FIELDS = {
    **_NESTED_INFO_FIELDS,
    "translation_accepted": lambda info: info.translation_accepted,
    "translation_acceptance_rate": lambda info: info.translation_acceptance_rate,
}


def _exact_positions(chain):
    return chain.state.theta1, chain.state.theta2.position
