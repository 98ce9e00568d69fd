"""The honest-QA verdict: the declared endpoint, compared between methods paired
by world seed (docs/honest_qa.md, "The verdict").

For each comparison (``two_stage`` against ``data_only`` and against
``penalty_only``) the per-seed differences of the endpoint get a two-sided
Wilcoxon signed-rank p-value, Holm's correction over the comparisons, a 95%
paired-bootstrap interval of their mean, and the minimal detectable difference
(MDD): the mean difference that the test would detect with power 0.8 at its
Holm level, from the differences' spread,

$$\\mathrm{MDD} = \\frac{t_{1-\\alpha/(2m),\\,n-1} + t_{0.8,\\,n-1}}{\\sqrt{3/\\pi}}
  \\cdot \\frac{s}{\\sqrt n},$$

with m comparisons and √(3/π) the Wilcoxon test's efficiency against the
t-test under normal differences.
"""

import math

import numpy as np
from scipy import stats

__all__ = ["COMPARISONS", "ENDPOINT", "compare", "holm", "verdict"]

ENDPOINT = "honest_share"
COMPARISONS = (("two_stage", "data_only"), ("two_stage", "penalty_only"))
ALPHA = 0.05
POWER = 0.8


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def _paired(rows, endpoint, fit, first, second):
    """Seeds where both methods have a finite endpoint, their differences, and
    the seeds whose rows failed their diagnostics."""
    values = {}
    for row in rows:
        value = row.get(endpoint)
        if row["fit"] == fit and value is not None and math.isfinite(value):
            values[(row["method"], row["seed"])] = (value, row["diagnostics_ok"])
    seeds = sorted(s for (m, s) in values if m == first and (second, s) in values)
    diffs = np.array([values[(first, s)][0] - values[(second, s)][0] for s in seeds])
    failed = [
        s for s in seeds if not (values[(first, s)][1] and values[(second, s)][1])
    ]
    return seeds, diffs, failed


def _mdd(diffs: np.ndarray, level: float) -> float:
    n = len(diffs)
    sd = float(np.std(diffs, ddof=1))
    quantiles = stats.t.ppf(1 - level / 2, n - 1) + stats.t.ppf(POWER, n - 1)
    return float(quantiles * sd / math.sqrt(n) / math.sqrt(3 / math.pi))


def compare(
    rows: list[dict],
    *,
    endpoint: str = ENDPOINT,
    fit: str = "posterior",
    num_resamples: int = 10_000,
    seed: int = 0,
) -> list[dict]:
    """One record per comparison of :data:`COMPARISONS`: the seeds, the mean
    difference (first − second) with its bootstrap interval, the Wilcoxon and
    Holm-adjusted p-values, the MDD, and the seeds whose rows failed their
    diagnostics. Fewer than two paired seeds give NaN statistics."""
    rng = np.random.default_rng(seed)
    records = []
    for first, second in COMPARISONS:
        seeds, diffs, failed = _paired(rows, endpoint, fit, first, second)
        record = {
            "comparison": f"{first} - {second}",
            "seeds": seeds,
            "differences": diffs.tolist(),
            "mean_difference": float(diffs.mean()) if seeds else math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "p_value": math.nan,
            "mdd": math.nan,
            "diagnostics_failed": failed,
        }
        if len(seeds) >= 2:
            means = diffs[rng.integers(0, len(seeds), (num_resamples, len(seeds)))]
            low, high = np.percentile(means.mean(axis=1), [2.5, 97.5])
            record.update(ci_low=float(low), ci_high=float(high))
            # All differences zero: no evidence either way (scipy refuses).
            record["p_value"] = (
                1.0
                if not np.any(diffs)
                else float(stats.wilcoxon(diffs, alternative="two-sided").pvalue)
            )
            record["mdd"] = _mdd(diffs, ALPHA / len(COMPARISONS))
        records.append(record)
    finite = [r for r in records if math.isfinite(r["p_value"])]
    for record, adjusted in zip(
        finite, holm([r["p_value"] for r in finite]), strict=True
    ):
        record["p_holm"] = float(adjusted)
    for record in records:
        record.setdefault("p_holm", math.nan)
        record["conclusion"] = _conclusion(record)
    return records


def _conclusion(record: dict) -> str:
    first, second = record["comparison"].split(" - ")
    n = len(record["seeds"])
    if n < 2:
        return f"{first} against {second}: fewer than two paired seeds, no test"
    if record["p_holm"] < ALPHA:
        direction = "more" if record["mean_difference"] > 0 else "less"
        text = f"{first} is {direction} honest than {second}"
    else:
        text = (
            f"no difference detected between {first} and {second} (one smaller "
            f"than the MDD, {record['mdd']:.2f}, cannot be ruled out"
        )
        floor = 2.0 / 2**n
        if floor >= ALPHA / len(COMPARISONS):
            text += f"; with {n} seeds no p-value can fall below {floor:.2g}"
        text += ")"
    if record["diagnostics_failed"]:
        text += (
            f", on rows whose sampler diagnostics failed on seeds "
            f"{record['diagnostics_failed']}"
        )
    return text


def verdict(rows: list[dict], **kwargs) -> dict:
    """The primary comparison (the honest share under the posterior) and the
    secondary ones (the same at the MAP, and the honest rate), with a text.
    ``kwargs`` go to :func:`compare`."""
    primary = compare(rows, endpoint=ENDPOINT, fit="posterior", **kwargs)
    secondary = {
        "honest_share at the MAP": compare(
            rows, endpoint=ENDPOINT, fit="map", **kwargs
        ),
        "honest rate under the posterior": compare(
            rows, endpoint="honest", fit="posterior", **kwargs
        ),
    }
    lines = [
        "Verdict (primary endpoint: the intended head's honest share, "
        "honest / (honest + imitation), posterior mean per seed; paired Wilcoxon, "
        f"Holm over {len(COMPARISONS)} comparisons, α = {ALPHA})"
    ]
    lines += [_line(r) for r in primary]
    for name, records in secondary.items():
        lines.append(f"  secondary, {name}:")
        lines += ["  " + _line(r) for r in records]
    return {
        "endpoint": ENDPOINT,
        "fit": "posterior",
        "alpha": ALPHA,
        "comparisons": primary,
        "secondary": secondary,
        "text": "\n".join(lines),
    }


def _line(record: dict) -> str:
    if len(record["seeds"]) < 2:
        return f"  {record['conclusion']}."
    return (
        f"  {record['comparison']}: {record['mean_difference']:+.3f} "
        f"[{record['ci_low']:+.3f}, {record['ci_high']:+.3f}] over "
        f"{len(record['seeds'])} seeds, p = {record['p_value']:.3g} "
        f"(Holm {record['p_holm']:.3g}), MDD {record['mdd']:.3f}: "
        f"{record['conclusion']}."
    )
