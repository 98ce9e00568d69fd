"""Chains sharded over several devices give the draws of one device, same key.

The multi-device run is a subprocess with four host (CPU) devices; the flag must
be set before JAX starts, which is why it cannot run in this process.
"""

import os
import subprocess
import sys
import textwrap

import jax
import jax.random as jr
import numpy as np

import posterior
import samplers

SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.random as jr
    import numpy as np
    import posterior, samplers
    from samplers.run import chain_sharding

    assert jax.device_count() == 4, jax.devices()
    assert chain_sharding(4).mesh.size == 4
    case = posterior.LinearGaussianCase.random(
        jr.key(31), d=2, m=2, n=4, lam=2.0, sigma1=1.0, sigma2=0.6
    )
    tree = samplers.sample(case.model, **KWARGS)
    np.savez(sys.argv[1], theta1=tree.posterior["theta1"].values,
             theta2=tree.posterior["theta2"].values,
             pointwise=tree.log_likelihood["answers"].values)
    """
)
KWARGS = dict(
    key=jr.key(32),
    method="sgld",
    num_chains=4,
    num_samples=25,
    num_warmup=5,
    log_partition_every=0,
    progress=False,
)


def test_four_devices_give_the_draws_of_one(tmp_path):
    assert jax.device_count() == 1
    case = posterior.LinearGaussianCase.random(
        jr.key(31), d=2, m=2, n=4, lam=2.0, sigma1=1.0, sigma2=0.6
    )
    single = samplers.sample(case.model, **KWARGS)

    output = tmp_path / "sharded.npz"
    script = SCRIPT.replace("**KWARGS", "**" + _literal(KWARGS))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    subprocess.run(
        [sys.executable, "-c", script, str(output)], check=True, env=env, timeout=600
    )
    sharded = np.load(output)
    # Per-chain work is identical; only batched kernels may differ in the last
    # bits, so compare to float64 round-off.
    for name, value in [
        ("theta1", single.posterior["theta1"].values),
        ("theta2", single.posterior["theta2"].values),
        ("pointwise", single.log_likelihood["answers"].values),
    ]:
        np.testing.assert_allclose(sharded[name], value, rtol=1e-10, atol=1e-12)


def _literal(kwargs):
    parts = []
    for name, value in kwargs.items():
        if name == "key":
            parts.append("key=jr.key(32)")
        else:
            parts.append(f"{name}={value!r}")
    return "dict(" + ", ".join(parts) + ")"
