r"""Exact Gibbs sampling of $(\theta_1, \theta_2)$: HMC/NUTS for θ₂, exchange for θ₁.

$\log Z(\theta_1)$ does not depend on θ₂, so θ₂ | θ₁ is an ordinary target,
$L(\theta_2) + \log\mathcal N(\theta_2;\theta_1,\sigma_2^2) - \lambda C(\theta_2)$,
moved by a blackjax HMC or NUTS kernel.

θ₁ | θ₂ has density $\propto q(\theta_1)/Z(\theta_1)$ with
$q = \mathcal N(\theta_1;\theta_0,\sigma_1^2)\,\mathcal N(\theta_2;\theta_1,\sigma_2^2)$,
a Gaussian with mean $\mu = \tau^2(\theta_0/\sigma_1^2 + \theta_2/\sigma_2^2)$ and
variance $\tau^2 = (\sigma_1^{-2} + \sigma_2^{-2})^{-1}$. The exchange algorithm
(Murray, Ghahramani & MacKay, 2006) proposes $\theta_1^*$ by a move reversible
with respect to $q$ (preconditioned Crank–Nicolson,
$\theta_1^* = \mu + \rho(\theta_1 - \mu) + \sqrt{1-\rho^2}\,\tau\varepsilon$),
draws an auxiliary $w \sim p(\cdot\mid\theta_1^*)$ exactly by rejection, and
accepts with probability

$$\min\Big(1, \frac{\mathcal N(w;\theta_1,\sigma_2^2)}{\mathcal N(w;\theta_1^*,\sigma_2^2)}\Big),$$

every other factor (q, the proposal, $e^{-\lambda C(w)}$, the unknown Z) cancelling.

That proposal ignores Z, yet $\log Z$ can change by several nats across the
posterior, which tilts θ₁ | θ₂ away from q and forces tiny moves. So the
Crank–Nicolson move may instead be reversible with respect to
$g \propto q\,e^{-S}$, with $S$ a diagonal quadratic stand-in for $\log Z$
(a :class:`Surrogate`, fitted during warm-up to the exact gradient samples
$(w - \theta_1^*)/\sigma_2^2$ that the auxiliary draws provide); the acceptance
ratio then also holds $q(\theta_1^*)\,g(\theta_1) / (q(\theta_1)\,g(\theta_1^*))$.
Any fixed $S$ keeps the chain exact; a good one makes the two ratios nearly
cancel.

θ₁ and θ₂ are strongly coupled when σ₂ is small, so each sweep also proposes
shifting both by the same random vector (or, with ``joint_steps``, along an HMC
trajectory), accepted in two stages: by the log joint less the surrogate, then
by the same exchange device (:mod:`samplers.exchange_moves`).
The chain is exact as long as the rejection sampler finds $w$ within its cap; the
caller checks the expected cost first (`samplers.sample` does), so that a miss,
which rejects the move, has negligible probability.
"""

from collections.abc import Callable
from typing import NamedTuple

import blackjax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from samplers import exchange_moves
from samplers.exchange_moves import Sweep
from samplers.nested import build_nested_log_z_ratio, build_nested_theta1_move
from samplers.surrogate import (
    Surrogate,
    SurrogateStats,
    fit_surrogate,
    init_surrogate_stats,
    update_surrogate_stats,
)

__all__ = [
    "ExchangeState",
    "ExchangeInfo",
    "Surrogate",
    "SurrogateStats",
    "init_surrogate_stats",
    "update_surrogate_stats",
    "fit_surrogate",
    "init",
    "build_kernel",
]


class ExchangeState(NamedTuple):
    """θ₁ and the HMC state of θ₂ (its log density taken at the current θ₁)."""

    theta1: Array
    theta2: blackjax.mcmc.hmc.HMCState


class ExchangeInfo(NamedTuple):
    """Diagnostics of one Gibbs sweep.

    Attributes:
        acceptance_rate: HMC/NUTS acceptance probability of the θ₂ move.
        is_divergent: whether the θ₂ trajectory diverged.
        num_integration_steps: leapfrog steps of the θ₂ move.
        exchange_accepted: whether the θ₁ proposal was accepted.
        exchange_acceptance_rate: its acceptance probability.
        num_rejection_draws: proposals the θ₁ proposal's exact auxiliary draw
            took (all it made, up to the cap, when it missed).
        auxiliary_found: False if an auxiliary draw of the sweep (the θ₁
            proposal's, or the joint move's) hit the rejection cap, which
            rejects that move.
        translation_accepted: whether the joint shift of (θ₁, θ₂) was accepted.
        translation_acceptance_rate: its acceptance probability.
        proposal: the θ₁* at which the auxiliary was drawn.
        auxiliary: the exact auxiliary draw w ~ p(·|θ₁*) (NaN if not found),
            so that ``(w - θ₁*) / σ₂²`` is an unbiased sample of ∇log Z(θ₁*).
        energy: the Hamiltonian at the end of the θ₂ trajectory (for BFMI).
        nested_log_z_se: with the nested-AIS θ₁ move, the standard error of
            the nested log Ẑ at the θ₁ the sweep started from (NaN for the
            exchange move).
    """

    acceptance_rate: Array
    is_divergent: Array
    num_integration_steps: Array
    exchange_accepted: Array
    exchange_acceptance_rate: Array
    num_rejection_draws: Array
    auxiliary_found: Array
    translation_accepted: Array
    translation_acceptance_rate: Array
    proposal: Array
    auxiliary: Array
    energy: Array
    nested_log_z_se: Array


def _conditional_logdensity(log_joint_fn, theta1):
    return lambda theta2: log_joint_fn(theta1, theta2)


def init(theta1: Array, theta2: Array, log_joint_fn: Callable) -> ExchangeState:
    """The state at (θ₁, θ₂)."""
    logdensity = _conditional_logdensity(log_joint_fn, theta1)
    return ExchangeState(theta1, blackjax.hmc.init(theta2, logdensity))


def build_kernel(
    log_joint_fn: Callable[[Array, Array], Array],
    potential_fn: Callable[[Array], Array],
    theta0: Array,
    sigma1: float,
    sigma2: float,
    *,
    algorithm: str = "nuts",
    num_integration_steps: int = 10,
    rejection_batch_size: int = 64,
    max_rejection_draws: int = 10**5,
    include_log_partition: bool = True,
    theta1_update: str = "exchange",
    num_inner_particles: int = 64,
    joint_steps: int = 0,
    num_bridges: int = 0,
):
    r"""Build one Gibbs sweep.

    Args:
        log_joint_fn: $(\theta_1, \theta_2) \mapsto$ every term of the log posterior
            but $-\log Z(\theta_1)$.
        potential_fn: $\lambda C(\theta)$, at least 0.
        theta0: prior mean of θ₁.
        sigma1, sigma2: the prior scales.
        algorithm: ``"nuts"`` or ``"hmc"`` for θ₂.
        num_integration_steps: HMC path length in leapfrog steps (HMC only).
        rejection_batch_size: proposals per round of the exact auxiliary draw.
        max_rejection_draws: cap on those proposals; past it the exchange move
            is rejected and ``auxiliary_found`` is False.
        include_log_partition: ``False`` drops $-\log Z(\theta_1)$ from the
            target (the agreement-penalty baseline); the moves of θ₁ are then
            plain Metropolis–Hastings (with ``rho = 0`` an exact Gibbs draw).
        theta1_update: ``"exchange"`` (exact, as above) or ``"nested_ais"``:
            one MALA step of θ₁ with log Z and its gradient from nested AIS
            (:mod:`samplers.nested`), approximate; ``rho`` is then unused, the
            MALA proposal's noise has standard deviation
            ``translation_scale · τ``, and the joint move, made only with
            ``joint_steps``, has step ``joint_scale · τ`` and the nested
            estimate of log Z(θ₁) − log Z(θ₁') in its second stage.
        num_inner_particles: particles of each nested AIS run.
        joint_steps: 0: the joint shift of (θ₁, θ₂) is a random translation
            (none with ``"nested_ais"``); L > 0: an HMC trajectory of L steps
            on (θ₁, θ₂) under the log joint less the surrogate of log Z
            (:mod:`samplers.bridging`).
        num_bridges: intermediate targets between p(·|θ₁*) and p(·|θ₁) in
            every exchange ratio (:func:`samplers.bridging.bridged_log_ratio`),
            so that longer moves are accepted; 0 gives the plain ratio.

    Returns:
        ``step(key, state, step_size, inverse_mass_matrix, rho,
        translation_scale, surrogate=None) -> (state, info)``, where ``rho`` in
        [0, 1) is the Crank–Nicolson persistence of θ₁, ``translation_scale``
        the size, in units of τ, of a joint shift of (θ₁, θ₂) — a second
        exchange move, whose acceptance ratio also holds $\log p$ at both ends
        — ``surrogate`` an optional :class:`Surrogate` shaping the θ₁
        proposal and the joint trajectory, and ``joint_scale`` the nested
        sweep's joint step in units of τ.
    """
    _check_choices(algorithm, theta1_update)
    nested_moves = (
        build_nested_theta1_move(
            potential_fn, theta0, sigma1, sigma2, num_particles=num_inner_particles
        ),
        build_nested_log_z_ratio(
            potential_fn, sigma2, num_particles=num_inner_particles
        ),
    )
    sweep = Sweep(
        log_joint_fn,
        potential_fn,
        theta0,
        sigma1,
        sigma2,
        (sigma1**-2 + sigma2**-2) ** -0.5,
        algorithm,
        num_integration_steps,
        rejection_batch_size,
        max_rejection_draws,
        include_log_partition,
        joint_steps,
        num_bridges,
    )

    def step(
        key,
        state,
        step_size,
        inverse_mass_matrix,
        rho,
        translation_scale,
        surrogate=None,
        joint_scale=None,
    ):
        key_theta2, key_theta1, key_translate = jr.split(key, 3)
        theta2, acceptance, divergent, steps, energy = _move_theta2(
            sweep, key_theta2, state, step_size, inverse_mass_matrix
        )
        if theta1_update == "nested_ais":
            moved = _nested_moves(
                sweep,
                nested_moves,
                (key_theta1, key_translate),
                state.theta1,
                theta2.position,
                (translation_scale, joint_scale),
                surrogate,
            )
        else:
            moved = exchange_moves.exchange_theta1(
                sweep,
                key_theta1,
                key_translate,
                state.theta1,
                theta2.position,
                rho,
                translation_scale,
                surrogate,
            )
        theta1, position, *fields, log_z_se = moved
        info = ExchangeInfo(acceptance, divergent, steps, *fields, energy, log_z_se)
        return ExchangeState(theta1, theta2._replace(position=position)), info

    return step


def _check_choices(algorithm, theta1_update):
    if algorithm not in ("nuts", "hmc"):
        raise ValueError(f"`algorithm` must be 'nuts' or 'hmc', got {algorithm!r}.")
    if theta1_update not in ("exchange", "nested_ais"):
        raise ValueError(
            f"`theta1_update` must be 'exchange' or 'nested_ais', got {theta1_update!r}."
        )


def _nested_moves(sweep, moves, keys, theta1, theta2, scales, surrogate):
    """The nested-AIS sweep's moves in the exchange sweep's layout: MALA on
    θ₁ | θ₂, then, with ``sweep.joint_steps``, the joint trajectory whose
    second stage is the nested estimate of log Z(θ₁) − log Z(θ₁'). Its
    "proposal" is the θ₁ the MALA move started from and its "auxiliary"
    that θ₁ + σ₂² ∇log Ẑ(θ₁), the nested estimate of E[w | θ₁], so that the
    warm-up fits the surrogate to them as to exact auxiliaries."""
    theta1_move, log_z_ratio = moves
    # blackjax's MALA step ε draws noise of variance 2ε: this makes its
    # standard deviation τ · scales[0].
    start = theta1
    theta1, accepted, probability, grad_log_z, log_z_se = theta1_move(
        keys[0], theta1, theta2, 0.5 * (sweep.tau * scales[0]) ** 2
    )
    joint_accepted, joint_probability = jnp.asarray(False), jnp.zeros_like(probability)
    if sweep.joint_steps:
        (theta1, theta2), joint_accepted, joint_probability, _ = (
            exchange_moves.joint_trajectory(
                sweep,
                keys[1],
                theta1,
                theta2,
                scales[1],
                exchange_moves.or_zero(surrogate, theta1),
                log_z_ratio,
            )
        )
    return (
        theta1,
        theta2,
        accepted,
        probability,
        jnp.asarray(0),
        jnp.asarray(True),
        joint_accepted,
        joint_probability,
        start,
        start + sweep.sigma2**2 * grad_log_z,
        log_z_se,
    )


def _move_theta2(sweep, key, state, step_size, inverse_mass_matrix):
    logdensity = _conditional_logdensity(sweep.log_joint_fn, state.theta1)
    # θ₁ changed since the stored log density was computed: refresh it.
    current = blackjax.hmc.init(state.theta2.position, logdensity)
    if sweep.algorithm == "nuts":
        new, info = blackjax.nuts.build_kernel()(
            key, current, logdensity, step_size, inverse_mass_matrix
        )
        steps = info.num_integration_steps
    else:
        new, info = blackjax.hmc.build_kernel()(
            key,
            current,
            logdensity,
            step_size,
            inverse_mass_matrix,
            sweep.num_integration_steps,
        )
        steps = sweep.num_integration_steps
    return (
        new,
        info.acceptance_rate,
        info.is_divergent,
        jnp.asarray(steps),
        info.energy,
    )
