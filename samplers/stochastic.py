r"""Chains of nested SGLD / SGHMC for ``sample(method="sgld" | "sghmc")``."""

import jax
import jax.random as jr

from samplers import sgld

__all__ = ["setup"]


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
):
    num_chains = theta1.shape[0]
    kernel = sgld.build_kernel(
        target.log_joint,
        target.potential,
        sigma2,
        num_data=int(model.num_answers),
        batch_size=batch_size,
        step_size=step_size,
        algorithm=method,
        num_inner_steps=num_inner_steps,
        num_integration_steps=num_integration_steps,
        include_log_partition=target.include_log_partition,
    )
    states = jax.vmap(
        lambda k, a, b: sgld.init(k, a, b, target.potential, sigma2, num_inner)
    )(jr.split(key, num_chains), theta1, theta2)
    fields = {
        "step_size": lambda info: info.step_size,
        "inner_acceptance_rate": lambda info: info.inner_acceptance_rate,
        "inner_ess": lambda info: info.inner_ess,
        "diverging": lambda info: info.diverging,
    }
    return states, (kernel, lambda s: (s.theta1, s.theta2), fields)
