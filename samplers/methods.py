r"""The methods of `sample`, as objects that carry their own settings.

Configured the way an optax optimiser is: one object per method holds (and
checks, when it is made) the settings that belong to that method alone, so a
setting can never be given to a method that ignores it::

    samplers.sample(model, key=key, method=samplers.NUTS(theta1=samplers.NestedAIS(particles=32)))
    samplers.sample(model, key=key, method=samplers.SGLD(batch_size=64, step_size=1e-4))

Example:
    >>> import samplers
    >>> samplers.NUTS(theta1=samplers.Exchange(max_draws=10_000))
    NUTS(theta1=Exchange(max_draws=10000, fallback=None), dense_mass=False)
    >>> samplers.NUTS()  # "auto": exact draws, nested AIS where they cost too much
    NUTS(theta1=Exchange(max_draws=100000, fallback=NestedAIS(particles=64)), dense_mass=False)
    >>> samplers.SGLD(batch_size=0)
    Traceback (most recent call last):
        ...
    ValueError: `batch_size` must be at least 1, got 0.

The strings ``"nuts"``, ``"hmc"``, ``"sgld"`` and ``"sghmc"`` are these objects
with their defaults; `sample`'s method keywords (``step_size=``,
``theta1_update=``...) fill them in (:func:`samplers.keywords.from_keywords`).
"""

import dataclasses
from collections.abc import Callable
from typing import ClassVar

from samplers._checks import count, positive
from samplers.health import MAX_LOG_Z_SE

__all__ = [
    "HMC",
    "METHODS",
    "NUTS",
    "SGHMC",
    "SGLD",
    "Exchange",
    "NestedAIS",
    "nested_move",
    "nested_options",
    "with_nested_particles",
]

METHODS = ("nuts", "hmc", "sgld", "sghmc")


def _set(instance, name, value):
    # Frozen dataclasses: __post_init__ normalises through object.__setattr__.
    object.__setattr__(instance, name, value)


@dataclasses.dataclass(frozen=True)
class NestedAIS:
    """θ₁ | θ₂ by MALA, with log Z and ∇log Z from nested AIS (approximate).

    Attributes:
        particles: AIS particles per nested estimate (at least 4).
        joint_steps: 0 (default): θ₁ | θ₂ only; L > 0: each sweep also moves
            (θ₁, θ₂) along an HMC trajectory of L steps, as
            ``Exchange(joint_steps=L)`` does, with the nested estimate of
            log Z(θ₁) − log Z(θ₁') in place of the exchange device
            (:mod:`samplers.nested`): two more nested AIS runs per sweep, for
            moves along the coupling of θ₁ and θ₂ that a θ₁ | θ₂ move makes
            only in steps of τ.
        tolerance: the standard error of the nested log Ẑ (nats) that warm-up
            aims for: where a chain's mean over a stretch of warm-up is above
            it, `sample` starts again with more particles, about
            ``(se / tolerance)²`` times as many (at least twice), up to
            ``max_particles``, and ``tree.attrs["nested_particles"]`` gives the
            budget it ended with. The noise of log Ẑ biases θ₁, and the
            default is the level above which `sample`'s health check warns
            (:data:`samplers.health.MAX_LOG_Z_SE`). ``None`` keeps
            ``particles`` fixed. Not with a checkpoint or a resumed run, whose
            budget is the one it started with.
        max_particles: the cap on that budget (default 1024, or
            ``particles`` if more); a run that reaches it above ``tolerance``
            warns.

    Example:
        >>> import samplers
        >>> samplers.NUTS(theta1=samplers.NestedAIS(particles=32))
        NUTS(theta1=NestedAIS(particles=32), dense_mass=False)
        >>> samplers.NestedAIS(joint_steps=8)
        NestedAIS(particles=64, joint_steps=8)
        >>> samplers.NestedAIS(particles=16, tolerance=None)  # a fixed budget
        NestedAIS(particles=16, tolerance=None)
        >>> samplers.NestedAIS(particles=0)
        Traceback (most recent call last):
        ...
        ValueError: `particles` must be at least 4, got 0.
    """

    particles: int = 64
    joint_steps: int = 0
    tolerance: float | None = MAX_LOG_Z_SE
    max_particles: int | None = None
    name: ClassVar[str] = "nested_ais"

    def __post_init__(self):
        _set(self, "particles", count(self.particles, "particles", minimum=4))
        _set(self, "joint_steps", count(self.joint_steps, "joint_steps", minimum=0))
        if self.tolerance is not None:
            _set(self, "tolerance", positive(self.tolerance, "tolerance"))
        if self.max_particles is None:
            _set(self, "max_particles", max(_MAX_PARTICLES, self.particles))
        _set(self, "max_particles", count(self.max_particles, "max_particles"))
        if self.max_particles < self.particles:
            raise ValueError(
                f"`max_particles`={self.max_particles} must be at least "
                f"`particles`={self.particles}."
            )

    def __repr__(self):
        # The options appear only when set, as Exchange's do, so that the
        # settings stored with earlier runs still describe theirs.
        extra = "".join(f", {n}={v}" for n, v in nested_options(self).items())
        return f"NestedAIS(particles={self.particles}{extra})"

    def with_particles(self, particles: int) -> "NestedAIS":
        """The same move with another budget."""
        return dataclasses.replace(self, particles=particles)


_MAX_PARTICLES = 1024


def nested_options(nested: NestedAIS) -> dict:
    """A nested-AIS move's options other than ``particles`` that differ from
    their defaults."""
    defaults = {
        "joint_steps": 0,
        "tolerance": MAX_LOG_Z_SE,
        "max_particles": max(_MAX_PARTICLES, nested.particles),
    }
    return {
        name: getattr(nested, name)
        for name, default in defaults.items()
        if getattr(nested, name) != default
    }


@dataclasses.dataclass(frozen=True)
class Exchange:
    """θ₁ | θ₂ by the exchange algorithm with exact auxiliary draws (exact).

    A pilot at θ₀ estimates the proposals per auxiliary draw, about 1/Z; above
    10⁴, `sample` refuses before compiling, or, with a ``fallback``, uses it.
    With a ``fallback``, `sample` also watches the draws' cost in warm-up, where
    the chains reach the posterior (often where Z is far smaller than at θ₀),
    and starts again with the fallback when it is too high
    (:class:`samplers.scout.ExchangeScout`).

    Attributes:
        max_draws: cap on one auxiliary draw's proposals. A draw that reaches it
            rejects its move, which biases θ₁ towards larger Z; `sample` warns
            when any kept sweep did.
        fallback: the move to use when the pilot refuses the exchange move.
        joint_steps: 0 (default): each sweep also shifts θ₁ and θ₂ by one
            random vector; L > 0: by an HMC trajectory of L steps along their
            coupling instead (:mod:`samplers.bridging`).
        bridges: intermediate targets in every exchange ratio, so that longer
            moves are accepted; each costs one gradient of C. Exact for any
            number. On the oblique d = 4 case of docs/benchmarks.md,
            ``joint_steps=8, bridges=16`` gave θ₁ 3–7× the effective sample
            size per draw of the default sweep, and 1.5–6× per second.

    Example:
        >>> import samplers
        >>> samplers.Exchange(max_draws=1000)  # no fallback: a refusal is an error
        Exchange(max_draws=1000, fallback=None)
        >>> samplers.NUTS().theta1  # "auto"
        Exchange(max_draws=100000, fallback=NestedAIS(particles=64))
        >>> samplers.Exchange(joint_steps=4, bridges=16)
        Exchange(max_draws=100000, fallback=None, joint_steps=4, bridges=16)
    """

    max_draws: int = 10**5
    fallback: NestedAIS | None = None
    joint_steps: int = 0
    bridges: int = 0
    name: ClassVar[str] = "exchange"

    def __post_init__(self):
        _set(self, "max_draws", count(self.max_draws, "max_draws"))
        if self.fallback is not None and not isinstance(self.fallback, NestedAIS):
            raise TypeError(
                f"`fallback` must be a NestedAIS or None, got {self.fallback!r}."
            )
        _set(self, "joint_steps", count(self.joint_steps, "joint_steps", minimum=0))
        _set(self, "bridges", count(self.bridges, "bridges", minimum=0))

    def __repr__(self):
        # The two options appear only when set, so that the settings stored
        # with earlier runs still describe theirs.
        extra = "".join(
            f", {name}={getattr(self, name)}"
            for name in ("joint_steps", "bridges")
            if getattr(self, name)
        )
        return (
            f"Exchange(max_draws={self.max_draws}, fallback={self.fallback!r}{extra})"
        )


_THETA1_MOVES = {
    "auto": lambda: Exchange(fallback=NestedAIS()),
    "exchange": Exchange,
    "nested_ais": NestedAIS,
}


def _theta1_move(theta1):
    if isinstance(theta1, Exchange | NestedAIS):
        return theta1
    if isinstance(theta1, str) and theta1 in _THETA1_MOVES:
        return _THETA1_MOVES[theta1]()
    raise ValueError(
        "`theta1` must be 'auto', 'exchange', 'nested_ais', an Exchange or a "
        f"NestedAIS, got {theta1!r}."
    )


def nested_move(method) -> NestedAIS | None:
    """An exact method's nested-AIS move: its θ₁ move, or the exchange move's
    fallback (``None`` when it has neither)."""
    theta1 = getattr(method, "theta1", None)
    return (
        theta1 if isinstance(theta1, NestedAIS) else getattr(theta1, "fallback", None)
    )


def with_nested_particles(method, particles: int):
    """``method`` with its nested-AIS move's budget set to ``particles``."""
    theta1 = method.theta1
    if isinstance(theta1, NestedAIS):
        return dataclasses.replace(method, theta1=theta1.with_particles(particles))
    fallback = theta1.fallback.with_particles(particles)
    return dataclasses.replace(
        method, theta1=dataclasses.replace(theta1, fallback=fallback)
    )


@dataclasses.dataclass(frozen=True)
class NUTS:
    """Exact Gibbs sweeps: θ₂ | θ₁ by blackjax NUTS with window adaptation per
    chain, then θ₁ | θ₂ by ``theta1``.

    Where there is no log Z (a ``baseline``), one kernel moves θ₁ and θ₂
    together instead (:mod:`samplers.joint`) and ``theta1`` is unused.

    Attributes:
        theta1: the θ₁ move: an :class:`Exchange`, a :class:`NestedAIS`, or
            ``"auto"`` (``Exchange(fallback=NestedAIS())``), ``"exchange"``,
            ``"nested_ais"``.
        dense_mass: adapt a dense mass matrix instead of a diagonal one (for
            θ₂ | θ₁, or for the joint kernel's (θ₁, θ₂)): for correlated
            coordinates, at d² memory and a d² cost per leapfrog step.

    Example:
        >>> import samplers
        >>> samplers.NUTS(theta1="nested_ais", dense_mass=True)
        NUTS(theta1=NestedAIS(particles=64), dense_mass=True)
    """

    theta1: Exchange | NestedAIS | str = "auto"
    dense_mass: bool = False
    name: ClassVar[str] = "nuts"
    exact: ClassVar[bool] = True

    def __post_init__(self):
        _set(self, "theta1", _theta1_move(self.theta1))
        if not isinstance(self.dense_mass, bool):
            raise TypeError(
                f"`dense_mass` must be True or False, got {self.dense_mass!r}."
            )


@dataclasses.dataclass(frozen=True)
class HMC(NUTS):
    """As :class:`NUTS`, with θ₂ | θ₁ by HMC of a fixed trajectory length.

    Attributes:
        num_integration_steps: leapfrog steps per θ₂ move.

    Example:
        >>> import samplers
        >>> samplers.HMC(num_integration_steps=5).num_integration_steps
        5
    """

    num_integration_steps: int = 10
    name: ClassVar[str] = "hmc"

    def __post_init__(self):
        super().__post_init__()
        steps = count(self.num_integration_steps, "num_integration_steps")
        _set(self, "num_integration_steps", steps)


@dataclasses.dataclass(frozen=True)
class SGLD:
    r"""Minibatch SGLD (blackjax) on (θ₁, θ₂), with ∇log Z(θ₁) from persistent
    inner chains. Approximate: its bias shrinks with the step size.

    Attributes:
        step_size: a float or a schedule ``step -> size`` (a squared length for
            SGLD, a time step for SGHMC). ``None``: adapted in warm-up, with a
            paired (θ₁ⱼ, θ₂ⱼ) preconditioner, to a variance bias of 5% in the
            stiffest direction (:mod:`samplers.precondition`).
        batch_size: answers per minibatch; ``None``: all of them.
        num_inner: persistent inner particles.
        num_inner_steps: inner MALA steps per outer step.
        stop_gradient_intended: the essay's stop-gradient on the intended head
            in C's gradient (gradient dynamics only: it defines no density).
        agreement_batch_size: agreement inputs per minibatch of C, drawn
            afresh each step for the outer gradient and the inner chains
            (approximate: docs/samplers.md); ``None``: all of them.

    Example:
        >>> import samplers
        >>> samplers.SGLD(batch_size=64)
        SGLD(step_size=None, batch_size=64, num_inner=16, num_inner_steps=2, stop_gradient_intended=False)
        >>> samplers.SGLD(batch_size=64, agreement_batch_size=128)
        SGLD(step_size=None, batch_size=64, num_inner=16, num_inner_steps=2, stop_gradient_intended=False, agreement_batch_size=128)
        >>> samplers.SGLD(batch_size=0)
        Traceback (most recent call last):
        ...
        ValueError: `batch_size` must be at least 1, got 0.
    """

    step_size: float | Callable | None = None
    batch_size: int | None = None
    num_inner: int = 16
    num_inner_steps: int = 2
    stop_gradient_intended: bool = False
    agreement_batch_size: int | None = None
    name: ClassVar[str] = "sgld"
    exact: ClassVar[bool] = False

    def __post_init__(self):
        if self.step_size is not None and not callable(self.step_size):
            positive(self.step_size, "step_size")
        for name in ("batch_size", "agreement_batch_size"):
            if getattr(self, name) is not None:
                _set(self, name, count(getattr(self, name), name))
        _set(self, "num_inner", count(self.num_inner, "num_inner"))
        _set(self, "num_inner_steps", count(self.num_inner_steps, "num_inner_steps"))
        if not isinstance(self.stop_gradient_intended, bool):
            raise TypeError(
                "`stop_gradient_intended` must be a bool, got "
                f"{self.stop_gradient_intended!r}."
            )

    def __repr__(self):
        # agreement_batch_size only when set, so that the settings stored
        # with earlier runs still describe theirs.
        fields = dataclasses.asdict(self)
        if self.agreement_batch_size is None:
            del fields["agreement_batch_size"]
        shown = ", ".join(f"{name}={value!r}" for name, value in fields.items())
        return f"{type(self).__name__}({shown})"


@dataclasses.dataclass(frozen=True)
class SGHMC(SGLD):
    """As :class:`SGLD`, by blackjax SGHMC (unit-variance momentum, redrawn each
    outer step).

    Attributes:
        num_integration_steps: Euler steps per outer step. ``None``: with an
            adapted step, `samplers.precondition.SGHMC_STEPS`; with a given one,
            a trajectory time of σ₂ (``round(σ₂ / step_size)``), since a fixed
            count is biased as the step shrinks.

    Example:
        >>> import samplers
        >>> samplers.SGHMC(batch_size=32).num_integration_steps is None
        True
    """

    num_integration_steps: int | None = None
    name: ClassVar[str] = "sghmc"
    __repr__ = SGLD.__repr__

    def __post_init__(self):
        super().__post_init__()
        if self.num_integration_steps is not None:
            steps = count(self.num_integration_steps, "num_integration_steps")
            _set(self, "num_integration_steps", steps)

    def trajectory_steps(self, sigma2: float, adapted_steps: int) -> int:
        """The Euler steps per outer step in force for a model's σ₂."""
        if self.num_integration_steps is not None:
            return self.num_integration_steps
        if self.step_size is None:
            return adapted_steps
        first = self.step_size(0) if callable(self.step_size) else self.step_size
        return max(1, round(sigma2 / float(first)))
