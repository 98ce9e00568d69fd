r"""NUTS/HMC on $(\theta_1, \theta_2)$ jointly, where there is no log Z.

Without $-\log Z(\theta_1)$ (the baselines ``"no_log_partition"`` and
``"single_head"``, or λ = 0) the whole log posterior is known, so one blackjax
NUTS or HMC kernel moves both blocks at once, as numpyro would on the same
density. A Gibbs sweep between them crawls: the prior couples each θ₂ⱼ to θ₁ⱼ
with correlation $\sigma_1/\sqrt{\sigma_1^2+\sigma_2^2}$ (0.9 at σ₂ = σ₁/2),
and the joint kernel's ESS per draw was 13–16× the sweep's on the benchmark of
docs/benchmarks.md. The mass matrix (diagonal) and the step size come from
blackjax's window adaptation, per chain (dense with ``dense_mass``).
"""

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from samplers.programs import Deferred, filter_jit

__all__ = ["JointChain", "setup", "window_adapt"]


class JointChain(NamedTuple):
    """One chain: the HMC state of the stacked ``(θ₁, θ₂)`` and its adapted
    kernel parameters."""

    state: blackjax.mcmc.hmc.HMCState
    step_size: Array
    inverse_mass_matrix: Array


def window_adapt(
    key,
    logdensity,
    position,
    *,
    method,
    num_warmup,
    num_integration_steps,
    dense_mass=False,
):
    """blackjax window adaptation of one chain for NUTS or HMC: its state, step
    size and inverse mass matrix (diagonal, or dense with ``dense_mass``)."""
    algorithm = blackjax.nuts if method == "nuts" else blackjax.hmc
    extra = {} if method == "nuts" else {"num_integration_steps": num_integration_steps}
    adaptation = blackjax.window_adaptation(
        algorithm, logdensity, is_mass_matrix_diagonal=not dense_mass, **extra
    )
    (state, parameters), _ = adaptation.run(key, position, num_steps=max(num_warmup, 1))
    return state, parameters["step_size"], parameters["inverse_mass_matrix"]


def setup(
    key,
    target,
    theta1,
    theta2,
    *,
    method,
    num_warmup,
    num_integration_steps,
    dense_mass=False,
):
    """Window adaptation of every chain, then its states and
    ``(step, positions, info_fields)``.

    Args:
        key: a typed key.
        target: a ``Target`` without −log Z (``include_log_partition`` False).
        theta1, theta2: ``(num_chains, d)`` starting points.
        method: ``"nuts"`` or ``"hmc"``.
        num_warmup: adaptation steps.
        num_integration_steps: HMC's path length in leapfrog steps.
        dense_mass: adapt a dense mass matrix, not a diagonal one.
    """
    if target.include_log_partition:
        raise ValueError("The joint kernel needs a target without −log Z.")
    options = dict(
        method=method,
        num_warmup=num_warmup,
        num_integration_steps=num_integration_steps,
        dense_mass=dense_mass,
    )
    positions = jnp.concatenate([theta1, theta2], axis=1)
    chains = _adapt(
        jr.split(key, theta1.shape[0]), target.log_joint, positions, options
    )
    # Deferred, of the target's function: a program that a model of the same
    # shapes finds again (samplers.programs).
    step = Deferred(
        _step_of, target.log_joint, method, num_integration_steps, theta1.shape[1]
    )
    return chains, (step, _positions, _INFO_FIELDS)


def _stacked(log_joint, dim):
    def logdensity(position):
        return log_joint(position[:dim], position[dim:])

    return logdensity


@filter_jit
def _adapt(keys, log_joint, positions, options):
    logdensity = _stacked(log_joint, positions.shape[1] // 2)

    def adapt(key, position):
        state, step_size, inverse_mass = window_adapt(
            key, logdensity, position, **options
        )
        return JointChain(state, step_size, inverse_mass)

    return jax.vmap(adapt)(keys, positions)


def _step_of(log_joint, method, num_integration_steps, dim):
    logdensity = _stacked(log_joint, dim)
    extra = {} if method == "nuts" else {"num_integration_steps": num_integration_steps}
    kernel = (
        blackjax.nuts.build_kernel()
        if method == "nuts"
        else blackjax.hmc.build_kernel()
    )

    def step(key, chain: JointChain, index):
        del index  # adapted before the run: every step is the same kernel
        state, info = kernel(
            key,
            chain.state,
            logdensity,
            chain.step_size,
            chain.inverse_mass_matrix,
            **extra,
        )
        steps = (
            info.num_integration_steps
            if method == "nuts"
            else jnp.asarray(num_integration_steps)
        )
        return chain._replace(state=state), _JointInfo(
            info.acceptance_rate, info.is_divergent, steps, info.energy
        )

    return step


def _positions(chain: JointChain):
    position = chain.state.position
    dim = position.shape[-1] // 2
    return position[..., :dim], position[..., dim:]


class _JointInfo(NamedTuple):
    acceptance_rate: Array
    is_divergent: Array
    num_integration_steps: Array
    energy: Array


# sample_stats fields of the joint kernel, from its info.
_INFO_FIELDS = {
    "acceptance_rate": lambda info: info.acceptance_rate,
    "diverging": lambda info: info.is_divergent,
    "n_steps": lambda info: info.num_integration_steps,
    "energy": lambda info: info.energy,
}
