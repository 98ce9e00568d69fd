r"""Is a run to be trusted? Checks of a finished ``sample`` run, per chain.

:func:`diagnose` reads the DataTree that ``sample`` returns and lists every sign
that its numbers may be wrong; ``sample`` calls it at the end of every run and
warns with each problem found, naming the chain, the fraction and what to do.
Users may call it on any tree from ``sample`` (or one loaded from NetCDF).

The checks and their thresholds:

- **Non-finite values** (NaN or ±inf) in any recorded draw: any at all.
- **Divergences** (``sample_stats.diverging``: a divergent NUTS/HMC trajectory,
  or an SGLD/SGHMC step whose position went non-finite and was undone): more
  than :data:`MAX_DIVERGING` of a chain's kept steps.
- **Inner particles** (SGLD/SGHMC): a mean ESS below :data:`MIN_INNER_ESS` of
  the particles, so that ∇log Z comes from one or two of them.
- **log Z records**: an AIS ESS below :data:`MIN_INNER_ESS` of the particles, a
  run that hit its cap of temperatures, or a mean standard error
  (``log_partition``'s ``log_z_se``) above :data:`MAX_LOG_Z_SE` nats, which is
  how a large λ shows itself behind a healthy ESS; or a median |island_z|
  (the two islands of each record against each other) above
  :data:`MAX_ISLAND_Z` over three records at least, which says the AIS moves
  do not mix and the SE is too small.
- **The nested-AIS θ₁ move** (``sample_stats.nested_log_z_se``): a mean
  standard error of its log Ẑ above :data:`MAX_LOG_Z_SE` nats, whose noise
  biases θ₁. Below about 16 particles the run's own SE understates (see
  docs/samplers.md), so silence there proves less.
- **Convergence** of the scalar summaries (C(θ₂), L(θ₂) and log Ẑ(θ₁) when
  recorded at every draw): rank-normalised split R-hat above :data:`MAX_RHAT`, or
  a bulk ESS below :data:`MIN_ESS_PER_CHAIN` per chain, the thresholds of Vehtari,
  Gelman, Simpson, Carpenter & Bürkner (2021), *Rank-normalization, folding, and
  localization: an improved R-hat*. R-hat of raw network weights is expected to
  be poor even in a good run (a network's posterior is invariant under
  permutations of hidden units and sign flips), so it is not checked.
"""

import warnings
from typing import NamedTuple

import numpy as np

__all__ = [
    "ConvergenceWarning",
    "Diagnosis",
    "SamplingWarning",
    "diagnose",
    "warn",
]

MAX_DIVERGING = 0.01
MIN_INNER_ESS = 0.1
MAX_LOG_Z_SE = 0.5
#: |island_z| above which `log_partition` warns that its SE is too small:
#: two-sided 6e-5 where the moves mix and the islands are large (the z-score
#: is standard normal there, tests/samplers/test_log_z_se.py; with 8-64
#: particles it is wider, docs/samplers.md). `sample` checks a chain's median
#: over its log Z records against it, with at least MIN_ISLAND_RECORDS of them.
MAX_ISLAND_Z = 4.0
MIN_ISLAND_RECORDS = 3
MAX_RHAT = 1.01
MIN_ESS_PER_CHAIN = 100
SCALARS = ("disagreement", "log_likelihood_total", "log_partition")


class SamplingWarning(UserWarning):
    """A run's numbers may be wrong: NaN, divergences, collapsed ESS, capped
    budgets."""


class ConvergenceWarning(SamplingWarning):
    """The chains have not mixed, or have not reached stationarity, by the
    R-hat and ESS of the scalar summaries."""


class Diagnosis(NamedTuple):
    """What :func:`diagnose` found.

    Attributes:
        problems: ``(category, message)`` pairs, empty for a healthy run.
        rhat: R-hat of each scalar summary (NaN with one chain).
        ess_bulk: bulk ESS of each scalar summary.
        diverging: fraction of divergent kept steps, per chain.
    """

    problems: list[tuple[type[Warning], str]]
    rhat: dict[str, float]
    ess_bulk: dict[str, float]
    diverging: np.ndarray | None

    @property
    def ok(self) -> bool:
        return not self.problems


def _chains(mask) -> str:
    chains = np.flatnonzero(mask)
    return ", ".join(str(c) for c in chains[:8]) + (" …" if chains.size > 8 else "")


def _finite_problems(tree):
    problems = []
    for name, values in tree.posterior.data_vars.items():
        bad = ~np.isfinite(np.asarray(values, dtype=float))
        if name == "log_partition" or name == "bits_saved":
            continue  # NaN between recorded draws by design; checked below
        per_chain = bad.reshape(bad.shape[0], -1).mean(axis=1)
        if per_chain.any():
            problems.append(
                f"{name} is NaN or infinite in chains {_chains(per_chain > 0)} "
                f"(up to {per_chain.max():.1%} of the draws): the sampler met a "
                "NaN likelihood, disagreement or gradient. Lower the step size, "
                "lengthen the warm-up, or check the model at the chains' values."
            )
    return problems


def _diverging(stats):
    if "diverging" not in stats:
        return None, []
    fraction = np.asarray(stats["diverging"], dtype=float).mean(axis=1)
    bad = fraction > MAX_DIVERGING
    if not bad.any():
        return fraction, []
    return fraction, [
        f"{fraction.max():.1%} of the kept steps diverged in chains "
        f"{_chains(bad)} (threshold {MAX_DIVERGING:.0%}; see "
        "sample_stats.diverging). Lower the step size (SGLD/SGHMC) or lengthen "
        "the warm-up (NUTS/HMC adapts its step there)."
    ]


def _inner_problems(tree, stats):
    problems = []
    num_inner = tree.attrs.get("num_inner")
    if "inner_ess" in stats and num_inner:
        fraction = row_means(np.asarray(stats["inner_ess"], dtype=float))
        fraction = fraction / num_inner
        bad = fraction < MIN_INNER_ESS
        if bad.any():
            # A minibatch of C adds its noise to the carry's weights.
            batch = tree.attrs.get("agreement_batch_size")
            larger = "" if batch is None else f", or `agreement_batch_size` ({batch})"
            problems.append(
                f"The inner particles' ESS collapsed to {fraction[bad].min():.1%} of "
                f"{num_inner} in chains {_chains(bad)}: ∇log Z rests on one or two "
                "particles. Raise `num_inner_steps`, lower the step size, or raise "
                f"`num_inner`{larger}."
            )
    if "log_partition_ess" in stats:
        ess = np.asarray(stats["log_partition_ess"], dtype=float)
        done = np.isfinite(ess)
        low = np.where(done, ess < MIN_INNER_ESS, False).any(axis=1)
        capped = (np.nan_to_num(np.asarray(stats["log_partition_capped"])) > 0).any(
            axis=1
        )
        mean_se = row_means(np.asarray(stats["log_partition_se"], dtype=float))
        island = _row_medians(np.abs(stats.get("log_partition_island_z", ess * np.nan)))
        for mask, what in [
            (low, f"an AIS ESS below {MIN_INNER_ESS:.0%} of the particles"),
            (capped, "AIS runs that hit their cap of temperatures"),
            (
                mean_se > MAX_LOG_Z_SE,
                f"a standard error of {np.nanmax(mean_se, initial=0.0):.2g} nats "
                f"(above {MAX_LOG_Z_SE})",
            ),
        ]:
            if mask.any():
                problems.append(
                    f"The recorded log Z (bits saved) has {what} in chains "
                    f"{_chains(mask)}: raise `log_partition_particles`."
                )
        bad = island > MAX_ISLAND_Z
        if bad.any():
            problems.append(
                f"The recorded log Z (bits saved) comes from AIS runs whose two "
                f"islands disagree: a median |island_z| of {np.nanmax(island):.1f} "
                f"(above {MAX_ISLAND_Z}) in chains {_chains(bad)}. The AIS moves "
                "do not mix on this target, so the estimates sit low by more "
                "than their SE says. Estimate log Z at chosen draws with "
                "`samplers.log_partition(..., move='hmc', num_mcmc_steps=2, "
                "num_integration_steps=10)`, and compare."
            )
    if "nested_log_z_se" in stats:
        mean_se = row_means(np.asarray(stats["nested_log_z_se"], dtype=float))
        bad = mean_se > MAX_LOG_Z_SE
        if bad.any():
            problems.append(
                f"The nested AIS estimates of log Z(θ₁) have a standard error of "
                f"{np.nanmax(mean_se):.2g} nats in chains {_chains(bad)} (above "
                f"{MAX_LOG_Z_SE}): their noise biases θ₁. Raise "
                "`NestedAIS(particles=...)`, or its `max_particles` (warm-up "
                "raises the particles up to it while their SE is above its "
                "`tolerance`)."
            )
    return problems


def _row_medians(values, minimum=MIN_ISLAND_RECORDS):
    """Median of each chain's finite entries; NaN for a chain with fewer than
    ``minimum`` (one or two records prove little)."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape[0], np.nan)
    for chain, row in enumerate(values):
        row = row[np.isfinite(row)]
        if row.size >= minimum:
            out[chain] = np.median(row)
    return out


def row_means(values):
    """Mean of each chain's finite entries; NaN for a chain with none (a NaN
    compares False, so such a chain is judged by the other checks)."""
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _convergence(tree):
    import arviz as az

    names = [
        n
        for n in SCALARS
        if n in tree.posterior.data_vars
        and np.isfinite(np.asarray(tree.posterior[n])).all()
    ]
    if not names:
        return {}, {}, []
    num_chains, num_draws = tree.posterior[names[0]].shape[:2]
    # A chain that never moved has no variance: ArviZ then divides by zero and
    # returns NaN, which is flagged below, not passed.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ess = {n: float(az.ess(tree, var_names=[n], method="bulk")[n]) for n in names}
        rhat = {n: float("nan") for n in names}
        if num_chains > 1:
            rhat = {n: float(az.rhat(tree, var_names=[n])[n]) for n in names}
    problems = []
    high = {n: r for n, r in rhat.items() if num_chains > 1 and not r <= MAX_RHAT}
    low = {n: e for n, e in ess.items() if not e >= MIN_ESS_PER_CHAIN * num_chains}
    if high or low:
        parts = [f"R-hat {r:.3g} for {n}" for n, r in high.items()]
        parts += [f"bulk ESS {e:.0f} for {n}" for n, e in low.items()]
        problems.append(
            f"The chains have not converged: {', '.join(parts)} (want R-hat ≤ "
            f"{MAX_RHAT} and ESS ≥ {MIN_ESS_PER_CHAIN} per chain, over {num_chains} "
            f"chains × {num_draws} draws). Run longer (more `num_warmup` and "
            "`num_samples`), start the chains from `find_map` (`init=`), or use "
            "more chains."
        )
    return rhat, ess, problems


def diagnose(tree) -> Diagnosis:
    """Every check above on a tree from ``sample``; nothing is warned.

    Example:
        Ten draws of two chains are too few, and the diagnosis says so:

        >>> import jax.random as jr
        >>> import posterior, samplers
        >>> case = posterior.LinearGaussianCase.random(
        ...     jr.key(0), d=3, m=2, n=8, lam=1.0, sigma1=1.0, sigma2=0.5
        ... )
        >>> tree = samplers.sample(
        ...     case.model, key=jr.key(1), method="sgld", num_chains=2,
        ...     num_warmup=30, num_samples=10, init="theta0",
        ...     log_partition_every=5, log_partition_particles=8, progress=False,
        ... )
        >>> diagnosis = samplers.diagnose(tree)
        >>> [category.__name__ for category, _ in diagnosis.problems]
        ['ConvergenceWarning']
        >>> sorted(diagnosis.rhat)  # the scalar summaries it checks
        ['disagreement', 'log_likelihood_total']
    """
    stats = tree["sample_stats"] if "sample_stats" in tree.children else {}
    problems = [(SamplingWarning, m) for m in _finite_problems(tree)]
    diverging, messages = _diverging(stats)
    problems += [(SamplingWarning, m) for m in messages]
    problems += [(SamplingWarning, m) for m in _inner_problems(tree, stats)]
    rhat, ess, messages = _convergence(tree)
    problems += [(ConvergenceWarning, m) for m in messages]
    return Diagnosis(problems, rhat, ess, diverging)


def warn(diagnosis: Diagnosis, stacklevel: int = 2) -> None:
    """One warning per problem, of its category."""
    for category, message in diagnosis.problems:
        warnings.warn(message, category, stacklevel=stacklevel + 1)
