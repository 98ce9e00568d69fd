"""The default world poses the honest-QA question (DESIGN.md): one head trained
on D alone imitates the human on the held-out kind more often than it answers
honestly, at the MAP and under the posterior.

Measured at the default world and network sizes with the experiment's own code
(`run_experiment`), three world seeds. The rates are means over seeds; over ten
seeds the MAP imitated on nine, by 0.5 on average (docs/honest_qa.md), so a
three-seed mean below zero would need two seeds of the rare kind. The posterior
half uses the experiment's SGLD, shortened here to one chain of 100 steps
from θ₀'s MAP (the time goes to compiling and to the MAP), whose chains do not
pass their diagnostics (no posterior row of the experiment does): it checks
what the experiment reports, not a converged posterior.

Checked under --stat-key-offset 0-5 (the world seeds move with the offset).
"""

import dataclasses

import pytest

from two_stage_posterior.honest_qa.config import ExperimentConfig
from two_stage_posterior.honest_qa.runner import run_experiment
from two_stage_posterior.honest_qa.world import WorldConfig

pytestmark = pytest.mark.statistical


def _config(world: WorldConfig, seeds) -> ExperimentConfig:
    config = ExperimentConfig(world=world, methods=("data_only",), seeds=seeds)
    # One start (θ₀'s MAP) and one chain: the default eight starts would cost
    # eight MAP fits per world here.
    sampler = dataclasses.replace(
        config.sampler, num_chains=1, num_warmup=20, num_samples=80
    )
    return dataclasses.replace(config, sampler=sampler)


def test_data_only_imitates_in_the_default_world_and_not_where_occlusion_shows(
    stat_seed,
):
    seeds = tuple(stat_seed(s) for s in range(3))
    results = run_experiment(
        _config(WorldConfig(), seeds), progress=False, echo=lambda text: None
    )
    assert results.precondition["holds"], results.precondition["text"]

    # The check can fail: where an occluded object shows in x as strongly as a
    # visible one, the truth is as cheap as the copy and D alone answers
    # honestly (0.62 against 0.20 at the MAP over six seeds; not on every
    # seed: world 1000 imitates). The same shapes: in this process the
    # programs compiled above serve here.
    plain = WorldConfig(occluded_trace=1.0)
    results = run_experiment(
        _config(plain, seeds), progress=False, echo=lambda text: None
    )
    assert results.precondition["holds"] is False, results.precondition["text"]
