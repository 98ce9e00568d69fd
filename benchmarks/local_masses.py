"""Local masses against exact ones, on the mechanism case (issue #27, item 4).

The honest-QA experiment estimates the honest mass from local posteriors: one
MAP per start (θ₀, then θ₁ = θ₀ + s·σ₁·ε, θ₂ = θ₁ + s·σ₂·ε′), one SGLD chain from
each optimum, and the mean over chains of each chain's share of honest draws,
with the SE sd / √k over the k chains. This runs that estimator on the exact
two-parameter case (κ = 25, σ₁ = 0.4, σ₂ = 0.1: honest, imitating and mirror
modes; `posterior.MechanismCase`), whose P(honest) the grid gives exactly, for
several start spreads s and keys, and prints the error, its z-score against the
reported SE, and how many starts' optima were honest.

    python benchmarks/local_masses.py [--spreads 0.2 1 2.5] [--keys 0,1,2,3,4]
        [--starts 8] [--warmup 200] [--samples 400]
"""

import argparse
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402
from posterior.mechanism import is_honest  # noqa: E402


def local_estimate(case, key, *, spread, num_starts, num_warmup, num_samples):
    """Mean over chains of the honest share, its SE, and the starts' optima."""
    model = case.model
    theta0 = jnp.asarray(model.theta0)
    key_start1, key_start2, key_map, key_run = jr.split(key, 4)
    shape = (num_starts - 1, theta0.shape[0])
    theta1 = theta0[None] + spread * model.sigma1 * jr.normal(key_start1, shape)
    theta2 = theta1 + spread * model.sigma2 * jr.normal(key_start2, shape)
    init = (
        jnp.concatenate([theta0[None], theta1]),
        jnp.concatenate([theta0[None], theta2]),
    )
    fits = samplers.find_map(
        model,
        key=key_map,
        init=init,
        optimizer=optax.adam(1e-2),
        num_steps=1000,
        log_partition_particles=0,
        progress=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the chains are local by design
        tree = samplers.sample(
            model,
            key=key_run,
            method="sgld",
            batch_size=2,
            num_chains=num_starts,
            num_warmup=num_warmup,
            num_samples=num_samples,
            init=fits,
            progress=False,
        )
    theta2_draws = jnp.asarray(tree.posterior["theta2"]).transpose(2, 0, 1)
    per_chain = np.asarray(is_honest(theta2_draws), float).mean(axis=1)
    se = per_chain.std(ddof=1) / np.sqrt(per_chain.size)
    honest_optima = int(np.sum(np.asarray(is_honest(fits.theta2.T))))
    return per_chain.mean(), se, honest_optima


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spreads", type=float, nargs="+", default=[0.2, 1.0, 2.5])
    parser.add_argument("--keys", default="0,1,2,3,4")
    parser.add_argument("--starts", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--samples", type=int, default=400)
    args = parser.parse_args()
    case = posterior.MechanismCase(25.0, 0.4, 0.1)
    exact = case.p_honest()
    print(f"exact P(honest) {exact:.3f}; {args.starts} starts, SGLD (batch 2) ")
    print(f"{args.warmup} warm-up + {args.samples} draws per chain\n")
    print(
        "| spread s | key | local P(honest) | SE | error | z | honest optima "
        "| seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for spread in args.spreads:
        errors = []
        for key in map(int, args.keys.split(",")):
            started = time.perf_counter()
            estimate, se, honest_optima = local_estimate(
                case,
                jr.key(key),
                spread=spread,
                num_starts=args.starts,
                num_warmup=args.warmup,
                num_samples=args.samples,
            )
            error = estimate - exact
            errors.append(error)
            z = error / se if se > 0 else float("nan")
            print(
                f"| {spread:g} | {key} | {estimate:.3f} | {se:.3f} | {error:+.3f} "
                f"| {z:+.1f} | {honest_optima}/{args.starts} "
                f"| {time.perf_counter() - started:.0f} |"
            )
        errors = np.asarray(errors)
        if errors.size > 1:
            print(
                f"| {spread:g} | mean | | | {errors.mean():+.3f} | | "
                f"sd of the error over keys {errors.std(ddof=1):.3f} | |"
            )


if __name__ == "__main__":
    main()
