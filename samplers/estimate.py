r"""The traceable core of the $\log Z(\theta_1)$ estimators.

$$Z(\theta_1) = \mathbb E_{\theta' \sim \mathcal N(\theta_1, \sigma^2 I)}
  \big[e^{-U(\theta')}\big] \in (0, 1], \qquad U = \lambda C \ge 0,$$

the normalising constant of $p(\theta' \mid \theta_1) \propto
\mathcal N(\theta'; \theta_1, \sigma^2 I)\, e^{-U(\theta')}$. Its gradient comes
from the same weighted samples (:mod:`samplers.gradient`).

`estimate_log_z(key, potential, theta1, sigma, config)` is a pure function of arrays
(settings in a `LogZConfig`), so samplers call it inside `scan`, `vmap` and
`custom_vjp`; `samplers.log_partition` is the checked, user-facing façade over it.
"""

import math
from typing import NamedTuple

import jax.numpy as jnp
import jax.random as jr
from jax import Array
from jax.tree_util import Partial

from samplers import reference as reference_path
from samplers import rejection
from samplers.ais import global_log_weights, log_evidence
from samplers.annealing import AnnealingOutput, anneal
from samplers.base import PotentialFn, values_and_grads
from samplers.gradient import grad_log_partition_estimate, per_particle_gradients
from samplers.log_z_types import LogPartitionResult, LogZConfig
from samplers.programs import hashable, method_as_pytree
from samplers.standard_errors import island_z, log_z_se, weighted_mean_se

__all__ = [
    "estimate_log_z",
    "grad_log_partition_estimate",
    "rejection_run",
]


def _scaled(disagreement_fn, lam, theta):
    return lam * disagreement_fn(theta)


def potential(disagreement_fn, lam) -> Partial:
    """$U = \\lambda C$ as a pytree: compiled programs take λ and any arrays the
    function closes over as arguments, and cache on the function's identity.
    A method of a pytree (``model.disagreement`` of a ``TwoStageModel``) is
    kept as its owner, so that a model of the same shapes finds the programs
    of another."""
    disagreement_fn = method_as_pytree(disagreement_fn)
    if not isinstance(disagreement_fn, Partial):
        # jit keys its cache on the function: an unhashable callable (a bound
        # method of an unhashable object, say) is keyed by its identity.
        disagreement_fn = Partial(hashable(disagreement_fn))
    # λ as an array: a number would key the programs (samplers.programs).
    return Partial(_scaled, disagreement_fn, jnp.asarray(lam))


def _estimates(run, theta1, sigma, basis):
    num_particles = run.particles.shape[0]
    log_weights = run.log_z + math.log(num_particles) + run.log_weights
    # At most n: equal weights (an exact fitted path) give n plus rounding.
    ess = jnp.minimum(1.0 / jnp.sum(jnp.exp(2.0 * run.log_weights)), num_particles)
    # In the fitted basis's frame, where the target is closest to axis-aligned,
    # so that the control variate's per-coordinate coefficients fit it.
    estimates = grad_log_partition_estimate(
        reference_path.to_frame(run.particles, basis),
        run.log_weights,
        reference_path.to_frame(run.potential_grad, basis),
        reference_path.to_frame(theta1, basis),
        sigma,
    )
    grad, score, pathwise = (reference_path.from_frame(x, basis) for x in estimates)
    return log_weights, ess, grad, score, pathwise


def _drop_state(output: AnnealingOutput) -> AnnealingOutput:
    return output._replace(state=None)


def rejection_run(
    key: Array, potential: PotentialFn, theta1: Array, sigma, config: LogZConfig
) -> rejection.RejectionResult:
    """The exact rejection run of `estimate_log_z` from its key, capped at four times
    the budget a pilot checks (`config.max_rejection_draws`)."""
    return rejection.rejection_loop(
        jr.split(key, 4)[2],
        potential,
        theta1,
        sigma,
        num_samples=config.num_particles,
        batch_size=config.batch_size,
        max_draws=4 * config.max_rejection_draws,
    )


def _path(key, potential, theta1, sigma, config):
    """`((path_potential, base_mean, base_scale, offset), fitted, pilot)`: the
    paths start from the prior, or from a Gaussian fitted to a pilot run (then
    in its basis's frame); `offset` is log Z minus what the path estimates."""
    if config.reference == "prior" or (
        config.method == "rejection" and not config.upper
    ):
        return (potential, theta1, sigma, 0.0), None, None
    fitted, pilot = reference_path.fit_to_pilot(key, potential, theta1, sigma, config)
    path_potential = reference_path.potential(
        reference_path.in_frame(potential, fitted.basis),
        reference_path.to_frame(theta1, fitted.basis),
        sigma,
        fitted,
    )
    offset = reference_path.log_z_offset(sigma, fitted)
    return (
        (path_potential, fitted.mean, fitted.scale, offset),
        fitted,
        _drop_state(pilot),
    )


class _Particles(NamedTuple):
    """The particles at the end of the path and what they estimate."""

    particles: Array
    potential_grad: Array  # ∇U of the target's U (not the fitted path's)
    log_z: Array
    log_weights: Array  # normalised
    log_z_thermodynamic: Array
    num_temperatures: Array
    annealing: AnnealingOutput | None  # without its state
    log_z_se: Array
    grad_log_z_se: Array  # (d,)
    island_z: Array


def _forward(key_init, key_forward, path, theta1, sigma, fitted, config) -> _Particles:
    """Forward AIS from the path's base (in the fitted basis's frame, if any); the
    particles and gradients come back in θ's coordinates."""
    path_potential, base_mean, base_scale, offset = path
    basis = None if fitted is None else fitted.basis
    scale_row = jnp.broadcast_to(jnp.asarray(base_scale, theta1.dtype), theta1.shape)
    initial = base_mean[None, :] + scale_row[None, :] * jr.normal(
        key_init, (config.num_particles, theta1.shape[0]), theta1.dtype
    )
    output = anneal(
        key_forward,
        initial,
        path_potential,
        base_mean,
        base_scale,
        **config.anneal_kwargs(),
    )
    state = output.state
    particles, potential_grad = state.particles, state.potential_grad
    frame_theta1 = reference_path.to_frame(theta1, basis)
    if fitted is not None:
        potential_grad = reference_path.target_grad(
            particles, potential_grad, frame_theta1, sigma, fitted
        )
    log_weights = global_log_weights(state)
    gradients = per_particle_gradients(
        particles, log_weights, potential_grad, frame_theta1, sigma
    )
    return _Particles(
        reference_path.from_frame(particles, basis),
        reference_path.from_frame(potential_grad, basis),
        log_evidence(state) + offset,
        log_weights,
        output.log_z_thermodynamic + offset,
        output.num_temperatures,
        _drop_state(output),
        log_z_se(state),
        weighted_mean_se(state, reference_path.from_frame(gradients, basis)),
        island_z(state),
    )


def _exact_particles(exact, potential, num_particles, theta1, sigma):
    """The rejection run's exact draws as equally weighted particles."""
    dtype = exact.samples.dtype
    potential_grad = values_and_grads(potential, exact.samples)[1]
    log_weights = jnp.full((num_particles,), -math.log(num_particles), dtype)
    gradients = per_particle_gradients(
        exact.samples, log_weights, potential_grad, theta1, sigma
    )
    return _Particles(
        exact.samples,
        potential_grad,
        exact.log_z,
        log_weights,
        jnp.full((), jnp.nan, dtype),
        jnp.asarray(0),
        None,
        exact.log_z_stderr,
        # Independent draws: the SE of a mean.
        jnp.std(gradients, axis=0, ddof=1) / math.sqrt(num_particles),
        jnp.full((), jnp.nan, dtype),
    )


def _reverse(key, end_samples, path, basis, config):
    """Reverse AIS from exact draws: log Z's upper bound and the run's record."""
    path_potential, base_mean, base_scale, offset = path
    output = anneal(
        key,
        reference_path.to_frame(end_samples, basis),
        path_potential,
        base_mean,
        base_scale,
        reverse=True,
        **config.anneal_kwargs(),
    )
    # Reverse AIS estimates log(Z_0 / Z_1) = -log Z with an unbiased 1/Z-hat.
    return -log_evidence(output.state) + offset, _drop_state(output)


def estimate_log_z(
    key: Array,
    potential: PotentialFn,
    theta1: Array,
    sigma,
    config: LogZConfig,
    *,
    end_samples: Array | None = None,
    exact: rejection.RejectionResult | None = None,
) -> LogPartitionResult:
    r"""$\log Z(\theta_1)$ of the potential $U$, its gradient and diagnostics.

    Traceable (jit, vmap, scan) and unchecked: `samplers.log_partition` checks the
    arguments, chooses the method and makes the exact run before compiling this.

    Args:
        key: a typed key.
        potential: $U(\theta) = \lambda C(\theta) \ge 0$ of a flat `(d,)` vector.
        theta1: `(d,)`.
        sigma: the base scale $\sigma$.
        config: the settings, a `LogZConfig` (method `"ais"` or `"rejection"`).
        end_samples: `(n, d)` exact draws of $p(\theta'\mid\theta_1)$ for reverse
            AIS (with `config.upper`); default the rejection samples.
        exact: the `rejection_run` of these arguments, when made beforehand.

    Returns:
        A `LogPartitionResult`.

    Example:
        >>> import math
        >>> import jax, jax.numpy as jnp, jax.random as jr
        >>> import samplers
        >>> def disagreement(theta):  # U = λC with λ = 1
        ...     return 0.5 * jnp.sum(theta**2)
        >>> theta1 = jnp.array([1.0, 0.0])
        >>> # Closed form, σ = 1: log Z = −(d/2) log 2 − ‖θ₁‖²/4.
        >>> exact = -math.log(2.0) - 0.25
        >>> run = jax.jit(
        ...     lambda key, theta1: samplers.estimate_log_z(
        ...         key, disagreement, theta1, 1.0, samplers.LogZConfig()
        ...     )
        ... )
        >>> result = run(jr.key(1), theta1)
        >>> bool(abs(result.log_z - exact) < 0.1), result.grad_log_z.shape
        (True, (2,))
    """
    key_init, key_forward, _, key_reverse = jr.split(key, 4)
    dtype = theta1.dtype
    nan = jnp.full((), jnp.nan, dtype)
    if exact is None and (
        config.method == "rejection" or (config.upper and end_samples is None)
    ):
        exact = rejection_run(key, potential, theta1, sigma, config)
    if exact is not None and end_samples is None:
        end_samples = exact.samples

    path, fitted, pilot = _path(key, potential, theta1, sigma, config)
    basis = None if fitted is None else fitted.basis

    if config.method == "rejection":
        run = _exact_particles(exact, potential, config.num_particles, theta1, sigma)
    else:
        run = _forward(
            key_init,
            key_forward,
            path,
            theta1,
            sigma,
            fitted,
            config,
        )

    log_z_upper, backward = nan, None
    if config.upper:
        log_z_upper, backward = _reverse(
            key_reverse,
            jnp.asarray(end_samples, dtype),
            path,
            basis,
            config,
        )

    log_weights, ess, grad, score, pathwise = _estimates(run, theta1, sigma, basis)
    return LogPartitionResult(
        log_z=run.log_z,
        bits_saved=-run.log_z / math.log(2.0),
        ess=ess,
        log_weights=log_weights,
        particles=run.particles,
        grad_log_z=grad,
        grad_log_z_score=score,
        grad_log_z_pathwise=pathwise,
        log_z_upper=log_z_upper,
        log_z_thermodynamic=run.log_z_thermodynamic,
        log_weight_std=jnp.std(log_weights),
        log_z_se=run.log_z_se,
        bits_saved_se=run.log_z_se / math.log(2.0),
        grad_log_z_se=run.grad_log_z_se,
        island_z=run.island_z,
        num_temperatures=run.num_temperatures,
        annealing=run.annealing,
        reverse=backward,
        rejection=exact,
        pilot=pilot,
        reference=fitted,
    )
