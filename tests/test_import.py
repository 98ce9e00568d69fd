"""Importing the packages: in any order with ArviZ, and the suite's JAX settings."""

import subprocess
import sys
import textwrap


def test_numpyro_factor_works_when_arviz_is_imported_first() -> None:
    # A fresh interpreter: in this one NumPyro is long imported. With ArviZ
    # first, `import numpyro.distributions` used to leave the package without
    # its submodule attributes, and the model's factor sites failed with
    # AttributeError (seen in the suite under xdist, where the order of imports
    # is the order of collection).
    script = textwrap.dedent(
        """
        import arviz
        import posterior
        import numpyro
        from numpyro import handlers

        trace = handlers.trace(lambda: numpyro.factor("f", 1.5)).get_trace()
        site = trace["f"]
        assert float(site["fn"].log_prob(site["value"])) == 1.5
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr


def test_jax_config_from_conftest() -> None:
    import jax
    import jax.numpy as jnp

    assert jax.config.jax_enable_x64
    assert jnp.zeros(1).dtype == jnp.float64
    assert jax.config.jax_numpy_rank_promotion == "raise"
