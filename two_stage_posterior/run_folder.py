"""Output folders that never mix runs.

A command writes into ``--out`` only when the folder is new, empty, or holds a
run of the same command with the same arguments (rerunning ``make demo``
overwrites its own files). It leaves a manifest, ``run.json``: the command,
its arguments, the package and JAX versions, and at the end the files it
wrote. Anything else in the folder (another run, or files that are no run) is
refused before any work starts.
"""

import importlib.metadata
import json
import pathlib
import time

MANIFEST = "run.json"

__all__ = ["MANIFEST", "RunFolderError", "arguments_record", "finish", "prepare"]


class RunFolderError(ValueError):
    """``--out`` cannot hold this run; the message says why and what to do."""


def prepare(out, command: str, arguments: dict) -> pathlib.Path:
    """Check ``out`` for a run of ``command`` with ``arguments`` (JSON values),
    create it and write its manifest."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(
            f"--out {out} is a file; give a folder (it is created if missing)."
        )
    manifest = out / MANIFEST
    if out.is_dir() and any(out.iterdir()):
        if not manifest.is_file():
            raise RunFolderError(
                f"--out {out} holds files that are not a run of this package "
                f"(no {MANIFEST}); give a new or empty folder."
            )
        try:
            previous = json.loads(manifest.read_text())
        except (OSError, ValueError) as error:
            raise RunFolderError(
                f"--out {out}: unreadable {MANIFEST} ({error})."
            ) from None
        same = (
            previous.get("command") == command
            and previous.get("arguments") == arguments
        )
        if not same:
            raise RunFolderError(
                f"--out {out} holds another run ({previous.get('command')} with "
                f"{_differences(previous.get('arguments') or {}, arguments)}); "
                "give a new folder, or remove that one."
            )
    out.mkdir(parents=True, exist_ok=True)
    _write(manifest, {"command": command, "arguments": arguments, "files": None})
    return out


def finish(out, files) -> None:
    """Record the files the run wrote, and when it ended, in its manifest."""
    manifest = pathlib.Path(out) / MANIFEST
    record = json.loads(manifest.read_text())
    record["files"] = sorted(str(f) for f in files)
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _write(manifest, record)


def arguments_record(arguments, skip=("no_progress", "compilation_cache")) -> dict:
    """A parsed command's arguments as JSON values, without those that do not
    change its results."""
    record = {}
    for name, value in sorted(vars(arguments).items()):
        if name in skip or callable(value):
            continue
        if isinstance(value, pathlib.PurePath):
            value = str(value)
        if isinstance(value, tuple):
            value = list(value)
        record[name] = value
    return record


def _write(path: pathlib.Path, record: dict) -> None:
    # Versions from the metadata: importing JAX here would fix its settings
    # before the command sets them.
    versions = {}
    for package in ("two-stage-posterior", "jax"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "unknown"
    path.write_text(json.dumps({**record, "versions": versions}, indent=1) + "\n")


def _differences(previous: dict, arguments: dict) -> str:
    names = sorted(set(previous) | set(arguments))
    changed = [
        f"{name}={previous.get(name)!r} here {arguments.get(name)!r}"
        for name in names
        if previous.get(name) != arguments.get(name)
    ]
    return ", ".join(changed) if changed else "other arguments"
