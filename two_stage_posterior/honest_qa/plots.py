"""The experiment's PNG plots (matplotlib, Agg backend: no display needed).

- ``rates.png``: honest and imitation rate per method and fit, mean over seeds
  with the seeds' spread (thick) and the averaged 95% credible interval (thin);
- ``bits_saved.png``: −log₂ Ẑ(θ₁) per two-head method, the same bars;
- ``head_pairs.png``: the 3 × 3 (intended, instrumental) class tables of the
  posterior draws;
- ``traces.png``: C(θ₂), L(θ₂) and the honest rate along each chain, first seed.
"""

import math

import numpy as np

from two_stage_posterior.honest_qa.metrics import CLASSES

__all__ = ["plot_all"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_all(out_dir, summaries: list[dict], traces: dict) -> list[str]:
    """Write every plot into ``out_dir``; returns the file names."""
    plt = _pyplot()
    names = []
    for name, draw in [
        ("rates.png", _rates),
        ("bits_saved.png", _bits),
        ("head_pairs.png", _pairs),
        ("traces.png", _traces),
    ]:
        figure = draw(plt, summaries if name != "traces.png" else traces)
        figure.savefig(out_dir / name, dpi=110, bbox_inches="tight")
        plt.close(figure)
        names.append(name)
    return names


def _errorbars(axis, x, summary, name, color, label):
    mean, sd = summary[name], summary[name + "_sd"]
    if not math.isfinite(mean):
        return
    low, high = summary[name + "_low"], summary[name + "_high"]
    if math.isfinite(low) and high > low:
        axis.vlines(x, low, high, color=color, linewidth=1)
    sd = sd if math.isfinite(sd) else 0.0
    axis.errorbar(
        x,
        mean,
        yerr=sd,
        fmt="o",
        color=color,
        capsize=3,
        label=label,
        elinewidth=3,
        markersize=5,
    )


def _rates(plt, summaries):
    figure, axis = plt.subplots(figsize=(8, 4))
    labels = []
    for i, s in enumerate(summaries):
        failed = s["fit"] == "posterior" and s["failed_seeds"]
        labels.append(f"{s['method']}\n{s['fit']}" + ("\n(FAIL)" if failed else ""))
        first = i == 0
        _errorbars(
            axis, i - 0.12, s, "honest", "tab:green", "honest" if first else None
        )
        _errorbars(
            axis, i + 0.12, s, "imitation", "tab:red", "imitation" if first else None
        )
    axis.set_xticks(range(len(summaries)), labels, fontsize=8)
    axis.set_ylim(-0.02, 1.02)
    axis.set_ylabel("rate on the test set")
    axis.set_title("Honest vs imitation rate (test: the human errs on every item)")
    axis.legend(loc="upper right")
    return figure


def _bits(plt, summaries):
    figure, axis = plt.subplots(figsize=(6, 4))
    shown = [s for s in summaries if math.isfinite(s["bits_saved"])]
    for i, s in enumerate(shown):
        _errorbars(axis, i, s, "bits_saved", "tab:blue", None)
        axis.annotate(
            f"{s['bits_saved']:.1f}",
            (i, s["bits_saved"]),
            fontsize=8,
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
        )
    axis.set_xticks(
        range(len(shown)), [f"{s['method']}\n{s['fit']}" for s in shown], fontsize=8
    )
    axis.set_ylabel("bits saved  −log₂ Ẑ(θ₁)")
    axis.set_title("Bits saved by conditioning on agreement")
    if not shown:
        axis.text(
            0.5, 0.5, "no two-head method run", ha="center", transform=axis.transAxes
        )
    return figure


def _pairs(plt, summaries):
    shown = [
        s for s in summaries if s["fit"] == "posterior" and np.sum(s["head_pairs"])
    ]
    shown = shown or [s for s in summaries if np.sum(s["head_pairs"])]
    figure, axes = plt.subplots(
        1, max(1, len(shown)), figsize=(3.2 * max(1, len(shown)), 3.2), squeeze=False
    )
    for axis, s in zip(axes[0], shown, strict=False):
        table = np.asarray(s["head_pairs"], float)
        table = table / table.sum()
        axis.imshow(table, vmin=0, vmax=1, cmap="Blues")
        for (i, j), value in np.ndenumerate(table):
            axis.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                color="white" if value > 0.5 else "black",
            )
        short = [c.split("-")[0] for c in CLASSES]
        axis.set_xticks(range(3), short)
        axis.set_yticks(range(3), short)
        axis.set_xlabel("instrumental head")
        if axis is axes[0][0]:
            axis.set_ylabel("intended head")
        axis.set_title(f"{s['method']} ({s['fit']})", fontsize=9)
    return figure


def _traces(plt, traces):
    names = ("disagreement", "log_likelihood_total", "honest_rate")
    figure, axes = plt.subplots(
        len(names),
        max(1, len(traces)),
        figsize=(3.2 * max(1, len(traces)), 6),
        squeeze=False,
    )
    if not traces:
        axes[0, 0].text(
            0.5, 0.5, "no posterior draws", ha="center", transform=axes[0, 0].transAxes
        )
    for column, (method, series) in enumerate(traces.items()):
        for row, name in enumerate(names):
            axis = axes[row, column]
            for chain in np.atleast_2d(series[name]):
                axis.plot(chain, linewidth=0.8)
            if row == 0:
                axis.set_title(method, fontsize=9)
            if column == 0:
                axis.set_ylabel(name, fontsize=8)
            axis.tick_params(labelsize=7)
    return figure
