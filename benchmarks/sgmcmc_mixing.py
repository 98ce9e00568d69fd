"""Why two-stage SGLD mixes slowly on a network: the curvature its chains see.

The world of ``sgmcmc_network.py`` (``--width 16``: 1,922 parameters), SGLD
from a MAP as ``sample`` starts it. Three measurements:

1. **The spectrum after warm-up.** One chain's adapted map T (the paired
   blocks, rescaled so that the stiffest direction has unit curvature) is
   frozen after ``--warmup`` steps; Lanczos (``--lanczos`` Hessian-vector
   products, fully reorthogonalised) gives the extreme eigenvalues of TᵀHT at
   the chain's last point, H the curvature of every term but −log Z. SGLD's
   step is set by the top one (1 by construction, at the window's end); a
   direction of curvature c relaxes in about 1/(ε·c) steps, ε = 0.1.
2. **Whose curvature the diagonal holds** (``--diagonal K``). At the MAP, the
   exact diagonal of H₂₂ (the θ₂ block of H, from one Hessian-vector product
   per coordinate) less the prior's 1/σ₂², against the same diagonal with the
   top K eigenpairs of that block taken out (Lanczos with Ritz vectors): if
   the few stiff directions make most of each coordinate's curvature, a
   preconditioner of the rest plus those directions would see the prior's
   directions that the diagonal hides.
3. **A dense map** (``--dense``). At the MAP, the exact θ₂ block of the
   curvature (one Hessian-vector product per coordinate), diagonalised, and
   the paired map of ``samplers.precondition`` built per eigendirection
   instead of per coordinate (non-convex directions at their |curvature|):
   the best a fixed linear preconditioner can know there. Then how far that
   quadratic picture holds (log-density change and gradient change along
   random unit directions of z, against the quadratic's), MALA's acceptance
   in those coordinates (``baseline="no_log_partition"``, whose θ₂ block is
   the two-stage one, so that the density is exact), and SGLD with the map.
4. **The drift of a long run.** ``sample(method="sgld")`` with
   ``--draws`` draws thinned by ``--thin``, all coordinates stored:
   ‖θ₁ − θ₀‖, ‖θ₂ − θ₁‖, C and L in ten blocks of draws per chain, and the
   bulk ESS and R-hat of C and L.

    python benchmarks/sgmcmc_mixing.py [--width 16] [--warmup 1000]
        [--lanczos 60] [--draws 1000] [--thin 8] [--skip-run]
        [--diagonal K] [--skip-spectrum] [--dense]
"""

import argparse
import time
from typing import NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import blackjax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
from sgmcmc_network import world  # noqa: E402

import samplers  # noqa: E402
from samplers import precondition, sgld, stochastic  # noqa: E402
from samplers.target import build_target  # noqa: E402


def _start(model):
    """The MAP that `sample` starts these chains from (its key and settings)."""
    return samplers.find_map(
        model,
        key=jr.fold_in(jr.key(2), 3),
        batch_size=64,
        log_partition_particles=0,
        progress=False,
    )


def spectrum(model, warmup, steps):
    target = build_target(model)
    sigma2 = float(model.sigma2)
    start = _start(model)
    chains, (step, _, _) = stochastic.setup(
        jr.key(5),
        target,
        model,
        jnp.asarray(start.theta1)[None],
        jnp.asarray(start.theta2)[None],
        sigma2,
        method="sgld",
        step_size=precondition.adapted_step("sgld"),
        batch_size=64,
        num_inner=16,
        num_inner_steps=2,
        num_integration_steps=10,
        adaptive=True,
        num_warmup=warmup,
    )

    @jax.jit
    def run(chains):
        def body(chains, index):
            keys = jr.split(jr.fold_in(jr.key(9), index), 1)
            return jax.vmap(step, (0, 0, None))(keys, chains, index)[0], None

        return jax.lax.scan(body, chains, jnp.arange(warmup))[0]

    started = time.perf_counter()
    chains = run(chains)
    print(f"warm-up of one chain: {time.perf_counter() - started:.1f} s")
    scale = jax.tree.map(lambda x: x[0], chains.preconditioner.scale)
    theta1, theta2 = chains.state.theta1[0], chains.state.theta2[0]
    for name, values in zip("abc", scale, strict=True):
        low, mid, high = np.percentile(np.abs(np.asarray(values)), [0, 50, 100])
        print(f"|{name}|: min {low:.3g}, median {mid:.3g}, max {high:.3g}")
    grad = jax.grad(lambda a, b: target.log_joint(a, b), argnums=(0, 1))
    dim = theta1.shape[0]

    @jax.jit
    def product(v):
        _, h = jax.jvp(grad, (theta1, theta2), scale.to_theta(v[:dim], v[dim:]))
        return -jnp.concatenate(scale.pull(*h))

    values = _lanczos(lambda v: np.asarray(product(jnp.asarray(v))), 2 * dim, steps)
    print("top Ritz values of TᵀHT:", " ".join(f"{x:.3g}" for x in values[:25]))
    print("bottom Ritz values:", " ".join(f"{x:.3g}" for x in values[-8:]))
    # The prior's direction: θ₁ and θ₂ of a coordinate moving together by δ,
    # where the likelihood is flat, takes z = (δ/a, δ(1 − b/a)/c): its
    # curvature per unit z is 1/(σ₁²(1/a² + (1 − b/a)²/c²)).
    a, b, c = (np.asarray(x) for x in scale)
    along = 1 / (float(model.sigma1) ** 2 * (1 / a**2 + (1 - b / a) ** 2 / c**2))
    print(
        f"median b/a {np.median(b / a):.3g} (1 where only the prior holds θ₂); "
        f"curvature along the prior's direction, median {np.median(along):.2g}: "
        f"about {1 / (0.1 * np.median(along)):.2g} steps to relax at ε = 0.1"
    )


def diagonal_split(model, top, steps):
    """The likelihood's and λC's curvature of each θ₂ coordinate at the MAP,
    with and without the block's ``top`` stiffest directions."""
    target = build_target(model)
    start = _start(model)
    theta1, theta2 = jnp.asarray(start.theta1), jnp.asarray(start.theta2)
    coupling = 1 / float(model.sigma2) ** 2
    grad2 = jax.grad(lambda b: target.log_joint(theta1, b))

    @jax.jit
    def product(v):
        # −H₂₂ v less the prior's coupling: the data's and λC's curvature.
        return -jax.jvp(grad2, (theta2,), (v,))[1] - coupling * v

    dim = theta2.shape[0]
    started = time.perf_counter()
    columns = jax.jit(lambda e: jax.lax.map(product, e, batch_size=64))
    diagonal = np.asarray(jnp.diagonal(columns(jnp.eye(dim, dtype=theta2.dtype))))
    values, vectors = _lanczos(
        lambda v: np.asarray(product(jnp.asarray(v))), dim, steps, vectors=True
    )
    print(f"diagonal and {steps} Lanczos steps: {time.perf_counter() - started:.1f} s")
    print(f"coupling 1/σ₂² = {coupling:.3g}; top eigenvalues of H₂₂ − 1/σ₂²:")
    print("  " + " ".join(f"{x:.3g}" for x in values[:top]))
    kept = diagonal - np.sum(values[:top] * vectors[:, :top] ** 2, axis=1)
    grad_l = jax.grad(lambda b: model.log_likelihood(b, None))
    likelihood_columns = jax.jit(
        lambda e: jax.lax.map(
            lambda v: -jax.jvp(grad_l, (theta2,), (v,))[1], e, batch_size=64
        )
    )
    likelihood = np.asarray(
        jnp.diagonal(likelihood_columns(jnp.eye(dim, dtype=theta2.dtype)))
    )
    rows = (
        ("diagonal", diagonal),
        ("  its likelihood part", likelihood),
        ("  its λC part", diagonal - likelihood),
        (f"less the top {top}", kept),
    )
    for name, d in rows:
        q = np.percentile(d, [10, 50, 90])
        above = np.mean(d > coupling)
        print(
            f"{name}: 10/50/90% {q[0]:.3g} / {q[1]:.3g} / {q[2]:.3g}; "
            f"sum {d.sum():.4g}; share of coordinates above 1/σ₂²: {above:.2f}"
        )


class _EigenScale(NamedTuple):
    """The paired map per eigendirection v of θ₂'s curvature:
    θ₁ = V(a·z₁), θ₂ = V(b·z₁ + c·z₂) (``PairedScale``'s interface)."""

    v: jax.Array
    a: jax.Array
    b: jax.Array
    c: jax.Array

    def to_theta(self, z1, z2):
        return self.v @ (self.a * z1), self.v @ (self.b * z1 + self.c * z2)

    def to_z(self, theta1, theta2):
        z1 = (self.v.T @ theta1) / self.a
        return z1, (self.v.T @ theta2 - self.b * z1) / self.c

    def pull(self, g1, g2):
        h2 = self.v.T @ g2
        return self.a * (self.v.T @ g1) + self.b * h2, self.c * h2


def dense_map(model):
    """The exact local curvature as a fixed map, and how far it holds."""
    target = build_target(model, baseline="no_log_partition")
    start = _start(model)
    theta1, theta2 = jnp.asarray(start.theta1), jnp.asarray(start.theta2)
    scale = _eigen_map(target, model, theta1, theta2)
    dim = theta1.shape[0]
    logdensity = jax.jit(lambda z: target.log_joint(*scale.to_theta(z[:dim], z[dim:])))
    z0 = jnp.concatenate(scale.to_z(theta1, theta2))
    _quadratic_probe(logdensity, z0)
    for step_size in (3e-2, 3e-3, 3e-4):
        acceptance = _mala_acceptance(logdensity, z0, step_size)
        print(f"MALA at ε = {step_size}, 500 steps: acceptance {acceptance:.3f}")
    _sgld_with_map(target, model, scale, theta1, theta2)


def _eigen_map(target, model, theta1, theta2):
    """H₂₂ at (θ₁, θ₂), one Hessian-vector product per coordinate, and the
    paired map per eigendirection (non-convex ones at |curvature|)."""
    sigma1, sigma2 = float(model.sigma1), float(model.sigma2)
    dim = theta1.shape[0]
    grad2 = jax.grad(lambda b: target.log_joint(theta1, b))
    columns = jax.jit(
        lambda e: jax.lax.map(
            lambda v: -jax.jvp(grad2, (theta2,), (v,))[1], e, batch_size=64
        )
    )
    block = np.asarray(columns(jnp.eye(dim, dtype=theta2.dtype)))
    values, vectors = np.linalg.eigh(0.5 * (block + block.T))
    q = np.percentile(values, [0, 1, 10, 50, 90, 99, 100])
    print(
        "eigenvalues of H₂₂ (coupling 1/σ₂² included), 0/1/10/50/90/99/100%: "
        + " ".join(f"{x:.3g}" for x in q)
        + f"; negative: {np.mean(values < 0):.2f}"
    )
    coupling = 1 / sigma2**2
    blocks = (
        jnp.full(dim, 1 / sigma1**2 + coupling),
        jnp.full(dim, -coupling),
        jnp.asarray(np.maximum(np.abs(values), coupling)),
    )
    return _EigenScale(jnp.asarray(vectors), *precondition._cholesky_of_inverse(blocks))


def _quadratic_probe(logdensity, z0):
    """log p and ∇log p along random unit directions of z, against the
    linear term: a quadratic would change by h²/2 times its curvature."""
    grad = jax.jit(jax.grad(logdensity))
    g0 = grad(z0)
    print("along random unit directions u of z (4 of them), at distance h:")
    for h in (0.01, 1.0, 2.0, 5.0):
        changes, slopes = [], []
        for k in range(4):
            u = jr.normal(jr.key(10 + k), z0.shape, z0.dtype)
            u = u / jnp.linalg.norm(u)
            changes.append(float(logdensity(z0 + h * u) - logdensity(z0) - h * g0 @ u))
            slopes.append(float(jnp.linalg.norm(grad(z0 + h * u) - g0)) / h)
        print(
            f"  h = {h}: log p change less the linear term "
            + " ".join(f"{x:.3g}" for x in changes)
            + "; |Δ∇log p|/h "
            + " ".join(f"{x:.3g}" for x in slopes)
        )


def _mala_acceptance(logdensity, z0, step_size, num_steps=500):
    mala = blackjax.mala(logdensity, step_size)

    @jax.jit
    def run(key):
        def body(state, k):
            state, info = mala.step(k, state)
            return state, info.acceptance_rate

        return jax.lax.scan(body, mala.init(z0), jr.split(key, num_steps))[1]

    return float(run(jr.key(1)).mean())


def _sgld_with_map(target, model, scale, theta1, theta2, num_steps=4000):
    """The package's SGLD step in the map's coordinates at ε = 0.03."""
    kernel = sgld.build_kernel(
        target.log_joint,
        target.potential,
        float(model.sigma2),
        num_data=int(model.num_answers),
        batch_size=64,
        step_size=0.03,
        include_log_partition=False,
    )
    state = sgld.init(
        jr.key(4), theta1, theta2, target.potential, float(model.sigma2), 1
    )

    @jax.jit
    def run(state):
        def body(state, index):
            state, _ = kernel(jr.fold_in(jr.key(7), index), state, index, scale)
            record = (
                model.disagreement(state.theta2),
                model.log_likelihood(state.theta2, None),
            )
            return state, record

        return jax.lax.scan(body, state, jnp.arange(num_steps))[1]

    c, ll = (np.asarray(x) for x in run(state))
    print(
        f"SGLD at ε = 0.03 with the map, {num_steps} steps, means of 8 blocks: C "
        + " ".join(f"{b.mean():.3g}" for b in np.array_split(c, 8))
        + "; L "
        + " ".join(f"{b.mean():.0f}" for b in np.array_split(ll, 8))
        + f"; at the start C {float(model.disagreement(theta2)):.3g}, "
        f"L {float(model.log_likelihood(theta2, None)):.0f}; "
        f"uniform answers give L = {-model.num_answers * np.log(9):.0f}"
    )


def _lanczos(product, size, steps, vectors=False):
    """Ritz values (descending) after ``steps`` Lanczos steps, reorthogonalised;
    with ``vectors``, also the Ritz vectors as columns, in the same order."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=size)
    basis = [start / np.linalg.norm(start)]
    alpha, beta = [], []
    for _ in range(steps):
        w = product(basis[-1])
        alpha.append(w @ basis[-1])
        for _ in range(2):
            for q in basis:
                w = w - (w @ q) * q
        beta.append(np.linalg.norm(w))
        basis.append(w / beta[-1])
    tridiagonal = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
    values, rotation = np.linalg.eigh(tridiagonal)
    order = np.argsort(values)[::-1]
    if not vectors:
        return values[order]
    return values[order], np.stack(basis[:steps], axis=1) @ rotation[:, order]


def long_run(model, warmup, draws, thin):
    started = time.perf_counter()
    tree = samplers.sample(
        model,
        key=jr.key(2),
        method="sgld",
        num_warmup=warmup,
        num_samples=draws,
        thin=thin,
        num_chains=2,
        batch_size=64,
        max_full_params=model.num_params,
        progress=False,
    )
    print(
        f"sample(sgld, {warmup} warm-up, {draws} draws × thin {thin}, 2 chains): "
        f"{time.perf_counter() - started:.1f} s"
    )
    theta1 = np.asarray(tree.posterior["theta1"])
    theta2 = np.asarray(tree.posterior["theta2"])
    series = {
        "|θ₁ − θ₀|": np.linalg.norm(theta1 - np.asarray(model.theta0), axis=-1),
        "|θ₂ − θ₁|": np.linalg.norm(theta2 - theta1, axis=-1),
        "C": np.asarray(tree.posterior["disagreement"]),
        "L": np.asarray(tree.posterior["log_likelihood_total"]),
    }
    print("block means (ten blocks of draws), per chain:")
    for name, values in series.items():
        for chain in range(values.shape[0]):
            blocks = np.array_split(values[chain], 10)
            print(
                f"  {name} chain {chain}: "
                + " ".join(f"{b.mean():.2f}" for b in blocks)
            )
    for name in ("disagreement", "log_likelihood_total"):
        ess = float(az.ess(tree, var_names=[name], method="bulk")[name])
        rhat = float(az.rhat(tree, var_names=[name])[name])
        print(f"{name}: bulk ESS {ess:.0f}, R-hat {rhat:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--lanczos", type=int, default=60)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--thin", type=int, default=8)
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--skip-spectrum", action="store_true")
    parser.add_argument("--diagonal", type=int, default=0, metavar="K")
    parser.add_argument("--dense", action="store_true")
    args = parser.parse_args()
    model, _, _ = world(jr.key(0), width=args.width, depth=2)
    print(f"{model.num_params} parameters, width {args.width}")
    if args.diagonal:
        diagonal_split(model, args.diagonal, max(args.lanczos, 2 * args.diagonal))
    if args.dense:
        dense_map(model)
    if not args.skip_spectrum:
        spectrum(model, args.warmup, args.lanczos)
    if not args.skip_run:
        long_run(model, args.warmup, args.draws, args.thin)


if __name__ == "__main__":
    main()
