r"""Nested SGLD / SGHMC for $(\theta_1, \theta_2)$ on minibatches of the answers.

The outer chain moves the pair by blackjax's SGLD or SGHMC with the gradient

$$\nabla\big[\hat L_B(\theta_2) + \log\mathcal N(\theta_1;\theta_0,\sigma_1^2)
  + \log\mathcal N(\theta_2;\theta_1,\sigma_2^2) - \lambda C(\theta_2)\big]
  - \big(\widehat{\nabla\log Z}(\theta_1), 0\big),$$

$\hat L_B$ the minibatch likelihood scaled to the full answer set, $C$ on the
whole agreement set (or, with ``agreement_batch_size``, its mean over a fresh
minibatch of it), and $\widehat{\nabla\log Z}$ from K persistent inner chains
(:mod:`samplers.inner`) advanced a few MALA steps per outer step.

References:
    Welling & Teh (2011), Bayesian learning via stochastic gradient Langevin
    dynamics. Chen, Fox & Guestrin (2014), Stochastic gradient Hamiltonian Monte
    Carlo. Tieleman (2008), persistent contrastive divergence.
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import jax.random as jr
from blackjax.sgmcmc import diffusions
from jax import Array

from samplers.inner import (
    AgreementBatches,
    InnerState,
    build_inner_move,
    draw_batch,
    init_inner,
    inner_grad_log_z,
)
from samplers.precondition import PairedScale

__all__ = [
    "NestedSGLDState",
    "NestedSGLDInfo",
    "init",
    "build_kernel",
]

#: ``logdensity_fn(theta1, theta2, batch)``: every term but −log Z, minibatch-scaled.
LogDensityFn = Callable[[Array, Array, Array], Array]


class NestedSGLDState(NamedTuple):
    """The outer position and the persistent inner chains."""

    theta1: Array
    theta2: Array
    inner: InnerState


class NestedSGLDInfo(NamedTuple):
    """Diagnostics of one outer step.

    Attributes:
        step_size: the outer step size used.
        inner_acceptance_rate: mean MALA acceptance of the inner chains.
        inner_ess: effective sample size of the inner particles' weights once
            carried to this step's θ₁, before resampling (K when θ₁ did not
            move; see :mod:`samplers.inner`).
        inner_step_size: the inner chains' step size.
        diverging: the step gave a NaN or infinite position (a gradient that
            overflowed, a NaN likelihood or C); the chain then stays where it was.
    """

    step_size: Array
    inner_acceptance_rate: Array
    inner_ess: Array
    inner_step_size: Array
    diverging: Array


def init(
    key: Array,
    theta1: Array,
    theta2: Array,
    potential_fn: Callable[[Array], Array],
    sigma2: float,
    num_inner: int,
) -> NestedSGLDState:
    """The state at (θ₁, θ₂) with ``num_inner`` inner particles from N(θ₁, σ₂²)."""
    inner = init_inner(key, theta1, potential_fn, sigma2, num_inner)
    return NestedSGLDState(theta1, theta2, inner)


def build_kernel(
    logdensity_fn: LogDensityFn,
    potential_fn: Callable[[Array], Array],
    sigma2: float,
    *,
    num_data: int,
    batch_size: int,
    step_size: float | Callable[[Array], Array],
    algorithm: str = "sgld",
    num_inner_steps: int = 2,
    num_integration_steps: int = 5,
    friction: float | None = None,
    temperature: float = 1.0,
    include_log_partition: bool = True,
    agreement: AgreementBatches | None = None,
):
    r"""Build one outer step.

    Args:
        logdensity_fn: ``(theta1, theta2, batch) -> scalar``, every term of the log
            posterior but −log Z, the likelihood scaled to the whole answer set.
            For the essay's stop-gradient option, pass one whose λC term holds
            the intended head fixed; the value is unchanged, only the gradient
            dynamics differ.
        potential_fn: λC(θ), the density version, for the inner chains.
        sigma2: σ₂.
        num_data: size of the answer set.
        batch_size: answers per minibatch, drawn without replacement each step.
        step_size: a float or a schedule ``step_index -> step size``
            (e.g. an optax schedule).
        algorithm: ``"sgld"`` or ``"sghmc"``.
        num_inner_steps: MALA steps of the inner chains per outer step.
        num_integration_steps: SGHMC Euler steps per outer step, each on a
            fresh minibatch. The momentum is redrawn at every outer step and
            each Euler step takes its gradient at its start, so at a fixed
            count L the small-step limit
            is biased (the variance comes out about L/(L−1) times too large);
            shrink the step with ``step_size · num_integration_steps`` held
            fixed.
        friction: SGHMC friction γ, blackjax's ``alpha``: with the momentum of
            unit variance, ``step_size`` is a time step and the momentum decays
            as $e^{-\gamma t}$. Default 2/σ₂: the posterior's stiffest
            scale is about σ₂/√2 (θ₂ − θ₁), and the Euler steps inflate a
            variance by about $\varepsilon\omega^2/2\gamma$, so the friction
            must grow with the stiffness (blackjax's 0.01 leaves the chain
            barely damped).
        temperature: 1 samples the posterior; 0 makes SGLD a gradient step.
        include_log_partition: ``False`` drops −log Z(θ₁) (the agreement-penalty
            baseline); the inner chains then stay idle and their diagnostics
            are NaN.
        agreement: C on a fresh minibatch of the agreement set at each step,
            in the outer gradient (``logdensity_fn`` then gets the pair
            ``(answers, agreement inputs)`` of index arrays as its batch) and in
            the inner chains (:func:`samplers.inner.build_inner_move`).
            ``None``: all of S.

    Returns:
        ``step(key, state, step_index) -> (state, info)``.
    """
    if algorithm not in ("sgld", "sghmc"):
        raise ValueError(f"`algorithm` must be 'sgld' or 'sghmc', got {algorithm!r}.")
    schedule = step_size if callable(step_size) else (lambda _: step_size)
    inner_move = build_inner_move(
        potential_fn, sigma2, num_steps=num_inner_steps, agreement=agreement
    )
    grad_estimator = gradient_estimator(logdensity_fn, sigma2, include_log_partition)
    batches = functools.partial(
        draw_batch, num_data=num_data, batch_size=batch_size, agreement=agreement
    )

    if algorithm == "sgld":
        outer = blackjax.sgld.build_kernel()
    else:
        outer = _sghmc_kernel(
            2.0 / sigma2 if friction is None else friction,
            num_integration_steps,
            batches,
        )

    def step(key: Array, state: NestedSGLDState, step_index: Array, scale=None):
        """One outer step; with ``scale``, a
        :class:`~samplers.precondition.PairedScale`, it is taken in its
        coordinates z (a constant preconditioner), the step size in those units."""
        key_batch, key_inner, key_outer = jr.split(key, 3)
        batch = batches(key_batch)
        if include_log_partition:
            inner, acceptance = inner_move(key_inner, state.inner, state.theta1)
        else:
            inner, acceptance = state.inner, jnp.full((), jnp.nan, state.theta1.dtype)
        eps = jnp.asarray(schedule(step_index), state.theta1.dtype)
        if scale is None:
            scale = PairedScale.identity(state.theta1)

        def scaled_estimator(z, minibatch):
            return scale.pull(*grad_estimator(scale.to_theta(*z), minibatch))

        z1, z2 = outer(
            key_outer,
            scale.to_z(state.theta1, state.theta2),
            scaled_estimator,
            (batch, inner),
            eps,
            temperature=temperature,
        )
        theta1, theta2 = scale.to_theta(z1, z2)
        ess = inner.ess if include_log_partition else jnp.full((), jnp.nan, eps.dtype)
        new = NestedSGLDState(theta1, theta2, inner)
        # A non-finite step would poison every later one: keep the old state and
        # flag the step, so that the run reports it instead of returning NaN draws.
        finite = jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(new)])
        )
        new = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, state)
        info = NestedSGLDInfo(eps, acceptance, ess, inner.step_size, ~finite)
        return new, info

    return step


def _sghmc_kernel(friction, num_steps, batches):
    """blackjax's SGHMC kernel, but with a fresh minibatch at every Euler step.

    ``blackjax.sghmc`` takes all ``num_steps`` gradients of one call on the
    same minibatch, so the minibatch noise is the same for the whole trajectory
    and heats the chain about ``num_steps`` times more than independent
    batches would (on the 4.4k-parameter network, L fell to −490 where SGLD
    settles at −255). The Euler step is blackjax's (``diffusions.sghmc``), the
    momentum redrawn at each call as blackjax does.
    """
    integrator = diffusions.sghmc(alpha=friction)

    def kernel(key, position, grad_estimator, minibatch, step_size, temperature=1.0):
        _, inner = minibatch
        key_momentum, key_steps = jr.split(key)
        momentum = jax.tree.map(
            lambda x, k: jr.normal(k, x.shape, x.dtype),
            position,
            tuple(jr.split(key_momentum, len(position))),
        )

        def body(carry, key):
            key_batch, key_noise = jr.split(key)
            grad = grad_estimator(carry[0], (batches(key_batch), inner))
            return integrator(key_noise, *carry, grad, step_size, temperature), None

        keys = jr.split(key_steps, num_steps)
        (position, _), _ = jax.lax.scan(body, (position, momentum), keys)
        return position

    return kernel


def gradient_estimator(logdensity_fn: LogDensityFn, sigma2, include_log_partition):
    """``((θ₁, θ₂), (batch, inner)) -> (g₁, g₂)``: the minibatch gradient of the
    log posterior, −∇log Z(θ₁) from the inner particles included."""
    grad_logdensity = jax.grad(
        lambda position, batch: logdensity_fn(position[0], position[1], batch)
    )

    def grad_estimator(position, minibatch):
        batch, inner = minibatch
        grad_theta1, grad_theta2 = grad_logdensity(position, batch)
        if not include_log_partition:
            return grad_theta1, grad_theta2
        grad_log_z, _ = inner_grad_log_z(inner, position[0], sigma2)
        return grad_theta1 - grad_log_z, grad_theta2

    return grad_estimator
