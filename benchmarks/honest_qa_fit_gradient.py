"""The gradient the honest-QA two-stage MAP fit follows: the persistent inner
particles' ∇log Ẑ(θ₁) against a fresh estimate at the same θ₁.

Runs the experiment's eight-start fit (as `honest_qa_inner_fit.py`, 16 inner
chains × 2 MALA steps) with its records widened to keep, at every step, θ₁ and
the inner particles' ∇log Ẑ there (the estimate that step used); then, at a few
steps of θ₀'s start, estimates ∇log Z afresh (256 particles, the inference
checks' HMC reference moves) and prints both norms and their cosine, with the
fresh log Ẑ, C(θ₁) and the loss, then the cosines of the two identities the
inner estimate mixes (score and pathwise, `samplers.gradient`) with the fresh
estimate and with each other, the fresh estimate's own two, the inner ESS and
the inner MALA step size. Results: docs/honest_qa.md.

    python benchmarks/honest_qa_fit_gradient.py --seed 1 --keys none,1
"""

import argparse

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from honest_qa_inner_fit import fit_once

import samplers.mode as mode
from samplers.gradient import grad_log_partition_estimate
from two_stage_posterior.honest_qa import log_z_estimates
from two_stage_posterior.honest_qa.config import ModelConfig
from two_stage_posterior.honest_qa.experiment import build_model
from two_stage_posterior.honest_qa.world import WorldConfig, make_world

STEPS = (100, 200, 250, 300, 350, 400, 500, 800)


def widen_records(sigma2: float, saved: dict) -> None:
    """Make `find_map` keep θ₁ and the inner ∇log Ẑ of every step in ``saved``."""
    record, run_chains = mode._map_record, mode.run_chains

    def wide_record(key, state, info, draw):
        out = record(key, state, info, draw)
        # After the step, the inner particles sit at the θ₁ the step started
        # from: their estimate there is the one the step used.
        inner = state.inner
        parts = grad_log_partition_estimate(
            inner.particles,
            inner.log_weights,
            inner.potential_grad,
            inner.theta1,
            sigma2,
        )
        out["theta1"] = inner.theta1.astype(jnp.float32)
        for name, part in zip(("grad", "score", "pathwise"), parts, strict=True):
            out[name] = part.astype(jnp.float32)
        out["step_size"] = inner.step_size
        return out

    def keeping_run_chains(*args, **kwargs):
        final, records, timing = run_chains(*args, **kwargs)
        saved["records"] = records
        return final, records, timing

    mode._map_record, mode.run_chains = wide_record, keeping_run_chains


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--keys", default="none,1", help="fit keys: none (the default) or K"
    )
    args = parser.parse_args()
    saved: dict = {}
    widen_records(ModelConfig().sigma2, saved)
    world = make_world(WorldConfig(), seed=args.seed)
    model = build_model(
        world, "two_stage", ModelConfig(), jr.fold_in(jr.key(args.seed), 0)
    )
    fresh_runs = log_z_estimates.log_z_runs(
        model, 256, **log_z_estimates.REFERENCE_MOVE
    )
    for text in args.keys.split(","):
        map_key = None if text == "none" else int(text)
        fit_once(model, args.seed, 16, 2, None, None, map_key)
        records = saved["records"]
        for step in STEPS:
            theta1 = np.asarray(records["theta1"][0, step], np.float64)
            inner = np.asarray(records["grad"][0, step], np.float64)
            fresh = fresh_runs([theta1], [jr.key(step)])[0]
            grad = np.asarray(fresh.grad_log_z, np.float64)
            cosine = _cosine(inner, grad)
            c1 = model.disagreement(jnp.asarray(theta1, model.theta0.dtype))
            print(
                f"seed {args.seed}, key {text}, step {step}: |inner| "
                f"{np.linalg.norm(inner):.0f}, |fresh| {np.linalg.norm(grad):.0f}, "
                f"cosine {cosine:.2f}, fresh log Z {float(fresh.log_z):.1f}, "
                f"C(θ₁) {float(c1):.2f}, loss {float(records['loss'][0, step]):.0f}",
                flush=True,
            )
            score, pathwise = (
                np.asarray(records[name][0, step], np.float64)
                for name in ("score", "pathwise")
            )
            fresh_score = np.asarray(fresh.grad_log_z_score, np.float64)
            fresh_pathwise = np.asarray(fresh.grad_log_z_pathwise, np.float64)
            print(
                f"    cosine with the fresh estimate: score {_cosine(score, grad):.2f}, "
                f"pathwise {_cosine(pathwise, grad):.2f}; score with pathwise: "
                f"inner {_cosine(score, pathwise):.2f}, fresh "
                f"{_cosine(fresh_score, fresh_pathwise):.2f}; inner ESS "
                f"{float(records['inner_ess'][0, step]):.1f}, inner step size "
                f"{float(records['step_size'][0, step]):.3f}",
                flush=True,
            )


def _cosine(x, y) -> float:
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


if __name__ == "__main__":
    main()
