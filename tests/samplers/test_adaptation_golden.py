"""Golden values of the SG-MCMC warm-up adaptation on a small case, to show
what a change to the adaptation moves (tests/samplers/golden/adaptation.json).

The case: a two-stage Gaussian, d = 40 per stage, σ₂ = 0.2, whose likelihood
has 8 stiff directions (curvatures 10 to 10⁴) over a unit one: the shape of a
network's Gauss–Newton matrix, a few outliers over a flat bulk. One window of
200 probes is closed from θ = 0. Recorded:

- ``block_b_over_a``, ``block_c_over_a``: medians of the 2×2 blocks' map
  ratios (the Cholesky factors of the blocks' inverses; scale-free);
- ``a_median``: the map's overall size, set by the stiffest direction;
- ``top``, ``bottom``: the extreme eigenvalues of TᵀHT, the curvature the
  chain sees (the step is stable for ``top`` ≤ 1; mixing goes as ``bottom``).

To regenerate after a deliberate change: ``python
tests/samplers/test_adaptation_golden.py`` (prints the JSON) and say in the
commit which values moved and why.
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from samplers import precondition

GOLDEN = pathlib.Path(__file__).parent / "golden" / "adaptation.json"
DIM, SIGMA2 = 40, 0.2


def _case():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(DIM, 8)))
    stiff = np.logspace(1, 4, 8)
    quadratic = np.eye(DIM) + (basis * stiff) @ basis.T
    centre = rng.normal(size=DIM)

    def logdensity(theta1, theta2, batch=None):
        x = theta2 - centre
        return (
            -0.5 * jnp.sum(theta1**2)
            - 0.5 * jnp.sum((theta2 - theta1) ** 2) / SIGMA2**2
            - 0.5 * x @ jnp.asarray(quadratic) @ x
        )

    coupling = np.eye(DIM) / SIGMA2**2
    precision = np.block(
        [[np.eye(DIM) + coupling, -coupling], [-coupling, coupling + quadratic]]
    )
    return precision, logdensity


def values() -> dict:
    precision, logdensity = _case()
    theta = jnp.zeros(DIM)
    state = precondition.init(jr.key(0), logdensity, theta, theta, SIGMA2)

    def add(state, key):
        probes = precondition.diagonal_curvature(key, logdensity, theta, theta)
        return precondition.accumulate(state, probes), None

    state, _ = jax.lax.scan(add, state, jr.split(jr.key(1), 200))
    scale = precondition.update(
        jr.key(2), state, logdensity, theta, theta, SIGMA2
    ).scale
    columns = [
        np.concatenate(scale.to_theta(*np.split(np.asarray(e), 2)))
        for e in np.eye(2 * DIM)
    ]
    matrix = np.stack(columns, axis=1)
    eigenvalues = np.linalg.eigvalsh(matrix.T @ precision @ matrix)
    a, b, c = (np.asarray(x) for x in scale[:3])
    return {
        "block_b_over_a": float(np.median(b / a)),
        "block_c_over_a": float(np.median(c / a)),
        "a_median": float(np.median(a)),
        "top": float(eigenvalues.max()),
        "bottom": float(eigenvalues.min()),
    }


def test_the_adaptation_gives_its_golden_values():
    golden = json.loads(GOLDEN.read_text())
    found = values()
    assert found.keys() == golden.keys()
    for name, value in golden.items():
        np.testing.assert_allclose(found[name], value, rtol=1e-6, err_msg=name)


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    print(json.dumps(values(), indent=2))
