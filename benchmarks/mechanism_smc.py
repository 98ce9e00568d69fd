"""`samplers.tempered_smc` against the exact mechanism case (issue "The
mechanism, exactly", item 4): does it weigh the modes right?

κ = 25, σ₁ = 0.4, σ₂ = 0.1, two-stage: θ₂ is trimodal in its answer on E
(honest 0.362, imitating 0.305, mirror 0.330), and every MCMC chain of
`sample` keeps to the mode it starts in (docs/benchmarks.md). `tempered_smc`
draws the two-stage prior (θ₁ exactly, θ₂ | θ₁ picked from AIS) and tempers
L(θ₂)^β with HMC moves of θ₂ alone, so Z(θ₁) never enters (samplers/smc.py).

Each configuration is one call of `num_runs` independent runs (one key); the
table gives P(honest)'s mean error over the runs, the standard error of that
mean (run sd / √runs), the run sd (the error of one run), the largest error of
a run, and the seconds of the call per run, compiling included.

    python benchmarks/mechanism_smc.py [--particles 4096 16384 65536]
        [--inner 8] [--runs 6] [--key 0] [--baseline single_head]
"""

import argparse
import ast
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402
from posterior.mechanism import is_honest, is_imitating  # noqa: E402


def per_run(tree, indicator):
    theta2 = jnp.moveaxis(jnp.asarray(tree.posterior["theta2"]), -1, 0)
    return np.asarray(indicator(theta2), dtype=float).mean(axis=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--inner", type=int, nargs="+", default=[8])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--key", type=int, default=0)
    parser.add_argument(
        "--baseline",
        choices=["single_head"],
        help="a control: λ = 0, where the prior draws are exact",
    )
    args = parser.parse_args()
    case = posterior.MechanismCase(25.0, 0.4, 0.1)
    exact = case.p_honest(args.baseline)
    exact_imitate = case.p_imitate(args.baseline)
    print(f"exact P(honest) {exact:.3f}, P(imitate) {exact_imitate:.3f}")
    print(
        "| particles | M | runs | mean error | SE of mean | sd (one run) "
        "| largest error | P(imitate) mean error | tempering steps | acceptance "
        "| distinct θ₁ | s per run | warnings |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for num_particles in args.particles:
        for num_inner in args.inner:
            started = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                tree = samplers.tempered_smc(
                    case.model,
                    key=jr.key(args.key),
                    num_particles=num_particles,
                    num_runs=args.runs,
                    num_inner=num_inner,
                    baseline=args.baseline,
                )
            seconds = (time.perf_counter() - started) / args.runs
            errors = per_run(tree, is_honest) - exact
            imitate = per_run(tree, is_imitating) - exact_imitate
            sd = errors.std(ddof=1)
            mean = {
                name: np.mean(ast.literal_eval(tree.attrs[name]))
                for name in (
                    "num_tempering_steps",
                    "acceptance_rate",
                    "distinct_theta1",
                )
            }
            print(
                f"| {num_particles} | {num_inner} | {args.runs} "
                f"| {errors.mean():+.3f} | {sd / np.sqrt(args.runs):.3f} | {sd:.3f} "
                f"| {errors[np.argmax(np.abs(errors))]:+.3f} | {imitate.mean():+.3f} "
                f"| {mean['num_tempering_steps']:.1f} "
                f"| {mean['acceptance_rate']:.2f} "
                f"| {mean['distinct_theta1']:.0f} | {seconds:.1f} "
                f"| {'; '.join(sorted({w.category.__name__ for w in caught})) or '-'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
