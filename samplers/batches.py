r"""Independent batches of one `log_partition` call, combined until the standard
error of $\log\hat Z$ is below a tolerance.

Each batch is the same compiled program with another key, so growing the budget
compiles nothing new and keeps every particle drawn so far. With batch
estimates $\hat Z_b$ of $B$ equal batches, $\hat Z = \operatorname{mean}_b
\hat Z_b$ (unbiased where each is), and with shares $s_b = \hat Z_b / \sum_c
\hat Z_c$ the relative variances add as $\sum_b s_b^2\,\mathrm{SE}_b^2$; the
gradient is $\sum_b s_b \nabla_b$, its SE $\sqrt{\sum_b s_b^2 \mathrm{SE}_b^2}$
(the shares held fixed).
"""

import math
import warnings

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from samplers.health import SamplingWarning
from samplers.log_z_types import LogPartitionResult

__all__ = ["combine", "until_tolerance"]


def until_tolerance(run, key, tolerance: float, max_batches: int):
    """``run(key)`` (one batch) with keys ``key``, ``fold_in(key, 1)``, … until
    the combined ``log_z_se`` is at most ``tolerance`` or ``max_batches`` ran;
    warns with the SE reached when the cap stops it first."""
    results = [run(key)]
    while float(combine(results).log_z_se) > tolerance and len(results) < max_batches:
        results.append(run(jax.random.fold_in(key, len(results))))
    combined = combine(results)
    if not float(combined.log_z_se) <= tolerance:
        warnings.warn(
            f"log_partition stopped at its cap of {max_batches} batches "
            f"({max_batches} × num_particles particles) with log_z_se "
            f"{float(combined.log_z_se):.3g} nats, above tolerance={tolerance}: "
            "raise `max_particles`, or loosen the tolerance.",
            SamplingWarning,
            stacklevel=3,
        )
    return combined


def combine(results: list[LogPartitionResult]) -> LogPartitionResult:
    """One result from independent batches of equal size. Their particles and
    log-weights are concatenated (``logmeanexp(log_weights) == log_z`` still
    holds); the records of the runs (``annealing``, ``reverse``, ``rejection``,
    ``pilot``, ``reference``) are the first batch's, and ``island_z`` the one
    of largest magnitude."""
    if len(results) == 1:
        return results[0]
    log_z_b = jnp.stack([r.log_z for r in results])
    share = jax.nn.softmax(log_z_b)
    log_z = logsumexp(log_z_b) - math.log(len(results))
    log_z_se = jnp.sqrt(
        jnp.sum(jnp.square(share * jnp.stack([r.log_z_se for r in results])))
    )
    log_weights = jnp.concatenate([r.log_weights for r in results])
    normalised = log_weights - logsumexp(log_weights)

    def shared(name):
        return jnp.tensordot(share, jnp.stack([getattr(r, name) for r in results]), 1)

    grad_se = jnp.sqrt(
        jnp.tensordot(
            jnp.square(share),
            jnp.stack([jnp.square(r.grad_log_z_se) for r in results]),
            1,
        )
    )
    upper = jnp.stack([r.log_z_upper for r in results])
    first = results[0]
    return first._replace(
        log_z=log_z,
        bits_saved=-log_z / math.log(2.0),
        ess=1.0 / jnp.sum(jnp.exp(2.0 * normalised)),
        log_weights=log_weights,
        particles=jnp.concatenate([r.particles for r in results]),
        grad_log_z=shared("grad_log_z"),
        grad_log_z_score=shared("grad_log_z_score"),
        grad_log_z_pathwise=shared("grad_log_z_pathwise"),
        # Reverse AIS is unbiased in 1/Z: average that.
        log_z_upper=-(logsumexp(-upper) - math.log(len(results))),
        log_z_thermodynamic=jnp.mean(
            jnp.stack([r.log_z_thermodynamic for r in results])
        ),
        log_weight_std=jnp.std(log_weights),
        log_z_se=log_z_se,
        bits_saved_se=log_z_se / math.log(2.0),
        grad_log_z_se=grad_se,
        island_z=_largest(jnp.stack([r.island_z for r in results])),
        num_temperatures=jnp.max(jnp.stack([r.num_temperatures for r in results])),
    )


def _largest(values):
    """The value of largest magnitude (the batches' worst disagreement)."""
    return values[jnp.argmax(jnp.abs(jnp.nan_to_num(values)))]
