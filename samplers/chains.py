"""The chains of one `sample` call: where they start, and their set-up.

Between the method object (:mod:`samplers.methods`) and the kernels' set-ups
(:mod:`samplers.gibbs` for NUTS/HMC, :mod:`samplers.joint` for NUTS/HMC where
there is no log Z, :mod:`samplers.stochastic` for SGLD/SGHMC): it turns the
method's settings into each set-up's arguments.
"""

import jax.numpy as jnp
import jax.random as jr

from samplers import _checks, gibbs, joint, methods, precondition, stochastic

__all__ = ["initial_positions", "setup_chains"]


def initial_positions(key, init, model, num_chains: int, spread: float):
    """θ₁ and θ₂ of every chain, ``(num_chains, d)`` each: ``init`` (``None``
    for θ₀, a MAP result or a pair of points) overdispersed by ``spread``
    prior scales."""
    theta0 = jnp.asarray(model.theta0)
    start1, start2 = _checks.initial_positions(init, theta0, num_chains)
    key1, key2 = jr.split(key)
    shape = (num_chains, start1.shape[-1])
    scale1, scale2 = spread * float(model.sigma1), spread * float(model.sigma2)
    theta1 = start1 + scale1 * jr.normal(key1, shape, start1.dtype)
    theta2 = start2 + scale2 * jr.normal(key2, shape, start2.dtype)
    return theta1, theta2


def setup_chains(
    key,
    target,
    model,
    theta1,
    theta2,
    method,
    *,
    theta1_move: str,
    rejection_batch_size: int,
    batch_size: int,
    adaptive: bool,
    num_warmup: int,
):
    """The chains' states and ``(step, positions, info_fields)`` for ``method``,
    a :mod:`samplers.methods` object; ``step(key, state, index)`` moves one
    chain."""
    sigma2 = float(model.sigma2)
    if method.exact and theta1_move == "joint":
        return joint.setup(
            key,
            target,
            theta1,
            theta2,
            method=method.name,
            num_warmup=num_warmup,
            num_integration_steps=getattr(method, "num_integration_steps", 10),
            dense_mass=method.dense_mass,
        )
    if method.exact:
        move = method.theta1
        nested = methods.nested_move(method)
        return gibbs.setup(
            key,
            target,
            jnp.asarray(model.theta0),
            theta1,
            theta2,
            float(model.sigma1),
            sigma2,
            method=method.name,
            num_warmup=num_warmup,
            num_integration_steps=getattr(method, "num_integration_steps", 10),
            theta1_update=theta1_move,
            nested_particles=(nested or methods.NestedAIS()).particles,
            rejection_batch_size=rejection_batch_size,
            max_rejection_draws=getattr(move, "max_draws", 10**5),
            # The joint trajectory of the move in force.
            joint_steps=(
                nested.joint_steps
                if theta1_move == "nested_ais"
                else getattr(move, "joint_steps", 0)
            ),
            num_bridges=getattr(move, "bridges", 0),
            dense_mass=method.dense_mass,
        )
    if adaptive:
        step_size = precondition.adapted_step(method.name)
    else:
        step_size = method.step_size
    if isinstance(method, methods.SGHMC):
        num_steps = method.trajectory_steps(sigma2, precondition.SGHMC_STEPS)
    else:
        num_steps = 10  # unused by SGLD
    return stochastic.setup(
        key,
        target,
        model,
        theta1,
        theta2,
        sigma2,
        method=method.name,
        step_size=step_size,
        batch_size=batch_size,
        num_inner=method.num_inner,
        num_inner_steps=method.num_inner_steps,
        num_integration_steps=num_steps,
        adaptive=adaptive,
        num_warmup=num_warmup,
        agreement_batch_size=method.agreement_batch_size,
    )
