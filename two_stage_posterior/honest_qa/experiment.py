r"""The honest-QA experiment: four ways to learn from human answers, compared.

For each world seed and each method this fits MAPs (``samplers.find_map``)
from several starts, θ₀ and draws of the prior, and runs one chain of
``samplers.sample`` from each optimum, of a two-head network that sees
(x, question code); then it scores both heads on the test set
(:mod:`two_stage_posterior.honest_qa.metrics`). θ₀'s MAP is the table's "map"
row; the chains are local posteriors around different optima, the "local"
rows, whose masses (the share of draws whose intended head is truth-like or
human-like) carry their spread across starts. This is the only layer that
imports both ``posterior`` and ``samplers``.

Methods (DESIGN.md, "The honest-QA world"):

- ``standard``: one head on the simple labels of the standard set
  (``baseline="single_head"``);
- ``data_only``: one head on the answer set D (``baseline="single_head"``);
- ``penalty_only``: two heads, the agreement penalty on S, no −log Z
  (``baseline="no_log_partition"``);
- ``two_stage``: the full two-stage posterior, −log Z(θ₁) included.

The instrumental head's outputs are not recorded by ``samplers.sample`` (its
``predictions`` group holds the intended head only), so every parameter is
stored (``param_indices``) and both heads are evaluated here, from the draws;
the NetCDF keeps the first ``max_stored_params`` coordinates of θ₁ and θ₂.
"""

import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

import posterior
import samplers
from two_stage_posterior.honest_qa import log_z_estimates
from two_stage_posterior.honest_qa.config import (
    BASELINES,
    METHODS,
    ModelConfig,
    SamplerConfig,
)
from two_stage_posterior.honest_qa.contract import World

__all__ = [
    "MethodRun",
    "build_model",
    "network_inputs",
    "run_method",
    "starts",
]


def network_inputs(group: dict, codes: np.ndarray) -> jax.Array:
    """``(n, dx + q_dim)``: x beside the question's code (a row of ``codes``,
    :attr:`World.question_codes`)."""
    code = np.asarray(codes, group["x"].dtype)[group["question"]]
    return jnp.asarray(np.concatenate([group["x"], code], axis=1))


def build_model(
    world: World, method: str, config: ModelConfig, key: jax.Array
) -> posterior.TwoStageModel:
    """The two-head model of one method (``standard`` trains on the standard set,
    the others on D); θ₀ comes from ``key``, shared by the methods of a seed."""
    answers = world.standard if method == "standard" else world.answers
    codes = world.question_codes
    network = posterior.TwoHeadMLP(
        world.x_dim + codes.shape[1],
        world.num_answers,
        width=config.width,
        depth=config.depth,
        key=key,
    )
    return posterior.TwoStageModel(
        network,
        agreement_inputs=network_inputs(world.agreement, codes),
        answer_inputs=network_inputs(answers, codes),
        answers=jnp.asarray(answers["answer"]),
        likelihood="categorical",
        divergence=config.divergence,
        lam=config.lam,
        sigma1=config.sigma1,
        sigma2=config.sigma2,
    )


@dataclass
class MethodRun:
    """One method on one seed: what the metrics and the report need."""

    method: str
    seed: int
    map_answers: np.ndarray  # (2, n_items): both heads at the MAP
    map_disagreement: float
    map_log_z: np.ndarray  # (repeats,) AIS estimates at the MAP θ₁ (or empty)
    answers: np.ndarray | None  # (chain, draw, 2, n_items) or None if refused
    tree: object | None
    log_z: np.ndarray | None  # (chain, k) AIS estimates at posterior draws
    log_z_draws: np.ndarray | None = None  # the draws' indices of log_z
    # λσ₂² × the top 3 eigenvalues of C's Gauss–Newton matrix at the MAP's θ₁
    # and θ₂ (posterior.kappa), with the model's λ whatever the method.
    map_kappa: dict = field(default_factory=dict)
    # The inference checks at this MAP (inference_checks), when asked for.
    checks: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def run_method(
    world: World,
    method: str,
    seed: int,
    model_config: ModelConfig,
    sampler: SamplerConfig,
    *,
    checks: bool = False,
    progress: bool = True,
) -> MethodRun:
    """MAPs and local posterior draws of one method on one world (one chain
    per start, see :func:`starts`), both heads scored; with ``checks`` (a
    two-head method), the inference checks at θ₀'s MAP
    (:func:`log_z_estimates.inference_checks`).

    The seed fixes θ₀ and the starts (shared by the methods) and, per method,
    the keys of the MAP, the sampler and the AIS estimates. A sampler that
    refuses the model (e.g. NUTS's exchange move where agreement is too rare)
    leaves the run with its MAP only and the refusal in ``error``.
    """
    started = time.perf_counter()
    two_heads = BASELINES[method] != "single_head"
    key = jr.key(seed)
    key_map, key_sample, key_z = jr.split(jr.fold_in(key, 1 + METHODS.index(method)), 3)
    model = build_model(world, method, model_config, jr.fold_in(key, 0))
    answers_fn = _answers_fn(model, _items(world))
    log_z_fn = log_z_estimates.log_z_fn(model, sampler.log_partition_particles)
    caught: list[str] = []
    with _catch_sampler_warnings(caught):
        fits = samplers.find_map(
            model,
            key=key_map,
            num_steps=sampler.map_steps,
            optimizer=map_optimizer(sampler),
            batch_size=sampler.batch_size,
            num_inner=sampler.num_inner,
            num_inner_steps=sampler.num_inner_steps,
            inner_refresh_every=sampler.inner_refresh_every,
            baseline=BASELINES[method],
            stop_gradient_intended=sampler.stop_gradient_intended,
            agreement_batch_size=sampler.agreement_batch_size,
            # Estimated below, at the first start's optimum only.
            log_partition_particles=0,
            # The seed's starts, the same for every method (paired, like θ₀).
            init=starts(model, sampler, jr.fold_in(key, 1 + len(METHODS))),
            progress=progress,
        )
    # The first start is θ₀'s: the joint MAP of the table's "map" rows.
    fit = jax.tree.map(lambda leaf: leaf[0], fits)
    map_log_z = np.zeros(0)
    if two_heads:
        keys = jr.split(key_z, sampler.log_partition_repeats)
        # log_partition's own warnings (islands that disagree) go to the
        # run's diagnostics, as the samplers' do.
        with _catch_sampler_warnings(caught):
            map_log_z = log_z_fn([fit.theta1] * len(keys), keys)
    run = MethodRun(
        method,
        seed,
        np.asarray(answers_fn(fit.theta2)),
        float(model.disagreement(fit.theta2)),
        map_log_z,
        None,
        None,
        None,
    )
    run.map_kappa = {
        name: np.asarray(posterior.kappa(model, theta, k=3)).tolist()
        for name, theta in (("theta1", fit.theta1), ("theta2", fit.theta2))
    }
    if checks and two_heads:
        with _catch_sampler_warnings(caught):
            run.checks = log_z_estimates.inference_checks(
                model, fit, sampler, jr.fold_in(key_z, 2)
            )
    try:
        with _catch_sampler_warnings(caught):
            tree = _sample(model, method, sampler, fits, key_sample, progress)
    except ValueError as error:
        run.error = f"{type(error).__name__}: {error}"
    else:
        with _catch_sampler_warnings(caught):
            _score_draws(run, tree, answers_fn, two_heads and log_z_fn, sampler, key_z)
    run.warnings, run.seconds = caught, time.perf_counter() - started
    return run


def map_optimizer(sampler: SamplerConfig) -> optax.GradientTransformation:
    """Adam at ``learning_rate``, decayed to 0 by a cosine over the fit unless
    ``map_schedule`` is ``"constant"``: the last iterate of a constant rate
    keeps wandering where ∇log Z is noisy (docs/honest_qa.md)."""
    return _adam(sampler.learning_rate, sampler.map_steps, sampler.map_schedule)


@functools.cache
def _adam(rate: float, steps: int, schedule: str) -> optax.GradientTransformation:
    # One object per setting: find_map keys its program by the optimizer's
    # identity, so every seed and method then finds the program already traced.
    if schedule == "cosine":
        rate = optax.cosine_decay_schedule(rate, steps)
    return optax.adam(rate)


def starts(model, sampler: SamplerConfig, key) -> tuple[jax.Array, jax.Array]:
    """``(num_chains, d)`` θ₁ and θ₂ where the MAP fits start: θ₀, then draws
    θ₁ = θ₀ + s·σ₁·ε, θ₂ = θ₁ + s·σ₂·ε′ with s = ``start_spread``: at s = 1,
    draws of the prior's first two stages; the default keeps them within
    reach of the MAP fit's steps (:class:`SamplerConfig`)."""
    theta0 = jnp.asarray(model.theta0)
    shape = (sampler.num_chains - 1, theta0.shape[0])
    key1, key2 = jr.split(key)
    spread = sampler.start_spread
    theta1 = theta0[None] + spread * model.sigma1 * jr.normal(key1, shape, theta0.dtype)
    theta2 = theta1 + spread * model.sigma2 * jr.normal(key2, shape, theta0.dtype)
    return (
        jnp.concatenate([theta0[None], theta1]),
        jnp.concatenate([theta0[None], theta2]),
    )


def _items(world: World) -> jax.Array:
    """The scored inputs: the test items, then the in-distribution ones."""
    groups = [world.test]
    if world.in_distribution is not None:
        groups.append(world.in_distribution)
    return jnp.concatenate([network_inputs(g, world.question_codes) for g in groups])


def _sample(model, method, sampler: SamplerConfig, fit, key, progress):
    algorithm = sampler.method
    if algorithm in ("sgld", "sghmc"):
        # NUTS/HMC adapt their own step and take no minibatches.
        kind = samplers.SGLD if algorithm == "sgld" else samplers.SGHMC
        algorithm = kind(
            step_size=sampler.step_size,
            batch_size=sampler.batch_size,
            num_inner=sampler.num_inner,
            num_inner_steps=sampler.num_inner_steps,
            stop_gradient_intended=sampler.stop_gradient_intended,
            agreement_batch_size=sampler.agreement_batch_size,
        )
    return samplers.sample(
        model,
        key=key,
        method=algorithm,
        num_chains=sampler.num_chains,
        num_samples=sampler.num_samples,
        num_warmup=sampler.num_warmup,
        baseline=BASELINES[method],
        # Every coordinate, so that both heads can be evaluated at every draw
        # (sample's predictions hold the intended head only); the NetCDF keeps
        # a few (store.MAX_STORED_PARAMS).
        param_indices=np.arange(model.num_params),
        log_partition_every=0,
        pointwise_log_likelihood=False,
        init=fit,
        init_spread=sampler.init_spread,
        progress=progress,
    )


def _score_draws(run: MethodRun, tree, answers_fn, log_z_fn, sampler, key) -> None:
    """Both heads' answers at every draw, and log Ẑ(θ₁) at a few draws."""
    theta1 = np.asarray(tree.posterior["theta1"])
    theta2 = np.asarray(tree.posterior["theta2"])
    num_chains, num_draws, dim = theta2.shape
    # One θ at a time through the program already compiled for the MAP.
    run.answers = np.stack(
        [np.asarray(answers_fn(theta)) for theta in theta2.reshape(-1, dim)]
    ).reshape(num_chains, num_draws, *run.map_answers.shape)
    if log_z_fn and sampler.log_partition_draws > 0:
        picks = _spread(num_draws, sampler.log_partition_draws)
        chosen = theta1[:, picks].reshape(-1, dim)
        keys = jr.split(jr.fold_in(key, 1), chosen.shape[0])
        run.log_z = np.asarray(log_z_fn(chosen, keys)).reshape(num_chains, -1)
        run.log_z_draws = picks
    run.tree = tree


def _answers_fn(model, items) -> Callable:
    """θ ↦ ``(2, n_items)`` both heads' most probable answers."""

    # Stored draws and the MAP in one dtype: one compiled program, which the
    # model as an argument shares with every world of the same shapes.
    return lambda theta: _answers(model, items, jnp.asarray(theta, model.theta0.dtype))


@eqx.filter_jit
def _answers(model, items, theta):
    intended, instrumental = model.heads(theta, items)
    return jnp.stack([jnp.argmax(intended, -1), jnp.argmax(instrumental, -1)])


def _spread(num_draws: int, count: int) -> np.ndarray:
    """Up to ``count`` draw indices spread evenly over a chain, ascending, the
    last draw included."""
    return np.unique(np.linspace(num_draws - 1, 0, count).round().astype(int))


class _catch_sampler_warnings(warnings.catch_warnings):
    """Record the samplers' warnings (their diagnoses) into ``sink`` instead of
    raising them; any other warning passes through unchanged."""

    def __init__(self, sink: list[str]):
        super().__init__(record=True)
        self._sink = sink

    def __enter__(self):
        self._log = super().__enter__()
        warnings.simplefilter("always")
        return self._log

    def __exit__(self, *exc):
        super().__exit__(*exc)
        for item in self._log:
            if item.category.__module__.startswith("samplers"):
                self._sink.append(f"{item.category.__name__}: {item.message}")
            else:
                warnings.warn_explicit(
                    item.message, item.category, item.filename, item.lineno
                )
        return False
