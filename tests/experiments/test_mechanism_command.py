"""`two-stage-posterior mechanism`: the records, the table and the pictures."""

import json

import pytest

import posterior
from two_stage_posterior.cli import main
from two_stage_posterior.mechanism import KAPPAS, METHODS, SIGMA1S

KEYS = {
    "method", "kappa", "sigma1", "sigma2", "p_honest", "p_imitate", "expected_c",
    "bits_at_theta1_mode", "map_answer",
}  # fmt: skip


def test_the_quick_sweep_writes_every_record_and_picture(tmp_path, capsys):
    path = tmp_path / "mechanism.json"
    status = main(["mechanism", "--quick", "--json", str(path), "--out", str(tmp_path)])
    assert status == 0
    records = json.loads(path.read_text())
    assert len(records) == len(METHODS) * len(KAPPAS) * len(SIGMA1S)
    for record in records:
        assert KEYS <= set(record)
        assert record["method"] in METHODS
        assert 0 <= record["p_honest"] + record["p_imitate"] <= 1 + 1e-9
    for method in METHODS:
        assert (tmp_path / f"mechanism_theta2_{method}.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "P(honest)" in printed and printed.count(" two_stage ") == 8
    # A printed row is the case's own number (the command adds no arithmetic).
    row = next(
        r for r in records
        if (r["method"], r["kappa"], r["sigma1"]) == ("two_stage", 25.0, 0.4)
    )  # fmt: skip
    case = posterior.MechanismCase(25.0, 0.4, 0.1)
    assert row["p_honest"] == pytest.approx(case.p_honest(), abs=1e-12)
