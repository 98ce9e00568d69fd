"""A second model of the same shapes, with other data and another λ, compiles
nothing new: its programs are those of the first, found in the persistent cache
(tests/conftest.py passes closed-over arrays as arguments of compiled programs)."""

import jax
import jax.random as jr
import pytest
from jax import monitoring

import posterior
import samplers

_EVENTS = {
    "/jax/compilation_cache/cache_hits": 0,
    "/jax/compilation_cache/cache_misses": 0,
}
_listening = []


def _count(event, **kwargs):
    if _listening and event in _EVENTS:
        _EVENTS[event] += 1


monitoring.register_event_listener(_count)


def _calls(model, key):
    samplers.sample(
        model,
        key=key,
        method="sgld",
        num_chains=2,
        num_warmup=30,
        num_samples=10,
        init="theta0",
        log_partition_every=5,
        log_partition_particles=8,
        progress=False,
    )
    samplers.find_map(
        model, key=key, num_steps=100, log_partition_particles=16, progress=False
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


def test_a_second_model_of_the_same_shapes_compiles_nothing_new():
    if not jax.config.jax_compilation_cache_dir:
        pytest.skip("needs the persistent compilation cache (TSP_JAX_CACHE is empty)")
    models = [
        posterior.LinearGaussianCase.random(
            jr.key(seed), d=3, m=2, n=8, lam=lam, sigma1=1.0, sigma2=0.5
        ).model
        for seed, lam in [(21, 2.0), (22, 3.5)]
    ]
    minimum = jax.config.jax_persistent_cache_min_compile_time_secs
    # Every program goes to the cache, however fast it compiled.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    try:
        _calls(models[0], jr.key(0))
        _EVENTS.update(dict.fromkeys(_EVENTS, 0))
        _listening.append(True)
        _calls(models[1], jr.key(1))
    finally:
        _listening.clear()
        jax.config.update("jax_persistent_cache_min_compile_time_secs", minimum)
    assert _EVENTS["/jax/compilation_cache/cache_hits"] >= 3, _EVENTS
    assert _EVENTS["/jax/compilation_cache/cache_misses"] == 0, _EVENTS
