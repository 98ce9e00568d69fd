"""Every method's chain kernel keeps one contract: ``step(key, state, index) ->
(state, info)`` for one chain, with the state's shapes and dtypes kept, the same
numbers under ``jit`` and ``vmap``, and one trace for every key and index."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers
from samplers import chains
from samplers.base import jit
from samplers.target import build_target


@pytest.fixture(scope="module")
def model():
    return posterior.LinearGaussianCase.random(
        jr.key(0), d=2, m=2, n=4, lam=1.0, sigma1=1.0, sigma2=0.5
    ).model


_THETA2 = {"acceptance_rate", "diverging", "n_steps", "energy"}
_EXCHANGE = {
    "exchange_accepted",
    "exchange_acceptance_rate",
    "num_rejection_draws",
    "auxiliary_found",
    "translation_accepted",
}
_SGLD = {"step_size", "inner_acceptance_rate", "inner_ess", "diverging"}


@pytest.mark.parametrize(
    "method, baseline, stats",
    [
        (samplers.NUTS(theta1="exchange"), None, _THETA2 | _EXCHANGE),
        (
            samplers.HMC(num_integration_steps=3, theta1="nested_ais"),
            None,
            _THETA2 | {"theta1_accepted", "theta1_acceptance_rate", "nested_log_z_se"},
        ),
        (samplers.NUTS(), "no_log_partition", _THETA2),
        (samplers.SGLD(step_size=1e-3), None, _SGLD),
        (samplers.SGHMC(), None, _SGLD),
    ],
    ids=["nuts", "hmc", "joint", "sgld", "sghmc"],
)
def test_one_chain_kernel_contract(model, method, baseline, stats):
    target = build_target(model, baseline=baseline)
    adaptive = not method.exact and method.step_size is None
    theta1_move = getattr(method.theta1, "name", "sgld") if method.exact else "sgld"
    if baseline is not None:
        theta1_move = "joint"
    theta1, theta2 = chains.initial_positions(jr.key(1), None, model, 2, 0.1)
    states, (step, positions, fields) = chains.setup_chains(
        jr.key(2),
        target,
        model,
        theta1,
        theta2,
        method,
        theta1_move=theta1_move,
        rejection_batch_size=64,
        batch_size=int(model.num_answers),
        adaptive=adaptive,
        num_warmup=4,
    )
    # As run_chains does: a leaf made from a Python scalar is weakly typed, and
    # comes back strongly typed from a step (a second trace otherwise).
    states = jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype=leaf.dtype), states)
    keys = jr.split(jr.key(3), 2)
    one = jit(step)
    first = jax.tree.map(lambda leaf: leaf[0], states)
    new, info = one(keys[0], first, jnp.asarray(0))
    # The state keeps its structure, shapes and dtypes: scan carries it.
    assert jax.tree.structure(new) == jax.tree.structure(first)
    for after, before in zip(jax.tree.leaves(new), jax.tree.leaves(first), strict=True):
        assert after.shape == before.shape and after.dtype == before.dtype
    assert isinstance(info, tuple) and hasattr(info, "_fields")
    # sample_stats holds what this kernel produces, and nothing else.
    assert set(fields) == stats
    for name, get in fields.items():
        assert jnp.shape(get(info)) == (), name
    # The same chain, alone under jit or beside another under vmap.
    batched, _ = jit(jax.vmap(step, in_axes=(0, 0, None)))(keys, states, jnp.asarray(0))
    for alone, together in zip(positions(new), positions(batched), strict=True):
        np.testing.assert_allclose(alone, together[0], rtol=1e-9, atol=1e-12)
    # A new key, index and state reuse the one trace.
    one(keys[1], new, jnp.asarray(1))
    assert one._cache_size() == 1
