"""A nested SGLD step at 10⁵ parameters against a plain blackjax SGLD step.

The issue "Sampling where agreement is rare" asks, on a ~10⁵-parameter
``TwoHeadMLP`` with 2000 agreement inputs and answer batches of 64, for a
nested SGLD step that costs at most 10 times a plain blackjax SGLD step on the
single-head log density, with an inner ESS of at least a quarter of the inner
particles. This measures both in one process:

- plain: ``blackjax.sgld`` on log N(θ; θ₀, σ₁² + σ₂²) + the minibatch
  log-likelihood of the intended head (one vector, as the single-head
  posterior of θ₂ marginalises θ₁), a scan of ``--draws`` steps compiled
  first and then timed;
- nested: ``samplers.sample(method=samplers.SGLD(num_inner=K,
  num_inner_steps=M))``, one chain from θ₀, ``--warmup`` + ``--draws``
  steps, no log Z records; its ``sampling_time`` per draw (and
  ``warmup_time`` per warm-up step, the adaptation's probes included), and the inner
  particles' ESS (``sample_stats.inner_ess``) over the kept draws; a row
  ``KxMbB`` takes C on B agreement inputs a step (``agreement_batch_size``);
- the process's peak resident memory after each.

    python benchmarks/sgmcmc_at_scale.py [--width 272] [--agreement 2000]
        [--warmup 20] [--draws 20] [--inner 16x2,16x1,4x1,16x2b64]
"""

import argparse
import resource
import time

import jax

jax.config.update("jax_enable_x64", True)

import blackjax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
from sgmcmc_network import world  # noqa: E402

import samplers  # noqa: E402

BATCH = 64


def peak_memory_gib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def plain_sgld(model, num_steps, step_size):
    """(compile s, s per step) of blackjax SGLD on the single-head density."""
    num_data = int(model.num_answers)
    prior_scale = jnp.sqrt(model.sigma1**2 + model.sigma2**2)

    def logprior(theta):
        return -0.5 * jnp.sum(((theta - model.theta0) / prior_scale) ** 2)

    # One answer: blackjax vmaps it over the batch's indices.
    def loglikelihood(theta, index):
        logits = model.intended(theta, model.answer_inputs[index][None])[0]
        return jax.nn.log_softmax(logits)[model.answers[index]]

    grad_fn = blackjax.sgmcmc.gradients.grad_estimator(
        logprior, loglikelihood, num_data
    )
    sgld = blackjax.sgld(grad_fn)

    def run(key, theta):
        def one(theta, key):
            key_batch, key_step = jr.split(key)
            batch = jr.choice(key_batch, num_data, (BATCH,), replace=False)
            return sgld.step(key_step, theta, batch, step_size), None

        theta, _ = jax.lax.scan(one, theta, jr.split(key, num_steps))
        return theta

    program = jax.jit(run)
    started = time.perf_counter()
    compiled = program.lower(jr.key(0), model.theta0).compile()
    compile_seconds = time.perf_counter() - started
    jax.block_until_ready(compiled(jr.key(1), model.theta0))
    started = time.perf_counter()
    jax.block_until_ready(compiled(jr.key(2), model.theta0))
    return compile_seconds, (time.perf_counter() - started) / num_steps


def nested_sgld(model, num_inner, num_inner_steps, warmup, draws, agreement_batch):
    tree = samplers.sample(
        model,
        key=jr.key(3),
        method=samplers.SGLD(
            batch_size=BATCH,
            num_inner=num_inner,
            num_inner_steps=num_inner_steps,
            agreement_batch_size=agreement_batch,
        ),
        num_chains=1,
        num_warmup=warmup,
        num_samples=draws,
        init="theta0",
        log_partition_every=0,
        pointwise_log_likelihood=False,
        max_full_params=8,
        progress=False,
    )
    ess = np.asarray(tree.sample_stats["inner_ess"]).ravel()
    return {
        "compile": tree.attrs["compile_time"],
        "per_step": tree.attrs["sampling_time"] / draws,
        "per_warmup_step": tree.attrs["warmup_time"] / max(warmup, 1),
        "inner_ess_mean": float(ess.mean()),
        "inner_ess_min": float(ess.min()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=272)
    parser.add_argument("--agreement", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--inner", default="16x2,16x1,4x1,16x2b64")
    args = parser.parse_args()

    model, _, _ = world(jr.key(0), num_agreement=args.agreement, width=args.width)
    print(
        f"{model.num_params} parameters, {args.agreement} agreement inputs, "
        f"{int(model.num_answers)} answers (batch {BATCH}); "
        f"{jax.device_count()} device(s), x64"
    )
    compile_seconds, plain = plain_sgld(model, args.draws, 1e-5)
    print(
        f"plain blackjax SGLD (single head): {1e3 * plain:.1f} ms a step "
        f"(compiled in {compile_seconds:.1f} s); peak memory "
        f"{peak_memory_gib():.2f} GiB"
    )
    print(
        "| inner particles × MALA steps | C on | ms a step | × plain | ms a warm-up "
        "step | inner ESS mean, min (of K) | compile s | peak GiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for variant in args.inner.split(","):
        variant, _, batch = variant.partition("b")
        num_inner, num_steps = (int(x) for x in variant.split("x"))
        agreement_batch = int(batch) if batch else None
        row = nested_sgld(
            model, num_inner, num_steps, args.warmup, args.draws, agreement_batch
        )
        print(
            f"| {num_inner} × {num_steps} | {agreement_batch or 'all'} | "
            f"{1e3 * row['per_step']:.0f} | "
            f"{row['per_step'] / plain:.0f} | "
            f"{1e3 * row['per_warmup_step']:.0f} | {row['inner_ess_mean']:.2f}, "
            f"{row['inner_ess_min']:.2f} | {row['compile']:.1f} | "
            f"{peak_memory_gib():.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
