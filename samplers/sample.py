r"""`sample`: posterior draws of (θ₁, θ₂) for any two-stage model, as ArviZ data.

``model`` is a ``posterior.TwoStageModel`` or any object with its plain functions
(see :mod:`samplers.target`). This module checks the arguments and wires the
pieces together: the target (:mod:`samplers.target`), the chains' set-up
(:mod:`samplers.gibbs` for NUTS/HMC, :mod:`samplers.stochastic` for SGLD/SGHMC),
the run (:mod:`samplers.run`) and the record (:mod:`samplers.record`).
"""

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import Array

from samplers import _checks, gibbs, health, precondition, stochastic
from samplers import checkpoint as checkpoints
from samplers._checks import count
from samplers.mode import find_map
from samplers.record import build_record, default_log_partition_every, to_datatree
from samplers.run import run_chains
from samplers.target import build_target, check_model

__all__ = ["METHODS", "sample"]

METHODS = ("nuts", "hmc", "sgld", "sghmc")
# Above this many parameters SGLD/SGHMC start from a MAP by default: a network's
# warm-up cannot also be its training.
MAP_START_PARAMS = 100


def sample(
    model,
    *,
    key: Array,
    method: str = "nuts",
    num_chains: int = 4,
    num_samples: int = 500,
    num_warmup: int = 500,
    thin: int = 1,
    baseline: str | None = None,
    step_size: float | Callable[[Array], Array] | None = None,
    batch_size: int | None = None,
    num_inner: int = 16,
    num_inner_steps: int = 2,
    num_integration_steps: int | None = None,
    stop_gradient_intended: bool = False,
    param_indices=None,
    max_full_params: int = 64,
    theta1_update: str = "auto",
    nested_particles: int = 64,
    max_rejection_draws: int = 10**5,
    log_partition_every: int | None = None,
    log_partition_particles: int = 64,
    predict_inputs=None,
    pointwise_log_likelihood: bool = True,
    init=None,
    init_spread: float = 0.1,
    progress: bool = True,
    checkpoint=None,
    checkpoint_every: int | None = None,
    resume=None,
):
    r"""Draw (θ₁, θ₂) from the two-stage posterior and return an ArviZ DataTree.

    Methods:

    - ``"nuts"``, ``"hmc"``: exact Gibbs sampling. θ₂ | θ₁ by blackjax NUTS/HMC
      (window adaptation for every chain, at the chain's starting θ₁); θ₁ | θ₂
      by the exchange algorithm with exact auxiliary draws from the rejection
      sampler (:mod:`samplers.exchange`). It refuses, before compiling, when
      a pilot at θ₀ predicts more than 10⁴ proposals per auxiliary draw.
    - ``"sgld"``, ``"sghmc"``: blackjax SGLD/SGHMC on minibatches of the
      answers, with ∇log Z(θ₁) from ``num_inner`` persistent inner chains
      (:mod:`samplers.sgld`). Approximate: its bias shrinks with the step size.

    Args:
        model: a ``posterior.TwoStageModel`` or an object with its functions.
        key: a typed key, ``jax.random.key(seed)``.
        method: see above.
        num_chains: chains run at once (vmap), sharded over devices when several.
        num_samples: draws kept per chain, after ``thin``.
        num_warmup: adaptation / burn-in steps per chain (not kept).
        thin: keep one step in ``thin``.
        baseline: ``None`` (the two-stage posterior), ``"no_log_partition"``
            (the agreement penalty without −log Z) or ``"single_head"`` (no
            agreement term).
        step_size: SGLD/SGHMC step size, a float or a schedule
            ``step -> size`` (for SGLD a squared length, for SGHMC a time step:
            blackjax's SGHMC has a unit-variance momentum). Default: adapted in
            warm-up, with a diagonal preconditioner, to a variance bias of 5%
            in the stiffest direction (:mod:`samplers.precondition`).
        batch_size: answers per SGLD/SGHMC minibatch; default all of them.
        num_inner: persistent inner particles (SGLD/SGHMC).
        num_inner_steps: inner MALA steps per outer step (SGLD/SGHMC).
        num_integration_steps: leapfrog steps of HMC (default 10) / Euler
            steps of SGHMC per outer step (default: a trajectory time of σ₂,
            ``round(σ₂ / step_size)``; blackjax redraws the momentum every
            outer step, so a fixed count is biased as the step shrinks).
        stop_gradient_intended: the essay's stop-gradient on the intended head
            in C's gradient. Gradient dynamics only (SGLD/SGHMC): it is no
            density, so the exact methods refuse it.
        param_indices: coordinates of θ₁ and θ₂ to store; default all of them
            when there are at most ``max_full_params``, else the first ones.
        max_full_params: see ``param_indices``.
        log_partition_every: estimate log Z(θ₁) by AIS every this many kept
            draws (0: never). Default: never for a baseline or for SGLD/SGHMC
            above 100 parameters (there one AIS run costs hundreds of steps and
            is biased by far more than its standard error); else every draw
            up to 100 parameters and ten per chain above. Every draw: in the
            posterior group; otherwise in its own group ``log_partition``.
            ``tree.attrs["log_partition_every"]`` gives the choice.
        log_partition_particles: AIS particles per estimate.
        predict_inputs: inputs for which to store the intended head's outputs
            (group ``predictions``).
        pointwise_log_likelihood: store log p(aᵢ | θ₂) per answer (group
            ``log_likelihood``), as ``az.loo`` needs.
        theta1_update: the θ₁ move of ``"nuts"``/``"hmc"``: ``"exchange"``
            (exact; refused when a pilot at θ₀ predicts more than 10⁴
            proposals per auxiliary draw), ``"nested_ais"`` (MALA with log Z and
            its gradient from nested AIS; approximate, marked so in the
            attributes) or ``"auto"`` (exchange when affordable, else nested AIS).
        nested_particles: AIS particles per nested estimate.
        max_rejection_draws: cap on the proposals of one exact auxiliary draw
            of the exchange move. A draw that reaches it rejects its move,
            which biases the chain towards larger Z; ``sample`` warns when any
            kept sweep did (``sample_stats.auxiliary_found``).
        init: where the chains start: ``None`` (θ₁ = θ₂ = θ₀, except for
            SGLD/SGHMC on models of more than 100 parameters, which start from
            ``"map"``), ``"theta0"`` (θ₀ always), ``"map"`` (one
            :func:`find_map` run with its defaults,
            on the same minibatches, baseline and inner chains), a
            :class:`~samplers.MAPResult` or a pair ``(theta1, theta2)`` of flat
            vectors, ``(d,)`` for every chain or ``(num_chains, d)`` one per
            chain.
        init_spread: chains start at θ₁ = θ₁⁰ + init_spread·σ₁·ε and
            θ₂ = θ₂⁰ + init_spread·σ₂·ε′ about the starting point of ``init``,
            so that chains started from one point are overdispersed.
        progress: show progress bars.
        checkpoint: a file path: the whole sampler state (chains, inner
            particles, adaptation, keys and the draws so far) is written there
            every ``checkpoint_every`` draws and at the end, atomically, as
            ``.npz`` (see docs/long_runs.md).
        checkpoint_every: draws between checkpoints (each ``thin`` steps,
            warm-up draws included); default about a twentieth of the run.
        resume: a checkpoint of a run with these same arguments, bar
            ``num_samples``, ``progress`` and the checkpoint ones: the run
            continues from it to exactly the draws of an uninterrupted run
            (the set-up before the chains, such as NUTS's window adaptation, is
            repeated). With a larger ``num_samples`` it extends a finished run.

    Returns:
        An xarray DataTree with groups posterior (``theta1``, ``theta2``,
        ``disagreement``, ``log_likelihood_total``, and ``log_partition`` /
        ``bits_saved``), sample_stats, log_likelihood, observed_data and,
        when asked, predictions. Its attributes name the settings in force and
        where the wall time went, in seconds: ``map_time`` (``find_map``, when
        ``init="map"``), ``setup_time`` (the kernels' set-up: NUTS/HMC window
        adaptation, SG-MCMC initial states), ``compile_time`` (the
        chains' program), ``warmup_time`` and ``sampling_time`` (the warm-up
        and kept draws, log Z records included; a chunk of the run holding
        both is shared by its draws).
    """
    check_model(model)
    key = _checks.typed_key(key)
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    num_chains = count(num_chains, "num_chains")
    num_samples = count(num_samples, "num_samples")
    num_warmup = count(num_warmup, "num_warmup", minimum=0)
    thin = count(thin, "thin")
    num_params = int(model.num_params)
    indices = _checks.param_indices(
        param_indices, num_params, count(max_full_params, "max_full_params")
    )
    exact = method in ("nuts", "hmc")
    if log_partition_every is None:
        log_partition_every = default_log_partition_every(
            num_params, num_samples, exact=exact, baseline=baseline
        )
    log_partition_every = count(log_partition_every, "log_partition_every", minimum=0)
    if exact and stop_gradient_intended:
        raise ValueError(
            "`stop_gradient_intended` changes only gradient dynamics and defines no "
            f"density, so method={method!r} cannot use it; use 'sgld' or 'sghmc'."
        )
    batch_size = _checks.batch_size(batch_size, model)
    sigma2 = float(model.sigma2)
    if exact and step_size is not None:
        raise ValueError(
            f"`step_size` applies to 'sgld' and 'sghmc' only; method={method!r} "
            "adapts its step size in warm-up (window adaptation)."
        )
    num_inner = count(num_inner, "num_inner")
    num_inner_steps = count(num_inner_steps, "num_inner_steps")
    log_partition_particles = count(log_partition_particles, "log_partition_particles")
    _checks.predict_inputs(predict_inputs, model)
    # No step size: SGLD/SGHMC adapt a preconditioner and their step in warm-up.
    adaptive = step_size is None and not exact
    if step_size is None:
        step_size = precondition.adapted_step(method)
    else:
        _checks.step_size(step_size, (num_warmup + num_samples * thin) or 1)
    if num_integration_steps is None and method == "sghmc" and adaptive:
        num_integration_steps = precondition.SGHMC_STEPS
    elif num_integration_steps is None and method == "sghmc":
        # Hold the trajectory time near σ₂, the posterior's stiffest scale.
        first = float(step_size(0)) if callable(step_size) else float(step_size)
        num_integration_steps = max(1, round(sigma2 / first))
    elif num_integration_steps is None:
        num_integration_steps = 10
    num_integration_steps = count(num_integration_steps, "num_integration_steps")
    init_spread = _checks.non_negative(init_spread, "init_spread")
    if init is None and not exact and num_params > MAP_START_PARAMS:
        init = "map"
    if isinstance(init, str) and init not in ("map", "theta0"):
        raise ValueError(
            f"`init` must be 'map' or 'theta0' when a string, got {init!r}."
        )
    if isinstance(init, str) and init == "theta0":
        init = None
    if not exact and theta1_update != "auto":
        raise ValueError(
            "`theta1_update` chooses the θ₁ move of 'nuts' and 'hmc'; "
            f"method={method!r} moves θ₁ by its own gradient steps."
        )
    # Every argument that changes the draws (num_samples only adds draws): a
    # checkpoint of other settings is refused here, before anything compiles.
    settings = checkpoints.describe_settings(
        model,
        key=key,
        method=method,
        num_chains=num_chains,
        num_warmup=num_warmup,
        thin=thin,
        baseline=baseline,
        step_size=step_size,
        batch_size=batch_size,
        num_inner=num_inner,
        num_inner_steps=num_inner_steps,
        num_integration_steps=num_integration_steps,
        stop_gradient_intended=stop_gradient_intended,
        param_indices=indices,
        theta1_update=theta1_update,
        nested_particles=nested_particles,
        max_rejection_draws=max_rejection_draws,
        log_partition_every=log_partition_every,
        log_partition_particles=log_partition_particles,
        predict_inputs=predict_inputs,
        pointwise_log_likelihood=pointwise_log_likelihood,
        init=init,
        init_spread=init_spread,
        adaptive=adaptive,
    )
    checkpoint_every, resume = checkpoints.check_arguments(
        checkpoint, checkpoint_every, resume, settings
    )

    target = build_target(
        model, baseline=baseline, stop_gradient_intended=stop_gradient_intended
    )
    theta0 = jnp.asarray(model.theta0)
    sigma1 = float(model.sigma1)
    if theta1_update not in ("auto", "exchange", "nested_ais"):
        raise ValueError(
            "`theta1_update` must be 'auto', 'exchange' or 'nested_ais', got "
            f"{theta1_update!r}."
        )
    nested_particles = count(nested_particles, "nested_particles", minimum=4)
    max_rejection_draws = count(max_rejection_draws, "max_rejection_draws")
    rejection_batch_size = 64
    if exact and target.include_log_partition and theta1_update != "nested_ais":
        too_rare, rejection_batch_size = gibbs.check_exchange_cost(
            key, target.potential, theta0, sigma2
        )
        if too_rare and theta1_update == "exchange":
            raise ValueError(too_rare)
        theta1_update = "nested_ais" if too_rare else "exchange"
    elif theta1_update == "auto" or not target.include_log_partition:
        theta1_update = "exchange"

    key_init, key_warmup, key_sample = jr.split(key, 3)
    seconds = {}
    started = time.perf_counter()
    if isinstance(init, str):
        # A network's chains must start where the data put them: SG-MCMC from θ₀
        # would spend its whole warm-up training the network.
        init = find_map(
            model,
            key=jr.fold_in(key, 3),
            batch_size=batch_size,
            num_inner=num_inner,
            num_inner_steps=num_inner_steps,
            baseline=baseline,
            stop_gradient_intended=stop_gradient_intended,
            log_partition_particles=0,
            progress=progress,
        )
        seconds["map_time"] = time.perf_counter() - started
    start1, start2 = _checks.initial_positions(init, theta0, num_chains)
    theta1, theta2 = _initial(
        key_init, start1, start2, sigma1, sigma2, num_chains, init_spread
    )
    started = time.perf_counter()
    if exact:
        states, (step_fn, positions_fn, info_fields) = gibbs.setup(
            key_warmup,
            target,
            theta0,
            theta1,
            theta2,
            sigma1,
            sigma2,
            method=method,
            num_warmup=num_warmup,
            num_integration_steps=num_integration_steps,
            theta1_update=theta1_update,
            nested_particles=nested_particles,
            rejection_batch_size=rejection_batch_size,
            max_rejection_draws=max_rejection_draws,
        )
    else:
        states, (step_fn, positions_fn, info_fields) = stochastic.setup(
            key_warmup,
            target,
            model,
            theta1,
            theta2,
            sigma2,
            method=method,
            step_size=step_size,
            batch_size=batch_size,
            num_inner=num_inner,
            num_inner_steps=num_inner_steps,
            num_integration_steps=num_integration_steps,
            adaptive=adaptive,
            num_warmup=num_warmup,
        )
    states = jax.block_until_ready(states)
    seconds["setup_time"] = time.perf_counter() - started

    # Warm-up and sampling run as one compiled scan (compiling a kernel costs
    # more than running it on small models); the warm-up draws are dropped.
    num_burn = -(-num_warmup // thin)
    record = build_record(
        model,
        target,
        indices,
        positions_fn,
        info_fields,
        num_burn=num_burn,
        log_partition_every=log_partition_every,
        log_partition_particles=log_partition_particles,
        predict_inputs=predict_inputs,
        pointwise=pointwise_log_likelihood,
    )
    _, records, timing = run_chains(
        step_fn,
        states,
        key=key_sample,
        num_steps=(num_burn + num_samples) * thin,
        record_fn=record,
        thin=thin,
        progress=progress,
        description=method,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        settings=settings,
    )
    records = jax.tree.map(lambda r: np.asarray(r)[:, num_burn:], records)
    seconds["compile_time"] = timing.compile_seconds
    seconds["warmup_time"] = timing.seconds_between(0, num_burn)
    seconds["sampling_time"] = timing.seconds_between(num_burn, num_burn + num_samples)
    gibbs.warn_missed_auxiliaries(records, max_rejection_draws)
    attrs = {
        "method": method,
        "baseline": baseline or "two_stage",
        "approximate": int(not exact or theta1_update == "nested_ais"),
        "theta1_update": theta1_update if exact else "sgld",
        "stop_gradient_intended": int(stop_gradient_intended),
        "adaptive": int(adaptive),
        "lam": target.lam,
        "sigma1": sigma1,
        "sigma2": sigma2,
    }
    if not exact and target.include_log_partition:
        attrs["num_inner"] = num_inner
    if target.include_log_partition:
        attrs["log_partition_every"] = log_partition_every
        attrs["log_partition_particles"] = log_partition_particles
    attrs.update({name: round(value, 3) for name, value in seconds.items()})
    tree = to_datatree(records, model, indices, log_partition_every, attrs)
    health.warn(health.diagnose(tree), stacklevel=2)
    return tree


def _initial(key, start1, start2, sigma1, sigma2, num_chains, spread):
    key1, key2 = jr.split(key)
    shape = (num_chains, start1.shape[-1])
    theta1 = start1 + spread * sigma1 * jr.normal(key1, shape, start1.dtype)
    theta2 = start2 + spread * sigma2 * jr.normal(key2, shape, start2.dtype)
    return theta1, theta2
