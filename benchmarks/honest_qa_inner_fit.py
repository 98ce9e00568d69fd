"""The honest-QA two-stage MAP fit with fewer inner chains: what it costs, and
how high it gets.

For each world seed and each inner setting K × M (K persistent inner chains, M
MALA steps each per Adam step; optionally on batches of the agreement set, or
with fewer Adam steps), runs the experiment's own eight-start two-stage fit
(`experiment.starts`, `map_optimizer`, by default 1000 steps)
and prints its seconds and, at θ₀'s optimum, the objective log p̃ − log Ẑ
with log Ẑ from the inference checks' reference (256 particles, HMC moves,
two runs), C at θ₁ and θ₂ and the intended head's honest and imitation rates
on the test set. A cheaper setting is only as good as the objective it
reaches on every seed. Results: docs/honest_qa.md.

    python benchmarks/honest_qa_inner_fit.py --inner 16x2,8x2,8x1,4x1 --seeds 0,1
    python benchmarks/honest_qa_inner_fit.py --inner 16x2,16x2:b100,16x2:s500
"""

import argparse
import time

import jax
import jax.random as jr
import numpy as np

import samplers
from two_stage_posterior.honest_qa import log_z_estimates
from two_stage_posterior.honest_qa.config import (
    BASELINES,
    METHODS,
    ModelConfig,
    SamplerConfig,
)
from two_stage_posterior.honest_qa.experiment import (
    _answers_fn,
    _items,
    build_model,
    map_optimizer,
    starts,
)
from two_stage_posterior.honest_qa.metrics import rates
from two_stage_posterior.honest_qa.world import WorldConfig, make_world

METHOD = "two_stage"


def fit_once(
    model,
    seed,
    num_inner,
    num_steps,
    agreement_batch_size,
    map_steps,
    map_key,
    refresh_every=None,
):
    """The experiment's eight-start fit with K × M inner chains (on batches of
    the agreement set where ``agreement_batch_size`` is given): (seconds, the
    fit at θ₀'s start, the key of its log Z estimates). ``map_key``, where
    given, replaces the fit's key by another (the spread of the fit itself);
    ``refresh_every``, where given, replaces the experiment's
    ``inner_refresh_every``."""
    key = jr.key(seed)
    key_map, _, key_z = jr.split(jr.fold_in(key, 1 + METHODS.index(METHOD)), 3)
    if map_key is not None:
        key_map = jr.fold_in(key_map, map_key)
    sampler = SamplerConfig(
        num_inner=num_inner,
        num_inner_steps=num_steps,
        agreement_batch_size=agreement_batch_size,
        map_steps=map_steps or SamplerConfig.map_steps,
        inner_refresh_every=(
            SamplerConfig.inner_refresh_every
            if refresh_every is None
            else refresh_every
        ),
    )
    started = time.perf_counter()
    fits = samplers.find_map(
        model,
        key=key_map,
        num_steps=sampler.map_steps,
        optimizer=map_optimizer(sampler),
        num_inner=num_inner,
        num_inner_steps=num_steps,
        agreement_batch_size=sampler.agreement_batch_size,
        inner_refresh_every=sampler.inner_refresh_every,
        baseline=BASELINES[METHOD],
        log_partition_particles=0,
        init=starts(model, sampler, jr.fold_in(key, 1 + len(METHODS))),
        progress=False,
    )
    fit = jax.tree.map(lambda leaf: leaf[0], fits)
    jax.block_until_ready(fit.theta1)
    return time.perf_counter() - started, fit, key_z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--inner",
        default="16x2,8x2,8x1,4x1",
        help="settings K x M, each optionally with :bB (agreement batches of B "
        "inputs), :sS (S Adam steps), :kK (another key for the fit) and :rR "
        "(inner particles refreshed every R steps; r0 never), e.g. "
        "16x2,16x2:b100,16x2:s500,16x2:k1,16x2:r100",
    )
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    settings = [_setting(v) for v in args.inner.split(",")]
    for seed in (int(s) for s in args.seeds.split(",")):
        world = make_world(WorldConfig(), seed=seed)
        model = build_model(world, METHOD, ModelConfig(), jr.fold_in(jr.key(seed), 0))
        answers_fn = _answers_fn(model, _items(world))
        num_test = len(world.test["truth"])
        for name, setting in settings:
            seconds, fit, key_z = fit_once(model, seed, *setting)
            runs = log_z_estimates.log_z_runs(
                model, 256, **log_z_estimates.REFERENCE_MOVE
            )([fit.theta1] * 2, jr.split(jr.fold_in(key_z, 7), 2))
            log_z = np.mean([float(run.log_z) for run in runs])
            answers = np.asarray(answers_fn(fit.theta2))
            honest, imitation = rates(
                answers[0, :num_test], world.test["truth"], world.test["simple"]
            )
            print(
                f"seed {seed}, {name}: fit {seconds:.1f} s, "
                f"objective {float(fit.log_joint) - log_z:.1f}, C(θ₁) "
                f"{float(model.disagreement(fit.theta1)):.3f}, C(θ₂) "
                f"{float(model.disagreement(fit.theta2)):.3f}, honest "
                f"{honest:.3f}, imitation {imitation:.3f}",
                flush=True,
            )


def _setting(text: str) -> tuple[str, tuple]:
    inner, *options = text.split(":")
    num_inner, num_steps = (int(x) for x in inner.split("x"))
    extra = {option[0]: int(option[1:]) for option in options}
    return text, (
        num_inner,
        num_steps,
        extra.get("b"),
        extra.get("s"),
        extra.get("k"),
        extra.get("r"),
    )


if __name__ == "__main__":
    main()
