"""Run the honest-QA experiment over seeds and methods, and write its outputs.

Output folder:

- ``<method>_seed<k>.nc``: one ArviZ NetCDF per method and seed
  (:mod:`two_stage_posterior.honest_qa.store` lists its groups);
- ``results.json`` (configuration, every run, the summary) and ``results.csv``
  (one line per method, seed and fit);
- ``rates.png``, ``bits_saved.png``, ``head_pairs.png``, ``traces.png``;
- ``table.txt``: the printed tables.
"""

import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from two_stage_posterior.honest_qa import (
    metrics,
    outputs,
    plots,
    report,
    store,
    verdict,
)
from two_stage_posterior.honest_qa.config import ExperimentConfig
from two_stage_posterior.honest_qa.contract import World
from two_stage_posterior.honest_qa.experiment import run_method
from two_stage_posterior.honest_qa.world import make_world

__all__ = ["Results", "run_experiment"]


@dataclass
class Results:
    """What :func:`run_experiment` returns (and wrote, when given a folder)."""

    config: dict
    rows: list[dict]
    summaries: list[dict]
    precondition: dict
    verdict: dict
    text: str
    files: list[str]
    seconds: float


def run_experiment(
    config: ExperimentConfig,
    *,
    world: World | None = None,
    out_dir=None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Results:
    """Every method on every seed; tables printed with ``echo``, files written to
    ``out_dir`` (created) when given.

    With ``world`` (one's own arrays), every seed runs on that world and varies
    only the network's initialisation and the sampler keys; otherwise each seed
    generates its world from ``config.world``.
    """
    started = time.perf_counter()
    out = pathlib.Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if world is not None:
        world = world.hold_out(config.holdout_fraction, np.random.default_rng(0))
    rows, files, traces, checks = [], [], {}, []
    jobs = [(seed, method) for seed in config.seeds for method in config.methods]
    bar = _bar(len(jobs), progress)
    for seed, method in jobs:
        seed_world = world if world is not None else make_world(config.world, seed=seed)
        if bar is not None:
            bar.set_description(f"{method} seed {seed}")
        run = run_method(
            seed_world,
            method,
            seed,
            config.model,
            config.sampler,
            checks=method == "two_stage"
            and (config.checks_every_seed or seed == config.seeds[0]),
            progress=progress,
        )
        if run.checks:
            checks.append({"method": method, "seed": seed, **run.checks})
        if method == config.methods[0]:
            rows.append(metrics.constant_answer(seed_world, seed))
        rows += metrics.summarise(run, seed_world)
        if run.tree is not None:
            tree = store.finish_tree(run, seed_world)
            if seed == config.seeds[0]:
                traces[method] = {
                    name: np.asarray(tree.posterior[name])
                    for name in ("disagreement", "log_likelihood_total", "honest_rate")
                }
            if out is not None:
                name = f"{method}_seed{seed}.nc"
                tree.to_netcdf(out / name)
                files.append(name)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    summaries = report.aggregate(rows, ("constant_answer", *config.methods))
    precondition = report.precondition(rows)
    found = verdict.verdict(rows)
    text = _printout(
        _heading(config, world is not None),
        rows,
        summaries,
        precondition,
        found,
        checks,
    )
    seconds = time.perf_counter() - started
    text += f"\n\ntotal time {seconds:.0f} s"
    echo(text)
    results = Results(
        config.to_dict(), rows, summaries, precondition, found, text, files, seconds
    )
    if out is not None:
        results.files.extend(_write(out, results, checks, traces))
    return results


def _write(out: pathlib.Path, results: Results, checks, traces) -> list[str]:
    """``results.json``, ``results.csv``, ``table.txt`` and the plots; returns
    their names."""
    outputs.write_json(
        out / "results.json",
        config=results.config,
        rows=results.rows,
        summaries=results.summaries,
        precondition=results.precondition,
        verdict=results.verdict,
        # The first seed's, as before; every seed's checked (``--full``) beside.
        inference_checks=checks[0] if checks else None,
        inference_checks_by_seed=checks or None,
    )
    outputs.write_csv(out / "results.csv", results.rows)
    (out / "table.txt").write_text(results.text + "\n")
    names = ["results.json", "results.csv", "table.txt"]
    return names + plots.plot_all(out, results.summaries, traces)


def _printout(heading, rows, summaries, precondition, found, checks) -> str:
    """The printed tables, in reading order: what was run, whether the world
    poses the question, the verdict, then the numbers behind them."""
    blocks = [
        heading,
        precondition["text"],
        found["text"],
        report.format_table(summaries),
    ]
    subtypes = report.format_subtypes(summaries)
    if subtypes:
        blocks.append(
            "Where only the human errs, and where the careful labeller errs too "
            "(intended head, test set)\n" + subtypes
        )
    blocks.append(
        "Sampler diagnostics (posterior runs)\n" + report.format_diagnostics(rows)
    )
    blocks.extend(report.format_checks(one) for one in checks)
    blocks.append(
        "Which heads were learned (test set)\n" + report.format_pairs(summaries)
    )
    return "\n\n".join(blocks)


def _heading(config: ExperimentConfig, own_world: bool) -> str:
    s = config.sampler
    source = "own world" if own_world else "generated worlds"
    return (
        f"Honest-QA experiment: {len(config.seeds)} seed(s) {list(config.seeds)}, "
        f"{source}; MAP {s.map_steps} Adam steps ({s.map_schedule} rate), "
        f"then {s.method} "
        f"{s.num_chains} chains × ({s.num_warmup} warm-up + {s.num_samples}) draws"
    )


def _bar(total: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="run", desc="honest-qa")
