"""`sample`'s run arguments, checked, with their defaults filled in, and the
settings in force as the DataTree's attributes."""

import warnings
from typing import NamedTuple

import numpy as np

from samplers import _checks, methods
from samplers._checks import count
from samplers.health import SamplingWarning
from samplers.record import default_log_partition_every

__all__ = ["MAP_START_PARAMS", "RunSettings", "attributes", "check_run"]

# Above this many parameters SGLD/SGHMC start from a MAP by default: a network's
# warm-up cannot also be its training.
MAP_START_PARAMS = 100


class RunSettings(NamedTuple):
    """`sample`'s run arguments, checked and with their defaults filled in."""

    num_chains: int
    num_samples: int
    num_warmup: int
    thin: int
    baseline: str | None
    indices: np.ndarray
    log_partition_every: int
    log_partition_particles: int
    init: object
    init_spread: float
    batch_size: int
    adaptive: bool

    def describe(self) -> dict:
        """The arguments that change the draws (``num_samples`` only adds
        draws), for a checkpoint's settings."""
        described = self._asdict()
        del described["num_samples"]
        described["param_indices"] = described.pop("indices")
        return described


#: Numbers of θ₁ and θ₂ a run records by default: 2 × chains × draws ×
#: coordinates, warm-up draws included (the chains' program records them too;
#: `sample` drops them at the end), 80 MB in float64.
STORE_BUDGET = 10**7


def stored_params(num_params: int, num_chains: int, num_draws: int) -> int:
    """Coordinates of θ₁ and θ₂ stored by default over ``num_draws`` recorded
    draws: all of them within :data:`STORE_BUDGET`, else as many as fit, with
    a warning that says how to keep them all (``predict`` needs every
    coordinate of θ₂)."""
    fit = max(1, STORE_BUDGET // (2 * num_chains * num_draws))
    if fit < num_params:
        warnings.warn(
            f"Storing {fit:,} of the model's {num_params:,} coordinates of θ₁ and "
            f"θ₂ (the default records at most {STORE_BUDGET:.0e} numbers: 2 × "
            f"{num_chains} chains × {num_draws} draws, warm-up included, × "
            "coordinates), so samplers.predict cannot use this run. Record fewer "
            "draws (num_warmup, num_samples, thin), choose coordinates "
            f"(param_indices), or pass max_full_params={num_params} to store "
            "them all.",
            SamplingWarning,
            stacklevel=4,
        )
    return min(fit, num_params)


def check_run(
    model,
    method,
    *,
    num_chains,
    num_samples,
    num_warmup,
    thin,
    baseline,
    param_indices,
    max_full_params,
    log_partition_every,
    log_partition_particles,
    init,
    init_spread,
) -> RunSettings:
    # In the order of the signature, so that the first bad argument is named.
    num_chains = count(num_chains, "num_chains")
    num_samples = count(num_samples, "num_samples")
    num_warmup = count(num_warmup, "num_warmup", minimum=0)
    thin = count(thin, "thin")
    num_params = int(model.num_params)
    if max_full_params is None:
        num_draws = -(-num_warmup // thin) + num_samples
        max_full_params = stored_params(num_params, num_chains, num_draws)
    indices = _checks.param_indices(
        param_indices, num_params, count(max_full_params, "max_full_params")
    )
    if log_partition_every is None:
        log_partition_every = default_log_partition_every(
            num_params, num_samples, exact=method.exact, baseline=baseline
        )
    log_partition_every = count(log_partition_every, "log_partition_every", minimum=0)
    log_partition_particles = count(log_partition_particles, "log_partition_particles")
    init_spread = _checks.non_negative(init_spread, "init_spread")
    if init is None and not method.exact and num_params > MAP_START_PARAMS:
        init = "map"
    if isinstance(init, str) and init not in ("map", "theta0"):
        raise ValueError(
            f"`init` must be 'map' or 'theta0' when a string, got {init!r}."
        )
    if isinstance(init, str) and init == "theta0":
        init = None
    if method.exact:
        batch_size, adaptive = int(model.num_answers), False
    else:
        batch_size = _checks.batch_size(method.batch_size, model)
        _checks.agreement_batch_size(method.agreement_batch_size, model)
        # No step size: a preconditioner and the step are adapted in warm-up.
        adaptive = method.step_size is None
        if not adaptive:
            _checks.step_size(method.step_size, (num_warmup + num_samples * thin) or 1)
    return RunSettings(
        num_chains,
        num_samples,
        num_warmup,
        thin,
        baseline,
        indices,
        log_partition_every,
        log_partition_particles,
        init,
        init_spread,
        batch_size,
        adaptive,
    )


def attributes(method, run, target, model, theta1_move) -> dict:
    """The settings in force, for ``tree.attrs``."""
    attrs = {
        "method": method.name,
        "baseline": run.baseline or "two_stage",
        "approximate": int(not method.exact or theta1_move == "nested_ais"),
        "theta1_update": theta1_move,
        "stop_gradient_intended": int(getattr(method, "stop_gradient_intended", 0)),
        "adaptive": int(run.adaptive),
        "lam": target.lam,
        "sigma1": float(model.sigma1),
        "sigma2": float(model.sigma2),
    }
    if theta1_move == "exchange":
        attrs["joint_steps"] = method.theta1.joint_steps
        attrs["bridges"] = method.theta1.bridges
    if theta1_move == "nested_ais":
        nested = methods.nested_move(method)
        attrs["nested_particles"] = nested.particles
        attrs["joint_steps"] = nested.joint_steps
    if not method.exact and target.include_log_partition:
        attrs["num_inner"] = method.num_inner
    if not method.exact and method.agreement_batch_size is not None:
        attrs["agreement_batch_size"] = method.agreement_batch_size
    if target.include_log_partition:
        attrs["log_partition_every"] = run.log_partition_every
        attrs["log_partition_particles"] = run.log_partition_particles
    return attrs
