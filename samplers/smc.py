r"""`tempered_smc`: posterior mode masses by tempered SMC from the two-stage prior.

The MCMC samplers of :func:`samplers.sample` move between modes of θ₂ only as
fast as their chains cross the barriers, which at κ ≫ 1 is never. This method
weighs the modes instead, and never evaluates Z(θ₁):

1. Draws of the two-stage prior $p(\theta_1)\,p(\theta_2 \mid \theta_1)$: θ₁
   exactly from $\mathcal N(\theta_0, \sigma_1^2 I)$, and θ₂ given each θ₁ by AIS
   on λC from $\mathcal N(\theta_1, \sigma_2^2 I)$ (:func:`samplers.annealing.
   anneal`), one of its ``num_inner`` particles picked by weight. Z(θ₁)
   normalises the conditional each θ₂ is drawn from, so it appears nowhere; the
   pick is the one approximation (its bias falls as 1/``num_inner``).
2. blackjax's adaptive tempered SMC from there to the posterior on
   $L(\theta_2)^\beta$: the weights need only L, and the move (HMC on θ₂ with
   θ₁ held) samples θ₂'s conditional, whose normaliser never enters.

θ₁ moves only by resampling, so the error is θ₁'s diversity: the method suits a
small θ₁ (or one whose posterior stays near its prior). On the mechanism case
(κ = 25) 65,536 particles put P(honest) within 0.012 of the exact value in six
runs out of six, about 60 s a run on 2 cores (docs/benchmarks.md).
"""

import warnings
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from blackjax.smc import resampling
from jax import Array

from samplers import _checks
from samplers.annealing import anneal
from samplers.health import SamplingWarning
from samplers.programs import filter_jit
from samplers.record import to_datatree
from samplers.target import build_target, check_model

__all__ = ["tempered_smc"]

# Below it the θ₂ moves barely rejuvenate the particles after resampling.
MIN_ACCEPTANCE = 0.2


def tempered_smc(
    model,
    *,
    key,
    num_particles: int = 16_384,
    num_runs: int = 4,
    num_inner: int = 8,
    target_ess: float = 0.5,
    num_moves: int = 10,
    num_integration_steps: int = 10,
    step_size: float | None = None,
    baseline: str | None = None,
):
    """Equally weighted posterior draws of (θ₁, θ₂) from independent SMC runs.

    Args:
        model: a ``posterior.TwoStageModel`` (or an object with its functions).
        key: a typed key.
        num_particles: particles per run.
        num_runs: independent runs, the DataTree's chains: their spread is the
            standard error of any posterior mean (the particles of one run are
            correlated through resampling, so ArviZ's ESS does not apply).
        num_inner: AIS particles per θ₁ for its θ₂ draw.
        target_ess: the conditional ESS fraction kept per tempering step.
        num_moves: HMC moves of θ₂ per tempering step.
        num_integration_steps: leapfrog steps per move.
        step_size: the leapfrog step; default σ₂/10.
        baseline: ``None`` (the two-stage posterior) or ``"single_head"``.

    Returns:
        An xarray DataTree like :func:`samplers.sample`'s (posterior θ₁, θ₂, C,
        L; log_likelihood; observed and constant data), with one chain per run.
        ``attrs`` hold each run's tempering steps, mean acceptance rate and
        number of distinct θ₁ left after resampling (as text, like every
        attribute a NetCDF file can keep). A `SamplingWarning` says when there
        is one run (no standard error), a NaN draw, or a run that accepted
        under 20% of its θ₂ moves.

    Example:
        >>> import jax, jax.random as jr
        >>> jax.config.update("jax_enable_x64", True)
        >>> import posterior
        >>> case = posterior.MechanismCase(25.0, 0.4, 0.1)
        >>> tree = tempered_smc(case.model, key=jr.key(0), num_particles=256,
        ...                     num_runs=2)
        >>> tree.posterior["theta2"].shape
        (2, 256, 2)
    """
    check_model(model)
    key = _checks.typed_key(key)
    num_runs = _checks.count(num_runs, "num_runs")
    settings = _settings(
        model,
        num_particles=num_particles,
        num_inner=num_inner,
        target_ess=target_ess,
        num_moves=num_moves,
        num_integration_steps=num_integration_steps,
        step_size=step_size,
        baseline=baseline,
    )
    target = build_target(model, baseline=baseline)
    out = jax.device_get(
        _runs(model, target.potential, settings, jr.split(key, num_runs))
    )
    records = {
        name: np.asarray(out[name])
        for name in (
            "theta1",
            "theta2",
            "disagreement",
            "log_likelihood_total",
            "pointwise",
        )
    }
    attrs = {
        "method": "tempered_smc",
        # As `sample` names them, so that `compare_runs` can pair the runs.
        "baseline": baseline or "two_stage",
        # θ₂ | θ₁ is one AIS particle picked by weight: not an exact draw.
        "approximate": 1,
        "lam": target.lam,
        "sigma1": float(model.sigma1),
        "sigma2": float(model.sigma2),
        "num_particles": settings["num_particles"],
        "num_inner": settings["num_inner"],
        "step_size": settings["step_size"],
        "num_tempering_steps": out["num_steps"].tolist(),
        "acceptance_rate": np.round(out["acceptance"], 3).tolist(),
        "distinct_theta1": out["distinct_theta1"].tolist(),
    }
    _warn(out, records, num_runs)
    indices = np.arange(jnp.asarray(model.theta0).size)
    return to_datatree(records, model, indices, 0, attrs)


def _settings(model, *, target_ess, step_size, baseline, **counts):
    """The run's settings, checked before anything compiles."""
    settings = {
        name: _checks.count(value, name, minimum=2 if name == "num_particles" else 1)
        for name, value in counts.items()
    }
    if not 0.0 < float(target_ess) < 1.0:
        raise ValueError(f"`target_ess` must lie in (0, 1), got {target_ess!r}.")
    if baseline not in (None, "single_head"):
        raise ValueError(
            "`baseline` must be None or 'single_head', got "
            f"{baseline!r}: without −log Z(θ₁), θ₁'s prior marginal is tilted by "
            "Z(θ₁), which this method never evaluates."
        )
    if step_size is None:
        step_size = float(model.sigma2) / 10
    step_size = float(_checks.positive(step_size, "step_size"))
    return {**settings, "target_ess": float(target_ess), "step_size": step_size}


def _warn(out, records, num_runs):
    problems = []
    if num_runs < 2:
        problems.append("one run gives no standard error (use `num_runs` >= 2)")
    if not all(np.isfinite(records[n]).all() for n in ("theta2", "disagreement")):
        problems.append("some draws are NaN or infinite")
    low = np.flatnonzero(np.asarray(out["acceptance"]) < MIN_ACCEPTANCE)
    if low.size:
        problems.append(
            f"runs {low.tolist()} accepted under {MIN_ACCEPTANCE:.0%} of their θ₂ "
            "moves (lower `step_size`)"
        )
    if problems:
        warnings.warn(
            "tempered_smc: " + "; ".join(problems) + ".", SamplingWarning, stacklevel=3
        )


@filter_jit
def _runs(model, potential, settings, keys):
    # Of the model and the target's λC, not of the target: its λ, a float,
    # would key the program (samplers.programs).
    return jax.vmap(_build_run(model, potential, **settings))(keys)


def _build_run(model, potential, *, num_particles, num_inner, target_ess, **move):
    sigma2 = float(model.sigma2)

    def log_prior(position):
        # Up to terms of θ₁ alone (its prior, −log Z(θ₁)): the move holds θ₁.
        theta1, theta2 = position
        gap = jnp.sum((theta2 - theta1) ** 2) / (2 * sigma2**2)
        return -gap - potential(theta2)

    def log_likelihood(position):
        return model.log_likelihood(position[1], None)

    smc = blackjax.adaptive_tempered_smc(
        log_prior,
        log_likelihood,
        _theta2_move,
        _hold,
        {
            "step_size": jnp.full((1,), move["step_size"]),
            "num_integration_steps": jnp.full(
                (1,), move["num_integration_steps"], jnp.int32
            ),
        },
        resampling.systematic,
        target_ess,
        num_mcmc_steps=move["num_moves"],
    )

    def run(key):
        key_prior, key_smc, key_final = jr.split(key, 3)
        pairs = _prior_pairs(key_prior, model, potential, num_particles, num_inner)

        def unfinished(carry):
            return carry[0].tempering_param < 1

        def tempering_step(carry):
            state, index, acceptance = carry
            state, info = smc.step(jr.fold_in(key_smc, index), state)
            acceptance = acceptance + info.update_info.acceptance_rate.mean()
            return state, index + 1, acceptance

        state, num_steps, acceptance = jax.lax.while_loop(
            unfinished, tempering_step, (smc.init(pairs), 0, 0.0)
        )
        # Equal weights for ArviZ: one last resampling.
        picks = resampling.systematic(key_final, state.weights, num_particles)
        theta1, theta2 = (x[picks] for x in state.particles)
        distinct = jnp.unique(theta1[:, 0], size=num_particles, fill_value=jnp.nan)
        pointwise = jax.vmap(model.pointwise_log_likelihood)(theta2)
        return {
            "theta1": theta1,
            "theta2": theta2,
            "disagreement": jax.vmap(model.disagreement)(theta2),
            "pointwise": pointwise,
            "log_likelihood_total": pointwise.sum(axis=-1),
            "num_steps": num_steps,
            "acceptance": acceptance / jnp.maximum(num_steps, 1),
            "distinct_theta1": jnp.sum(jnp.isfinite(distinct)),
        }

    return run


def _prior_pairs(key, model, potential, num_particles, num_inner):
    """(θ₁, θ₂) draws of the two-stage prior; θ₂ | θ₁ picked from AIS."""
    theta0 = jnp.asarray(model.theta0)
    sigma1, sigma2 = float(model.sigma1), float(model.sigma2)
    key_theta1, key_start, key_ais, key_pick = jr.split(key, 4)
    theta1 = theta0[None] + sigma1 * jr.normal(
        key_theta1, (num_particles, theta0.size), theta0.dtype
    )
    start = theta1[:, None, :] + sigma2 * jr.normal(
        key_start, (num_particles, num_inner, theta0.size), theta0.dtype
    )

    def conditional(key, theta1, start):
        state = anneal(key, start, potential, theta1, sigma2, move="hmc").state
        return state.particles, state.log_weights

    particles, log_weights = jax.vmap(conditional)(
        jr.split(key_ais, num_particles), theta1, start
    )
    picks = jax.vmap(jr.categorical)(jr.split(key_pick, num_particles), log_weights)
    return theta1, particles[jnp.arange(num_particles), picks]


class _Held(NamedTuple):
    """A particle under the move: ``position`` is (θ₁, θ₂), as blackjax's SMC
    reads it; ``theta2`` is the HMC state of θ₂'s conditional, carried from move
    to move so that no gradient is computed twice."""

    position: tuple[Array, Array]
    theta2: blackjax.mcmc.hmc.HMCState


def _hold(position, logdensity_fn):
    theta1, theta2 = position
    return _Held(
        position, blackjax.hmc.init(theta2, _conditional(logdensity_fn, theta1))
    )


def _conditional(logdensity_fn, theta1):
    return lambda theta2: logdensity_fn((theta1, theta2))


def _theta2_move(key, state, logdensity_fn, step_size, num_integration_steps):
    """One HMC move of θ₂ with θ₁ held: it samples θ₂'s conditional, whose
    normaliser (Z(θ₁) among it) never enters."""
    theta1 = state.position[0]
    moved, info = blackjax.hmc.build_kernel()(
        key,
        state.theta2,
        _conditional(logdensity_fn, theta1),
        step_size,
        jnp.ones_like(theta1),
        num_integration_steps,
    )
    return _Held((theta1, moved.position), moved), info
