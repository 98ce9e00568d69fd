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
strongly coupled that move crawls along their ridge. The non-centred move
(:func:`build_nested_joint_move`, ``samplers.NestedAIS(joint=True)``) shifts
both by one MALA step with θ₂ − θ₁ held, on the log joint less log Ẑ(θ₁):
the two moves interweave the centred and non-centred parametrisations
(Yu & Meng 2011).
"""

from collections.abc import Callable

import blackjax
import jax
import jax.numpy as jnp
from jax import Array

from samplers.estimate import LogZConfig, estimate_log_z

__all__ = ["build_nested_joint_move", "build_nested_theta1_move"]


def _nested_log_z(potential_fn, sigma2, num_particles):
    """``log_z(theta1, key)``: log Ẑ(θ₁) by nested AIS, with the particles'
    control-variate estimate of ∇log Z as its derivative."""
    config = LogZConfig(num_particles=num_particles)

    def estimate(theta1, key):
        return estimate_log_z(key, potential_fn, theta1, sigma2, config)

    @jax.custom_vjp
    def log_z(theta1, key):
        return estimate(theta1, key).log_z

    def log_z_forward(theta1, key):
        result = estimate(theta1, key)
        return result.log_z, result.grad_log_z

    def log_z_backward(grad_log_z, cotangent):
        return cotangent * grad_log_z, None

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
    """``move(key, theta1, theta2, step_size) -> (theta1, accepted, probability)``.

    Args:
        potential_fn: λC(θ) ≥ 0.
        theta0, sigma1, sigma2: the prior of θ₁ and the scale of θ₂ around it.
        num_particles: particles of each nested AIS run.
    """
    log_z = _nested_log_z(potential_fn, sigma2, num_particles)
    mala = blackjax.mala.build_kernel()

    def move(key, theta1, theta2, step_size):
        key_estimate, key_move = jax.random.split(key)

        def logdensity(t):
            return (
                -jnp.sum((t - theta0) ** 2) / (2 * sigma1**2)
                - jnp.sum((theta2 - t) ** 2) / (2 * sigma2**2)
                - log_z(t, key_estimate)
            )

        state = blackjax.mala.init(theta1, logdensity)
        new, info = mala(key_move, state, logdensity, step_size)
        return new.position, info.is_accepted, info.acceptance_rate

    return move


def build_nested_joint_move(
    log_joint_fn: Callable[[Array, Array], Array],
    potential_fn: Callable[[Array], Array],
    sigma2: float,
    *,
    num_particles: int = 64,
):
    """The non-centred move: θ₁ and θ₂ shift together (θ₂ − θ₁ held), by one
    MALA step on the log joint less log Ẑ(θ₁), preconditioned per coordinate.

    Along the ridge of their coupling, where a θ₁ | θ₂ move must crawl in
    steps of τ, this one moves as far as the likelihood and the prior of θ₁
    allow (the interweaving of centred and non-centred moves, Yu & Meng 2011).

    Returns:
        ``move(key, theta1, theta2, step_size, scale) -> (theta1, theta2,
        accepted, probability)``, where ``scale`` (``(d,)``) is the proposal's
        per-coordinate scale: MALA runs on θ₁ / scale.
    """
    log_z = _nested_log_z(potential_fn, sigma2, num_particles)
    mala = blackjax.mala.build_kernel()

    def move(key, theta1, theta2, step_size, scale):
        key_estimate, key_move = jax.random.split(key)
        offset = theta2 - theta1

        def logdensity(x):
            t = scale * x
            return log_joint_fn(t, t + offset) - log_z(t, key_estimate)

        state = blackjax.mala.init(theta1 / scale, logdensity)
        new, info = mala(key_move, state, logdensity, step_size)
        moved = scale * new.position
        # Exactly the old point where rejected, not scale · (θ₁ / scale).
        new_theta1 = jnp.where(info.is_accepted, moved, theta1)
        new_theta2 = jnp.where(info.is_accepted, moved + offset, theta2)
        return new_theta1, new_theta2, info.is_accepted, info.acceptance_rate

    return move
