"""The honest-QA world at the MAP only: `data_only` against `two_stage`, with κ.

For one (λ, σ₂) and ten world seeds, fits both methods' MAP with the
experiment's settings (float32, as `make demo`), and prints the mean honest
share of each, their paired difference, and κ at the two-stage θ₂ (λσ₂² × the
top eigenvalue of C's Gauss–Newton matrix). A MAP-only view of what
`honest-qa --sweep` measures with posterior draws, at a tenth of its cost.
Results: docs/honest_qa.md, "Where conditioning acts".

    python benchmarks/honest_qa_map_scan.py --lam 400 --sigma2 0.05 --seeds 10
"""

import argparse
import time

import jax.random as jr
import numpy as np
import optax

import posterior
import samplers
from two_stage_posterior.honest_qa.config import BASELINES, ModelConfig, SamplerConfig
from two_stage_posterior.honest_qa.experiment import _answers_fn, _items, build_model
from two_stage_posterior.honest_qa.metrics import rates
from two_stage_posterior.honest_qa.world import WorldConfig, make_world


def honest_share(model, world, theta2) -> float:
    answers = np.asarray(_answers_fn(model, _items(world))(theta2))
    num_test = len(world.test["truth"])
    honest, imitation = rates(
        answers[0, :num_test], world.test["truth"], world.test["simple"]
    )
    return float(honest / max(honest + imitation, 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lam", type=float, default=100.0)
    parser.add_argument("--sigma2", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    sampler = SamplerConfig()
    shares = {"data_only": [], "two_stage": []}
    kappas = []
    started = time.perf_counter()
    for seed in range(args.seeds):
        world = make_world(WorldConfig(), seed=seed)
        for method in shares:
            model = build_model(
                world,
                method,
                ModelConfig(lam=args.lam, sigma2=args.sigma2),
                jr.fold_in(jr.key(seed), 0),
            )
            fit = samplers.find_map(
                model,
                key=jr.key(seed + 100),
                num_steps=sampler.map_steps,
                optimizer=optax.adam(sampler.learning_rate),
                baseline=BASELINES[method],
                log_partition_particles=0,
                progress=False,
            )
            shares[method].append(honest_share(model, world, fit.theta2))
            if method == "two_stage":
                kappas.append(float(posterior.kappa(model, fit.theta2, k=1)[0]))
    diff = np.array(shares["two_stage"]) - np.array(shares["data_only"])
    print(
        f"λ {args.lam:g}, σ₂ {args.sigma2:g}, {args.seeds} seeds: honest share "
        f"data_only {np.mean(shares['data_only']):.3f}, two_stage "
        f"{np.mean(shares['two_stage']):.3f}, difference {diff.mean():+.3f} "
        f"(two_stage higher on {int(np.sum(diff > 0))}); κ at θ₂ median "
        f"{np.median(kappas):.1f}, min {np.min(kappas):.1f}; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
