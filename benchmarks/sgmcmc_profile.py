"""Where a two-stage SG-MCMC step spends its time, part by part.

The network of ``sgmcmc_network.py`` (width 32, depth 2: 4,394 parameters) or
a narrower one (``--width 16``, the demo's size), 2 chains vmapped as
``sample`` runs them, batch 64, 16 inner particles with 2 MALA steps, log Z
records of 64 AIS particles. Each part is compiled on its own (its compile
time printed apart) and then timed as the median of ``--repeats`` calls:

- MAP: one optax step of ``find_map`` (inner move included);
- inner: the inner particles carried to θ₁ and moved over S;
- outer gradient: the minibatch gradient of the log joint, and ∇log Z from the
  inner particles;
- curvature probe: the warm-up's Hutchinson probe on a minibatch;
- window update: the preconditioner's refit at a window end (4 per warm-up);
- record: what a draw keeps (C, L, predictions), with and without a log Z
  estimate;
- warm-up step and draw: the whole step of ``sample``, record excluded.

With ``--default-call``, it then times ``sample(method="sgld", num_warmup=1000,
num_samples=200, num_chains=2, batch_size=64)`` with the MAP fitted inside, and
gives the ESS per second of C(θ₂) and L(θ₂) beside its time.

    python benchmarks/sgmcmc_profile.py [--width 32] [--depth 2] [--repeats 5]
        [--skip-parts] [--default-call] [--log-partition-every N]
        [--record-budgets]

``--record-budgets`` times one log Z record at a MAP's θ₁ for several AIS
budgets, with the estimates of 2 calls.
"""

import argparse
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import optax  # noqa: E402
from sgmcmc_network import world  # noqa: E402

import samplers  # noqa: E402
from samplers import optimize, precondition, sgld, stochastic  # noqa: E402
from samplers.estimate import estimate_log_z  # noqa: E402
from samplers.inner import build_inner_move  # noqa: E402
from samplers.log_z_types import LogZConfig  # noqa: E402
from samplers.record import build_record  # noqa: E402
from samplers.target import build_target  # noqa: E402

NUM_CHAINS = 2
BATCH = 64
NUM_INNER = 16


def timed(fn, *args, repeats):
    """(compile seconds, median seconds per call) of ``jit(fn)(*args)``."""
    started = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_seconds = time.perf_counter() - started
    jax.block_until_ready(compiled(*args))
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - started)
    return compile_seconds, statistics.median(runs)


def parts(model, repeats, warmup=1000):
    target = build_target(model)
    sigma2 = float(model.sigma2)
    num_data = int(model.num_answers)
    key = jr.key(0)
    keys = jr.split(key, NUM_CHAINS)
    theta = jnp.broadcast_to(model.theta0, (NUM_CHAINS, model.num_params))
    theta1 = theta + 0.01 * jr.normal(jr.key(1), theta.shape)
    theta2 = theta1 + 0.01 * jr.normal(jr.key(2), theta.shape)
    batch = jr.choice(key, num_data, (BATCH,), replace=False)

    chains, (step, positions, fields) = stochastic.setup(
        key,
        target,
        model,
        theta1,
        theta2,
        sigma2,
        method="sgld",
        step_size=precondition.adapted_step("sgld"),
        batch_size=BATCH,
        num_inner=NUM_INNER,
        num_inner_steps=2,
        num_integration_steps=10,
        adaptive=True,
        num_warmup=warmup,
    )
    inner = chains.state.inner
    move = build_inner_move(target.potential, sigma2, num_steps=2)
    estimator = sgld.gradient_estimator(target.log_joint, sigma2, True)
    log_joint = target.log_joint
    optimizer = optax.adam(1e-2)
    map_step = optimize.build_kernel(
        log_joint,
        target.potential,
        sigma2,
        optimizer,
        num_data=num_data,
        batch_size=BATCH,
    )
    map_state = jax.vmap(
        lambda k, a, b: optimize.init(
            k, a, b, optimizer, target.potential, sigma2, NUM_INNER
        )
    )(keys, theta1, theta2)
    record_args = dict(
        num_burn=0,
        log_partition_particles=64,
        predict_inputs=model.answer_inputs,
        pointwise=True,
    )
    with_log_z = build_record(
        model,
        target.potential,
        jnp.arange(8),
        positions,
        fields,
        log_partition_every=1,
        **record_args,
    )
    without = build_record(
        model,
        target.potential,
        jnp.arange(8),
        positions,
        fields,
        log_partition_every=0,
        **record_args,
    )
    _, info = jax.vmap(step, (0, 0, None))(keys, chains, jnp.asarray(0))
    draw_index = jnp.asarray(warmup + 5)
    warm_index = jnp.asarray(warmup // 2 + 3)  # collecting, not at a window end
    window_end = jnp.asarray(precondition.window_ends(warmup)[1] - 1)
    cases = {
        "MAP step": (jax.vmap(map_step, (0, 0, None)), keys, map_state, jnp.asarray(0)),
        "inner move": (jax.vmap(move), keys, inner, theta1),
        "outer gradient": (
            jax.vmap(lambda p, i, b: estimator(p, (b, i)), (0, 0, None)),
            (theta1, theta2),
            inner,
            batch,
        ),
        "curvature probe": (
            jax.vmap(
                lambda k, a, b, i: precondition.diagonal_curvature(
                    k, log_joint, a, b, i
                ),
                (0, 0, 0, None),
            ),
            keys,
            theta1,
            theta2,
            batch,
        ),
        "window update": (
            jax.vmap(
                lambda k, p, a, b: precondition.update(
                    k, p, lambda x, y: log_joint(x, y), a, b, sigma2
                )
            ),
            keys,
            chains.preconditioner,
            theta1,
            theta2,
        ),
        "warm-up step": (jax.vmap(step, (0, 0, None)), keys, chains, warm_index),
        "warm-up step at a window end": (
            jax.vmap(step, (0, 0, None)),
            keys,
            chains,
            window_end,
        ),
        "draw step": (jax.vmap(step, (0, 0, None)), keys, chains, draw_index),
        "record without log Z": (
            jax.vmap(without, (0, 0, 0, None)),
            keys,
            chains,
            info,
            jnp.asarray(1),
        ),
        "record with log Z": (
            jax.vmap(with_log_z, (0, 0, 0, None)),
            keys,
            chains,
            info,
            jnp.asarray(0),
        ),
    }
    print(f"| part ({NUM_CHAINS} chains) | compile (s) | per call (ms) |")
    print("|---|---|---|")
    for name, (fn, *args) in cases.items():
        compile_seconds, seconds = timed(fn, *args, repeats=repeats)
        print(f"| {name} | {compile_seconds:.1f} | {1e3 * seconds:.1f} |", flush=True)


def default_call(model, **overrides):
    """The issue's call, the MAP fitted inside, with the seconds of each phase
    and the ESS per second of C(θ₂) and L(θ₂)."""
    kwargs = dict(
        method="sgld",
        num_warmup=1000,
        num_samples=200,
        num_chains=2,
        batch_size=64,
        progress=False,
        **overrides,
    )
    started = time.perf_counter()
    tree = samplers.sample(model, key=jr.key(2), **kwargs)
    seconds = time.perf_counter() - started
    print(
        f"sample({', '.join(f'{k}={v}' for k, v in kwargs.items())}): {seconds:.1f} s"
    )
    phases = ("map_time", "setup_time", "compile_time", "warmup_time", "sampling_time")
    print("; ".join(f"{name} {tree.attrs[name]:.1f} s" for name in phases))
    names = ["disagreement", "log_likelihood_total"]
    ess = az.ess(tree, var_names=names, method="bulk")
    rhat = az.rhat(tree, var_names=names)
    for name in names:
        value = float(ess[name])
        print(
            f"{name}: bulk ESS {value:.0f}, R-hat {float(rhat[name]):.3f}, "
            f"{value / seconds:.2f} ESS/s of the call, "
            f"{value / tree.attrs['sampling_time']:.1f} ESS/s of the draws"
        )


def record_budgets(
    model,
    budgets=((16, 2, 0.9), (16, 2, 0.7), (16, 5, 0.9), (64, 2, 0.7), (64, 5, 0.9)),
):
    """Cost and spread of one log Z record (both chains at a MAP's θ₁) for AIS
    budgets (particles, MALA steps per temperature, target ESS)."""
    fit = samplers.find_map(
        model,
        key=jr.key(1),
        num_steps=1500,
        batch_size=BATCH,
        log_partition_particles=0,
        progress=False,
    )
    potential = build_target(model).potential
    theta1 = jnp.stack([fit.theta1] * NUM_CHAINS)
    print("| particles, steps, ESS | s per record | temperatures | log Z |")
    print("|---|---|---|---|")
    for particles, steps, ess in budgets:
        config = LogZConfig(
            num_particles=particles, num_mcmc_steps=steps, target_ess=ess
        )
        estimate = jax.jit(
            jax.vmap(
                lambda k, t, c=config: estimate_log_z(k, potential, t, model.sigma2, c)
            )
        )
        jax.block_until_ready(estimate(jr.split(jr.key(7), NUM_CHAINS), theta1))
        started, values, temperatures = time.perf_counter(), [], []
        for i in range(2):
            result = estimate(jr.split(jr.key(10 + i), NUM_CHAINS), theta1)
            values += [f"{v:.0f}" for v in result.log_z.tolist()]
            temperatures += result.num_temperatures.tolist()
        seconds = (time.perf_counter() - started) / 2
        print(
            f"| {particles}, {steps}, {ess} | {seconds:.1f} | "
            f"{min(temperatures)}–{max(temperatures)} | {', '.join(values)} |",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-parts", action="store_true")
    parser.add_argument("--default-call", action="store_true")
    parser.add_argument("--log-partition-every", type=int, default=None)
    parser.add_argument("--record-budgets", action="store_true")
    args = parser.parse_args()
    model, _, _ = world(jr.key(0), width=args.width, depth=args.depth)
    print(f"{model.num_params} parameters, width {args.width}, depth {args.depth}")
    if not args.skip_parts:
        parts(model, args.repeats)
    if args.default_call:
        overrides = {}
        if args.log_partition_every is not None:
            overrides["log_partition_every"] = args.log_partition_every
        default_call(model, **overrides)
    if args.record_budgets:
        record_budgets(model)


if __name__ == "__main__":
    main()
