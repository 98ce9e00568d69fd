"""Chains sharded over several devices give the draws of one device, same key.

The multi-device run is a process of its own with four host (CPU) devices; the
flag must be set before JAX starts, which is why it cannot run in this process.
"""

import textwrap

import jax
import jax.random as jr
import numpy as np

import posterior
import samplers

SCRIPT = textwrap.dedent(
    """
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
    np.savez("sharded.npz", theta1=tree.posterior["theta1"].values,
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


def test_four_devices_give_the_draws_of_one(tmp_path, run_script):
    assert jax.device_count() == 1
    case = posterior.LinearGaussianCase.random(
        jr.key(31), d=2, m=2, n=4, lam=2.0, sigma1=1.0, sigma2=0.6
    )
    single = samplers.sample(case.model, **KWARGS)

    script = tmp_path / "sharded.py"
    script.write_text(SCRIPT.replace("**KWARGS", "**" + _literal(KWARGS)))
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    exit_code, output = run_script(script, tmp_path, flags, timeout=600)
    assert exit_code == 0, output[-4000:]
    sharded = np.load(tmp_path / "sharded.npz")
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
