"""A second call with a model of the same shapes, other data, another λ and
another key traces nothing and compiles nothing: the package's programs take the
model as an argument (samplers.programs), so ``jit`` finds them again."""

import jax.random as jr
import pytest
from jax import monitoring

import posterior
import samplers

_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_COMPILE = "/jax/core/compile/backend_compile_duration"
_seen: dict[str, list] = {_TRACE: [], _COMPILE: []}
_listening = []


def _count(event, duration, **kwargs):
    if _listening and event in _seen:
        _seen[event].append(kwargs.get("fun_name"))


monitoring.register_event_duration_secs_listener(_count)


def _sgld_and_map(model, key):
    samplers.sample(
        model,
        key=key,
        method="sgld",
        num_chains=2,
        num_warmup=30,
        num_samples=10,
        init="theta0",
        # No log Z records: their AIS, compiled inside the run's program, would
        # double this test's time; find_map's log Z at the MAP runs AIS.
        log_partition_every=0,
        progress=False,
    )
    samplers.find_map(
        model, key=key, num_steps=100, log_partition_particles=16, progress=False
    )


def _nuts_and_log_partition(model, key):
    samplers.sample(
        model,
        key=key,
        method="nuts",
        theta1_update="exchange",
        num_chains=2,
        num_warmup=20,
        num_samples=10,
        progress=False,
    )
    samplers.log_partition(
        model.disagreement,
        model.theta0,
        lam=model.lam,
        sigma=model.sigma2,
        key=key,
        method="ais",
        num_particles=16,
    )


@pytest.mark.parametrize("calls", [_sgld_and_map, _nuts_and_log_partition])
def test_a_second_call_with_new_data_lambda_and_key_traces_nothing(calls):
    # Before, every call traced and lowered its programs afresh (2-3 s of a small
    # run even when each compiled program was found in the persistent cache).
    models = [
        posterior.LinearGaussianCase.random(
            jr.key(seed), d=3, m=2, n=8, lam=lam, sigma1=1.0, sigma2=0.5
        ).model
        for seed, lam in [(23, 1.5), (24, 2.5)]
    ]
    calls(models[0], jr.key(0))
    for names in _seen.values():
        names.clear()
    _listening.append(True)
    try:
        calls(models[1], jr.key(1))
    finally:
        _listening.clear()
    assert _seen == {_TRACE: [], _COMPILE: []}, _seen
