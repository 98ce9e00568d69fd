"""`compare_runs`: whether two runs differ beyond Monte Carlo error, and which
to trust.

False-alarm rates: the calibration test counts alarms over 200 comparisons of
identically distributed, autocorrelated runs at level 0.05 and bounds the count
by the binomial's 1 - 1e-3 quantile, so it fails falsely at most 1e-3 of the
time; the shifted-mean tests have a power above 1 - 1e-6 (z ≈ 9 against a
threshold of 2.6). Two halves of a real run are compared in test_sample.py,
whose run they reuse. Seeds from ``stat_seed``; passes under
``--stat-key-offset`` 0..5 (checked 2026-12-06).
"""

import numpy as np
import pytest
from scipy.stats import binom

import samplers
from samplers.diagnostics import to_inference_data


def _run(rng, shift=0.0, rho=0.0, approximate=0, chains=4, draws=500, **attrs):
    """A run whose chains are AR(1) around ``shift`` with unit marginal sd."""
    noise = rng.normal(size=(chains, draws))
    values = np.empty_like(noise)
    values[:, 0] = noise[:, 0]
    for t in range(1, draws):
        values[:, t] = rho * values[:, t - 1] + np.sqrt(1 - rho**2) * noise[:, t]
    return to_inference_data(
        {"disagreement": values + shift},
        attrs={"baseline": "two_stage", "approximate": approximate, **attrs},
    )


@pytest.mark.statistical
def test_alarms_on_equal_autocorrelated_runs_stay_at_the_level(stat_seed):
    # With ρ = 0.9 an MCSE from the raw draw count would be √19 too small and
    # alarm most of the time; the ESS-based one must keep the level.
    rng = np.random.default_rng(stat_seed(1))
    trials, level = 200, 0.05
    alarms = sum(
        not samplers.compare_runs(
            _run(rng, rho=0.9), _run(rng, rho=0.9), level=level
        ).agree
        for _ in range(trials)
    )
    print(f"{alarms} alarms in {trials}")
    assert alarms <= binom.ppf(1 - 1e-3, trials, level), alarms


@pytest.mark.statistical
def test_a_shifted_approximate_run_loses_to_an_exact_one(stat_seed):
    rng = np.random.default_rng(stat_seed(2))
    exact, biased = _run(rng), _run(rng, shift=0.3, approximate=1)
    result = samplers.compare_runs(exact, biased)
    assert not result.agree
    assert result.doubts[0] == [] and result.doubts[1]
    assert "Trust the first run" in result.verdict
    assert "approximate" in result.verdict
    swapped = samplers.compare_runs(biased, exact)
    assert "Trust the second run" in swapped.verdict


@pytest.mark.statistical
def test_two_doubtful_runs_that_differ_get_a_rerun_not_a_winner(stat_seed):
    rng = np.random.default_rng(stat_seed(3))
    result = samplers.compare_runs(
        _run(rng, approximate=1), _run(rng, shift=0.3, approximate=1)
    )
    assert not result.agree
    assert "Neither run" in result.verdict and "larger budget" in result.verdict


def test_nan_draws_count_as_a_difference():
    rng = np.random.default_rng(0)
    broken = _run(rng)
    broken.posterior["disagreement"][1, :] = np.nan
    result = samplers.compare_runs(_run(rng), broken)
    assert not result.agree
    assert "Trust the first run" in result.verdict


def test_runs_of_different_posteriors_or_variables_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="different posteriors.*lam"):
        samplers.compare_runs(_run(rng, lam=1.0), _run(rng, lam=2.0))
    with pytest.raises(ValueError, match="var_names"):
        samplers.compare_runs(_run(rng), _run(rng), var_names=["theta1"])
    with pytest.raises(ValueError, match="level"):
        samplers.compare_runs(_run(rng), _run(rng), level=1.5)
    with pytest.raises(TypeError, match="second"):
        samplers.compare_runs(_run(rng), {"posterior": None})


def test_other_stored_coordinates_are_not_compared():
    rng = np.random.default_rng(0)

    def run(indices):
        return to_inference_data(
            {"theta1": rng.normal(size=(2, 100, 2))},
            coords={"param": np.asarray(indices)},
            dims={"theta1": ["param"]},
            attrs={"baseline": "two_stage"},
        )

    with pytest.raises(ValueError, match="share no numeric variable"):
        samplers.compare_runs(run([0, 7]), run([0, 5]))
    assert samplers.compare_runs(run([0, 7]), run([0, 7])).z["theta1"].shape == (2,)
