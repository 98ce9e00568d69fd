"""Bad arguments raise a clear error that names the argument, before compiling."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import numpyro.distributions as dist
import pytest

from posterior import TwoHeadMLP, TwoStageModel, _checks
from posterior.agreement import kl, total_variation
from posterior.likelihoods import FromDistribution

IN_SIZE, NUM_CLASSES = 3, 4
KEY = jr.fold_in(jr.key(0), 1000)
NETWORK = TwoHeadMLP(IN_SIZE, NUM_CLASSES, width=3, depth=1, key=jr.fold_in(KEY, 0))
SCALAR_NETWORK = TwoHeadMLP(IN_SIZE, "scalar", width=3, depth=1, key=jr.fold_in(KEY, 1))
AGREEMENT = np.asarray(jr.normal(jr.fold_in(KEY, 2), (5, IN_SIZE)))
INPUTS = np.asarray(jr.normal(jr.fold_in(KEY, 3), (4, IN_SIZE)))
ANSWERS = np.array([0, 1, 3, 2])


def _arguments(**changes):
    arguments = dict(
        agreement_inputs=AGREEMENT,
        answer_inputs=INPUTS,
        answers=ANSWERS,
        likelihood="categorical",
        divergence="kl",
        lam=1.0,
        sigma1=1.0,
        sigma2=0.5,
    )
    arguments.update(changes)
    return arguments


def _model(network=NETWORK, **changes):
    return TwoStageModel(network, **_arguments(**changes))


def test_the_reference_arguments_are_valid():
    _model()
    _model(
        SCALAR_NETWORK,
        answers=np.zeros(4),
        likelihood="gaussian",
        divergence="squared_gap",
    )


# ------------------------------------------------------------- scalars


@pytest.mark.parametrize("name", ["lam", "sigma1", "sigma2"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_scales_must_be_finite_and_positive(name, value):
    with pytest.raises(ValueError, match=name):
        _model(**{name: value})


@pytest.mark.parametrize("name", ["lam", "sigma1", "sigma2"])
@pytest.mark.parametrize("value", ["big", "0.5", True, np.True_])
def test_scales_must_be_numbers(name, value):
    # float() would read "0.5" and True as numbers.
    with pytest.raises(TypeError, match=f"`{name}`"):
        _model(**{name: value})


@pytest.mark.parametrize("name", ["likelihood", "divergence"])
def test_likelihood_and_divergence_of_the_wrong_type(name):
    # A wrong type is a TypeError; an unknown name stays a ValueError.
    with pytest.raises(TypeError, match=f"`{name}`"):
        _model(**{name: 42})
    with pytest.raises(ValueError, match=f"`{name}`"):
        _model(**{name: "no such name"})


# ------------------------------------------------------------- data


def _with(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["agreement_inputs", "answer_inputs"])
def test_inputs_must_be_finite(name, bad):
    value = AGREEMENT if name == "agreement_inputs" else INPUTS
    with pytest.raises(ValueError, match=name):
        _model(**{name: _with(value, (1, 2), bad)})


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_answers_must_be_finite(bad):
    with pytest.raises(ValueError, match="answers"):
        _model(
            SCALAR_NETWORK,
            answers=_with(np.zeros(4), 2, bad),
            likelihood="gaussian",
            divergence="squared_gap",
        )


@pytest.mark.parametrize("count", [3, 5])
def test_answers_must_match_answer_inputs(count):
    with pytest.raises(ValueError, match="answers"):
        _model(answers=np.zeros(count, dtype=int))


@pytest.mark.parametrize("name", ["agreement_inputs", "answer_inputs"])
def test_inputs_must_fit_the_network(name):
    wrong = np.zeros((4, IN_SIZE + 2))
    with pytest.raises(ValueError, match=name):
        _model(**{name: wrong})


def test_agreement_set_must_not_be_empty():
    with pytest.raises(ValueError, match="agreement_inputs"):
        _model(agreement_inputs=np.zeros((0, IN_SIZE)))


def test_answer_set_must_not_be_empty():
    with pytest.raises(ValueError, match="answer_inputs"):
        _model(answer_inputs=np.zeros((0, IN_SIZE)), answers=np.zeros(0, dtype=int))


def test_inputs_need_a_leading_axis():
    with pytest.raises(ValueError, match="agreement_inputs"):
        _model(agreement_inputs=np.float64(1.0))


def test_inputs_must_be_numeric():
    with pytest.raises(TypeError, match="agreement_inputs"):
        _model(agreement_inputs=np.array([["a", "b", "c"]] * 5))


def test_pytree_inputs_must_agree_on_the_number_of_examples():
    with pytest.raises(ValueError, match="agreement_inputs"):
        _model(agreement_inputs={"a": np.zeros((5, 3)), "b": np.zeros((4, 3))})


# ------------------------------------------------------------- networks


class _UnequalHeads(eqx.Module):
    weight: jax.Array

    def __call__(self, x):
        return x @ self.weight, jnp.stack([x @ self.weight, 0.0 * x[0]])


class _OneHead(eqx.Module):
    weight: jax.Array

    def __call__(self, x):
        return x @ self.weight


class _IntegerOnly(eqx.Module):
    table: jax.Array

    def __call__(self, x):
        return x[0] * self.table[0], x[0] * self.table[1]


def test_heads_must_have_the_same_shape():
    with pytest.raises(ValueError, match="network"):
        _model(
            _UnequalHeads(jnp.ones(IN_SIZE)),
            answers=np.zeros(4),
            likelihood="gaussian",
            divergence="squared_gap",
        )


def test_network_must_return_two_heads():
    with pytest.raises(TypeError, match="network"):
        _model(
            _OneHead(jnp.ones(IN_SIZE)),
            answers=np.zeros(4),
            likelihood="gaussian",
            divergence="squared_gap",
        )


def test_network_needs_floating_point_parameters():
    with pytest.raises(TypeError, match="network"):
        _model(
            _IntegerOnly(jnp.array([1, 2])),
            answers=np.zeros(4),
            likelihood="gaussian",
            divergence="squared_gap",
        )


def test_network_must_be_callable():
    with pytest.raises(TypeError, match="network"):
        _model({"weight": jnp.ones(3)})


def test_two_head_mlp_takes_scalar_inputs_and_outputs():
    # "scalar" is equinox's size of one number without an axis; the size checks
    # must keep it.
    net = TwoHeadMLP("scalar", "scalar", width=3, depth=1, key=jr.fold_in(KEY, 5))
    intended, instrumental = net(jnp.asarray(0.5))
    assert intended.shape == instrumental.shape == ()


def test_two_head_mlp_key_may_be_traced():
    # Typed keys are checked by dtype and shape, so an ensemble built under vmap
    # still works.
    keys = jr.split(jr.fold_in(KEY, 6), 2)
    nets = eqx.filter_vmap(lambda k: TwoHeadMLP(IN_SIZE, 2, width=3, depth=1, key=k))(
        keys
    )
    assert nets.intended.weight.shape == (2, 2, 3)


# ------------------------------------------------------------- theta


@pytest.fixture(scope="module")
def model():
    return _model()


def test_theta_must_be_floating_point(model):
    theta = jnp.zeros(model.num_params, dtype=jnp.int32)
    with pytest.raises(TypeError, match="theta"):
        model.disagreement(theta)
    with pytest.raises(TypeError, match="theta1"):
        model.log_joint(theta, model.theta0)
    with pytest.raises(TypeError, match="theta"):
        model.log_likelihood(theta)


@pytest.mark.parametrize("shape", [(1,), (-1,), (2, -1)], ids=["short", "long", "2d"])
def test_theta_must_have_the_right_length(model, shape):
    d = model.num_params
    theta = {
        (1,): jnp.zeros(d - 1),
        (-1,): jnp.zeros(d + 1),
        (2, -1): jnp.zeros((2, d)),
    }[shape]
    with pytest.raises(ValueError, match="theta"):
        model.disagreement(theta)
    with pytest.raises(ValueError, match="theta"):
        model.log_likelihood(theta)
    with pytest.raises(ValueError, match="theta1"):
        model.log_joint(theta, model.theta0)
    with pytest.raises(ValueError, match="theta1"):
        model.inner_logdensity(model.theta0, theta)


def test_log_joint_names_theta2_when_it_is_wrong(model):
    with pytest.raises(ValueError, match="theta2"):
        model.log_joint(model.theta0, jnp.zeros(model.num_params + 1))


def test_inner_logdensity_checks_theta_before_computing(model):
    with pytest.raises(ValueError, match="theta"):
        model.inner_logdensity(jnp.zeros(model.num_params + 1), model.theta0)


# ------------------------------------------------------------- answers


@pytest.mark.parametrize(
    "answers",
    [np.array([0, 1, 4, 2]), np.array([0, -1, 3, 2]), np.array([0.0, 1.5, 3.0, 2.0])],
    ids=["too-large", "negative", "non-integer"],
)
def test_categorical_answers_outside_support(answers):
    with pytest.raises(ValueError, match="answers"):
        _model(answers=answers)


@pytest.mark.parametrize("likelihood", ["bernoulli", "bradley_terry"])
def test_binary_answers_outside_support(likelihood):
    inputs = INPUTS if likelihood == "bernoulli" else np.stack([INPUTS, INPUTS], 1)
    with pytest.raises(ValueError, match="answers"):
        _model(
            SCALAR_NETWORK,
            answer_inputs=inputs,
            answers=np.array([0, 1, 2, 1]),
            likelihood=likelihood,
            divergence="squared_gap",
        )


def test_gaussian_answers_of_the_wrong_shape():
    with pytest.raises(ValueError, match="answers"):
        _model(
            SCALAR_NETWORK,
            answers=np.zeros((4, 2)),
            likelihood="gaussian",
            divergence="squared_gap",
        )


def test_categorical_likelihood_needs_logits():
    with pytest.raises(ValueError, match="categorical"):
        _model(SCALAR_NETWORK, divergence="squared_gap")


def test_bradley_terry_needs_pairs():
    with pytest.raises(ValueError, match="answer_inputs"):
        _model(
            SCALAR_NETWORK,
            answer_inputs=INPUTS,  # not pairs: one item per example
            answers=np.array([0, 1, 1, 0]),
            likelihood="bradley_terry",
            divergence="squared_gap",
        )


# ------------------------------------------------------------- names


@pytest.mark.parametrize(
    "divergence",
    ["kl", "reverse_kl", "jensen_shannon", "total_variation", kl, total_variation],
)
def test_categorical_divergence_needs_logit_heads(divergence):
    with pytest.raises(ValueError, match="divergence"):
        _model(
            SCALAR_NETWORK,
            answers=np.zeros(4),
            likelihood="gaussian",
            divergence=divergence,
        )


def test_unknown_divergence():
    with pytest.raises(ValueError, match="divergence"):
        _model(divergence="hellinger")


def test_unknown_likelihood():
    with pytest.raises(ValueError, match="likelihood"):
        _model(likelihood="poisson")


@pytest.mark.parametrize(
    "likelihood",
    [dist.Categorical, dist.Categorical(logits=jnp.zeros(NUM_CLASSES))],
    ids=["class", "instance"],
)
def test_a_numpyro_distribution_is_refused_with_the_fix(likelihood):
    # Both are callable: before, the class failed inside NumPyro ("got
    # ['probs', 'logits']") and the instance with KeyError 'rng_key'.
    with pytest.raises(TypeError, match="`likelihood`.*FromDistribution"):
        _model(likelihood=likelihood)
    # A class as a factory would read the logits as probabilities.
    with pytest.raises(TypeError, match="`factory`.*Categorical"):
        FromDistribution(likelihood)


def test_a_factory_that_fails_is_named():
    with pytest.raises(ValueError, match="`likelihood` fails .* at θ₀"):
        _model(likelihood=FromDistribution(lambda h: dist.Categorical(h, h)))


@pytest.mark.parametrize(
    "likelihood",
    [
        lambda h, a: jax.nn.softmax(h)[a],  # p, not log p
        FromDistribution(lambda h: _Probabilities(h)),
    ],
    ids=["callable", "distribution"],
)
def test_a_probability_in_place_of_a_log_probability_is_refused(likelihood):
    with pytest.raises(ValueError, match="`likelihood` gives a positive .* not p"):
        _model(likelihood=likelihood)


def test_positive_log_densities_of_continuous_answers_pass():
    # A density above 1 is fine where answers are continuous (floats): here
    # every answer sits on the head's output, at density 1/(0.01·√(2π)).
    heads = jax.vmap(SCALAR_NETWORK)(jnp.asarray(INPUTS))[0]
    model = _model(
        SCALAR_NETWORK,
        answers=np.asarray(heads),
        likelihood=lambda h, a: jax.scipy.stats.norm.logpdf(a, h, 0.01),
        divergence="squared_gap",
    )
    assert np.all(np.asarray(model.pointwise_log_likelihood(model.theta0)) > 3)


class _Probabilities(dist.CategoricalLogits):
    """A discrete distribution whose log_prob returns p: the mistake."""

    def log_prob(self, value):
        return jnp.exp(super().log_prob(value))


# ------------------------------------------------------------- batches


@pytest.mark.parametrize(
    ("batch", "error"),
    [
        (jnp.array([0.0, 1.0]), TypeError),
        (jnp.array([[0, 1]]), TypeError),
        (jnp.array([True, False]), TypeError),
        (jnp.zeros(0, dtype=int), ValueError),
    ],
    ids=["floats", "2d", "bools", "empty"],
)
def test_batch_must_be_a_nonempty_vector_of_indices(model, batch, error):
    with pytest.raises(error, match="batch"):
        model.log_likelihood(model.theta0, batch)


@pytest.mark.parametrize("batch", [[0, 4], [-5, 1]], ids=["past-end", "before-start"])
def test_batch_indices_must_be_in_range(model, batch):
    # JAX clamps or wraps out-of-range gathers silently; a concrete batch can
    # and should be checked.
    with pytest.raises(ValueError, match="batch"):
        model.log_likelihood(model.theta0, jnp.asarray(batch))


def test_a_batch_closed_over_by_a_jitted_function_works(model):
    # Its range check runs on the concrete indices, not staged into the trace.
    batch = jnp.array([1, 0])
    for term in (
        lambda theta: model.log_likelihood(theta, batch),
        lambda theta: model.disagreement(theta, batch=batch),
    ):
        np.testing.assert_allclose(
            jax.jit(term)(model.theta0), term(model.theta0), rtol=1e-12
        )


def test_an_agreement_batch_is_checked_as_an_answer_batch_is(model):
    with pytest.raises(TypeError, match="agreement indices"):
        model.disagreement(model.theta0, batch=jnp.array([0.0]))
    with pytest.raises(ValueError, match=f"0..{model.num_agreement - 1}"):
        model.disagreement(model.theta0, batch=jnp.array([model.num_agreement]))


# ------------------------------------------------------------- _checks


def test_positive_scalar():
    assert _checks.positive_scalar(2, "x") == 2.0
    assert isinstance(_checks.positive_scalar(np.float32(0.5), "x"), float)
    with pytest.raises(ValueError, match="`x`"):
        _checks.positive_scalar(0, "x")
    with pytest.raises(TypeError, match="`x`"):
        _checks.positive_scalar(None, "x")
    with pytest.raises(TypeError, match="`x`"):
        _checks.positive_scalar(np.ones(2), "x")


def test_data_tree():
    tree, length = _checks.data_tree({"a": np.zeros((3, 2)), "b": np.ones(3)}, "d")
    assert length == 3
    assert isinstance(tree["a"], jax.Array)
    _, length = _checks.data_tree(np.array([1, 2], dtype=np.int32), "d")
    assert length == 2
    with pytest.raises(ValueError, match="`d`"):
        _checks.data_tree({}, "d")


def test_flat_theta_on_tracers():
    # Only shapes and dtypes are read, so the check works under jit.
    @jax.jit
    def checked(theta):
        return _checks.flat_theta(theta, 3) * 2.0

    np.testing.assert_allclose(checked(jnp.ones(3)), 2.0 * np.ones(3), rtol=0)
    with pytest.raises(ValueError, match="`theta`"):
        checked(jnp.ones(4))
