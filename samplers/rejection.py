r"""Exact rejection sampling of $p(\theta' \mid \theta_1) \propto
\mathcal N(\theta'; \theta_1, \sigma^2 I)\, e^{-\lambda C(\theta')}$ for $C \ge 0$.

Draw $\theta' \sim \mathcal N(\theta_1, \sigma^2 I)$ and accept with probability
$e^{-\lambda C(\theta')} \le 1$. Accepted draws are exact samples, the acceptance
probability is $Z(\theta_1)$, and the number of draws up to and including an
acceptance is Geometric($Z$), so its mean is an unbiased estimate of $1/Z$. Stopping
at the $n$-th acceptance after $T$ draws, $(n-1)/(T-1)$ is the unbiased estimate of
$Z$ (negative binomial sampling, Haldane 1945).

The cost is about $n/Z$ evaluations of $C$, so it serves only while $-\log Z$ is a few
nats; `rejection_sample` refuses, before the main run, when a pilot batch predicts more
than `max_draws` draws.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array

from samplers._checks import count, flat_vector, positive, scalar_function, typed_key
from samplers.base import PotentialFn, short_repr

__all__ = [
    "RejectionResult",
    "check_complete",
    "pilot_acceptance",
    "rejection_loop",
    "rejection_sample",
]


class RejectionResult(NamedTuple):
    """Exact samples and the estimates of $Z$ they give.

    Attributes:
        samples: `(n, d)` exact draws of $p(\\theta'|\\theta_1)$; rows past
            `num_accepted` (if the draw cap was hit) are NaN.
        num_tries: `(n,)` Geometric($Z$) counts: draws used for each sample.
        num_accepted: number of samples obtained (`n` unless the cap was hit).
        num_draws: total draws up to the last acceptance, `sum(num_tries)`.
        inverse_z: `mean(num_tries)`, unbiased for $1/Z$.
        log_z: $\\log\\frac{n-1}{T-1}$ (log of the unbiased estimate of $Z$;
            $\\log(1/T)$ when $n = 1$); NaN when the cap stopped the run short.
        log_z_stderr: delta-method standard error $\\sqrt{(1-\\hat Z)/n}$ of `log_z`.
    """

    samples: Array
    num_tries: Array
    num_accepted: Array
    num_draws: Array
    inverse_z: Array
    log_z: Array
    log_z_stderr: Array

    __repr__ = short_repr


def _draw_batch(key, potential_fn, mean, sigma, batch_size):
    key_normal, key_uniform = jr.split(key)
    proposals = mean[None, :] + sigma * jr.normal(
        key_normal, (batch_size, mean.shape[0]), mean.dtype
    )
    potential = jax.vmap(potential_fn)(proposals)
    # Accept with probability exp(-U); U >= 0 makes this a probability.
    log_uniform = jnp.log(jr.uniform(key_uniform, (batch_size,), mean.dtype))
    return proposals, log_uniform < -potential


def pilot_acceptance(key, potential_fn, mean, sigma, num_pilot: int) -> Array:
    """Number of acceptances among `num_pilot` proposals (for the budget check)."""
    _, accepted = _draw_batch(key, potential_fn, mean, sigma, num_pilot)
    return jnp.sum(accepted)


def rejection_loop(
    key: Array,
    potential_fn: PotentialFn,
    mean: Array,
    sigma,
    *,
    num_samples: int,
    batch_size: int,
    max_draws: int,
) -> RejectionResult:
    """Jittable core: draw batches until `num_samples` acceptances or `max_draws`.

    The draws form one i.i.d. sequence read in batches; draws after the last needed
    acceptance are discarded, which does not bias anything since they come later in
    the sequence.
    """
    dim = mean.shape[0]
    dtype = mean.dtype
    max_batches = max(1, math.ceil(max_draws / batch_size))
    position = jnp.arange(batch_size)

    def cond(carry):
        index, _, _, num_accepted, _ = carry
        return (num_accepted < num_samples) & (index < max_batches)

    def body(carry):
        index, samples, num_tries, num_accepted, since_last = carry
        proposals, accepted = _draw_batch(
            jr.fold_in(key, index), potential_fn, mean, sigma, batch_size
        )
        # Position of the previous acceptance within the batch (-1: none yet), to
        # turn acceptance positions into gaps = geometric counts.
        last = jax.lax.cummax(jnp.where(accepted, position, -1))
        previous = jnp.concatenate([jnp.full((1,), -1), last[:-1]])
        gaps = jnp.where(previous >= 0, position - previous, position + 1 + since_last)
        destination = num_accepted + jnp.cumsum(accepted) - 1
        destination = jnp.where(
            accepted, destination, num_samples
        )  # out of range: dropped
        samples = samples.at[destination].set(proposals, mode="drop")
        num_tries = num_tries.at[destination].set(gaps, mode="drop")
        since_last = jnp.where(
            jnp.any(accepted), batch_size - 1 - last[-1], since_last + batch_size
        )
        num_accepted = jnp.minimum(num_accepted + jnp.sum(accepted), num_samples)
        return index + 1, samples, num_tries, num_accepted, since_last

    carry = (
        jnp.asarray(0),
        jnp.full((num_samples, dim), jnp.nan, dtype),
        jnp.zeros(
            (num_samples,), jnp.int64 if jax.config.jax_enable_x64 else jnp.int32
        ),
        jnp.asarray(0),
        jnp.asarray(0),
    )
    _, samples, num_tries, num_accepted, _ = jax.lax.while_loop(cond, body, carry)
    num_draws = jnp.sum(num_tries)
    n = num_accepted.astype(dtype)
    total = num_draws.astype(dtype)
    log_z = jnp.where(
        num_accepted > 1,
        jnp.log(jnp.maximum(n - 1, 1.0)) - jnp.log(jnp.maximum(total - 1, 1.0)),
        -jnp.log(jnp.maximum(total, 1.0)),
    )
    # A run stopped by the cap has no valid estimate (with no acceptance the
    # formula above would even report Z = 1): NaN, never a number that looks right.
    log_z = jnp.where(num_accepted < num_samples, jnp.nan, log_z)
    inverse_z = total / jnp.maximum(n, 1.0)
    log_z_stderr = jnp.sqrt(
        jnp.maximum(1.0 - jnp.exp(log_z), 0.0) / jnp.maximum(n, 1.0)
    )
    return RejectionResult(
        samples, num_tries, num_accepted, num_draws, inverse_z, log_z, log_z_stderr
    )


def rejection_sample(
    potential_fn: PotentialFn,
    mean: Array,
    sigma,
    *,
    key: Array,
    num_samples: int,
    batch_size: int = 1024,
    max_draws: int = 10**6,
    num_pilot: int = 1024,
) -> RejectionResult:
    """Exact samples of the tilted Gaussian, refusing runs that would cost too much.

    A pilot batch of `num_pilot` proposals (independent of the main run) estimates
    $Z$; if `num_samples / Z` exceeds `max_draws` a `ValueError` says so, before the
    main loop runs. With no acceptance in the pilot, $Z$ is bounded by $3/$`num_pilot`
    (the 95% "rule of three"). Inside `jit`/`vmap` the pilot is not concrete and the
    check is skipped. The loop stops at `4 * max_draws` draws; a concrete run
    stopped there raises `RuntimeError`, a traced one reports
    `num_accepted < num_samples` and a NaN `log_z`.

    Arguments are checked before anything runs; on traced arguments (inside
    `jit`/`vmap`) only their shapes and dtypes are.

    Args:
        potential_fn: $U = \\lambda C \\ge 0$, a function of one `(d,)` vector
            returning a scalar.
        mean: `(d,)` $\\theta_1$, floating point.
        sigma: $\\sigma > 0$, a scalar.
        key: a typed key, `jax.random.key(seed)`.
        num_samples: exact samples wanted (at least 1).
        batch_size: proposals evaluated at once.
        max_draws: budget of proposals.
        num_pilot: proposals of the pilot batch.

    Returns:
        A `RejectionResult`.

    Example:
        >>> import math
        >>> import jax, jax.numpy as jnp, jax.random as jr
        >>> import samplers
        >>> def disagreement(theta):  # U = λC with λ = 1
        ...     return 0.5 * jnp.sum(theta**2)
        >>> theta1 = jnp.array([1.0, 0.0])
        >>> # Closed form, σ = 1: log Z = −(d/2) log 2 − ‖θ₁‖²/4.
        >>> exact = -math.log(2.0) - 0.25
        >>> result = samplers.rejection_sample(
        ...     disagreement, theta1, 1.0, key=jr.key(0), num_samples=2000
        ... )
        >>> result.samples.shape
        (2000, 2)
        >>> bool(abs(result.log_z - exact) < 4 * result.log_z_stderr)
        True
    """
    mean = flat_vector(mean, "mean")
    scalar_function(potential_fn, mean, "potential_fn")
    sigma = positive(sigma, "sigma")
    key = typed_key(key)
    num_samples = count(num_samples, "num_samples")
    batch_size = count(batch_size, "batch_size")
    max_draws = count(max_draws, "max_draws")
    num_pilot = count(num_pilot, "num_pilot")
    key_pilot, key_main = jr.split(key)
    accepted = pilot_acceptance(key_pilot, potential_fn, mean, sigma, num_pilot)
    if not isinstance(accepted, jax.core.Tracer):
        accepted = int(accepted)
        z_guess = accepted / num_pilot if accepted > 0 else 3.0 / num_pilot
        expected = num_samples / z_guess
        if expected > max_draws:
            raise ValueError(
                f"Rejection sampling would need about {expected:.3g} draws "
                f"(pilot: {accepted}/{num_pilot} accepted, -log Z ~ "
                f"{-math.log(z_guess):.1f} nats), more than max_draws={max_draws}. "
                "Use method='ais', or raise max_draws."
            )
    result = rejection_loop(
        key_main,
        potential_fn,
        mean,
        sigma,
        num_samples=num_samples,
        batch_size=batch_size,
        # The check bounds the *expected* cost; the hard cap leaves room for an
        # unlucky run (4x the expected draws of a passing pilot).
        max_draws=4 * max_draws,
    )
    check_complete(result, num_samples, 4 * max_draws)
    return result


def check_complete(
    result: RejectionResult, num_samples: int, cap: int, hint: str = "Use AIS."
) -> None:
    """Raises when a concrete run hit its cap before `num_samples` acceptances."""
    if isinstance(result.num_accepted, jax.core.Tracer):
        return
    accepted = int(result.num_accepted)
    if accepted < num_samples:
        raise RuntimeError(
            f"Rejection sampling accepted {accepted} of the {num_samples} samples "
            f"asked for within its cap of {cap} proposals: Z is too small for the "
            "exact sampler here (about -log Z > "
            f"{math.log(cap / max(accepted, 1)):.1f} nats). {hint}"
        )
