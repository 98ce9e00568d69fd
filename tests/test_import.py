"""Smoke test: both top-level packages import."""


def test_import_packages() -> None:
    import posterior
    import samplers

    assert posterior.__name__ == "posterior"
    assert samplers.__name__ == "samplers"


def test_jax_config_from_conftest() -> None:
    import jax
    import jax.numpy as jnp

    assert jax.config.jax_enable_x64
    assert jnp.zeros(1).dtype == jnp.float64
    assert jax.config.jax_numpy_rank_promotion == "raise"
