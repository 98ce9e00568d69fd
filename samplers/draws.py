"""One `sample` call's draws: the target, the chains' start (the MAP when
``init`` asks for one, the method's set-up), then the run and its record, again
with the fallback when the exchange move's watch in warm-up says it costs too
much, or with more nested particles when the nested move's says its log Ẑ is
too noisy. :mod:`samplers.sample` checks the arguments first and turns the
records into ArviZ data after.
"""

import time
import warnings

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from samplers import chains, methods, scout
from samplers.health import SamplingWarning
from samplers.mode import find_map
from samplers.programs import Deferred
from samplers.record import build_record
from samplers.run import run_chains
from samplers.settings import RunSettings
from samplers.target import build_target

__all__ = ["draw"]


def draw(key, model, method, run, seconds, *, watch, progress, **run_arguments):
    """The method in force, the target, the θ₁ move and the kept draws' records.

    With ``watch`` (no checkpoint), warm-up is watched: under ``theta1="auto"``
    the exchange move's cost, and when it costs too much the run starts again
    with the fallback; with the nested-AIS move, its log Ẑ's standard error,
    and when that is above the move's ``tolerance`` the run starts again with
    more particles. The method returned carries the budget the run ended with.
    """
    theta1_move = None  # the set-up chooses; "nested_ais" after a switch
    while True:
        target, theta1_move, states, kernels = _start(
            key,
            model,
            method,
            run,
            progress=progress,
            seconds=seconds,
            theta1_move=theta1_move,
        )
        watcher = _watcher(method, target, theta1_move, run) if watch else None
        records = _run(
            jr.split(key, 3)[2],
            states,
            kernels,
            model,
            target,
            method,
            run,
            seconds=seconds,
            watcher=watcher,
            progress=progress,
            **run_arguments,
        )
        if isinstance(watcher, scout.ExchangeScout) and watcher.message is not None:
            # The whole warm-up again, with the fallback: the exchange move's
            # rejected misses have biased the chains towards larger Z.
            warnings.warn(watcher.message, SamplingWarning, stacklevel=3)
            theta1_move = "nested_ais"
        elif isinstance(watcher, scout.NestedScout) and watcher.particles is not None:
            # Again from the start: the noisy warm-up has biased the chains.
            method = methods.with_nested_particles(method, watcher.particles)
        else:
            if isinstance(watcher, scout.NestedScout) and watcher.capped is not None:
                warnings.warn(watcher.capped, SamplingWarning, stacklevel=3)
            return method, target, theta1_move, records
        # The time of the runs given up (earlier ones' included).
        scout_time = sum(seconds.values())
        seconds.clear()
        seconds["scout_time"] = scout_time


def _watcher(method, target, theta1_move, run):
    """The warm-up's watch of the θ₁ move in force, or ``None``."""
    num_burn = -(-run.num_warmup // run.thin)
    if scout.watch_exchange(method, target, theta1_move, run.num_warmup):
        return scout.ExchangeScout(num_burn, method.theta1.max_draws)
    nested = methods.nested_move(method)
    if scout.watch_nested(nested, theta1_move, run.num_warmup):
        return scout.NestedScout(num_burn, nested)
    return None


def _start(
    key, model, method, run: RunSettings, *, progress, seconds, theta1_move=None
):
    """The target, the θ₁ move, and the chains' initial states and kernels: the
    MAP when ``init`` asks for one, the starting points, then the method's
    set-up (timed in ``seconds``)."""
    stop_gradient = not method.exact and method.stop_gradient_intended
    target = build_target(
        model, baseline=run.baseline, stop_gradient_intended=stop_gradient
    )
    rejection_batch_size = 64
    if theta1_move is None and not method.exact:
        theta1_move = "sgld"
    elif theta1_move is None:
        # Before anything compiles: the pilot may refuse the exchange move.
        theta1_move, rejection_batch_size = scout.choose_theta1_move(
            key, target, jnp.asarray(model.theta0), float(model.sigma2), method.theta1
        )
    key_init, key_warmup, _ = jr.split(key, 3)
    init = run.init
    if isinstance(init, str):
        # A network's chains must start where the data put them: SG-MCMC from θ₀
        # would spend its whole warm-up training the network.
        started = time.perf_counter()
        init = find_map(
            model,
            key=jr.fold_in(key, 3),
            batch_size=run.batch_size,
            num_inner=method.num_inner,
            num_inner_steps=method.num_inner_steps,
            baseline=run.baseline,
            stop_gradient_intended=stop_gradient,
            log_partition_particles=0,
            progress=progress,
            agreement_batch_size=getattr(method, "agreement_batch_size", None),
        )
        seconds["map_time"] = time.perf_counter() - started
    theta1, theta2 = chains.initial_positions(
        key_init, init, model, run.num_chains, run.init_spread
    )
    started = time.perf_counter()
    states, kernels = chains.setup_chains(
        key_warmup,
        target,
        model,
        theta1,
        theta2,
        method,
        theta1_move=theta1_move,
        rejection_batch_size=rejection_batch_size,
        batch_size=run.batch_size,
        adaptive=run.adaptive,
        num_warmup=run.num_warmup,
    )
    states = jax.block_until_ready(states)
    seconds["setup_time"] = time.perf_counter() - started
    return target, theta1_move, states, kernels


def _run(
    key,
    states,
    kernels,
    model,
    target,
    method,
    run: RunSettings,
    *,
    predict_inputs,
    pointwise,
    progress,
    checkpoint,
    checkpoint_every,
    resume,
    settings,
    seconds,
    watcher=None,
):
    """The kept draws' records, ``(chains, draws, ...)`` host arrays, after the
    warm-up (timed in ``seconds``)."""
    step_fn, positions_fn, info_fields = kernels
    # Warm-up and sampling run as one compiled scan (compiling a kernel costs
    # more than running it on small models); the warm-up draws are dropped.
    num_burn = -(-run.num_warmup // run.thin)
    record = Deferred(
        build_record,
        model,
        target.potential,
        run.indices,
        positions_fn,
        info_fields,
        num_burn=num_burn,
        log_partition_every=run.log_partition_every if target.lam > 0 else 0,
        log_partition_particles=run.log_partition_particles,
        predict_inputs=predict_inputs,
        pointwise=pointwise,
    )
    _, records, timing = run_chains(
        step_fn,
        states,
        key=key,
        num_steps=(num_burn + run.num_samples) * run.thin,
        record_fn=record,
        thin=run.thin,
        progress=progress,
        description=method.name,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        settings=settings,
        max_chunk_draws=None if watcher is None else watcher.stretch,
        stop_when=watcher,
        num_warmup_draws=num_burn,
    )
    seconds["compile_time"] = timing.compile_seconds
    seconds["warmup_time"] = timing.seconds_between(0, num_burn)
    seconds["sampling_time"] = timing.seconds_between(
        num_burn, num_burn + run.num_samples
    )
    return jax.tree.map(lambda r: np.asarray(r)[:, num_burn:], records)
