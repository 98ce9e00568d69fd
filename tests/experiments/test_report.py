"""Metrics, summaries, tables and NetCDF files from hand-made runs (no sampling)."""

import dataclasses
import math

import arviz as az
import numpy as np
import pytest

from samplers.diagnostics import to_inference_data
from two_stage_posterior.honest_qa import metrics, outputs, report, store
from two_stage_posterior.honest_qa.experiment import MethodRun
from two_stage_posterior.honest_qa.world import WorldConfig, make_world

WORLD = make_world(
    WorldConfig(num_agreement=30, num_test=12, num_in_distribution=6, x_dim=6), seed=0
)
NUM_ITEMS = 12 + 6


def test_rates_and_classes_by_hand():
    truth, simple = np.array([2, 3, 1, 1]), np.array([1, 1, 0, 0])
    answers = np.array([[2, 3, 1, 0], [1, 1, 0, 0], [2, 1, 5, 5]])
    honest, imitation = metrics.rates(answers, truth, simple)
    np.testing.assert_allclose(honest, [0.75, 0.0, 0.25])
    np.testing.assert_allclose(imitation, [0.25, 1.0, 0.25])
    classes = metrics.classify(honest, imitation)
    np.testing.assert_array_equal(classes, [0, 1, 2])
    table = metrics.pair_counts(classes, np.array([1, 1, 0]))
    assert table.tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 0]]


def test_constant_series_get_no_rhat_and_no_warning():
    out = metrics.convergence(
        {"flat": np.ones((2, 10)), "noise": np.arange(20.0).reshape(2, 10)}
    )
    assert all(math.isnan(v) for v in out["flat"])
    assert math.isfinite(out["noise"][0])


def _run(method, seed, *, two_heads, chains=2, draws=30, world=WORLD):
    rng = np.random.default_rng(seed)
    truth = np.concatenate([world.test["truth"], world.in_distribution["truth"]])
    simple = np.concatenate([world.test["simple"], world.in_distribution["truth"]])
    # Each head answers truthfully, like the human, or at random, item by item.
    pick = rng.integers(0, 3, (chains, draws, 2, NUM_ITEMS))
    noise = rng.integers(0, WORLD.num_answers, pick.shape)
    answers = np.where(pick == 0, truth, np.where(pick == 1, simple, noise))
    tree = to_inference_data(
        {
            "theta1": rng.normal(size=(chains, draws, 100)),
            "theta2": rng.normal(size=(chains, draws, 100)),
            "disagreement": rng.gamma(2.0, size=(chains, draws)),
            "log_likelihood_total": rng.normal(-50, 1, size=(chains, draws)),
        },
        sample_stats={"inner_ess": np.full((chains, draws), 3.0)},
        observed_data={"answers": world.answers["answer"]},
        coords={"param": np.arange(100)},
        dims={"theta1": ["param"], "theta2": ["param"]},
    )
    return MethodRun(
        method,
        seed,
        map_answers=answers[0, -1],
        map_disagreement=0.5,
        map_log_z=rng.normal(-10, 0.3, 3) if two_heads else np.zeros(0),
        answers=answers,
        tree=tree,
        log_z=rng.normal(-12, 1, (chains, 2)) if two_heads else None,
        log_z_draws=np.array([29, 0]) if two_heads else None,
        warnings=["ConvergenceWarning: not mixed"],
        seconds=1.0,
    )


@pytest.fixture(scope="module")
def rows():
    out = []
    for seed in (0, 1):
        out += metrics.summarise(_run("data_only", seed, two_heads=False), WORLD)
        out += metrics.summarise(_run("two_stage", seed, two_heads=True), WORLD)
    return out


def test_rows_hold_rates_in_unit_interval(rows):
    assert {(r["method"], r["fit"]) for r in rows} == {
        (m, f) for m in ("data_only", "two_stage") for f in ("map", "posterior")
    }
    for row in rows:
        for head in ("", "instrumental_"):
            honest, imitation = row[head + "honest"], row[head + "imitation"]
            assert 0 <= honest <= 1 and 0 <= imitation <= 1
            assert honest + imitation <= 1 + 1e-12
        assert 0 <= row["in_distribution_accuracy"] <= 1
        assert row["honest_low"] <= row["honest"] <= row["honest_high"]
        assert np.sum(row["head_pairs"]) == (1 if row["fit"] == "map" else 60)
    two_stage = [r for r in rows if r["method"] == "two_stage"]
    assert all(
        math.isfinite(r["bits_saved"]) and r["bits_saved"] > 0 for r in two_stage
    )
    assert all(math.isnan(r["bits_saved"]) for r in rows if r["method"] == "data_only")


def test_random_chains_fail_their_diagnostics_and_the_table_says_so(rows):
    posterior = [r for r in rows if r["fit"] == "posterior"]
    # Independent noise mixes; the check must then pass on R-hat and fail on ESS
    # only where 60 draws give less than 100.
    assert all(not r["diagnostics_ok"] for r in posterior)
    assert all(any("ESS" in p for p in r["problems"]) for r in posterior)
    summaries = report.aggregate(rows, ("data_only", "two_stage"))
    assert [(s["method"], s["fit"]) for s in summaries] == [
        ("data_only", "map"),
        ("data_only", "posterior"),
        ("two_stage", "map"),
        ("two_stage", "posterior"),
    ]
    table = report.format_table(summaries)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["method", "fit", "honest"]
    # The chains are local posteriors, and the table says so.
    posterior_lines = [line for line in lines if line.split()[1:2] == ["local"]]
    assert len(posterior_lines) == 2
    assert all(
        "FAIL on seeds [0, 1]" in line and "(" in line for line in posterior_lines
    )
    assert "honest mass" in lines[0] and all(" SE " in line for line in posterior_lines)
    pairs = report.format_pairs(summaries)
    assert "two_stage (posterior, 120 draws)" in pairs
    assert "ESS" in report.format_diagnostics(rows)


def test_local_masses_are_shares_per_chain_with_their_spread_over_chains():
    honest = np.array([[0.8, 0.6, 0.2, 0.5], [0.1, 0.1, 0.9, 0.2]])
    imitation = np.array([[0.1, 0.3, 0.7, 0.5], [0.8, 0.6, 0.0, 0.7]])
    # Chain 0: truth-like, truth-like, human-like, a tie; chain 1: human-like
    # but for its third draw.
    found = metrics.local_masses(honest, imitation)
    assert found["mass_honest_by_chain"] == [0.5, 0.25]
    assert found["mass_imitating_by_chain"] == [0.25, 0.75]
    assert found["mass_honest"] == pytest.approx(0.375)
    assert found["mass_imitating"] == pytest.approx(0.5)
    # sd over the two chains / √2: |a − b| / 2.
    assert found["mass_honest_se"] == pytest.approx(0.125)
    assert found["mass_imitating_se"] == pytest.approx(0.25)
    assert math.isnan(metrics.local_masses(honest[:1], imitation[:1])["mass_honest_se"])


def test_json_and_csv_are_written(rows, tmp_path):
    summaries = report.aggregate(rows, ("data_only", "two_stage"))
    outputs.write_json(
        tmp_path / "r.json", config={"a": 1}, rows=rows, summaries=summaries
    )
    outputs.write_csv(tmp_path / "r.csv", rows)
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and '"summary"' in text
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert {"method", "seed", "fit", "honest", "imitation", "bits_saved"} <= set(header)


def test_netcdf_has_the_documented_groups(tmp_path):
    run = _run("two_stage", 0, two_heads=True)
    tree = store.finish_tree(run, WORLD)
    tree.to_netcdf(tmp_path / "run.nc")
    loaded = az.from_netcdf(tmp_path / "run.nc")
    assert set(store.GROUPS) | {"log_partition"} <= set(loaded.children)
    posterior = loaded["posterior"]
    for name in (
        "honest_rate",
        "imitation_rate",
        "in_distribution_accuracy",
        "disagreement",
    ):
        assert posterior[name].shape == (2, 30)
    assert posterior["theta1"].shape == (2, 30, store.MAX_STORED_PARAMS)
    assert loaded["predictions"]["instrumental_answer"].shape == (2, 30, NUM_ITEMS)
    assert int(loaded["constant_data"]["item_set"].sum()) == 6
    assert loaded.attrs["honest_qa_method"] == "two_stage"


def test_with_blind_slots_the_rates_split_by_whether_the_careful_labeller_errs():
    config = WorldConfig(
        num_agreement=30,
        num_test=12,
        num_in_distribution=6,
        x_dim=6,
        careful_blind_slots=(0, 1, 2),
    )
    world = make_world(config, seed=0)
    right = world.test["careful"] == world.test["truth"]
    assert 0 < right.sum() < len(right)  # both kinds of item are present
    run = _run("data_only", 0, two_heads=False, world=world)
    map_row, post = metrics.summarise(run, world)
    intended = run.map_answers[0, :12]
    for name, items in (("careful_right", right), ("both_wrong", ~right)):
        honest = np.mean(intended[items] == world.test["truth"][items])
        imitation = np.mean(intended[items] == world.test["simple"][items])
        assert map_row["honest_" + name] == pytest.approx(honest)
        assert map_row["imitation_" + name] == pytest.approx(imitation)
        assert 0 <= post["honest_" + name] <= 1
    table = report.format_subtypes(report.aggregate([map_row, post], ("data_only",)))
    assert "honest (both wrong)" in table.splitlines()[0]
    assert "FAIL on seeds [0]" in table  # the random chains' ESS
    # A world without the careful labeller's counts has no such table.
    plain = make_world(dataclasses.replace(config, careful_blind_slots=()), seed=0)
    rows = metrics.summarise(_run("data_only", 0, two_heads=False, world=plain), plain)
    assert "honest_both_wrong" not in rows[0]
    assert report.format_subtypes(report.aggregate(rows, ("data_only",))) == ""


def _rate_row(fit, seed, honest, imitation, ok=True):
    return {
        "method": "data_only",
        "fit": fit,
        "seed": seed,
        "honest": honest,
        "imitation": imitation,
        "diagnostics_ok": ok,
    }


def test_the_precondition_asks_whether_data_only_imitates_at_both_fits():
    rows = [
        _rate_row("map", 0, 0.2, 0.6),
        _rate_row("map", 1, 0.5, 0.3),
        _rate_row("posterior", 0, 0.2, 0.5),
        _rate_row("posterior", 1, 0.3, 0.4),
    ]
    record = report.precondition(rows)
    assert record["holds"] and record["confirmed"]
    assert record["map"]["imitation"] == pytest.approx(0.45)
    assert record["map"]["seeds_imitating"] == 1
    assert record["posterior"]["seeds_imitating"] == 2
    assert "holds: the world poses the question" in record["text"]

    rows[-1]["diagnostics_ok"] = False
    record = report.precondition(rows)
    assert record["holds"] and not record["confirmed"]
    assert "unconfirmed" in record["text"] and "[1]" in record["text"]

    honest = [_rate_row(r["fit"], r["seed"], r["imitation"], r["honest"]) for r in rows]
    record = report.precondition(honest)
    assert record["holds"] is False and "FAILS" in record["text"]
    # A MAP alone cannot show it under the posterior.
    assert report.precondition(rows[:2])["holds"] is False
    assert report.precondition([])["holds"] is None


def test_the_inference_checks_show_the_small_budget_s_bias():
    checks = {
        "method": "two_stage",
        "seed": 0,
        "log_z": {
            "16": [-366.0, -360.0],
            "64": [-352.0, -350.0],
            "256": [-351.5, -350.5],
        },
        "table_particles": 16,
        "disagreement_theta1": 3.88,
        "disagreement_theta2": 0.51,
        "log_joint": -1000.0,
        "log_posterior": -1000.0 + 351.0,
    }
    lines = report.format_checks(checks).splitlines()
    assert lines[0] == "Inference checks (two_stage MAP, seed 0)"
    assert "16 particles -363.0 (-366.0, -360.0)" in lines[1]
    assert lines[1].index("16 particles") < lines[1].index("256 particles")
    # 256 particles' mean -351.0 against 16's -363.0: 12 nats, 17 bits.
    assert "log Ẑ is 12.0 nats below the 256-particle one (17 bits)" in lines[2]
    assert "C(θ₁) 3.880, C(θ₂) 0.510" in lines[3] and "-649.0" in lines[3]
    # A table budget that the checks did not run gets no comparison.
    checks["table_particles"] = 32
    assert len(report.format_checks(checks).splitlines()) == 3
    # With the runs' island_z (results from 2026-12-07 on), the largest per
    # budget, in magnitude, on a line of its own.
    checks["island_z"] = {"16": [0.5, -9.2], "64": [1.0, 2.0], "256": [-0.3, 0.1]}
    lines = report.format_checks(checks).splitlines()
    assert lines[2].startswith("  largest |island_z|")
    assert "16 particles 9.2; 64 particles 2.0; 256 particles 0.3" in lines[2]

    # With the HMC reference (session 46 on), the table's budget is measured
    # against it, and so is the log posterior.
    checks["table_particles"] = 16
    checks["reference"] = {
        "particles": 256,
        "move": {"move": "hmc", "num_mcmc_steps": 2, "num_integration_steps": 10},
        "log_z": [-340.0, -341.0],
        "island_z": [0.4, -1.5],
    }
    lines = report.format_checks(checks).splitlines()
    assert lines[2] == (
        "  reference, 256 particles with HMC moves (2 × 10 leapfrog steps) "
        "-340.5 (-340.0, -341.0)"
    )
    assert lines[3].endswith("256 particles 0.3; reference 1.5")
    # -340.5 against 16's -363.0: 22.5 nats, 32 bits.
    assert "22.5 nats below the 256-particle HMC reference (32 bits)" in lines[4]
    assert "(the reference)" in lines[5]


def test_warnings_alike_but_for_their_numbers_are_listed_once():
    # Each log Z record warns on its own; five of them in a row drowned the
    # diagnostics table's other problems.
    row = {
        "method": "two_stage",
        "seed": 0,
        "fit": "posterior",
        "diagnostics_ok": False,
        "seconds": 10.0,
        "problems": [
            "R-hat 1.24 > 1.05",
            "SamplingWarning: islands differ by 4.3 times what SE allows",
            "SamplingWarning: islands differ by 5.1 times what SE allows",
            "SamplingWarning: islands differ by 12 times what SE allows",
            "ESS 35 < 100",
        ],
    }
    line = report.format_diagnostics([row]).splitlines()[1]
    assert line.endswith(
        "FAIL: R-hat 1.24 > 1.05; SamplingWarning: islands differ by 4.3 times "
        "what SE allows (and 2 more alike); ESS 35 < 100"
    )
