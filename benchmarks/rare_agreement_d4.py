"""Default `sample` calls where agreement is rare at the posterior, d = 4.

The regime of the issue "Sampling where agreement is rare": a linear-Gaussian
case with oblique A (d = 4, 3 agreement inputs, 6 answers, λ = 2.5, σ₁ = 1,
σ₂ = 0.6) whose −log Z is small at θ₀ and larger at the posterior. The
instance is the rarest of `LinearGaussianCase.random(key(k), ...)` for
k = 0..199 by −log Z at the exact posterior mean (key 175: 3.0 nats at θ₀,
8.2 at the mean), chosen for that property alone, before any sampler ran.

For each method (default settings but 4 chains × 1000 draws): the wall time of
the whole call (compilation included) and the sampling phase, the θ move the
default chose, the smallest bulk ESS of θ₁ and of θ₂ and their ESS per second
of sampling, and the error of the means (largest over coordinates, in exact
posterior sd) and of the variances (largest relative error), against the closed
form. One row per key; the issue asks for ≤ 2 minutes a call on 2 cores.

``--case rare`` takes a case where agreement is rare everywhere instead: 20
agreement inputs and λ = 60 (key 0), so that −log Z is 25.0 nats at θ₀ and 24.5
at the posterior mean, within the 10–40 nats the issue asks tests for. The
exchange move is refused there (its auxiliary would cost about e²⁵ proposals),
so ``theta1="auto"`` runs the nested-AIS move from the start.

    python benchmarks/rare_agreement_d4.py [--keys 0,1,2] [--methods nuts,sgld]
        [--case mild|rare]
"""

import argparse
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import posterior  # noqa: E402, I001  (before arviz: it mends numpyro's imports)
import arviz as az  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import samplers  # noqa: E402

CASE_KEY = 175


CASES = {
    "mild": dict(key=CASE_KEY, m=3, lam=2.5),
    "rare": dict(key=0, m=20, lam=60.0),
}


def rare_case(name="mild"):
    settings = CASES[name]
    return posterior.LinearGaussianCase.random(
        jr.key(settings["key"]),
        d=4,
        m=settings["m"],
        n=6,
        lam=settings["lam"],
        sigma1=1.0,
        sigma2=0.6,
    )


def one_run(case, method, key):
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = samplers.sample(
            case.model, key=jr.key(key), method=method, num_samples=1000, progress=False
        )
    wall = time.perf_counter() - started
    mean, cov = case.posterior_mean_cov()
    mean, sd = np.asarray(mean), np.sqrt(np.diag(np.asarray(cov)))
    draws = np.concatenate(
        [tree.posterior["theta1"].values, tree.posterior["theta2"].values], axis=-1
    ).reshape(-1, mean.size)
    ess = {
        name: float(az.ess(tree, var_names=[name])[name].values.min())
        for name in ("theta1", "theta2")
    }
    sampling = float(tree.attrs["sampling_time"])
    return {
        "method": method,
        "key": key,
        "move": tree.attrs["theta1_update"],
        "wall": wall,
        "sampling": sampling,
        "ess_theta1": ess["theta1"],
        "ess_theta2": ess["theta2"],
        "mean_error": float(np.max(np.abs(draws.mean(0) - mean) / sd)),
        "variance_error": float(np.max(np.abs(draws.var(0) / sd**2 - 1))),
        "warnings": sorted({w.category.__name__ for w in caught}),
        "nested_particles": tree.attrs.get("nested_particles"),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", default="0,1,2")
    parser.add_argument("--methods", default="nuts,sgld")
    parser.add_argument("--case", default="mild", choices=sorted(CASES))
    args = parser.parse_args()
    case = rare_case(args.case)
    mean, _ = case.posterior_mean_cov()
    print(
        f"case {args.case} (key {CASES[args.case]['key']}): -log Z {-float(case.log_partition(case.theta0)):.1f} "
        f"nats at θ₀, {-float(case.log_partition(np.asarray(mean[:4]))):.1f} at "
        "the posterior mean"
    )
    print(
        "| method | key | θ₁ move | wall s | sampling s | min ESS θ₁, θ₂ | "
        "ESS/s θ₁, θ₂ | max mean error (sd) | max variance error | warnings |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        for key in (int(k) for k in args.keys.split(",")):
            r = one_run(case, method, key)
            move = r["move"]
            if r["nested_particles"] is not None:
                move += f" ({r['nested_particles']} particles)"
            print(
                f"| {r['method']} | {r['key']} | {move} | {r['wall']:.1f} | "
                f"{r['sampling']:.1f} | {r['ess_theta1']:.0f}, {r['ess_theta2']:.0f} | "
                f"{r['ess_theta1'] / r['sampling']:.0f}, "
                f"{r['ess_theta2'] / r['sampling']:.0f} | {r['mean_error']:.3f} | "
                f"{r['variance_error']:.1%} | {', '.join(r['warnings']) or '—'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
