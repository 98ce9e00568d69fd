"""`samplers.tempered_smc` against the exact mechanism case, where MCMC chains
keep to the mode they start in and only the masses answer the question.

Eight independent runs of 1,024 particles at κ = 25 (σ₁ = 0.4, σ₂ = 0.1). The
mean of the runs' P(honest) must lie within t·SE of the grid's exact value,
SE = sd/√8, t Student's with 7 degrees of freedom at a two-sided 1e-3 (the
false-failure rate). Power: SE is about 0.025, so the bound is about 0.14,
while the answers of a method that lost the conditioning sit 0.24 (single head,
0.123) and 0.28 (penalty only, 0.078) from the two-stage 0.362. Keys from
``stat_key``; passes under ``--stat-key-offset`` 0..5 (checked 2026-12-06).
The large-sample accuracy (within 0.012 at 65,536 particles) is
benchmarks/mechanism_smc.py's.
"""

import math

import jax.random as jr
import numpy as np
import pytest
from scipy.stats import t as student_t

import posterior
import samplers
from posterior.mechanism import is_honest

NUM_RUNS = 8


@pytest.fixture(scope="module")
def case():
    return posterior.MechanismCase(25.0, 0.4, 0.1)


@pytest.mark.statistical
def test_the_runs_weigh_the_modes_as_the_grid_does(case, stat_key):
    tree = samplers.tempered_smc(
        case.model, key=stat_key(40), num_particles=1024, num_runs=NUM_RUNS
    )
    theta2 = np.moveaxis(np.asarray(tree.posterior["theta2"]), -1, 0)
    per_run = np.asarray(is_honest(theta2), dtype=float).mean(axis=1)
    se = per_run.std(ddof=1) / math.sqrt(NUM_RUNS)
    allowed = student_t.ppf(1 - 1e-3 / 2, NUM_RUNS - 1) * se
    error = per_run.mean() - case.p_honest()
    assert abs(error) <= allowed, (error, allowed)
    assert allowed < 0.2, "the bound lost its power against a method without Z"
    assert tree.posterior["theta1"].shape == (NUM_RUNS, 1024, 2)
    assert set(tree.children) >= {"posterior", "log_likelihood", "observed_data"}
    assert tree.attrs["method"] == "tempered_smc"
    assert "distinct_theta1" in tree.attrs
    # Named as `sample` names them, so that `compare_runs` pairs the runs.
    assert tree.attrs["baseline"] == "two_stage" and tree.attrs["approximate"] == 1
    assert tree.attrs["lam"] == case.model.lam
    # L(θ₂) of each draw is the model's own, independently evaluated.
    draw = np.asarray(tree.posterior["theta2"])[0, 0]
    total = float(tree.posterior["log_likelihood_total"][0, 0])
    assert np.isclose(total, float(case.model.log_likelihood(draw)), rtol=1e-10)


def test_a_single_run_and_stuck_moves_are_warned_about(case):
    with pytest.warns(samplers.SamplingWarning, match="no standard error.*under 20%"):
        samplers.tempered_smc(
            case.model, key=jr.key(0), num_particles=64, num_runs=1, step_size=1.0
        )


def test_the_penalty_only_baseline_is_refused_by_name(case):
    with pytest.raises(ValueError, match="`baseline`.*Z"):
        samplers.tempered_smc(
            case.model, key=jr.key(0), num_particles=8, baseline="no_log_partition"
        )
    with pytest.raises(ValueError, match="`num_particles`"):
        samplers.tempered_smc(case.model, key=jr.key(0), num_particles=1)
    with pytest.raises(ValueError, match="`target_ess`"):
        samplers.tempered_smc(case.model, key=jr.key(0), target_ess=1.5)
