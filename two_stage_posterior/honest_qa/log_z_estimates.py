"""The experiment's AIS estimates of log Z(θ₁): the table's runs (its bits
saved, one `samplers.log_partition` call each) and the inference checks at a
MAP, which measure the table's budget against larger ones and against a
reference whose moves mix."""

from collections.abc import Callable

import jax.numpy as jnp
import jax.random as jr
import numpy as np

import samplers
from two_stage_posterior.honest_qa.config import SamplerConfig

__all__ = ["REFERENCE_MOVE", "inference_checks", "log_z_fn", "log_z_runs"]


# The reference's AIS moves: HMC, 2 moves of 10 leapfrog steps per
# temperature. At seed 0's two-stage MAP (1,358 parameters, 256 particles, four
# keys) they agreed within 0.7 nats (sd 0.3, as their SEs said), where the
# default move (MALA, 5 steps) spread over 20 nats and sat 5-25 nats low
# (docs/honest_qa.md).
REFERENCE_MOVE = {"move": "hmc", "num_mcmc_steps": 2, "num_integration_steps": 10}


def inference_checks(model, fit, sampler: SamplerConfig, key) -> dict:
    """At a MAP: log Ẑ(θ₁) by AIS with each of ``sampler.check_particles``
    (``check_repeats`` runs each, the table's estimator) and by a reference of
    ``check_reference_particles`` with HMC moves (:data:`REFERENCE_MOVE`),
    each run's ``island_z`` (beyond ±4: its moves did not mix), C at θ₁ and
    θ₂, and the log posterior log p̃ − log Ẑ with the reference (else the
    largest budget). AIS's log Ẑ is biased low (by about half its variance,
    where it is near Gaussian), and the table's moves mix poorly at network
    scale, so its estimates sit below the reference's by more than their
    spread: the checks show that bias in the bits saved, which a single
    budget's SE cannot."""
    estimates, island_z = {}, {}
    for index, count in enumerate(sampler.check_particles):
        keys = jr.split(jr.fold_in(key, index), sampler.check_repeats)
        runs = log_z_runs(model, count)([fit.theta1] * len(keys), keys)
        estimates[str(count)] = [float(r.log_z) for r in runs]
        island_z[str(count)] = [float(r.island_z) for r in runs]
    checks = {"log_z": estimates, "island_z": island_z}
    best = estimates[str(max(sampler.check_particles))]
    if sampler.check_reference_particles:
        keys = jr.split(
            jr.fold_in(key, len(sampler.check_particles)), sampler.check_repeats
        )
        runs = log_z_runs(model, sampler.check_reference_particles, **REFERENCE_MOVE)(
            [fit.theta1] * len(keys), keys
        )
        best = [float(r.log_z) for r in runs]
        checks["reference"] = {
            "particles": sampler.check_reference_particles,
            "move": dict(REFERENCE_MOVE),
            "log_z": best,
            "log_z_se": [float(r.log_z_se) for r in runs],
            "island_z": [float(r.island_z) for r in runs],
        }
    log_joint = float(fit.log_joint)
    return {
        **checks,
        "table_particles": sampler.log_partition_particles,
        "disagreement_theta1": float(model.disagreement(fit.theta1)),
        "disagreement_theta2": float(model.disagreement(fit.theta2)),
        "log_joint": log_joint,
        "log_posterior": log_joint - float(np.mean(best)),
    }


def log_z_fn(model, num_particles: int) -> Callable:
    """``(thetas (n, d), keys (n,)) -> (n,)`` log Ẑ(θ₁) by AIS, one run each."""
    runs = log_z_runs(model, num_particles)
    return lambda thetas, keys: np.array([float(r.log_z) for r in runs(thetas, keys)])


def log_z_runs(model, num_particles: int, **moves) -> Callable:
    """``(thetas (n, d), keys (n,)) -> [LogPartitionResult]``, one AIS run each
    (``moves``: other settings of the AIS moves than the default).

    A plain loop over ``samplers.log_partition`` calls: they share the compiled
    program of ``find_map``'s own estimate at the optimum (same function, same
    particle count), where a vmapped or jitted wrapper would compile another.
    """

    def runs(thetas, keys):
        return [
            samplers.log_partition(
                model.disagreement,
                jnp.asarray(theta, model.theta0.dtype),
                lam=model.lam,
                sigma=model.sigma2,
                key=key,
                method="ais",
                num_particles=num_particles,
                # find_map's path, whose program this shares.
                reference="prior",
                **moves,
            )
            for theta, key in zip(thetas, keys, strict=True)
        ]

    return runs
