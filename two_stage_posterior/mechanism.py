"""``two-stage-posterior mechanism``: the exact sweep of the mechanism case.

Methods × κ × σ₁ × σ₂ on `posterior.MechanismCase` (docs/mechanism.md), a
table on stdout, PNGs of the θ₂ posterior at κ = 25, and the records as JSON.
"""

import json
import math
import pathlib
import sys
import time

from two_stage_posterior import run_folder

__all__ = ["KAPPAS", "SIGMA1S", "SIGMA2S", "METHODS", "add_parser", "run", "sweep"]

KAPPAS = (0.25, 4.0, 25.0, 100.0)
SIGMA1S = (0.4, 0.6)
SIGMA2S = (0.05, 0.1)
#: The method names of the records, and the baseline each one is.
METHODS = {"single_head": "single_head", "penalty_only": "no_log_partition"}
METHODS["two_stage"] = None
_PICTURED = (25.0, 0.4, 0.1)  # κ, σ₁, σ₂ of the density plots


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "mechanism",
        help="the two-parameter honest-or-imitating case, solved exactly",
        description=(
            "Solves the (a, h) mechanism case by quadrature for three methods "
            "(single head, penalty only, two-stage) over kappa, sigma1 and sigma2, "
            "prints P(honest), P(imitate), E[C], theta1's mode, the bits saved "
            "there and the joint MAP's answer, and draws the theta2 posterior of "
            "each method at kappa = 25."
        ),
    )
    parser.add_argument("--json", type=pathlib.Path, help="write the records here")
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("build/mechanism"),
        help="folder of the PNGs (default build/mechanism)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="sigma2 = 0.1 only, for a smoke test"
    )


def sweep(sigma2s=SIGMA2S, progress=None) -> list[dict]:
    """The records, one per method and setting, in a fixed order."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import posterior

    records = []
    for sigma2 in sigma2s:
        for sigma1 in SIGMA1S:
            for kappa in KAPPAS:
                case = posterior.MechanismCase(kappa, sigma1, sigma2)
                for baseline in METHODS.values():
                    records.append(case.summary(baseline))
                if progress:
                    progress(records[-3:])
    return records


def _row(record) -> str:
    a, h = record["theta1_mode"]
    return (
        f"{record['sigma2']:>5} {record['sigma1']:>5} {record['kappa']:>6g} "
        f"{record['method']:>13} {record['p_honest']:>9.3f} "
        f"{record['p_imitate']:>10.3f} {record['expected_c']:>9.2e} "
        f"({a:5.2f}, {h:5.2f}) {record['bits_at_theta1_mode']:>7.1f} "
        f"{record['map_answer']:>7.2f}"
    )


HEADER = (
    "   σ₂    σ₁      κ        method P(honest) P(imitate)    E[C(θ₂)]"
    "   θ₁ mode (a, h)    bits  MAP on E"
)


def draw(out: pathlib.Path) -> list[pathlib.Path]:
    """PNGs of the θ₂ posterior density over (a, h), one per method, at κ = 25."""
    import numpy as np
    from matplotlib.figure import Figure

    import posterior

    kappa, sigma1, sigma2 = _PICTURED
    case = posterior.MechanismCase(kappa, sigma1, sigma2)
    grid = case.grid
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for method, baseline in METHODS.items():
        _, log_p2 = grid.log_marginals(baseline)
        figure = Figure(figsize=(5, 4))
        axes = figure.subplots()
        density = np.exp(log_p2 - log_p2.max())
        image = axes.pcolormesh(grid.nodes[0], grid.nodes[1], density.T)
        axes.set(
            xlabel="a (translator weight)",
            ylabel="h (human parameter)",
            title=f"θ₂ posterior, {method}, κ = {kappa:g}, σ₁ = {sigma1}, "
            f"σ₂ = {sigma2}",
            ylim=(0.5, 1.5),
            xlim=(-2.0, 2.0),
        )
        axes.title.set_fontsize(9)
        figure.colorbar(image, ax=axes, label="density / max")
        path = out / f"mechanism_theta2_{method}.png"
        figure.savefig(path, dpi=100)
        paths.append(path)
    return paths


def run(arguments) -> int:
    started = time.perf_counter()
    try:
        out = run_folder.prepare(
            arguments.out, "mechanism", run_folder.arguments_record(arguments)
        )
    except run_folder.RunFolderError as error:
        print(f"mechanism: {error}", file=sys.stderr)
        return 2
    print(
        "The mechanism case, exact (docs/mechanism.md). Endpoint: P(honest), the "
        "posterior mass of θ₂ whose intended answer on E is within 0.5 of the "
        "truth.\n"
    )
    print(HEADER)
    sigma2s = (0.1,) if arguments.quick else SIGMA2S
    records = sweep(
        sigma2s, progress=lambda rows: print("\n".join(map(_row, rows)), flush=True)
    )
    files = draw(out)
    for path in files:
        print(f"wrote {path}")
    if arguments.json is not None:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        clean = [
            {
                k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in r.items()
            }
            for r in records
        ]
        arguments.json.write_text(json.dumps(clean, indent=1))
        print(f"wrote {arguments.json}")
        files.append(arguments.json)
    run_folder.finish(out, [_relative(path, out) for path in files])
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


def _relative(path: pathlib.Path, folder: pathlib.Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path)
