r"""`log_partition`: the user-facing estimator of $\log Z(\theta_1)$ and its gradient.

It checks the arguments before anything is compiled, chooses the method from a
pilot, makes the exact run (when one is needed) on its own, and calls the
traceable core `samplers.estimate.estimate_log_z` (where the estimators and their
maths live) with $U = \lambda C$ and a `LogZConfig`.
"""

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import jax.random as jr

from samplers import _checks, batches, rejection
from samplers._checks import count, flat_vector, positive, scalar_function
from samplers.estimate import (
    LogPartitionResult,
    LogZConfig,
    estimate_log_z,
    potential,
    rejection_run,
)
from samplers.health import MAX_ISLAND_Z, SamplingWarning
from samplers.moves import MOVES
from samplers.programs import filter_jit

__all__ = ["log_partition"]

_METHODS = ("auto", "ais", "rejection")
_REFERENCES = ("prior", "fitted", "auto")
# Pilot size of method="auto" and of the rejection budget check: with 1024 draws a
# Z of 1% is seen about 10 times, enough to predict the cost within a factor ~1.5.
_NUM_PILOT = 1024
_HINT = "Use method='ais'; for `upper=True`, pass exact `end_samples`."


# At optimisation level 1 when called at top level (the AIS programs nest loops,
# and compile two to three times faster so, at the same speed; see
# samplers.base.compiler_options); plain under a user's own jit or vmap.
_estimate_jit = filter_jit(estimate_log_z)
_rejection_jit = filter_jit(rejection_run)


@filter_jit
def _pilot_jit(potential_fn, theta1, sigma, key):
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
    reference: str = "auto",
    pilot_particles: int | None = None,
    tolerance: float | None = None,
    max_particles: int | None = None,
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

    Paths start from a Gaussian reference (`samplers.reference`): the prior
    $\mathcal N(\theta_1, \sigma^2 I)$ with `reference="prior"`, or, with
    `"fitted"`, a Gaussian fitted to the final particles of an adaptive pilot run
    of `pilot_particles` particles. While $d \le 1024$ the fit is made in the frame
    of the eigenvectors of $\nabla^2 U$ at the pilot's mean, so that it carries
    the target's correlations; above, it is diagonal. On a Gaussian target the
    fitted path has length zero and log Z and its gradient come out exact to
    rounding; on an oblique, non-quadratic case ($d = 50$, $-\log Z \approx 380$)
    it was within 0.1 nats where the prior path was 7 nats low on average; on a
    skewed, separable problem with $d = 10^4$ and $-\log Z \approx 1275$ the
    diagonal fit was within 0.06 nats (root mean square) in 48 s on 2 CPU cores,
    where the prior path was 1.3 nats off in the same time (`docs/benchmarks.md`).
    On a small network's disagreement, though, the fit lengthened the path and
    doubled the spread of log Z-hat. The default, `"auto"`, fits and keeps the fit only
    where the path's potential varies less than $U$ over the pilot's particles;
    elsewhere it starts from the prior (rotated into the fitted frame, where the
    moves' per-coordinate preconditioner then acts). Any reference leaves the
    estimate valid; a poor one only costs variance.

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

    With `tolerance` (nats), independent batches of `num_particles` particles
    run (the same compiled program, keys folded from `key`) and are combined
    until `log_z_se` is at most `tolerance`, or until `max_particles` particles
    ran, when a `SamplingWarning` gives the SE reached (`samplers.batches`).
    It is off by default: a call then costs one run, whatever its SE, which the
    result reports. `log_z_se` assumes moves that mix and leaves out AIS's
    downward bias, so a tolerance bounds the noise, not every error
    (docs/samplers.md).

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
        reference: `"auto"`, `"prior"` or `"fitted"`: where the annealing paths
            (forward and reverse) start.
        pilot_particles: particles of the pilot run for `reference="fitted"` or
            `"auto"`; default `num_particles // 4` (even, at least 16).
        tolerance: largest acceptable `log_z_se` in nats, or None (one run).
            Needs concrete inputs (not under `jit`/`vmap`).
        max_particles: the cap of the batches with `tolerance`; default
            `16 * num_particles`.

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
    theta1 = flat_vector(theta1, "theta1")
    if not callable(disagreement_fn):
        raise TypeError(
            f"`disagreement_fn` must be callable theta -> scalar, got {disagreement_fn!r}."
        )
    scalar_function(potential(disagreement_fn, 1.0), theta1, "disagreement_fn")
    lam = positive(lam, "lam")
    sigma = positive(sigma, "sigma")
    _check_key(key)
    config = _config(
        num_particles=num_particles,
        schedule=schedule,
        step_sizes=step_sizes,
        target_ess=target_ess,
        max_num_temperatures=max_num_temperatures,
        move=move,
        num_mcmc_steps=num_mcmc_steps,
        num_integration_steps=num_integration_steps,
        resample_threshold=resample_threshold,
        precondition=precondition,
        upper=upper or end_samples is not None,
        batch_size=batch_size,
        max_rejection_draws=max_rejection_draws,
        reference=reference,
        pilot_particles=pilot_particles,
    )
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}, got {method!r}.")
    if end_samples is not None:
        _checks.end_samples(end_samples, theta1.shape[0])
        end_samples = jnp.asarray(end_samples)
    potential_fn = potential(disagreement_fn, lam)
    traced = any(isinstance(x, jax.core.Tracer) for x in (theta1, lam, sigma, key))
    # σ as an array: a number would key the programs (samplers.programs).
    sigma = jnp.asarray(sigma)
    max_batches = _batches(tolerance, max_particles, config.num_particles, traced)
    needs_exact = method == "rejection" or (config.upper and end_samples is None)
    if (method == "auto" or needs_exact) and not traced:
        method = _choose_method(
            method, needs_exact, potential_fn, theta1, sigma, key, config
        )
    config = _replace(config, method="ais" if method == "auto" else method)
    needs_exact = config.method == "rejection" or (config.upper and end_samples is None)
    run = functools.partial(
        _one_run,
        potential_fn=potential_fn,
        theta1=theta1,
        sigma=sigma,
        config=config,
        end_samples=end_samples,
        exact_first=needs_exact and not traced,
    )
    if tolerance is None:
        result = run(key)
    else:
        result = batches.until_tolerance(run, key, tolerance, max_batches)
    if not traced:
        _warn_if_islands_disagree(result)
    return result


def _warn_if_islands_disagree(result):
    z = float(result.island_z)
    if abs(z) > MAX_ISLAND_Z:
        warnings.warn(
            f"The two islands of the AIS run, independent estimates of log Z, "
            f"differ by {abs(z):.1f} times what `log_z_se` allows (island_z): the "
            "reported SE is too small, because the moves did not mix or the "
            "islands are too small to estimate it. Raise `num_mcmc_steps` or "
            "`num_particles`, or try move='hmc'.",
            SamplingWarning,
            stacklevel=3,
        )


def _one_run(key, *, potential_fn, theta1, sigma, config, end_samples, exact_first):
    """One estimate from ``key``."""
    exact = None
    if exact_first:
        # Run the exact sampler on its own, before the annealing is compiled: a run
        # that meets its cap (the pilot bounds the expected cost only; an unlucky
        # or mis-guessed run can still hit it) then fails in a moment, not after
        # the whole AIS program has compiled, and its numbers are never used.
        exact = _rejection_jit(key, potential_fn, theta1, sigma, config)
        cap = 4 * config.max_rejection_draws
        rejection.check_complete(exact, config.num_particles, cap, _HINT)
    return _estimate_jit(
        key, potential_fn, theta1, sigma, config, end_samples=end_samples, exact=exact
    )


def _batches(tolerance, max_particles, num_particles: int, traced: bool) -> int:
    """The cap on batches of a ``tolerance`` call (1 without one), checked."""
    if tolerance is None:
        if max_particles is not None:
            raise ValueError("`max_particles` caps a `tolerance` call; give both.")
        return 1
    tolerance = positive(tolerance, "tolerance")
    if traced:
        raise ValueError(
            "`tolerance` needs concrete inputs (its batches stop on a value): "
            "call log_partition outside jit/vmap."
        )
    if max_particles is None:
        return 16
    max_particles = count(max_particles, "max_particles")
    if max_particles < num_particles:
        raise ValueError(
            f"`max_particles` ({max_particles}) must be at least "
            f"`num_particles` ({num_particles})."
        )
    return max_particles // num_particles


def _check_key(key) -> None:
    if not (
        hasattr(key, "dtype")
        and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        and key.shape == ()
    ):
        raise TypeError(
            f"`key` must be a single typed PRNG key from jax.random.key, got {key!r}."
        )


def _config(**settings) -> LogZConfig:
    """The checked settings of a `log_partition` call (its method is set later)."""
    num_particles = count(settings["num_particles"], "num_particles")
    schedule = _checks.schedule(settings["schedule"])
    step_sizes = _checks.step_sizes(settings["step_sizes"], schedule)
    target_ess = settings["target_ess"]
    if not 0 < target_ess < 1:
        raise ValueError(f"`target_ess` must lie in (0, 1), got {target_ess}.")
    threshold = settings["resample_threshold"]
    if not 0 <= threshold <= 1:
        raise ValueError(f"`resample_threshold` must lie in [0, 1], got {threshold}.")
    if settings["move"] not in MOVES:
        raise ValueError(f"`move` must be one of {MOVES}, got {settings['move']!r}.")
    reference = settings["reference"]
    if reference not in _REFERENCES:
        raise ValueError(
            f"`reference` must be one of {_REFERENCES}, got {reference!r}."
        )
    pilot_particles = settings["pilot_particles"]
    if pilot_particles is not None and reference == "prior":
        raise ValueError(
            "`pilot_particles` applies only with reference='fitted' or 'auto'."
        )
    if pilot_particles is not None:
        pilot_particles = count(pilot_particles, "pilot_particles", minimum=2)
    return LogZConfig(
        num_particles=num_particles,
        schedule=None if schedule is None else jnp.asarray(schedule),
        step_sizes=None if step_sizes is None else jnp.asarray(step_sizes),
        target_ess=float(target_ess),
        max_num_temperatures=count(
            settings["max_num_temperatures"], "max_num_temperatures"
        ),
        move=settings["move"],
        num_mcmc_steps=count(settings["num_mcmc_steps"], "num_mcmc_steps", minimum=0),
        num_integration_steps=count(
            settings["num_integration_steps"], "num_integration_steps"
        ),
        resample_threshold=float(threshold),
        precondition=bool(settings["precondition"]),
        upper=bool(settings["upper"]),
        batch_size=count(settings["batch_size"], "batch_size"),
        max_rejection_draws=count(
            settings["max_rejection_draws"], "max_rejection_draws"
        ),
        reference=reference,
        pilot_particles=pilot_particles,
    )


def _replace(config: LogZConfig, **changes) -> LogZConfig:
    fields = {name: getattr(config, name) for name in config.__dataclass_fields__}
    return LogZConfig(**{**fields, **changes})


def _choose_method(method, needs_exact, potential_fn, theta1, sigma, key, config):
    """`method`, with "auto" resolved by a pilot of `_NUM_PILOT` draws; refuses an
    exact run the pilot predicts to cost more than `max_rejection_draws`.

    `needs_exact`: whether the call needs exact samples for its upper bound.
    """
    accepted = int(_pilot_jit(potential_fn, theta1, sigma, jr.fold_in(key, 1)))
    # No acceptance in the pilot: bound Z by the 95% "rule of three", 3 / n.
    z_guess = accepted / _NUM_PILOT if accepted > 0 else 3.0 / _NUM_PILOT
    expected = config.num_particles / z_guess
    budget = config.max_rejection_draws
    if method == "auto":
        method = "rejection" if accepted > 0 and expected <= budget else "ais"
    if (method == "rejection" or needs_exact) and expected > budget:
        raise ValueError(
            f"Exact rejection sampling would need about {expected:.3g} draws "
            f"(pilot: {accepted}/{_NUM_PILOT} accepted, -log Z ~ "
            f"{-math.log(z_guess):.1f} nats), more than "
            f"max_rejection_draws={budget}. Use method='ais', pass "
            "exact `end_samples` for the upper bound, or raise max_rejection_draws."
        )
    return method
