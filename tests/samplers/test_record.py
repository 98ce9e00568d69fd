"""The log Z record of `samplers.sample`: it runs only at the draws it annotates.

The chains run under ``vmap``; a ``lax.cond`` whose predicate differs per chain
becomes a select there, and both branches (the whole annealing run) then cost
every step. These tests count the annealing runs actually executed.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers
from samplers import record
from samplers.target import build_target


@pytest.fixture(scope="module")
def case():
    return posterior.LinearGaussianCase.random(
        jr.key(11), d=2, m=2, n=4, lam=3.0, sigma1=1.0, sigma2=0.6
    )


@pytest.fixture
def runs(monkeypatch):
    """Rows of θ₁ that an annealing run of the record was executed on."""
    rows = []
    original = record.estimate_log_z

    def counted(key, potential, theta1, *args):
        # Executed only when the branch holding it is. Under vmap it sees one
        # chain's θ₁ per call or all the chains' at once: count chains.
        jax.debug.callback(lambda t: rows.append(np.size(t) // np.shape(t)[-1]), theta1)
        return original(key, potential, theta1, *args)

    monkeypatch.setattr(record, "estimate_log_z", counted)
    return rows


@pytest.mark.parametrize("method", ["sgld", "hmc"])
def test_log_z_runs_only_at_the_draws_it_records(case, runs, method):
    # 12 warm-up and 8 kept draws, a record every 4th kept draw: 2 per chain.
    # With the predicate batched over chains, every one of the 20 steps of
    # every chain would anneal (40 runs, not 4).
    tree = samplers.sample(
        case.model,
        key=jr.key(0),
        method=method,
        num_chains=2,
        num_warmup=12,
        num_samples=8,
        log_partition_every=4,
        log_partition_particles=16,
        progress=False,
    )
    assert sum(runs) == 2 * 2
    np.testing.assert_array_equal(tree["log_partition"]["draw"].values, [0, 4])
    assert np.all(np.isfinite(tree["log_partition"]["log_partition"].values))


def test_a_nan_theta1_records_nan_and_the_other_chain_its_estimate(case):
    model = case.model
    target = build_target(model)
    record_fn = record.build_record(
        model,
        target.potential,
        jnp.arange(2),
        positions_fn=lambda state: state,
        fields={},
        num_burn=0,
        log_partition_every=1,
        log_partition_particles=16,
        predict_inputs=None,
        pointwise=False,
    )
    theta = jnp.stack([jnp.full(2, jnp.nan), jnp.zeros(2)])
    out = jax.vmap(record_fn, in_axes=(0, 0, None, None))(
        jr.split(jr.key(0), 2), (theta, theta), None, 0
    )
    for name in (
        "log_partition",
        "stat_log_partition_ess",
        "stat_log_partition_se",
        "stat_log_partition_island_z",
    ):
        assert np.isnan(out[name][0]), name
        assert np.isfinite(out[name][1]), name
    assert np.isnan(out["stat_log_partition_capped"][0])
    # A gross check: AIS with 16 particles on a 2-d Gaussian is off by
    # hundredths; log Z at θ₀, where a NaN row is annealed, is 0.6 nats away.
    np.testing.assert_allclose(
        out["log_partition"][1], case.log_partition(jnp.zeros(2)), atol=0.3
    )


def _records(rng, chains, draws, num_answers, with_predictions):
    records = {
        "theta1": rng.normal(size=(chains, draws, 2)),
        "theta2": rng.normal(size=(chains, draws, 2)),
        "disagreement": rng.uniform(size=(chains, draws)),
        "log_likelihood_total": rng.normal(size=(chains, draws)),
        "log_partition": -rng.uniform(1.0, 5.0, size=(chains, draws)),
        "stat_acceptance_rate": rng.uniform(size=(chains, draws)),
        "pointwise": rng.normal(size=(chains, draws, num_answers)),
        "predictive": rng.integers(0, 2, size=(chains, draws, num_answers)),
    }
    if with_predictions:
        records["predictions"] = rng.normal(size=(chains, draws, 5, 3))
        records["probabilities"] = rng.uniform(size=(chains, draws, 5, 3))
    return records


@pytest.mark.parametrize("every", [1, 4])
def test_the_arviz_conversion_puts_each_record_in_its_group(case, every):
    # No sampler: made-up records, so that every number can be checked.
    model = case.model
    rng = np.random.default_rng(0)
    chains, draws, num_answers = 2, 10, int(model.num_answers)
    records = _records(rng, chains, draws, num_answers, every == 1)
    predict_inputs = rng.normal(size=(5, 3)) if every == 1 else None
    tree = record.to_datatree(
        records,
        model,
        np.array([0, 1]),
        every,
        {"method": "made_up", "lam": 2.5},
        predict_inputs,
    )
    posterior_group = tree.posterior
    assert posterior_group["theta1"].dims == ("chain", "draw", "param")
    np.testing.assert_array_equal(posterior_group["theta2"], records["theta2"])
    np.testing.assert_array_equal(
        posterior_group["disagreement"], records["disagreement"]
    )
    np.testing.assert_array_equal(
        tree.sample_stats["acceptance_rate"], records["stat_acceptance_rate"]
    )
    assert tree.log_likelihood["answers"].dims == ("chain", "draw", "answer")
    np.testing.assert_array_equal(
        tree.posterior_predictive["answers"], records["predictive"]
    )
    np.testing.assert_array_equal(
        tree.observed_data["answers"], np.asarray(model.answers)
    )
    np.testing.assert_array_equal(
        tree.constant_data["theta0"], np.asarray(model.theta0)
    )
    bits = -records["log_partition"] / np.log(2.0)
    if every == 1:
        # Every draw: log Z and bits saved sit beside θ in the posterior.
        np.testing.assert_allclose(posterior_group["bits_saved"], bits)
        assert "log_partition" not in tree.children
        assert tree.predictions["probabilities"].dims == (
            "chain", "draw", "new_input", "class"
        )  # fmt: skip
        np.testing.assert_array_equal(
            tree.predictions_constant_data["inputs"], predict_inputs
        )
    else:
        # Every 4th draw: their own group, whose draw coordinate says which.
        group = tree["log_partition"]
        np.testing.assert_array_equal(group["draw"].values, [0, 4, 8])
        np.testing.assert_allclose(group["bits_saved"], bits[:, [0, 4, 8]])
        assert "bits_saved" not in posterior_group
        assert "predictions" not in tree.children
    assert tree.attrs["method"] == "made_up" and tree.attrs["lam"] == 2.5
