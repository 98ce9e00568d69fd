r"""Driving the AIS kernel along a whole path: the adaptive schedule and `anneal`.

`samplers.ais` holds one step (reweight, resample, move) at a given temperature;
this module chooses the temperatures, by bisection on the conditional ESS
(`next_beta`) or from a fixed schedule, and runs the steps in one
`jax.lax.while_loop` from $\beta = 0$ to 1, or backwards from exact draws of
$\pi_1$ (`anneal`).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from blackjax.smc.solver import dichotomy
from jax import Array
from jax.scipy.special import logsumexp

from samplers.ais import (
    AISInfo,
    AISState,
    build_kernel,
    empty_info,
    global_log_weights,
    init,
    num_islands,
)
from samplers.base import PotentialFn, short_repr

__all__ = ["AnnealingOutput", "anneal", "next_beta"]


def next_beta(state: AISState, beta_end: float, target_ess: float) -> Array:
    r"""The next inverse temperature by bisection on the conditional ESS.

    The conditional ESS fraction of an increment $w_i = e^{-\Delta U_i}$ given the
    current normalised weights $W$ is $(\sum_i W_i w_i)^2 / \sum_i W_i w_i^2$. It is 1
    at $\Delta = 0$ and decreases with $|\Delta|$; we take the largest step towards
    `beta_end` that keeps it at or above `target_ess` in every island.
    """
    # blackjax's dichotomy returns a default-precision NaN in one branch, so the
    # search runs in the default float type (cheap: it only touches n numbers).
    dtype = jnp.result_type(float)
    beta = state.beta.astype(dtype)
    potential = state.potential.astype(dtype)
    islands = state.log_z.shape[0]
    potential = potential.reshape(islands, -1)
    log_weights = state.log_weights.astype(dtype).reshape(islands, -1)
    direction = jnp.sign(beta_end - beta)
    max_delta = jnp.abs(beta_end - beta)
    log_target = jnp.log(target_ess)

    def excess(delta):
        increment = -direction * delta * potential
        log_weighted = log_weights + increment
        log_cess = 2.0 * logsumexp(log_weighted, axis=1) - logsumexp(
            log_weighted + increment, axis=1
        )
        return jnp.min(log_cess) - log_target

    delta = dichotomy(excess, jnp.zeros_like(max_delta), max_delta, eps=1e-6)
    delta = jnp.clip(jnp.nan_to_num(delta, nan=0.0), 0.0, max_delta)
    return (beta + direction * delta).astype(state.beta.dtype)


class AnnealingOutput(NamedTuple):
    r"""Result of `anneal`.

    Attributes:
        state: final `AISState`, at `beta_end`.
        info: `AISInfo` stacked over `max_num_temperatures` steps; entries past
            `num_temperatures` are NaN (float fields) or False.
        num_temperatures: number of steps taken.
        log_z_thermodynamic: the thermodynamic-integration estimate
            $-\int \mathbb E_{\pi_\beta}[U]\, d\beta$ by the trapezoid rule over the
            visited temperatures (same particles, so a cross-check of the schedule's
            resolution rather than an independent estimate).
        reached_end: whether `beta_end` was reached before the step cap forced it.
    """

    state: AISState
    info: AISInfo
    num_temperatures: Array
    log_z_thermodynamic: Array
    reached_end: Array

    __repr__ = short_repr


def anneal(
    key: Array,
    particles: Array,
    potential_fn: PotentialFn,
    mean: Array,
    sigma,
    *,
    reverse: bool = False,
    schedule: Array | None = None,
    step_sizes: Array | None = None,
    target_ess: float = 0.9,
    max_num_temperatures: int = 1000,
    initial_step_size: float | None = None,
    **kernel_kwargs,
) -> AnnealingOutput:
    r"""Run the path from $\beta=0$ to 1 (or 1 to 0 when `reverse`).

    Args:
        key: PRNG key.
        particles: `(n, d)` exact draws of the start distribution ($\pi_0$, or
            $\pi_1$ when `reverse`).
        potential_fn: U of the path (see the module docstring).
        mean: the Gaussian base's mean.
        sigma: the Gaussian base's scale.
        reverse: run from $\beta=1$ down to 0.
        schedule: increasing inverse temperatures ending at 1 (the start, 0, is
            implicit); for `reverse` they are visited backwards, ending at 0. `None`
            chooses them adaptively.
        step_sizes: with `schedule`, the step size of the move at each of its
            temperatures (same order, same length), instead of steering it
            towards the target acceptance from the particles; for `reverse`
            they are visited backwards like the temperatures.
        target_ess: conditional ESS fraction kept per adaptive step.
        max_num_temperatures: cap of adaptive steps; the last one jumps to the end.
        initial_step_size: first step size in preconditioned units; default
            $d^{-1/3}$ for MALA and $d^{-1/4}$ for HMC (optimal-scaling rates).
        **kernel_kwargs: passed to `build_kernel`.

    Returns:
        An `AnnealingOutput`.
    """
    dim = particles.shape[1]
    dtype = particles.dtype
    beta_start, beta_end = (1.0, 0.0) if reverse else (0.0, 1.0)
    schedule, step_sizes = _fixed_schedule(schedule, step_sizes, reverse, dtype)
    if schedule is not None:
        max_num_temperatures = schedule.shape[0]
    if initial_step_size is None:
        # Optimal-scaling rates of MALA and HMC in d.
        hmc = kernel_kwargs.get("move", "mala") == "hmc"
        initial_step_size = dim ** (-1.0 / 4.0 if hmc else -1.0 / 3.0)
    step = build_kernel(potential_fn, mean, sigma, **kernel_kwargs)
    islands = num_islands(particles.shape[0], kernel_kwargs.get("precondition", True))
    state = init(
        particles,
        potential_fn,
        beta=beta_start,
        step_size=initial_step_size,
        islands=islands,
    )

    info = empty_info(state, max_num_temperatures)

    def choose_beta(state, index):
        if schedule is not None:
            return schedule[index]
        adaptive = next_beta(state, beta_end, target_ess)
        # At the cap, jump to the end so the estimate is still of the right ratio.
        return jnp.where(index == max_num_temperatures - 1, beta_end, adaptive)

    def cond(carry):
        state, _, index = carry
        # A NaN weight (a NaN C, or a NaN start) never reaches the end: stop there
        # with a NaN estimate instead of bisecting to the cap.
        finite = jnp.all(jnp.isfinite(state.log_z))
        return (state.beta != beta_end) & (index < max_num_temperatures) & finite

    def body(carry):
        state, info, index = carry
        beta = choose_beta(state, index)
        if step_sizes is not None:
            state = state._replace(step_size=step_sizes[index])
        state, step_info = step(jr.fold_in(key, index), state, beta)
        info = jax.tree.map(lambda buffer, x: buffer.at[index].set(x), info, step_info)
        return state, info, index + 1

    state, info, num_temperatures = jax.lax.while_loop(
        cond, body, (state, info, jnp.asarray(0))
    )

    log_z_thermodynamic = _trapezoid_log_z(state, info, num_temperatures)
    reached_end = (num_temperatures < max_num_temperatures) | (schedule is not None)
    if schedule is None:
        # The cap forces a jump in the last step; flag it unless it happened to be
        # the natural end.
        last_ess = info.ess[max_num_temperatures - 1]
        reached_end = reached_end | ~(last_ess < target_ess)
    return AnnealingOutput(
        state, info, num_temperatures, log_z_thermodynamic, reached_end
    )


def _fixed_schedule(schedule, step_sizes, reverse, dtype):
    """The temperatures and step sizes in the order they are visited, or
    ``None``."""
    if schedule is not None:
        schedule = jnp.asarray(schedule, dtype=dtype)
        if reverse:
            schedule = jnp.concatenate([schedule[::-1][1:], jnp.zeros((1,), dtype)])
    if step_sizes is not None:
        if schedule is None or jnp.shape(step_sizes) != schedule.shape:
            raise ValueError(
                "`step_sizes` needs a `schedule` of the same length, got "
                f"{jnp.shape(step_sizes)} step sizes."
            )
        step_sizes = jnp.asarray(step_sizes, dtype=dtype)
        if reverse:
            # The move towards schedule[k] used step_sizes[k]; backwards, the
            # move towards 0 takes the first temperature's.
            step_sizes = jnp.concatenate([step_sizes[::-1][1:], step_sizes[:1]])
    return schedule, step_sizes


def _trapezoid_log_z(state, info, num_temperatures):
    """Thermodynamic integration of the visited temperatures: the trapezoid rule,
    with E[U] at each end of every step."""
    index = jnp.arange(info.beta.shape[0])
    final_mean = jnp.exp(global_log_weights(state)) @ state.potential
    mean_end = jnp.where(
        index == num_temperatures - 1,
        final_mean,
        jnp.concatenate([info.mean_potential[1:], final_mean[None]]),
    )
    widths = info.beta - info.beta_start
    terms = jnp.where(
        index < num_temperatures, widths * 0.5 * (info.mean_potential + mean_end), 0.0
    )
    return -jnp.sum(terms)
