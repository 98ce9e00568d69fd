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

from samplers import _checks, chains, gibbs, health, methods
from samplers import checkpoint as checkpoints
from samplers._checks import count
from samplers.methods import METHODS
from samplers.mode import find_map
from samplers.record import build_record, default_log_partition_every, to_datatree
from samplers.run import run_chains
from samplers.target import build_target, check_model

__all__ = ["METHODS", "sample"]
# Above this many parameters SGLD/SGHMC start from a MAP by default: a network's
# warm-up cannot also be its training.
MAP_START_PARAMS = 100


def sample(
    model,
    *,
    key: Array,
    method: str | methods.NUTS | methods.SGLD = "nuts",
    num_chains: int = 4,
    num_samples: int = 500,
    num_warmup: int = 500,
    thin: int = 1,
    baseline: str | None = None,
    param_indices=None,
    max_full_params: int = 64,
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
    step_size: float | Callable[[Array], Array] | None = None,
    batch_size: int | None = None,
    num_inner: int | None = None,
    num_inner_steps: int | None = None,
    num_integration_steps: int | None = None,
    stop_gradient_intended: bool | None = None,
    theta1_update: str | None = None,
    nested_particles: int | None = None,
    max_rejection_draws: int | None = None,
):
    r"""Draw (θ₁, θ₂) from the two-stage posterior and return an ArviZ DataTree.

    Methods (:mod:`samplers.methods`; a name is the object with its defaults):

    - ``samplers.NUTS(theta1=...)`` / ``"nuts"``, ``samplers.HMC(...)`` /
      ``"hmc"``: exact Gibbs sampling. θ₂ | θ₁ by blackjax NUTS/HMC (window
      adaptation for every chain, at the chain's starting θ₁); θ₁ | θ₂ by the
      exchange algorithm with exact auxiliary draws (``samplers.Exchange``),
      or by MALA with nested AIS (``samplers.NestedAIS``, approximate). The
      default, ``"auto"``, takes the exchange move unless a pilot at θ₀
      predicts more than 10⁴ proposals per auxiliary draw.
    - ``samplers.SGLD(...)`` / ``"sgld"``, ``samplers.SGHMC(...)`` /
      ``"sghmc"``: blackjax SGLD/SGHMC on minibatches of the answers, with
      ∇log Z(θ₁) from persistent inner chains (:mod:`samplers.sgld`).
      Approximate: its bias shrinks with the step size.

    Args:
        model: a ``posterior.TwoStageModel`` or an object with its functions.
        key: a typed key, ``jax.random.key(seed)``.
        method: a method object or its name, see above.
        num_chains: chains run at once (vmap), sharded over devices when several.
        num_samples: draws kept per chain, after ``thin``.
        num_warmup: adaptation / burn-in steps per chain (not kept).
        thin: keep one step in ``thin``.
        baseline: ``None`` (the two-stage posterior), ``"no_log_partition"``
            (the agreement penalty without −log Z) or ``"single_head"`` (no
            agreement term).
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
        step_size, batch_size, num_inner, num_inner_steps,
        stop_gradient_intended: with a method's name, the settings of
            ``samplers.SGLD`` / ``SGHMC`` (see there; ``None`` keeps the
            default).
        num_integration_steps: with ``"hmc"`` or ``"sghmc"``, that method's
            setting.
        theta1_update, nested_particles, max_rejection_draws: with ``"nuts"``
            or ``"hmc"``, the θ₁ move: ``theta1_update`` is ``"auto"``,
            ``"exchange"`` or ``"nested_ais"``, ``nested_particles`` is
            ``NestedAIS.particles`` and ``max_rejection_draws`` is
            ``Exchange.max_draws``.

        A method keyword that the method does not use is refused, as is any
        beside a method object.

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
    method = methods.from_keywords(
        method,
        step_size=step_size,
        batch_size=batch_size,
        num_inner=num_inner,
        num_inner_steps=num_inner_steps,
        num_integration_steps=num_integration_steps,
        stop_gradient_intended=stop_gradient_intended,
        theta1_update=theta1_update,
        nested_particles=nested_particles,
        max_rejection_draws=max_rejection_draws,
    )
    exact = method.exact
    num_chains = count(num_chains, "num_chains")
    num_samples = count(num_samples, "num_samples")
    num_warmup = count(num_warmup, "num_warmup", minimum=0)
    thin = count(thin, "thin")
    num_params = int(model.num_params)
    indices = _checks.param_indices(
        param_indices, num_params, count(max_full_params, "max_full_params")
    )
    if log_partition_every is None:
        log_partition_every = default_log_partition_every(
            num_params, num_samples, exact=exact, baseline=baseline
        )
    log_partition_every = count(log_partition_every, "log_partition_every", minimum=0)
    log_partition_particles = count(log_partition_particles, "log_partition_particles")
    _checks.predict_inputs(predict_inputs, model)
    init_spread = _checks.non_negative(init_spread, "init_spread")
    if init is None and not exact and num_params > MAP_START_PARAMS:
        init = "map"
    if isinstance(init, str) and init not in ("map", "theta0"):
        raise ValueError(
            f"`init` must be 'map' or 'theta0' when a string, got {init!r}."
        )
    if isinstance(init, str) and init == "theta0":
        init = None
    sigma2 = float(model.sigma2)
    if exact:
        batch_size, adaptive = int(model.num_answers), False
    else:
        batch_size = _checks.batch_size(method.batch_size, model)
        # No step size: a preconditioner and the step are adapted in warm-up.
        adaptive = method.step_size is None
        if not adaptive:
            _checks.step_size(method.step_size, (num_warmup + num_samples * thin) or 1)
    # Every argument that changes the draws (num_samples only adds draws): a
    # checkpoint of other settings is refused here, before anything compiles.
    settings = checkpoints.describe_settings(
        model,
        key=key,
        method=method.name,
        num_chains=num_chains,
        num_warmup=num_warmup,
        thin=thin,
        baseline=baseline,
        batch_size=batch_size,
        param_indices=indices,
        log_partition_every=log_partition_every,
        log_partition_particles=log_partition_particles,
        predict_inputs=predict_inputs,
        pointwise_log_likelihood=pointwise_log_likelihood,
        init=init,
        init_spread=init_spread,
        adaptive=adaptive,
        **methods.describe(method),
    )
    checkpoint_every, resume = checkpoints.check_arguments(
        checkpoint, checkpoint_every, resume, settings
    )

    stop_gradient = not exact and method.stop_gradient_intended
    target = build_target(
        model, baseline=baseline, stop_gradient_intended=stop_gradient
    )
    theta1_move, rejection_batch_size = "sgld", 64
    if exact:
        # Before anything compiles: the pilot may refuse the exchange move.
        theta1_move, rejection_batch_size = gibbs.choose_theta1_move(
            key, target, jnp.asarray(model.theta0), sigma2, method.theta1
        )
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
            num_inner=method.num_inner,
            num_inner_steps=method.num_inner_steps,
            baseline=baseline,
            stop_gradient_intended=stop_gradient,
            log_partition_particles=0,
            progress=progress,
        )
        seconds["map_time"] = time.perf_counter() - started
    theta1, theta2 = chains.initial_positions(
        key_init, init, model, num_chains, init_spread
    )
    started = time.perf_counter()
    states, (step_fn, positions_fn, info_fields) = chains.setup_chains(
        key_warmup,
        target,
        model,
        theta1,
        theta2,
        method,
        theta1_move=theta1_move,
        rejection_batch_size=rejection_batch_size,
        batch_size=batch_size,
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
        description=method.name,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        settings=settings,
    )
    records = jax.tree.map(lambda r: np.asarray(r)[:, num_burn:], records)
    seconds["compile_time"] = timing.compile_seconds
    seconds["warmup_time"] = timing.seconds_between(0, num_burn)
    seconds["sampling_time"] = timing.seconds_between(num_burn, num_burn + num_samples)
    if exact:
        gibbs.warn_missed_auxiliaries(
            records, getattr(method.theta1, "max_draws", None)
        )
    attrs = _attributes(method, baseline, target, model, theta1_move, adaptive)
    if target.include_log_partition:
        attrs["log_partition_every"] = log_partition_every
        attrs["log_partition_particles"] = log_partition_particles
    attrs.update({name: round(value, 3) for name, value in seconds.items()})
    tree = to_datatree(records, model, indices, log_partition_every, attrs)
    health.warn(health.diagnose(tree), stacklevel=2)
    return tree


def _attributes(method, baseline, target, model, theta1_move, adaptive) -> dict:
    """The settings in force, for ``tree.attrs``."""
    attrs = {
        "method": method.name,
        "baseline": baseline or "two_stage",
        "approximate": int(not method.exact or theta1_move == "nested_ais"),
        "theta1_update": theta1_move,
        "stop_gradient_intended": int(getattr(method, "stop_gradient_intended", 0)),
        "adaptive": int(adaptive),
        "lam": target.lam,
        "sigma1": float(model.sigma1),
        "sigma2": float(model.sigma2),
    }
    if not method.exact and target.include_log_partition:
        attrs["num_inner"] = method.num_inner
    return attrs
