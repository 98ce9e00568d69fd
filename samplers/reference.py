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
Gaussian target it has length zero.

A diagonal $q$ does not hold correlations, and a target tilted along oblique
directions (a dense $A$ in $C = \tfrac12\|A\theta - b\|^2$, as a network's
disagreement gives) is far from one. So, while $d$ is at most `MAX_DENSE_DIM`, the
fit is made in the frame of an orthogonal basis $V$: the eigenvectors of the Hessian
of $U$ at the pilot's mean (`hessian_basis`). Rotating is free of cost to the
estimate: the prior $\mathcal N(\theta_1, \sigma^2 I)$ is isotropic, so in
coordinates $y = V^\top\theta$ the problem is the same one with potential
$U(Vy)$ and centre $V^\top\theta_1$, and $\log Z$ is unchanged ($|\det V| = 1$).
Where $U$ is quadratic, $V$ diagonalises the target's precision, the fitted $q$ is
the target and the path has length zero again; the gradient's per-coordinate control
variate, taken in the same frame, is exact too. Computing $V$ costs $d$
Hessian-vector products and one $d \times d$ eigendecomposition, and every
evaluation of $U$ on the path one product $Vy$.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax import Array
from jax.scipy.special import logsumexp

from samplers.ais import global_log_weights
from samplers.annealing import anneal
from samplers.base import PotentialFn

__all__ = [
    "MAX_DENSE_DIM",
    "Reference",
    "fit",
    "fit_to_pilot",
    "from_frame",
    "hessian_basis",
    "in_frame",
    "keep_if_shorter",
    "potential",
    "log_z_offset",
    "target_grad",
    "to_frame",
]

# Above this dimension the fit stays diagonal: the basis is a d x d matrix, found
# by d Hessian-vector products and an O(d^3) eigendecomposition, and applied at
# every evaluation of U on the path (O(d^2) each).
MAX_DENSE_DIM = 1024


class Reference(NamedTuple):
    """The Gaussian $q$ a path starts from: $\\mathcal N(m, \\operatorname{diag}
    s^2)$ in the coordinates $y = V^\\top\\theta$ of `basis` $V$, that is
    $\\mathcal N(Vm, V \\operatorname{diag}(s^2) V^\\top)$ in $\\theta$.

    Attributes:
        mean: `(d,)` $m$, in the basis's coordinates.
        scale: `(d,)` $s$, in the basis's coordinates.
        basis: `(d, d)` orthogonal $V$ (columns), or None for the identity.
    """

    mean: Array
    scale: Array
    basis: Array | None = None


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


def hessian_basis(potential_fn: PotentialFn, point: Array) -> Array:
    """`(d, d)` orthonormal eigenvectors (columns) of $\\nabla^2 U$ at `point`; the
    identity where the Hessian is not finite."""
    dim = point.shape[0]
    gradient = jax.grad(potential_fn)

    def column(direction):
        return jax.jvp(gradient, (point,), (direction,))[1]

    eye = jnp.eye(dim, dtype=point.dtype)
    # In batches, so that a network's activations are held for a few directions
    # at a time, not d.
    hessian = jax.lax.map(column, eye, batch_size=min(dim, 64))
    hessian = 0.5 * (hessian + hessian.T)
    finite = jnp.all(jnp.isfinite(hessian))
    _, basis = jnp.linalg.eigh(jnp.where(finite, hessian, eye))
    return jnp.where(finite, basis, eye)


def in_frame(potential_fn: PotentialFn, basis: Array | None) -> PotentialFn:
    """$y \\mapsto U(Vy)$: the potential in the coordinates of `basis`."""
    if basis is None:
        return potential_fn
    return lambda y: potential_fn(basis @ y)


def potential(
    potential_fn: PotentialFn, theta1: Array, sigma, reference: Reference
) -> PotentialFn:
    """$U_q$: the potential of the path from `reference` to the target, in the
    reference's coordinates (`potential_fn` and `theta1` are in them already)."""

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


def to_frame(x: Array, basis: Array | None) -> Array:
    """`(…, d)` rows from θ's coordinates to the basis's ($y = V^\\top\\theta$)."""
    return x if basis is None else x @ basis


def from_frame(x: Array, basis: Array | None) -> Array:
    """`(…, d)` rows from the basis's coordinates back to θ's ($\\theta = Vy$)."""
    return x if basis is None else x @ basis.T


def fit_to_pilot(key: Array, potential_fn: PotentialFn, theta1: Array, sigma, config):
    """`(reference, pilot)`: a `Reference` fitted to the final particles of an
    adaptive pilot run of `config.pilot_size()` particles from the prior, in the
    frame of `hessian_basis` at the pilot's mean while $d \\le$ `MAX_DENSE_DIM`;
    with `config.reference == "auto"`, the prior where the fit would lengthen the
    path (`keep_if_shorter`). The pilot's `AnnealingOutput` keeps its state."""
    key_init, key_pilot = jr.split(jr.fold_in(key, 2))
    size = config.pilot_size()
    initial = theta1[None, :] + sigma * jr.normal(
        key_init, (size, theta1.shape[0]), theta1.dtype
    )
    # The pilot only shapes the path, so it is always adaptive.
    kwargs = {**config.anneal_kwargs(), "schedule": None, "step_sizes": None}
    output = anneal(key_pilot, initial, potential_fn, theta1, sigma, **kwargs)
    state = output.state
    log_weights = global_log_weights(state)
    scores = -(state.particles - theta1[None, :]) / sigma**2 - state.potential_grad
    basis = None
    if theta1.shape[0] <= MAX_DENSE_DIM:
        weights = jnp.exp(log_weights - logsumexp(log_weights))
        basis = hessian_basis(potential_fn, weights @ state.particles)
    frame_particles = to_frame(state.particles, basis)
    fitted = fit(frame_particles, log_weights, to_frame(scores, basis), sigma)._replace(
        basis=basis
    )
    if config.reference == "auto":
        fitted = keep_if_shorter(
            fitted, state.potential, frame_particles, log_weights, theta1, sigma
        )
    return fitted, output


def keep_if_shorter(
    fitted: Reference,
    potential_values: Array,
    frame_particles: Array,
    log_weights: Array,
    theta1: Array,
    sigma,
) -> Reference:
    """`fitted`, or the prior (in the fitted frame) where the path from it is no
    shorter: where the path's potential $U_q$ varies more than $U$ over weighted
    draws of the target (`frame_particles`, in the fitted frame, with $U$ there
    in `potential_values`). Both paths end at the target, and the variance of
    the potential there is what the last temperatures must cover. On a small
    network's disagreement the fit lengthened the path and doubled the spread of
    log Z-hat; on oblique quadratic and log-cosh problems it cut that variance
    from tens or hundreds to below one (docs/samplers.md)."""
    frame_theta1 = to_frame(theta1, fitted.basis)
    # U_q = U + the prior's quadratic term - the reference's (`potential`),
    # from the U the pilot already evaluated.
    prior_term = 0.5 * jnp.sum(
        jnp.square((frame_particles - frame_theta1[None, :]) / sigma), 1
    )
    reference_term = 0.5 * jnp.sum(
        jnp.square((frame_particles - fitted.mean[None, :]) / fitted.scale[None, :]), 1
    )
    path_values = potential_values + prior_term - reference_term
    weights = jnp.exp(log_weights - logsumexp(log_weights))

    def spread(values):
        return weights @ jnp.square(values - weights @ values)

    keep = spread(path_values) < spread(potential_values)
    return fitted._replace(
        mean=jnp.where(keep, fitted.mean, frame_theta1),
        scale=jnp.where(keep, fitted.scale, jnp.full_like(fitted.scale, sigma)),
    )
