r"""`sample`: posterior draws of (θ₁, θ₂) for any two-stage model, as ArviZ data.

``model`` is any object with the plain functions of ``posterior.TwoStageModel``
(this package never imports ``posterior``): ``theta0``, ``num_params``, ``lam``,
``sigma1``, ``sigma2``, ``num_answers``, ``answers``, ``disagreement(theta, *,
stop_gradient_intended)``, ``log_likelihood(theta, batch)``,
``pointwise_log_likelihood(theta)``, ``log_prior(theta1)`` and
``intended(theta, inputs)``.
"""

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jax import Array

from samplers import exchange, optimize, rejection, sgld
from samplers._checks import count
from samplers.diagnostics import to_inference_data
from samplers.log_partition import log_partition
from samplers.run import run_chains

__all__ = [
    "sample",
    "find_map",
    "MAPResult",
    "METHODS",
    "BASELINES",
    "Target",
    "build_target",
]

METHODS = ("nuts", "hmc", "sgld", "sghmc")
#: ``None``: the two-stage posterior. ``"no_log_partition"``: the agreement
#: penalty without −log Z(θ₁). ``"single_head"``: no agreement term at all.
BASELINES = (None, "no_log_partition", "single_head")
_REQUIRED = (
    "theta0",
    "num_params",
    "lam",
    "sigma1",
    "sigma2",
    "num_answers",
    "answers",
    "disagreement",
    "log_likelihood",
    "pointwise_log_likelihood",
    "log_prior",
    "intended",
)
# The exchange move's auxiliary draw costs about 1/Z proposals; refuse (before
# compiling) when a pilot at θ₀ predicts more than this many.
_EXCHANGE_BUDGET = 10**4
# Target acceptance of the exchange move's Crank-Nicolson step during warm-up,
# and of the nested-AIS MALA step (Roberts & Rosenthal's optimal 0.574).
_EXCHANGE_TARGET = 0.3
_NESTED_MALA_TARGET = 0.574


class Target(NamedTuple):
    """The functions a sampler needs, for one baseline.

    Attributes:
        log_joint: ``(theta1, theta2, batch) -> scalar``: every term but −log Z.
        potential: λC(θ), 0 for the single-head baseline (a density: no
            stop-gradient).
        lam: the λ in force.
        include_log_partition: whether −log Z(θ₁) is part of the target.
    """

    log_joint: Callable[[Array, Array, Any], Array]
    potential: Callable[[Array], Array]
    lam: float
    include_log_partition: bool


def _log_normal(x, mean, sigma):
    return -jnp.sum((x - mean) ** 2) / (2 * sigma**2) - 0.5 * x.shape[-1] * math.log(
        2 * math.pi * sigma**2
    )


def build_target(
    model, *, baseline: str | None = None, stop_gradient_intended: bool = False
) -> Target:
    """The sampler-facing functions of ``model`` for a baseline (see `BASELINES`)."""
    if baseline not in BASELINES:
        raise ValueError(f"`baseline` must be one of {BASELINES}, got {baseline!r}.")
    lam = 0.0 if baseline == "single_head" else float(model.lam)
    sigma2 = float(model.sigma2)

    def log_joint(theta1, theta2, batch=None):
        agreement = model.disagreement(
            theta2, stop_gradient_intended=stop_gradient_intended
        )
        return (
            model.log_likelihood(theta2, batch)
            + model.log_prior(theta1)
            + _log_normal(theta2, theta1, sigma2)
            - lam * agreement
        )

    def potential(theta):
        return lam * model.disagreement(theta)

    return Target(log_joint, potential, lam, baseline is None and lam > 0)


def _check_model(model) -> None:
    missing = [name for name in _REQUIRED if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"`model` lacks {missing}; pass a posterior.TwoStageModel or an object "
            "with the same functions."
        )


def _batch_size(batch_size, model) -> int:
    if batch_size is None:
        return int(model.num_answers)
    batch_size = count(batch_size, "batch_size")
    if batch_size > model.num_answers:
        raise ValueError(
            f"`batch_size`={batch_size} exceeds the {model.num_answers} answers."
        )
    return batch_size


def _check_key(key) -> Array:
    if not (isinstance(key, Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError("`key` must be a typed PRNG key: jax.random.key(seed).")
    if key.shape != ():
        raise ValueError(f"`key` must be a single key, got shape {key.shape}.")
    return key


def _indices(param_indices, num_params: int, max_full_params: int) -> np.ndarray:
    if param_indices is None:
        return np.arange(min(num_params, max_full_params))
    indices = np.asarray(param_indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError("`param_indices` must be a 1-D array of integers.")
    if indices.size == 0 or indices.min() < 0 or indices.max() >= num_params:
        raise ValueError(
            f"`param_indices` must be non-empty and within 0..{num_params - 1}."
        )
    return indices


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
    init_spread: float = 0.1,
    progress: bool = True,
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
            ``step -> size``; default ``0.01 σ₂²`` for SGLD (a squared length)
            and ``0.025 σ₂`` for SGHMC (a time step: blackjax's SGHMC has a
            unit-variance momentum).
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
            draws (0: never). Default: every draw for up to 100 parameters, else
            ten per chain. Every draw: in the posterior group; otherwise in its
            own group ``log_partition``.
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
        init_spread: chains start at θ₁ = θ₀ + init_spread·σ₁·ε and
            θ₂ = θ₁ + init_spread·σ₂·ε′.
        progress: show progress bars.

    Returns:
        An xarray DataTree with groups posterior (``theta1``, ``theta2``,
        ``disagreement``, ``log_likelihood_total``, and ``log_partition`` /
        ``bits_saved``), sample_stats, log_likelihood, observed_data and,
        when asked, predictions.
    """
    _check_model(model)
    key = _check_key(key)
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    num_chains = count(num_chains, "num_chains")
    num_samples = count(num_samples, "num_samples")
    num_warmup = count(num_warmup, "num_warmup", minimum=0)
    thin = count(thin, "thin")
    num_params = int(model.num_params)
    indices = _indices(
        param_indices, num_params, count(max_full_params, "max_full_params")
    )
    if log_partition_every is None:
        log_partition_every = 1 if num_params <= 100 else max(1, num_samples // 10)
    log_partition_every = count(log_partition_every, "log_partition_every", minimum=0)
    exact = method in ("nuts", "hmc")
    if exact and stop_gradient_intended:
        raise ValueError(
            "`stop_gradient_intended` changes only gradient dynamics and defines no "
            f"density, so method={method!r} cannot use it; use 'sgld' or 'sghmc'."
        )
    batch_size = _batch_size(batch_size, model)
    sigma2 = float(model.sigma2)
    if step_size is None:
        step_size = 0.01 * sigma2**2 if method != "sghmc" else 0.025 * sigma2
    elif not callable(step_size) and not float(step_size) > 0:
        raise ValueError(f"`step_size` must be positive, got {step_size}.")
    if num_integration_steps is None and method == "sghmc":
        # Hold the trajectory time near σ₂, the posterior's stiffest scale.
        first = float(step_size(0)) if callable(step_size) else float(step_size)
        num_integration_steps = max(1, round(sigma2 / first))
    elif num_integration_steps is None:
        num_integration_steps = 10
    num_integration_steps = count(num_integration_steps, "num_integration_steps")
    if not init_spread >= 0:
        raise ValueError(f"`init_spread` must be at least 0, got {init_spread}.")

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
        too_rare, rejection_batch_size = _check_exchange_cost(
            key, target.potential, theta0, sigma2
        )
        if too_rare and theta1_update == "exchange":
            raise ValueError(too_rare)
        theta1_update = "nested_ais" if too_rare else "exchange"
    elif theta1_update == "auto" or not target.include_log_partition:
        theta1_update = "exchange"

    key_init, key_warmup, key_sample = jr.split(key, 3)
    theta1, theta2 = _initial(key_init, theta0, sigma1, sigma2, num_chains, init_spread)
    if exact:
        states, (step_fn, positions_fn, info_fields) = _exact_setup(
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
        states, (step_fn, positions_fn, info_fields) = _sgld_setup(
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
        )

    # Warm-up and sampling run as one compiled scan (compiling a kernel costs
    # more than running it on small models); the warm-up draws are dropped.
    num_burn = -(-num_warmup // thin)
    record = _build_record(
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
    _, records = run_chains(
        step_fn,
        states,
        key=key_sample,
        num_steps=(num_burn + num_samples) * thin,
        record_fn=record,
        thin=thin,
        progress=progress,
        description=method,
    )
    records = jax.tree.map(lambda r: np.asarray(r)[:, num_burn:], records)
    _warn_missed_auxiliaries(records, max_rejection_draws)
    attrs = {
        "method": method,
        "baseline": baseline or "two_stage",
        "approximate": int(not exact or theta1_update == "nested_ais"),
        "theta1_update": theta1_update if exact else "sgld",
        "stop_gradient_intended": int(stop_gradient_intended),
        "lam": target.lam,
        "sigma1": sigma1,
        "sigma2": sigma2,
    }
    return _to_datatree(records, model, indices, log_partition_every, attrs)


def _check_exchange_cost(key, potential, theta0, sigma2) -> tuple[str | None, int]:
    """A message when agreement is too rare near θ₀ for exact exchange moves,
    and the batch size of the auxiliary draws."""
    # A pilot of twice the budget: fewer than two acceptances means a cost per
    # auxiliary draw above the budget is likely. (No acceptance in a small pilot
    # would only bound Z from above, which proves nothing about the cost.)
    num_pilot = 2 * _EXCHANGE_BUDGET
    # In chunks, so that a large network never holds 2·10⁴ parameter vectors.
    chunk = 500
    pilot = jax.jit(
        lambda k: rejection.pilot_acceptance(k, potential, theta0, sigma2, chunk)
    )
    pilot_key = jr.fold_in(key, 7)
    accepted = sum(
        int(pilot(jr.fold_in(pilot_key, i))) for i in range(num_pilot // chunk)
    )
    # Batches of about twice the expected cost at θ₀ (the posterior usually sits
    # where Z is smaller): fewer rounds of the loop, whose per-round overhead
    # dominates on small models. Any batch size gives the same exact draws.
    expected = num_pilot / max(accepted, 1)
    batch = 2 ** round(math.log2(max(2.0 * expected, 1.0)))
    batch = int(min(max(batch, 64), 1024, max(64, 2**20 // theta0.shape[0])))
    if accepted < 2:
        bound = f"< {2 / num_pilot:.1g}" if accepted == 0 else f"≈ {1 / num_pilot:.1g}"
        message = (
            f"Agreement is too rare near θ₀ for the exact exchange move: a pilot "
            f"accepted {accepted} of {num_pilot} proposals (Z {bound}, so more "
            f"than about {_EXCHANGE_BUDGET} proposals per auxiliary draw). Use "
            "theta1_update='nested_ais' (approximate), method='sgld' or 'sghmc', "
            "or a smaller `lam`."
        )
        return message, batch
    return None, batch


def _warn_missed_auxiliaries(records, max_rejection_draws):
    found = records.get("stat_auxiliary_found")
    if found is None or found.all():
        return
    missed = int(np.sum(~found))
    warnings.warn(
        f"{missed} of {found.size} kept exchange moves could not draw their "
        f"auxiliary within max_rejection_draws={max_rejection_draws} proposals "
        "and were rejected, which biases θ₁ towards larger Z. Raise "
        "`max_rejection_draws` (see sample_stats.num_rejection_draws for the "
        "cost), or use theta1_update='nested_ais'.",
        stacklevel=3,
    )


def _initial(key, theta0, sigma1, sigma2, num_chains, spread):
    key1, key2 = jr.split(key)
    shape = (num_chains, theta0.shape[0])
    theta1 = theta0[None, :] + spread * sigma1 * jr.normal(key1, shape, theta0.dtype)
    theta2 = theta1 + spread * sigma2 * jr.normal(key2, shape, theta0.dtype)
    return theta1, theta2


class _ExactChain(NamedTuple):
    state: exchange.ExchangeState
    step_size: Array
    inverse_mass_matrix: Array
    log_move: Array  # log √(1-ρ²) of the exchange proposal
    log_translation: Array  # log of the joint shift's scale, in units of τ
    surrogate_stats: exchange.SurrogateStats  # warm-up gradient samples of log Z


def _exact_setup(
    key,
    target,
    theta0,
    theta1,
    theta2,
    sigma1,
    sigma2,
    *,
    method,
    num_warmup,
    num_integration_steps,
    theta1_update,
    nested_particles,
    rejection_batch_size=64,
    max_rejection_draws=10**5,
):
    kernel = exchange.build_kernel(
        lambda t1, t2: target.log_joint(t1, t2),
        target.potential,
        theta0,
        sigma1,
        sigma2,
        algorithm=method,
        num_integration_steps=num_integration_steps,
        include_log_partition=target.include_log_partition,
        theta1_update=theta1_update,
        num_inner_particles=nested_particles,
        rejection_batch_size=rejection_batch_size,
        max_rejection_draws=max_rejection_draws,
    )
    algorithm = blackjax.nuts if method == "nuts" else blackjax.hmc
    extra = {} if method == "nuts" else {"num_integration_steps": num_integration_steps}
    num_chains, dim = theta1.shape

    def adapt(key, t1, t2):
        adaptation = blackjax.window_adaptation(
            algorithm, lambda t: target.log_joint(t1, t), **extra
        )
        (state, parameters), _ = adaptation.run(key, t2, num_steps=max(num_warmup, 1))
        return (
            state.position,
            parameters["step_size"],
            parameters["inverse_mass_matrix"],
        )

    theta2, step_size, inverse_mass = jax.jit(jax.vmap(adapt))(
        jr.split(key, num_chains), theta1, theta2
    )
    # Start both θ₁ moves at a typical size for d coordinates (for the baseline,
    # whose θ₁ | θ₂ is Gaussian, ρ = 0 is an exact Gibbs draw).
    typical = math.log(min(1.0, 2.0 / math.sqrt(dim)))
    start = typical if target.include_log_partition else 0.0
    log_move = jnp.full((num_chains,), start)
    states = _ExactChain(
        jax.vmap(
            lambda a, b: exchange.init(a, b, lambda t1, t2: target.log_joint(t1, t2))
        )(theta1, theta2),
        step_size,
        inverse_mass,
        log_move,
        jnp.full((num_chains,), typical),
        jax.vmap(lambda _: exchange.init_surrogate_stats(dim, theta1.dtype))(theta1),
    )
    nested = theta1_update == "nested_ais"
    adapt_move = target.include_log_partition and not nested
    tau = (sigma1**-2 + sigma2**-2) ** -0.5

    def sweep(key, chain, index):
        rho = jnp.sqrt(1.0 - jnp.exp(2 * chain.log_move))
        surrogate = (
            exchange.fit_surrogate(chain.surrogate_stats, tau) if adapt_move else None
        )
        state, info = kernel(
            key,
            chain.state,
            chain.step_size,
            chain.inverse_mass_matrix,
            rho,
            jnp.exp(chain.log_translation),
            surrogate,
        )
        # Robbins–Monro on the proposal sizes during warm-up only; frozen
        # afterwards, so the sampling kernel is a fixed, exact one.
        warming = index < num_warmup

        def adapted(log_size, probability, target=_EXCHANGE_TARGET, cap=0.0):
            update = 0.5 * (probability - target)
            return jnp.where(warming, jnp.minimum(log_size + update, cap), log_size)

        log_move, stats = chain.log_move, chain.surrogate_stats
        if adapt_move:
            log_move = adapted(log_move, info.exchange_acceptance_rate)
            # Each exact auxiliary w ~ p(·|θ₁*) gives an unbiased sample
            # (w - θ₁*)/σ₂² of ∇log Z(θ₁*) for the proposal's surrogate.
            stats = exchange.update_surrogate_stats(
                stats,
                info.proposal,
                (info.auxiliary - info.proposal) / sigma2**2,
                warming & info.auxiliary_found,
            )
        if nested:
            # The second scale is then the noise of θ₁'s MALA step, in units
            # of τ; up to 2τ, since MALA's optimal step exceeds the conditional
            # scale in a few dimensions.
            log_translation = adapted(
                chain.log_translation,
                info.exchange_acceptance_rate,
                _NESTED_MALA_TARGET,
                math.log(2.0),
            )
        else:
            log_translation = adapted(
                chain.log_translation, info.translation_acceptance_rate
            )
        chain = chain._replace(
            state=state,
            log_move=log_move,
            log_translation=log_translation,
            surrogate_stats=stats,
        )
        return chain, info

    fields = {
        "acceptance_rate": lambda info: info.acceptance_rate,
        "diverging": lambda info: info.is_divergent,
        "n_steps": lambda info: info.num_integration_steps,
        "exchange_accepted": lambda info: info.exchange_accepted,
        "exchange_acceptance_rate": lambda info: info.exchange_acceptance_rate,
        "num_rejection_draws": lambda info: info.num_rejection_draws,
        "auxiliary_found": lambda info: info.auxiliary_found,
        "translation_accepted": lambda info: info.translation_accepted,
    }
    return states, (sweep, _exact_positions, fields)


def _exact_positions(chain):
    return chain.state.theta1, chain.state.theta2.position


def _sgld_setup(
    key,
    target,
    model,
    theta1,
    theta2,
    sigma2,
    *,
    method,
    step_size,
    batch_size,
    num_inner,
    num_inner_steps,
    num_integration_steps,
):
    num_chains = theta1.shape[0]
    kernel = sgld.build_kernel(
        target.log_joint,
        target.potential,
        sigma2,
        num_data=int(model.num_answers),
        batch_size=batch_size,
        step_size=step_size,
        algorithm=method,
        num_inner_steps=num_inner_steps,
        num_integration_steps=num_integration_steps,
        include_log_partition=target.include_log_partition,
    )
    states = jax.vmap(
        lambda k, a, b: sgld.init(k, a, b, target.potential, sigma2, num_inner)
    )(jr.split(key, num_chains), theta1, theta2)
    fields = {
        "step_size": lambda info: info.step_size,
        "inner_acceptance_rate": lambda info: info.inner_acceptance_rate,
        "inner_ess": lambda info: info.inner_ess,
    }
    return states, (kernel, lambda s: (s.theta1, s.theta2), fields)


def _build_record(
    model,
    target,
    indices,
    positions_fn,
    fields,
    *,
    num_burn,
    log_partition_every,
    log_partition_particles,
    predict_inputs,
    pointwise,
):
    indices = jnp.asarray(indices)

    def record(key, state, info, draw):
        theta1, theta2 = positions_fn(state)
        # One pass over the answers serves both the total and the pointwise group.
        pointwise_values = model.pointwise_log_likelihood(theta2)
        out = {
            "theta1": theta1[indices],
            "theta2": theta2[indices],
            "disagreement": model.disagreement(theta2),
            "log_likelihood_total": jnp.sum(pointwise_values),
        }
        if log_partition_every and target.lam > 0:

            def estimate(theta1):
                return log_partition(
                    model.disagreement,
                    theta1,
                    lam=target.lam,
                    sigma=model.sigma2,
                    key=key,
                    method="ais",
                    num_particles=log_partition_particles,
                ).log_z

            out["log_partition"] = jax.lax.cond(
                (draw >= num_burn) & ((draw - num_burn) % log_partition_every == 0),
                estimate,
                lambda t: jnp.full((), jnp.nan, t.dtype),
                theta1,
            )
        if pointwise:
            out["pointwise"] = pointwise_values
        if predict_inputs is not None:
            out["predictions"] = model.intended(theta2, predict_inputs)
        for name, get in fields.items():
            out["stat_" + name] = get(info)
        return out

    return record


def _to_datatree(records, model, indices, log_partition_every, attrs):
    posterior = {
        name: records[name]
        for name in ("theta1", "theta2", "disagreement", "log_likelihood_total")
    }
    thinned = {}
    if "log_partition" in records:
        log_z = records["log_partition"]
        values = {"log_partition": log_z, "bits_saved": -log_z / math.log(2.0)}
        if log_partition_every == 1:
            posterior.update(values)
        else:
            draws = np.arange(0, log_z.shape[1], log_partition_every)
            thinned["log_partition"] = (
                {name: value[:, draws] for name, value in values.items()},
                draws,
            )
    stats = {n[5:]: v for n, v in records.items() if n.startswith("stat_")}
    dims = {"theta1": ["param"], "theta2": ["param"]}
    coords = {"param": np.asarray(indices)}
    log_likelihood = None
    if "pointwise" in records:
        log_likelihood = {"answers": records["pointwise"]}
        dims["answers"] = ["answer"]
    predictions = None
    if "predictions" in records:
        predictions = {"intended": records["predictions"]}
    return to_inference_data(
        posterior,
        sample_stats=stats,
        log_likelihood=log_likelihood,
        observed_data={"answers": np.asarray(model.answers)},
        predictions=predictions,
        coords=coords,
        dims=dims,
        attrs=attrs,
        thinned_groups=thinned,
    )


class MAPResult(NamedTuple):
    """What :func:`find_map` returns.

    Attributes:
        theta1, theta2: the optimum, flat vectors.
        log_joint: every term of the log posterior but −log Z at the optimum.
        log_partition: log Z(θ₁) at the optimum, by AIS (NaN for baselines
            without it).
        bits_saved: −log₂ Z(θ₁).
        loss: ``(num_steps,)`` the loss along the way (without log Z, whose
            value the optimiser never needs).
        grad_norm: ``(num_steps,)`` norm of the full gradient.
    """

    theta1: Array
    theta2: Array
    log_joint: Array
    log_partition: Array
    bits_saved: Array
    loss: Array
    grad_norm: Array


def find_map(
    model,
    *,
    key: Array,
    num_steps: int = 2000,
    optimizer=None,
    batch_size: int | None = None,
    num_inner: int = 16,
    num_inner_steps: int = 2,
    baseline: str | None = None,
    stop_gradient_intended: bool = False,
    log_partition_particles: int = 256,
    progress: bool = True,
) -> MAPResult:
    """The maximum a posteriori (θ₁, θ₂) by optax, from θ₁ = θ₂ = θ₀.

    Args:
        model: a ``posterior.TwoStageModel`` or an object with its functions.
        key: a typed key.
        num_steps: optimiser steps.
        optimizer: an optax transformation; default ``optax.adam(1e-2)``.
        batch_size: answers per minibatch; default all.
        num_inner: persistent inner particles for ∇log Z.
        num_inner_steps: their MALA steps per step.
        baseline: as in :func:`sample`.
        stop_gradient_intended: the essay's stop-gradient on the intended head
            in C's gradient (changes the dynamics; no density is involved).
        log_partition_particles: AIS particles for log Z at the optimum.
        progress: show a progress bar.
    """
    _check_model(model)
    key = _check_key(key)
    num_steps = count(num_steps, "num_steps")
    batch_size = _batch_size(batch_size, model)
    if optimizer is None:
        optimizer = optax.adam(1e-2)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError("`optimizer` must be an optax.GradientTransformation.")
    target = build_target(
        model, baseline=baseline, stop_gradient_intended=stop_gradient_intended
    )
    sigma2 = float(model.sigma2)
    kernel = optimize.build_kernel(
        target.log_joint,
        target.potential,
        sigma2,
        optimizer,
        num_data=int(model.num_answers),
        batch_size=batch_size,
        num_inner_steps=num_inner_steps,
        include_log_partition=target.include_log_partition,
    )
    key_init, key_run, key_log_z = jr.split(key, 3)
    theta0 = jnp.asarray(model.theta0)
    state = optimize.init(
        key_init, theta0, theta0, optimizer, target.potential, sigma2, num_inner
    )
    states = jax.tree.map(lambda leaf: leaf[None], state)
    final, records = run_chains(
        kernel,
        states,
        key=key_run,
        num_steps=num_steps,
        record_fn=lambda k, s, info, d: {"loss": info.loss, "norm": info.grad_norm},
        progress=progress,
        description="MAP",
    )
    # When num_steps has no divisor near num_steps / 20 the bar's last chunk runs
    # a few steps past it; for an optimiser that is harmless.
    theta1, theta2 = final.theta1[0], final.theta2[0]
    log_z = jnp.full((), jnp.nan, theta0.dtype)
    if target.lam > 0 and target.include_log_partition:
        log_z = log_partition(
            model.disagreement,
            theta1,
            lam=target.lam,
            sigma=sigma2,
            key=key_log_z,
            method="ais",
            num_particles=log_partition_particles,
        ).log_z
    return MAPResult(
        theta1,
        theta2,
        target.log_joint(theta1, theta2),
        log_z,
        -log_z / math.log(2.0),
        records["loss"][0],
        records["norm"][0],
    )
