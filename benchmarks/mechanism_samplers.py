"""The samplers held to the exact mechanism case (issue "The mechanism, exactly").

κ = 25, σ₁ = 0.4, σ₂ = 0.1, the two-stage posterior of `posterior.MechanismCase`:
θ₂ is trimodal in its answer on E (honest, imitating, mirror). Each method runs 4
chains, 2 started in the honest mode and 2 in the imitating one (`init=` per
chain), and is scored on P(honest), the posterior mass of θ₂ whose answer on E
is within 0.5 of the truth, against the grid's exact value: error, MCSE (from
the bulk ESS of the indicator), R-hat, time, and the warnings `sample` gave.
Several ``--samples`` give each method's error against its budget (the same
warm-up and key at each).

    python benchmarks/mechanism_samplers.py [--methods nuts-nested sgld sghmc]
        [--warmup 1000] [--samples 1000 [4000 ...]] [--keys 0]
"""

import argparse
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402
from posterior.mechanism import is_honest  # noqa: E402

METHODS = {
    "nuts-nested": dict(method="nuts", theta1_update="nested_ais"),
    "nuts-auto": dict(method="nuts"),
    "hmc-nested": dict(method="hmc", theta1_update="nested_ais"),
    "sgld": dict(method="sgld", batch_size=2),
    "sghmc": dict(method="sghmc", batch_size=2),
}
# (θ₁, θ₂) of the honest and the imitating mode, from the grid's marginal modes.
HONEST = (jnp.array([0.70, 0.40]), jnp.array([0.70, 0.98]))
IMITATING = (jnp.array([0.02, 0.93]), jnp.array([0.0, 0.98]))


def score(tree, exact):
    theta2 = jnp.asarray(tree.posterior["theta2"]).transpose(2, 0, 1)
    honest = np.asarray(is_honest(theta2), dtype=float)  # (chains, draws)
    data = az.from_dict({"posterior": {"honest": honest}})
    ess = float(az.ess(data, var_names=["honest"], method="bulk")["honest"])
    rhat = float(az.rhat(data, var_names=["honest"])["honest"])
    p = honest.mean()
    mcse = np.sqrt(p * (1 - p) / max(ess, 1.0))
    per_chain = honest.mean(axis=1)
    return p, p - exact, mcse, ess, rhat, per_chain


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, nargs="+", default=[1000])
    parser.add_argument("--keys", default="0")
    args = parser.parse_args()
    case = posterior.MechanismCase(25.0, 0.4, 0.1)
    exact = case.p_honest()
    print(f"exact P(honest) {exact:.4f}, P(imitate) {case.p_imitate():.4f}")
    init = tuple(
        jnp.stack([HONEST[i], HONEST[i], IMITATING[i], IMITATING[i]]) for i in (0, 1)
    )
    print(
        "| method | draws | key | P(honest) | error | MCSE | ESS | R-hat | per chain "
        "(2 honest, 2 imitating starts) | s | warnings |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    runs = [
        (name, draws, key)
        for name in args.methods
        for draws in args.samples
        for key in map(int, args.keys.split(","))
    ]
    for name, draws, key in runs:
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                tree = samplers.sample(
                    case.model,
                    key=jr.key(key),
                    num_chains=4,
                    num_warmup=args.warmup,
                    num_samples=draws,
                    init=init,
                    progress=False,
                    **METHODS[name],
                )
            except ValueError as error:
                print(f"| {name} | {draws} | {key} | refused: {error} |")
                continue
        seconds = time.perf_counter() - started
        p, error, mcse, ess, rhat, per_chain = score(tree, exact)
        said = "; ".join(
            sorted({type(w.message).__name__ for w in caught})
        )  # fmt: skip
        chains = ", ".join(f"{c:.2f}" for c in per_chain)
        print(
            f"| {name} | {draws} | {key} | {p:.3f} | {error:+.3f} | {mcse:.3f} | "
            f"{ess:.0f} | {rhat:.2f} | {chains} | {seconds:.0f} | {said} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
