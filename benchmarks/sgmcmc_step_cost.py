"""What a two-stage SGLD step costs on a 3k-parameter network, warm-up and draws.

The honest-QA world at 600 agreement inputs and a ``TwoHeadMLP`` of width 32
and depth 2 (3,182 parameters), λ = 300, σ₁ = 1, σ₂ = 0.2, batch 64, 2 chains,
SGLD with its defaults (adapted step, log Z recorded at a tenth of the draws),
every run from one MAP fitted beforehand and given as ``init=``. Each row is
the wall time of one ``sample`` call, compilation included; the slope between
rows of equal draws gives the cost of a warm-up step, and between rows of equal
warm-up the cost of a draw (its log Z records included).

    python benchmarks/sgmcmc_step_cost.py [--rows 0,1,2]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.random as jr  # noqa: E402

import samplers  # noqa: E402
from two_stage_posterior.honest_qa.config import ModelConfig  # noqa: E402
from two_stage_posterior.honest_qa.experiment import build_model  # noqa: E402
from two_stage_posterior.honest_qa.world import WorldConfig, make_world  # noqa: E402

# (baseline, warm-up, draws), as in the issue that measured them first.
ROWS = [
    ("single_head", 120, 20),
    (None, 20, 20),
    (None, 120, 20),
    (None, 12, 2),
    (None, 12, 42),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(map(str, range(len(ROWS)))))
    parser.add_argument("--map-steps", type=int, default=500)
    args = parser.parse_args()

    world = make_world(WorldConfig(num_agreement=600), seed=0)
    config = ModelConfig(width=32, depth=2, lam=300.0, sigma1=1.0, sigma2=0.2)
    model = build_model(world, "two_stage", config, jr.key(0))
    print(f"{model.num_params} parameters, {model.agreement_inputs.shape[0]} in S")
    started = time.perf_counter()
    fit = samplers.find_map(
        model,
        key=jr.key(1),
        num_steps=args.map_steps,
        batch_size=64,
        log_partition_particles=0,
        progress=False,
    )
    print(f"MAP ({args.map_steps} steps): {time.perf_counter() - started:.1f} s")
    print("| call | time |\n|---|---|")
    for row in map(int, args.rows.split(",")):
        baseline, num_warmup, num_samples = ROWS[row]
        started = time.perf_counter()
        samplers.sample(
            model,
            key=jr.key(2),
            method="sgld",
            num_chains=2,
            num_warmup=num_warmup,
            num_samples=num_samples,
            batch_size=64,
            baseline=baseline,
            init=fit,
            progress=False,
        )
        seconds = time.perf_counter() - started
        name = f'`baseline="{baseline}"`, ' if baseline else "two-stage, "
        print(f"| {name}{num_warmup} warm-up + {num_samples} draws | {seconds:.1f} s |")


if __name__ == "__main__":
    main()
