r"""Standard errors of an AIS run's estimates, read from its final state
(`samplers.ais.AISState`): of $\log\hat Z$ by the weights' dispersion in each
resampling period, of weighted means (∇log Z) by the particles' ancestry.
Their calibration is tested in tests/samplers/test_log_z_se.py and argued in
docs/samplers.md ("How far off one log Z estimate may be").
"""

import jax
import jax.numpy as jnp
from jax import Array

from samplers.ais import AISState, global_log_weights

__all__ = ["island_z", "log_z_se", "weighted_mean_se"]


def log_z_se(state: AISState) -> Array:
    r"""Standard error of $\log\hat Z$ (`log_evidence`), from the run itself.

    Between two resamplings an island's particles carry weights whose
    dispersion is what the period adds to $\hat Z$'s variance; if the moves
    mixed perfectly, so that each period started from independent draws, an
    island of $N$ particles would have

    $$\operatorname{Var}(\hat Z_k)/\hat Z_k^2 \approx \frac1N \sum_p
      \Big(\frac{1}{\mathrm{ESS}_p} - 1\Big),$$

    the sum over its periods $p$ (the last one ending at the end of the path)
    of the ESS fraction reached just before the period's resampling (Chopin,
    2004, the variance of the central limit theorem with perfect mixing). The
    islands are independent, so their variances add in
    $\hat Z = \operatorname{mean}_k \hat Z_k$; the SE of $\log\hat Z$ is
    $\sqrt{\operatorname{Var}(\hat Z)}/\hat Z$ (delta method).

    Moves that mix poorly make it too small, and it cannot see a mode the
    particles never reached; it does not include $\log\hat Z$'s downward bias
    (about half its square). Its calibration on problems with a known
    $\log Z$ is tested in tests/samplers/test_log_z_se.py.
    """
    relative = _relative_variances(state)
    share = jax.nn.softmax(state.log_z)  # each island's part of Ẑ
    return jnp.sqrt(jnp.sum(jnp.square(share) * relative))


def _relative_variances(state: AISState) -> Array:
    r"""Each island's $\operatorname{Var}(\hat Z_k)/\hat Z_k^2$ as in
    :func:`log_z_se`."""
    islands = state.log_z.shape[0]
    size = state.log_weights.shape[0] // islands
    weights = jnp.exp(state.log_weights).reshape(islands, size)
    final = 1.0 / (size * jnp.sum(jnp.square(weights), axis=1))
    # Equal weights can round to an ESS fraction a hair above 1.
    return jnp.maximum(state.spent + 1.0 / final - 1.0, 0.0) / size


def island_z(state: AISState) -> Array:
    r"""How far the two islands' estimates disagree, in units of what
    :func:`log_z_se` allows: $(\log\hat Z_1 - \log\hat Z_2) / \sqrt{v_1 + v_2}$,
    $v_k$ each island's relative variance (NaN with one island).

    The islands are independent runs of the same path, so with moves that mix
    this is about standard normal. Far beyond ±4 it says that the runs found
    different parts of the target: the moves did not mix, and `log_z_se`,
    which assumes they did, is too small.
    """
    if state.log_z.shape[0] != 2:
        return jnp.full((), jnp.nan, state.log_z.dtype)
    variance = jnp.sum(_relative_variances(state))
    # On an exact path (a fitted reference on a Gaussian target) both terms are
    # rounding: floor the spread at the estimate's rounding.
    rounding = 100 * jnp.finfo(state.log_z.dtype).eps * (1 + jnp.abs(state.log_z[0]))
    return (state.log_z[0] - state.log_z[1]) / jnp.sqrt(variance + rounding**2)


def weighted_mean_se(state: AISState, values: Array) -> Array:
    r"""Standard errors `(k,)` of the weighted means $\bar f = \sum_i W_i f_i$
    of `values` `(n, k)` over the whole cloud.

    Lee & Whiteley's (2018) estimator: the centred terms $W_i(f_i - \bar f)$
    are summed over the particles that share an ancestor at the start of the
    path (an *Eve*), so that resampled copies count as one draw, and each
    island's squared sums are scaled by $(N/(N-1))^{R+1}$ for its $N$
    particles and $R$ resamplings; the islands' weights are held fixed.
    Without resampling it is the self-normalised importance-sampling SE.
    """
    weights = jnp.exp(global_log_weights(state))
    centred = values - (weights @ values)[None, :]
    num_particles = state.eve.shape[0]
    sums = jax.ops.segment_sum(
        weights[:, None] * centred, state.eve, num_segments=num_particles
    )
    size = num_particles // state.log_z.shape[0]
    factor = jnp.power(size / (size - 1), (state.resamples + 1).astype(weights.dtype))
    # Resampling stays within an island, so an Eve's island is its index's.
    island = jnp.arange(num_particles) // size
    return jnp.sqrt(factor[island] @ jnp.square(sums))
