r"""A shorter annealing path: start from a Gaussian fitted to a pilot run.

Annealing from the prior $\mathcal N(\theta_1, \sigma^2 I)$ to
$p(\theta'\mid\theta_1) \propto \mathcal N(\theta'; \theta_1, \sigma^2 I)\,e^{-U(\theta')}$
is long when agreement is rare: with perfect moves
$\mathrm{Var}(\log\hat Z) \approx \mathcal L^2 / (K n)$ for $K$ temperatures and $n$
particles, where $\mathcal L$ is the path's thermodynamic length. Any normalised
density $q$ with full support gives the same normalising constant,

$$Z = \mathbb E_{q}\Big[\frac{\mathcal N(\theta; \theta_1, \sigma^2 I)\,
  e^{-U(\theta)}}{q(\theta)}\Big],$$

so annealing from $q$ along $\pi_\beta \propto q^{1-\beta}\,
\big(\mathcal N(\theta_1, \sigma^2 I)\,e^{-U}\big)^\beta$ estimates $Z$ too, and is short
when $q$ is close to the target. With $q = \mathcal N(m, \operatorname{diag} s^2)$ this path is
again a Gaussian base times a tilt (what `samplers.ais` runs), with base $(m, s)$ and
potential

$$U_q(\theta) = U(\theta) + \tfrac12\|(\theta - \theta_1)/\sigma\|^2
  - \tfrac12\|(\theta - m)/s\|^2, \qquad
  \log Z = \log Z_q + \textstyle\sum_j \log s_j - d \log \sigma,$$

$Z_q = \mathbb E_q[e^{-U_q}]$. $m$ and $s$ are the marginal means and spreads of a pilot
run's final particles, sharpened by their scores (`fit`). The estimate is valid for
every $q$: $q$ changes only its variance, and with a fixed schedule $\hat Z$ stays
unbiased given $q$, hence unbiased. The closer the target is to a diagonal Gaussian (a
smooth tilt of a narrow prior), the shorter the fitted path; on an exactly diagonal
Gaussian target it has length zero. A diagonal $q$ does not capture correlations, so
a target tilted along oblique directions gains less (`docs/benchmarks.md`).
"""

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp

from samplers.base import PotentialFn

__all__ = ["Reference", "fit", "potential", "log_z_offset", "target_grad"]


class Reference(NamedTuple):
    """The diagonal Gaussian $q = \\mathcal N(m, \\operatorname{diag} s^2)$ a path
    starts from.

    Attributes:
        mean: `(d,)` $m$.
        scale: `(d,)` $s$.
    """

    mean: Array
    scale: Array


def fit(
    particles: Array, log_weights: Array, scores: Array, fallback_scale
) -> Reference:
    r"""Marginal means and spreads of a weighted cloud, sharpened by Stein's identity.

    For a smooth density $\pi$ with score $g = \nabla \log \pi$, integration by parts
    gives, per coordinate, $\mathbb E[g_j] = 0$ and
    $\mathrm{Cov}(\theta_j, g_j) = -1$. So

    $$s_j^2 = \frac{\widehat{\mathrm{Var}}(\theta_j)}{-\widehat{\mathrm{Cov}}(\theta_j, g_j)},
    \qquad m_j = \bar\theta_j + s_j^2\, \bar g_j$$

    are consistent estimates of the marginal variance and mean whose sampling noise
    largely cancels: they are exact, from any cloud, when $\pi$ is a diagonal Gaussian
    (then $g_j = -(\theta_j - \mu_j)/v_j$), and close to it when $\pi$ is near one.
    That includes a cloud that lags behind the target, still too wide in its stiff
    directions or collapsed by resampling in others. This is the same control
    variate that `log_partition` uses for $\nabla\log Z$.

    Far from Gaussian, or from a small cloud, the ratio can be wild: a covariance
    near zero gives a huge variance and, through $s_j^2 \bar g_j$, a huge shift (seen
    on a 2-D non-linear case, once in 4096 runs, as a reference 700 standard
    deviations off). So, per coordinate:

    - the variance is at most $\max(\sigma^2, \widehat{\mathrm{Var}}(\theta_j))$:
      tilting $\mathcal N(\theta_1, \sigma^2)$ by a log-concave factor never widens it
      (Brascamp-Lieb);
    - the mean moves only if the shift is at most three standard deviations, the
      larger of the fitted and the cloud's: for a Gaussian the shift is the sampling
      error of $\bar\theta_j$, within three standard deviations 99.7% of the time
      even for a cloud resampled down to a single ancestor;
    - a covariance that is not negative leaves the plain weighted moments, and a
      coordinate with no spread at all gets `fallback_scale`, so that $q$ keeps full
      support.

    Whatever the fit, the annealing from it stays valid: these rules only keep its
    variance down.

    Args:
        particles: `(n, d)` weighted samples of $\pi$.
        log_weights: `(n,)` their log-weights (any normalisation).
        scores: `(n, d)` $\nabla \log \pi$ at the particles.
        fallback_scale: the prior scale $\sigma$.

    Returns:
        The fitted `Reference`.
    """
    weights = jnp.exp(log_weights - logsumexp(log_weights))
    mean = weights @ particles
    centred = particles - mean[None, :]
    variance = weights @ jnp.square(centred)
    score_mean = weights @ scores
    covariance = weights @ (centred * (scores - score_mean[None, :]))
    prior_variance = jnp.square(jnp.full_like(mean, fallback_scale))
    spread = variance > 1e-24 * prior_variance
    negative = covariance < 0
    stein_variance = jnp.minimum(
        variance / jnp.where(negative, -covariance, 1.0),
        jnp.maximum(prior_variance, variance),
    )
    fitted_variance = jnp.where(negative, stein_variance, variance)
    shift = fitted_variance * score_mean
    plausible = negative & (
        jnp.square(shift) <= 9.0 * jnp.maximum(fitted_variance, variance)
    )
    mean = jnp.where(plausible, mean + shift, mean)
    scale = jnp.where(spread, jnp.sqrt(fitted_variance), jnp.sqrt(prior_variance))
    return Reference(mean, scale)


def potential(
    potential_fn: PotentialFn, theta1: Array, sigma, reference: Reference
) -> PotentialFn:
    """$U_q$: the potential of the path from `reference` to the target."""

    def potential_q(theta):
        prior_term = 0.5 * jnp.sum(jnp.square((theta - theta1) / sigma))
        reference_term = 0.5 * jnp.sum(
            jnp.square((theta - reference.mean) / reference.scale)
        )
        return potential_fn(theta) + prior_term - reference_term

    return potential_q


def log_z_offset(sigma, reference: Reference) -> Array:
    """$\\log Z - \\log Z_q = \\sum_j \\log s_j - d\\log\\sigma$."""
    return jnp.sum(jnp.log(reference.scale) - jnp.log(sigma))


def target_grad(
    particles: Array,
    potential_q_grad: Array,
    theta1: Array,
    sigma,
    reference: Reference,
) -> Array:
    """$\\nabla U$ from $\\nabla U_q$ at `(n, d)` particles, without evaluating $U$ again."""
    return (
        potential_q_grad
        - (particles - theta1[None, :]) / sigma**2
        + (particles - reference.mean[None, :]) / jnp.square(reference.scale[None, :])
    )
