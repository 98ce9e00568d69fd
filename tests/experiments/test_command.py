"""`two-stage-posterior honest-qa --quick` end to end: every promised file, a
NetCDF that ArviZ loads with the documented groups, and a well-formed table.

One run serves every test here (compiling the samplers dominates its time); it
takes a single-head method and a fixed step size, the cheapest programs to
compile. The two-head paths of the report are covered in test_report.py.
"""

import json
import math

import arviz as az
import pytest

from two_stage_posterior.cli import main
from two_stage_posterior.honest_qa import store

PLOTS = ("rates.png", "bits_saved.png", "head_pairs.png", "traces.png")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("honest-qa")
    status = main(
        [
            "honest-qa",
            "--quick",
            "--methods",
            "data_only",
            "--step-size",
            "1e-4",
            "--map-steps",
            "20",
            "--no-progress",
            "--out",
            str(folder),
        ]
    )
    assert status == 0
    return folder


def test_every_promised_file_is_written(out):
    names = {path.name for path in out.iterdir()}
    expected = {
        "data_only_seed0.nc",
        "results.json",
        "results.csv",
        "table.txt",
        *PLOTS,
    }
    assert expected <= names
    assert all((out / name).stat().st_size > 0 for name in expected)
    assert (out / "rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The manifest names the run and every file it wrote.
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["command"] == "honest-qa"
    assert manifest["arguments"]["methods"] == ["data_only"]
    assert set(manifest["files"]) == names - {"run.json"}


def test_netcdf_loads_back_with_the_documented_groups(out):
    tree = az.from_netcdf(out / "data_only_seed0.nc")
    assert set(store.GROUPS) <= set(tree.children)
    posterior = tree["posterior"]
    for name in (
        "theta1",
        "theta2",
        "disagreement",
        "log_likelihood_total",
        "honest_rate",
    ):
        assert name in posterior
    assert posterior["honest_rate"].dims == ("chain", "draw")
    assert tree.attrs["honest_qa_method"] == "data_only"
    assert tree.attrs["method"] == "sgld"


def test_results_are_well_formed(out):
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["methods"] == ["data_only"]
    assert [(r["method"], r["fit"]) for r in results["runs"]] == [
        ("constant_answer", "rule"),
        ("data_only", "map"),
        ("data_only", "posterior"),
    ]
    constant, *fits = results["runs"]
    for row in results["runs"]:
        honest, imitation = row["honest"], row["imitation"]
        assert 0 <= honest <= 1 and 0 <= imitation <= 1 and honest + imitation <= 1
        assert isinstance(row["diagnostics_ok"], bool)
    for row in fits:
        assert 0 <= row["in_distribution_accuracy"] <= 1
        assert len(row["head_pairs"]) == 3
        # κ at the MAP's θ₁ and θ₂: three directions each, largest first.
        for name in ("kappa_theta1", "kappa_theta2"):
            assert len(row[name]) == 3 and row[name] == sorted(row[name])[::-1]
            assert row[name + "_top"] == row[name][0] >= 0
    posterior = fits[1]
    assert posterior["max_rhat"] is None or math.isfinite(posterior["max_rhat"])
    # The constant rule: the most common answer of D, scored on the test set.
    assert constant["answer"] in range(results["config"]["world"]["num_slots"] + 1)
    table = (out / "table.txt").read_text()
    assert "honest" in table and "imitation" in table and "Sampler diagnostics" in table
    assert "constant_answer" in table and "κ at θ₂" in table
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("method,seed")
    # Whether data_only imitates, said in the table and kept in results.json.
    precondition = results["precondition"]
    assert precondition["holds"] in (True, False)
    assert precondition["map"]["seeds"] == [0] and "Precondition" in table
    assert "honest (both wrong)" in table  # the default careful labeller errs too
    # The verdict's record, even where one method cannot be tested.
    found = results["verdict"]
    assert found["endpoint"] == "honest_share" and len(found["comparisons"]) == 2
    assert "Verdict (primary endpoint" in table


@pytest.mark.parametrize(
    "option, words",
    [
        (["--sampler", "foo"], "`method` must be one of"),
        (["--divergence", "squared"], "`divergence` must be one of"),
        (["--correction-kinds", "0,1,2"], "`correction_kinds`"),
        (["--chains", "0"], "`num_chains` must be at least 1"),
        (["--occluded-trace", "0"], "`occluded_trace` must lie in (0, 1]"),
        (["--careful-blind-slots", "6"], "`careful_blind_slots` outside 0..5"),
        (["--agreement-batch-size", "0"], "`agreement_batch_size` must be at least"),
        (
            ["--sampler", "nuts", "--stop-gradient-intended", "on"],
            "`stop_gradient_intended` needs sgld or sghmc",
        ),
    ],
)
def test_bad_settings_are_refused_before_running(option, words, tmp_path, capsys):
    status = main(["honest-qa", *option, "--out", str(tmp_path / "out")])
    assert status == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_stop_gradient_option_reaches_the_configuration():
    import argparse

    from two_stage_posterior.honest_qa.command import add_parser, build_config

    commands = argparse.ArgumentParser().add_subparsers()
    parser = add_parser(commands)
    on = build_config(parser.parse_args(["--stop-gradient-intended", "on"]))
    off = build_config(parser.parse_args([]))
    assert on.sampler.stop_gradient_intended and not off.sampler.stop_gradient_intended
    with pytest.raises(SystemExit):
        parser.parse_args(["--stop-gradient-intended", "maybe"])


def test_the_agreement_batch_reaches_the_sampler(monkeypatch):
    import argparse
    from types import SimpleNamespace

    from two_stage_posterior.honest_qa import experiment
    from two_stage_posterior.honest_qa.command import add_parser, build_config

    parser = add_parser(argparse.ArgumentParser().add_subparsers())
    config = build_config(parser.parse_args(["--agreement-batch-size", "32"]))
    assert config.sampler.agreement_batch_size == 32
    assert build_config(parser.parse_args([])).sampler.agreement_batch_size is None
    seen = {}
    monkeypatch.setattr(
        experiment.samplers, "sample", lambda model, **kw: seen.update(kw)
    )
    model = SimpleNamespace(num_params=3)
    experiment._sample(model, "two_stage", config.sampler, None, None, False)
    assert seen["method"].agreement_batch_size == 32


def test_the_world_options_reach_the_configuration():
    import argparse

    from two_stage_posterior.honest_qa.command import add_parser, build_config

    parser = add_parser(argparse.ArgumentParser().add_subparsers())
    before = ["--num-world-questions", "0", "--occluded-trace", "1"]
    plain = build_config(parser.parse_args([*before, "--careful-blind-slots", ""]))
    assert plain.world.num_world_questions == 0 and plain.world.occluded_trace == 1
    assert plain.world.careful_blind_slots == ()
    default = build_config(parser.parse_args([])).world
    assert default.num_world_questions == 400 and default.careful_blind_slots == (0,)


def _checks(seed):
    return {
        "log_z": {"8": [-3.2, -3.0], "16": [-3.0, -2.9]},
        "table_particles": 8,
        "disagreement_theta1": 0.3 + seed,
        "disagreement_theta2": 0.1,
        "log_joint": -10.0,
        "log_posterior": -7.0,
    }


@pytest.mark.parametrize("every_seed", [False, True])
def test_the_inference_checks_run_at_the_first_seed_or_at_every_seed(
    every_seed, monkeypatch, tmp_path
):
    import numpy as np

    from two_stage_posterior.honest_qa import runner
    from two_stage_posterior.honest_qa.config import (
        QUICK,
        ExperimentConfig,
        ModelConfig,
        SamplerConfig,
    )
    from two_stage_posterior.honest_qa.experiment import MethodRun
    from two_stage_posterior.honest_qa.world import WorldConfig

    asked = []

    def fake_run_method(world, method, seed, model, sampler, *, checks, progress):
        # A run whose sampler refused the model: its MAP only (no compiling).
        asked.append((method, seed, checks))
        items = len(world.test["question"]) + len(world.in_distribution["question"])
        return MethodRun(
            method,
            seed,
            np.zeros((2, items), int),
            0.1,
            np.array([-3.0, -3.1]),
            None,
            None,
            None,
            map_kappa={"theta1": [1.0], "theta2": [2.0]},
            checks=_checks(seed) if checks else {},
            error="ValueError: refused",
        )

    monkeypatch.setattr(runner, "run_method", fake_run_method)
    config = ExperimentConfig(
        world=WorldConfig(**QUICK["world"]),
        model=ModelConfig(**QUICK["model"]),
        sampler=SamplerConfig(**QUICK["sampler"]),
        methods=("data_only", "two_stage"),
        seeds=(3, 5),
        checks_every_seed=every_seed,
    )
    results = runner.run_experiment(
        config, out_dir=tmp_path, progress=False, echo=lambda text: None
    )
    checked = [(seed, method) for method, seed, checks in asked if checks]
    seeds = [3, 5] if every_seed else [3]
    assert checked == [(seed, "two_stage") for seed in seeds]
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["inference_checks"]["seed"] == 3
    assert [c["seed"] for c in stored["inference_checks_by_seed"]] == seeds
    for seed in seeds:
        assert f"Inference checks (two_stage MAP, seed {seed})" in results.text
    assert ("seed 5)" in results.text) == every_seed


def test_full_checks_every_seed_then_sweeps_into_a_subfolder(monkeypatch, tmp_path):
    from two_stage_posterior.honest_qa import runner, sweep

    seen = {}

    def fake_experiment(config, *, world, out_dir, progress):
        seen["experiment"] = config
        return runner.Results({}, [], [], None, None, "", ["table.txt"], 0.0)

    def fake_sweep(config, *, lams, ratios, out_dir, progress):
        seen["sweep"] = (config, lams, ratios, out_dir)
        return {"points": [], "text": "", "files": ["sweep.json"]}

    monkeypatch.setattr(runner, "run_experiment", fake_experiment)
    monkeypatch.setattr(sweep, "run_sweep", fake_sweep)
    out = tmp_path / "out"
    arguments = ["honest-qa", "--full", "--quick", "--out", str(out)]
    status = main([*arguments, "--sweep-lams", "10", "--sweep-ratios", "0.1"])
    assert status == 0
    assert seen["experiment"].checks_every_seed
    config, lams, ratios, folder = seen["sweep"]
    # The sweep's points check their first seed only, as by default.
    assert not config.checks_every_seed and config.seeds == seen["experiment"].seeds
    assert (lams, ratios, folder) == ((10.0,), (0.1,), out / "sweep")
    assert json.loads((out / "run.json").read_text())["files"] == [
        "sweep/sweep.json",
        "table.txt",
    ]
    # --full runs the sweep itself, on generated worlds.
    for extra in (["--sweep"], ["--world", str(tmp_path / "w.npz")]):
        assert main([*arguments[:-1], str(tmp_path / "other"), *extra]) == 2
