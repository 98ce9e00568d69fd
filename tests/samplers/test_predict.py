"""`samplers.predict`: the intended head on new inputs from a run's θ₂ draws."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers


@pytest.fixture(scope="module")
def run():
    net = posterior.TwoHeadMLP(3, 4, width=4, depth=1, key=jr.key(0))
    model = posterior.TwoStageModel(
        net,
        agreement_inputs=jr.normal(jr.key(1), (10, 3)),
        answer_inputs=jr.normal(jr.key(2), (5, 3)),
        answers=jnp.array([0, 1, 2, 3, 0]),
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
        key=jr.key(0),
        method="nuts",
        baseline="single_head",
        num_chains=2,
        num_warmup=200,
        num_samples=10,
        predict_inputs=inputs,
        max_full_params=model.num_params,
        progress=False,
    )
    return model, tree, inputs


def test_predict_after_the_run_gives_what_the_run_recorded(run):
    model, tree, inputs = run
    out = samplers.predict(tree, model, inputs, draws_per_batch=3)
    intended = out.predictions["intended"]
    assert intended.dims == ("chain", "draw", "new_input", "intended_dim_0")
    assert intended.shape == (2, 10, 7, 4)
    np.testing.assert_allclose(
        intended.values, tree.predictions["intended"].values, rtol=1e-10
    )
    np.testing.assert_array_equal(
        out.predictions_constant_data["inputs"].values, np.asarray(inputs)
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
