"""What goes into `estimate_log_z` and what comes out: `LogZConfig` and
`LogPartitionResult` (also what `samplers.log_partition` returns)."""

from typing import NamedTuple

import equinox as eqx
from jax import Array

from samplers import reference as reference_path
from samplers import rejection
from samplers.annealing import AnnealingOutput
from samplers.base import short_repr

__all__ = ["LogPartitionResult", "LogZConfig"]


class LogZConfig(eqx.Module):
    """Settings of `estimate_log_z` (see `samplers.log_partition` for each).

    Every setting but the arrays `schedule` and `step_sizes` is static: a config is
    an argument of compiled programs, and a new one with the same settings reuses
    them.

    Example:
        >>> import samplers
        >>> config = samplers.LogZConfig(num_particles=64, move="hmc")
        >>> config.num_particles, config.num_mcmc_steps
        (64, 5)
        >>> config == samplers.LogZConfig(num_particles=64, move="hmc")
        True
    """

    method: str = eqx.field(static=True, default="ais")
    num_particles: int = eqx.field(static=True, default=256)
    schedule: Array | None = None
    step_sizes: Array | None = None
    target_ess: float = eqx.field(static=True, default=0.9)
    max_num_temperatures: int = eqx.field(static=True, default=1000)
    move: str = eqx.field(static=True, default="mala")
    num_mcmc_steps: int = eqx.field(static=True, default=5)
    num_integration_steps: int = eqx.field(static=True, default=5)
    resample_threshold: float = eqx.field(static=True, default=0.5)
    precondition: bool = eqx.field(static=True, default=True)
    upper: bool = eqx.field(static=True, default=False)
    batch_size: int = eqx.field(static=True, default=1024)
    max_rejection_draws: int = eqx.field(static=True, default=10**6)
    reference: str = eqx.field(static=True, default="prior")
    pilot_particles: int | None = eqx.field(static=True, default=None)

    def anneal_kwargs(self) -> dict:
        return dict(
            schedule=self.schedule,
            step_sizes=self.step_sizes,
            target_ess=self.target_ess,
            max_num_temperatures=self.max_num_temperatures,
            move=self.move,
            num_mcmc_steps=self.num_mcmc_steps,
            num_integration_steps=self.num_integration_steps,
            resample_threshold=self.resample_threshold,
            precondition=self.precondition,
        )

    def pilot_size(self) -> int:
        # Fewest pilot particles by default: with two islands of two the adaptive
        # pilot takes a few huge steps and its cloud collapses onto one particle
        # (seen at d = 100), which leaves the fit nothing to go on.
        if self.pilot_particles is not None:
            return self.pilot_particles
        return max(16, self.num_particles // 8 * 2)


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
        log_z_se: standard error of `log_z` (nats) from the run itself: for
            AIS from its weights' dispersion, assuming moves that mix
            (`samplers.standard_errors.log_z_se`); for rejection the delta method. It does
            not include AIS's downward bias (compare `log_z_upper`, or a
            larger budget).
        bits_saved_se: the same in bits.
        grad_log_z_se: `(d,)` standard errors of `grad_log_z`, from the run
            itself: for AIS by the particles' ancestry
            (`samplers.standard_errors.weighted_mean_se`), for rejection the SE of a mean.
            Where the problem is quadratic in a coordinate the control variate
            makes that coordinate exact, and its SE near 0.
        island_z: the forward path's two islands, independent runs, against
            each other: the difference of their log Ẑ over what `log_z_se`
            allows for it (`samplers.standard_errors.island_z`). About standard
            normal when the moves mix; far beyond ±4, they did not, and
            `log_z_se` is too small. NaN with one island (no preconditioning)
            or for rejection.
        num_temperatures: temperatures of the forward path (0 for rejection).
        annealing: forward `AnnealingOutput` (its `state` dropped), or None.
        reverse: reverse `AnnealingOutput` (its `state` dropped), or None.
        rejection: `rejection.RejectionResult` of the exact sampler, or None.
        pilot: the pilot's `AnnealingOutput` (its `state` dropped) when
            `reference` is `"fitted"` or `"auto"`, else None.
        reference: the `reference.Reference` the paths started from when
            `reference` is `"fitted"` or `"auto"` (the prior, in the fitted
            frame, where `"auto"` kept it: scales all $\\sigma$), else None.
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
    log_z_se: Array
    bits_saved_se: Array
    grad_log_z_se: Array
    island_z: Array
    num_temperatures: Array
    annealing: AnnealingOutput | None
    reverse: AnnealingOutput | None
    rejection: rejection.RejectionResult | None
    pilot: AnnealingOutput | None
    reference: reference_path.Reference | None

    __repr__ = short_repr
