r"""MCMC moves that leave a tempered Gaussian-base target invariant.

The targets of the annealing path are

$$\log \pi_\beta(\theta) = -\frac{\|\theta - \mu\|^2}{2\sigma^2} - \beta\, U(\theta)
  + \text{const},$$

with $\mu = \theta_1$ the base mean and $U = \lambda C$ the potential. The moves are
blackjax's MALA and HMC kernels run in rescaled coordinates
$z = (\theta - \mu) / s$, where $s$ is a per-coordinate scale (typically the
standard deviation of the particle cloud). A constant linear change of variables
has a constant Jacobian, so a kernel invariant for the density of $z$ is invariant
for $\pi_\beta$ after mapping back: this is diagonal preconditioning without
touching blackjax's kernels, and it works the same way for MALA and HMC.
"""

from collections.abc import Callable
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from samplers.base import PotentialFn

__all__ = ["MOVES", "build_move"]

#: Names accepted by `build_move`.
MOVES = ("mala", "hmc")


class _Config(NamedTuple):
    kind: str
    num_steps: int
    num_integration_steps: int
    step_size_jitter: float


def build_move(
    potential_fn: PotentialFn,
    *,
    kind: str = "mala",
    num_steps: int = 5,
    num_integration_steps: int = 5,
    step_size_jitter: float = 0.2,
    with_potential: bool = False,
) -> Callable[..., tuple[Array, ...]]:
    r"""Build a move: `num_steps` MALA or HMC transitions of every particle.

    Args:
        potential_fn: $U(\theta)$, a scalar function of a flat vector.
        kind: `"mala"` (one gradient per step) or `"hmc"` (`num_integration_steps`
            gradients per step).
        num_steps: transitions per move.
        num_integration_steps: leapfrog steps per HMC transition.
        step_size_jitter: each particle and transition uses
            `step_size * exp(u)`, $u \sim U(-j, j)$. Jitter breaks the resonances of
            HMC with a fixed path length on near-Gaussian targets (a fixed step size
            and path length can return every particle to where it started); it is
            harmless for MALA. The jitter does not depend on the state, so each
            transition stays $\pi_\beta$-invariant.
        with_potential: also return $U$ and $\nabla U$ at the new positions,
            read from the kernels' final states instead of evaluated again
            (one gradient per particle saved; exact up to rounding). Needs
            `beta > 0`: the states hold $-\beta U$ beside the base's term.

    Returns:
        `move(key, positions, potential, potential_grad, beta, mean, sigma, scale,
        step_size) -> (positions, acceptance)`: positions `(n, d)` with their
        potentials `(n,)` and gradients `(n, d)` at the start; returns the new
        positions and the mean acceptance probability, then, `with_potential`,
        the potentials and gradients at the new positions.
    """
    if kind not in MOVES:
        raise ValueError(f"`move` must be one of {MOVES}, got {kind!r}.")
    config = _Config(kind, num_steps, num_integration_steps, step_size_jitter)

    def move(
        key, positions, potential, potential_grad, beta, mean, sigma, scale, step_size
    ):
        num_particles, dim = positions.shape
        # A scalar or a per-coordinate base scale (a fitted reference, see
        # `samplers.reference`).
        sigma = jnp.broadcast_to(jnp.asarray(sigma, positions.dtype), (dim,))

        def logdensity_z(z):
            theta = mean + scale * z
            value = -0.5 * jnp.sum(jnp.square(scale * z / sigma)) - beta * potential_fn(
                theta
            )
            # A potential that computes in float64 (x64 on, float64 data) over
            # float32 particles: the kernels' states keep the particles' type.
            return value.astype(positions.dtype)

        # Build the kernel states from the potential and gradient already known,
        # so that entering a new temperature costs no extra gradient evaluation.
        offset = positions - mean[None, :]
        logdensity = (
            -0.5 * jnp.sum(jnp.square(offset / sigma[None, :]), axis=-1)
            - beta * potential
        ).astype(positions.dtype)
        grad_theta = (
            -offset / jnp.square(sigma[None, :]) - beta * potential_grad
        ).astype(positions.dtype)
        state_type, transition = _transition(config, positions.dtype, dim)
        state = state_type(
            offset / scale[None, :], logdensity, grad_theta * scale[None, :]
        )
        step_size = jnp.asarray(step_size, positions.dtype)

        def one_particle(key, state, eps):
            new_state, info = transition(key, state, logdensity_z, eps)
            return new_state, info.acceptance_rate

        def one_step(state, key):
            key_jitter, key_kernel = jr.split(key)
            jitter = jr.uniform(
                key_jitter,
                (num_particles,),
                dtype=positions.dtype,
                minval=-config.step_size_jitter,
                maxval=config.step_size_jitter,
            )
            keys = jr.split(key_kernel, num_particles)
            state, acceptance = jax.vmap(one_particle)(
                keys, state, step_size * jnp.exp(jitter)
            )
            return state, jnp.mean(acceptance)

        state, acceptance = jax.lax.scan(
            one_step, state, jr.split(key, config.num_steps)
        )
        positions = mean[None, :] + scale[None, :] * state.position
        if not with_potential:
            return positions, jnp.mean(acceptance)
        end_potential, end_grad = _potential_from_states(state, beta, sigma, scale)
        return (
            positions,
            jnp.mean(acceptance),
            end_potential.astype(potential.dtype),
            end_grad.astype(potential_grad.dtype),
        )

    return move


def _potential_from_states(state, beta, sigma, scale) -> tuple[Array, Array]:
    """U and grad U at the kernels' positions, from their log density in z,
    -|scale z / sigma|^2 / 2 - beta U, whose gradient in z is scale times that
    in theta."""
    offset = scale[None, :] * state.position
    base = -0.5 * jnp.sum(jnp.square(offset / sigma[None, :]), axis=-1)
    base_grad = -offset / jnp.square(sigma[None, :])
    potential = (base - state.logdensity) / beta
    grad = (base_grad - state.logdensity_grad / scale[None, :]) / beta
    return potential, grad


def _transition(config, dtype, dim):
    """``(state type, kernel(key, state, logdensity, step_size))`` of the move.

    blackjax's MALA draws its noise in the default float type, so with x64 on it
    turns float32 particles into float64 and its accept/reject ``cond`` fails.
    One leapfrog step of size h is the same transition as MALA's of size h²/2
    (proposal and acceptance alike), and blackjax's HMC keeps the particles'
    type: narrower particles move by that.
    """
    if config.kind == "mala" and dtype == jnp.result_type(float):
        return blackjax.mcmc.mala.MALAState, blackjax.mala.build_kernel()
    as_mala = config.kind == "mala"
    hmc = blackjax.hmc.build_kernel()
    inverse_mass = jnp.ones(dim, dtype=dtype)

    def kernel(key, state, logdensity, step_size):
        return hmc(
            key,
            state,
            logdensity,
            jnp.sqrt(2.0 * step_size) if as_mala else step_size,
            inverse_mass,
            1 if as_mala else config.num_integration_steps,
        )

    return blackjax.mcmc.hmc.HMCState, kernel
