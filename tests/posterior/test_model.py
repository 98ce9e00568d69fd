"""TwoStageModel: every term against an independent NumPy/SciPy oracle.

The oracle (tests/posterior/conftest.py) runs the TwoHeadMLP forward pass by
hand and scores answers with scipy.stats, so nothing here is compared with
numbers the package produced itself. Model functions are called through
``jax.jit`` (compiled once per model) to keep the suite fast; the jit / no-jit /
vmap test checks that this changes nothing.
"""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.stats
from jax.flatten_util import ravel_pytree
from jax.test_util import check_grads
from numpy.testing import assert_allclose

from posterior import TwoHeadMLP, TwoStageModel
from posterior.agreement import squared_gap

RTOL, ATOL = 1e-10, 1e-10


def test_theta0_is_the_flattened_inexact_leaves(built):
    leaves = jax.tree.leaves(eqx.filter(built.network, eqx.is_inexact_array))
    expected = np.concatenate([np.ravel(leaf) for leaf in leaves])
    assert built.model.theta0.dtype == jnp.float64
    assert built.model.theta0.shape == expected.shape
    assert built.model.num_params == expected.size
    assert_allclose(built.model.theta0, expected, rtol=0, atol=0)


def _points(built, oracle, count, offset=0):
    thetas1 = [oracle.random_theta(built, offset + i, scale=0.3) for i in range(count)]
    thetas2 = [oracle.random_theta(built, 50 + offset + i) for i in range(count)]
    return np.stack(thetas1), np.stack(thetas2)


def test_terms_match_the_oracle(built, oracle):
    """Heads, C(θ), log-likelihoods, prior, inner target, log joint, and the
    NumPyro program's log density and sites, at random points."""
    model = built.model
    # At θ₀ the model's network is the network it was given.
    h1, h2 = jax.vmap(model.network_at(model.theta0))(model.agreement_inputs)
    e1, e2 = jax.vmap(built.network)(model.agreement_inputs)
    assert_allclose(h1, e1, rtol=0, atol=0)
    assert_allclose(h2, e2, rtol=0, atol=0)

    thetas1, thetas2 = _points(built, oracle, 3)
    terms, static = built.terms(thetas1, thetas2)
    theta0 = np.asarray(model.theta0)
    for row, (theta1, theta2) in enumerate(zip(thetas1, thetas2, strict=True)):
        o1, o2 = built.heads(theta2, model.agreement_inputs)
        assert_allclose(terms["intended"][row], o1, RTOL, ATOL)
        assert_allclose(terms["instrumental"][row], o2, RTOL, ATOL)
        disagreement = built.disagreement(theta2)
        assert_allclose(terms["disagreement"][row], disagreement, RTOL, ATOL)
        pointwise = built.pointwise(theta2)
        assert_allclose(terms["pointwise"][row], pointwise, RTOL, ATOL)
        assert_allclose(terms["log_likelihood"][row], pointwise.sum(), RTOL, ATOL)
        log_prior = scipy.stats.norm(theta0, oracle.SIGMA1).logpdf(theta1).sum()
        assert_allclose(terms["log_prior"][row], log_prior, RTOL, ATOL)
        log_base = scipy.stats.norm(theta1, oracle.SIGMA2).logpdf(theta2).sum()
        inner = log_base - oracle.LAM * disagreement
        assert_allclose(terms["inner_logdensity"][row], inner, RTOL, ATOL)
        log_joint = pointwise.sum() + log_prior + inner
        assert_allclose(terms["log_joint"][row], log_joint, RTOL, ATOL)
        # The NumPyro program: same density, and with an estimate of log Z
        # supplied, that much less.
        assert_allclose(terms["numpyro"][row], log_joint, RTOL, ATOL)
        log_z = float(oracle.log_partition_stand_in(jnp.asarray(theta1)))
        assert_allclose(terms["numpyro_with_log_z"][row], log_joint - log_z, RTOL, ATOL)
        # Its sites, one by one.
        assert_allclose(terms["site_theta1"][row], log_prior, RTOL, ATOL)
        assert_allclose(terms["site_theta2"][row], log_base, RTOL, ATOL)
        assert_allclose(
            terms["site_agreement"][row], -oracle.LAM * disagreement, RTOL, ATOL
        )
        assert_allclose(terms["site_neg_log_partition"][row], 0.0, atol=0)
        assert_allclose(
            terms["site_neg_log_partition_with_log_z"][row], -log_z, RTOL, ATOL
        )
        assert_allclose(terms["site_answers"][row], pointwise.sum(), RTOL, ATOL)
    # Observed (a user function enters as a factor, itself an observed site).
    assert static["answers_type"] == "sample"
    assert static["answers_observed"]
    if built.kind != "laplace_callable":
        assert_allclose(terms["site_answers_value"][0], model.answers, rtol=0)


# ------------------------------------------------------------- minibatches


@pytest.mark.parametrize(
    "config",
    [
        ("categorical", "kl"),
        ("bradley_terry", "squared_gap"),
        ("laplace_callable", "squared_gap"),
    ],
    ids="-".join,
)
def test_minibatch_is_scaled_to_the_full_dataset(oracle, config):
    """L on a batch B is N/|B| times the sum over B, in the plain function and in
    the NumPyro program; nothing else is rescaled."""
    built = oracle.build_cached(*config)
    thetas1, thetas2 = _points(built, oracle, 2, offset=10)
    batch = [5, 2, 2]  # with a repeat: sampling with replacement is allowed
    terms, _ = built.terms(thetas1, thetas2, jnp.asarray(batch))
    full, _ = built.terms(thetas1, thetas2)
    num = built.model.num_answers
    for row, theta2 in enumerate(thetas2):
        pointwise = built.pointwise(theta2)
        expected = num / len(batch) * pointwise[batch].sum()
        assert_allclose(terms["pointwise"][row], pointwise[batch], RTOL, ATOL)
        assert_allclose(terms["log_likelihood"][row], expected, RTOL, ATOL)
        rest = full["log_joint"][row] - pointwise.sum()
        assert_allclose(terms["log_joint"][row], rest + expected, RTOL, ATOL)
        assert_allclose(terms["numpyro"][row], rest + expected, RTOL, ATOL)


@pytest.mark.parametrize("size", [2, 3])
def test_minibatch_estimate_is_unbiased(oracle, size):
    """The mean over all batches of one size, and over the blocks of a
    partition, is exactly the full L."""
    built = oracle.build_cached("gaussian", "squared_gap")
    model = built.model
    theta = oracle.random_theta(built, 9)
    full = built.log_likelihood(theta)
    num = model.num_answers
    subsets = list(itertools.combinations(range(num), size))
    partition = np.arange(num).reshape(num // size, size).tolist()
    batches = jnp.asarray(subsets + partition)
    estimates = jax.jit(jax.vmap(lambda batch: model.log_likelihood(theta, batch)))(
        batches
    )
    assert_allclose(np.mean(estimates[: len(subsets)]), full, RTOL, ATOL)
    assert_allclose(np.mean(estimates[len(subsets) :]), full, RTOL, ATOL)


def test_c_on_a_batch_of_the_agreement_set_is_the_mean_over_it(oracle):
    """C on agreement inputs B is the mean divergence over B (repeats
    counted), against the SciPy oracle; its mean over a partition of S is C."""
    built = oracle.build_cached("categorical", "kl")
    model = built.model
    assert model.num_agreement == jax.tree.leaves(model.agreement_inputs)[0].shape[0]
    theta = oracle.random_theta(built, 11)
    h1, h2 = built.heads(theta, model.agreement_inputs)
    per_input = oracle.np_divergence(built.divergence, h1, h2)
    batch = [3, 0, 0]
    on_batch = jax.jit(lambda t, b: model.disagreement(t, batch=b))
    assert_allclose(
        on_batch(theta, jnp.asarray(batch)), per_input[batch].mean(), RTOL, ATOL
    )
    size = 2 if model.num_agreement % 2 == 0 else 1
    blocks = np.arange(model.num_agreement).reshape(-1, size)
    means = [float(on_batch(theta, jnp.asarray(block))) for block in blocks]
    assert_allclose(np.mean(means), built.disagreement(theta), RTOL, ATOL)


# ------------------------------------------------------------- jit / vmap


def test_jit_nojit_vmap_agree(oracle):
    built = oracle.build_cached("categorical", "kl")
    model = built.model
    thetas1, thetas2 = _points(built, oracle, 3, offset=20)
    terms, _ = built.terms(thetas1, thetas2)  # jit(vmap(...))
    calls = {
        "disagreement": (thetas2,),
        "log_likelihood": (thetas2,),
        "log_joint": (thetas1, thetas2),
        "inner_logdensity": (thetas2, thetas1),
    }
    for name, args in calls.items():
        first = [arg[0] for arg in args]
        eager = getattr(model, name)(*first)
        assert_allclose(built.jit(name)(*first), eager, RTOL, ATOL, err_msg=name)
        for row in range(3):
            single = built.jit(name)(*(arg[row] for arg in args))
            assert_allclose(terms[name][row], single, RTOL, ATOL, err_msg=name)
    # vmap without jit, once.
    vmapped = jax.vmap(model.log_joint)(jnp.asarray(thetas1), jnp.asarray(thetas2))
    assert_allclose(vmapped, terms["log_joint"], RTOL, ATOL)


# ------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "config",
    [
        ("categorical", "kl"),
        ("gaussian", "squared_gap"),
        ("bradley_terry", "squared_gap"),
    ],
    ids="-".join,
)
def test_gradients_match_finite_differences(oracle, config):
    built = oracle.build_cached(*config)
    model = built.model
    thetas1, thetas2 = _points(built, oracle, 1, offset=30)

    @jax.jit
    def terms(theta1, theta2):
        return (
            model.disagreement(theta2),
            model.log_likelihood(theta2),
            model.log_joint(theta1, theta2),
        )

    check_grads(
        terms,
        (jnp.asarray(thetas1[0]), jnp.asarray(thetas2[0])),
        order=1,
        modes=("rev",),
        atol=1e-6,
        rtol=1e-6,
    )


def test_stop_gradient_intended_changes_only_the_gradient(oracle):
    built = oracle.build_cached("categorical", "kl")
    model = built.model
    theta = jnp.asarray(oracle.random_theta(built, 90))
    inputs = model.agreement_inputs

    def stopped(t):
        return model.disagreement(t, stop_gradient_intended=True)

    # By hand: one head at the moving point, the other frozen at θ.
    def through_instrumental(t):
        fixed_intended, _ = model.heads(theta, inputs)
        _, instrumental = model.heads(t, inputs)
        return jnp.mean(jax.vmap(model.divergence)(fixed_intended, instrumental))

    def through_intended(t):
        _, fixed_instrumental = model.heads(theta, inputs)
        intended, _ = model.heads(t, inputs)
        return jnp.mean(jax.vmap(model.divergence)(intended, fixed_instrumental))

    @jax.jit
    def everything(t):
        return (
            stopped(t),
            jax.grad(stopped)(t),
            jax.grad(model.disagreement)(t),
            jax.grad(through_instrumental)(t),
            jax.grad(through_intended)(t),
        )

    value, stop, full, by_instrumental, by_intended = everything(theta)
    assert_allclose(value, built.disagreement(theta), RTOL, ATOL)
    assert_allclose(stop, by_instrumental, RTOL, ATOL)
    # The full gradient is the sum of both paths; the stopped one lacks one.
    assert_allclose(full, by_instrumental + by_intended, RTOL, ATOL)
    assert np.max(np.abs(full - stop)) > 1e-4


# ------------------------------------------------------------- other networks


class _PytreeInputNet(eqx.Module):
    """A network whose input is a dict (pytree inputs must work)."""

    weight: jax.Array

    def __call__(self, x):
        value = jnp.tanh(x["a"] @ self.weight) + x["b"]
        return value, 0.5 * value


def test_pytree_inputs_and_custom_divergence(oracle):
    key = oracle.case_key(5)
    weight = jr.normal(jr.fold_in(key, 1), (3,))
    a = jr.normal(jr.fold_in(key, 2), (5, 3))
    b = jr.normal(jr.fold_in(key, 3), (5,))
    answers = jr.normal(jr.fold_in(key, 4), (5,))

    def divergence(h1, h2):
        return jnp.abs(h1 - h2)

    model = TwoStageModel(
        _PytreeInputNet(weight),
        agreement_inputs={"a": a, "b": b},
        answer_inputs={"a": a, "b": b},
        answers=answers,
        likelihood="gaussian",
        divergence=divergence,
        lam=1.0,
        sigma1=1.0,
        sigma2=1.0,
    )
    value = np.tanh(np.asarray(a) @ np.asarray(weight)) + np.asarray(b)
    assert_allclose(model.disagreement(weight), np.mean(np.abs(0.5 * value)), RTOL)
    assert_allclose(
        model.log_likelihood(weight),
        np.sum(scipy.stats.norm(value, 1.0).logpdf(np.asarray(answers))),
        RTOL,
    )


def test_divergence_may_be_a_module_with_array_fields(oracle):
    """A custom divergence is any callable, an eqx.Module holding arrays included."""

    class WeightedGap(eqx.Module):
        weight: jax.Array

        def __call__(self, h1, h2):
            return self.weight * squared_gap(h1, h2)

    net = TwoHeadMLP(2, "scalar", width=3, depth=1, key=oracle.case_key(6))
    inputs = jr.normal(oracle.case_key(7), (4, 2))
    model = TwoStageModel(
        net,
        agreement_inputs=inputs,
        answer_inputs=inputs,
        answers=jnp.zeros(4),
        likelihood="gaussian",
        divergence=WeightedGap(jnp.asarray(3.0)),
        lam=1.0,
        sigma1=1.0,
        sigma2=1.0,
    )
    h1, h2 = jax.vmap(net)(inputs)
    expected = 3.0 * np.mean(0.5 * (np.asarray(h1) - np.asarray(h2)) ** 2)
    assert_allclose(model.disagreement(model.theta0), expected, RTOL)


def test_theta0_of_a_mixed_module_skips_non_parameters():
    """Integer arrays and Python scalars are not parameters."""

    class Mixed(eqx.Module):
        weight: jax.Array
        counts: jax.Array
        bias: jax.Array
        label: str = "x"

        def __call__(self, x):
            value = x @ self.weight + self.bias[0] + self.counts[0]
            return value, value

    net = Mixed(jnp.arange(3.0), jnp.array([2, 3]), jnp.array([0.5, -1.0]))
    inputs = jnp.ones((2, 3))
    model = TwoStageModel(
        net,
        agreement_inputs=inputs,
        answer_inputs=inputs,
        answers=jnp.zeros(2),
        likelihood="gaussian",
        divergence="squared_gap",
        lam=1.0,
        sigma1=1.0,
        sigma2=1.0,
    )
    assert_allclose(model.theta0, [0.0, 1.0, 2.0, 0.5, -1.0], rtol=0)
    _, unravel = ravel_pytree(eqx.filter(net, eqx.is_inexact_array))
    theta = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    rebuilt = model.network_at(theta)
    assert_allclose(rebuilt.weight, unravel(theta).weight, rtol=0)
    assert_allclose(rebuilt.bias, [4.0, 5.0], rtol=0)
    assert_allclose(rebuilt.counts, [2, 3], rtol=0)
