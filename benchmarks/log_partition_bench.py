"""Benchmark of `samplers.log_partition` against blackjax adaptive tempered SMC.

Problems (exact log Z in closed form or by 1-D quadrature):

- `big`: d = 10^4, quadratic C with diagonal A, curvature c_i = 10^4 i^{-1.5}
  (condition number of the target's precision ~10^4, axis-aligned), offset target:
  -log Z = 1031.4 nats. The target is a diagonal Gaussian, so `reference="fitted"`
  is exact on it (one temperature, zero variance).
- `skew`: the same d, curvatures and offsets, but C = sum_i c_i h(theta_i - t_i) with
  h(u) = (e^{1.5u} - 1 - 1.5u) / 1.5^2: non-Gaussian marginals, -log Z = 1274.9 nats
  (separable, so log Z is a sum of 1-D quadratures). The test of the fitted
  reference that the Gaussian problem cannot be.
- `dense`: d = 100, dense random A (20 x 100, lambda = 10): -log Z = 90.3 nats.
- `dense300`, `dense1000`: the dense oblique problems of the issue "log Z you can
  trust" (m = 40 and 100 rows, lambda = 60, sigma = 1): -log Z = 104.0 and 267.1
  nats, closed form.
- `network`: a two-head MLP's disagreement (d = 182, lambda = 200, sigma = 0.3);
  log Z = -16.451 +- 0.020 from four prior-path runs of 4096 particles.

For each configuration and replicate key we record the error log Z-hat - log Z in
nats, the wall time of the compiled run (compile time reported separately), and the
number of gradient evaluations per particle summed over the run (the work measure;
forward-only evaluations of C for the weights are not counted; a fitted reference's
pilot is included, per particle of the main run).

Rerun (2 CPU cores; about 10 min for `big` at --reps 2, 3 min for `dense`):

    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/log_partition_bench.py --problem big --reps 2
    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/log_partition_bench.py --problem skew --reps 4
    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/log_partition_bench.py --problem dense --reps 4
    # the panel (about 2, 6, 4, 12 and 5 minutes):
    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/log_partition_bench.py --problem dense300 --reps 8
    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/log_partition_bench.py --problem network --reps 32
    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/log_partition_bench.py --problem dense1000 --reps 8
    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/log_partition_bench.py --problem skew --reps 8 --configs 5,6,7
    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/log_partition_bench.py --problem big --reps 8 --configs 7,10

Each prints a markdown table (append `--out FILE.json` to keep raw numbers).
`--problem big --only ours --exact-moves` replaces our MCMC moves by exact draws
from each tempered Gaussian: the error floor that the schedule and the particle
count allow.
"""

import argparse
import json
import time

import blackjax
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from blackjax.smc import resampling
from log_partition_problems import make_problem

from samplers import log_partition


def run_ours(fn, theta1, lam, sigma, key, config):
    # The prior path unless a configuration names its reference (the results in
    # docs/benchmarks.md were made before "auto" became the default).
    config = {"reference": "prior", **config}
    result = log_partition(
        fn, theta1, lam=lam, sigma=sigma, key=key, method="ais", **config
    )
    jax.block_until_ready(result.log_z)
    num_temperatures = int(result.num_temperatures)
    per_move = config.get("num_mcmc_steps", 5) * (
        config.get("num_integration_steps", 5) if config.get("move") == "hmc" else 1
    )
    # One value-and-gradient per particle per temperature, plus the moves, plus the
    # initial evaluation; a fitted reference adds its pilot run, counted per
    # particle of the main run.
    grads = 1 + num_temperatures * (1 + per_move)
    if result.pilot is not None:
        pilot_grads = 1 + int(result.pilot.num_temperatures) * (1 + per_move)
        n = config["num_particles"]
        share = config.get("pilot_particles", max(16, n // 8 * 2)) / n
        grads += pilot_grads * share
        if result.reference.basis is not None:
            # The Hessian's d Hessian-vector products, about two gradients each.
            grads += 2 * theta1.shape[0] / n
    return float(result.log_z), grads, num_temperatures


def use_exact_moves(fn, theta1, lam, sigma):
    """Replace every MCMC move of ours by an exact draw from pi_beta.

    Only for `big`: A is diagonal there, so pi_beta is a product of Gaussians.
    With ideal moves the error is what the schedule and the particle count alone
    allow, the floor under any MCMC move at the same configuration.
    """
    import samplers.ais

    a, b = fn.args

    def build_move(potential_fn, **_):
        def move(key, positions, potential, grad, beta, mean, sigma_, scale, eps):
            precision = 1.0 / sigma**2 + beta * lam * a**2
            centre = (theta1 / sigma**2 + beta * lam * a * b) / precision
            noise = jr.normal(key, positions.shape, positions.dtype)
            draws = centre + noise / jnp.sqrt(precision)
            return draws, jnp.ones((), positions.dtype)

        return move

    samplers.ais.build_move = build_move


def _anneal(smc, state, key, tempering_param):
    """Step blackjax's SMC to temperature 1 (at most 5000 steps); sum the log Z
    increments, since its state keeps no running log Z."""

    def cond(carry):
        state, _, _, count = carry
        return (tempering_param(state) < 1) & (count < 5000)

    def body(carry):
        state, log_z, key, count = carry
        key, key_step = jr.split(key)
        state, info = smc.step(key_step, state)
        return state, log_z + info.log_likelihood_increment, key, count + 1

    # The default float type: the particles' type in both problems here.
    log_z = jnp.zeros((), jnp.result_type(float))
    _, log_z, _, count = jax.lax.while_loop(cond, body, (state, log_z, key, 0))
    return log_z, count


def build_blackjax(fn, theta1, lam, sigma, config):
    """blackjax adaptive tempered SMC with HMC moves (fixed, per-particle jittered
    step size, identity mass matrix); log Z is the sum of log_likelihood_increment."""
    n, d = config["num_particles"], theta1.shape[0]

    def logprior(x):
        return -0.5 * jnp.sum(jnp.square(x - theta1)) / sigma**2

    def loglikelihood(x):
        return -lam * fn(x)

    def run(key):
        key_init, key_jitter, key_run = jr.split(key, 3)
        jitter = jr.uniform(key_jitter, (n,), theta1.dtype, 0.8, 1.2)
        params = {
            "step_size": config["step_size"] * jitter,
            "inverse_mass_matrix": jnp.ones((1, d), theta1.dtype),
            "num_integration_steps": jnp.array([config["num_integration_steps"]]),
        }
        smc = blackjax.adaptive_tempered_smc(
            logprior,
            loglikelihood,
            blackjax.hmc.build_kernel(),
            blackjax.hmc.init,
            params,
            resampling.systematic,
            config["target_ess"],
            num_mcmc_steps=config["num_mcmc_steps"],
        )
        particles = theta1[None, :] + sigma * jr.normal(key_init, (n, d), theta1.dtype)
        state = smc.init(particles)

        return _anneal(smc, state, key_run, lambda state: state.tempering_param)

    return jax.jit(run)


def build_blackjax_tuned(fn, theta1, lam, sigma, config):
    """blackjax adaptive tempered SMC wrapped in `blackjax.inner_kernel_tuning`: HMC
    with a diagonal inverse mass matrix set to the particles' variances
    (`smc.tuning.from_particles.particles_stds`, all particles), re-set after every
    temperature, and a fixed step size (per-particle jitter +-20%). This is
    blackjax's own machinery for cloud preconditioning."""
    from blackjax.smc.tuning.from_particles import particles_stds

    n, d = config["num_particles"], theta1.shape[0]

    def logprior(x):
        return -0.5 * jnp.sum(jnp.square(x - theta1)) / sigma**2

    def loglikelihood(x):
        return -lam * fn(x)

    def run(key):
        key_init, key_jitter, key_run = jr.split(key, 3)
        jitter = jr.uniform(key_jitter, (n,), theta1.dtype, 0.8, 1.2)
        length = jnp.array([config["num_integration_steps"]])

        def update(key, state, info):
            # blackjax hands the update only the new inner state, not the current
            # parameters, so the step size stays at its jittered initial value.
            stds = particles_stds(state.particles)
            return {
                "step_size": config["step_size"] * jitter,
                "inverse_mass_matrix": jnp.square(stds)[None, :],
                "num_integration_steps": length,
            }

        initial = {
            "step_size": config["step_size"] * jitter,
            "inverse_mass_matrix": jnp.full((1, d), sigma**2, theta1.dtype),
            "num_integration_steps": length,
        }
        smc = blackjax.inner_kernel_tuning(
            smc_algorithm=blackjax.adaptive_tempered_smc,
            logprior_fn=logprior,
            loglikelihood_fn=loglikelihood,
            mcmc_step_fn=blackjax.hmc.build_kernel(),
            mcmc_init_fn=blackjax.hmc.init,
            resampling_fn=resampling.systematic,
            mcmc_parameter_update_fn=update,
            initial_parameter_value=initial,
            num_mcmc_steps=config["num_mcmc_steps"],
            target_ess=config["target_ess"],
        )
        particles = theta1[None, :] + sigma * jr.normal(key_init, (n, d), theta1.dtype)
        state = smc.init(particles)

        return _anneal(
            smc, state, key_run, lambda state: state.sampler_state.tempering_param
        )

    return jax.jit(run)


def run_blackjax(compiled, key, config):
    log_z, count = jax.block_until_ready(compiled(key))
    grads = int(count) * config["num_mcmc_steps"] * config["num_integration_steps"]
    return float(log_z), grads, int(count)


def _ours_hmc(n, ess, **extra):
    """Our HMC configuration of the d = 10^4 rows: one move of 10 leapfrog steps
    per temperature."""
    return dict(
        num_particles=n,
        move="hmc",
        num_mcmc_steps=1,
        num_integration_steps=10,
        target_ess=ess,
        **extra,
    )


def _fitted(pilot):
    return dict(reference="fitted", pilot_particles=pilot)


OURS = {
    "big": [_ours_hmc(n, e) for n, e in [(64, 0.5), (128, 0.7), (256, 0.8), (512, 0.8)]]
    + [_ours_hmc(n, 0.9, **_fitted(p)) for n, p in [(256, 64), (512, 128), (1024, 128)]]
    # The panel: today's default call ("auto", MALA).
    + [dict(num_particles=256, reference="auto")],
    "skew": [
        _ours_hmc(256, 0.8),
        _ours_hmc(512, 0.8),
        _ours_hmc(512, 0.9, **_fitted(128)),
        _ours_hmc(1024, 0.9, **_fitted(128)),
        _ours_hmc(1536, 0.9, **_fitted(128)),
        # The panel: today's default call ("auto", MALA), at two budgets.
        dict(num_particles=256, reference="auto"),
        dict(num_particles=1024, reference="auto"),
    ],
    "dense": [
        dict(num_particles=64, num_mcmc_steps=5),
        dict(num_particles=64, num_mcmc_steps=10),
        dict(num_particles=256, num_mcmc_steps=10),
        dict(num_particles=256, move="hmc", num_mcmc_steps=2, num_integration_steps=10),
        dict(num_particles=256, num_mcmc_steps=10, **_fitted(64)),
        dict(num_particles=256, num_mcmc_steps=10, **_fitted(256)),
    ],
    # The panel of the issue "log Z you can trust": the defaults ("auto"), then
    # the prior path at the same budget.
    "dense300": [dict(num_particles=256, reference="auto"), dict(num_particles=256)],
    "dense1000": [dict(num_particles=256, reference="auto"), dict(num_particles=256)],
    "network": [
        dict(num_particles=256, reference="auto"),
        dict(num_particles=256),
        dict(num_particles=512, reference="auto"),
        # Closer temperatures with fewer moves each (measured: no gain, since
        # each period between resamplings adds about 1/N to the variance of
        # Z-hat however finely its temperatures are spaced).
        dict(num_particles=512, reference="auto", target_ess=0.97, num_mcmc_steps=2),
        dict(num_particles=1024, reference="auto", target_ess=0.97, num_mcmc_steps=1),
        dict(num_particles=256, reference="auto", target_ess=0.97, num_mcmc_steps=4),
    ],
}


def _hmc(n, steps, length, step_size, ess, tuned=False):
    config = dict(
        num_particles=n,
        num_mcmc_steps=steps,
        num_integration_steps=length,
        step_size=step_size,
        target_ess=ess,
    )
    return dict(tuned=True, **config) if tuned else config


BLACKJAX = {
    "skew": [_hmc(512, 1, 10, 0.15, 0.8, tuned=True)],
    "big": [
        _hmc(128, 2, 20, 0.01, 0.5),
        _hmc(128, 1, 10, 0.15, 0.7, tuned=True),
        _hmc(512, 1, 10, 0.15, 0.8, tuned=True),
    ],
    "dense": [
        _hmc(64, 5, 10, 0.1, 0.5),
        _hmc(256, 5, 10, 0.1, 0.5),
        _hmc(256, 2, 10, 0.1, 0.8, tuned=True),
    ],
    "dense300": [_hmc(256, 2, 10, 0.1, 0.8, tuned=True)],
    "dense1000": [_hmc(256, 2, 10, 0.1, 0.8, tuned=True)],
    "network": [_hmc(256, 2, 10, 0.1, 0.8, tuned=True)],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--problem",
        choices=["big", "skew", "dense", "dense300", "dense1000", "network"],
        default="big",
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--float32", action="store_true", help="default for big")
    parser.add_argument("--only", choices=["ours", "blackjax", "both"], default="both")
    parser.add_argument("--configs", help="comma-separated indices into the run list")
    parser.add_argument(
        "--exact-moves",
        action="store_true",
        help="big only: our moves replaced by exact draws (the floor of the error)",
    )
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.exact_moves and args.problem != "big":
        parser.error("--exact-moves needs --problem big (a diagonal A)")
    # float32 for the d = 10^4 problem (speed; x64 off so that blackjax's own
    # default-precision arrays match), float64 for the small one.
    use_float32 = args.float32 or args.problem in ("big", "skew")
    jax.config.update("jax_enable_x64", not use_float32)
    dtype = jnp.float32 if use_float32 else jnp.float64
    fn, theta1, lam, sigma, truth = make_problem(args.problem, dtype)
    print(
        f"problem={args.problem} d={theta1.shape[0]} dtype={jnp.dtype(dtype).name} log Z={truth:.3f}"
    )
    if args.exact_moves:
        use_exact_moves(fn, theta1, lam, sigma)
    rows = []
    runs = []
    if args.only in ("ours", "both"):
        runs += [("ours", c) for c in OURS[args.problem]]
    if args.only in ("blackjax", "both"):
        runs += [("blackjax", c) for c in BLACKJAX[args.problem]]
    if args.configs:
        runs = [runs[int(i)] for i in args.configs.split(",")]
    for name, config in runs:
        errors, times, grads, temps = [], [], [], []
        compiled = None
        for rep in range(args.reps + 1):  # rep 0 compiles (timed separately, discarded)
            key = jr.key(1000 + rep)
            t0 = time.perf_counter()
            if name == "ours":
                log_z, g, k = run_ours(fn, theta1, lam, sigma, key, config)
            else:
                build = build_blackjax_tuned if config.get("tuned") else build_blackjax
                settings = {k: v for k, v in config.items() if k != "tuned"}
                compiled = compiled or build(fn, theta1, lam, sigma, settings)
                log_z, g, k = run_blackjax(compiled, key, config)
            elapsed = time.perf_counter() - t0
            if rep == 0:
                compile_and_first = elapsed
                continue
            errors.append(log_z - truth)
            times.append(elapsed)
            grads.append(g)
            temps.append(k)
        row = dict(
            method=name,
            config=config,
            mean_error=float(np.mean(errors)),
            sd_error=float(np.std(errors, ddof=1)) if len(errors) > 1 else float("nan"),
            errors=errors,
            mean_seconds=float(np.mean(times)),
            first_call_seconds=compile_and_first,
            grads_per_particle=float(np.mean(grads)),
            temperatures=float(np.mean(temps)),
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(
        "| method | configuration | temperatures | grad evals / particle | total grad evals | error (nats) mean ± sd | RMS | seconds / run |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        method = row["method"] + (" (tuned)" if row["config"].get("tuned") else "")
        config = ", ".join(f"{k}={v}" for k, v in row["config"].items() if k != "tuned")
        total = row["grads_per_particle"] * row["config"]["num_particles"]
        print(
            f"| {method} | {config} | {row['temperatures']:.0f} | "
            f"{row['grads_per_particle']:.0f} | {total:.2g} | "
            f"{row['mean_error']:+.2f} ± {row['sd_error']:.2f} | "
            f"{np.sqrt(np.mean(np.square(row['errors']))):.2f} | {row['mean_seconds']:.1f} |"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(problem=args.problem, truth=truth, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
