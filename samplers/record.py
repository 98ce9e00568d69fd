r"""What ``sample`` keeps of each draw, and its conversion to an ArviZ DataTree.

The record function runs inside the scan, so only the curated arrays it returns
are ever stored: the chosen coordinates of θ₁ and θ₂, C(θ₂), L(θ₂), log Ẑ(θ₁)
every so often, the pointwise log-likelihood, predictions and the kernel's
diagnostics.
"""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from samplers.diagnostics import to_inference_data
from samplers.estimate import estimate_log_z
from samplers.log_z_types import LogZConfig

__all__ = [
    "build_record",
    "default_log_partition_every",
    "inputs_as_data",
    "to_datatree",
]


def default_log_partition_every(num_params, num_samples, *, exact, baseline) -> int:
    """``sample``'s default record frequency of log Z (0: none)."""
    if baseline is not None:
        return 0  # a baseline's log Z costs time nobody asked for
    if not exact and num_params > 100:
        # Measured on a 4.3k-parameter network (docs/benchmarks.md): one record
        # costs as much as 200-900 SGLD steps, and moves by 10³ nats with its
        # budget. Records there are the user's choice, not a default.
        return 0
    return 1 if num_params <= 100 else max(1, num_samples // 10)


def build_record(
    model,
    potential,
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
    """``record(key, state, info, draw) -> dict`` of the arrays kept of a draw.

    ``potential`` is the target's λC, for the records of log Z (every
    ``log_partition_every``-th kept draw; 0 for none, as for the single-head
    baseline, whose λ is 0).
    """
    indices = jnp.asarray(indices)
    config = LogZConfig(num_particles=log_partition_particles)
    predictive = getattr(model, "predictive", None)
    probabilities_fn = getattr(model, "probabilities", lambda *_: None)

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
        if log_partition_every:

            def estimate(theta1):
                # A NaN θ₁ (flagged elsewhere) gets NaN records, not an annealing
                # run that would spend its whole budget on NaN weights.
                finite = jnp.all(jnp.isfinite(theta1))
                result = estimate_log_z(
                    key,
                    potential,
                    jnp.where(finite, theta1, model.theta0),
                    model.sigma2,
                    config,
                )
                values = (
                    result.log_z,
                    result.ess / log_partition_particles,
                    result.log_z_se,
                    (~result.annealing.reached_end).astype(theta1.dtype),
                    result.island_z,
                )
                return tuple(jnp.where(finite, v, jnp.nan) for v in values)

            def skip(theta1):
                return (jnp.full((), jnp.nan, theta1.dtype),) * 5

            # The predicate must be the same for every chain: under the chains'
            # vmap a per-chain predicate turns the cond into a select, and the
            # annealing run then costs every step, warm-up included.
            due = (draw >= num_burn) & ((draw - num_burn) % log_partition_every == 0)
            log_z, ess, se, capped, island_z = jax.lax.cond(due, estimate, skip, theta1)
            out["log_partition"] = log_z
            out["stat_log_partition_ess"] = ess
            out["stat_log_partition_se"] = se
            out["stat_log_partition_capped"] = capped
            out["stat_log_partition_island_z"] = island_z
        if pointwise:
            out["pointwise"] = pointwise_values
            # Decided when tracing: a likelihood without a distribution has no
            # answers to draw.
            answers = predictive(jr.fold_in(key, 1), theta2) if predictive else None
            if answers is not None:
                out["predictive"] = answers
        if predict_inputs is not None:
            out["predictions"] = model.intended(theta2, predict_inputs)
            probabilities = probabilities_fn(theta2, predict_inputs)
            if probabilities is not None:
                out["probabilities"] = probabilities
        for name, get in fields.items():
            out["stat_" + name] = get(info)
        return out

    return record


def to_datatree(
    records, model, indices, log_partition_every, attrs, predict_inputs=None
):
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
    predictive = None
    if "predictive" in records:
        predictive = {"answers": records["predictive"]}
    dims["answer_inputs"] = ["answer", "input_dim"]
    dims["theta0"] = ["all_param"]
    dims["inputs"] = ["new_input", "input_dim"]
    predictions = None
    if "predictions" in records:
        predictions = {"intended": records["predictions"]}
        dims["intended"] = ["new_input"]
        if "probabilities" in records:
            dims["intended"] = ["new_input", "class"][: records["predictions"].ndim - 2]
            predictions["probabilities"] = records["probabilities"]
            # (new_input, class), or (new_input,) for P(answer = 1).
            dims["probabilities"] = ["new_input", "class"][
                : records["probabilities"].ndim - 2
            ]
    return to_inference_data(
        posterior,
        sample_stats=stats,
        log_likelihood=log_likelihood,
        posterior_predictive=predictive,
        observed_data={"answers": np.asarray(model.answers)},
        # θ₀ rebuilds the posterior with the run's settings (samplers.runs).
        constant_data={
            "theta0": np.asarray(model.theta0),
            **(inputs_as_data(model.answer_inputs, "answer_inputs") or {}),
        },
        predictions=predictions,
        predictions_constant_data=inputs_as_data(predict_inputs, "inputs"),
        coords=coords,
        dims=dims,
        attrs=attrs,
        thinned_groups=thinned,
    )


def inputs_as_data(inputs, name):
    """One array of inputs as ``{name: (examples, input_dim)}``, a row per
    example (pairs flattened); ``None`` for none or a pytree of inputs."""
    leaves = jax.tree.leaves(inputs)
    if len(leaves) != 1:
        return None
    values = np.asarray(leaves[0])
    return {name: values.reshape(values.shape[0], -1)}
