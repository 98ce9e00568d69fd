"""Every notebook runs top to bottom with SMOKE=1 (jupytext percent scripts),
each in a process of its own (the ``run_script`` fixture)."""

import pathlib

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[1] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, run_script):
    exit_code, output = run_script(
        path, tmp_path, {"SMOKE": "1", "MPLBACKEND": "Agg"}, timeout=900
    )
    assert exit_code == 0, output[-4000:]
