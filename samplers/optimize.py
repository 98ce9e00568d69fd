r"""MAP estimation of (θ₁, θ₂) with optax: what the essay says people would do first.

The loss is the negative log posterior,
$-\big[L(\theta_2) + \log\mathcal N(\theta_1;\theta_0,\sigma_1^2)
+ \log\mathcal N(\theta_2;\theta_1,\sigma_2^2) - \lambda C(\theta_2)\big]
+ \log Z(\theta_1)$; the last term has no value to hand, but its gradient comes
from persistent inner chains (:mod:`samplers.inner`), which is all an optimiser
needs. The value of log Z at the optimum is then estimated once by AIS.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jax import Array

from samplers.inner import (
    AgreementBatches,
    InnerState,
    build_inner_move,
    draw_batch,
    init_inner,
    inner_grad_log_z,
    refresh_inner,
)

__all__ = ["MAPState", "MAPInfo", "init", "build_kernel"]


class MAPState(NamedTuple):
    """The iterate, the optimiser's state and the inner chains."""

    theta1: Array
    theta2: Array
    opt_state: optax.OptState
    inner: InnerState


class MAPInfo(NamedTuple):
    """Diagnostics of one step.

    Attributes:
        loss: the negative log joint without log Z, at the iterate before the
            step (minibatch estimate when minibatching).
        grad_norm: norm of the full gradient, log Z term included.
        inner_acceptance_rate: MALA acceptance of the inner chains.
        inner_ess: effective sample size of the inner particles' weights after
            the step's carry (NaN without log Z).
    """

    loss: Array
    grad_norm: Array
    inner_acceptance_rate: Array
    inner_ess: Array


def init(key, theta1, theta2, optimizer, potential_fn, sigma2, num_inner) -> MAPState:
    """The state at (θ₁, θ₂)."""
    inner = init_inner(key, theta1, potential_fn, sigma2, num_inner)
    return MAPState(theta1, theta2, optimizer.init((theta1, theta2)), inner)


def build_kernel(
    logdensity_fn: Callable[[Array, Array, Array], Array],
    potential_fn: Callable[[Array], Array],
    sigma2: float,
    optimizer: optax.GradientTransformation,
    *,
    num_data: int,
    batch_size: int,
    num_inner_steps: int = 2,
    include_log_partition: bool = True,
    agreement: AgreementBatches | None = None,
    inner_refresh_every: int = 0,
):
    """Build one optimisation step ``step(key, state, step_index) -> (state, info)``.

    Args:
        logdensity_fn: ``(theta1, theta2, batch) -> scalar``, every term but −log Z.
        potential_fn: λC(θ), for the inner chains.
        sigma2: σ₂.
        optimizer: an optax transformation (it minimises the loss).
        num_data: size of the answer set.
        batch_size: answers per minibatch.
        num_inner_steps: inner MALA steps per step.
        include_log_partition: ``False`` drops log Z (the agreement-penalty
            baseline).
        agreement: C on a fresh minibatch of the agreement set at each step,
            as in :func:`samplers.sgld.build_kernel`.
        inner_refresh_every: at the steps whose index is a multiple of this,
            the inner particles are replaced by a fresh AIS run at the iterate's
            θ₁ (:func:`samplers.inner.refresh_inner`, on all of S) before their
            move; 0 never. The step index must be the same for every start of a
            vmapped fit, so that only the branch taken runs.
    """
    inner_move = build_inner_move(
        potential_fn, sigma2, num_steps=num_inner_steps, agreement=agreement
    )
    loss_and_grad = jax.value_and_grad(
        lambda position, batch: -logdensity_fn(position[0], position[1], batch)
    )

    def step(key: Array, state: MAPState, step_index: Array):
        key_batch, key_inner = jr.split(key)
        batch = draw_batch(key_batch, num_data, batch_size, agreement)
        position = (state.theta1, state.theta2)
        loss, (grad1, grad2) = loss_and_grad(position, batch)
        nan = jnp.full((), jnp.nan, loss.dtype)
        inner, acceptance, ess = state.inner, nan, nan
        if include_log_partition:
            if inner_refresh_every:
                inner = jax.lax.cond(
                    step_index % inner_refresh_every == 0,
                    lambda: refresh_inner(
                        jr.fold_in(key, 2), inner, state.theta1, potential_fn, sigma2
                    ),
                    lambda: inner,
                )
            inner, acceptance = inner_move(key_inner, inner, state.theta1)
            ess = inner.ess
            grad_log_z, _ = inner_grad_log_z(inner, state.theta1, sigma2)
            grad1 = grad1 + grad_log_z
        updates, opt_state = optimizer.update((grad1, grad2), state.opt_state, position)
        theta1, theta2 = optax.apply_updates(position, updates)
        grad_norm = optax.tree.norm((grad1, grad2))
        info = MAPInfo(loss, grad_norm, acceptance, ess)
        return MAPState(theta1, theta2, opt_state, inner), info

    return step
