"""`sample`'s method keywords: a method's name with ``step_size=``,
``theta1_update=``... becomes its object (:mod:`samplers.methods`), and a method
object becomes the settings a checkpoint stores, under those same names.

Example:
    >>> from samplers import keywords
    >>> keywords.from_keywords("nuts", theta1_update="nested_ais", nested_particles=32)
    NUTS(theta1=NestedAIS(particles=32), dense_mass=False)
    >>> keywords.from_keywords("sgld", theta1_update="exchange")
    Traceback (most recent call last):
        ...
    ValueError: `theta1_update` chooses the θ₁ move of 'nuts' and 'hmc'; method='sgld' moves θ₁ by its own gradient steps.
"""

import dataclasses

from samplers._checks import count
from samplers.methods import (
    HMC,
    METHODS,
    NUTS,
    SGHMC,
    SGLD,
    Exchange,
    NestedAIS,
    nested_move,
    nested_options,
)

__all__ = ["describe", "from_keywords"]

_CLASSES = {cls.name: cls for cls in (NUTS, HMC, SGLD, SGHMC)}
# Where each of `sample`'s method keywords goes, per method.
_EXACT_ONLY = ("theta1_update", "nested_particles", "max_rejection_draws")
_STOCHASTIC_ONLY = (
    "step_size",
    "batch_size",
    "num_inner",
    "num_inner_steps",
    "stop_gradient_intended",
)


def from_keywords(method, **keywords):
    """The method object of ``method`` (a name or an object), with `sample`'s
    method keywords filled in; those left ``None`` keep the defaults.

    A keyword that the method does not use is refused, naming it, and so is any
    keyword beside a method object (it carries its settings itself).
    """
    given = {name: value for name, value in keywords.items() if value is not None}
    _check_types(given)
    if not isinstance(method, str):
        if not isinstance(method, tuple(_CLASSES.values())):
            raise TypeError(
                f"`method` must be one of {METHODS} or a method object "
                f"(samplers.NUTS, HMC, SGLD, SGHMC), got {method!r}."
            )
        if given:
            names = ", ".join(f"`{name}`" for name in given)
            raise ValueError(
                f"{names} cannot be given beside a method object: set "
                f"{'them' if len(given) > 1 else 'it'} on {method!r}."
            )
        return method
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    cls = _CLASSES[method]
    exact = cls.exact
    for name in _STOCHASTIC_ONLY if exact else _EXACT_ONLY:
        if name in given:
            raise ValueError(_not_for(name, method))
    if "num_integration_steps" in given and method not in ("hmc", "sghmc"):
        raise ValueError(_not_for("num_integration_steps", method))
    if exact:
        theta1 = _theta1_from_keywords(given)
        extra = {}
        if "num_integration_steps" in given:
            extra["num_integration_steps"] = given["num_integration_steps"]
        return cls(theta1=theta1, **extra)
    return cls(**{name: given[name] for name in given})


def _theta1_from_keywords(given):
    update = given.get("theta1_update", "auto")
    if update not in ("auto", "exchange", "nested_ais"):
        raise ValueError(
            "`theta1_update` must be 'auto', 'exchange' or 'nested_ais', got "
            f"{update!r}."
        )
    nested = NestedAIS(given.get("nested_particles", 64))
    if update == "nested_ais":
        return nested
    max_draws = given.get("max_rejection_draws", 10**5)
    return Exchange(max_draws, fallback=nested if update == "auto" else None)


def _check_types(given):
    # Before the check of which method uses what, and under the keywords' own
    # names (the objects call them `particles` and `max_draws`); the other
    # keywords are the objects' field names, checked there.
    if "nested_particles" in given:
        count(given["nested_particles"], "nested_particles", minimum=4)
    if "max_rejection_draws" in given:
        count(given["max_rejection_draws"], "max_rejection_draws")


def _not_for(name, method):
    if name == "step_size":
        return (
            f"`step_size` applies to 'sgld' and 'sghmc' only; method={method!r} "
            "adapts its step size in warm-up (window adaptation)."
        )
    if name == "stop_gradient_intended":
        return (
            "`stop_gradient_intended` changes only gradient dynamics and defines no "
            f"density, so method={method!r} cannot use it; use 'sgld' or 'sghmc'."
        )
    if name == "theta1_update":
        return (
            "`theta1_update` chooses the θ₁ move of 'nuts' and 'hmc'; "
            f"method={method!r} moves θ₁ by its own gradient steps."
        )
    return f"`{name}` does not apply to method={method!r}."


def describe(method) -> dict:
    """The method's settings under `sample`'s keyword names, for the settings a
    checkpoint stores; a schedule enters by its name."""
    if method.exact:
        theta1 = method.theta1
        nested = nested_move(method)
        described = {
            "theta1_update": (
                "auto"
                if isinstance(theta1, Exchange) and theta1.fallback is not None
                else theta1.name
            ),
            "nested_particles": None if nested is None else nested.particles,
            "max_rejection_draws": getattr(theta1, "max_draws", None),
        }
        if isinstance(method, HMC):
            described["num_integration_steps"] = method.num_integration_steps
        if method.dense_mass:
            described["dense_mass"] = True
        # Only when set, as in Exchange's repr: earlier checkpoints still match.
        for name in ("joint_steps", "bridges"):
            if getattr(theta1, name, 0):
                described[name] = getattr(theta1, name)
        if nested is not None:
            # Only where they differ from the defaults, as in NestedAIS's repr.
            for name, value in nested_options(nested).items():
                described[f"nested_{name}"] = value
        return described
    # batch_size enters `sample`'s settings resolved against the model.
    described = {
        field.name: getattr(method, field.name)
        for field in dataclasses.fields(method)
        if field.name != "batch_size"
    }
    # Only when set, as in SGLD's repr: earlier checkpoints still match.
    if method.agreement_batch_size is None:
        del described["agreement_batch_size"]
    if callable(method.step_size):
        described["step_size"] = getattr(method.step_size, "__name__", "schedule")
    return described
