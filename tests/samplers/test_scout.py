"""theta1="auto" watches the exchange move's cost in warm-up (scout.ExchangeScout),
the nested move its log Ẑ's standard error (scout.NestedScout), and run_chains
stops where its ``stop_when`` says."""

import warnings

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers
from samplers.run import run_chains
from samplers.scout import (
    EXCHANGE_BUDGET,
    EXCHANGE_MISS_LIMIT,
    ExchangeScout,
    NestedScout,
)


def _chunk(found, cost):
    return {
        "stat_auxiliary_found": np.asarray(found, bool),
        "stat_num_rejection_draws": np.asarray(cost),
    }


def test_the_scout_stops_on_misses_or_cost_in_warm_up_only():
    scout = ExchangeScout(num_burn=100, max_draws=10**5)
    cheap = _chunk(np.ones((2, 50)), np.full((2, 50), 30))
    assert not scout(cheap, 0) and scout.message is None
    # One miss in 100 moves is at the limit; two are over it.
    found, cost = np.ones((2, 50)), np.full((2, 50), 30)
    found[0, 0] = 0
    assert not scout(_chunk(found, cost), 50)
    found[1, 7] = 0
    assert 2 / found.size > EXCHANGE_MISS_LIMIT
    assert scout(_chunk(found, cost), 50)
    assert "50–99" in scout.message and "2.0%" in scout.message
    # In a short stretch one miss is over 1% but not enough.
    scout = ExchangeScout(num_burn=100, max_draws=10**5)
    assert not scout(_chunk(np.arange(20).reshape(2, 10) > 0, np.ones((2, 10))), 0)
    # Draws dearer than the budget that are found cost time only: the mean
    # decides (the oblique d = 4 case of docs/benchmarks.md had 4% of them, no
    # miss and 1,800 proposals on average, and its exchange moves are right).
    dear = np.full((2, 50), 30)
    dear[:, :2] = EXCHANGE_BUDGET * 4
    assert not scout(_chunk(np.ones((2, 50)), dear), 0)
    assert scout(_chunk(np.ones((2, 50)), np.full((2, 50), EXCHANGE_BUDGET + 1)), 0)
    # Only warm-up draws count: a chunk that straddles the end is cut there,
    # and kept draws never stop the run.
    scout = ExchangeScout(num_burn=100, max_draws=10**5)
    straddling = np.ones((2, 50))
    straddling[:, 25:] = 0
    assert not scout(_chunk(straddling, np.full((2, 50), 30)), 75)
    assert not scout(_chunk(np.zeros((2, 50)), np.full((2, 50), 10**5)), 100)


def _se_chunk(se):
    return {"stat_nested_log_z_se": np.asarray(se, float)}


def test_the_nested_scout_raises_the_budget_by_the_se_in_warm_up_only():
    nested = samplers.NestedAIS(particles=16, tolerance=0.5, max_particles=256)
    scout = NestedScout(num_burn=50, nested=nested)
    # Chains' means of 0.3 and 0.5: at the tolerance, not above it.
    assert not scout(_se_chunk([[0.2, 0.4], [0.5, 0.5]]), 0)
    assert scout.particles is None
    # One chain at 1.1: (1.1 / 0.5)² = 4.84, so 8 times the particles.
    assert scout(_se_chunk([[1.0, 1.2], [0.1, 0.1]]), 0)
    assert scout.particles == 128
    # Just above: twice at least. A chain without a finite SE is left to the
    # other checks, and kept draws never stop the run.
    scout = NestedScout(num_burn=50, nested=nested)
    assert scout(_se_chunk([[0.51, 0.51], [np.nan, np.nan]]), 0)
    assert scout.particles == 32
    scout = NestedScout(num_burn=50, nested=nested)
    assert not scout(_se_chunk([[0.1, 0.1], [np.nan, np.nan]]), 0)
    assert not scout(_se_chunk([[0.1, 9.0], [0.1, 9.0]]), 49)
    # Never past the cap; at the cap the run goes on and a warning is kept.
    assert scout(_se_chunk([[40.0, 40.0], [0.1, 0.1]]), 0)
    assert scout.particles == 256
    capped = NestedScout(num_burn=50, nested=nested.with_particles(256))
    assert not capped(_se_chunk([[0.9, 0.9], [0.1, 0.1]]), 10)
    assert capped.particles is None
    assert "0.9 nats" in capped.capped and "10–11" in capped.capped
    assert "max_particles=256" in capped.capped


def test_auto_leaves_the_exchange_move_where_the_chains_find_it_dear(stat_key):
    """The κ = 25 mechanism case: at θ₀ the pilot finds agreement common and
    picks the exchange move; in the honest mode, where these chains start,
    −log₂ Z is about 24 bits, so most auxiliary draws miss a cap of 10⁵ (77–85%
    over the first stretch under keys 0–6). "auto" must leave the move, say so
    and start again. Checked under --stat-key-offset 0-5."""
    case = posterior.MechanismCase(25.0, 0.4, 0.1)
    honest = (jnp.array([0.70, 0.40]), jnp.array([0.70, 0.98]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = samplers.sample(
            case.model,
            key=stat_key(0),
            method=samplers.HMC(num_integration_steps=3),
            num_chains=2,
            num_warmup=40,
            num_samples=10,
            init=honest,
            log_partition_every=0,
            progress=False,
        )
    messages = [str(w.message) for w in caught]
    assert any("theta1='auto' left the exchange move" in m for m in messages)
    assert tree.attrs["theta1_update"] == "nested_ais"
    assert tree.attrs["approximate"] == 1
    assert tree.attrs["scout_time"] > 0
    # The kept draws come from the nested move, and its statistics say so.
    assert "num_rejection_draws" not in tree.sample_stats
    assert np.all(tree.sample_stats["theta1_acceptance_rate"].values > 0)


@pytest.mark.parametrize("stop_at", [None, 6])
def test_run_chains_stops_where_stop_when_says(stop_at):
    def step(key, state, index):
        return state + 1.0, {"index": index}

    asked = []

    def stop_when(chunk, first_draw):
        asked.append((first_draw, chunk["index"].shape))
        return stop_at is not None and first_draw >= stop_at

    _, records, timing = run_chains(
        step,
        jnp.zeros((2,)),
        key=jr.key(0),
        num_steps=20,
        record_fn=lambda key, state, info, draw: {"index": info["index"]},
        progress=False,
        max_chunk_draws=4,
        stop_when=stop_when,
    )
    # Chunks of 4 draws at most (4 divides 20: none is wasted).
    assert [first for first, _ in asked] == [0, 4, 8, 12, 16][: len(asked)]
    assert all(shape == (2, 4) for _, shape in asked)
    expected = 20 if stop_at is None else 12
    np.testing.assert_array_equal(records["index"][0], np.arange(expected))
    assert sum(count for _, count in timing.chunk_draws) == expected
