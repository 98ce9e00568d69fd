"""C on a minibatch of the agreement set (``SGLD(agreement_batch_size=b)``):
a batch of all of S gives the whole set's draws, bad settings are refused,
and where agreement is rare a quarter of S keeps the posterior."""

import warnings

import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers


@pytest.fixture(scope="module")
def small():
    return posterior.LinearGaussianCase.random(
        jr.key(0), d=3, m=4, n=8, lam=2.0, sigma1=1.0, sigma2=0.5
    ).model


def _sample(model, method):
    with warnings.catch_warnings():
        # 10 draws are too few to converge; the draws are what is compared.
        warnings.simplefilter("ignore", samplers.ConvergenceWarning)
        return samplers.sample(
            model,
            key=jr.key(1),
            method=method,
            num_chains=2,
            num_warmup=30,
            num_samples=10,
            init="theta0",
            log_partition_every=0,
            progress=False,
        )


def test_a_batch_of_all_of_s_gives_the_whole_set_draws(small):
    # C is a mean: on a permutation of S it is C, summed in another order, so
    # the draws agree to rounding (the batch's own key leaves the others').
    # SGLD with its adapted step: the warm-up's curvature probes see the batch.
    whole = _sample(small, samplers.SGLD())
    batched = _sample(small, samplers.SGLD(agreement_batch_size=small.num_agreement))
    for group, name in [("posterior", "theta1"), ("sample_stats", "inner_ess")]:
        np.testing.assert_allclose(
            batched[group][name].values, whole[group][name].values, atol=1e-10
        )
    assert batched.attrs["agreement_batch_size"] == small.num_agreement
    assert "agreement_batch_size" not in whole.attrs


def test_a_map_on_batches_of_all_of_s_is_the_whole_set_map(small):
    fits = [
        samplers.find_map(
            small,
            key=jr.key(2),
            num_steps=50,
            log_partition_particles=0,
            progress=False,
            agreement_batch_size=size,
        )
        for size in (None, small.num_agreement)
    ]
    np.testing.assert_allclose(fits[1].theta1, fits[0].theta1, atol=1e-10)
    np.testing.assert_allclose(fits[1].loss, fits[0].loss, atol=1e-10)


class _NoBatches:
    """A model of plain functions whose C takes no ``batch=``."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def disagreement(self, theta, *, stop_gradient_intended=False):
        return self._model.disagreement(theta)


def test_batches_are_refused_where_they_cannot_work(small):
    with pytest.raises(TypeError, match="`agreement_batch_size` needs a model"):
        _sample(_NoBatches(small), samplers.SGLD(agreement_batch_size=2))
    with pytest.raises(ValueError, match="`agreement_batch_size`=5 exceeds the 4"):
        _sample(small, samplers.SGLD(agreement_batch_size=5))
    with pytest.raises(ValueError, match="`agreement_batch_size`=5 exceeds the 4"):
        samplers.find_map(small, key=jr.key(0), agreement_batch_size=5)
    with pytest.raises(ValueError, match="`agreement_batch_size` must be at least 1"):
        samplers.SGLD(agreement_batch_size=0)
    # Unset, the settings a checkpoint stores are those of earlier runs.
    assert "agreement_batch_size" not in repr(samplers.SGHMC())
