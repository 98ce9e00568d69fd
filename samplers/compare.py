r"""When two runs of the same posterior disagree: by how much, and which to trust.

Two θ₁ moves (the exact exchange move and nested AIS, say) can return
posteriors that differ. :func:`compare_runs` first asks whether they differ at
all beyond Monte Carlo error: for every shared scalar and stored coordinate,

$$z = \frac{\bar x_1 - \bar x_2}{\sqrt{\mathrm{MCSE}_1^2 + \mathrm{MCSE}_2^2}},$$

with each MCSE from ArviZ (the ESS-based standard error of the mean), tested
two-sided at a family-wise level with Bonferroni over the $m$ quantities. Then
it reads each run's own evidence, in this order:

1. a run that :func:`~samplers.diagnose` flags (NaN, divergences, collapsed
   inner ESS, R-hat or ESS of its summaries) is not to be trusted;
2. a run whose θ₁ move is approximate (``tree.attrs["approximate"]``: nested
   AIS, SGLD/SGHMC) may carry a bias that its MCSE does not show;
3. an exchange run whose auxiliary draws missed their cap
   (``sample_stats.auxiliary_found``) is biased towards larger Z.

A run that passes all three is exact and converged as far as a run can show,
and wins a disagreement. Otherwise nothing in the two runs can settle it, and
the verdict says what to rerun: the approximate run with a larger budget
(``nested_particles`` doubled, or a smaller SGLD step), whose shift towards
the other run, beyond its MCSE, shows that the budget was the cause.
"""

from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from samplers import health

__all__ = ["Comparison", "compare_runs"]

# Settings that define the posterior: runs that differ in one sample different
# distributions, and comparing them says nothing about either sampler.
_POSTERIOR_ATTRS = ("baseline", "lam", "sigma1", "sigma2")


class Comparison(NamedTuple):
    """What :func:`compare_runs` found.

    Attributes:
        z: ``{name: array}``, the z-score of the difference of the means of
            each compared variable (one per stored coordinate).
        threshold: the |z| above which a difference is significant
            (two-sided, Bonferroni over every compared coordinate).
        differs: ``{name: array}`` of ``|z| > threshold``.
        doubts: ``(first, second)``, each run's reasons not to be trusted
            (empty for an exact run that passed every check).
        verdict: one paragraph: whether the runs agree, and if not, which to
            trust or what to rerun.
    """

    z: dict[str, np.ndarray]
    threshold: float
    differs: dict[str, np.ndarray]
    doubts: tuple[list[str], list[str]]
    verdict: str

    @property
    def agree(self) -> bool:
        return not any(np.any(d) for d in self.differs.values())


def compare_runs(first, second, *, var_names=None, level: float = 0.01) -> Comparison:
    """Compare two ``sample`` runs of the same posterior (see the module).

    Args:
        first, second: DataTrees from :func:`~samplers.sample` (or
            :func:`~samplers.load_run`) of the same model and baseline.
        var_names: posterior variables to compare; default every numeric one
            the two runs share (θ's stored coordinates, C, L, …).
        level: family-wise false-alarm rate of "the runs differ".

    Returns:
        A :class:`Comparison`.

    Example:
        Two runs of one posterior agree; each draws independent normals here,
        so the example needs no sampler:

        >>> import numpy as np
        >>> from samplers.diagnostics import to_inference_data
        >>> def run(seed):
        ...     draws = np.random.default_rng(seed).normal(size=(4, 500))
        ...     return to_inference_data(
        ...         {"disagreement": draws},
        ...         attrs={"baseline": "two_stage", "approximate": 0})
        >>> compare_runs(run(0), run(1)).agree
        True
    """
    if not 0 < level < 1:
        raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
    for name, tree in (("first", first), ("second", second)):
        if "posterior" not in getattr(tree, "children", {}):
            raise TypeError(f"`{name}` must be a DataTree from `sample`.")
    for attr in _POSTERIOR_ATTRS:
        a, b = first.attrs.get(attr), second.attrs.get(attr)
        if a is not None and b is not None and a != b:
            raise ValueError(
                f"`first` and `second` sample different posteriors ({attr} "
                f"{a!r} against {b!r}); compare runs of one posterior."
            )
    names = _shared(first, second, var_names)
    z = {n: _z_scores(first, second, n) for n in names}
    count = sum(v.size for v in z.values())
    threshold = NormalDist().inv_cdf(1 - level / (2 * max(count, 1)))
    # NaN (a run with NaN draws) cannot show agreement: it counts as differing.
    differs = {n: ~(np.abs(v) <= threshold) for n, v in z.items()}
    doubts = (_doubts(first), _doubts(second))
    verdict = _verdict(z, differs, threshold, doubts)
    return Comparison(z, threshold, differs, doubts, verdict)


def _shared(first, second, var_names):
    available = [
        n
        for n in first.posterior.data_vars
        if n in second.posterior.data_vars
        and np.issubdtype(first.posterior[n].dtype, np.number)
        and _same_coordinates(first.posterior[n], second.posterior[n])
    ]
    if var_names is None:
        if not available:
            raise ValueError("`first` and `second` share no numeric variable.")
        return available
    missing = [n for n in var_names if n not in available]
    if missing:
        raise ValueError(
            f"`var_names` {missing} are not numeric variables of both runs; "
            f"they share {available}."
        )
    return list(var_names)


def _same_coordinates(a, b) -> bool:
    """Same shape and labels beyond (chain, draw): runs that stored other θ
    coordinates (``param_indices``) must not be compared index by index."""
    if a.dims[2:] != b.dims[2:] or a.shape[2:] != b.shape[2:]:
        return False
    return all(
        np.array_equal(np.asarray(a[d]), np.asarray(b[d]))
        for d in a.dims[2:]
        if d in a.coords and d in b.coords
    )


def _z_scores(first, second, name):
    means, variances = [], []
    for tree in (first, second):
        values = np.asarray(tree.posterior[name], dtype=float)
        means.append(values.mean(axis=(0, 1)))
        variances.append(_mcse(tree, name) ** 2)
    se = np.sqrt(variances[0] + variances[1])
    # A variable constant in both runs (se 0) differs only if the constants do.
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (means[0] - means[1]) / se
    return np.where(se > 0, z, np.where(means[0] == means[1], 0.0, np.inf))


def _mcse(tree, name):
    import arviz as az

    return np.asarray(az.mcse(tree, var_names=[name], method="mean")[name], float)


def _doubts(tree) -> list[str]:
    reasons = [message for _, message in health.diagnose(tree).problems]
    if int(tree.attrs.get("approximate", 0)):
        move = tree.attrs.get("theta1_update") or tree.attrs.get("method", "?")
        reasons.append(
            f"its θ₁ move is approximate ({move}): a bias its MCSE does not show"
        )
    stats = tree["sample_stats"] if "sample_stats" in tree.children else {}
    if "auxiliary_found" in stats:
        missed = int(np.sum(~np.asarray(stats["auxiliary_found"], dtype=bool)))
        if missed:
            reasons.append(
                f"{missed} exchange auxiliary draws missed their cap (a bias "
                "towards larger Z)"
            )
    return reasons


def _verdict(z, differs, threshold, doubts) -> str:
    count = sum(v.size for v in z.values())
    sizes = [np.abs(v)[~np.isnan(v)] for v in z.values()]
    largest = max((float(x.max()) for x in sizes if x.size), default=float("nan"))
    flagged = [n for n, d in differs.items() if np.any(d)]
    if not flagged:
        return (
            f"The runs agree within Monte Carlo error: the largest |z| over "
            f"{count} quantities is {largest:.2f}, under {threshold:.2f}."
        )
    head = (
        f"The runs differ in {', '.join(flagged)} (largest |z| {largest:.2f}, "
        f"threshold {threshold:.2f} over {count} quantities)."
    )
    clean = [not d for d in doubts]
    if clean[0] != clean[1]:
        good, bad = ("first", "second") if clean[0] else ("second", "first")
        reasons = doubts[1 if clean[0] else 0]
        return (
            f"{head} Trust the {good} run: it is exact and passed every check. "
            f"The {bad} run: {'; '.join(reasons)}."
        )
    if all(clean):
        return (
            f"{head} Both runs are exact and passed every check, so one of the "
            "checks missed a problem: run both longer, from the other's draws."
        )
    return (
        f"{head} Neither run can be trusted over the other (first: "
        f"{'; '.join(doubts[0])}; second: {'; '.join(doubts[1])}). Rerun the "
        "approximate one with a larger budget (`nested_particles` doubled, or "
        "half the SGLD step) and compare again: a shift towards the other run "
        "beyond its MCSE shows that its budget was the cause."
    )
