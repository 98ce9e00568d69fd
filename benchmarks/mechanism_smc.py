"""Mode masses by tempered SMC from the two-stage prior (issue "The mechanism,
exactly", item 4), against the exact mechanism case.

κ = 25, σ₁ = 0.4, σ₂ = 0.1, two-stage: θ₂ is trimodal in its answer on E
(honest 0.362, imitating 0.305, mirror 0.330), and every MCMC chain of
`sample` keeps to the mode it starts in (docs/benchmarks.md). The route here
never evaluates Z(θ₁):

1. Exact draws of θ₁ from its prior N(θ₀, σ₁²). For each, θ₂ | θ₁ ∝
   N(θ₁, σ₂²) e^{−λC} by the package's AIS (`samplers.annealing.anneal`, M
   particles from N(θ₁, σ₂²)), one particle picked by its weight. The pairs are
   draws of the two-stage prior p(θ₁) p(θ₂ | θ₁): Z(θ₁) normalises the
   conditional each pair is drawn from, so it appears nowhere. The only
   approximation is this pick (its bias shrinks as 1/M).
2. blackjax's adaptive tempered SMC from there to the posterior, on L(θ₂)^β:
   the weights need only L, and the move (HMC on θ₂ with θ₁ held) leaves each
   tempered target invariant without Z, because it samples θ₂'s conditional.
   θ₁ never moves except by resampling, so its diversity is the cost: the
   error falls as the particles grow, and this method suits small θ₁.

Each configuration runs on several keys; the table gives P(honest)'s mean
error, the standard error of that mean (replicate sd / √R), the replicate sd
(the error of one run), the largest error, and the seconds per run after the
first (compiling).

    python benchmarks/mechanism_smc.py [--particles 4096 16384 65536]
        [--inner 8] [--keys 0 1 2 3 4 5] [--baseline single_head]
"""

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import blackjax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
from blackjax.smc import resampling  # noqa: E402

import posterior  # noqa: E402
from posterior.mechanism import is_honest, is_imitating  # noqa: E402
from samplers.annealing import anneal  # noqa: E402
from samplers.target import build_target  # noqa: E402

STEP_SIZE = 0.01  # θ₂'s HMC step: C's stiffest scale here is 1/√(λ/2) ≈ 0.03
NUM_LEAPFROG = 10
NUM_MOVES = 10  # HMC moves per tempering step
TARGET_ESS = 0.5


def prior_pairs(key, model, target, num_particles, num_inner):
    """(θ₁, θ₂) draws of the two-stage prior; θ₂ | θ₁ picked from AIS."""
    theta0 = jnp.asarray(model.theta0)
    sigma1, sigma2 = float(model.sigma1), float(model.sigma2)
    key_theta1, key_start, key_ais, key_pick = jr.split(key, 4)
    theta1 = theta0 + sigma1 * jr.normal(key_theta1, (num_particles, theta0.size))
    start = theta1[:, None] + sigma2 * jr.normal(
        key_start, (num_particles, num_inner, theta0.size)
    )

    def conditional(key, theta1, start):
        state = anneal(key, start, target.potential, theta1, sigma2, move="hmc").state
        return state.particles, state.log_weights

    particles, log_weights = jax.vmap(conditional)(
        jr.split(key_ais, num_particles), theta1, start
    )
    picks = jax.vmap(jr.categorical)(jr.split(key_pick, num_particles), log_weights)
    return theta1, particles[jnp.arange(num_particles), picks]


def theta2_move(key, state, logdensity_fn, step_size, num_integration_steps):
    """One HMC move of θ₂ with θ₁ held: invariant for θ₂'s conditional, whose
    normaliser (Z(θ₁) among it) never enters."""
    theta1, theta2 = state.position

    def conditional(theta2):
        return logdensity_fn((theta1, theta2))

    kernel = blackjax.hmc.build_kernel()
    moved, info = kernel(
        key,
        blackjax.hmc.init(theta2, conditional),
        conditional,
        step_size,
        jnp.ones_like(theta2),
        num_integration_steps,
    )
    return blackjax.hmc.init((theta1, moved.position), logdensity_fn), info


def build_run(model, num_particles, num_inner, baseline=None):
    target = build_target(model, baseline=baseline)
    sigma2 = float(model.sigma2)

    def log_prior(position):
        # Up to terms of θ₁ alone (its prior and −log Z(θ₁)): the move holds θ₁.
        theta1, theta2 = position
        gap = jnp.sum((theta2 - theta1) ** 2) / (2 * sigma2**2)
        return -gap - target.potential(theta2)

    def log_likelihood(position):
        return model.log_likelihood(position[1], None)

    smc = blackjax.adaptive_tempered_smc(
        log_prior,
        log_likelihood,
        theta2_move,
        blackjax.hmc.init,
        {
            "step_size": jnp.full((1,), STEP_SIZE),
            "num_integration_steps": jnp.full((1,), NUM_LEAPFROG, jnp.int32),
        },
        resampling.systematic,
        TARGET_ESS,
        num_mcmc_steps=NUM_MOVES,
    )

    @jax.jit
    def run(key):
        key_prior, key_smc = jr.split(key)
        pairs = prior_pairs(key_prior, model, target, num_particles, num_inner)

        def unfinished(carry):
            return carry[0].tempering_param < 1

        def tempering_step(carry):
            state, index, acceptance = carry
            state, info = smc.step(jr.fold_in(key_smc, index), state)
            return (
                state,
                index + 1,
                acceptance + info.update_info.acceptance_rate.mean(),
            )

        state, num_steps, acceptance = jax.lax.while_loop(
            unfinished, tempering_step, (smc.init(pairs), 0, 0.0)
        )
        theta1, theta2 = state.particles
        weights = state.weights
        distinct = jnp.unique(theta1[:, 0], size=num_particles, fill_value=jnp.nan)
        return {
            "p_honest": jnp.sum(weights * is_honest(theta2.T)),
            "p_imitate": jnp.sum(weights * is_imitating(theta2.T)),
            "num_steps": num_steps,
            "acceptance": acceptance / num_steps,
            "distinct_theta1": jnp.sum(jnp.isfinite(distinct)),
        }

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--inner", type=int, nargs="+", default=[8])
    parser.add_argument("--keys", type=int, nargs="+", default=list(range(6)))
    parser.add_argument(
        "--baseline",
        choices=["single_head"],
        help="a control: λ = 0, where step 1 is exact",
    )
    args = parser.parse_args()
    case = posterior.MechanismCase(25.0, 0.4, 0.1)
    exact = case.p_honest(args.baseline)
    exact_imitate = case.p_imitate(args.baseline)
    print(f"exact P(honest) {exact:.3f}, P(imitate) {exact_imitate:.3f}")
    print(
        "| particles | M | keys | mean error | SE of mean | sd (one run) "
        "| largest error | P(imitate) error | tempering steps | acceptance "
        "| distinct θ₁ | s per run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for num_particles in args.particles:
        for num_inner in args.inner:
            run = build_run(case.model, num_particles, num_inner, args.baseline)
            jax.block_until_ready(run(jr.key(args.keys[0])))  # compile
            rows, seconds = [], []
            for seed in args.keys:
                started = time.perf_counter()
                out = jax.device_get(run(jr.key(seed)))
                seconds.append(time.perf_counter() - started)
                rows.append(out)
            errors = np.array([row["p_honest"] for row in rows]) - exact
            imitate = np.array([row["p_imitate"] for row in rows]) - exact_imitate
            sd = errors.std(ddof=1)
            print(
                f"| {num_particles} | {num_inner} | {len(rows)} "
                f"| {errors.mean():+.3f} | {sd / np.sqrt(len(rows)):.3f} | {sd:.3f} "
                f"| {errors[np.argmax(np.abs(errors))]:+.3f} | {imitate.mean():+.3f} "
                f"| {np.mean([r['num_steps'] for r in rows]):.1f} "
                f"| {np.mean([r['acceptance'] for r in rows]):.2f} "
                f"| {np.mean([r['distinct_theta1'] for r in rows]):.0f} "
                f"| {np.median(seconds):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
