"""Global test configuration.

Runs before any test module is imported (in every xdist worker), so these JAX
settings apply to the whole suite.
"""

import jax

# Tests compare against float64 references (scipy etc.).
jax.config.update("jax_enable_x64", True)
# Catch accidental broadcasting between arrays of different rank.
jax.config.update("jax_numpy_rank_promotion", "raise")
