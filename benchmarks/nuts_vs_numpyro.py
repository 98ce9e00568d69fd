"""`sample(method="nuts")` against numpyro's NUTS on the same log density.

The case of the issue "NUTS mixes 30–40× worse than numpyro's": a `TwoHeadMLP`
with 2 inputs, width 6, depth 1 and 3 classes (60 parameters, so 120
coordinates for θ₁ and θ₂), 120 answers and 60 agreement inputs, λ = 5,
σ₁ = 1, σ₂ = 0.5. For the baselines (`single_head`, `no_log_partition`), whose
density has no log Z, numpyro's `NUTS(potential_fn=...)` runs on (θ₁, θ₂)
jointly with the same chains (vectorised), warm-up and draws. Ours is a Gibbs
sweep: θ₂ | θ₁ by NUTS, θ₁ | θ₂ by an exchange move.

Measured on the sampling phase only: our `sampling_time` attribute, and for
numpyro, which compiles its sampling loop afresh at every run, the difference
of the wall times of two sampling runs from the same warm-up, of the draws and
of twice as many.
ESS is the smallest bulk ESS over the first 50 coordinates of θ₁; each row is
the median over the keys. It also records the two-stage posterior's θ₁ ESS per
second (no numpyro counterpart: its density needs log Z) on this case and on
the d = 4 oblique rare-agreement case (λ = 2.5, σ₁ = 1, σ₂ = 0.6, 3 agreement
inputs, 6 answers), for the default sweep and for the one whose joint move is
an HMC trajectory with bridged exchange ratios (``samplers.Exchange(
joint_steps=..., bridges=...)``), paired on each key.

    python benchmarks/nuts_vs_numpyro.py [--keys 0,1,2] [--warmup 300]
        [--samples 300] [--chains 4] [--skip-two-stage] [--skip-baselines]
        [--two-stage-keys 0] [--skip-mlp] [--joint-steps 8] [--bridges 16]
        [--skip-oblique] [--sweeps default,joint,nested,nested-joint]

``nested`` and ``nested-joint`` run the nested-AIS sweep from the start,
without and with its joint trajectory (``samplers.NestedAIS(joint_steps=...)``).
"""

import argparse
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import posterior  # noqa: E402, I001  (before arviz: it mends numpyro's imports)
import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

import samplers  # noqa: E402

NUM_ESS_COORDS = 50


def mlp_model(key):
    key_net, key_x, key_s, key_a = jr.split(key, 4)
    network = posterior.TwoHeadMLP(in_size=2, out_size=3, width=6, depth=1, key=key_net)
    centres = jnp.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    answers = jr.randint(key_a, (120,), 0, 3)
    inputs = centres[answers] + jr.normal(key_x, (120, 2))
    return posterior.TwoStageModel(
        network,
        agreement_inputs=2.0 * jr.normal(key_s, (60, 2)),
        answer_inputs=inputs,
        answers=answers,
        likelihood="categorical",
        divergence="kl",
        lam=5.0,
        sigma1=1.0,
        sigma2=0.5,
    )


def min_ess(theta1):
    """Smallest bulk ESS over the first coordinates; ``theta1`` is (chains,
    draws, d)."""
    data = az.from_dict(
        {"posterior": {"theta1": np.asarray(theta1)[..., :NUM_ESS_COORDS]}}
    )
    return float(np.min(az.ess(data, method="bulk")["theta1"].values))


def ours(model, key, args, baseline, method="nuts"):
    tree = samplers.sample(
        model,
        key=key,
        method=method,
        baseline=baseline,
        num_chains=args.chains,
        num_warmup=args.warmup,
        num_samples=args.samples,
        log_partition_every=0,
        pointwise_log_likelihood=False,
        progress=False,
    )
    return (
        min_ess(tree.posterior["theta1"].values),
        float(tree.attrs["sampling_time"]),
        tree.attrs,
    )


def numpyro_nuts(model, key, args, baseline):
    """numpyro compiles its sampling loop afresh at every run, and JAX's compile
    events miss part of that cost (about 3.5 s here), so the sampling time of
    ``args.samples`` draws is the difference of two runs from the same warm-up,
    of ``args.samples`` and twice as many draws; ESS comes from the first."""
    target = samplers.build_target(model, baseline=baseline)
    dim = model.num_params

    def potential(z):
        return -target.log_joint(z[:dim], z[dim:])

    key_init, key_warmup, key_sample = jr.split(key, 3)
    start = jnp.concatenate([model.theta0, model.theta0])
    init = start + 0.1 * jr.normal(key_init, (args.chains, 2 * dim))
    walls, ess = [], None
    for num_samples in (args.samples, 2 * args.samples):
        mcmc = MCMC(
            NUTS(potential_fn=potential),
            num_warmup=args.warmup,
            num_samples=num_samples,
            num_chains=args.chains,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.warmup(key_warmup, init_params=init)
        started = time.perf_counter()
        mcmc.run(key_sample, init_params=init)
        samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
        walls.append(time.perf_counter() - started)
        if ess is None:
            ess = min_ess(samples[..., :dim])
    return ess, walls[1] - walls[0]


def row(name, results):
    ess = statistics.median(r[0] for r in results)
    seconds = statistics.median(r[1] for r in results)
    per_second = statistics.median(r[0] / r[1] for r in results)
    return name, ess, seconds, per_second


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", default="0,1,2")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--skip-two-stage", action="store_true")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--two-stage-keys", default="0")
    parser.add_argument("--skip-mlp", action="store_true")
    parser.add_argument("--joint-steps", type=int, default=8)
    parser.add_argument("--bridges", type=int, default=16)
    parser.add_argument("--skip-oblique", action="store_true")
    parser.add_argument(
        "--sweeps",
        default="default,joint",
        help="of default, joint, nested, nested-joint",
    )
    args = parser.parse_args()
    keys = [int(k) for k in args.keys.split(",")]
    model = mlp_model(jr.key(0))
    print(
        f"MLP: {model.num_params} parameters; {args.chains} chains × "
        f"({args.warmup} warm-up + {args.samples} draws); median over keys {keys}"
    )
    print("| case | sampler | min bulk ESS of θ₁ | sampling s | ESS/s | ratio |")
    print("|---|---|---|---|---|---|")
    for baseline in () if args.skip_baselines else ("single_head", "no_log_partition"):
        a = row("ours", [ours(model, jr.key(k), args, baseline)[:2] for k in keys])
        b = row(
            "numpyro", [numpyro_nuts(model, jr.key(k), args, baseline) for k in keys]
        )
        for name, ess, seconds, per_second in (a, b):
            ratio = per_second / a[3]
            print(
                f"| `{baseline}` | {name} | {ess:.0f} | {seconds:.2f} | "
                f"{per_second:.0f} | {ratio:.1f}× |",
                flush=True,
            )
    if args.skip_two_stage:
        return
    oblique = posterior.LinearGaussianCase.random(
        jr.key(0), d=4, m=3, n=6, lam=2.5, sigma1=1.0, sigma2=0.6
    )
    mean, _ = oblique.posterior_mean_cov()
    print(
        f"\noblique d = 4: -log Z {-float(oblique.log_partition(oblique.theta0)):.1f} "
        f"nats at θ₀, {-float(oblique.log_partition(mean[:4])):.1f} at the "
        "posterior mean"
    )
    # One row per key and sweep: the exchange move's cost on the MLP makes a
    # run minutes. "joint" is the HMC trajectory with bridged ratios
    # (samplers.bridging), under "auto" as the default is.
    joint = samplers.NUTS(
        theta1=samplers.Exchange(
            fallback=samplers.NestedAIS(),
            joint_steps=args.joint_steps,
            bridges=args.bridges,
        )
    )
    every_sweep = {
        "default": ("default", "nuts"),
        "joint": (f"joint {args.joint_steps}, bridges {args.bridges}", joint),
        # The nested-AIS sweep without the exchange scout, with and without
        # its non-centred joint move.
        "nested": ("nested AIS", samplers.NUTS(theta1=samplers.NestedAIS())),
        "nested-joint": (
            f"nested AIS, joint {args.joint_steps}",
            samplers.NUTS(theta1=samplers.NestedAIS(joint_steps=args.joint_steps)),
        ),
    }
    sweeps = dict(every_sweep[name] for name in args.sweeps.split(","))
    print("| case | key | sweep | θ₁ move | min bulk ESS of θ₁ | sampling s | ESS/s |")
    print("|---|---|---|---|---|---|---|")
    two_stage_keys = [int(k) for k in args.two_stage_keys.split(",")]
    cases = (("oblique d = 4", oblique.model), ("MLP", model))
    for name, case_model in cases[: 1 if args.skip_mlp else 2]:
        if name.startswith("oblique") and args.skip_oblique:
            continue
        for k in keys if name != "MLP" else two_stage_keys:
            for sweep, method in sweeps.items():
                ess, seconds, attrs = ours(case_model, jr.key(k), args, None, method)
                print(
                    f"| {name} | {k} | {sweep} | {attrs['theta1_update']} | "
                    f"{ess:.0f} | {seconds:.2f} | {ess / seconds:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
