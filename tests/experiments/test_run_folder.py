"""`--out` never mixes runs: a folder holds one run, named in its manifest."""

import json

import pytest

from two_stage_posterior import run_folder
from two_stage_posterior.cli import main


def test_a_folder_takes_one_run_and_its_reruns(tmp_path):
    out = tmp_path / "new" / "run"
    run_folder.prepare(out, "honest-qa", {"seeds": [0], "quick": True})
    (out / "table.txt").write_text("x")
    run_folder.finish(out, ["table.txt"])
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["command"] == "honest-qa"
    assert manifest["arguments"] == {"seeds": [0], "quick": True}
    assert manifest["files"] == ["table.txt"]
    assert set(manifest["versions"]) == {"two-stage-posterior", "jax"}
    # The same command and arguments again: allowed (make demo twice).
    run_folder.prepare(out, "honest-qa", {"seeds": [0], "quick": True})
    with pytest.raises(run_folder.RunFolderError, match="another run .*seeds=\\[0\\]"):
        run_folder.prepare(out, "honest-qa", {"seeds": [1], "quick": True})
    with pytest.raises(run_folder.RunFolderError, match="another run \\(honest-qa"):
        run_folder.prepare(out, "mechanism", {"seeds": [0], "quick": True})


def test_files_that_are_no_run_are_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(run_folder.RunFolderError, match="not a run .*no run.json"):
        run_folder.prepare(tmp_path, "mechanism", {})
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("command", ["honest-qa", "mechanism"])
def test_a_file_as_out_is_refused_before_running(command, tmp_path, capsys):
    target = tmp_path / "results.csv"
    target.write_text("a,b\n")
    assert main([command, "--out", str(target)]) == 2
    assert "--out" in capsys.readouterr().err
    assert target.read_text() == "a,b\n"


def test_a_text_file_as_world_gets_a_clear_message(tmp_path, capsys):
    world = tmp_path / "world.txt"
    world.write_text("scenes and answers\n")
    status = main(["honest-qa", "--world", str(world), "--out", str(tmp_path / "o")])
    assert status == 2
    error = capsys.readouterr().err
    assert "--world" in error and "not an .npz archive" in error
    assert "pickle" not in error
    assert not (tmp_path / "o").exists()
