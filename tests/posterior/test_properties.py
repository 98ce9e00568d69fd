"""Property tests (hypothesis) of the divergences and the likelihoods.

Divergences: non-negative, zero exactly when the heads agree (for the categorical
ones: equal softmax, i.e. logits equal up to an additive constant), bounded where
they should be (Jensen–Shannon by log 2, total variation by 1), symmetric where
they should be (squared gap, Jensen–Shannon, total variation) and not otherwise
(KL). Likelihoods: normalised over their support (categorical over the classes,
Bernoulli and Bradley–Terry over {0, 1}, Gaussian by quadrature).

Every check runs in float64 (tests/conftest.py enables x64). The strategies keep
logits within ±30, the range a trained network's logits live in: e^{-60} is still
far above the smallest float64, so nothing over- or underflows and any NaN or
negative value found there is a bug, not an overflow. Comparisons allow
``ROUNDOFF``: a few hundred ulps of the O(1..60) values involved.
"""

import math

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from hypothesis import example, given, settings

from posterior.agreement import (
    jensen_shannon,
    kl,
    reverse_kl,
    squared_gap,
    total_variation,
)
from posterior.likelihoods import Bernoulli, BradleyTerry, Categorical, Gaussian

# JAX compiles on the first example of each shape, so no deadline; derandomised
# (a fixed seed per test, like the suite's fixed keys) and no example database
# written into the checkout.
PROPERTY = settings(max_examples=50, deadline=None, derandomize=True, database=None)
MAX_LOGIT = 30.0
ROUNDOFF = 1e-12

CATEGORICAL = {
    "kl": kl,
    "reverse_kl": reverse_kl,
    "jensen_shannon": jensen_shannon,
    "total_variation": total_variation,
}
# One compiled function per divergence (and per number of classes).
JITTED = {name: jax.jit(fn) for name, fn in CATEGORICAL.items()}
JITTED["squared_gap"] = jax.jit(squared_gap)


def _value(name, h1, h2) -> float:
    value = float(JITTED[name](jnp.asarray(h1), jnp.asarray(h2)))
    assert math.isfinite(value), f"{name} is {value} at {h1}, {h2}"
    return value


# ------------------------------------------------------------------ strategies

logit = st.floats(-MAX_LOGIT, MAX_LOGIT, allow_nan=False, allow_infinity=False)
# A few class counts, not every one: each is a fresh compile.
num_classes = st.sampled_from([2, 3, 6])
# Answers per likelihood call; normalisation is per answer, so one size serves.
NUM_ANSWERS = 3


@st.composite
def logit_pairs(draw):
    """Two heads of ``k`` logits each, k ∈ {2, 3, 6}."""
    k = draw(num_classes)
    h1 = draw(hnp.arrays(np.float64, k, elements=logit))
    h2 = draw(hnp.arrays(np.float64, k, elements=logit))
    return h1, h2


@st.composite
def shifted_pairs(draw):
    """Two heads with the same softmax: ``h2 = h1 + c``, both within ±30."""
    k = draw(num_classes)
    h1 = draw(hnp.arrays(np.float64, k, elements=logit))
    room_up, room_down = MAX_LOGIT - h1.max(), -MAX_LOGIT - h1.min()
    shift = draw(st.floats(room_down, room_up, allow_nan=False))
    return h1, h1 + shift


@st.composite
def real_pairs(draw):
    """Two real-valued heads (squared gap): a scalar or a vector of up to 4."""
    shape = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    value = st.floats(-1e3, 1e3, allow_nan=False)
    return (
        draw(hnp.arrays(np.float64, shape, elements=value)),
        draw(hnp.arrays(np.float64, shape, elements=value)),
    )


def _total_variation(h1, h2) -> float:
    """The oracle: total variation between the softmaxes, by SciPy."""
    p1, p2 = scipy.special.softmax(h1), scipy.special.softmax(h2)
    return 0.5 * float(np.sum(np.abs(p1 - p2)))


# ------------------------------------------------------------------ divergences


@pytest.mark.parametrize("name", sorted(CATEGORICAL))
@PROPERTY
@given(logit_pairs())
def test_categorical_divergences_are_nonnegative_and_bounded(name, pair):
    h1, h2 = pair
    value = _value(name, h1, h2)
    assert value >= -ROUNDOFF
    tv = _total_variation(h1, h2)
    # Lower bounds that make "zero only if the softmaxes are equal" quantitative:
    # Pinsker, KL ≥ 2 TV²; and JS ≥ TV²/2 (Pinsker against the mixture m, whose
    # distance to each side is TV/2).
    lower = {"kl": 2 * tv**2, "reverse_kl": 2 * tv**2, "jensen_shannon": tv**2 / 2}
    assert value >= lower.get(name, tv) * (1 - 1e-9) - ROUNDOFF
    if name == "jensen_shannon":
        assert value <= math.log(2) + ROUNDOFF
    if name == "total_variation":
        assert value <= 1 + ROUNDOFF


@pytest.mark.parametrize("name", sorted(CATEGORICAL))
@PROPERTY
@given(shifted_pairs())
def test_categorical_divergences_vanish_when_the_softmaxes_are_equal(name, pair):
    h1, h2 = pair
    assert abs(_value(name, h1, h2)) <= ROUNDOFF
    assert abs(_value(name, h1, h1)) <= ROUNDOFF


@pytest.mark.parametrize("name", sorted(CATEGORICAL))
@PROPERTY
@given(logit_pairs(), st.floats(-10, 10), st.floats(-10, 10))
def test_categorical_divergences_see_only_the_softmax(name, pair, c1, c2):
    # Adding a constant to either head's logits changes no probability.
    h1, h2 = pair
    shifted = _value(name, h1 + c1, h2 + c2)
    np.testing.assert_allclose(shifted, _value(name, h1, h2), rtol=1e-9, atol=ROUNDOFF)


@pytest.mark.parametrize("name", ["jensen_shannon", "total_variation"])
@PROPERTY
@given(logit_pairs())
def test_symmetric_divergences_are_symmetric(name, pair):
    h1, h2 = pair
    np.testing.assert_allclose(
        _value(name, h1, h2), _value(name, h2, h1), rtol=1e-12, atol=ROUNDOFF
    )


@PROPERTY
@given(logit_pairs())
def test_reverse_kl_is_kl_with_the_heads_swapped(pair):
    h1, h2 = pair
    assert _value("reverse_kl", h1, h2) == _value("kl", h2, h1)


def test_kl_is_not_symmetric():
    # KL(p‖q) for p = (0.9, 0.1), q = (0.5, 0.5) vs KL(q‖p): 0.368 vs 0.511 nats.
    h1, h2 = np.log([0.9, 0.1]), np.log([0.5, 0.5])
    forward, backward = _value("kl", h1, h2), _value("kl", h2, h1)
    np.testing.assert_allclose(forward, 0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    np.testing.assert_allclose(backward, 0.5 * math.log(0.5 / 0.9 * 0.5 / 0.1))
    assert abs(forward - backward) > 0.1


# Logits whose KL and JS against themselves shifted by 0.1 came out at about
# -9e-17 and -5e-17 before the clamp at 0: a fixed witness of the rounding.
_ROUNDS_NEGATIVE = np.array([-2.0, -2.0, -1.0])


@pytest.mark.parametrize("name", ["kl", "jensen_shannon"])
@PROPERTY
@given(shifted_pairs())
@example((_ROUNDS_NEGATIVE, _ROUNDS_NEGATIVE + 0.1))
def test_divergences_are_never_negative_even_by_rounding(name, pair):
    # C ≥ 0 is what makes Z ≤ 1 and the acceptance probability e^{-λC} ≤ 1, and
    # what a check "C(θ₀) < 0" at model construction would test exactly.
    assert _value(name, *pair) >= 0.0


@PROPERTY
@given(real_pairs())
def test_squared_gap_is_half_the_squared_distance(pair):
    h1, h2 = pair
    value = _value("squared_gap", h1, h2)
    np.testing.assert_allclose(value, 0.5 * np.sum((h1 - h2) ** 2), rtol=1e-12)
    assert value >= 0.0
    assert value == _value("squared_gap", h2, h1)
    assert _value("squared_gap", h1, h1) == 0.0
    # Zero only for equal heads: the sum of squares is exact enough in float64
    # that any gap above 1e-150 survives it.
    if np.any(np.abs(h1 - h2) > 1e-150):
        assert value > 0.0


# ------------------------------------------------------------------ likelihoods


def _outputs(draw, shape):
    return draw(hnp.arrays(np.float64, shape, elements=logit))


@st.composite
def categorical_outputs(draw):
    """``(n, k)`` logits over k ∈ {2, 3, 6} classes."""
    return _outputs(draw, (NUM_ANSWERS, draw(num_classes)))


@st.composite
def scalar_outputs(draw):
    """``(n,)`` logits (or Gaussian means)."""
    return _outputs(draw, (NUM_ANSWERS,))


@jax.jit
def _categorical_log_probs(outputs):
    # log p(a | h) for every class a: one row per class.
    k = outputs.shape[-1]
    answers = jnp.broadcast_to(jnp.arange(k)[:, None], (k, outputs.shape[0]))
    return jax.vmap(lambda a: Categorical().log_prob(outputs, a))(answers)


@PROPERTY
@given(categorical_outputs())
def test_categorical_sums_to_one_over_the_classes(outputs):
    log_probs = np.asarray(_categorical_log_probs(outputs))
    assert np.all(log_probs <= ROUNDOFF)
    np.testing.assert_allclose(
        scipy.special.logsumexp(log_probs, axis=0), 0.0, atol=ROUNDOFF
    )


def _binary_log_probs(likelihood, outputs):
    zeros = jnp.zeros(outputs.shape[0], dtype=int)
    return [likelihood.log_prob(outputs, zeros + a) for a in (0, 1)]


_BINARY = {
    "bernoulli": jax.jit(lambda o: _binary_log_probs(Bernoulli(), o)),
    "bradley_terry": jax.jit(lambda o: _binary_log_probs(BradleyTerry(), o)),
}


@pytest.mark.parametrize("name", sorted(_BINARY))
@PROPERTY
@given(scalar_outputs())
def test_binary_likelihoods_sum_to_one_over_zero_and_one(name, outputs):
    log_p0, log_p1 = map(np.asarray, _BINARY[name](outputs))
    assert np.all(log_p0 <= ROUNDOFF) and np.all(log_p1 <= ROUNDOFF)
    np.testing.assert_allclose(np.logaddexp(log_p0, log_p1), 0.0, atol=ROUNDOFF)
    # P(a = 1) = σ(h): the logit is the log-odds.
    np.testing.assert_allclose(log_p1 - log_p0, outputs, rtol=1e-9, atol=1e-9)


@jax.jit
def _bradley_terry_first_wins(weight, pairs):
    """log P(first ≻ second) for every pair, with a linear scorer."""
    likelihood = BradleyTerry()
    outputs = likelihood.outputs(lambda x: x @ weight, pairs)
    return likelihood.log_prob(outputs, jnp.ones(pairs.shape[0], dtype=int))


@PROPERTY
@given(
    hnp.arrays(np.float64, 3, elements=st.floats(-3, 3)),
    hnp.arrays(np.float64, (4, 2, 3), elements=st.floats(-3, 3)),
)
def test_bradley_terry_swapping_a_pair_swaps_the_winner(weight, pairs):
    # P(first ≻ second) + P(second ≻ first) = 1 through the network, not only
    # for the Bernoulli over a given logit.
    first = np.asarray(_bradley_terry_first_wins(weight, pairs))
    second = np.asarray(_bradley_terry_first_wins(weight, pairs[:, ::-1]))
    np.testing.assert_allclose(np.logaddexp(first, second), 0.0, atol=ROUNDOFF)


# The Gaussian density integrated by the trapezoid rule over mean ± 12 scales:
# for a smooth, rapidly decaying integrand the rule converges geometrically in
# the spacing (0.03 scales here, 0.12 in two dimensions), and the tails beyond
# 12 scales hold about 2e-33 of the mass, so the sum is 1 to rounding.
_HALF_WIDTH = 12.0


@jax.jit
def _gaussian_density_on_grid(likelihood, means, offsets):
    # One row per example: the density at mean + scale · offset. The likelihood
    # is an argument (its scale a traced leaf), so one compile serves all scales.
    answers = means[:, None] + likelihood.scale * offsets[None, :]
    repeated = jnp.broadcast_to(means[:, None], answers.shape)
    log_p = likelihood.log_prob(repeated.reshape(-1), answers.reshape(-1))
    return jnp.exp(log_p).reshape(answers.shape)


@PROPERTY
@given(scalar_outputs(), st.floats(0.05, 20.0))
def test_gaussian_integrates_to_one(means, scale):
    offsets = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, 801)
    likelihood = Gaussian(jnp.asarray(scale))
    density = np.asarray(_gaussian_density_on_grid(likelihood, means, offsets))
    mass = np.trapezoid(density, dx=scale * (offsets[1] - offsets[0]), axis=-1)
    np.testing.assert_allclose(mass, 1.0, rtol=1e-10)


@jax.jit
def _gaussian_2d_density_on_grid(likelihood, means, offsets):
    # A vector head of two outputs: one event of two dimensions per example.
    u, v = jnp.meshgrid(offsets, offsets, indexing="ij")
    grid = jnp.stack([u.ravel(), v.ravel()], axis=-1)  # (g², 2)
    answers = means[:, None, :] + likelihood.scale * grid[None, :, :]  # (n, g², 2)
    repeated = jnp.broadcast_to(means[:, None, :], answers.shape)
    log_p = likelihood.log_prob(repeated.reshape(-1, 2), answers.reshape(-1, 2))
    return jnp.exp(log_p).reshape(means.shape[0], offsets.shape[0], -1)


@settings(PROPERTY, max_examples=20)
@given(
    hnp.arrays(np.float64, (2, 2), elements=logit),
    st.floats(0.05, 20.0),
)
def test_gaussian_with_a_vector_head_integrates_to_one(means, scale):
    offsets = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, 201)
    spacing = scale * (offsets[1] - offsets[0])
    likelihood = Gaussian(jnp.asarray(scale))
    density = np.asarray(_gaussian_2d_density_on_grid(likelihood, means, offsets))
    density = density.reshape(means.shape[0], offsets.size, offsets.size)
    mass = np.trapezoid(np.trapezoid(density, dx=spacing, axis=-1), dx=spacing)
    np.testing.assert_allclose(mass, 1.0, rtol=1e-10)
