r"""What ``sample`` keeps of each draw, and its conversion to an ArviZ DataTree.

The record function runs inside the scan, so only the curated arrays it returns
are ever stored: the chosen coordinates of θ₁ and θ₂, C(θ₂), L(θ₂), log Ẑ(θ₁)
every so often, the pointwise log-likelihood, predictions and the kernel's
diagnostics.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from samplers.diagnostics import to_inference_data
from samplers.log_partition import log_partition

__all__ = ["build_record", "to_datatree"]


def build_record(
    model,
    target,
    indices,
    positions_fn,
    fields,
    *,
    num_burn,
    log_partition_every,
    log_partition_particles,
    predict_inputs,
    pointwise,
):
    indices = jnp.asarray(indices)

    def record(key, state, info, draw):
        theta1, theta2 = positions_fn(state)
        # One pass over the answers serves both the total and the pointwise group.
        pointwise_values = model.pointwise_log_likelihood(theta2)
        out = {
            "theta1": theta1[indices],
            "theta2": theta2[indices],
            "disagreement": model.disagreement(theta2),
            "log_likelihood_total": jnp.sum(pointwise_values),
        }
        if log_partition_every and target.lam > 0:

            def estimate(theta1):
                return log_partition(
                    model.disagreement,
                    theta1,
                    lam=target.lam,
                    sigma=model.sigma2,
                    key=key,
                    method="ais",
                    num_particles=log_partition_particles,
                ).log_z

            out["log_partition"] = jax.lax.cond(
                (draw >= num_burn) & ((draw - num_burn) % log_partition_every == 0),
                estimate,
                lambda t: jnp.full((), jnp.nan, t.dtype),
                theta1,
            )
        if pointwise:
            out["pointwise"] = pointwise_values
        if predict_inputs is not None:
            out["predictions"] = model.intended(theta2, predict_inputs)
        for name, get in fields.items():
            out["stat_" + name] = get(info)
        return out

    return record


def to_datatree(records, model, indices, log_partition_every, attrs):
    posterior = {
        name: records[name]
        for name in ("theta1", "theta2", "disagreement", "log_likelihood_total")
    }
    thinned = {}
    if "log_partition" in records:
        log_z = records["log_partition"]
        values = {"log_partition": log_z, "bits_saved": -log_z / math.log(2.0)}
        if log_partition_every == 1:
            posterior.update(values)
        else:
            draws = np.arange(0, log_z.shape[1], log_partition_every)
            thinned["log_partition"] = (
                {name: value[:, draws] for name, value in values.items()},
                draws,
            )
    stats = {n[5:]: v for n, v in records.items() if n.startswith("stat_")}
    dims = {"theta1": ["param"], "theta2": ["param"]}
    coords = {"param": np.asarray(indices)}
    log_likelihood = None
    if "pointwise" in records:
        log_likelihood = {"answers": records["pointwise"]}
        dims["answers"] = ["answer"]
    predictions = None
    if "predictions" in records:
        predictions = {"intended": records["predictions"]}
    return to_inference_data(
        posterior,
        sample_stats=stats,
        log_likelihood=log_likelihood,
        observed_data={"answers": np.asarray(model.answers)},
        predictions=predictions,
        coords=coords,
        dims=dims,
        attrs=attrs,
        thinned_groups=thinned,
    )
