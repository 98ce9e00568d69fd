r"""Exact Gibbs sweeps for ``sample(method="nuts" | "hmc")``.

θ₂ | θ₁ moves by blackjax NUTS/HMC, adapted per chain by window adaptation at
the chain's starting θ₁; θ₁ | θ₂ by the exchange algorithm with exact auxiliary
draws, or by MALA with nested AIS (:mod:`samplers.exchange`). Warm-up adapts the
θ₁ proposals by Robbins–Monro; sampling then runs a fixed, exact kernel.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from samplers import exchange
from samplers.base import EXCHANGE_TARGET_ACCEPTANCE, MALA_TARGET_ACCEPTANCE
from samplers.joint import window_adapt
from samplers.programs import Deferred, filter_jit

__all__ = ["setup"]

# Largest joint shift of (θ₁, θ₂), in log units of τ (0: one τ).
TRANSLATION_CAP = 0.0


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
    num_chains, dim = theta1.shape
    theta2, step_size, inverse_mass = _adapt_theta2(
        jr.split(key, num_chains),
        target.log_joint,
        theta1,
        theta2,
        dict(
            method=method,
            num_warmup=num_warmup,
            num_integration_steps=num_integration_steps,
            dense_mass=dense_mass,
        ),
    )
    # Start both θ₁ moves at a typical size for d coordinates (for the baseline,
    # whose θ₁ | θ₂ is Gaussian, ρ = 0 is an exact Gibbs draw).
    typical = math.log(min(1.0, 2.0 / math.sqrt(dim)))
    start = typical if target.include_log_partition else 0.0
    states = _ExactChain(
        _init_states(target.log_joint, theta1, theta2),
        step_size,
        inverse_mass,
        jnp.full((num_chains,), start),
        jnp.full((num_chains,), typical),
        jax.vmap(lambda _: exchange.init_surrogate_stats(dim, theta1.dtype))(theta1),
    )
    kernel_options = dict(
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
    sweep_options = dict(
        num_warmup=num_warmup,
        nested=theta1_update == "nested_ais",
        nested_joint=theta1_update == "nested_ais" and joint_steps > 0,
        include_log_partition=target.include_log_partition,
        tau=(sigma1**-2 + sigma2**-2) ** -0.5,
        sigma2=sigma2,
    )
    # Of the target's functions, not of the target: its λ, a float, would key
    # the program (samplers.programs).
    sweep = Deferred(
        _sweep_of,
        target.log_joint,
        target.potential,
        theta0,
        sigma1,
        sigma2,
        kernel_options,
        sweep_options,
    )
    fields = _INFO_FIELDS
    if theta1_update == "nested_ais":
        fields = _NESTED_JOINT_INFO_FIELDS if joint_steps else _NESTED_INFO_FIELDS
    return states, (sweep, _exact_positions, fields)


def _sweep_of(
    log_joint, potential, theta0, sigma1, sigma2, kernel_options, sweep_options
):
    kernel = exchange.build_kernel(
        lambda t1, t2: log_joint(t1, t2),
        potential,
        theta0,
        sigma1,
        sigma2,
        **kernel_options,
    )
    return _build_sweep(kernel, **sweep_options)


@filter_jit
def _init_states(log_joint, theta1, theta2):
    # One program: run eagerly, its few dozen operations were each compiled on
    # their own.
    return jax.vmap(lambda a, b: exchange.init(a, b, lambda t1, t2: log_joint(t1, t2)))(
        theta1, theta2
    )


@filter_jit
def _adapt_theta2(keys, log_joint, theta1, theta2, options):
    """blackjax window adaptation of θ₂ | θ₁ for every chain, at its θ₁: the
    adapted θ₂, step sizes and inverse mass matrices."""

    def adapt(key, t1, t2):
        state, step_size, inverse_mass = window_adapt(
            key, lambda t: log_joint(t1, t), t2, **options
        )
        return state.position, step_size, inverse_mass

    return jax.vmap(adapt)(keys, theta1, theta2)


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
    "nested_log_z_se": lambda info: info.nested_log_z_se,
}


# The nested sweep with its joint move: that move's acceptance too.
_NESTED_JOINT_INFO_FIELDS = {
    **_NESTED_INFO_FIELDS,
    "translation_accepted": lambda info: info.translation_accepted,
    "translation_acceptance_rate": lambda info: info.translation_acceptance_rate,
}


def _exact_positions(chain):
    return chain.state.theta1, chain.state.theta2.position
