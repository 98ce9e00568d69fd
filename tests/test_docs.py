"""The documentation site: an API page for every public name, and a strict
build (a broken link, a missing page or a docstring mkdocstrings cannot read
fails it). The notebooks appear as prose and code, converted, not executed."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

import posterior
import samplers

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", [posterior, samplers], ids=lambda p: p.__name__)
def test_every_public_name_has_an_api_entry(package):
    page = (ROOT / "docs" / "api" / f"{package.__name__}.md").read_text()
    documented = set(re.findall(rf"^::: {package.__name__}\.(\w+)$", page, re.M))
    assert documented == set(package.__all__)


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", tmp_path],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for page in ("api/samplers", "api/posterior", "notebooks/quickstart"):
        assert (tmp_path / page / "index.html").is_file(), page
    quickstart = _text(tmp_path / "notebooks" / "quickstart" / "index.html")
    assert "samplers.sample(" in quickstart  # the code, not only the prose
    api = (tmp_path / "api" / "samplers" / "index.html").read_text()
    assert "load_run" in api and "arithmatex" in api  # docstrings, with their maths


def _text(path: pathlib.Path) -> str:
    """A page's text, its HTML tags (code highlighting's spans) removed."""
    return re.sub(r"<[^>]+>", "", path.read_text())
