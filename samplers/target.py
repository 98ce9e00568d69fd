r"""The sampler-facing target of a two-stage model, for one baseline.

``model`` is any object with the plain functions of ``posterior.TwoStageModel``
(this package never imports ``posterior``): ``theta0``, ``num_params``, ``lam``,
``sigma1``, ``sigma2``, ``num_answers``, ``answers``, ``disagreement(theta, *,
stop_gradient_intended)``, ``log_likelihood(theta, batch)``,
``pointwise_log_likelihood(theta)``, ``log_prior(theta1)`` and
``intended(theta, inputs)``.
"""

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
from jax import Array

from samplers import _checks
from samplers.programs import Deferred

__all__ = ["BASELINES", "Target", "build_target", "check_model"]

#: ``None``: the two-stage posterior. ``"no_log_partition"``: the agreement
#: penalty without −log Z(θ₁). ``"single_head"``: no agreement term at all.
BASELINES = (None, "no_log_partition", "single_head")
_REQUIRED = (
    "theta0",
    "num_params",
    "lam",
    "sigma1",
    "sigma2",
    "num_answers",
    "answers",
    "disagreement",
    "log_likelihood",
    "pointwise_log_likelihood",
    "log_prior",
    "intended",
)


class Target(NamedTuple):
    """The functions a sampler needs, for one baseline.

    The functions of :func:`build_target` are pytrees of the model
    (:class:`~samplers.programs.Deferred`), so that the programs taking them
    compile once for every model of the same shapes; any callables work.

    Attributes:
        log_joint: ``(theta1, theta2, batch) -> scalar``: every term but −log Z.
        potential: λC(θ), 0 for the single-head baseline (a density: no
            stop-gradient).
        lam: the λ in force.
        include_log_partition: whether −log Z(θ₁) is part of the target.
        batch_potential: ``(theta, index) -> λC`` on the agreement inputs
            ``index``, for a model whose ``disagreement`` takes ``batch=``
            (``None`` otherwise). ``log_joint`` takes a pair ``(answers,
            agreement)`` of index arrays as its batch for the same minibatch.
    """

    log_joint: Callable[[Array, Array, Any], Array]
    potential: Callable[[Array], Array]
    lam: float
    include_log_partition: bool
    batch_potential: Callable[[Array, Array], Array] | None = None


def _log_normal(x, mean, sigma):
    return -jnp.sum((x - mean) ** 2) / (2 * sigma**2) - 0.5 * x.shape[-1] * math.log(
        2 * math.pi * sigma**2
    )


def build_target(
    model, *, baseline: str | None = None, stop_gradient_intended: bool = False
) -> Target:
    """The sampler-facing functions of ``model`` for a baseline (see `BASELINES`).

    Example:
        >>> import jax.random as jr
        >>> import posterior, samplers
        >>> case = posterior.LinearGaussianCase.random(
        ...     jr.key(0), d=3, m=2, n=8, lam=1.0, sigma1=1.0, sigma2=0.5
        ... )
        >>> target = samplers.build_target(case.model)
        >>> target.include_log_partition, target.lam
        (True, 1.0)
        >>> samplers.build_target(
        ...     case.model, baseline="no_log_partition"
        ... ).include_log_partition
        False
    """
    if baseline not in BASELINES:
        raise ValueError(f"`baseline` must be one of {BASELINES}, got {baseline!r}.")
    lam = 0.0 if baseline == "single_head" else float(model.lam)
    # λ as a one-element array, not a Python float or a scalar: JAX embeds
    # scalars in compiled programs but can pass arrays as arguments (see
    # docs/long_runs.md), and then a new λ compiles nothing new.
    weight = jnp.full((1,), lam, jnp.asarray(model.theta0).dtype)
    # Deferred, not closures: pytrees of the model, so that the programs that
    # take them compile once for every model of the same shapes
    # (samplers.programs).
    log_joint = Deferred(
        _log_joint_of, model, weight, float(model.sigma2), stop_gradient_intended
    )
    potential = Deferred(_potential_of, model, weight)
    batch_potential = (
        Deferred(_batch_potential_of, model, weight)
        if _checks.takes_agreement_batches(model)
        else None
    )
    return Target(
        log_joint, potential, lam, baseline is None and lam > 0, batch_potential
    )


def _log_joint_of(model, weight, sigma2, stop_gradient_intended):
    def log_joint(theta1, theta2, batch=None):
        options = {"stop_gradient_intended": stop_gradient_intended}
        if isinstance(batch, tuple):
            batch, options["batch"] = batch
        agreement = model.disagreement(theta2, **options)
        return (
            model.log_likelihood(theta2, batch)
            + model.log_prior(theta1)
            + _log_normal(theta2, theta1, sigma2)
            - jnp.sum(weight * agreement)
        )

    return log_joint


def _potential_of(model, weight):
    return lambda theta: jnp.sum(weight * model.disagreement(theta))


def _batch_potential_of(model, weight):
    return lambda theta, index: jnp.sum(weight * model.disagreement(theta, batch=index))


def check_model(model) -> None:
    missing = [name for name in _REQUIRED if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"`model` lacks {missing}; pass a posterior.TwoStageModel or an object "
            "with the same functions."
        )
    _checks.model_dtype(jnp.asarray(model.theta0))
