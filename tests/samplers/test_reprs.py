"""Result objects print in a screenful: values of scalars, shapes of arrays."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np

import samplers
from samplers.mode import MAPResult


def test_a_log_partition_result_prints_short():
    result = samplers.log_partition(
        lambda t: 0.5 * jnp.sum(t**2),
        jnp.zeros(20),
        lam=1.0,
        sigma=1.0,
        key=jr.key(0),
        method="ais",
        num_particles=512,
    )
    text = repr(result)
    # One line per field (arrays summarised), with the name and the bracket.
    assert len(text.splitlines()) == len(result._fields) + 2
    assert f"log_z={float(result.log_z):.6g}," in text
    assert "particles=float64[512, 20]," in text
    assert "annealing=AnnealingOutput(...)," in text


def test_a_map_result_prints_short():
    result = MAPResult(
        theta1=np.zeros(3000),
        theta2=np.ones(3000),
        log_joint=np.float64(-12.5),
        log_partition=np.float64(np.nan),
        bits_saved=np.float64(np.nan),
        loss=np.zeros(2000),
        grad_norm=np.zeros(2000),
        inner_ess=np.zeros(2000),
    )
    assert repr(result).splitlines() == [
        "MAPResult(",
        "  theta1=float64[3000],",
        "  theta2=float64[3000],",
        "  log_joint=-12.5,",
        "  log_partition=nan,",
        "  bits_saved=nan,",
        "  loss=float64[2000],",
        "  grad_norm=float64[2000],",
        "  inner_ess=float64[2000],",
        ")",
    ]
