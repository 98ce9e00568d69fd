"""``honest-qa --sweep``: the grid's points, a small sweep end to end, and bad
options refused before anything runs."""

import dataclasses
import json

import pytest

from two_stage_posterior.cli import main
from two_stage_posterior.honest_qa import report, runner, sweep, verdict
from two_stage_posterior.honest_qa.config import (
    QUICK,
    ExperimentConfig,
    ModelConfig,
    SamplerConfig,
)
from two_stage_posterior.honest_qa.world import WorldConfig


def _quick(**sampler) -> ExperimentConfig:
    return ExperimentConfig(
        world=WorldConfig(**QUICK["world"]),
        model=ModelConfig(**QUICK["model"]),
        sampler=SamplerConfig(**{**QUICK["sampler"], "map_steps": 20, **sampler}),
        seeds=(0, 1),
    )


def test_the_points_cover_the_grid_then_flip_the_stop_gradient():
    config = _quick()
    points = sweep.sweep_points(config, (10.0, 40.0), (0.1, 0.2))
    names = [name for name, _ in points]
    assert names == [
        "lam10_ratio0.1",
        "lam10_ratio0.2",
        "lam40_ratio0.1",
        "lam40_ratio0.2",
        "stop_gradient_on",
    ]
    for name, point in points[:4]:
        assert point.methods == ("data_only", "two_stage")
        assert name == f"lam{point.model.lam:g}_ratio{point.model.sigma2:g}"
        assert point.sampler == config.sampler and point.world == config.world
    ablation = points[-1][1]
    assert ablation.sampler.stop_gradient_intended
    assert ablation.model == config.model
    # NUTS takes no stop-gradient: no ablation point.
    nuts = dataclasses.replace(config, sampler=SamplerConfig(method="nuts"))
    assert len(sweep.sweep_points(nuts, (10.0,), (0.1,))) == 1


def _fake_experiment(point, *, out_dir, progress, echo):
    """A stand-in for run_experiment (which the experiment's own tests run):
    rows whose κ and honest shares follow from the point, so that the sweep's
    records can be checked against them, and the real verdict on those rows."""
    lam, sigma2 = point.model.lam, point.model.sigma2
    rows = []
    for seed in point.seeds:
        kappa = lam * sigma2**2 * (seed + 1)
        for method, share in (("data_only", 0.3), ("two_stage", 0.3 + 0.01 * seed)):
            for fit in ("map", "posterior"):
                rows.append(
                    {
                        "method": method,
                        "seed": seed,
                        "fit": fit,
                        "honest_share": share,
                        "honest": share,
                        "imitation": 1 - share,
                        "diagnostics_ok": True,
                        "kappa_theta2_top": kappa,
                    }
                )
    out_dir.mkdir(parents=True)
    (out_dir / "results.json").write_text(json.dumps({"lam": lam}))
    return runner.Results(
        point.to_dict(),
        rows,
        [],
        report.precondition(rows),
        verdict.verdict(rows),
        "",
        ["results.json"],
        0.0,
    )


def test_a_sweep_writes_kappa_beside_the_verdict(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "run_experiment", _fake_experiment)
    config = dataclasses.replace(_quick(), seeds=(0, 1, 2))
    found = sweep.run_sweep(
        config,
        lams=(40.0, 160.0),
        ratios=(0.05,),
        out_dir=tmp_path,
        progress=False,
        echo=lambda text: None,
    )
    records = json.loads((tmp_path / "sweep.json").read_text())
    names = ["lam40_ratio0.05", "lam160_ratio0.05", "stop_gradient_on"]
    assert [r["point"] for r in records] == names
    for record, lam in zip(records, (40.0, 160.0, config.model.lam), strict=True):
        sigma2 = config.model.sigma2 if record["point"] == names[-1] else 0.05
        assert record["lam_sigma2_sq"] == pytest.approx(lam * sigma2**2)
        kappa = {str(s): lam * sigma2**2 * (s + 1) for s in range(3)}
        assert record["kappa_theta2"] == pytest.approx(kappa)
        assert record["posterior"]["differences"] == pytest.approx([0, 0.01, 0.02])
        assert record["map"]["seeds"] == [0, 1, 2]
        assert json.loads((tmp_path / record["point"] / "results.json").read_text())
    assert [r["stop_gradient_intended"] for r in records] == [False, False, True]
    lines = found["text"].splitlines()
    assert lines[0].split()[:4] == ["λ", "σ₂/σ₁", "λσ₂²", "stop-grad"]
    # κ over seeds 0.1, 0.2, 0.3: median 0.2.
    assert lines[1].split()[:6] == ["40", "0.05", "0.10", "off", "0.2", "["]
    assert "+0.010 [" in lines[1]
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "sweep.txt" in found["files"]
    assert "lam160_ratio0.05/results.json" in found["files"]


@pytest.mark.parametrize(
    "options, words",
    [
        (["--sweep", "--world", "w.npz"], "--sweep runs on generated worlds"),
        (["--sweep-lams", "10"], "need --sweep"),
    ],
)
def test_bad_sweep_options_are_refused_before_running(options, words, tmp_path, capsys):
    status = main(["honest-qa", *options, "--out", str(tmp_path / "out")])
    assert status == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_bad_grid_value_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["honest-qa", "--sweep", "--sweep-ratios", "0,0.1"])
    assert "expected positive numbers" in capsys.readouterr().err
