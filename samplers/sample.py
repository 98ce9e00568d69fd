r"""`sample`: posterior draws of (θ₁, θ₂) for any two-stage model, as ArviZ data.

``model`` is a ``posterior.TwoStageModel`` or any object with its plain functions
(see :mod:`samplers.target`). This module checks the arguments, hands them to
:mod:`samplers.draws` (the target, the chains' set-up by :mod:`samplers.gibbs`
for NUTS/HMC or :mod:`samplers.stochastic` for SGLD/SGHMC, the run by
:mod:`samplers.run` and the record by :mod:`samplers.record`), and turns the
records into ArviZ data.
"""

from collections.abc import Callable

from jax import Array

from samplers import _checks, draws, health, keywords, methods, runs, scout
from samplers import checkpoint as checkpoints
from samplers.methods import METHODS
from samplers.record import to_datatree
from samplers.settings import attributes, check_run
from samplers.target import check_model

__all__ = ["METHODS", "sample"]


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
    max_full_params: int | None = None,
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
      or by MALA with nested AIS (``samplers.NestedAIS``, approximate; with
      ``joint_steps=L`` each sweep also moves θ₁ and θ₂ together). The
      default, ``"auto"``, takes the exchange move unless a pilot at θ₀
      predicts more than 10⁴ proposals per auxiliary draw, and watches its
      cost in warm-up: when more than 1% (two at least) of a 25-draw
      stretch's auxiliary draws miss their cap, or they average more than 10⁴
      proposals, it warns and starts again with nested AIS (not with
      ``checkpoint`` or ``resume``).
      For a ``baseline`` (no −log Z) one NUTS/HMC kernel moves θ₁ and θ₂
      together instead (:mod:`samplers.joint`; ``theta1_update`` "joint").
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
        max_full_params: see ``param_indices``. Default: as many as fit in
            10⁷ recorded numbers (2 × chains × draws × coordinates, the
            warm-up's draws included), with a warning when that is not all of
            them.
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
            ``log_likelihood``), as ``az.loo`` needs, and answers drawn from
            the likelihood at every draw (group ``posterior_predictive``,
            where the likelihood is a distribution), as ``az.loo_pit`` and
            the ppc plots need; ``False`` stores neither.
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
        step_size: with ``"sgld"`` or ``"sghmc"``, that setting of
            ``samplers.SGLD`` / ``SGHMC`` (see there; ``None`` keeps the
            default). A method keyword that the method does not use is
            refused, as is any beside a method object.
        batch_size: likewise.
        num_inner: likewise.
        num_inner_steps: likewise.
        stop_gradient_intended: likewise.
        num_integration_steps: with ``"hmc"`` or ``"sghmc"``, that method's
            setting.
        theta1_update: with ``"nuts"`` or ``"hmc"``, the θ₁ move: ``"auto"``,
            ``"exchange"`` or ``"nested_ais"``.
        nested_particles: with ``"nuts"`` or ``"hmc"``,
            ``NestedAIS.particles``.
        max_rejection_draws: with ``"nuts"`` or ``"hmc"``,
            ``Exchange.max_draws``.

    Returns:
        An xarray DataTree: posterior (θ₁, θ₂, C, L, log Z / bits saved),
        sample_stats, log_likelihood, posterior_predictive, observed_data,
        constant_data (θ₀, the answers' inputs) and, when asked, predictions.
        Its attributes hold what :func:`samplers.load_run` checks, the
        settings in force and the seconds of ``map_time``, ``setup_time``,
        ``compile_time``, ``warmup_time``, ``sampling_time`` (the run's calls
        end where warm-up ends unless that needs over 20 calls; a call that
        holds both is shared by them evenly) and ``scout_time`` (the
        runs that warm-up's watch gave up: the exchange move's, or a nested
        move's smaller budget).

    Example:
        A short SGLD run from θ₀ that estimates log Z at every fifth draw
        (too short to converge: it warns so).

        >>> import jax.random as jr
        >>> import posterior, samplers
        >>> case = posterior.LinearGaussianCase.random(
        ...     jr.key(0), d=3, m=2, n=8, lam=1.0, sigma1=1.0, sigma2=0.5
        ... )
        >>> tree = samplers.sample(
        ...     case.model, key=jr.key(1), method="sgld", num_chains=2,
        ...     num_warmup=30, num_samples=10, init="theta0",
        ...     log_partition_every=5, log_partition_particles=8, progress=False,
        ... )
        >>> tree.posterior["theta1"].shape  # (chain, draw, d)
        (2, 10, 3)
        >>> tree["log_partition"]["bits_saved"].shape  # at draws 0 and 5
        (2, 2)
    """
    check_model(model)
    key = _checks.typed_key(key)
    method = keywords.from_keywords(
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
    run = check_run(
        model,
        method,
        num_chains=num_chains,
        num_samples=num_samples,
        num_warmup=num_warmup,
        thin=thin,
        baseline=baseline,
        param_indices=param_indices,
        max_full_params=max_full_params,
        log_partition_every=log_partition_every,
        log_partition_particles=log_partition_particles,
        init=init,
        init_spread=init_spread,
    )
    _checks.predict_inputs(predict_inputs, model)
    settings = _settings(
        model, key, method, run, predict_inputs, pointwise_log_likelihood
    )
    checkpoint_every, resume = checkpoints.check_arguments(
        checkpoint, checkpoint_every, resume, settings
    )
    seconds = {}
    method, target, theta1_move, records = draws.draw(
        key,
        model,
        method,
        run,
        seconds,
        watch=checkpoint is resume is None,
        predict_inputs=predict_inputs,
        pointwise=pointwise_log_likelihood,
        progress=progress,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        settings=settings,
    )
    tree = _tree(
        model,
        method,
        run,
        settings,
        predict_inputs,
        seconds,
        target,
        theta1_move,
        records,
    )
    health.warn(health.diagnose(tree), stacklevel=2)
    return tree


def _settings(model, key, method, run, predict_inputs, pointwise):
    # Every argument that changes the draws (num_samples only adds draws): a
    # checkpoint of other settings is refused with them, before anything
    # compiles.
    return checkpoints.describe_settings(
        model,
        key=key,
        method=method.name,
        **run.describe(),
        predict_inputs=predict_inputs,
        pointwise_log_likelihood=pointwise,
        **keywords.describe(method),
    )


def _tree(
    model, method, run, settings, predict_inputs, seconds, target, theta1_move, records
):
    """The ArviZ DataTree of the kept draws, with the settings and timings in
    its attributes; first warns when an exchange move missed its auxiliary."""
    if method.exact:
        scout.warn_missed_auxiliaries(
            records, getattr(method.theta1, "max_draws", None), stacklevel=4
        )
    attrs = attributes(method, run, target, model, theta1_move)
    attrs.update(runs.run_attributes(model, settings))
    attrs.update({name: round(value, 3) for name, value in seconds.items()})
    return to_datatree(
        records, model, run.indices, run.log_partition_every, attrs, predict_inputs
    )
