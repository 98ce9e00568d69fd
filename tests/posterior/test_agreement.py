"""Divergences between the heads, against SciPy and closed forms."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.special
from numpy.testing import assert_allclose
from scipy.spatial.distance import jensenshannon

from posterior import agreement
from posterior.agreement import (
    jensen_shannon,
    kl,
    mean_divergence,
    resolve_divergence,
    reverse_kl,
    squared_gap,
    total_variation,
)

RTOL, ATOL = 1e-10, 1e-12
CATEGORICAL = {
    "kl": kl,
    "reverse_kl": reverse_kl,
    "jensen_shannon": jensen_shannon,
    "total_variation": total_variation,
}


def _logits(index: int, shape=(6,), scale=2.0):
    key = jr.fold_in(jr.key(0), index)
    key1, key2 = jr.split(key)
    return (
        np.asarray(scale * jr.normal(key1, shape)),
        np.asarray(scale * jr.normal(key2, shape)),
    )


def _scipy(name, h1, h2):
    p1 = scipy.special.softmax(h1)
    p2 = scipy.special.softmax(h2)
    if name == "kl":
        return np.sum(scipy.special.rel_entr(p1, p2))
    if name == "reverse_kl":
        return np.sum(scipy.special.rel_entr(p2, p1))
    if name == "jensen_shannon":
        # scipy returns the Jensen–Shannon *distance*, the square root, in nats.
        return jensenshannon(p1, p2) ** 2
    if name == "total_variation":
        return 0.5 * np.sum(np.abs(p1 - p2))
    raise KeyError(name)


@pytest.mark.parametrize("name", sorted(CATEGORICAL))
@pytest.mark.parametrize("index", range(4))
def test_categorical_divergence_matches_scipy(name, index):
    h1, h2 = _logits(index, scale=1.0 + index)
    assert_allclose(CATEGORICAL[name](h1, h2), _scipy(name, h1, h2), RTOL, ATOL)


@pytest.mark.parametrize("name", sorted(CATEGORICAL))
def test_categorical_divergence_with_extreme_logits(name):
    # Probabilities down to e^-60: log-space code must stay finite and exact.
    h1 = np.array([30.0, -30.0, 0.0, 5.0])
    h2 = np.array([-30.0, 30.0, 1.0, 0.0])
    value = CATEGORICAL[name](h1, h2)
    assert np.isfinite(value)
    assert_allclose(value, _scipy(name, h1, h2), rtol=1e-9, atol=1e-12)


def test_reverse_kl_is_kl_in_the_other_direction():
    h1, h2 = _logits(10)
    p1, p2 = scipy.special.softmax(h1), scipy.special.softmax(h2)
    expectation_under_intended = np.sum(p1 * (np.log(p1) - np.log(p2)))
    expectation_under_instrumental = np.sum(p2 * (np.log(p2) - np.log(p1)))
    assert_allclose(kl(h1, h2), expectation_under_intended, RTOL, ATOL)
    assert_allclose(reverse_kl(h1, h2), expectation_under_instrumental, RTOL, ATOL)
    assert_allclose(reverse_kl(h1, h2), kl(h2, h1), RTOL, ATOL)
    # The two directions really differ here, so the test can tell them apart.
    assert abs(expectation_under_intended - expectation_under_instrumental) > 1e-2


@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 3)])
def test_squared_gap_is_half_squared_distance(shape):
    h1, h2 = _logits(20, shape=shape)
    assert_allclose(squared_gap(h1, h2), 0.5 * np.sum((h1 - h2) ** 2), RTOL, ATOL)


@pytest.mark.parametrize("name", sorted(agreement.DIVERGENCES))
def test_divergence_is_nonnegative_and_zero_at_equality(name):
    divergence = agreement.DIVERGENCES[name]
    for index in range(20):
        h1, h2 = _logits(100 + index, scale=3.0)
        assert divergence(h1, h2) >= 0.0
        assert_allclose(divergence(h1, h1), 0.0, atol=1e-14)
    if name in CATEGORICAL:
        # Logits shifted by a constant give the same distribution.
        assert_allclose(divergence(h1, h1 + 3.7), 0.0, atol=1e-14)


def test_bounds_of_jensen_shannon_and_total_variation():
    # Disjoint supports (in the limit): JS -> log 2 and TV -> 1.
    h1 = np.array([50.0, -50.0])
    h2 = np.array([-50.0, 50.0])
    assert_allclose(jensen_shannon(h1, h2), np.log(2.0), rtol=1e-12)
    assert_allclose(total_variation(h1, h2), 1.0, rtol=1e-12)
    for index in range(10):
        a, b = _logits(200 + index, scale=5.0)
        assert jensen_shannon(a, b) <= np.log(2.0)
        assert total_variation(a, b) <= 1.0
        assert_allclose(jensen_shannon(a, b), jensen_shannon(b, a), RTOL, ATOL)


def test_resolve_divergence_names_and_callables():
    for name, function in agreement.DIVERGENCES.items():
        assert resolve_divergence(name) is function

    def custom(a, b):
        return jnp.sum(jnp.abs(a - b))

    assert resolve_divergence(custom) is custom


@pytest.mark.parametrize("name", ["KL", "js", "", "squared gap"])
def test_resolve_divergence_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="divergence"):
        resolve_divergence(name)


def test_mean_divergence_is_the_mean_over_rows():
    h1, h2 = _logits(30, shape=(9, 4))
    expected = np.mean([_scipy("kl", a, b) for a, b in zip(h1, h2, strict=True)])
    assert_allclose(mean_divergence(kl, h1, h2), expected, RTOL, ATOL)


@pytest.mark.parametrize("name", sorted(agreement.DIVERGENCES))
def test_stop_gradient_keeps_the_value_and_drops_the_intended_gradient(name):
    divergence = agreement.DIVERGENCES[name]
    h1, h2 = _logits(40 + len(name), shape=(5, 3))
    h1, h2 = jnp.asarray(h1), jnp.asarray(h2)

    def value(a, b, stop):
        return mean_divergence(divergence, a, b, stop_gradient_intended=stop)

    assert_allclose(value(h1, h2, True), value(h1, h2, False), RTOL, ATOL)
    g1_stop, g2_stop = jax.grad(value, argnums=(0, 1))(h1, h2, True)
    g1_full, g2_full = jax.grad(value, argnums=(0, 1))(h1, h2, False)
    # Held fixed: no gradient through the intended head, and the instrumental
    # gradient is exactly the ordinary partial derivative.
    assert_allclose(g1_stop, np.zeros_like(h1), atol=0.0)
    assert_allclose(g2_stop, g2_full, RTOL, ATOL)
    assert np.max(np.abs(g1_full)) > 1e-3
    # And that partial derivative is right: the KL gradient in the instrumental
    # logits is (p2 - p1)/N, row by row.
    if name == "kl":
        p1 = scipy.special.softmax(np.asarray(h1), axis=-1)
        p2 = scipy.special.softmax(np.asarray(h2), axis=-1)
        assert_allclose(g2_stop, (p2 - p1) / h1.shape[0], RTOL, ATOL)
