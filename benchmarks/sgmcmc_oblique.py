"""Default SGLD / SGHMC on an oblique linear-Gaussian case, against the exact posterior.

d = 100 (200 sampled coordinates), m = 60 agreement rows, n = 80 answers,
λ = 50, σ₁ = 1, σ₂ = 0.3: −log Z is 46 nats at θ₀ and 36 at the posterior mean.
Prints, per method, the error of the posterior mean (root mean square over the
coordinates, in posterior sd), the relative error of the marginal variances
(mean over θ₁ and over θ₂), the trace statistic along the exact principal axes,
the smallest and median ESS of θ₁, the inner particles' ESS and the wall time.

    python benchmarks/sgmcmc_oblique.py [--methods sgld sghmc] [--warmup 500]
        [--samples 500] [--chains 4]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["sgld", "sghmc"])
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--chains", type=int, default=4)
    args = parser.parse_args()

    case = posterior.LinearGaussianCase.random(
        jr.key(0), d=100, m=60, n=80, lam=50.0, sigma1=1.0, sigma2=0.3
    )
    mean, cov = (np.asarray(x) for x in case.posterior_mean_cov())
    dim = mean.size // 2
    print(
        f"-log Z: {-float(case.log_partition(case.theta0)):.1f} nats at theta0, "
        f"{-float(case.log_partition(mean[:dim])):.1f} at the posterior mean"
    )
    for method in args.methods:
        started = time.perf_counter()
        tree = samplers.sample(
            case.model,
            key=jr.key(1),
            method=method,
            num_chains=args.chains,
            num_warmup=args.warmup,
            num_samples=args.samples,
            log_partition_every=0,
            max_full_params=2 * dim,
            pointwise_log_likelihood=False,
            progress=False,
        )
        seconds = time.perf_counter() - started
        draws = np.concatenate(
            [tree.posterior["theta1"].values, tree.posterior["theta2"].values], -1
        )
        z = (draws.mean(axis=(0, 1)) - mean) / np.sqrt(np.diag(cov))
        marginal = np.mean((draws - mean) ** 2, axis=(0, 1)) / np.diag(cov) - 1
        centred = draws - mean
        axes = np.einsum("cni,ij,cnj->cn", centred, np.linalg.inv(cov), centred)
        ess = np.array([float(az.ess(draws[..., j])) for j in range(dim)])
        print(
            f"{method}: {seconds:.0f} s; mean error {np.sqrt(np.mean(z**2)):.3f} sd "
            f"(rms); marginal variance {marginal[:dim].mean():+.3f} (theta1) "
            f"{marginal[dim:].mean():+.3f} (theta2); axes {axes.mean() / mean.size - 1:+.3f}; "
            f"ESS theta1 min {ess.min():.0f} median {np.median(ess):.0f}; inner ESS "
            f"{float(tree.sample_stats['inner_ess'].mean()):.1f} of "
            f"{tree.attrs['num_inner']}"
        )


if __name__ == "__main__":
    main()
