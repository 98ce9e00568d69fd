r"""Divergences between the two heads, and the disagreement $C(\theta)$.

A divergence takes the two heads' outputs for one input and returns a scalar
$\delta \ge 0$ that is zero when the heads agree. The categorical divergences read
the outputs as logits. $C(\theta)$ is the mean of $\delta$ over the agreement set.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

__all__ = [
    "squared_gap",
    "kl",
    "reverse_kl",
    "jensen_shannon",
    "total_variation",
    "DIVERGENCES",
    "CATEGORICAL_DIVERGENCES",
    "resolve_divergence",
    "mean_divergence",
]

Divergence = Callable[[Array, Array], Array]


def squared_gap(intended: ArrayLike, instrumental: ArrayLike) -> Float[Array, ""]:
    r"""Half the squared distance between real answers,
    $\tfrac12\lVert h_1 - h_2\rVert^2$.

    The factor ½ makes $C(\theta) = \tfrac12\lVert A\theta - b\rVert^2$ in the
    linear-Gaussian case of DESIGN.md.

    Example:
        >>> import jax.numpy as jnp
        >>> float(squared_gap(jnp.array([1.0, 2.0]), jnp.zeros(2)))
        2.5
    """
    gap = jnp.asarray(intended) - jnp.asarray(instrumental)
    return 0.5 * jnp.sum(gap**2)


def kl(intended: ArrayLike, instrumental: ArrayLike) -> Float[Array, ""]:
    r"""$\mathrm{KL}(p_1 \Vert p_2)$, with $p_k = \mathrm{softmax}(h_k)$.

    The direction: the expectation is under the *intended* head's answer
    distribution, so agreement is demanded wherever the intended head puts mass.

    Example:
        Answer distributions (½, ½) and (¼, ¾):

        >>> import jax.numpy as jnp
        >>> intended, instrumental = jnp.zeros(2), jnp.log(jnp.array([1.0, 3.0]))
        >>> round(float(kl(intended, instrumental)), 4)
        0.1438
        >>> float(kl(intended, intended + 7.0))  # logits equal up to a constant
        0.0
    """
    log_p1 = jax.nn.log_softmax(intended)
    log_p2 = jax.nn.log_softmax(instrumental)
    value = jnp.sum(jnp.exp(log_p1) * (log_p1 - log_p2))
    # Rounding in log_softmax leaves about -1e-16 for logits equal up to a
    # constant; clamp at the minimum 0, where the gradient vanishes anyway.
    return jnp.maximum(value, 0.0)


def reverse_kl(intended: ArrayLike, instrumental: ArrayLike) -> Float[Array, ""]:
    r"""$\mathrm{KL}(p_2 \Vert p_1)$: the expectation under the instrumental head.

    Example:
        >>> import jax.numpy as jnp
        >>> intended, instrumental = jnp.zeros(2), jnp.log(jnp.array([1.0, 3.0]))
        >>> round(float(reverse_kl(intended, instrumental)), 4)
        0.1308
    """
    return kl(instrumental, intended)


def jensen_shannon(intended: ArrayLike, instrumental: ArrayLike) -> Float[Array, ""]:
    r"""$\tfrac12\mathrm{KL}(p_1\Vert m) + \tfrac12\mathrm{KL}(p_2\Vert m)$ with
    $m = (p_1+p_2)/2$, in nats; symmetric and at most $\log 2$.

    Example:
        >>> import jax.numpy as jnp
        >>> intended, instrumental = jnp.zeros(2), jnp.log(jnp.array([1.0, 3.0]))
        >>> round(float(jensen_shannon(intended, instrumental)), 4)
        0.0338
        >>> round(float(jensen_shannon(jnp.array([0.0, 50.0]), jnp.array([50.0, 0.0]))), 4)
        0.6931
    """
    log_p1 = jax.nn.log_softmax(intended)
    log_p2 = jax.nn.log_softmax(instrumental)
    # log m computed in log space so that tiny probabilities do not underflow.
    log_m = jnp.logaddexp(log_p1, log_p2) - jnp.log(2.0)
    kl1 = jnp.sum(jnp.exp(log_p1) * (log_p1 - log_m))
    kl2 = jnp.sum(jnp.exp(log_p2) * (log_p2 - log_m))
    # Clamped at 0 as in `kl`: rounding in logaddexp can leave -1e-16.
    return jnp.maximum(0.5 * (kl1 + kl2), 0.0)


def total_variation(intended: ArrayLike, instrumental: ArrayLike) -> Float[Array, ""]:
    r"""$\tfrac12\sum_a |p_1(a) - p_2(a)|$, between 0 and 1.

    Example:
        >>> import jax.numpy as jnp
        >>> intended, instrumental = jnp.zeros(2), jnp.log(jnp.array([1.0, 3.0]))
        >>> round(float(total_variation(intended, instrumental)), 4)
        0.25
    """
    p1 = jax.nn.softmax(intended)
    p2 = jax.nn.softmax(instrumental)
    return 0.5 * jnp.sum(jnp.abs(p1 - p2))


DIVERGENCES: dict[str, Divergence] = {
    "squared_gap": squared_gap,
    "kl": kl,
    "reverse_kl": reverse_kl,
    "jensen_shannon": jensen_shannon,
    "total_variation": total_variation,
}
CATEGORICAL_DIVERGENCES = frozenset(
    {"kl", "reverse_kl", "jensen_shannon", "total_variation"}
)


def resolve_divergence(divergence: str | Divergence) -> Divergence:
    """Turns a divergence name into its function; callables pass through.

    Raises:
        TypeError: for anything neither a name nor a callable.
        ValueError: for an unknown name.
    """
    if callable(divergence):
        return divergence
    if not isinstance(divergence, str):
        raise TypeError(
            f"`divergence` must be a name, one of {sorted(DIVERGENCES)}, or a "
            "callable (intended, instrumental) -> scalar, got "
            f"{type(divergence).__name__} {divergence!r}."
        )
    if divergence not in DIVERGENCES:
        raise ValueError(
            f"`divergence` must be one of {sorted(DIVERGENCES)} or a callable "
            f"(intended, instrumental) -> scalar, got {divergence!r}."
        )
    return DIVERGENCES[divergence]


def mean_divergence(
    divergence: Divergence,
    intended: Float[Array, "num_agreement ..."],
    instrumental: Float[Array, "num_agreement ..."],
    *,
    stop_gradient_intended: bool = False,
) -> Float[Array, ""]:
    r"""$C = \frac{1}{|S|}\sum_{x\in S}\delta(h_1(x), h_2(x))$ over a batch of heads.

    Args:
        divergence: per-input divergence.
        intended: intended-head outputs, one row per agreement input.
        instrumental: instrumental-head outputs, same shape.
        stop_gradient_intended: hold the intended head fixed under
            differentiation (the essay's proposal, so that agreement is not bought
            by simplifying the world model). The value is unchanged; the gradient
            is then no gradient of any density, so only gradient dynamics (SGLD,
            MAP) may use it, never an accept step or an importance weight.
    """
    if stop_gradient_intended:
        intended = jax.lax.stop_gradient(intended)
    return jnp.mean(jax.vmap(divergence)(intended, instrumental))
