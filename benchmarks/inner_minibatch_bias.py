"""The bias of inner chains that see C on a minibatch of the agreement inputs.

Inner chains estimate ∇log Z(θ₁) = (E[θ′] − θ₁)/σ² under
p(θ′ | θ₁) ∝ N(θ′; θ₁, σ²) e^{−λC(θ′)}. Today they move by MALA on the whole
agreement set; at 10⁵ parameters that costs 191 plain SGLD steps a step
(``sgmcmc_at_scale.py``). On a minibatch of b inputs no Metropolis correction
is affordable, so the chains become unadjusted Langevin: this measures the bias
of that estimate, split into the step's (b = all) and the minibatch's share.

On a quadratic C the stationary mean of unadjusted Langevin with an unbiased
gradient is exact (its mean recursion is linear), so the case is non-quadratic:
C(θ) = mean over 64 inputs x of (tanh(θ₀x) − θ₁x)², λ = 30, σ = 1, at one θ₁,
against a grid sum (801² points over ±8σ). 64 particles, 20,000 steps (the
first 2,000 dropped), the SE from 50 batch means over steps.

    python benchmarks/inner_minibatch_bias.py [--steps 20000]
"""

import argparse

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

LAM, SIGMA = 30.0, 1.0
THETA1 = np.array([0.8, 0.2])
INPUTS = np.random.default_rng(0).normal(size=64) * 1.5


def disagreement(theta, x):
    return jnp.mean(jnp.square(jnp.tanh(theta[0] * x) - theta[1] * x))


def exact_grad_log_z(half_width=8.0, num=801):
    grid = np.linspace(-half_width, half_width, num) * SIGMA
    u0, u1 = np.meshgrid(THETA1[0] + grid, THETA1[1] + grid, indexing="ij")
    c = np.mean((np.tanh(u0[..., None] * INPUTS) - u1[..., None] * INPUTS) ** 2, -1)
    log_w = -0.5 * ((u0 - THETA1[0]) ** 2 + (u1 - THETA1[1]) ** 2) / SIGMA**2
    weights = np.exp(log_w - LAM * c - logsumexp(log_w - LAM * c))
    mean = np.array([np.sum(weights * u0), np.sum(weights * u1)])
    return (mean - THETA1) / SIGMA**2


def langevin_estimate(key, batch, step, num_particles=64, num_steps=20000, burn=2000):
    """∇log Z from unadjusted Langevin on minibatches of ``batch`` inputs, and
    its batch-means SE."""
    x, theta1 = jnp.asarray(INPUTS), jnp.asarray(THETA1)
    eps = step * SIGMA

    def log_density(theta, xb):
        gauss = -0.5 * jnp.sum((theta - theta1) ** 2) / SIGMA**2
        return gauss - LAM * disagreement(theta, xb)

    grad = jax.vmap(jax.grad(log_density), (0, None))

    def one(particles, key):
        key_batch, key_noise = jr.split(key)
        xb = x[jr.choice(key_batch, x.shape[0], (batch,), replace=False)]
        noise = jr.normal(key_noise, particles.shape)
        particles = particles + 0.5 * eps**2 * grad(particles, xb) + eps * noise
        return particles, particles.mean(0)

    start = theta1 + SIGMA * jr.normal(key, (num_particles, 2))
    _, means = jax.lax.scan(one, start, jr.split(jr.fold_in(key, 1), num_steps))
    means = np.asarray(means[burn:])
    batches = means[: len(means) // 50 * 50].reshape(50, -1, 2).mean(1)
    estimate = (means.mean(0) - THETA1) / SIGMA**2
    return estimate, batches.std(0, ddof=1) / np.sqrt(50) / SIGMA**2


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20000)
    args = parser.parse_args()
    exact = exact_grad_log_z()
    print(f"exact ∇log Z {np.round(exact, 4)}")
    print("| batch b of 64 | step (σ) | error of ∇log Z | SE | error / SE |")
    print("|---|---|---|---|---|")
    for batch in (64, 16, 4):
        for step in (0.05, 0.1):
            estimate, se = langevin_estimate(
                jr.key(0), batch, step, num_steps=args.steps
            )
            error = estimate - exact
            print(
                f"| {batch} | {step} | {np.round(error, 4)} | {np.round(se, 4)} | "
                f"{np.round(error / se, 1)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
