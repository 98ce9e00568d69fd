"""The honest-QA world at the MAP only: `data_only` against `two_stage`, with κ.

For one (λ, σ₂) and ten world seeds, fits both methods' MAP with the
experiment's settings (float32, as `make demo`), and prints the mean honest
share of each, their paired difference, and κ at the two-stage θ₂ (λσ₂² × the
top eigenvalue of C's Gauss–Newton matrix). A MAP-only view of what
`honest-qa --sweep` measures with posterior draws, at a tenth of its cost.
Results: docs/honest_qa.md, "Where conditioning acts".

    python benchmarks/honest_qa_map_scan.py --lam 400 --sigma2 0.05 --seeds 10
    python benchmarks/honest_qa_map_scan.py --methods data_only --seeds 3 \
        --occluded-trace 1 --num-world-questions 0 --careful-blind-slots ''
        # the last: the world before world questions
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


def intended_rates(model, world, theta2) -> tuple[float, float]:
    """The intended head's honest and imitation rates on the test set."""
    answers = np.asarray(_answers_fn(model, _items(world))(theta2))
    num_test = len(world.test["truth"])
    honest, imitation = rates(
        answers[0, :num_test], world.test["truth"], world.test["simple"]
    )
    return float(honest), float(imitation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lam", type=float, default=ModelConfig().lam)
    parser.add_argument("--sigma2", type=float, default=ModelConfig().sigma2)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--methods", default="data_only,two_stage")
    parser.add_argument("--occluded-trace", type=float, default=None)
    parser.add_argument("--num-world-questions", type=int, default=None)
    parser.add_argument(
        "--careful-blind-slots", default=None, help="e.g. 0, or '' for none"
    )
    args = parser.parse_args()
    blind = None
    if args.careful_blind_slots is not None:
        blind = tuple(int(p) for p in args.careful_blind_slots.split(",") if p)
    changes = {
        name: value
        for name, value in (
            ("occluded_trace", args.occluded_trace),
            ("num_world_questions", args.num_world_questions),
            ("careful_blind_slots", blind),
        )
        if value is not None
    }
    sampler = SamplerConfig()
    methods = args.methods.split(",")
    found = {method: [] for method in methods}
    kappas = []
    started = time.perf_counter()
    for seed in range(args.seeds):
        world = make_world(WorldConfig(**changes), seed=seed)
        for method in methods:
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
            found[method].append(intended_rates(model, world, fit.theta2))
            if method == "two_stage":
                kappas.append(float(posterior.kappa(model, fit.theta2, k=1)[0]))
    print(f"λ {args.lam:g}, σ₂ {args.sigma2:g}, {args.seeds} seeds, world {changes}")
    shares = {}
    for method, pairs in found.items():
        honest, imitation = np.array(pairs).T
        shares[method] = honest / np.maximum(honest + imitation, 1e-12)
        print(
            f"  {method}: honest {honest.mean():.2f}, imitation "
            f"{imitation.mean():.2f}, honest share {shares[method].mean():.3f}"
        )
    if {"data_only", "two_stage"} <= set(shares):
        diff = shares["two_stage"] - shares["data_only"]
        print(
            f"  honest share two_stage − data_only {diff.mean():+.3f} (two_stage "
            f"higher on {int(np.sum(diff > 0))}); κ at θ₂ median "
            f"{np.median(kappas):.1f}, min {np.min(kappas):.1f}"
        )
    print(f"  {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
