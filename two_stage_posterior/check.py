"""`two-stage-posterior check`: the linear-Gaussian and quadrature checks; every number printed is checked
against an exact answer computed independently of the estimator."""

import math
import time

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402

__all__ = ["run"]


def _section(title: str) -> None:
    print(f"\n== {title} ==")


def run(*, seed: int = 0, quick: bool = False) -> None:
    key = jr.key(seed)
    key_case, key_ais, key_sample, key_grid, key_grid_ais = jr.split(key, 5)
    started = time.perf_counter()

    _section("log Z(θ₁) on the linear-Gaussian case (d = 200, m = 50)")
    case = posterior.LinearGaussianCase.random(
        key_case, d=200, m=50, n=100, lam=20.0, sigma1=1.0, sigma2=0.5
    )
    theta1 = case.theta0
    exact = float(case.log_partition(theta1))
    result = samplers.log_partition(
        case.model.disagreement,
        theta1,
        lam=case.lam,
        sigma=case.sigma2,
        key=key_ais,
        method="ais",
        num_particles=128 if quick else 512,
        end_samples=_exact_inner_samples(case, theta1, jr.fold_in(key_ais, 1)),
    )
    print(
        f"exact log Z         {exact:10.3f} nats  ({-exact / math.log(2):.2f} bits saved)"
    )
    print(
        f"AIS lower bound     {float(result.log_z):10.3f} nats  "
        f"({int(result.num_temperatures)} temperatures, ESS {float(result.ess):.0f})"
    )
    print(f"reverse-AIS upper   {float(result.log_z_upper):10.3f} nats")
    grad_error = np.linalg.norm(result.grad_log_z - case.grad_log_partition(theta1))
    grad_scale = np.linalg.norm(case.grad_log_partition(theta1))
    print(f"∇log Z relative error {grad_error / grad_scale:.3f}")

    _section("posterior of (θ₁, θ₂): exact Gibbs (NUTS + exchange), d = 3")
    small = posterior.LinearGaussianCase.random(
        key_case, d=3, m=2, n=8, lam=3.0, sigma1=1.0, sigma2=0.5
    )
    tree = samplers.sample(
        small.model,
        key=key_sample,
        method="nuts",
        num_chains=4,
        num_samples=250 if quick else 1000,
        num_warmup=250 if quick else 500,
        log_partition_every=0,
    )
    mean, cov = small.posterior_mean_cov()
    baseline_mean, _ = small.posterior_mean_cov(include_log_partition=False)
    summary = az.summary(tree, var_names=["theta1", "theta2"])
    estimate = summary["mean"].to_numpy(dtype=float)
    print(summary[["mean", "sd", "ess_bulk", "r_hat"]].to_string())
    print("exact posterior mean   ", np.array2string(np.asarray(mean), precision=2))
    print(
        "max |error| / exact sd  "
        f"{np.max(np.abs(estimate - mean) / np.sqrt(np.diag(cov))):.3f}"
    )
    print(
        "θ₁ shift from −log Z    "
        f"{np.linalg.norm(mean[:3] - baseline_mean[:3]):.3f} (exact, vs the "
        "agreement penalty alone)"
    )

    _section("a non-linear two-parameter network: quadrature vs AIS")
    grid = posterior.Grid2DCase.random(key_grid, lam=4.0, sigma2=0.5)
    theta1 = grid.model.theta0 + 0.3
    ais = samplers.log_partition(
        grid.model.disagreement,
        theta1,
        lam=grid.model.lam,
        sigma=grid.model.sigma2,
        key=key_grid_ais,
        method="ais",
        num_particles=512,
    )
    print(
        f"quadrature log Z {grid.log_partition(theta1):.4f}   AIS {float(ais.log_z):.4f}"
    )
    print(f"\ndone in {time.perf_counter() - started:.0f} s")


def _exact_inner_samples(case, theta1, key, num=128):
    """Exact draws of p(θ'|θ₁), a Gaussian here, for the reverse-AIS bound."""
    mean, cov = case.inner_mean_cov(theta1)
    chol = jnp.linalg.cholesky(cov)
    return mean + jr.normal(key, (num, mean.shape[0])) @ chol.T
