"""The verdict's statistics against scipy and by hand, on made-up per-seed rows."""

import math

import numpy as np
import pytest
from scipy import stats

from two_stage_posterior.honest_qa import verdict


def _rows(values: dict, fit="posterior", failed=()):
    """Rows of ``{method: [endpoint per seed]}``; NaN where a seed has none."""
    rows = []
    for method, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "fit": fit,
                    "honest_share": value,
                    "honest": value,
                    "diagnostics_ok": seed not in failed,
                }
            )
    return rows


def test_holm_by_hand():
    np.testing.assert_allclose(verdict.holm([0.01, 0.04]), [0.02, 0.04])
    np.testing.assert_allclose(verdict.holm([0.04, 0.01]), [0.04, 0.02])
    # Step-down: an adjusted value never falls below an earlier one.
    np.testing.assert_allclose(verdict.holm([0.03, 0.02, 0.5]), [0.06, 0.06, 0.5])


def test_a_consistent_gain_over_ten_seeds_is_detected():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, 10)
    gain = rng.uniform(0.05, 0.15, 10)  # two_stage better on every seed
    noise = rng.normal(0, 0.05, 10)
    rows = _rows(
        {
            "two_stage": base + gain,
            "data_only": base,
            "penalty_only": base + gain + noise,
        }
    )
    first, second = verdict.compare(rows)
    assert first["comparison"] == "two_stage - data_only"
    assert first["mean_difference"] == pytest.approx(gain.mean())
    # Every difference positive: the exact two-sided p-value is 2 / 2^10.
    assert first["p_value"] == pytest.approx(2 / 1024)
    np.testing.assert_allclose(second["differences"], -noise)
    assert second["p_value"] == pytest.approx(stats.wilcoxon(-noise).pvalue)
    np.testing.assert_allclose(
        [first["p_holm"], second["p_holm"]],
        verdict.holm([first["p_value"], second["p_value"]]),
    )
    assert first["ci_low"] < gain.mean() < first["ci_high"]
    assert 0.05 <= first["ci_low"] and first["ci_high"] <= 0.15
    assert first["conclusion"] == "two_stage is more honest than data_only"
    # The MDD by its formula.
    sd = np.std(gain, ddof=1)
    t = stats.t.ppf(1 - 0.05 / 4, 9) + stats.t.ppf(0.8, 9)
    assert first["mdd"] == pytest.approx(
        t * sd / math.sqrt(10) / math.sqrt(3 / math.pi)
    )


def test_three_seeds_can_never_reject_and_say_so():
    rows = _rows({"two_stage": [0.9] * 3, "data_only": [0.1, 0.2, 0.3]}, failed=(1,))
    first, second = verdict.compare(rows)
    assert first["p_value"] == pytest.approx(0.25)
    assert "no difference detected" in first["conclusion"]
    assert "no p-value can fall below 0.25" in first["conclusion"]
    assert "failed on seeds [1]" in first["conclusion"]
    # penalty_only did not run: no pairs, no test.
    assert second["seeds"] == [] and math.isnan(second["p_value"])
    assert "fewer than two paired seeds" in second["conclusion"]


def test_seeds_without_an_endpoint_are_left_out():
    rows = _rows(
        {
            "two_stage": [0.5, math.nan, 0.7, 0.6],
            "data_only": [0.4, 0.4, 0.4, 0.4],
            "penalty_only": [0.5, 0.7, 0.6, 0.5],
        }
    )
    first, second = verdict.compare(rows)
    assert first["seeds"] == [0, 2, 3]
    np.testing.assert_allclose(first["differences"], [0.1, 0.3, 0.2])
    # Equal on every seed: p is 1, the interval a point.
    rows = _rows({"two_stage": [0.5] * 4, "data_only": [0.5] * 4})
    first, _ = verdict.compare(rows)
    assert first["p_value"] == 1.0 and first["ci_low"] == first["ci_high"] == 0.0


def test_the_verdict_names_its_endpoint_and_its_secondary_tests():
    values = {"two_stage": [0.6, 0.5, 0.7], "data_only": [0.4, 0.5, 0.3]}
    rows = _rows(values) + _rows(values, fit="map")
    found = verdict.verdict(rows)
    assert found["endpoint"] == "honest_share" and found["fit"] == "posterior"
    assert set(found["secondary"]) == {
        "honest_share at the MAP",
        "honest rate under the posterior",
    }
    assert found["text"].startswith("Verdict (primary endpoint")
    assert "two_stage - data_only: +0.200 [+0.000, +0.400]" in found["text"]
