"""Results over seeds: the aggregated table, the diagnostics and the head pairs
(:mod:`~two_stage_posterior.honest_qa.outputs` writes them to files).

Per (method, fit) the table gives each metric's mean over seeds ± its standard
deviation over seeds, and in brackets the per-seed 95% credible intervals
averaged over seeds (posterior fits; a MAP has none). A posterior row whose
diagnostics fail on any seed prints its numbers in parentheses, marked
``FAIL``: they are shown for inspection, not as results.
"""

import math
import re

import numpy as np

from two_stage_posterior.honest_qa.metrics import CLASSES, MAX_RHAT, MIN_ESS

__all__ = [
    "FIT_LABELS",
    "METRICS",
    "SUBTYPES",
    "aggregate",
    "format_diagnostics",
    "format_pairs",
    "format_subtypes",
    "format_table",
    "precondition",
]

#: Column name and label of each reported metric.
METRICS = {
    "honest": "honest",
    "imitation": "imitation",
    "mass_honest": "honest mass",
    "mass_imitating": "imitating mass",
    "in_distribution_accuracy": "in-dist acc",
    "disagreement": "C on S",
    "bits_saved": "bits saved",
    "kappa_theta1_top": "κ at θ₁",
    "kappa_theta2_top": "κ at θ₂",
}
#: The intended head's rates on the test items where only the human errs and
#: where the careful labeller errs too (worlds with blind slots only).
SUBTYPES = {
    "honest_careful_right": "honest (careful right)",
    "imitation_careful_right": "imitation (careful right)",
    "honest_both_wrong": "honest (both wrong)",
    "imitation_both_wrong": "imitation (both wrong)",
}


#: How the table names each fit: the chains start from different optima and
#: stay near them, so their draws are local posteriors, not the global one.
FIT_LABELS = {"posterior": "local"}


def _finite(values) -> np.ndarray:
    values = np.asarray([math.nan if v is None else v for v in values], float)
    return values[np.isfinite(values)]


def _mean_sd(values) -> tuple[float, float]:
    values = _finite(values)
    if values.size == 0:
        return math.nan, math.nan
    sd = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return float(values.mean()), sd


def aggregate(rows: list[dict], methods) -> list[dict]:
    """One summary per (method, fit): mean and sd over seeds of each metric, the
    mean interval, the summed head-pair table and the seeds that failed."""
    out = []
    for method in methods:
        for fit in ("rule", "map", "posterior"):
            group = [r for r in rows if r["method"] == method and r["fit"] == fit]
            if not group:
                continue
            summary = {"method": method, "fit": fit, "num_seeds": len(group)}
            for name in (*METRICS, *SUBTYPES):
                mean, sd = _mean_sd(r.get(name) for r in group)
                summary[name], summary[name + "_sd"] = mean, sd
                for end in ("_low", "_high"):
                    summary[name + end] = _mean_sd(r.get(name + end) for r in group)[0]
            for name in METRICS:
                # An estimate's SE where the rows have one, averaged over seeds.
                summary[name + "_se"] = _mean_sd(r.get(name + "_se") for r in group)[0]
            tables = [np.asarray(r["head_pairs"]) for r in group if "head_pairs" in r]
            pairs = np.sum(tables, axis=0) if tables else np.zeros((3, 3), int)
            summary["head_pairs"] = pairs.tolist()
            summary["failed_seeds"] = [
                r["seed"] for r in group if not r["diagnostics_ok"]
            ]
            summary["max_rhat"] = _max(r.get("max_rhat") for r in group)
            summary["min_ess"] = _min(r.get("min_ess") for r in group)
            out.append(summary)
    return out


def _max(values) -> float:
    values = _finite(values)
    return float(values.max()) if values.size else math.nan


def _min(values) -> float:
    values = _finite(values)
    return float(values.min()) if values.size else math.nan


def _cell(summary, name) -> str:
    mean, sd = summary[name], summary[name + "_sd"]
    if not math.isfinite(mean):
        return "—"
    digits = 1 if name == "bits_saved" or name.startswith("kappa") else 2
    se = summary.get(name + "_se", math.nan)
    text = f"{mean:.{digits}f}"
    if math.isfinite(sd):
        text += f" ± {sd:.{digits}f}"
    low, high = summary[name + "_low"], summary[name + "_high"]
    if summary["fit"] == "posterior" and math.isfinite(low) and high > low:
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    if math.isfinite(se):
        text += f" SE {se:.{digits}f}"
    return text


def _lines(summaries: list[dict], names) -> list[list[str]]:
    """A row per summary: method, fit, the named cells and the diagnostics. A
    posterior row whose diagnostics failed shows its cells in parentheses."""
    lines = []
    for s in summaries:
        cells = [_cell(s, name) for name in names]
        status = "—"
        if s["fit"] == "posterior":
            status = "ok"
            if s["failed_seeds"]:
                cells = [f"({c})" if c != "—" else c for c in cells]
                status = f"FAIL on seeds {s['failed_seeds']}"
        lines.append([s["method"], FIT_LABELS.get(s["fit"], s["fit"]), *cells, status])
    return lines


def _aligned(header: list[str], lines: list[list[str]]) -> list[str]:
    """Fixed-width columns under a header and a rule."""
    rows = [header, *lines]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, ["-" * w for w in widths], *lines]
    ]


def format_table(summaries: list[dict]) -> str:
    """The results table (plain text, fixed width)."""
    header = ["method", "fit", *METRICS.values(), "diagnostics"]
    text = _aligned(header, _lines(summaries, METRICS))
    text.append(
        "map: the joint MAP from θ₀, a point estimate; local: one chain from each "
        "start's MAP (θ₀ and prior draws), local posteriors around the optima the "
        "starts reach, not the global posterior; honest / imitating mass: the "
        "share of a chain's draws whose intended head is truth-like / human-like, "
        "mean over chains, SE over chains (starts);\n"
        "mean ± sd over seeds [95% credible interval over posterior draws, averaged "
        "over seeds]; bits saved: SE of the estimate (MAP: from repeated AIS runs; "
        "posterior: Monte Carlo error of the mean), averaged over seeds; κ: "
        "λσ₂² × the top eigenvalue of C's Gauss–Newton matrix at the MAP's θ₁ and "
        "θ₂, with the model's λ for every method (conditioning can change the "
        "winner only where κ ≫ 1); constant_answer: always D's most common answer;\n"
        "(…) FAIL: sampler diagnostics failed (R-hat > "
        f"{MAX_RHAT}, ESS < {MIN_ESS:.0f}, NaN, divergences or a sampler warning), "
        "so these numbers are not results."
    )
    return "\n".join(text)


def format_subtypes(summaries: list[dict]) -> str:
    """The intended head's rates where only the human errs and where both
    labellers err; empty for a world without the careful labeller's counts."""
    shown = [
        s for s in summaries if math.isfinite(s.get("honest_both_wrong", math.nan))
    ]
    if not shown:
        return ""
    header = ["method", "fit", *SUBTYPES.values(), "diagnostics"]
    return "\n".join(_aligned(header, _lines(shown, SUBTYPES)))


def precondition(rows: list[dict]) -> dict:
    """Whether the world poses the question (DESIGN.md): ``data_only``, one head
    trained on D, imitates more often than it answers honestly on the test
    items, at the MAP and under the posterior (means over seeds). Where it
    answers honestly already, no method has anything to fix.

    Returns ``{"holds", "confirmed", "map", "posterior", "text"}``: ``holds``
    whether both fits' mean rates say so (None when ``data_only`` did not run),
    ``confirmed`` whether the posterior's diagnostics passed on every seed as
    well, and each fit's mean rates, seeds and how many of them imitated.
    """
    record: dict = {"holds": None, "confirmed": False}
    verdicts = []
    for fit in ("map", "posterior"):
        group = [
            r
            for r in rows
            if r["method"] == "data_only"
            and r["fit"] == fit
            and math.isfinite(r.get("honest", math.nan))
        ]
        if not group:
            record[fit] = None
            continue
        honest = np.array([r["honest"] for r in group])
        imitation = np.array([r["imitation"] for r in group])
        record[fit] = {
            "honest": float(honest.mean()),
            "imitation": float(imitation.mean()),
            "seeds": [r["seed"] for r in group],
            "seeds_imitating": int(np.sum(imitation > honest)),
            "diagnostics_failed": [r["seed"] for r in group if not r["diagnostics_ok"]],
        }
        verdicts.append(imitation.mean() > honest.mean())
    if verdicts:
        record["holds"] = bool(all(verdicts)) and record.get("posterior") is not None
        record["confirmed"] = bool(
            record["holds"] and not record["posterior"]["diagnostics_failed"]
        )
    record["text"] = _precondition_text(record)
    return record


def _precondition_text(record: dict) -> str:
    if record["holds"] is None:
        return "Precondition: not measured (data_only did not run)."
    parts = []
    for fit in ("map", "posterior"):
        r = record.get(fit)
        if r is None:
            parts.append(f"{fit}: no draws")
            continue
        part = (
            f"{fit}: imitation {r['imitation']:.2f} against honest {r['honest']:.2f} "
            f"(imitating on {r['seeds_imitating']} of {len(r['seeds'])} seeds)"
        )
        if r["diagnostics_failed"]:
            part += f", diagnostics failed on seeds {r['diagnostics_failed']}"
        parts.append(part)
    if record["confirmed"]:
        verdict = "holds: the world poses the question"
    elif record["holds"]:
        verdict = (
            "holds by the numbers, but the posterior's diagnostics failed, so "
            "its half is unconfirmed"
        )
    else:
        verdict = (
            "FAILS: data_only does not imitate, so this world cannot tell an "
            "honest method from one that imitates"
        )
    return (
        "Precondition (data_only imitates more often than it answers honestly) "
        f"{verdict}.\n  " + "; ".join(parts)
    )


def format_checks(checks: dict) -> str:
    """The inference checks at one MAP (``log_z_estimates.inference_checks``): log Ẑ
    per AIS budget and by the reference (HMC moves), how far the table's
    budget sits below the reference (else the largest budget), C at θ₁ and
    θ₂, and the log posterior."""
    budgets = sorted(checks["log_z"], key=int)
    means = {n: float(np.mean(checks["log_z"][n])) for n in budgets}
    parts = [_runs(f"{n} particles", checks["log_z"][n]) for n in budgets]
    lines = [
        f"Inference checks ({checks['method']} MAP, seed {checks['seed']})",
        "  log Ẑ(θ₁) by AIS, mean (runs): " + "; ".join(parts),
    ]
    reference = checks.get("reference")  # absent from results before session 46
    if reference:
        move = reference["move"]
        best = f"{reference['particles']}-particle HMC reference"
        lines.append(
            "  "
            + _runs(
                f"reference, {reference['particles']} particles with HMC moves "
                f"({move['num_mcmc_steps']} × {move['num_integration_steps']} "
                "leapfrog steps)",
                reference["log_z"],
            )
        )
        best_mean = float(np.mean(reference["log_z"]))
    else:
        best = f"{budgets[-1]}-particle one"
        best_mean = means[budgets[-1]]
    island_z = checks.get("island_z")  # absent from results of before 2026-12-07
    if island_z:
        worst = {n: _largest(island_z[n]) for n in budgets}
        text = "; ".join(f"{n} particles {worst[n]:.1f}" for n in budgets)
        if reference:
            text += f"; reference {_largest(reference['island_z']):.1f}"
        lines.append(
            "  largest |island_z| (beyond 4: the moves did not mix, and each "
            "run's SE is too small): " + text
        )
    table = str(checks["table_particles"])
    if table in means and (reference or table != budgets[-1]):
        gap = best_mean - means[table]
        lines.append(
            f"  the table's bits saved use {table} particles: their log Ẑ is "
            f"{gap:.1f} nats below the {best} ({gap / math.log(2):.0f} "
            "bits), a bias their SE does not show"
        )
    what = f"{budgets[-1]} particles" if not reference else "the reference"
    lines.append(
        f"  C(θ₁) {checks['disagreement_theta1']:.3f}, C(θ₂) "
        f"{checks['disagreement_theta2']:.3f}; log posterior at the MAP, "
        f"log p̃ − log Ẑ ({what}): {checks['log_posterior']:.1f}"
    )
    return "\n".join(lines)


def _runs(label: str, values) -> str:
    """``label mean (run, run, ...)``."""
    runs = ", ".join(f"{v:.1f}" for v in values)
    return f"{label} {float(np.mean(values)):.1f} ({runs})"


def _largest(values) -> float:
    return float(np.nanmax(np.abs(np.asarray(values, float)), initial=0.0))


def format_diagnostics(rows: list[dict]) -> str:
    """One line per posterior run: R-hat, ESS, inner ESS (of the particles), one
    AIS estimate's log Z SE in nats (from the repeats at the MAP), divergent
    steps, non-finite draws, time and problems."""
    lines = [
        "method        seed  sampler           max R-hat  min ESS  inner ESS  "
        "log Z SE  divergent  NaN  time  status"
    ]
    for r in rows:
        if r["fit"] != "posterior":
            continue
        status = "ok" if r["diagnostics_ok"] else "FAIL: " + _problems(r["problems"])
        lines.append(
            f"{r['method']:<13} {r['seed']:>4}  {r.get('sampler', '—'):<16}  "
            f"{_num(r.get('max_rhat'), 2):>9}  "
            f"{_num(r.get('min_ess'), 0):>7}  {_num(r.get('inner_ess'), 1):>9}  "
            f"{_num(r.get('log_z_se'), 2):>8}  "
            f"{_count(r.get('num_diverging')):>9}  {_count(r.get('nonfinite')):>3}  "
            f"{r['seconds']:>4.0f}s  {status}"
        )
    return "\n".join(lines)


def _problems(problems: list[str]) -> str:
    """The problems joined, each kind once: a run's log Z records warn one by
    one, in words that differ only in their numbers."""
    groups: dict[str, list[str]] = {}
    for problem in problems:
        groups.setdefault(re.sub(r"\d+(\.\d+)?", "#", problem), []).append(problem)
    return "; ".join(
        same[0] if len(same) == 1 else f"{same[0]} (and {len(same) - 1} more alike)"
        for same in groups.values()
    )


def _count(value) -> str:
    return "—" if value is None else str(value)


def _num(value, digits) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def format_pairs(summaries: list[dict]) -> str:
    """The 3 × 3 head-pair tables: rows the intended head's class, columns the
    instrumental head's, as fractions of draws (posterior) or seeds (MAP)."""
    blocks = []
    short = [c.split("-")[0] for c in CLASSES]
    for s in summaries:
        table = np.asarray(s["head_pairs"], float)
        total = table.sum()
        if total == 0:
            continue
        unit = "seeds" if s["fit"] == "map" else "draws"
        lines = [f"{s['method']} ({s['fit']}, {int(total)} {unit})"]
        lines.append(
            "  intended \\ instrumental  " + "  ".join(f"{c:>6}" for c in short)
        )
        for name, row in zip(CLASSES, table / total, strict=True):
            lines.append(f"  {name:<24}" + "  ".join(f"{v:6.2f}" for v in row))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
