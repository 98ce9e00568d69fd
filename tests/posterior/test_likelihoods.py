"""Likelihoods through the intended head, against scipy.stats."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import numpyro.distributions as dist
import pytest
import scipy.special
import scipy.stats
from numpy.testing import assert_allclose

from posterior.likelihoods import (
    AbstractLikelihood,
    Bernoulli,
    BradleyTerry,
    Categorical,
    FromCallable,
    FromDistribution,
    Gaussian,
    resolve_likelihood,
)

RTOL, ATOL = 1e-10, 1e-12


def _key(index):
    return jr.fold_in(jr.key(0), index)


def test_categorical_log_prob_matches_scipy():
    logits = np.asarray(2.0 * jr.normal(_key(0), (8, 5)))
    answers = np.asarray(jr.randint(_key(1), (8,), 0, 5))
    probs = scipy.special.softmax(logits, axis=-1)
    expected = [
        scipy.stats.multinomial(1, p).logpmf(np.eye(5)[a])
        for p, a in zip(probs, answers, strict=True)
    ]
    assert_allclose(Categorical().log_prob(logits, answers), expected, RTOL, ATOL)


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gaussian_log_prob_matches_scipy(scale):
    means = np.asarray(jr.normal(_key(2), (7,)))
    answers = np.asarray(jr.normal(_key(3), (7,)))
    expected = scipy.stats.norm(means, scale).logpdf(answers)
    assert_allclose(Gaussian(scale).log_prob(means, answers), expected, RTOL, ATOL)


def test_gaussian_log_prob_sums_over_a_vector_head():
    means = np.asarray(jr.normal(_key(4), (6, 3)))
    answers = np.asarray(jr.normal(_key(5), (6, 3)))
    expected = scipy.stats.norm(means, 0.5).logpdf(answers).sum(axis=1)
    assert_allclose(Gaussian(0.5).log_prob(means, answers), expected, RTOL, ATOL)


def test_bernoulli_log_prob_matches_scipy():
    logits = np.asarray(3.0 * jr.normal(_key(6), (9,)))
    answers = np.asarray(jr.bernoulli(_key(7), 0.5, (9,))).astype(np.int32)
    expected = scipy.stats.bernoulli(scipy.special.expit(logits)).logpmf(answers)
    assert_allclose(Bernoulli().log_prob(logits, answers), expected, RTOL, ATOL)


def test_bradley_terry_compares_the_two_items_of_each_pair():
    weight = np.asarray(jr.normal(_key(8), (3,)))

    def intended_fn(x):
        return jnp.tanh(x @ weight)

    pairs = np.asarray(jr.normal(_key(9), (6, 2, 3)))
    answers = np.array([1, 0, 1, 1, 0, 0])
    likelihood = BradleyTerry()
    outputs = likelihood.outputs(intended_fn, jnp.asarray(pairs))
    gap = np.tanh(pairs[:, 0] @ weight) - np.tanh(pairs[:, 1] @ weight)
    assert_allclose(outputs, gap, RTOL, ATOL)
    # P(first preferred) = sigmoid(h(x1) - h(x2)).
    expected = scipy.stats.bernoulli(scipy.special.expit(gap)).logpmf(answers)
    assert_allclose(likelihood.log_prob(outputs, answers), expected, RTOL, ATOL)


def test_default_outputs_map_the_intended_head_over_inputs():
    inputs = np.asarray(jr.normal(_key(10), (4, 2)))
    outputs = Gaussian().outputs(lambda x: jnp.sum(x**2), jnp.asarray(inputs))
    assert_allclose(outputs, np.sum(inputs**2, axis=1), RTOL, ATOL)


def test_from_callable_is_vmapped_and_has_no_distribution():
    def laplace(h, a):
        return -jnp.abs(a - h) / 0.4 - jnp.log(0.8)

    likelihood = FromCallable(laplace)
    means = np.asarray(jr.normal(_key(11), (5,)))
    answers = np.asarray(jr.normal(_key(12), (5,)))
    expected = scipy.stats.laplace(means, 0.4).logpdf(answers)
    assert_allclose(likelihood.log_prob(means, answers), expected, RTOL, ATOL)
    assert likelihood.distribution(means) is None


def test_from_distribution_uses_the_factory():
    likelihood = FromDistribution(lambda h: dist.StudentT(3.0, h, 0.5))
    means = np.asarray(jr.normal(_key(13), (5,)))
    answers = np.asarray(jr.normal(_key(14), (5,)))
    expected = scipy.stats.t(3.0, loc=means, scale=0.5).logpdf(answers)
    assert_allclose(likelihood.log_prob(means, answers), expected, RTOL, ATOL)


def test_resolve_likelihood():
    assert isinstance(resolve_likelihood("categorical"), Categorical)
    assert isinstance(resolve_likelihood("gaussian"), Gaussian)
    assert isinstance(resolve_likelihood("bernoulli"), Bernoulli)
    assert isinstance(resolve_likelihood("bradley_terry"), BradleyTerry)
    custom = Gaussian(2.0)
    assert resolve_likelihood(custom) is custom
    assert issubclass(FromCallable, AbstractLikelihood)


@pytest.mark.parametrize("name", ["normal", "Categorical", "", "poisson"])
def test_resolve_likelihood_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="likelihood"):
        resolve_likelihood(name)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_gaussian_scale_must_be_positive(scale):
    with pytest.raises(ValueError, match="scale"):
        Gaussian(scale)


# ------------------------------------------------------------------ check


@pytest.mark.parametrize(
    "answers",
    [
        np.array([0, 1, 4]),  # out of range for 4 classes
        np.array([0, -1, 2]),  # negative
        np.array([0.0, 1.5, 2.0]),  # not an integer
        np.array([0.0, np.nan, 1.0]),  # not a number at all
    ],
    ids=["too-large", "negative", "non-integer", "nan"],
)
def test_categorical_check_rejects_answers_outside_support(answers):
    with pytest.raises(ValueError, match="answers"):
        Categorical().check((4,), answers)


def test_categorical_check_accepts_valid_answers():
    Categorical().check((4,), np.array([0, 1, 2, 3]))


def test_categorical_check_rejects_a_scalar_head():
    with pytest.raises(ValueError, match="shape"):
        Categorical().check((), np.array([0, 1]))


@pytest.mark.parametrize("likelihood", [Categorical(), Bernoulli(), BradleyTerry()])
def test_discrete_log_prob_after_check_accepts_the_checked_answers(likelihood):
    """Whatever `check` accepts, `log_prob` must evaluate.

    Integral float answers (0.0, 1.0, ...) pass the categorical check, so the
    likelihood must also score them rather than fail inside JAX.
    """
    answers = np.array([0.0, 1.0, 1.0])
    if isinstance(likelihood, Categorical):
        outputs = np.zeros((3, 2))
        likelihood.check((2,), answers)
    else:
        outputs = np.zeros(3)
        likelihood.check((), answers)
    assert_allclose(likelihood.log_prob(outputs, answers), np.full(3, -np.log(2.0)))


@pytest.mark.parametrize("likelihood", [Bernoulli(), BradleyTerry()])
@pytest.mark.parametrize(
    "answers", [np.array([0, 1, 2]), np.array([0.0, 0.5, 1.0]), np.array([-1, 0, 1])]
)
def test_binary_check_rejects_non_binary_answers(likelihood, answers):
    with pytest.raises(ValueError, match="answers"):
        likelihood.check((), answers)


@pytest.mark.parametrize("likelihood", [Bernoulli(), BradleyTerry()])
def test_binary_check_rejects_a_vector_head(likelihood):
    with pytest.raises(ValueError, match="scalar"):
        likelihood.check((3,), np.array([0, 1]))


@pytest.mark.parametrize(
    ("head_shape", "answer_shape"),
    [((), (5, 1)), ((3,), (5,)), ((3,), (5, 2)), ((2, 2), (5, 4))],
)
def test_gaussian_check_rejects_shape_mismatch(head_shape, answer_shape):
    with pytest.raises(ValueError, match="answers"):
        Gaussian().check(head_shape, np.zeros(answer_shape))


@pytest.mark.parametrize(("head_shape", "answer_shape"), [((), (5,)), ((3,), (5, 3))])
def test_gaussian_check_accepts_matching_shapes(head_shape, answer_shape):
    Gaussian().check(head_shape, np.zeros(answer_shape))
