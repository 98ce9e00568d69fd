"""On the exact mechanism case (κ = 25: honest, imitating and mirror modes), a
run whose chains stay in the modes they started in gives a wrong P(honest), and
it must say so (docs/benchmarks.md measures every method at full length)."""

import warnings

import jax.numpy as jnp

import posterior
import samplers
from posterior.mechanism import is_honest

HONEST = (jnp.array([0.70, 0.40]), jnp.array([0.70, 0.98]))
IMITATING = (jnp.array([0.02, 0.93]), jnp.array([0.0, 0.98]))


def test_a_run_off_by_more_than_005_in_p_honest_is_flagged(stat_key):
    """Holds for any key: checked under --stat-key-offset 0-5, where the runs
    were off by 0.07-0.21 under five offsets (0.03 under one) and flagged by a
    ConvergenceWarning every time."""
    case = posterior.MechanismCase(25.0, 0.4, 0.1)
    exact = case.p_honest()
    init = tuple(
        jnp.stack([HONEST[i], HONEST[i], IMITATING[i], IMITATING[i]]) for i in (0, 1)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = samplers.sample(
            case.model,
            key=stat_key(0),
            method="sgld",
            batch_size=2,
            num_chains=4,
            num_warmup=200,
            num_samples=200,
            init=init,
            progress=False,
        )
    theta2 = jnp.asarray(tree.posterior["theta2"]).transpose(2, 0, 1)
    estimate = float(jnp.mean(is_honest(theta2)))
    flagged = [w for w in caught if issubclass(w.category, samplers.SamplingWarning)]
    if abs(estimate - exact) > 0.05:
        assert flagged, (estimate, exact)
