"""SG-MCMC on a 4.4k-parameter two-head network (the honest-QA scale).

A ``TwoHeadMLP`` (width 32, depth 2, 83 inputs, 9 answer classes: 4,394
parameters), 660 answers from a random teacher network, 600 agreement inputs,
λ = 300, σ₁ = 1, σ₂ = 0.2. Chains start from ``find_map``; the script prints,
per method, the R-hat and bulk ESS of C(θ₂) and L(θ₂), the accuracy on the
answers of the posterior-mean prediction against the MAP's, and the wall time.

    python benchmarks/sgmcmc_network.py [--methods sgld sghmc] [--warmup 500]
        [--samples 500] [--chains 2] [--baseline no_log_partition]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402


def world(
    key, num_answers=660, num_agreement=600, dim=83, classes=9, width=32, depth=2
):
    k_teacher, k_xd, k_xs, k_net = jr.split(key, 4)
    teacher = posterior.TwoHeadMLP(dim, classes, width=16, depth=1, key=k_teacher)
    x_d = jr.normal(k_xd, (num_answers, dim))
    x_s = jr.normal(k_xs, (num_agreement, dim))
    answers = jnp.argmax(jax.vmap(teacher)(x_d)[0], axis=-1)
    net = posterior.TwoHeadMLP(dim, classes, width=width, depth=depth, key=k_net)
    model = posterior.TwoStageModel(
        net,
        agreement_inputs=x_s,
        answer_inputs=x_d,
        answers=answers,
        likelihood="categorical",
        divergence="kl",
        lam=300.0,
        sigma1=1.0,
        sigma2=0.2,
    )
    return model, x_d, answers


def accuracy(model, theta, x, answers):
    return float(jnp.mean(jnp.argmax(model.intended(theta, x), -1) == answers))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["sgld", "sghmc"])
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--map-steps", type=int, default=1500)
    parser.add_argument("--baseline", default=None)
    parser.add_argument("--step-size", type=float, default=None)
    parser.add_argument(
        "--target-bias", type=float, default=None, help="override the adaptation's"
    )
    args = parser.parse_args()
    if args.target_bias is not None:
        samplers.precondition.TARGET_BIAS = args.target_bias

    model, x_d, answers = world(jr.key(0))
    print(f"{model.num_params} parameters")
    started = time.perf_counter()
    fit = samplers.find_map(
        model,
        key=jr.key(1),
        num_steps=args.map_steps,
        batch_size=64,
        baseline=args.baseline,
        log_partition_particles=0,
        progress=False,
    )
    print(
        f"MAP: {time.perf_counter() - started:.0f} s, accuracy "
        f"{accuracy(model, fit.theta2, x_d, answers):.3f}"
    )
    for method in args.methods:
        started = time.perf_counter()
        tree = samplers.sample(
            model,
            key=jr.key(2),
            method=method,
            num_chains=args.chains,
            num_warmup=args.warmup,
            num_samples=args.samples,
            batch_size=64,
            baseline=args.baseline,
            step_size=args.step_size,
            init=fit,
            log_partition_every=0,
            predict_inputs=x_d,
            pointwise_log_likelihood=False,
            progress=False,
        )
        seconds = time.perf_counter() - started
        names = ["disagreement", "log_likelihood_total"]
        rhat = az.rhat(tree, var_names=names)
        ess = az.ess(tree, var_names=names, method="bulk")
        probabilities = jax.nn.softmax(tree.predictions["intended"].values, -1)
        mean_prediction = probabilities.mean(axis=(0, 1)).argmax(-1)
        post_accuracy = float(np.mean(mean_prediction == np.asarray(answers)))
        print(
            f"{method}: {seconds:.0f} s; R-hat C {float(rhat['disagreement']):.3f} "
            f"L {float(rhat['log_likelihood_total']):.3f}; ESS C "
            f"{float(ess['disagreement']):.0f} L "
            f"{float(ess['log_likelihood_total']):.0f}; posterior-mean accuracy "
            f"{post_accuracy:.3f}; mean L {float(tree.posterior['log_likelihood_total'].mean()):.1f}; "
            f"inner ESS {float(tree.sample_stats['inner_ess'].mean()):.2f}"
        )


if __name__ == "__main__":
    main()
