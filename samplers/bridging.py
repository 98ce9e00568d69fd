r"""Longer exchange moves: bridged exchange ratios, and a joint HMC move of
(θ₁, θ₂) that they accept.

The exchange move stands in $\mathcal N(w;\theta_1,\sigma_2^2) /
\mathcal N(w;\theta_1^*,\sigma_2^2)$, with $w \sim p(\cdot\mid\theta_1^*)$ exact,
for $Z(\theta_1)/Z(\theta_1^*)$. The log of that ratio has a variance up to
$\|\theta_1-\theta_1^*\|^2/\sigma_2^2$, so a move much longer than σ₂ is
rejected however well it is aimed. Bridging (Murray, Ghahramani & MacKay 2006)
carries $w$ through $K$ intermediate targets

$$p_k(w) \propto \mathcal N(w;\ \theta_1^* + \beta_k(\theta_1-\theta_1^*),\
\sigma_2^2)\, e^{-\lambda C(w)}, \qquad \beta_k = k/(K+1),$$

by one MALA step each (reversible for $p_k$), and uses the annealed importance
weight $\sum_{k=0}^{K} (\beta_{k+1}-\beta_k)\,[\log\mathcal N(w_k;\theta_1,
\sigma_2^2) - \log\mathcal N(w_k;\theta_1^*,\sigma_2^2)]$: an unbiased estimate
of $Z(\theta_1)/Z(\theta_1^*)$ whose log has about $1/(K+1)$ of the variance
when the steps mix. The chain is exact for every $K$.

The joint move follows the ridge along which θ₁ and θ₂ are coupled: a blackjax
velocity-Verlet trajectory of $L$ steps on $(\theta_1, \theta_2)$ under
$\log p(\theta_1,\theta_2) + \log Z(\theta_1) - S(\theta_1)$ (the log joint
without $-\log Z$, less the exchange move's fitted surrogate $S \approx
\log Z$), accepted by the true target: the log joint's ratio ($S$ cancels), the
kinetic energies, and the bridged stand-in for $\log Z(\theta_1) -
\log Z(\theta_1')$. A trajectory with its momentum flipped is an involution,
so any fixed $L$, step size and $S$ keep the chain exact.
"""

from collections.abc import Callable

import blackjax
import jax
import jax.numpy as jnp
import jax.random as jr
from blackjax.mcmc import integrators, metrics
from jax import Array

__all__ = ["BRIDGE_STEP_SIZE", "bridged_log_ratio", "trajectory"]

#: MALA step of each bridge, in units of σ₂² (blackjax's ε: the proposal's
#: noise has standard deviation √(2ε), here 0.77σ₂). Not tuned: the first value
#: tried, on the oblique d = 4 case of docs/benchmarks.md. A rejected step only
#: leaves that bridge's share of the variance reduction undone; where κ ≫ 1
#: most are, and a step scaled by the surrogate's curvature would do better.
BRIDGE_STEP_SIZE = 0.3


def bridged_log_ratio(
    key: Array,
    potential_fn: Callable[[Array], Array],
    w: Array,
    start: Array,
    end: Array,
    sigma2: float,
    num_bridges: int,
) -> Array:
    r"""$\log$ of an unbiased estimate of $Z(\text{end})/Z(\text{start})$.

    Args:
        key: a PRNG key.
        potential_fn: $\lambda C(\theta)$.
        w: an exact draw of $p(\cdot\mid\text{start})$.
        start, end: the two θ₁.
        sigma2: σ₂.
        num_bridges: $K$; 0 gives the plain exchange ratio.

    Example:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from samplers.bridging import bridged_log_ratio
        >>> potential = lambda theta: 2.0 * jnp.sum(theta**2)  # λC
        >>> start, end = jnp.zeros(2), jnp.full(2, 0.5)
        >>> w = 0.3 * jr.normal(jr.key(1), (2,))  # stands for a draw of p(·|start)
        >>> log_r = bridged_log_ratio(jr.key(0), potential, w, start, end, 0.5, 8)
        >>> log_r.shape
        ()
        >>> float(bridged_log_ratio(jr.key(0), potential, w, start, start, 0.5, 8))
        0.0
    """
    betas = jnp.linspace(0.0, 1.0, num_bridges + 2, dtype=w.dtype)
    kernel = blackjax.mala.build_kernel()
    step_size = BRIDGE_STEP_SIZE * sigma2**2
    potential_and_grad = jax.value_and_grad(potential_fn)

    def log_gap(x):
        # log N(x; end, σ₂²) − log N(x; start, σ₂²)
        return (jnp.sum((x - start) ** 2) - jnp.sum((x - end) ** 2)) / (2 * sigma2**2)

    def bridge(k, carry):
        x, potential, potential_grad, log_weight = carry
        log_weight = log_weight + (betas[k + 1] - betas[k]) * log_gap(x)
        mean = start + betas[k + 1] * (end - start)

        def logdensity(y):
            return -jnp.sum((y - mean) ** 2) / (2 * sigma2**2) - potential_fn(y)

        # λC and its gradient at x are carried from the last bridge (only the
        # Gaussian part changes between targets): one gradient of C a bridge.
        state = blackjax.mcmc.mala.MALAState(
            x,
            -jnp.sum((x - mean) ** 2) / (2 * sigma2**2) - potential,
            -(x - mean) / sigma2**2 - potential_grad,
        )
        state, _ = kernel(jr.fold_in(key, k), state, logdensity, step_size)
        x = state.position
        potential = -jnp.sum((x - mean) ** 2) / (2 * sigma2**2) - state.logdensity
        potential_grad = -(x - mean) / sigma2**2 - state.logdensity_grad
        return x, potential, potential_grad, log_weight

    potential, potential_grad = potential_and_grad(w)
    x, _, _, log_weight = jax.lax.fori_loop(
        0,
        num_bridges,
        bridge,
        (w, potential, potential_grad, jnp.zeros((), w.dtype)),
    )
    return log_weight + (betas[-1] - betas[-2]) * log_gap(x)


def trajectory(
    key: Array,
    logdensity_fn: Callable[[Array], Array],
    position: Array,
    step_size: Array,
    num_steps: int,
) -> tuple[Array, Array]:
    """One velocity-Verlet trajectory with unit mass from ``position``: the end
    point and log density change less kinetic energy change, the
    Metropolis–Hastings log ratio under ``logdensity_fn``.

    Example:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from samplers.bridging import trajectory
        >>> logdensity = lambda x: -0.5 * jnp.sum(x**2)
        >>> end, log_ratio = trajectory(jr.key(0), logdensity, jnp.ones(2), 0.1, 10)
        >>> end.shape, bool(abs(log_ratio) < 0.01)  # energy nearly conserved
        ((2,), True)
    """
    metric = metrics.default_metric(jnp.ones_like(position))
    step = integrators.velocity_verlet(logdensity_fn, metric.kinetic_energy)
    logdensity, grad = jax.value_and_grad(logdensity_fn)(position)
    momentum = metric.sample_momentum(key, position)
    start = integrators.IntegratorState(position, momentum, logdensity, grad)
    end = jax.lax.fori_loop(0, num_steps, lambda _, s: step(s, step_size), start)
    log_ratio = (
        end.logdensity
        - metric.kinetic_energy(end.momentum)
        - start.logdensity
        + metric.kinetic_energy(start.momentum)
    )
    return end.position, log_ratio
