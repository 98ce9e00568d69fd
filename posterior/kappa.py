r"""κ: how strongly conditioning on agreement acts, direction by direction.

$$\kappa_j = \lambda\sigma_2^2\,\mu_j(G(\theta)),\qquad
G(\theta) = \frac{1}{|S|}\sum_{x\in S} J_x^\top\,\nabla^2\delta\,J_x,$$

$\mu_j$ the largest eigenvalues of $C$'s Gauss–Newton matrix, $J_x$ the
Jacobian of both heads' outputs on agreement input $x$ and $\nabla^2\delta$ the
divergence's Hessian in those outputs. In the linear-Gaussian case $G$ is $C$'s
Hessian and $-\log Z$ refunds exactly what θ₁'s disagreement costs θ₂, so
conditioning can change which hypothesis wins only along directions where
$\kappa \gg 1$ (docs/mechanism.md).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float

from . import _checks
from .agreement import mean_divergence

__all__ = ["kappa"]


def kappa(
    model, theta: Float[ArrayLike, " dim"], k: int = 3, *, num_iterations: int = 60
) -> Float[Array, " k"]:
    """λσ₂² times the ``k`` largest eigenvalues of C's Gauss–Newton matrix at
    ``theta``, largest first, by subspace iteration on Jacobian-vector
    products (no matrix is formed: one forward and one backward pass over S
    per vector and iteration).

    Args:
        model: a :class:`~posterior.TwoStageModel`.
        theta: flat parameters.
        k: how many directions.
        num_iterations: subspace iterations (over ``k + max(k, 8)``
            directions, of which the top ``k`` are returned).

    Example:
        The mechanism case at its honest point, where C's curvature along h
        is 1, so that κ is λσ₂²:

        >>> import jax.numpy as jnp
        >>> from posterior import MechanismCase
        >>> case = MechanismCase(25.0, 0.4, 0.1)
        >>> round(float(kappa(case.model, jnp.array([1.0, 1.0]), k=1)[0]), 6)
        25.0
    """
    dim = int(model.num_params)
    theta = _checks.flat_theta(theta, dim)
    k = _checks.count(k, "k")
    if k > dim:
        raise ValueError(f"`k` must be at most the model's {dim} parameters, got {k}.")
    num_iterations = _checks.count(num_iterations, "num_iterations")
    return (
        float(model.lam)
        * float(model.sigma2) ** 2
        * _top_eigenvalues(model, theta, k, num_iterations)
    )


# The model as an argument (a pytree): a model of the same shapes finds the
# program; the counts are static.
@eqx.filter_jit
def _top_eigenvalues(model, theta, k, num_iterations):
    def heads(t):
        return model.heads(t, model.agreement_inputs)

    def divergence(outputs):
        return mean_divergence(model.divergence, *outputs)

    def product(vector):
        outputs, tangents = jax.jvp(heads, (theta,), (vector,))
        _, curved = jax.jvp(jax.grad(divergence), (outputs,), (tangents,))
        return jax.vjp(heads, theta)[1](curved)[0]

    products = jax.vmap(product, in_axes=1, out_axes=1)
    # A wider subspace than asked: its top k converge at the rate of their gap
    # to the (width+1)th eigenvalue, not to the (k+1)th.
    width = min(theta.shape[0], k + max(k, 8))
    start = jr.normal(jr.key(0), (theta.shape[0], width), theta.dtype)

    def iterate(_, basis):
        return jnp.linalg.qr(products(basis))[0]

    basis = jax.lax.fori_loop(0, num_iterations, iterate, jnp.linalg.qr(start)[0])
    # Rayleigh–Ritz on the subspace found.
    projected = basis.T @ products(basis)
    return jnp.linalg.eigvalsh(0.5 * (projected + projected.T))[::-1][:k]
