r"""Chains of nested SGLD / SGHMC for ``sample(method="sgld" | "sghmc")``.

With ``adaptive=True`` every chain carries a paired (θ₁ⱼ, θ₂ⱼ) preconditioner,
adapted in warm-up windows and frozen afterwards (:mod:`samplers.precondition`),
so that the kept draws come from a fixed kernel.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from samplers import inner, precondition, sgld
from samplers.programs import Deferred, filter_jit

__all__ = ["setup"]


class _AdaptiveChain(NamedTuple):
    state: sgld.NestedSGLDState
    preconditioner: precondition.Preconditioner


def setup(
    key,
    target,
    model,
    theta1,
    theta2,
    sigma2,
    *,
    method,
    step_size,
    batch_size,
    num_inner,
    num_inner_steps,
    num_integration_steps,
    adaptive=False,
    num_warmup=0,
    agreement_batch_size=None,
):
    num_chains = theta1.shape[0]
    num_data = int(model.num_answers)
    agreement = inner.AgreementBatches.of(target, model, agreement_batch_size)
    kernel_options = dict(
        num_data=num_data,
        batch_size=batch_size,
        step_size=step_size,
        algorithm=method,
        num_inner_steps=num_inner_steps,
        num_integration_steps=num_integration_steps,
        # In adapted coordinates the stiffest frequency is 1: friction √2 damps
        # it critically, as 2/σ₂ does in θ for a stiffest scale of σ₂/√2.
        friction=2.0**0.5 if adaptive else None,
        include_log_partition=target.include_log_partition,
    )
    key_inner, key_scale = jr.split(key)
    states = _init_states(
        jr.split(key_inner, num_chains),
        target.potential,
        theta1,
        theta2,
        sigma2,
        num_inner,
    )
    # Deferred, of the target's functions: programs that a model of the same
    # shapes finds again (samplers.programs).
    kernel = Deferred(
        _kernel_of,
        target.log_joint,
        target.potential,
        agreement,
        sigma2,
        kernel_options,
    )
    if not adaptive:
        return states, (kernel, _positions, _INFO_FIELDS)

    preconditioners = _init_preconditioners(
        jr.split(key_scale, num_chains), target.log_joint, theta1, theta2, sigma2
    )
    step = Deferred(
        _adapting,
        kernel,
        target.log_joint,
        sigma2,
        num_data,
        batch_size,
        num_warmup,
        agreement,
    )
    chains = _AdaptiveChain(states, preconditioners)
    return chains, (step, _adaptive_positions, _INFO_FIELDS)


def _kernel_of(log_joint, potential, agreement, sigma2, options):
    return sgld.build_kernel(
        log_joint, potential, sigma2, agreement=agreement, **options
    )


@filter_jit
def _init_states(keys, potential, theta1, theta2, sigma2, num_inner):
    # One program: run eagerly, the inner particles' first potentials and
    # gradients were dozens of operations, each compiled on its own.
    return jax.vmap(lambda k, a, b: sgld.init(k, a, b, potential, sigma2, num_inner))(
        keys, theta1, theta2
    )


@filter_jit
def _init_preconditioners(keys, log_joint, theta1, theta2, sigma2):
    return jax.vmap(lambda k, a, b: precondition.init(k, log_joint, a, b, sigma2))(
        keys, theta1, theta2
    )


def _positions(state):
    return state.theta1, state.theta2


def _adaptive_positions(chain):
    return chain.state.theta1, chain.state.theta2


# sample_stats fields of an SGLD/SGHMC step, from its info.
_INFO_FIELDS = {
    "step_size": lambda info: info.step_size,
    "inner_acceptance_rate": lambda info: info.inner_acceptance_rate,
    "inner_ess": lambda info: info.inner_ess,
    "diverging": lambda info: info.diverging,
}


def _adapting(kernel, log_joint, sigma2, num_data, batch_size, num_warmup, agreement):
    """The step of a chain that carries its preconditioner: curvature probes
    collected in warm-up, the preconditioner refitted at each window's end."""
    full_batch = lambda t1, t2: log_joint(t1, t2)  # noqa: E731
    ends = jnp.asarray(precondition.window_ends(num_warmup) or (-1,))
    # Curvatures are averaged from the end of the initial buffer (10% of the
    # warm-up, where the chains leave their start) to each window's end.
    collect_from = int(0.1 * num_warmup)

    def step(key, chain: _AdaptiveChain, index: Array):
        key_step, key_batch, key_probe, key_update = jr.split(key, 4)
        state, info = kernel(key_step, chain.state, index, chain.preconditioner.scale)
        adapter = chain.preconditioner

        def collect(adapter):
            # With an agreement minibatch, the curvature of its λC, as the
            # steps see it.
            batch = inner.draw_batch(key_batch, num_data, batch_size, agreement)
            diagonals = precondition.diagonal_curvature(
                key_probe, log_joint, state.theta1, state.theta2, batch
            )
            finite = jnp.all(jnp.isfinite(diagonals[0])) & jnp.all(
                jnp.isfinite(diagonals[1])
            )
            return jax.lax.cond(
                finite,
                lambda a: precondition.accumulate(a, diagonals),
                lambda a: a,
                adapter,
            )

        collecting = (index >= collect_from) & (index < num_warmup)
        adapter = jax.lax.cond(collecting, collect, lambda a: a, adapter)
        adapter = jax.lax.cond(
            jnp.any(index + 1 == ends),
            lambda a: precondition.update(
                key_update, a, full_batch, state.theta1, state.theta2, sigma2
            ),
            lambda a: a,
            adapter,
        )
        return _AdaptiveChain(state, adapter), info

    return step
