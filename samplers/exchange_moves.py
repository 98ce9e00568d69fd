r"""The θ₁ moves of the exact Gibbs sweep (:mod:`samplers.exchange`), each
accepted by the exchange algorithm: a Crank–Nicolson proposal of θ₁, and a
joint move of (θ₁, θ₂), a random translation or an HMC trajectory
(:mod:`samplers.bridging`)."""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from samplers.bridging import bridged_log_ratio, trajectory
from samplers.rejection import rejection_loop
from samplers.surrogate import Surrogate


class Sweep(NamedTuple):
    """The fixed parts of a Gibbs sweep (see :func:`samplers.exchange.build_kernel`)."""

    log_joint_fn: Callable[[Array, Array], Array]
    potential_fn: Callable[[Array], Array]
    theta0: Array
    sigma1: float
    sigma2: float
    tau: float
    algorithm: str
    num_integration_steps: int
    rejection_batch_size: int
    max_rejection_draws: int
    include_log_partition: bool
    joint_steps: int
    num_bridges: int


def exchange_log_ratio(sweep, key, theta1, proposal):
    """log N(w; θ₁, σ₂²) − log N(w; θ₁*, σ₂²) for an exact w ~ p(·|θ₁*), or
    its bridged version (``sweep.num_bridges``): the log of the exchange
    algorithm's unbiased stand-in for Z(θ₁)/Z(θ₁*); also the proposals the
    draw took, whether it was found, and w."""
    if not sweep.include_log_partition:
        nan = jnp.full_like(proposal, jnp.nan)
        return jnp.zeros((), theta1.dtype), jnp.asarray(0), jnp.asarray(True), nan
    batch_size = min(sweep.rejection_batch_size, sweep.max_rejection_draws)
    auxiliary = rejection_loop(
        key,
        sweep.potential_fn,
        proposal,
        sweep.sigma2,
        num_samples=1,
        batch_size=batch_size,
        max_draws=sweep.max_rejection_draws,
    )
    w = auxiliary.samples[0]
    found = auxiliary.num_accepted > 0
    # A miss counts no proposal to an acceptance; its cost is every batch.
    spent = -(-sweep.max_rejection_draws // batch_size) * batch_size
    if sweep.num_bridges:
        log_ratio = bridged_log_ratio(
            jr.fold_in(key, 1),
            sweep.potential_fn,
            jnp.where(found, w, proposal),
            proposal,
            theta1,
            sweep.sigma2,
            sweep.num_bridges,
        )
    else:
        log_ratio = (jnp.sum((w - proposal) ** 2) - jnp.sum((w - theta1) ** 2)) / (
            2 * sweep.sigma2**2
        )
    return (
        jnp.where(found, log_ratio, -jnp.inf),
        jnp.where(found, auxiliary.num_draws, spent),
        found,
        jnp.where(found, w, jnp.nan),
    )


def accept(key, log_ratio, proposal, current):
    accepted = jnp.log(jr.uniform(key, dtype=log_ratio.dtype)) < log_ratio
    new = jax.tree.map(lambda p, c: jnp.where(accepted, p, c), proposal, current)
    return new, accepted, jnp.exp(jnp.minimum(log_ratio, 0.0))


def move_theta1(sweep, key, theta1, theta2, rho, surrogate):
    key_proposal, key_auxiliary, key_accept = jr.split(key, 3)
    tau, sigma1, sigma2 = sweep.tau, sweep.sigma1, sweep.sigma2
    mean = tau**2 * (sweep.theta0 / sigma1**2 + theta2 / sigma2**2)
    # g ∝ q·exp(-S): a diagonal Gaussian. Its precision is kept at least
    # 1/σ₁², the least the exact θ₁ | θ₂ can have (∇²log Z ≥ -I/σ₂²).
    precision = jnp.maximum(tau**-2 + surrogate.curvature, sigma1**-2)
    center = (
        mean / tau**2 - surrogate.gradient + (precision - tau**-2) * surrogate.center
    ) / precision
    noise = jr.normal(key_proposal, theta1.shape, theta1.dtype)
    proposal = (
        center
        + rho * (theta1 - center)
        + jnp.sqrt(1 - rho**2) * noise / jnp.sqrt(precision)
    )

    def log_q_over_g(theta):
        return 0.5 * jnp.sum(
            precision * (theta - center) ** 2 - (theta - mean) ** 2 / tau**2
        )

    log_ratio, draws, found, w = exchange_log_ratio(
        sweep, key_auxiliary, theta1, proposal
    )
    log_ratio = log_ratio + log_q_over_g(proposal) - log_q_over_g(theta1)
    new, accepted, probability = accept(key_accept, log_ratio, proposal, theta1)
    return new, accepted, probability, draws, found, proposal, w


def exchange_theta1(
    sweep, key_theta1, key_joint, theta1, theta2, rho, joint_scale, surrogate
):
    """The sweep's exchange moves: θ₁ by Crank–Nicolson, then (θ₁, θ₂) by a
    translation or, with ``sweep.joint_steps``, an HMC trajectory. Returns
    θ₁, θ₂, the θ₁ move's acceptance and probability, its auxiliary's cost,
    whether every auxiliary that mattered was found, the joint move's
    acceptance and probability, the θ₁ proposal and its auxiliary, and NaN
    for the nested log Ẑ's SE (the order of
    :class:`samplers.exchange.ExchangeInfo`). Without a ``surrogate``, S = 0."""
    surrogate = or_zero(surrogate, theta1)
    theta1, accepted, probability, draws, found, proposal, auxiliary = move_theta1(
        sweep, key_theta1, theta1, theta2, rho, surrogate
    )
    joint = translate if sweep.joint_steps == 0 else joint_trajectory
    (theta1, theta2), joint_accepted, joint_probability, joint_found = joint(
        sweep, key_joint, theta1, theta2, joint_scale, surrogate
    )
    # Either move's missed auxiliary rejects it, and biases θ₁.
    return (
        theta1,
        theta2,
        accepted,
        probability,
        draws,
        found & joint_found,
        joint_accepted,
        joint_probability,
        proposal,
        auxiliary,
        jnp.full((), jnp.nan, probability.dtype),
    )


def translate(sweep, key, theta1, theta2, scale, surrogate):
    # θ₁ and θ₂ shift together, along the ridge of their strong coupling
    # (‖θ₂ − θ₁‖ is unchanged); Gibbs updates alone crawl along it.
    key_proposal, key_stages = jr.split(key)
    shift = scale * sweep.tau * jr.normal(key_proposal, theta1.shape, theta1.dtype)
    proposal = (theta1 + shift, theta2 + shift)
    known = (
        sweep.log_joint_fn(*proposal)
        - sweep.log_joint_fn(theta1, theta2)
        - _log_surrogate(surrogate, proposal[0])
        + _log_surrogate(surrogate, theta1)
    )
    return _two_stages(sweep, key_stages, theta1, theta2, proposal, known, surrogate)


def joint_trajectory(sweep, key, theta1, theta2, scale, surrogate, log_z_ratio=None):
    # An HMC trajectory on (θ₁, θ₂) follows the ridge where a translation
    # cannot bend; S ≈ log Z steers it. `log_z_ratio` replaces the exchange
    # estimate in the second stage (the nested-AIS sweep's).
    key_trajectory, key_stages = jr.split(key)
    dim = theta1.shape[0]

    def logdensity(x):
        return sweep.log_joint_fn(x[:dim], x[dim:]) - _log_surrogate(surrogate, x[:dim])

    end, known = trajectory(
        key_trajectory,
        logdensity,
        jnp.concatenate([theta1, theta2]),
        scale * sweep.tau,
        sweep.joint_steps,
    )
    proposal = (end[:dim], end[dim:])
    return _two_stages(
        sweep, key_stages, theta1, theta2, proposal, known, surrogate, log_z_ratio
    )


def or_zero(surrogate, theta):
    """``surrogate``, or S = 0 where it is None."""
    if surrogate is not None:
        return surrogate
    zeros = jnp.zeros_like(theta)
    return Surrogate(zeros, zeros, zeros)


def _log_surrogate(surrogate, theta):
    offset = theta - surrogate.center
    return jnp.sum(surrogate.gradient * offset + 0.5 * surrogate.curvature * offset**2)


def _two_stages(
    sweep, key, theta1, theta2, proposal, known, surrogate, log_z_ratio=None
):
    """Delayed acceptance (Christen & Fox 2005) of a joint move: first by
    ``known``, its log ratio under the log joint less S ≈ log Z, then by the
    exchange estimate of log Z(θ₁) − log Z(θ₁') (or ``log_z_ratio(key, θ₁,
    θ₁') -> (log ratio, found)``) less S's change. No auxiliary is drawn for
    a proposal the first stage rejects (one far out can cost max_draws
    proposals), so a miss is rare and is counted."""
    key_auxiliary, key_first, key_second = jr.split(key, 3)
    first = jnp.log(jr.uniform(key_first, dtype=known.dtype)) < known
    # Where the first stage rejects, the auxiliary is drawn at θ₁ (as cheap as
    # any draw there) and unused: under vmap both sides of a branch would run.
    point = jnp.where(first, proposal[0], theta1)
    if log_z_ratio is None:
        log_ratio, _, found, _ = exchange_log_ratio(sweep, key_auxiliary, theta1, point)
    else:
        log_ratio, found = log_z_ratio(key_auxiliary, theta1, point)
    second = (
        log_ratio + _log_surrogate(surrogate, point) - _log_surrogate(surrogate, theta1)
    )
    accepted = first & (jnp.log(jr.uniform(key_second, dtype=second.dtype)) < second)
    new = jax.tree.map(
        lambda p, c: jnp.where(accepted, p, c), proposal, (theta1, theta2)
    )
    # The realised acceptance, unbiased for its probability, drives the
    # warm-up's step size. A miss matters (it rejects the move) only where the
    # first stage accepted.
    return new, accepted, accepted.astype(known.dtype), found | ~first
