"""`samplers.predict`: the intended head on new inputs from a run's θ₂ draws."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.stats

import posterior
import samplers

NUM_DRAWS = 100


@pytest.fixture(scope="module")
def run(stat_key):
    net = posterior.TwoHeadMLP(3, 4, width=4, depth=1, key=jr.key(0))
    answer_inputs = jr.normal(jr.key(2), (40, 3))
    model = posterior.TwoStageModel(
        net,
        agreement_inputs=jr.normal(jr.key(1), (10, 3)),
        answer_inputs=answer_inputs,
        answers=jnp.argmax(answer_inputs @ jr.normal(jr.key(4), (3, 4)), axis=-1),
        likelihood="categorical",
        divergence="kl",
        lam=2.0,
        sigma1=1.0,
        sigma2=0.1,
    )
    inputs = jr.normal(jr.key(3), (7, 3))
    # The single head's joint NUTS: the cheapest run to compile; predict reads
    # only θ₂ and the recorded predictions, whichever method made them.
    tree = samplers.sample(
        model,
        key=stat_key(0),
        method="nuts",
        baseline="single_head",
        num_chains=2,
        num_warmup=200,
        num_samples=NUM_DRAWS,
        predict_inputs=inputs,
        progress=False,
    )
    return model, tree, inputs


def test_predict_after_the_run_gives_what_the_run_recorded(run):
    model, tree, inputs = run
    out = samplers.predict(tree, model, inputs, draws_per_batch=3)
    intended = out.predictions["intended"]
    assert intended.dims == ("chain", "draw", "new_input", "class")
    assert intended.shape == (2, NUM_DRAWS, 7, 4)
    for name in ("intended", "probabilities"):
        assert out.predictions[name].dims == tree.predictions[name].dims
        np.testing.assert_allclose(
            out.predictions[name].values, tree.predictions[name].values, rtol=1e-10
        )
    np.testing.assert_allclose(
        out.predictions["probabilities"].values,
        jax.nn.softmax(intended.values, axis=-1),
        rtol=1e-10,
    )
    for group in (out, tree):
        np.testing.assert_array_equal(
            group.predictions_constant_data["inputs"].values, np.asarray(inputs)
        )
    # The one at a single draw, by hand.
    theta2 = tree.posterior["theta2"].values[1, 4]
    np.testing.assert_allclose(
        intended.values[1, 4], model.intended(jnp.asarray(theta2), inputs), rtol=1e-10
    )


def test_predict_names_what_it_lacks(run):
    model, tree, inputs = run
    partial = tree.copy()
    partial["posterior"] = tree.posterior.to_dataset().isel(param=slice(0, 10))
    with pytest.raises(
        ValueError, match="stores 10 of the model's 56 .*max_full_params=56"
    ):
        samplers.predict(partial, model, inputs)
    with pytest.raises(ValueError, match="`inputs` do not fit the network"):
        samplers.predict(tree, model, jnp.ones((7, 5)))
    with pytest.raises(ValueError, match="`inputs` must be a batch"):
        samplers.predict(tree, model, None)
    with pytest.raises(ValueError, match="holds no posterior"):
        samplers.predict(object(), model, inputs)


@pytest.mark.statistical
def test_posterior_predictive_draws_answers_at_each_draw(run):
    # Pearson's chi-square of the drawn answers' class counts (over chains and
    # draws, per answer) against the sum of the class probabilities at each
    # draw's θ₂: answers drawn at another θ (θ₀, or one draw for all) fail it.
    model, tree, _ = run
    answers = tree.posterior_predictive["answers"]
    assert answers.dims == ("chain", "draw", "answer")
    theta2 = tree.posterior["theta2"].values.reshape(-1, model.num_params)
    probabilities = np.asarray(
        jax.vmap(lambda t: model.probabilities(t, model.answer_inputs))(theta2)
    )
    expected = probabilities.sum(axis=0)  # (answer, class)
    drawn = answers.values.reshape(-1, expected.shape[0])
    counts = np.stack([(drawn == k).sum(axis=0) for k in range(4)], axis=-1)
    variance = (probabilities * (1 - probabilities)).sum(axis=0)
    keep = variance > 1.0  # classes that are drawn at all
    chi2 = np.sum((counts - expected)[keep] ** 2 / variance[keep])
    # Bound at a false-failure rate of 1e-3: each term has mean 1 (a sum of
    # independent Bernoullis' variance), and at most keep.sum() of them.
    assert chi2 < scipy.stats.chi2.ppf(1 - 1e-3, keep.sum()), chi2
    np.testing.assert_array_equal(
        tree.constant_data["answer_inputs"].values, np.asarray(model.answer_inputs)
    )


def test_arviz_checks_run_on_the_predictive_group(run):
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    _, tree, _ = run
    pit = az.loo_pit(tree)
    assert pit["answers"].dims == ("answer",)
    assert np.all((pit["answers"].values >= 0) & (pit["answers"].values <= 1))
    az.plot_ppc_rootogram(tree)
    az.plot_loo_pit(tree)


def test_a_likelihood_without_a_distribution_draws_no_answers(run):
    # Traced, not compiled: what a draw records, with the categorical
    # likelihood and with the same one as a plain log-probability callable.
    from samplers.record import build_record
    from samplers.target import build_target

    model, _, _ = run
    custom = posterior.TwoStageModel(
        model.network_at(model.theta0),
        agreement_inputs=model.agreement_inputs,
        answer_inputs=model.answer_inputs,
        answers=model.answers,
        likelihood=lambda h, a: jax.nn.log_softmax(h)[a],
        lam=2.0,
        sigma1=1.0,
        sigma2=0.1,
    )
    recorded = {}
    for name, each in (("categorical", model), ("callable", custom)):
        record = build_record(
            each,
            build_target(each).potential,
            jnp.arange(3),
            lambda state: state,
            {},
            num_burn=0,
            log_partition_every=0,
            log_partition_particles=64,
            predict_inputs=None,
            pointwise=True,
        )
        state = (each.theta0, each.theta0)
        recorded[name] = jax.eval_shape(record, jr.key(0), state, None, 0)
    assert recorded["categorical"]["predictive"].shape == (40,)
    assert "predictive" not in recorded["callable"]
    assert recorded["callable"]["pointwise"].shape == (40,)
    assert custom.predictive(jr.key(0), custom.theta0) is None


def test_runs_store_every_coordinate_up_to_a_budget():
    from samplers.health import SamplingWarning
    from samplers.settings import STORE_BUDGET, stored_params

    # 2 × 4 chains × 500 draws × 2,500 coordinates = 10⁷ numbers: all fit.
    assert STORE_BUDGET == 10**7
    assert stored_params(2_500, 4, 500) == 2_500
    with pytest.warns(
        SamplingWarning, match="Storing 2,500 of .* 2,501 .* max_full_params=2501"
    ):
        assert stored_params(2_501, 4, 500) == 2_500
    with pytest.warns(SamplingWarning, match="param_indices"):
        assert stored_params(10**6, 1, 10**7) == 1


def test_sample_counts_the_warm_up_in_the_budget(run, monkeypatch):
    from samplers import keywords, settings
    from samplers.health import SamplingWarning

    model, _, _ = run
    # 2 × 2 chains × (150 warm-up + 50 kept) draws × 30 coordinates.
    monkeypatch.setattr(settings, "STORE_BUDGET", 2 * 2 * 200 * 30)
    arguments = dict(
        num_chains=2,
        num_samples=50,
        thin=1,
        baseline=None,
        param_indices=None,
        max_full_params=None,
        log_partition_every=0,
        log_partition_particles=64,
        init=None,
        init_spread=0.1,
    )
    method = keywords.from_keywords("nuts")
    with pytest.warns(SamplingWarning, match="Storing 30 of the model's 56"):
        run_settings = settings.check_run(model, method, num_warmup=150, **arguments)
    np.testing.assert_array_equal(run_settings.indices, np.arange(30))
    # With thin=3 the warm-up records 50 draws: 2 × 2 × 100 × 56 fits.
    arguments["thin"] = 3
    run_settings = settings.check_run(model, method, num_warmup=150, **arguments)
    np.testing.assert_array_equal(run_settings.indices, np.arange(56))
