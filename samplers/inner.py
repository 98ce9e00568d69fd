r"""Persistent inner chains targeting $p(\theta' \mid \theta_1) \propto
\mathcal N(\theta'; \theta_1, \sigma_2^2 I)\, e^{-\lambda C(\theta')}$.

The gradient-based outer samplers (nested SGLD/SGHMC, MAP) need
$\nabla\log Z(\theta_1) = \mathbb E_{p(\cdot|\theta_1)}[\theta' - \theta_1]/\sigma_2^2$
at every step. Following the essay's remark that the optimal θ₂′ moves slowly with
θ₁, as in persistent contrastive divergence (Tieleman, 2008), K particles are kept
from step to step and advanced a few MCMC steps each time from where they were.

Between two inner moves θ₁ may change (an SGHMC trajectory makes several
leapfrog steps); the particles, drawn for an earlier $\theta_1^{old}$, are then
reweighted by $\mathcal N(\theta';\theta_1,\sigma_2^2)/\mathcal N(\theta';\theta_1^{old},\sigma_2^2)$,
which is exact importance sampling since $e^{-\lambda C}$ cancels.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from samplers.base import PotentialFn, values_and_grads
from samplers.log_partition import grad_log_partition_estimate
from samplers.moves import build_move

__all__ = ["InnerState", "init_inner", "build_inner_move", "inner_grad_log_z"]

# MALA's optimal acceptance (Roberts & Rosenthal, 1998), steered to by the step size.
_TARGET_ACCEPTANCE = 0.574
_STEP_SIZE_GAIN = 1.0


class InnerState(NamedTuple):
    """K particles of p(·|θ₁) with their potentials λC and its gradients.

    Attributes:
        particles: ``(K, d)``.
        potential: ``(K,)`` λC at the particles.
        potential_grad: ``(K, d)``.
        theta1: the θ₁ the particles were last moved for.
        step_size: MALA step size, in units of σ₂.
    """

    particles: Array
    potential: Array
    potential_grad: Array
    theta1: Array
    step_size: Array


def init_inner(
    key: Array, theta1: Array, potential_fn: PotentialFn, sigma2, num_particles: int
) -> InnerState:
    """Particles drawn from the base N(θ₁, σ₂²), the start of the tempering path."""
    noise = jr.normal(key, (num_particles, theta1.shape[0]), theta1.dtype)
    particles = theta1[None, :] + sigma2 * noise
    potential, grad = values_and_grads(potential_fn, particles)
    step_size = jnp.asarray(0.5, theta1.dtype)
    return InnerState(particles, potential, grad, theta1, step_size)


def build_inner_move(potential_fn: PotentialFn, sigma2, *, num_steps: int = 2):
    """``move(key, inner, theta1) -> (inner, acceptance)``: ``num_steps`` MALA
    steps of every particle towards p(·|θ₁), from where the particles were."""
    move = build_move(potential_fn, kind="mala", num_steps=num_steps)

    def inner_move(key: Array, inner: InnerState, theta1: Array):
        scale = jnp.full_like(theta1, sigma2)
        particles, acceptance = move(
            key,
            inner.particles,
            inner.potential,
            inner.potential_grad,
            jnp.asarray(1.0, theta1.dtype),
            theta1,
            sigma2,
            scale,
            inner.step_size,
        )
        potential, grad = values_and_grads(potential_fn, particles)
        # Persistent chains are an approximation already; adapting their step size
        # all along keeps them mixing as θ₁ wanders.
        step_size = inner.step_size * jnp.exp(
            _STEP_SIZE_GAIN * (acceptance - _TARGET_ACCEPTANCE)
        )
        return InnerState(particles, potential, grad, theta1, step_size), acceptance

    return inner_move


def inner_grad_log_z(inner: InnerState, theta1: Array, sigma2) -> tuple[Array, Array]:
    r"""$\nabla\log Z(\theta_1)$ from the particles, and their effective sample size.

    Combines the score identity $\mathbb E[\theta'-\theta_1]/\sigma_2^2$ and the
    pathwise identity $-\mathbb E[\nabla\lambda C(\theta')]$ as control variates
    (:func:`samplers.log_partition.grad_log_partition_estimate`).
    """
    shift = jnp.sum((inner.particles - inner.theta1[None, :]) ** 2, axis=1)
    moved = jnp.sum((inner.particles - theta1[None, :]) ** 2, axis=1)
    log_weights = (shift - moved) / (2 * sigma2**2)
    grad, _, _ = grad_log_partition_estimate(
        inner.particles, log_weights, inner.potential_grad, theta1, sigma2
    )
    weights = jax.nn.softmax(log_weights)
    return grad, 1.0 / jnp.sum(weights**2)
