"""mkdocs hook: the notebooks (jupytext percent scripts in notebooks/) as
pages of prose and code, converted when the site is built, never executed.

Run as a script (``make docs``), it executes every notebook at full size into
``build/notebooks/<name>.ipynb``, outputs included, for Jupyter.
"""

import pathlib
import sys

import jupytext
from mkdocs.structure.files import File

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"


def on_files(files, config):
    for script in sorted(NOTEBOOKS.glob("*.py")):
        notebook = jupytext.read(script)
        text = jupytext.writes(notebook, fmt="md")
        name = f"notebooks/{script.stem}.md"
        files.append(File.generated(config, name, content=_without_header(text)))
    return files


def _without_header(text: str) -> str:
    """Drop jupytext's YAML header (kernel metadata, not prose)."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            return text[end + 5 :].lstrip("\n")
    return text


def execute(folder: pathlib.Path, kernel: str) -> None:
    import nbclient

    folder.mkdir(parents=True, exist_ok=True)
    for script in sorted(NOTEBOOKS.glob("*.py")):
        print(f"executing {script.name}", flush=True)
        notebook = jupytext.read(script)
        client = nbclient.NotebookClient(
            notebook,
            kernel_name=kernel,
            timeout=3600,
            resources={"metadata": {"path": str(folder)}},
        )
        client.execute()
        jupytext.write(notebook, folder / f"{script.stem}.ipynb")


if __name__ == "__main__":
    execute(pathlib.Path(sys.argv[1]), sys.argv[2])
