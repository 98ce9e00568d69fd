r"""``find_map``: the maximum a posteriori (θ₁, θ₂) of a two-stage model, by optax."""

import functools
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jax import Array

from samplers import _checks, optimize
from samplers.base import short_repr
from samplers.health import SamplingWarning
from samplers.inner import AgreementBatches
from samplers.log_partition import log_partition
from samplers.programs import Deferred
from samplers.run import run_chains
from samplers.target import build_target, check_model

__all__ = ["MAPResult", "find_map"]


class MAPResult(NamedTuple):
    """What :func:`find_map` returns.

    Attributes:
        theta1, theta2: the optimum, flat vectors.
        log_joint: every term of the log posterior but −log Z at the optimum.
        log_partition: log Z(θ₁) at the optimum, by AIS (NaN for baselines
            without it).
        bits_saved: −log₂ Z(θ₁).
        loss: ``(num_steps,)`` the loss along the way (without log Z, whose
            value the optimiser never needs).
        grad_norm: ``(num_steps,)`` norm of the full gradient.
        inner_ess: ``(num_steps,)`` effective sample size of the inner
            particles whose weighted mean gave ∇log Z at each step (NaN for
            baselines without log Z): where it stays near 1, the ascent
            followed one particle.
    """

    theta1: Array
    theta2: Array
    log_joint: Array
    log_partition: Array
    bits_saved: Array
    loss: Array
    grad_norm: Array
    inner_ess: Array

    __repr__ = short_repr


def find_map(
    model,
    *,
    key: Array,
    num_steps: int = 2000,
    optimizer=None,
    batch_size: int | None = None,
    num_inner: int = 16,
    num_inner_steps: int = 2,
    baseline: str | None = None,
    stop_gradient_intended: bool = False,
    log_partition_particles: int = 256,
    init=None,
    progress: bool = True,
    agreement_batch_size: int | None = None,
    inner_refresh_every: int = 0,
) -> MAPResult:
    """The maximum a posteriori (θ₁, θ₂) by optax, from θ₁ = θ₂ = θ₀ or from
    the starts in ``init``, several side by side.

    Args:
        model: a ``posterior.TwoStageModel`` or an object with its functions.
        key: a typed key.
        num_steps: optimiser steps.
        optimizer: an optax transformation; default ``optax.adam(1e-2)``.
            Where ∇log Z comes from the inner chains (the two-stage
            posterior), a constant rate's last iterate keeps wandering; decay
            it, e.g. ``optax.adam(optax.cosine_decay_schedule(1e-2,
            num_steps))`` (docs/honest_qa.md measures the difference).
        batch_size: answers per minibatch; default all.
        num_inner: persistent inner particles for ∇log Z.
        num_inner_steps: their MALA steps per step.
        baseline: as in :func:`sample`.
        stop_gradient_intended: the essay's stop-gradient on the intended head
            in C's gradient (changes the dynamics; no density is involved).
        log_partition_particles: AIS particles for log Z at the optimum; 0
            skips that estimate (``log_partition`` is then NaN).
        init: where the optimiser starts: ``None`` (θ₁ = θ₂ = θ₀) or a pair
            ``(theta1, theta2)`` of flat vectors, ``(d,)`` for one start or
            ``(k, d)`` for ``k`` starts optimised side by side. With ``k``
            starts every field of the result gains a leading axis of length
            ``k`` (``sample(init=fit)`` then starts chain ``i`` at start
            ``i``'s optimum), and start ``i`` draws the random numbers it draws
            alone with the same key. A posterior with several modes has several
            optima: diverse starts find them, a single one cannot say which
            it missed.
        progress: show a progress bar.
        agreement_batch_size: agreement inputs per minibatch of C, as in
            :class:`SGLD`; default all.
        inner_refresh_every: replace the inner particles by a fresh AIS run
            (``num_inner`` particles, ``log_partition``'s moves) at the first
            step and every this many steps after; 0 never. Carried particles
            that θ₁ outruns give ∇log Z a wrong direction while the rate is
            high: on the honest-QA network their gradient's cosine with a
            fresh estimate fell to −0.1 mid-fit (docs/honest_qa.md). There
            each refresh cost about as much as a hundred steps, and more inner
            MALA steps (``num_inner_steps=4``) fitted better for less.

    Example:
        >>> import jax.random as jr
        >>> import posterior, samplers
        >>> case = posterior.LinearGaussianCase.random(
        ...     jr.key(0), d=3, m=2, n=8, lam=1.0, sigma1=1.0, sigma2=0.5
        ... )
        >>> fit = samplers.find_map(
        ...     case.model, key=jr.key(1), num_steps=100,
        ...     log_partition_particles=16, progress=False,
        ... )
        >>> fit.theta1.shape, bool(fit.loss[-1] < fit.loss[0])
        ((3,), True)
        >>> # A warm start for the chains: sample(..., init=fit).
        >>> starts = case.model.theta0[None] + jr.normal(jr.key(2), (4, 3))
        >>> fits = samplers.find_map(
        ...     case.model, key=jr.key(1), num_steps=100, init=(starts, starts),
        ...     log_partition_particles=16, progress=False,
        ... )
        >>> fits.theta1.shape, fits.log_partition.shape
        ((4, 3), (4,))
    """
    check_model(model)
    key = _checks.typed_key(key)
    num_steps = _checks.count(num_steps, "num_steps")
    batch_size = _checks.batch_size(batch_size, model)
    agreement_batch_size = _checks.agreement_batch_size(agreement_batch_size, model)
    num_inner = _checks.count(num_inner, "num_inner")
    num_inner_steps = _checks.count(num_inner_steps, "num_inner_steps")
    inner_refresh_every = _checks.count(
        inner_refresh_every, "inner_refresh_every", minimum=0
    )
    log_partition_particles = _checks.count(
        log_partition_particles, "log_partition_particles", minimum=0
    )
    optimizer = _optimizer(optimizer)
    start1, start2, several = _starts(init, jnp.asarray(model.theta0))
    target = build_target(
        model, baseline=baseline, stop_gradient_intended=stop_gradient_intended
    )
    sigma2 = float(model.sigma2)
    # Deferred (samplers.programs): a model of the same shapes finds the program.
    kernel = Deferred(
        optimize.build_kernel,
        target.log_joint,
        target.potential,
        sigma2,
        optimizer,
        num_data=int(model.num_answers),
        batch_size=batch_size,
        num_inner_steps=num_inner_steps,
        include_log_partition=target.include_log_partition,
        agreement=AgreementBatches.of(target, model, agreement_batch_size),
        inner_refresh_every=inner_refresh_every,
    )
    num_starts = start1.shape[0]
    key_init, key_run, key_log_z = jr.split(key, 3)
    # One key per start, as run_chains splits its key per chain: start i's
    # numbers do not depend on how many starts run beside it.
    states = jax.vmap(
        lambda k, t1, t2: optimize.init(
            k, t1, t2, optimizer, target.potential, sigma2, num_inner
        )
    )(jr.split(key_init, num_starts), start1, start2)
    final, records, _ = run_chains(
        kernel,
        states,
        key=key_run,
        num_steps=num_steps,
        record_fn=_map_record,
        progress=progress,
        description="MAP",
        phases=("", "optimising"),
    )
    # When num_steps has no divisor near num_steps / 20 the bar's last chunk runs
    # a few steps past it; for an optimiser that is harmless.
    fits = [
        _optimum(model, target, final, records, i, key, log_partition_particles)
        for i, key in enumerate(jr.split(key_log_z, num_starts))
    ]
    if not several:
        return fits[0]
    return MAPResult(*(jnp.stack(field) for field in zip(*fits, strict=True)))


def _optimum(model, target, final, records, index, key, num_particles) -> MAPResult:
    """Start ``index``'s optimum, its log joint and (AIS) log Z."""
    theta1, theta2 = final.theta1[index], final.theta2[index]
    finite = bool(jnp.all(jnp.isfinite(theta1)) & jnp.all(jnp.isfinite(theta2)))
    _warn_if_not_finite(np.asarray(records["loss"][index]), finite)
    nan = jnp.full((), jnp.nan, theta1.dtype)
    log_joint = target.log_joint(theta1, theta2) if finite else nan
    log_z = nan
    if finite and num_particles:
        log_z = _log_z(key, model, target, theta1, num_particles)
    return MAPResult(
        theta1,
        theta2,
        log_joint,
        log_z,
        -log_z / math.log(2.0),
        records["loss"][index],
        records["norm"][index],
        records["inner_ess"][index],
    )


def _starts(init, theta0) -> tuple[Array, Array, bool]:
    """``(k, d)`` starting θ₁ and θ₂, and whether ``init`` had a start axis."""
    if init is None:
        return theta0[None], theta0[None], False
    if not (isinstance(init, tuple | list) and len(init) == 2):
        raise TypeError(
            "`init` must be None or a pair (theta1, theta2); "
            f"got {type(init).__name__}."
        )
    shapes = [np.shape(value) for value in init]
    several = any(len(shape) == 2 for shape in shapes)
    num_starts = max((shape[0] for shape in shapes if len(shape) == 2), default=1)
    theta1, theta2 = _checks.initial_positions(tuple(init), theta0, num_starts)
    return theta1, theta2, several


def _map_record(key, state, info, draw):
    return {"loss": info.loss, "norm": info.grad_norm, "inner_ess": info.inner_ess}


@functools.cache
def _default_optimizer():
    # One object, so that its functions key the programs the same way each call.
    return optax.adam(1e-2)


def _optimizer(optimizer):
    if optimizer is None:
        return _default_optimizer()
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError("`optimizer` must be an optax.GradientTransformation.")
    return optimizer


def _log_z(key, model, target, theta1, num_particles):
    """log Z at the MAP's θ₁ by AIS; NaN where the target has no −log Z."""
    if not (target.lam > 0 and target.include_log_partition):
        return jnp.full((), jnp.nan, theta1.dtype)
    return log_partition(
        model.disagreement,
        theta1,
        lam=target.lam,
        sigma=float(model.sigma2),
        key=key,
        method="ais",
        num_particles=num_particles,
        # The samplers' path (their records and nested moves start from the
        # prior too), so that find_map's numbers compare with theirs.
        reference="prior",
    ).log_z


def _warn_if_not_finite(loss, finite: bool) -> None:
    if np.all(np.isfinite(loss)) and finite:
        return
    first = int(np.argmax(~np.isfinite(loss))) if not np.isfinite(loss).all() else -1
    warnings.warn(
        "find_map went NaN or infinite"
        + (f" at step {first}" if first >= 0 else "")
        + ": its optimum is meaningless. Lower the optimizer's learning rate, "
        "or check the model where the optimiser went.",
        SamplingWarning,
        stacklevel=3,
    )
