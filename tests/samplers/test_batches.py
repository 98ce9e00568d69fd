"""`log_partition(..., tolerance=...)`: independent batches combined until the
standard error of log Ẑ is below the tolerance (`samplers.batches`)."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from samplers import SamplingWarning, log_partition
from samplers.batches import combine

# C = ½·20‖θ‖² with σ = 1, λ = 1 in d = 5: log Z = −(5/2) log 21.
_DIM, _CURVATURE = 5, 20.0
_LOG_Z = -0.5 * _DIM * math.log(1 + _CURVATURE)


def _disagreement(theta):
    return 0.5 * _CURVATURE * jnp.sum(theta**2)


def _call(key, **kwargs):
    return log_partition(
        _disagreement,
        jnp.zeros(_DIM),
        lam=1.0,
        sigma=1.0,
        key=key,
        method="ais",
        num_particles=64,
        # The prior path: a fitted one is exact on this quadratic problem.
        reference="prior",
        **kwargs,
    )


@pytest.mark.statistical
def test_batches_run_until_the_se_is_below_the_tolerance(stat_key):
    """Checked under --stat-key-offset 0-5."""
    key = stat_key(3)
    one = _call(key)
    result = _call(key, tolerance=0.08)
    assert float(result.log_z_se) <= 0.08 < float(one.log_z_se)
    batches = result.particles.shape[0] // 64
    assert batches > 1 and result.particles.shape == (64 * batches, _DIM)
    # The first batch is the call without a tolerance.
    np.testing.assert_array_equal(result.particles[:64], one.particles)
    # Within 4 SE of the truth (two-sided 6e-5), its bias (SE²/2) negligible.
    assert abs(float(result.log_z) - _LOG_Z) < 4 * float(result.log_z_se)
    np.testing.assert_allclose(
        float(jnp.log(jnp.mean(jnp.exp(result.log_weights)))), result.log_z
    )


def test_the_cap_stops_the_batches_and_warns_with_the_se_reached():
    with pytest.warns(SamplingWarning, match="cap of 2 batches") as caught:
        result = _call(jr.key(0), tolerance=1e-4, max_particles=128)
    assert result.particles.shape == (128, _DIM)
    assert f"{float(result.log_z_se):.3g}" in str(caught[0].message)


def test_two_copies_of_one_batch_combine_to_it_with_its_se_over_root_two():
    one = _call(jr.key(1))
    both = combine([one, one])
    np.testing.assert_allclose(both.log_z, one.log_z, rtol=1e-12)
    np.testing.assert_allclose(both.grad_log_z, one.grad_log_z, rtol=1e-12)
    np.testing.assert_allclose(both.log_z_se, one.log_z_se / math.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(
        both.grad_log_z_se, one.grad_log_z_se / math.sqrt(2), rtol=1e-12
    )
    np.testing.assert_allclose(both.ess, 2 * one.ess, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tolerance=0.0), "tolerance"),
        (dict(tolerance=-1.0), "tolerance"),
        (dict(max_particles=512), "max_particles"),
        (dict(tolerance=0.1, max_particles=32), "max_particles"),
    ],
)
def test_bad_tolerance_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _call(jr.key(0), **kwargs)


def test_a_tolerance_under_jit_is_refused_by_name():
    with pytest.raises(ValueError, match="`tolerance` needs concrete inputs"):
        jax.jit(lambda key: _call(key, tolerance=0.1).log_z)(jr.key(0))
