r"""An approximate θ₁ move for when exact auxiliary draws cost too much.

Where agreement is rare, the exchange move's rejection sampler needs about
1/Z(θ₁) forward passes. Instead, θ₁ | θ₂, with log density
$\log\mathcal N(\theta_1;\theta_0,\sigma_1^2) + \log\mathcal N(\theta_2;\theta_1,\sigma_2^2)
- \log Z(\theta_1)$, is moved by one blackjax MALA step in which log Z and its
gradient come from a nested AIS run (:func:`samplers.log_partition`). The
estimator enters as a function with a custom derivative — value log Ẑ, gradient
the particles' control-variate estimate of ∇log Z — and both ends of a proposal
use the same key (common random numbers), so the noise largely cancels in the
acceptance ratio. It is still noise: the chain is approximate, its bias shrinks
as ``num_particles`` grows, and `samplers.sample` marks such results
``approximate``.

θ₁ | θ₂ has scale τ = (σ₁⁻² + σ₂⁻²)^{−1/2} < σ₂, so where θ₁ and θ₂ are
strongly coupled that move crawls along their ridge. With
``samplers.NestedAIS(joint_steps=L)`` each sweep also moves (θ₁, θ₂) along an
HMC trajectory of L steps on the log joint less a quadratic surrogate
S ≈ log Z, fitted in warm-up to the nested estimates of ∇log Z, accepted
first by that target and then by the nested estimate of
log Z(θ₁) − log Z(θ₁') (:func:`build_nested_log_z_ratio`) less S's change:
the exchange sweep's joint move (:mod:`samplers.exchange_moves`) with the
exchange device replaced by nested AIS, so approximate as the θ₁ move is.
"""

from collections.abc import Callable

import blackjax
import jax
import jax.numpy as jnp
from jax import Array

from samplers.estimate import estimate_log_z
from samplers.log_z_types import LogZConfig

__all__ = ["build_nested_log_z_ratio", "build_nested_theta1_move"]


def _nested_log_z(potential_fn, sigma2, num_particles):
    """``log_z(theta1, key) -> (log Ẑ, its SE)`` by nested AIS, with the
    particles' control-variate estimate of ∇log Z as the derivative of log Ẑ
    (the SE's is taken as zero)."""
    config = LogZConfig(num_particles=num_particles)

    def estimate(theta1, key):
        return estimate_log_z(key, potential_fn, theta1, sigma2, config)

    @jax.custom_vjp
    def log_z(theta1, key):
        result = estimate(theta1, key)
        return result.log_z, result.log_z_se

    def log_z_forward(theta1, key):
        result = estimate(theta1, key)
        return (result.log_z, result.log_z_se), result.grad_log_z

    def log_z_backward(grad_log_z, cotangents):
        return cotangents[0] * grad_log_z, None

    log_z.defvjp(log_z_forward, log_z_backward)
    return log_z


def build_nested_theta1_move(
    potential_fn: Callable[[Array], Array],
    theta0: Array,
    sigma1: float,
    sigma2: float,
    *,
    num_particles: int = 64,
):
    """``move(key, theta1, theta2, step_size) -> (theta1, accepted, probability,
    grad_log_z, log_z_se)``, the last two the nested estimate of ∇log Z at the
    θ₁ it started from and the standard error of its log Ẑ there.

    Args:
        potential_fn: λC(θ) ≥ 0.
        theta0, sigma1, sigma2: the prior of θ₁ and the scale of θ₂ around it.
        num_particles: particles of each nested AIS run.
    """
    log_z = _nested_log_z(potential_fn, sigma2, num_particles)
    mala = blackjax.mala.build_kernel()

    def move(key, theta1, theta2, step_size):
        key_estimate, key_move = jax.random.split(key)

        def logdensity_and_se(t):
            value, se = log_z(t, key_estimate)
            return (
                -jnp.sum((t - theta0) ** 2) / (2 * sigma1**2)
                - jnp.sum((theta2 - t) ** 2) / (2 * sigma2**2)
                - value
            ), se

        def logdensity(t):
            return logdensity_and_se(t)[0]

        # blackjax.mala.init, keeping the nested run's SE at θ₁.
        (value, log_z_se), grad = jax.value_and_grad(logdensity_and_se, has_aux=True)(
            theta1
        )
        state = blackjax.mcmc.mala.MALAState(theta1, value, grad)
        new, info = mala(key_move, state, logdensity, step_size)
        # The Gaussian terms' gradient less the log density's is ∇log Ẑ.
        prior_grad = -(theta1 - theta0) / sigma1**2 + (theta2 - theta1) / sigma2**2
        grad_log_z = prior_grad - grad
        return (
            new.position,
            info.is_accepted,
            info.acceptance_rate,
            grad_log_z,
            log_z_se,
        )

    return move


def build_nested_log_z_ratio(
    potential_fn: Callable[[Array], Array],
    sigma2: float,
    *,
    num_particles: int = 64,
):
    """``ratio(key, theta1, proposal) -> (log_ratio, found)``: log Ẑ(θ₁) −
    log Ẑ(θ₁') by nested AIS with one key at both ends (common random numbers),
    the second stage of the nested sweep's joint move
    (:func:`samplers.exchange_moves.joint_trajectory`); ``found`` is True."""
    log_z = _nested_log_z(potential_fn, sigma2, num_particles)

    def ratio(key, theta1, proposal):
        log_ratio = log_z(theta1, key)[0] - log_z(proposal, key)[0]
        return log_ratio, jnp.asarray(True)

    return ratio
