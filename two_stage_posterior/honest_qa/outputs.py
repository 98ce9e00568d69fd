"""``results.json`` and ``results.csv``: every record of a run, NaN written as
null."""

import csv
import json
import math

import numpy as np

__all__ = ["clean", "write_csv", "write_json"]


def clean(value):
    """``value`` with non-finite floats as ``None`` and numpy scalars as Python
    ones, through dicts, lists and tuples: what JSON can hold."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        return clean(value.item())
    return value


def write_json(
    path,
    *,
    config: dict,
    rows: list[dict],
    summaries: list[dict],
    precondition: dict | None = None,
    verdict: dict | None = None,
    inference_checks: dict | None = None,
    inference_checks_by_seed: list[dict] | None = None,
) -> None:
    """Everything, NaN written as null."""
    payload = {"config": config, "runs": rows, "summary": summaries}
    if inference_checks is not None:
        payload["inference_checks"] = inference_checks
    if inference_checks_by_seed is not None:
        payload["inference_checks_by_seed"] = inference_checks_by_seed
    if precondition is not None:
        payload["precondition"] = precondition
    if verdict is not None:
        payload["verdict"] = verdict
    with open(path, "w") as handle:
        json.dump(clean(payload), handle, indent=1)


def write_csv(path, rows: list[dict]) -> None:
    """One line per (method, seed, fit): the scalar columns of the rows."""
    columns: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in columns and not isinstance(value, dict | list):
                columns.append(key)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: clean(row.get(k)) for k in columns})
