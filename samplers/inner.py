r"""Persistent inner chains targeting $p(\theta' \mid \theta_1) \propto
\mathcal N(\theta'; \theta_1, \sigma_2^2 I)\, e^{-\lambda C(\theta')}$.

The gradient-based outer samplers (nested SGLD/SGHMC, MAP) need
$\nabla\log Z(\theta_1) = \mathbb E_{p(\cdot|\theta_1)}[\theta' - \theta_1]/\sigma_2^2$
at every step. Following the essay's remark that the optimal θ₂′ moves slowly with
θ₁, as in persistent contrastive divergence (Tieleman, 2008), K weighted
particles are kept from step to step: a small sequential Monte Carlo sampler
(resample-move, Gilks & Berzuini 2001) tracking the moving target.

When θ₁ moves by δ, every particle is **carried along**, θ′ ← θ′ + δ, and its
weight multiplied by $e^{-\lambda[C(\theta'+\delta) - C(\theta')]}$: the map has
unit Jacobian and leaves the Gaussian factor unchanged, so this is exact
importance sampling, and in every direction that C does not constrain the
carried particles are already in equilibrium. (Reweighting the particles where
they stand, by the ratio of the Gaussians, is also exact but its weights
degenerate at once in high dimension: on a 10⁵-parameter network a step of θ₁
left one particle of 16.) When the effective sample size falls below half of
K the particles are resampled (systematic), then a few MALA steps move them
towards $p(\cdot\mid\theta_1)$.

Within one SGHMC trajectory θ₁ changes between inner moves; there the particles
are reweighted where they stand (:func:`inner_grad_log_z`), which is exact but
noisy for long trajectories.

Where θ₁ moves fast and far (an optimiser at a high rate), carried particles
keep the shape the conditional had where they were last drawn, and a few MALA
steps of a small size do not reshape them: the MAP fits of the honest-QA
network followed a ∇log Ẑ whose cosine with a fresh estimate fell from 0.98 to
−0.1 mid-fit (docs/honest_qa.md). :func:`refresh_inner` replaces them by the
particles of a fresh AIS run at the current θ₁.
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from blackjax.smc.resampling import systematic
from jax import Array
from jax.scipy.special import logsumexp

from samplers.base import MALA_TARGET_ACCEPTANCE, PotentialFn, values_and_grads
from samplers.estimate import estimate_log_z
from samplers.gradient import grad_log_partition_estimate
from samplers.log_z_types import LogZConfig
from samplers.moves import build_move

__all__ = [
    "AgreementBatches",
    "InnerState",
    "init_inner",
    "build_inner_move",
    "draw_batch",
    "inner_grad_log_z",
    "refresh_inner",
]

# Gain of the step size's update towards MALA's optimal acceptance.
_STEP_SIZE_GAIN = 1.0


class InnerState(NamedTuple):
    """K particles of p(·|θ₁) with their potentials λC and its gradients.

    Attributes:
        particles: ``(K, d)``.
        potential: ``(K,)`` λC at the particles.
        potential_grad: ``(K, d)``.
        theta1: the θ₁ the particles were last moved for.
        step_size: MALA step size, in units of σ₂.
        log_weights: ``(K,)`` importance log-weights (normalised).
        ess: the effective sample size of the weights after the last carry,
            before any resampling: K when θ₁ did not move.
    """

    particles: Array
    potential: Array
    potential_grad: Array
    theta1: Array
    step_size: Array
    log_weights: Array
    ess: Array


class AgreementBatches(NamedTuple):
    """C on a fresh minibatch of the agreement set at each step.

    Attributes:
        potential: ``(theta, index) -> λC`` on the agreement inputs ``index``
            (λ times their mean divergence: an unbiased estimate of λC).
        num_inputs: |S|, the agreement inputs to draw from.
        size: b, the inputs per minibatch, drawn without replacement.
    """

    potential: Callable[[Array, Array], Array]
    num_inputs: int
    size: int

    def draw(self, key: Array) -> Array:
        return jr.choice(key, self.num_inputs, (self.size,), replace=False)

    @classmethod
    def of(cls, target, model, size: int | None) -> "AgreementBatches | None":
        """Batches of ``size`` of a model's agreement inputs for its target's
        ``batch_potential`` (:mod:`samplers.target`); ``None`` for all of S."""
        if size is None:
            return None
        return cls(target.batch_potential, int(model.num_agreement), size)


def init_inner(
    key: Array, theta1: Array, potential_fn: PotentialFn, sigma2, num_particles: int
) -> InnerState:
    """Particles drawn from the base N(θ₁, σ₂²), the start of the tempering path."""
    noise = jr.normal(key, (num_particles, theta1.shape[0]), theta1.dtype)
    particles = theta1[None, :] + sigma2 * noise
    potential, grad = values_and_grads(potential_fn, particles)
    step_size = jnp.asarray(0.5, theta1.dtype)
    log_weights = jnp.full((num_particles,), -math.log(num_particles), theta1.dtype)
    ess = jnp.asarray(num_particles, theta1.dtype)
    return InnerState(particles, potential, grad, theta1, step_size, log_weights, ess)


def refresh_inner(
    key: Array,
    inner: InnerState,
    theta1: Array,
    potential_fn: PotentialFn,
    sigma2,
    config: LogZConfig | None = None,
) -> InnerState:
    """The particles of a fresh AIS run at ``theta1`` in place of ``inner``'s,
    with its final weights; the MALA step size is kept.

    ``config`` defaults to ``log_partition``'s AIS with as many particles as
    ``inner`` holds (it must hold that many). Where a fit refreshed its 16
    particles so, their ∇log Ẑ had a cosine of 0.96-1.00 with a 256-particle
    reference at the same θ₁ (docs/honest_qa.md).
    """
    num_particles = inner.particles.shape[0]
    if config is None:
        config = LogZConfig(num_particles=num_particles)
    if config.num_particles != num_particles:
        raise ValueError(
            f"The refresh's `num_particles` ({config.num_particles}) must be the "
            f"inner particles' ({num_particles})."
        )
    result = estimate_log_z(key, potential_fn, theta1, sigma2, config)
    particles = result.particles.astype(inner.particles.dtype)
    potential, grad = values_and_grads(potential_fn, particles)
    log_weights, ess = _normalised(result.log_weights.astype(inner.log_weights.dtype))
    theta1 = jnp.asarray(theta1, inner.theta1.dtype)
    return InnerState(
        particles, potential, grad, theta1, inner.step_size, log_weights, ess
    )


def _normalised(log_weights: Array) -> tuple[Array, Array]:
    """Log weights summing to one, and their ESS 1/Σw² (a particle count)."""
    log_weights = log_weights - logsumexp(log_weights)
    return log_weights, 1.0 / jnp.sum(jnp.exp(2 * log_weights))


def build_inner_move(
    potential_fn: PotentialFn,
    sigma2,
    *,
    num_steps: int = 2,
    agreement: AgreementBatches | None = None,
):
    """``move(key, inner, theta1) -> (inner, acceptance)``: carry the particles
    to ``theta1`` (reweighting them), resample them when their ESS is below half,
    then ``num_steps`` MALA steps of every particle towards p(·|θ₁).

    With ``agreement``, each move sees λC on one minibatch of the agreement
    set, drawn afresh per move. The carry's weights use the batch's λC at both
    ends (common random numbers, so that their noise shrinks with θ₁'s step),
    and the MALA steps accept by it: approximate, with a bias that shrinks as
    the batch grows (docs/samplers.md). The particles' stored potentials and
    gradients are then those of the last batch, still unbiased for the
    pathwise estimate."""
    if agreement is not None and not 1 <= agreement.size <= agreement.num_inputs:
        raise ValueError(
            f"The agreement batch's `size` must lie in 1..{agreement.num_inputs}, "
            f"got {agreement.size}."
        )
    if agreement is None:
        move = build_move(
            potential_fn, kind="mala", num_steps=num_steps, with_potential=True
        )

        def inner_move(key: Array, inner: InnerState, theta1: Array):
            particles = inner.particles + (theta1 - inner.theta1)[None, :]
            potential, grad = values_and_grads(potential_fn, particles)
            return _reweight_and_move(
                key,
                move,
                sigma2,
                inner,
                theta1,
                particles,
                potential,
                grad,
                inner.potential,
            )

        return inner_move

    def batch_move(key: Array, inner: InnerState, theta1: Array):
        index = agreement.draw(jr.fold_in(key, 1))
        on_batch = lambda theta: agreement.potential(theta, index)  # noqa: E731
        move = build_move(
            on_batch, kind="mala", num_steps=num_steps, with_potential=True
        )
        # The particles' potential on this move's batch, where they stand: one
        # forward pass each, so that the carry's weight compares like with like.
        before = jax.vmap(on_batch)(inner.particles)
        particles = inner.particles + (theta1 - inner.theta1)[None, :]
        potential, grad = values_and_grads(on_batch, particles)
        return _reweight_and_move(
            key, move, sigma2, inner, theta1, particles, potential, grad, before
        )

    return batch_move


def _reweight_and_move(
    key, move, sigma2, inner, theta1, particles, potential, grad, before
):
    """The carried ``particles`` (λC ``potential`` and ``grad`` there, λC
    ``before`` the carry) reweighted, resampled below half their ESS, then
    moved by ``move``: the new state and the MALA acceptance."""
    key_resample, key_move = jr.split(key)
    num_particles = particles.shape[0]
    log_weights = inner.log_weights - (potential - before)
    # A particle carried to a NaN or infinite C gets no weight.
    log_weights = jnp.where(jnp.isfinite(log_weights), log_weights, -jnp.inf)
    log_weights, ess = _normalised(log_weights)

    def resample(_):
        index = systematic(key_resample, jnp.exp(log_weights), num_particles)
        uniform = jnp.full_like(log_weights, -math.log(num_particles))
        return particles[index], potential[index], grad[index], uniform

    particles, potential, grad, log_weights = jax.lax.cond(
        ess < 0.5 * num_particles,
        resample,
        lambda _: (particles, potential, grad, log_weights),
        None,
    )
    scale = jnp.full_like(theta1, sigma2)
    particles, acceptance, potential, grad = move(
        key_move,
        particles,
        potential,
        grad,
        jnp.asarray(1.0, theta1.dtype),
        theta1,
        sigma2,
        scale,
        inner.step_size,
    )
    # Persistent chains are an approximation already; adapting their step size
    # all along keeps them mixing as θ₁ wanders.
    step_size = inner.step_size * jnp.exp(
        _STEP_SIZE_GAIN * (acceptance - MALA_TARGET_ACCEPTANCE)
    )
    new = InnerState(particles, potential, grad, theta1, step_size, log_weights, ess)
    return new, acceptance


def inner_grad_log_z(inner: InnerState, theta1: Array, sigma2) -> tuple[Array, Array]:
    r"""$\nabla\log Z(\theta_1)$ from the weighted particles, and the effective
    sample size of the weights used.

    Combines the score identity $\mathbb E[\theta'-\theta_1]/\sigma_2^2$ and the
    pathwise identity $-\mathbb E[\nabla\lambda C(\theta')]$ as control variates
    (:func:`samplers.gradient.grad_log_partition_estimate`). For a θ₁ other
    than the particles' own, they are reweighted by the ratio of the Gaussians.
    """
    shift = jnp.sum((inner.particles - inner.theta1[None, :]) ** 2, axis=1)
    moved = jnp.sum((inner.particles - theta1[None, :]) ** 2, axis=1)
    log_weights = inner.log_weights + (shift - moved) / (2 * sigma2**2)
    grad, _, _ = grad_log_partition_estimate(
        inner.particles, log_weights, inner.potential_grad, theta1, sigma2
    )
    weights = jax.nn.softmax(log_weights)
    return grad, 1.0 / jnp.sum(weights**2)


def draw_batch(
    key: Array, num_data: int, batch_size: int, agreement: AgreementBatches | None
):
    """A step's minibatch of answer indices, drawn without replacement; with
    ``agreement``, the pair ``(answers, agreement inputs)`` (the batch a
    target's ``log_joint`` takes for C on a minibatch). The answers are those
    drawn without it."""
    answers = jr.choice(key, num_data, (batch_size,), replace=False)
    if agreement is None:
        return answers
    return answers, agreement.draw(jr.fold_in(key, 1))
