r"""The user-facing estimator of $\log Z(\theta_1)$ and its gradient.

$$Z(\theta_1) = \mathbb E_{\theta' \sim \mathcal N(\theta_1, \sigma^2 I)}
  \big[e^{-\lambda C(\theta')}\big] \in (0, 1],$$

the normalising constant of $p(\theta' \mid \theta_1) \propto
\mathcal N(\theta'; \theta_1, \sigma^2 I)\, e^{-\lambda C(\theta')}$. Two identities give
its gradient from samples of $p(\cdot \mid \theta_1)$:

$$\nabla \log Z = \mathbb E\big[(\theta' - \theta_1)/\sigma^2\big]
  = -\lambda\, \mathbb E\big[\nabla C(\theta')\big].$$

Their difference $(\theta'-\theta_1)/\sigma^2 + \lambda\nabla C(\theta') =
-\nabla \log p(\theta'\mid\theta_1)$ has mean zero (Stein's identity), so it is a control
variate: per coordinate $j$ we report $\bar g_{1j} - c_j \bar D_j$, with
$g_1 = (\theta'-\theta_1)/\sigma^2$, $D = g_1 - g_2$, $g_2 = -\lambda \nabla C$ and
$c_j = \mathrm{Cov}(g_{1j}, D_j)/\mathrm{Var}(D_j)$ from the weighted particles. It is the
best per-coordinate mix $(1-c_j) g_{1j} + c_j g_{2j}$ of the two estimates; when $C$ is
quadratic with axis-aligned curvature it has zero variance. Both plain estimates are
returned too.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array
from jax.scipy.special import logsumexp
from jax.tree_util import Partial

from samplers import ais, rejection
from samplers import reference as reference_path
from samplers._checks import count, flat_vector, positive, scalar_function
from samplers.base import values_and_grads
from samplers.moves import MOVES

__all__ = ["LogPartitionResult", "log_partition", "grad_log_partition_estimate"]

_METHODS = ("auto", "ais", "rejection")
_REFERENCES = ("prior", "fitted")
# Fewest pilot particles by default: with two islands of two the adaptive pilot takes
# a few huge steps and its cloud collapses onto one particle (seen at d = 100), which
# leaves the fit nothing to go on.
_MIN_PILOT = 16
# Pilot size of method="auto" and of the rejection budget check: with 1024 draws a
# Z of 1% is seen about 10 times, enough to predict the cost within a factor ~1.5.
_NUM_PILOT = 1024


class LogPartitionResult(NamedTuple):
    """What `log_partition` returns (every field an array, so results vmap).

    Attributes:
        log_z: estimate of $\\log Z(\\theta_1)$ in nats (a lower bound in expectation
            for AIS).
        bits_saved: $-\\log_2 \\hat Z$.
        ess: effective sample size $1/\\sum_i W_i^2$ of the final weights.
        log_weights: `(n,)` final log-weights, `logmeanexp(log_weights) == log_z`.
        particles: `(n, d)` final weighted particles, approximately from
            $p(\\theta'\\mid\\theta_1)$ (exact for rejection).
        grad_log_z: `(d,)` control-variate estimate of $\\nabla_{\\theta_1}\\log Z$.
        grad_log_z_score: `(d,)` $\\mathbb E_W[(\\theta'-\\theta_1)]/\\sigma^2$.
        grad_log_z_pathwise: `(d,)` $-\\lambda\\,\\mathbb E_W[\\nabla C(\\theta')]$.
        log_z_upper: reverse-AIS upper bound (in expectation); NaN unless asked.
        log_z_thermodynamic: thermodynamic-integration estimate along the same
            path; NaN for rejection.
        log_weight_std: standard deviation of `log_weights`.
        num_temperatures: temperatures of the forward path (0 for rejection).
        annealing: forward `ais.AnnealingOutput` (its `state` dropped), or None.
        reverse: reverse `ais.AnnealingOutput` (its `state` dropped), or None.
        rejection: `rejection.RejectionResult` of the exact sampler, or None.
        pilot: the pilot's `ais.AnnealingOutput` (its `state` dropped) when
            `reference="fitted"`, else None.
        reference: the fitted `reference.Reference` the paths started from when
            `reference="fitted"`, else None.
    """

    log_z: Array
    bits_saved: Array
    ess: Array
    log_weights: Array
    particles: Array
    grad_log_z: Array
    grad_log_z_score: Array
    grad_log_z_pathwise: Array
    log_z_upper: Array
    log_z_thermodynamic: Array
    log_weight_std: Array
    num_temperatures: Array
    annealing: ais.AnnealingOutput | None
    reverse: ais.AnnealingOutput | None
    rejection: rejection.RejectionResult | None
    pilot: ais.AnnealingOutput | None
    reference: reference_path.Reference | None


def grad_log_partition_estimate(
    particles: Array, log_weights: Array, potential_grad: Array, theta1: Array, sigma
) -> tuple[Array, Array, Array]:
    """Control-variate, score and pathwise estimates of $\\nabla\\log Z$.

    Args:
        particles: `(n, d)` weighted samples of $p(\\theta'|\\theta_1)$.
        log_weights: `(n,)` log-weights (any normalisation).
        potential_grad: `(n, d)` $\\nabla(\\lambda C)$ at the particles.
        theta1: `(d,)`.
        sigma: base standard deviation.

    Returns:
        `(combined, score, pathwise)`, each `(d,)`.
    """
    weights = jnp.exp(log_weights - logsumexp(log_weights))
    score = (particles - theta1[None, :]) / sigma**2
    pathwise = -potential_grad
    difference = score - pathwise
    mean_score = weights @ score
    mean_pathwise = weights @ pathwise
    mean_difference = mean_score - mean_pathwise
    centred_score = score - mean_score[None, :]
    centred_difference = difference - mean_difference[None, :]
    covariance = weights @ (centred_score * centred_difference)
    variance = weights @ jnp.square(centred_difference)
    # A coordinate where D does not vary carries no control-variate information.
    coefficient = jnp.where(
        variance > 0, covariance / jnp.where(variance > 0, variance, 1), 0
    )
    return mean_score - coefficient * mean_difference, mean_score, mean_pathwise


class _ByIdentity:
    """A callable that hashes and compares by identity."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)

    __hash__ = object.__hash__
    __eq__ = object.__eq__


def _check_arguments(
    disagreement_fn, theta1, lam, sigma, key, num_particles, method, move
):
    theta1 = flat_vector(theta1, "theta1")
    scalar_function(disagreement_fn, theta1, "disagreement_fn")
    lam = positive(lam, "lam")
    sigma = positive(sigma, "sigma")
    if not (
        hasattr(key, "dtype")
        and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        and key.shape == ()
    ):
        raise TypeError(
            f"`key` must be a single typed PRNG key from jax.random.key, got {key!r}."
        )
    num_particles = count(num_particles, "num_particles")
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}, got {method!r}.")
    if move not in MOVES:
        raise ValueError(f"`move` must be one of {MOVES}, got {move!r}.")
    return theta1, lam, sigma, num_particles


def _check_schedule(schedule):
    if schedule is None:
        return None
    array = np.asarray(schedule, dtype=float)
    if array.ndim != 1 or array.size < 1:
        raise ValueError("`schedule` must be a 1-D array of inverse temperatures.")
    if not (np.all(np.diff(array) > 0) and array[0] > 0 and array[-1] == 1.0):
        raise ValueError(
            "`schedule` must increase strictly within (0, 1] and end at 1 "
            f"(0 is implicit), got {array}."
        )
    return array


def _check_step_sizes(step_sizes, schedule):
    if step_sizes is None:
        return None
    if schedule is None:
        raise ValueError(
            "`step_sizes` applies only with a fixed `schedule` (one per temperature)."
        )
    array = np.asarray(step_sizes, dtype=float)
    if array.shape != schedule.shape:
        raise ValueError(
            f"`step_sizes` must have the shape of `schedule`, {schedule.shape}, "
            f"got {array.shape}."
        )
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"`step_sizes` must be finite and positive, got {array}.")
    return array


def _check_end_samples(end_samples, dim: int) -> None:
    shape = jnp.shape(end_samples)
    if len(shape) != 2 or shape[1] != dim or shape[0] < 1:
        raise ValueError(f"`end_samples` must have shape (n, {dim}), got {shape}.")
    dtype = jnp.result_type(end_samples)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"`end_samples` must have a floating dtype, got {dtype}.")
    if isinstance(end_samples, jax.core.Tracer):
        return
    finite = np.isfinite(np.asarray(end_samples))
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            f"`end_samples` has NaN or infinite entries in {rows.size} of its "
            f"{shape[0]} rows (first: {rows[:5].tolist()}); reverse AIS needs "
            "exact, finite samples of p(theta' | theta1)."
        )


def _estimates(particles, log_weights_normalised, log_z, potential_grad, theta1, sigma):
    num_particles = particles.shape[0]
    log_weights = log_z + math.log(num_particles) + log_weights_normalised
    ess = 1.0 / jnp.sum(jnp.exp(2.0 * log_weights_normalised))
    grad, score, pathwise = grad_log_partition_estimate(
        particles, log_weights_normalised, potential_grad, theta1, sigma
    )
    return log_weights, ess, grad, score, pathwise


def _drop_state(output: ais.AnnealingOutput) -> ais.AnnealingOutput:
    return output._replace(state=None)


def _run(
    disagreement_fn,
    theta1,
    lam,
    sigma,
    key,
    end_samples,
    exact,
    *,
    method,
    num_particles,
    schedule,
    step_sizes,
    target_ess,
    max_num_temperatures,
    upper,
    batch_size,
    max_rejection_draws,
    kernel_kwargs,
    reference,
    pilot_particles,
):
    """Everything after the checks; traceable (jit/vmap) for method='ais'.

    `exact` is the rejection run when `log_partition` made it before compiling
    this (concrete arguments), else None and it is made here if needed.
    """

    def potential_fn(theta):
        return lam * disagreement_fn(theta)

    # `_key_exact` gives the same key_exact to a run made before compiling this.
    key_init, key_forward, key_exact, key_reverse = jr.split(key, 4)
    dtype = theta1.dtype
    anneal_kwargs = dict(
        schedule=schedule,
        step_sizes=step_sizes,
        target_ess=target_ess,
        max_num_temperatures=max_num_temperatures,
        **dict(kernel_kwargs),
    )
    annealing = reverse = None
    nan = jnp.full((), jnp.nan, dtype)
    log_z_thermodynamic = nan
    num_temperatures = jnp.asarray(0)

    if exact is None and (method == "rejection" or (upper and end_samples is None)):
        # Traced arguments: the run happens here, unchecked (see `log_partition`).
        exact = _rejection(
            disagreement_fn,
            theta1,
            lam,
            sigma,
            key_exact,
            num_particles=num_particles,
            batch_size=batch_size,
            max_rejection_draws=max_rejection_draws,
        )
    if exact is not None and end_samples is None:
        end_samples = exact.samples

    # The paths start from the prior, or from a Gaussian fitted to a pilot run (see
    # `samplers.reference`); `offset` is log Z minus what the path estimates.
    path_potential, base_mean, base_scale, offset = potential_fn, theta1, sigma, 0.0
    pilot = fitted = None
    if reference == "fitted" and (method != "rejection" or upper):
        key_pilot_init, key_pilot = jr.split(jr.fold_in(key, 2))
        pilot_initial = theta1[None, :] + sigma * jr.normal(
            key_pilot_init, (pilot_particles, theta1.shape[0]), dtype
        )
        # The pilot only shapes the path, so it is always adaptive.
        pilot_output = ais.anneal(
            key_pilot,
            pilot_initial,
            potential_fn,
            theta1,
            sigma,
            **{**anneal_kwargs, "schedule": None, "step_sizes": None},
        )
        pilot_state = pilot_output.state
        scores = (
            -(pilot_state.particles - theta1[None, :]) / sigma**2
            - pilot_state.potential_grad
        )
        fitted = reference_path.fit(
            pilot_state.particles,
            ais.global_log_weights(pilot_state),
            scores,
            sigma,
        )
        path_potential = reference_path.potential(potential_fn, theta1, sigma, fitted)
        base_mean, base_scale = fitted
        offset = reference_path.log_z_offset(sigma, fitted)
        pilot = _drop_state(pilot_output)

    if method == "rejection":
        particles = exact.samples
        _, potential_grad = values_and_grads(potential_fn, particles)
        log_z = exact.log_z
        log_weights_normalised = jnp.full(
            (num_particles,), -math.log(num_particles), dtype
        )
    else:
        scale_row = jnp.broadcast_to(jnp.asarray(base_scale, dtype), theta1.shape)
        initial = base_mean[None, :] + scale_row[None, :] * jr.normal(
            key_init, (num_particles, theta1.shape[0]), dtype
        )
        output = ais.anneal(
            key_forward, initial, path_potential, base_mean, base_scale, **anneal_kwargs
        )
        state = output.state
        particles, potential_grad = state.particles, state.potential_grad
        if fitted is not None:
            potential_grad = reference_path.target_grad(
                particles, potential_grad, theta1, sigma, fitted
            )
        log_z = ais.log_evidence(state) + offset
        log_weights_normalised = ais.global_log_weights(state)
        log_z_thermodynamic = output.log_z_thermodynamic + offset
        num_temperatures = output.num_temperatures
        annealing = _drop_state(output)

    log_z_upper = nan
    if upper:
        backward = ais.anneal(
            key_reverse,
            jnp.asarray(end_samples, dtype),
            path_potential,
            base_mean,
            base_scale,
            reverse=True,
            **anneal_kwargs,
        )
        # Reverse AIS estimates log(Z_0 / Z_1) = -log Z with an unbiased 1/Z-hat.
        log_z_upper = -ais.log_evidence(backward.state) + offset
        reverse = _drop_state(backward)

    log_weights, ess, grad, score, pathwise = _estimates(
        particles, log_weights_normalised, log_z, potential_grad, theta1, sigma
    )
    return LogPartitionResult(
        log_z=log_z,
        bits_saved=-log_z / math.log(2.0),
        ess=ess,
        log_weights=log_weights,
        particles=particles,
        grad_log_z=grad,
        grad_log_z_score=score,
        grad_log_z_pathwise=pathwise,
        log_z_upper=log_z_upper,
        log_z_thermodynamic=log_z_thermodynamic,
        log_weight_std=jnp.std(log_weights),
        num_temperatures=num_temperatures,
        annealing=annealing,
        reverse=reverse,
        rejection=exact,
        pilot=pilot,
        reference=fitted,
    )


def _rejection(
    disagreement_fn,
    theta1,
    lam,
    sigma,
    key_exact,
    *,
    num_particles,
    batch_size,
    max_rejection_draws,
):
    """The exact rejection run of `_run` (its `key_exact`), capped at 4x the budget
    the pilot checked."""
    return rejection.rejection_loop(
        key_exact,
        lambda theta: lam * disagreement_fn(theta),
        theta1,
        sigma,
        num_samples=num_particles,
        batch_size=batch_size,
        max_draws=4 * max_rejection_draws,
    )


_rejection_jit = jax.jit(
    _rejection, static_argnames=("num_particles", "batch_size", "max_rejection_draws")
)


def _key_exact(key):
    """The subkey `_run` gives the rejection run."""
    return jr.split(key, 4)[2]


_STATIC = (
    "method",
    "num_particles",
    "target_ess",
    "max_num_temperatures",
    "upper",
    "batch_size",
    "max_rejection_draws",
    "kernel_kwargs",
    "reference",
    "pilot_particles",
)
_run_jit = jax.jit(_run, static_argnames=_STATIC)


@jax.jit
def _pilot_jit(disagreement_fn, theta1, lam, sigma, key):
    def potential_fn(theta):
        return lam * disagreement_fn(theta)

    return rejection.pilot_acceptance(key, potential_fn, theta1, sigma, _NUM_PILOT)


def log_partition(
    disagreement_fn,
    theta1,
    *,
    lam,
    sigma,
    key,
    method: str = "auto",
    num_particles: int = 256,
    schedule=None,
    step_sizes=None,
    target_ess: float = 0.9,
    max_num_temperatures: int = 1000,
    move: str = "mala",
    num_mcmc_steps: int = 5,
    num_integration_steps: int = 5,
    resample_threshold: float = 0.5,
    precondition: bool = True,
    upper: bool = False,
    end_samples=None,
    max_rejection_draws: int = 10**6,
    batch_size: int = 1024,
    reference: str = "prior",
    pilot_particles: int | None = None,
) -> LogPartitionResult:
    r"""Estimate $\log Z(\theta_1) = \log \mathbb E_{\theta'\sim\mathcal N(\theta_1,\sigma^2 I)}
    e^{-\lambda C(\theta')}$, the bits saved, and $\nabla_{\theta_1}\log Z$.

    Methods:

    - `"ais"`: annealing on $\pi_\beta \propto \mathcal N(\theta_1,\sigma^2)e^{-\beta\lambda C}$
      from exact draws of $\pi_0$, with blackjax MALA or HMC moves preconditioned by the
      particle cloud's per-coordinate spread, resampling when the ESS fraction falls
      below `resample_threshold` (0: pure AIS, never resample), and an adaptive
      (`schedule=None`, conditional-ESS bisection) or fixed schedule. See
      `samplers.ais`.
    - `"rejection"`: exact samples by rejection and the negative-binomial estimate of
      $Z$; refuses with a `ValueError` when a pilot predicts more than
      `max_rejection_draws` draws. See `samplers.rejection`.
    - `"auto"`: rejection when a pilot of 1024 draws predicts at most
      `max_rejection_draws` draws for `num_particles` samples, else AIS. Inside
      `jit`/`vmap` the pilot is not concrete and `"auto"` means `"ais"`.

    Paths start from the prior $\mathcal N(\theta_1, \sigma^2 I)$, or, with
    `reference="fitted"`, from a diagonal Gaussian fitted to the final particles of an
    adaptive pilot run of `pilot_particles` particles (`samplers.reference`). The
    fitted path is much shorter when the target is close to a diagonal Gaussian, as
    for a narrow prior tilted by a smooth $C$: on a skewed, separable problem with
    $d = 10^4$ and $-\log Z \approx 1275$ it is within 0.06 nats (root mean square)
    in 48 s on 2 CPU cores, where the prior path is 1.3 nats off in the same time
    (`docs/benchmarks.md`). A diagonal fit does not hold correlations, so oblique
    targets gain less. Any fitted Gaussian leaves the estimate valid; a poor fit
    only costs variance.

    With `upper=True` (or `end_samples` given) reverse AIS runs from exact samples of
    $p(\theta'\mid\theta_1)$ (`end_samples`, else rejection samples) down to $\beta=0$,
    and `log_z_upper` is an upper bound in expectation: $\mathbb E\log\hat Z \le \log Z
    \le \mathbb E$ `log_z_upper` (bidirectional Monte Carlo; the gap is an honest error
    bar). Strictly so only when no kernel is chosen from the particles: the adaptive
    schedule, the step size steered towards a target acceptance and the
    preconditioner all are, and each biases $\hat Z$ by $O(1/n)$ (the schedule by
    about +3 % at 64 particles in one dimension; with the schedule fixed, the
    adapted step sizes still gave +2.5 % at 16 particles). For strict bounds rerun
    with what an adaptive run chose: its temperatures
    `result.annealing.info.beta[:result.num_temperatures]` as `schedule`, its
    step sizes `result.annealing.info.step_size[:result.num_temperatures]` as
    `step_sizes`, and `precondition=False` in both runs.

    Keep $C$ full-batch: a minibatch estimate of $C$ inside the annealing makes the
    weights wrong in a way smaller steps do not fix.

    Args:
        disagreement_fn: $C(\theta) \ge 0$, a JAX function of a flat `(d,)` vector
            returning a scalar.
        theta1: `(d,)` float vector $\theta_1$.
        lam: $\lambda > 0$.
        sigma: $\sigma > 0$.
        key: a typed key, `jax.random.key(seed)`.
        method: `"auto"`, `"ais"` or `"rejection"`.
        num_particles: particles (AIS) or exact samples (rejection).
        schedule: fixed increasing inverse temperatures ending at 1, or None
            (adaptive).
        step_sizes: with `schedule`, the move's step size at each temperature
            (in the units of the moves: the cloud's spread when preconditioned,
            else `sigma`); None steers it towards a target acceptance.
        target_ess: conditional ESS fraction kept per adaptive step.
        max_num_temperatures: cap on adaptive steps.
        move: `"mala"` or `"hmc"`.
        num_mcmc_steps: MCMC transitions per temperature.
        num_integration_steps: leapfrog steps per HMC transition.
        resample_threshold: ESS fraction below which particles are resampled.
        precondition: scale moves by the per-coordinate standard deviation of the
            cloud, taken across two islands of particles so that each move stays
            exactly invariant (needs an even `num_particles` >= 4; otherwise moves
            are scaled by `sigma`).
        upper: also compute `log_z_upper` by reverse AIS.
        end_samples: `(n, d)` exact samples of $p(\theta'\mid\theta_1)$ for reverse AIS.
        max_rejection_draws: budget of the rejection sampler (expected draws).
        batch_size: proposals per batch of the rejection sampler.
        reference: `"prior"` or `"fitted"`: where the annealing paths (forward and
            reverse) start.
        pilot_particles: particles of the pilot run for `reference="fitted"`;
            default `num_particles // 4` (even, at least 16).

    Returns:
        A `LogPartitionResult`.

    Example:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from samplers.log_partition import log_partition
        >>> result = log_partition(lambda t: 0.5 * jnp.sum(t**2), jnp.zeros(3),
        ...                        lam=1.0, sigma=1.0, key=jr.key(0), method="ais")
        >>> bool(abs(result.log_z - 1.5 * jnp.log(0.5)) < 0.1)  # log Z = -3/2 log 2
        True
    """
    theta1, lam, sigma, num_particles = _check_arguments(
        disagreement_fn, theta1, lam, sigma, key, num_particles, method, move
    )
    schedule = _check_schedule(schedule)
    step_sizes = _check_step_sizes(step_sizes, schedule)
    if not 0 < target_ess < 1:
        raise ValueError(f"`target_ess` must lie in (0, 1), got {target_ess}.")
    if not 0 <= resample_threshold <= 1:
        raise ValueError(
            f"`resample_threshold` must lie in [0, 1], got {resample_threshold}."
        )
    max_num_temperatures = count(max_num_temperatures, "max_num_temperatures")
    if reference not in _REFERENCES:
        raise ValueError(
            f"`reference` must be one of {_REFERENCES}, got {reference!r}."
        )
    if pilot_particles is None:
        pilot_particles = max(_MIN_PILOT, num_particles // 8 * 2)
    elif reference != "fitted":
        raise ValueError("`pilot_particles` applies only with reference='fitted'.")
    else:
        pilot_particles = count(pilot_particles, "pilot_particles", minimum=2)
    count(num_mcmc_steps, "num_mcmc_steps", minimum=0)
    batch_size = count(batch_size, "batch_size")
    max_rejection_draws = count(max_rejection_draws, "max_rejection_draws")
    count(num_integration_steps, "num_integration_steps")
    if end_samples is not None:
        _check_end_samples(end_samples, theta1.shape[0])
        upper = True

    traced = any(isinstance(x, jax.core.Tracer) for x in (theta1, lam, sigma, key))
    # Passing the function as a `Partial` pytree lets jit cache on its identity and
    # trace through any arrays it closes over as arguments (no recompiles per data).
    if not isinstance(disagreement_fn, Partial):
        try:
            hash(disagreement_fn)
        except TypeError:
            # jit keys its cache on the function; an unhashable callable (e.g. a
            # bound method of an unhashable object) is wrapped so that it hashes by
            # identity (compiled afresh for each wrapper, but correct).
            disagreement_fn = _ByIdentity(disagreement_fn)
        disagreement_fn = Partial(disagreement_fn)
    needs_exact = method == "rejection" or (upper and end_samples is None)
    if (method == "auto" or needs_exact) and not traced:
        accepted = int(
            _pilot_jit(disagreement_fn, theta1, lam, sigma, jr.fold_in(key, 1))
        )
        # No acceptance in the pilot: bound Z by the 95% "rule of three", 3 / n.
        z_guess = accepted / _NUM_PILOT if accepted > 0 else 3.0 / _NUM_PILOT
        expected = num_particles / z_guess
        if method == "auto":
            method = (
                "rejection"
                if accepted > 0 and expected <= max_rejection_draws
                else "ais"
            )
            needs_exact = method == "rejection" or (upper and end_samples is None)
        if needs_exact and expected > max_rejection_draws:
            raise ValueError(
                f"Exact rejection sampling would need about {expected:.3g} draws "
                f"(pilot: {accepted}/{_NUM_PILOT} accepted, -log Z ~ "
                f"{-math.log(z_guess):.1f} nats), more than "
                f"max_rejection_draws={max_rejection_draws}. Use method='ais', pass "
                "exact `end_samples` for the upper bound, or raise max_rejection_draws."
            )
    if method == "auto":
        method = "ais"

    exact = None
    if needs_exact and not traced:
        # Run the exact sampler on its own, before the annealing is compiled: a run
        # that meets its cap (the pilot bounds the expected cost only; an unlucky
        # or mis-guessed run can still hit it) then fails in a moment, not after
        # the whole AIS program has compiled, and its numbers are never used.
        exact = _rejection_jit(
            disagreement_fn,
            theta1,
            lam,
            sigma,
            _key_exact(key),
            num_particles=num_particles,
            batch_size=batch_size,
            max_rejection_draws=max_rejection_draws,
        )
        rejection.check_complete(
            exact,
            num_particles,
            4 * max_rejection_draws,
            "Use method='ais'; for `upper=True`, pass exact `end_samples`.",
        )

    kernel_kwargs = (
        ("move", move),
        ("num_mcmc_steps", num_mcmc_steps),
        ("num_integration_steps", num_integration_steps),
        ("resample_threshold", float(resample_threshold)),
        ("precondition", bool(precondition)),
    )
    result = _run_jit(
        disagreement_fn,
        theta1,
        lam,
        sigma,
        key,
        None if end_samples is None else jnp.asarray(end_samples),
        exact,
        method=method,
        num_particles=num_particles,
        schedule=None if schedule is None else jnp.asarray(schedule),
        step_sizes=None if step_sizes is None else jnp.asarray(step_sizes),
        target_ess=float(target_ess),
        max_num_temperatures=max_num_temperatures,
        upper=bool(upper),
        batch_size=batch_size,
        max_rejection_draws=max_rejection_draws,
        kernel_kwargs=kernel_kwargs,
        reference=reference,
        pilot_particles=pilot_particles,
    )
    if result.rejection is not None and exact is None:
        # A run made inside `_run` (only with traced arguments, where this check
        # returns at once; kept should a concrete call ever reach it).
        rejection.check_complete(
            result.rejection,
            num_particles,
            4 * max_rejection_draws,
            "Use method='ais'; for `upper=True`, pass exact `end_samples`.",
        )
    return result
