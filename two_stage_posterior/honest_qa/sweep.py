"""``honest-qa --sweep``: where does conditioning act, and does honesty follow?

Conditioning on agreement can change which head wins only along directions
where κ = λσ₂² × (curvature of C) ≫ 1 (the mechanism case). The sweep runs
``data_only`` and ``two_stage`` over a grid of λ and σ₂/σ₁ (σ₁ fixed), each
point a whole experiment over the configured seeds, and reports per point κ
at the two-stage MAP's θ₂ beside the verdict's comparison of the honest share
(``two_stage`` − ``data_only``, paired by seed), so that honesty can be read
against κ. One more point is the ablation of the essay's stop-gradient on the
intended head in C's gradient (``stop_gradient_intended``, SGLD/SGHMC and the
MAP), at the configuration's own λ and σ₂, against the same point without it.
Each point's own outputs go in a subfolder; the sweep writes
``sweep.json``, ``sweep.txt`` and ``sweep.png`` (the per-seed differences of
the honest share against κ).
"""

import dataclasses
import json
import math
import pathlib

import numpy as np

from two_stage_posterior.honest_qa.config import ExperimentConfig
from two_stage_posterior.honest_qa.outputs import clean
from two_stage_posterior.honest_qa.runner import run_experiment

__all__ = ["LAMS", "SIGMA2_RATIOS", "run_sweep", "sweep_points"]

#: The default grid: λ up to the experiment's 400, σ₂/σ₁ around its 0.05.
LAMS = (100.0, 400.0, 1600.0)
SIGMA2_RATIOS = (0.025, 0.05, 0.1)
#: The methods each point runs: the verdict's first comparison.
COMPARED = ("data_only", "two_stage")


def sweep_points(
    config: ExperimentConfig, lams, ratios, *, stop_gradient: bool = True
) -> list[tuple[str, ExperimentConfig]]:
    """``(name, configuration)`` per (λ, σ₂/σ₁), with the two methods the sweep
    compares; then, with ``stop_gradient`` (and a sampler that takes it), the
    configuration's own point with the stop-gradient flipped."""
    points = []
    for lam in lams:
        for ratio in ratios:
            model = dataclasses.replace(
                config.model, lam=float(lam), sigma2=float(ratio) * config.model.sigma1
            )
            name = f"lam{float(lam):g}_ratio{float(ratio):g}"
            points.append(
                (name, dataclasses.replace(config, model=model, methods=COMPARED))
            )
    if stop_gradient and config.sampler.method in ("sgld", "sghmc"):
        flipped = not config.sampler.stop_gradient_intended
        sampler = dataclasses.replace(config.sampler, stop_gradient_intended=flipped)
        name = f"stop_gradient_{'on' if flipped else 'off'}"
        points.append(
            (name, dataclasses.replace(config, sampler=sampler, methods=COMPARED))
        )
    return points


def run_sweep(
    config: ExperimentConfig,
    *,
    lams=LAMS,
    ratios=SIGMA2_RATIOS,
    stop_gradient: bool = True,
    out_dir=None,
    progress: bool = True,
    echo=print,
) -> dict:
    """Run every point of the grid (and the stop-gradient ablation); returns
    ``{"points": [...], "text", "files"}``, the files relative to ``out_dir``."""
    out = pathlib.Path(out_dir) if out_dir is not None else None
    records, files = [], []
    for name, point in sweep_points(config, lams, ratios, stop_gradient=stop_gradient):
        echo(f"sweep point {name}")
        results = run_experiment(
            point,
            out_dir=None if out is None else out / name,
            progress=progress,
            echo=lambda text: None,
        )
        records.append(_record(name, point, results))
        files += [f"{name}/{f}" for f in results.files]
    text = format_sweep(records)
    echo(text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps(clean(records), indent=1))
        (out / "sweep.txt").write_text(text + "\n")
        _plot(out / "sweep.png", records)
        files += ["sweep.json", "sweep.txt", "sweep.png"]
    return {"points": records, "text": text, "files": files}


def _record(name: str, point: ExperimentConfig, results) -> dict:
    model = point.model
    rows = [r for r in results.rows if r["method"] == "two_stage" and r["fit"] == "map"]
    kappa = {r["seed"]: r.get("kappa_theta2_top", math.nan) for r in rows}
    primary = results.verdict["comparisons"][0]
    at_map = results.verdict["secondary"]["honest_share at the MAP"][0]
    return {
        "point": name,
        "stop_gradient_intended": point.sampler.stop_gradient_intended,
        "lam": model.lam,
        "sigma2_ratio": model.sigma2 / model.sigma1,
        "lam_sigma2_sq": model.lam * model.sigma2**2,
        "kappa_theta2": kappa,
        "posterior": primary,
        "map": at_map,
        "precondition": results.precondition["holds"],
        "seconds": results.seconds,
    }


def format_sweep(records: list[dict]) -> str:
    """The sweep's table: one line per point."""
    header = (
        "   λ  σ₂/σ₁  λσ₂²  stop-grad  κ at θ₂: median [min, max]   honest share "
        "two_stage − data_only: posterior [95%] p; MAP [95%] p"
    )
    lines = [header]
    for r in records:
        kappa = np.array([v for v in r["kappa_theta2"].values() if v is not None])
        kappa = kappa[np.isfinite(kappa)]
        k = (
            f"{np.median(kappa):6.1f} [{kappa.min():6.1f}, {kappa.max():6.1f}]"
            if kappa.size
            else "—"
        )
        lines.append(
            f"{r['lam']:4g}  {r['sigma2_ratio']:5g}  {r['lam_sigma2_sq']:4.2f}  "
            f"{'on ' if r['stop_gradient_intended'] else 'off'}        {k:<26}   "
            f"{_difference(r['posterior'])}; {_difference(r['map'])}"
        )
    lines.append(
        "κ: λσ₂² × the top eigenvalue of C's Gauss–Newton matrix at the two-stage "
        "MAP's θ₂, over seeds; differences: mean over seeds of the paired "
        "difference, bootstrap interval, Wilcoxon p (the verdict's statistics)."
    )
    return "\n".join(lines)


def _difference(record: dict) -> str:
    if not math.isfinite(record.get("p_value", math.nan)):
        return "—"
    return (
        f"{record['mean_difference']:+.3f} [{record['ci_low']:+.3f}, "
        f"{record['ci_high']:+.3f}] p {record['p_value']:.2g}"
    )


def _plot(path, records: list[dict]) -> None:
    from two_stage_posterior.honest_qa.plots import _pyplot

    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for axis, fit in zip(axes, ("posterior", "map"), strict=True):
        for r in records:
            seeds = r[fit]["seeds"]
            kappa = [r["kappa_theta2"].get(s, math.nan) for s in seeds]
            axis.scatter(kappa, r[fit]["differences"], s=14, label=r["point"])
        axis.axhline(0.0, color="gray", linewidth=0.8)
        axis.set_xscale("symlog", linthresh=1.0)
        axis.set_xlabel("κ at the two-stage MAP's θ₂")
        axis.set_title("posterior mean" if fit == "posterior" else "MAP")
    axes[0].set_ylabel("honest share: two_stage − data_only")
    axes[1].legend(fontsize=6, loc="best")
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
