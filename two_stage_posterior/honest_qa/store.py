"""The NetCDF file of one method on one seed: ``samplers``' DataTree, slimmed and
annotated with the honest-QA quantities.

Groups of ``<method>_seed<k>.nc`` (open with ``arviz.from_netcdf`` or
``xarray.open_datatree``):

- ``posterior``: ``theta1``, ``theta2`` (the first ``MAX_STORED_PARAMS``
  coordinates), ``disagreement`` (C on S), ``log_likelihood_total`` and, per
  draw, ``honest_rate``, ``imitation_rate``, ``in_distribution_accuracy``,
  ``instrumental_honest_rate``, ``instrumental_imitation_rate``;
- ``sample_stats``: the sampler's diagnostics (step size, inner acceptance and
  ESS, ...);
- ``observed_data``: the answers the method was trained on;
- ``predictions``: ``intended_answer`` and ``instrumental_answer``, the heads'
  most probable answers, ``(chain, draw, item)``: the test items, then the
  in-distribution ones (``constant_data.item_set`` says which);
- ``constant_data``: ``truth``, ``simple`` (−1 on in-distribution items),
  ``item_set`` (0 test, 1 in-distribution);
- ``log_partition``: ``log_partition`` and ``bits_saved`` at a few draws per
  chain (two-head methods), its ``draw`` coordinate the draws' indices.

Attributes of the root: ``honest_qa_method`` (standard, data_only, ...),
``seed``, and the sampler's own (``method``, ``approximate``, ``theta1_update``,
λ, σ₁, σ₂, ...).
"""

import math

import numpy as np
import xarray as xr

from two_stage_posterior.honest_qa import metrics

__all__ = ["GROUPS", "MAX_STORED_PARAMS", "finish_tree"]

MAX_STORED_PARAMS = 64
GROUPS = ("posterior", "sample_stats", "observed_data", "predictions", "constant_data")


def finish_tree(run, world):
    """Slim ``run.tree`` (θ coordinates) and add the groups above, in place."""
    tree = run.tree
    post = tree["posterior"].to_dataset()
    post = post.isel(param=slice(0, MAX_STORED_PARAMS))
    answers = run.answers
    num_test = len(world.test["truth"])
    truth, simple = world.test["truth"], world.test["simple"]
    honest, imitation = metrics.rates(answers[..., 0, :num_test], truth, simple)
    honest2, imitation2 = metrics.rates(answers[..., 1, :num_test], truth, simple)
    dims = ("chain", "draw")
    post["honest_rate"] = (dims, honest)
    post["imitation_rate"] = (dims, imitation)
    post["instrumental_honest_rate"] = (dims, honest2)
    post["instrumental_imitation_rate"] = (dims, imitation2)
    all_truth, all_simple = truth, simple
    if world.in_distribution is not None:
        in_truth = world.in_distribution["truth"]
        post["in_distribution_accuracy"] = (
            dims,
            np.mean(answers[..., 0, num_test:] == in_truth, axis=-1),
        )
        all_truth = np.concatenate([truth, in_truth])
        all_simple = np.concatenate([simple, np.full(len(in_truth), -1)])
    tree["posterior"] = post
    item_dims = ("chain", "draw", "item")
    tree["predictions"] = xr.Dataset(
        {
            "intended_answer": (item_dims, answers[..., 0, :].astype(np.int16)),
            "instrumental_answer": (item_dims, answers[..., 1, :].astype(np.int16)),
        },
        coords={
            "chain": post["chain"].values,
            "draw": post["draw"].values,
            "item": np.arange(answers.shape[-1]),
        },
    )
    tree["constant_data"] = xr.Dataset(
        {
            "truth": ("item", all_truth),
            "simple": ("item", all_simple),
            "item_set": ("item", (np.arange(len(all_truth)) >= num_test).astype(int)),
        },
        coords={"item": np.arange(len(all_truth))},
    )
    if run.log_z is not None:
        tree["log_partition"] = xr.Dataset(
            {
                "log_partition": (dims, run.log_z),
                "bits_saved": (dims, -run.log_z / math.log(2.0)),
            },
            coords={"chain": post["chain"].values, "draw": run.log_z_draws},
        )
    # ``method`` is the sampler's (sgld, nuts, ...); the experiment's is apart.
    tree.attrs.update(honest_qa_method=run.method, seed=int(run.seed))
    return tree
