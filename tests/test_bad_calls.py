"""Bad calls across the public API: each raises a clear error that names the
argument at fault, before compiling anything, or gives a correct result.

One table, one row per call: ``(id, call, error, match)``. ``match`` is a regex the
message must contain; it names the argument in backticks, as the codebase does.
Rows whose right answer is a result, not an error, carry a ``check`` instead.

"Before compiling" is checked by :class:`CompileWatch`: while a row's call runs
it collects the names of the programs XLA compiles (the public
``jax.monitoring`` compile event) and the functions JAX traces for ``jit``
(``jax.explain_cache_misses``, which logs a trace-cache miss only for functions
outside JAX itself). A compile counts when it compiles a function that was
traced there: one of the package's, a library's or the user's, or when it
compiles an eager ``lax.while_loop``, ``scan`` or ``cond`` (whose program is a
traced body under the primitive's name). Other eager operations
(``jnp.isfinite`` on an argument, say) compile a one-operation program too, on
the first call with each shape, but that is no program of the package; they are
listed in the failure message and otherwise ignored. Rows whose check must run
something first (a rejection pilot that finds nothing) say so in ``compiles``.
The detector is itself tested: it sees the compile of a good call, and ignores
eager operations.
"""

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax import monitoring

import posterior
import samplers
from posterior import (
    FromCallable,
    Gaussian,
    Grid2DCase,
    LinearGaussianCase,
    MechanismCase,
    TwoHeadMLP,
    TwoStageModel,
    _model_checks,
)
from posterior.agreement import squared_gap

# ------------------------------------------------------------------ the detector

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
# The logger jax.explain_cache_misses writes to (partial_eval's module logger).
_EXPLAIN_LOGGER = "jax._src.interpreters.partial_eval"
# Control-flow primitives: called eagerly, each compiles a whole traced body.
_LOOPS = frozenset({"while", "scan", "cond", "switch"})
# A model, when built, evaluates its divergence and likelihood at θ₀ to check
# them: two small programs (in place of the dozens of eager operations they
# once were), part of checking and not a sampler's compilation.
_MODEL_CHECKS = frozenset(
    f"jit({check.__name__})"
    for check in (_model_checks.divergence_at, _model_checks.log_likelihood_at)
)


class CompileWatch(logging.Handler):
    """Records what JAX traces for jit and what XLA compiles while active.

    Attributes:
        compiled: names of every program compiled, eager operations included,
            e.g. ``["jit(isfinite)", "jit(_run)"]``.
        traced: the explanations of trace-cache misses of non-JAX functions.
    """

    def __enter__(self):
        self.compiled: list[str] = []
        self.traced: list[str] = []
        self._logger = logging.getLogger(_EXPLAIN_LOGGER)
        self._propagate = self._logger.propagate
        self._logger.addHandler(self)
        self._logger.propagate = False  # keep the explanations out of the report
        self._explain = jax.explain_cache_misses(True)
        self._explain.__enter__()
        monitoring.register_event_duration_secs_listener(self._on_event)
        return self

    def __exit__(self, *exc_info):
        monitoring.unregister_event_duration_listener(self._on_event)
        self._explain.__exit__(*exc_info)
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate
        return False

    def _on_event(self, event, duration, **kwargs):
        if event == _COMPILE_EVENT:
            self.compiled.append(str(kwargs.get("fun_name", "?")))

    def emit(self, record):
        self.traced.append(record.getMessage())

    @property
    def programs(self) -> list[str]:
        """The compiled programs of functions traced here (not eager operations)."""
        found = []
        for name in self.compiled:
            if name in _MODEL_CHECKS:
                continue
            inner = re.fullmatch(r"jit\((.*)\)", name)
            function = inner.group(1) if inner else name
            if function in _LOOPS:
                # An eager lax.while_loop / scan / cond compiles its traced body
                # under the primitive's name.
                found.append(name)
                continue
            # explain writes "never seen function:\n    NAME id=… defined at …" or
            # "  for NAME defined at …".
            pattern = re.compile(
                rf"(?m)^\s+(?:for )?{re.escape(function)}(?: id=\d+| defined at |$)"
            )
            if any(pattern.search(message) for message in self.traced):
                found.append(name)
        return found


# ------------------------------------------------------------------ the models


@pytest.fixture(scope="module")
def world():
    """Tiny models and every input of the table, built once, outside the watch."""
    key = jr.fold_in(jr.key(0), 4040)
    keys = iter(jr.split(key, 16))
    case = LinearGaussianCase.random(
        jr.key(0), d=2, m=2, n=4, lam=1.0, sigma1=1.0, sigma2=0.5
    )
    in_size, num_classes, num_answers = 3, 3, 4
    network = TwoHeadMLP(in_size, num_classes, width=4, depth=1, key=next(keys))
    scalar_network = TwoHeadMLP(in_size, "scalar", width=4, depth=1, key=next(keys))
    agreement = np.asarray(jr.normal(next(keys), (5, in_size)))
    inputs = np.asarray(jr.normal(next(keys), (num_answers, in_size)))
    answers = np.array([0, 1, 2, 1])

    def model_arguments(**changes):
        arguments = dict(
            agreement_inputs=agreement,
            answer_inputs=inputs,
            answers=answers,
            likelihood="categorical",
            divergence="kl",
            lam=1.0,
            sigma1=1.0,
            sigma2=0.5,
        )
        return arguments | changes

    def categorical_model(**changes):
        return TwoStageModel(network, **model_arguments(**changes))

    def scalar_model(**changes):
        scalar = dict(
            answers=np.zeros(4), likelihood="gaussian", divergence="squared_gap"
        )
        return TwoStageModel(scalar_network, **model_arguments(**(scalar | changes)))

    network32 = jax.tree.map(
        lambda leaf: leaf.astype(jnp.float32) if eqx.is_inexact_array(leaf) else leaf,
        network,
    )
    theta0 = np.asarray(case.model.theta0)
    d = theta0.shape[0]

    def quadratic(theta):
        return 0.5 * jnp.sum(theta**2)

    return SimpleNamespace(
        case=case,
        model=case.model,
        categorical_model=categorical_model,
        scalar_model=scalar_model,
        model_arguments=model_arguments,
        network=network,
        network32=network32,
        scalar_network=scalar_network,
        agreement=agreement,
        inputs=inputs,
        answers=answers,
        key=jr.key(1),
        raw_key=jax.random.PRNGKey(1),
        keys=jr.split(jr.key(2), 2),
        theta0=theta0,
        theta_nan=np.where(np.arange(d) == 0, np.nan, theta0),
        theta_inf=np.where(np.arange(d) == 0, np.inf, theta0),
        theta_int=np.zeros(d, dtype=np.int32),
        theta_2d=np.zeros((2, d)),
        zeros3=np.zeros(3),
        quadratic=quadratic,
        end_samples_wide=np.zeros((8, d + 1)),
        end_samples_nan=np.full((8, d), np.nan),
        predict_wrong=np.zeros((3, 2, d + 2)),
        predict_nan=np.full((3, 2, d + 1), np.nan),
        one_hot=np.eye(num_classes, dtype=np.int32)[answers],
        column=answers[:, None],
        pairs=np.asarray(jr.normal(next(keys), (num_answers, 2, in_size))),
        triples=np.asarray(jr.normal(next(keys), (num_answers, 3, in_size))),
        binary=np.array([0, 1, 1, 0]),
        three_params=TwoStageModel(
            posterior.LinearTwoHead(3, key=next(keys)),
            agreement_inputs=np.ones((2, 2, 4)),
            answer_inputs=np.ones((2, 2, 4)),
            answers=np.zeros(2),
            likelihood=Gaussian(1.0),
            divergence="squared_gap",
            lam=1.0,
            sigma1=1.0,
            sigma2=0.5,
        ),
        grid_model=Grid2DCase.random(jr.key(3)).model,
    )


# ------------------------------------------------------------------ the calls
# Each sampler call is as small as the API allows, so that a row whose check is
# missing today runs for a moment and fails on "did not raise", not on time.


def _sample(w, model=None, **changes):
    arguments = dict(
        key=w.key,
        method="sgld",
        num_chains=1,
        num_samples=2,
        num_warmup=1,
        log_partition_every=0,
        progress=False,
    )
    return samplers.sample(model or w.model, **(arguments | changes))


def _find_map(w, **changes):
    arguments = dict(key=w.key, num_steps=2, log_partition_particles=0, progress=False)
    return samplers.find_map(w.model, **(arguments | changes))


def _log_partition(w, theta1=None, fn=None, **changes):
    # A fresh function per call, so that no compile is hidden by jit's cache.
    model = w.model
    arguments = dict(
        lam=1.0,
        sigma=0.5,
        key=w.key,
        method="ais",
        num_particles=16,
        schedule=np.array([0.5, 1.0]),
    )
    return samplers.log_partition(
        fn or (lambda t: model.disagreement(t)),
        w.theta0 if theta1 is None else theta1,
        **(arguments | changes),
    )


def _nothing_accepted(w, **changes):
    # C = ½‖θ‖² at θ₁ = 0, λ = 10⁶, σ = 1, d = 3: Z = (1 + λ)^{-3/2} ≈ 1e-9, so
    # neither the pilot's 1024 proposals nor the run's 4·10⁵ accept anything.
    quadratic = w.quadratic
    arguments = dict(
        lam=1e6,
        sigma=1.0,
        key=w.key,
        method="rejection",
        num_particles=16,
        max_rejection_draws=10**5,
    )
    return samplers.log_partition(
        lambda t: quadratic(t), w.zeros3, **(arguments | changes)
    )


def _thermodynamic(w, theta1=None, fn=None, **changes):
    model = w.model
    arguments = dict(
        lam=1.0, sigma=0.5, key=w.key, num_nodes=3, num_chains=2, num_warmup=2,
        num_steps=2,
    )  # fmt: skip
    return samplers.thermodynamic_integration(
        fn or (lambda t: model.disagreement(t)),
        w.theta0 if theta1 is None else theta1,
        **(arguments | changes),
    )


def _rejection(w, mean=None, **changes):
    model = w.model
    arguments = dict(key=w.key, num_samples=4, batch_size=64, max_draws=10**4)
    sigma = changes.pop("sigma", 0.5)
    return samplers.rejection_sample(
        lambda t: model.disagreement(t),
        w.theta0 if mean is None else mean,
        sigma,
        **(arguments | changes),
    )


def _mlp(w, *args, **changes):
    arguments = dict(width=4, depth=1, key=w.key) | changes
    return TwoHeadMLP(*(args or (3, 3)), **arguments)


def _linear_case(w, **changes):
    arguments = dict(key=w.key, d=2, m=2, n=4, lam=1.0, sigma1=1.0, sigma2=0.5)
    return LinearGaussianCase.random(**(arguments | changes))


# ------------------------------------------------------------------ checks of results


def _check_plain_callable_likelihood(w, model):
    # log_softmax(h)[a] is the categorical log-likelihood, so the model must give
    # exactly what the named "categorical" one gives.
    logits = np.asarray(model.intended(model.theta0, w.inputs))
    log_softmax = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    expected = log_softmax[np.arange(4), w.answers]
    np.testing.assert_allclose(
        model.pointwise_log_likelihood(model.theta0), expected, rtol=1e-12
    )
    np.testing.assert_allclose(
        model.log_likelihood(model.theta0), expected.sum(), rtol=1e-12
    )


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Row:
    id: str
    call: Callable
    error: type | tuple[type, ...] | None
    match: str | None = None
    check: Callable | None = None
    compiles: str | None = None  # why compiling is part of the check, if it is


ROWS = [
    # ---- named in the issue
    Row(
        "log_partition-rejection-nothing-accepted",
        lambda w: _nothing_accepted(w),
        (ValueError, RuntimeError, UserWarning),
        r"accept|max_rejection_draws",
        compiles="the pilot must run to see that nothing is accepted",
    ),
    Row(
        "log_partition-upper-nothing-accepted",
        lambda w: _nothing_accepted(
            w,
            method="ais",
            upper=True,
            schedule=[1.0],
            num_mcmc_steps=1,
            precondition=False,
        ),
        (ValueError, RuntimeError, UserWarning),
        r"accept|max_rejection_draws",
        compiles="the pilot must run to see that nothing is accepted",
    ),
    Row(
        "TwoStageModel-categorical-answers-column",
        lambda w: w.categorical_model(answers=w.column),
        ValueError,
        "`answers`",
    ),
    Row(
        "TwoStageModel-categorical-answers-one-hot",
        lambda w: w.categorical_model(answers=w.one_hot),
        ValueError,
        "`answers`",
    ),
    Row(
        "sample-sgld-num_inner-0",
        lambda w: _sample(w, num_inner=0),
        ValueError,
        "`num_inner`",
    ),
    Row(
        "TwoStageModel-divergence-returns-a-vector",
        lambda w: w.scalar_model(divergence=lambda h1, h2: jnp.stack([h1 - h2, h2])),
        ValueError,
        "`divergence`",
    ),
    Row(
        "TwoStageModel-divergence-nan-at-theta0",
        lambda w: w.scalar_model(
            divergence=lambda h1, h2: squared_gap(h1, h2) + jnp.nan
        ),
        ValueError,
        "`divergence`",
    ),
    Row(
        "TwoStageModel-divergence-negative-at-theta0",
        lambda w: w.scalar_model(divergence=lambda h1, h2: -1.0 - squared_gap(h1, h2)),
        ValueError,
        "`divergence`",
    ),
    Row(
        "TwoStageModel-likelihood-nan-at-theta0",
        lambda w: w.categorical_model(
            likelihood=FromCallable(lambda h, a: h[a] + jnp.nan)
        ),
        ValueError,
        "`likelihood`",
    ),
    Row(
        "log_partition-theta1-nan",
        lambda w: _log_partition(w, theta1=w.theta_nan),
        ValueError,
        "`theta1`",
    ),
    Row(
        "sample-nuts-step_size",
        lambda w: _sample(w, method="nuts", step_size=1e-3),
        ValueError,
        "`step_size`",
    ),
    Row(
        "sample-hmc-step_size",
        lambda w: _sample(w, method="hmc", step_size=1e-3),
        ValueError,
        "`step_size`",
    ),
    Row(
        # Decided: refused, naming the dtype mismatch and the fix (blackjax's
        # kernels take JAX's default float for step sizes and adaptation).
        "sample-float32-network-under-x64",
        lambda w: _sample(w, model=TwoStageModel(w.network32, **w.model_arguments())),
        TypeError,
        "float32",
    ),
    Row(
        "sample-sgld-num_inner_steps--1",
        lambda w: _sample(w, num_inner_steps=-1),
        ValueError,
        "`num_inner_steps`",
    ),
    Row(
        "find_map-num_inner_steps--1",
        lambda w: _find_map(w, num_inner_steps=-1),
        ValueError,
        "`num_inner_steps`",
    ),
    Row(
        "sample-log_partition_particles-0",
        lambda w: _sample(w, log_partition_particles=0),
        ValueError,
        "`log_partition_particles`",
    ),
    Row(
        "sample-predict_inputs-wrong-shape",
        lambda w: _sample(w, predict_inputs=w.predict_wrong),
        ValueError,
        "`predict_inputs`",
    ),
    Row(
        "log_partition-rejection-batch_size-0",
        lambda w: _log_partition(w, method="rejection", batch_size=0),
        ValueError,
        "`batch_size`",
    ),
    Row(
        "rejection_sample-batch_size-0",
        lambda w: _rejection(w, batch_size=0),
        ValueError,
        "`batch_size`",
    ),
    Row(
        "TwoStageModel-likelihood-plain-callable",
        lambda w: w.categorical_model(likelihood=lambda h, a: jax.nn.log_softmax(h)[a]),
        None,
        check=_check_plain_callable_likelihood,
    ),
    # ---- sample
    Row("sample-key-PRNGKey", lambda w: _sample(w, key=w.raw_key), TypeError, "`key`"),
    Row("sample-key-two-keys", lambda w: _sample(w, key=w.keys), ValueError, "`key`"),
    Row(
        "sample-num_chains-bool",
        lambda w: _sample(w, num_chains=True),
        TypeError,
        "`num_chains`",
    ),
    Row(
        "sample-num_samples-0",
        lambda w: _sample(w, num_samples=0),
        ValueError,
        "`num_samples`",
    ),
    Row("sample-thin-0", lambda w: _sample(w, thin=0), ValueError, "`thin`"),
    Row(
        "sample-num_warmup-negative",
        lambda w: _sample(w, num_warmup=-1),
        ValueError,
        "`num_warmup`",
    ),
    Row(
        "sample-init_spread-inf",
        lambda w: _sample(w, init_spread=math.inf),
        ValueError,
        "`init_spread`",
    ),
    Row(
        "sample-init_spread-string",
        lambda w: _sample(w, init_spread="0.1"),
        TypeError,
        "`init_spread`",
    ),
    Row(
        "sample-sgld-step_size-inf",
        lambda w: _sample(w, step_size=math.inf),
        ValueError,
        "`step_size`",
    ),
    Row(
        "sample-sgld-step_size-string",
        lambda w: _sample(w, step_size="small"),
        TypeError,
        "`step_size`",
    ),
    Row(
        "sample-sghmc-step_size-schedule-negative",
        lambda w: _sample(w, method="sghmc", step_size=lambda step: -1e-3),
        ValueError,
        "`step_size`",
    ),
    Row(
        "sample-sgld-batch_size-float",
        lambda w: _sample(w, batch_size=2.0),
        TypeError,
        "`batch_size`",
    ),
    Row(
        "sample-param_indices-2d",
        lambda w: _sample(w, param_indices=[[0, 1]]),
        TypeError,
        "`param_indices`",
    ),
    Row(
        "sample-log_partition_every-negative",
        lambda w: _sample(w, log_partition_every=-1),
        ValueError,
        "`log_partition_every`",
    ),
    Row(
        "sample-sgld-theta1_update-nested_ais",
        lambda w: _sample(w, theta1_update="nested_ais"),
        ValueError,
        "`theta1_update`",
    ),
    Row(
        "sample-predict_inputs-nan",
        lambda w: _sample(w, predict_inputs=w.predict_nan),
        ValueError,
        "`predict_inputs`",
    ),
    Row(
        "sample-method-unknown",
        lambda w: _sample(w, method="NUTS"),
        ValueError,
        "`method`",
    ),
    Row(
        "sample-max_rejection_draws-bool",
        lambda w: _sample(w, max_rejection_draws=True),
        TypeError,
        "`max_rejection_draws`",
    ),
    Row(
        "sample-method-not-a-method",
        lambda w: _sample(w, method=3),
        TypeError,
        "`method`",
    ),
    Row(
        "sample-method-object-with-keyword",
        lambda w: _sample(w, method=samplers.SGLD(), num_inner=3),
        ValueError,
        "`num_inner`",
    ),
    Row(
        "sample-nuts-num_inner",
        lambda w: _sample(w, method="nuts", num_inner=3),
        ValueError,
        "`num_inner`",
    ),
    Row(
        "sample-sgld-nested_particles",
        lambda w: _sample(w, nested_particles=16),
        ValueError,
        "`nested_particles`",
    ),
    Row(
        "SGLD-num_inner-0",
        lambda w: samplers.SGLD(num_inner=0),
        ValueError,
        "`num_inner`",
    ),
    Row(
        "SGHMC-step_size-negative",
        lambda w: samplers.SGHMC(step_size=-1.0),
        ValueError,
        "`step_size`",
    ),
    Row(
        "NUTS-theta1-unknown",
        lambda w: samplers.NUTS(theta1="mala"),
        ValueError,
        "`theta1`",
    ),
    Row(
        "HMC-num_integration_steps-0",
        lambda w: samplers.HMC(num_integration_steps=0),
        ValueError,
        "`num_integration_steps`",
    ),
    Row(
        "Exchange-max_draws-bool",
        lambda w: samplers.Exchange(True),
        TypeError,
        "`max_draws`",
    ),
    Row(
        "Exchange-fallback-string",
        lambda w: samplers.Exchange(fallback="nested_ais"),
        TypeError,
        "`fallback`",
    ),
    Row(
        "NestedAIS-particles-2",
        lambda w: samplers.NestedAIS(2),
        ValueError,
        "`particles`",
    ),
    Row(
        "NestedAIS-tolerance-0",
        lambda w: samplers.NestedAIS(tolerance=0.0),
        ValueError,
        "`tolerance`",
    ),
    Row(
        "NestedAIS-tolerance-string",
        lambda w: samplers.NestedAIS(tolerance="0.5"),
        TypeError,
        "`tolerance`",
    ),
    Row(
        "NestedAIS-max_particles-below-particles",
        lambda w: samplers.NestedAIS(particles=128, max_particles=64),
        ValueError,
        "`max_particles`",
    ),
    Row(
        "sample-model-None",
        lambda w: samplers.sample(None, key=w.key),
        TypeError,
        "`model`",
    ),
    # ---- find_map
    Row(
        "find_map-num_steps-0",
        lambda w: _find_map(w, num_steps=0),
        ValueError,
        "`num_steps`",
    ),
    Row(
        "find_map-num_steps-float",
        lambda w: _find_map(w, num_steps=1e3),
        TypeError,
        "`num_steps`",
    ),
    Row(
        "find_map-optimizer-string",
        lambda w: _find_map(w, optimizer="adam"),
        TypeError,
        "`optimizer`",
    ),
    Row(
        "find_map-num_inner-0",
        lambda w: _find_map(w, num_inner=0),
        ValueError,
        "`num_inner`",
    ),
    Row(
        "find_map-inner_refresh_every-negative",
        lambda w: _find_map(w, inner_refresh_every=-5),
        ValueError,
        "`inner_refresh_every`",
    ),
    Row(
        "find_map-inner_refresh_every-float",
        lambda w: _find_map(w, inner_refresh_every=100.0),
        TypeError,
        "`inner_refresh_every`",
    ),
    Row(
        "find_map-key-PRNGKey",
        lambda w: _find_map(w, key=w.raw_key),
        TypeError,
        "`key`",
    ),
    Row(
        "find_map-log_partition_particles-negative",
        lambda w: _find_map(w, log_partition_particles=-1),
        ValueError,
        "`log_partition_particles`",
    ),
    Row(
        "find_map-batch_size-0",
        lambda w: _find_map(w, batch_size=0),
        ValueError,
        "`batch_size`",
    ),
    Row(
        "find_map-init-one-array",
        lambda w: _find_map(w, init=w.model.theta0),
        TypeError,
        "`init`",
    ),
    Row(
        "find_map-init-wrong-size",
        lambda w: _find_map(w, init=(w.model.theta0[:-1], w.model.theta0)),
        ValueError,
        "`init`'s theta1",
    ),
    Row(
        "find_map-baseline-unknown",
        lambda w: _find_map(w, baseline="two_stage"),
        ValueError,
        "`baseline`",
    ),
    # ---- log_partition
    Row(
        "log_partition-theta1-inf",
        lambda w: _log_partition(w, theta1=w.theta_inf),
        ValueError,
        "`theta1`",
    ),
    Row(
        "log_partition-theta1-int",
        lambda w: _log_partition(w, theta1=w.theta_int),
        TypeError,
        "`theta1`",
    ),
    Row(
        "log_partition-theta1-2d",
        lambda w: _log_partition(w, theta1=w.theta_2d),
        ValueError,
        "`theta1`",
    ),
    Row(
        "log_partition-lam-bool",
        lambda w: _log_partition(w, lam=True),
        TypeError,
        "`lam`",
    ),
    Row(
        "log_partition-sigma-inf",
        lambda w: _log_partition(w, sigma=math.inf),
        ValueError,
        "`sigma`",
    ),
    Row(
        "log_partition-key-PRNGKey",
        lambda w: _log_partition(w, key=w.raw_key),
        TypeError,
        "`key`",
    ),
    Row(
        "log_partition-num_particles-0",
        lambda w: _log_partition(w, num_particles=0),
        ValueError,
        "`num_particles`",
    ),
    Row(
        "log_partition-method-unknown",
        lambda w: _log_partition(w, method="exact"),
        ValueError,
        "`method`",
    ),
    Row(
        "log_partition-move-unknown",
        lambda w: _log_partition(w, move="nuts"),
        ValueError,
        "`move`",
    ),
    Row(
        "log_partition-schedule-not-ending-at-1",
        lambda w: _log_partition(w, schedule=[0.5, 0.9]),
        ValueError,
        "`schedule`",
    ),
    Row(
        "log_partition-schedule-nan",
        lambda w: _log_partition(w, schedule=[math.nan, 1.0]),
        ValueError,
        "`schedule`",
    ),
    Row(
        "log_partition-step_sizes-without-schedule",
        lambda w: _log_partition(w, schedule=None, step_sizes=[0.1, 0.1]),
        ValueError,
        "`step_sizes`",
    ),
    Row(
        "log_partition-step_sizes-wrong-length",
        lambda w: _log_partition(w, schedule=[0.5, 1.0], step_sizes=[0.1]),
        ValueError,
        "`step_sizes`",
    ),
    Row(
        "log_partition-step_sizes-zero",
        lambda w: _log_partition(w, schedule=[0.5, 1.0], step_sizes=[0.1, 0.0]),
        ValueError,
        "`step_sizes`",
    ),
    Row(
        "log_partition-target_ess-1",
        lambda w: _log_partition(w, target_ess=1.0),
        ValueError,
        "`target_ess`",
    ),
    Row(
        "log_partition-resample_threshold-nan",
        lambda w: _log_partition(w, resample_threshold=math.nan),
        ValueError,
        "`resample_threshold`",
    ),
    Row(
        "log_partition-end_samples-wrong-width",
        lambda w: _log_partition(w, end_samples=w.end_samples_wide),
        ValueError,
        "`end_samples`",
    ),
    Row(
        "log_partition-end_samples-nan",
        lambda w: _log_partition(w, end_samples=w.end_samples_nan),
        ValueError,
        "`end_samples`",
    ),
    Row(
        "log_partition-reference-unknown",
        lambda w: _log_partition(w, reference="posterior"),
        ValueError,
        "`reference`",
    ),
    Row(
        "log_partition-max_rejection_draws-0",
        lambda w: _log_partition(w, method="rejection", max_rejection_draws=0),
        ValueError,
        "`max_rejection_draws`",
    ),
    Row(
        "log_partition-num_mcmc_steps-negative",
        lambda w: _log_partition(w, num_mcmc_steps=-1),
        ValueError,
        "`num_mcmc_steps`",
    ),
    Row(
        "log_partition-disagreement_fn-returns-a-vector",
        lambda w: _log_partition(w, fn=lambda t: t**2),
        (ValueError, TypeError),
        "`disagreement_fn`",
    ),
    # ---- thermodynamic_integration
    Row(
        "thermodynamic-num_nodes-even",
        lambda w: _thermodynamic(w, num_nodes=4),
        ValueError,
        "`num_nodes`",
    ),
    Row(
        "thermodynamic-num_nodes-float",
        lambda w: _thermodynamic(w, num_nodes=3.0),
        TypeError,
        "`num_nodes`",
    ),
    Row(
        "thermodynamic-num_warmup-negative",
        lambda w: _thermodynamic(w, num_warmup=-1),
        ValueError,
        "`num_warmup`",
    ),
    Row(
        "thermodynamic-num_steps-bool",
        lambda w: _thermodynamic(w, num_steps=True),
        TypeError,
        "`num_steps`",
    ),
    Row(
        "thermodynamic-key-PRNGKey",
        lambda w: _thermodynamic(w, key=w.raw_key),
        TypeError,
        "`key`",
    ),
    Row(
        "thermodynamic-theta1-nan",
        lambda w: _thermodynamic(w, theta1=w.theta_nan),
        ValueError,
        "`theta1`",
    ),
    Row(
        "thermodynamic-disagreement_fn-string",
        lambda w: _thermodynamic(w, fn="squared_gap"),
        TypeError,
        "`disagreement_fn`",
    ),
    # ---- rejection_sample
    Row(
        "rejection_sample-num_samples-0",
        lambda w: _rejection(w, num_samples=0),
        ValueError,
        "`num_samples`",
    ),
    Row(
        "rejection_sample-key-PRNGKey",
        lambda w: _rejection(w, key=w.raw_key),
        TypeError,
        "`key`",
    ),
    Row(
        "rejection_sample-sigma-negative",
        lambda w: _rejection(w, sigma=-0.5),
        ValueError,
        "`sigma`",
    ),
    Row(
        "rejection_sample-num_pilot-0",
        lambda w: _rejection(w, num_pilot=0),
        ValueError,
        "`num_pilot`",
    ),
    Row(
        "rejection_sample-mean-2d",
        lambda w: _rejection(w, mean=w.theta_2d),
        ValueError,
        "`mean`",
    ),
    # ---- TwoStageModel and likelihoods
    Row(
        "TwoStageModel-lam-bool",
        lambda w: w.categorical_model(lam=True),
        TypeError,
        "`lam`",
    ),
    Row(
        "TwoStageModel-sigma2-string",
        lambda w: w.categorical_model(sigma2="0.5"),
        TypeError,
        "`sigma2`",
    ),
    Row(
        "TwoStageModel-divergence-not-callable",
        lambda w: w.categorical_model(divergence=42),
        TypeError,
        "`divergence`",
    ),
    Row(
        "TwoStageModel-bradley_terry-triples",
        lambda w: w.scalar_model(
            answer_inputs=w.triples, answers=w.binary, likelihood="bradley_terry"
        ),
        ValueError,
        "`answer_inputs`",
    ),
    Row("Gaussian-scale-inf", lambda w: Gaussian(math.inf), ValueError, "`scale`"),
    # ---- TwoHeadMLP
    Row("TwoHeadMLP-width-0", lambda w: _mlp(w, width=0), ValueError, "`width`"),
    Row("TwoHeadMLP-width-bool", lambda w: _mlp(w, width=True), TypeError, "`width`"),
    Row("TwoHeadMLP-in_size-0", lambda w: _mlp(w, 0, 3), ValueError, "`in_size`"),
    Row(
        "TwoHeadMLP-out_size-unknown-string",
        lambda w: _mlp(w, 3, "vector"),
        ValueError,
        "`out_size`",
    ),
    Row("TwoHeadMLP-key-PRNGKey", lambda w: _mlp(w, key=w.raw_key), TypeError, "`key`"),
    # ---- LinearGaussianCase and Grid2DCase
    Row(
        "LinearGaussianCase-d-bool", lambda w: _linear_case(w, d=True), TypeError, "`d`"
    ),
    Row(
        "LinearGaussianCase-m-float", lambda w: _linear_case(w, m=2.0), TypeError, "`m`"
    ),
    Row(
        "LinearGaussianCase-key-PRNGKey",
        lambda w: _linear_case(w, key=w.raw_key),
        TypeError,
        "`key`",
    ),
    Row(
        "LinearGaussianCase-log_partition-theta1-too-long",
        lambda w: w.case.log_partition(w.zeros3),
        ValueError,
        "`theta1`",
    ),
    Row(
        "Grid2DCase-model-with-3-params",
        lambda w: Grid2DCase(w.three_params),
        ValueError,
        "`model`",
    ),
    Row(
        "Grid2DCase-grid_size-float",
        lambda w: Grid2DCase(w.grid_model, grid_size=240.5),
        TypeError,
        "`grid_size`",
    ),
    Row(
        "Grid2DCase-width-negative",
        lambda w: Grid2DCase(w.grid_model, width=-7.0),
        ValueError,
        "`width`",
    ),
    Row(
        "MechanismCase-kappa-zero",
        lambda w: MechanismCase(0.0, 0.4, 0.1),
        ValueError,
        "`kappa`",
    ),
    Row(
        "MechanismCase-s_w-negative",
        lambda w: MechanismCase(25.0, 0.4, 0.1, s_w=-0.05),
        ValueError,
        "`s_w`",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_call(world, row):
    with CompileWatch() as watch:
        if row.error is None:
            result = row.call(world)
        else:
            with pytest.raises(row.error, match=row.match):
                row.call(world)
    if row.check is not None:
        row.check(world, result)
    if row.compiles is None:
        assert not watch.programs, (
            f"compiled {watch.programs} before answering (all compiles, eager "
            f"operations included: {watch.compiled})"
        )


def test_the_table_is_big_enough():
    assert len(ROWS) >= 40
    assert len({row.id for row in ROWS}) == len(ROWS)


# ------------------------------------------------------------------ the detector


def test_the_watch_sees_the_compile_of_a_good_call(world):
    with CompileWatch() as watch:
        # The cheapest good call: exact rejection (a pilot, then the run).
        result = _log_partition(
            world, method="rejection", num_particles=4, schedule=None
        )
    assert np.isfinite(float(result.log_z))
    assert "jit(estimate_log_z)" in watch.programs, watch.compiled


def test_the_watch_sees_a_user_jit_and_ignores_eager_operations():
    odd = jnp.ones(37)  # a shape nothing else in the suite uses
    with CompileWatch() as watch:
        bool(jnp.all(jnp.isfinite(odd)))
    assert watch.compiled and not watch.programs, watch.compiled
    with CompileWatch() as watch:
        jax.jit(lambda x: x * 3.0 + 1.0)(odd)
    assert watch.programs == ["jit(<lambda>)"], watch.compiled
    with CompileWatch() as watch:
        jax.lax.while_loop(lambda x: x[0] < 5.0, lambda x: x + 1.0, odd)
    assert watch.programs == ["jit(while)"], watch.compiled
