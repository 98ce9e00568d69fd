"""Two-head networks: a shared trunk (the "world model") and two answer heads.

Any callable pytree works as a network if, for one input ``x`` (no batch axis), it
returns a pair ``(intended, instrumental)`` of arrays of the same shape: logits over
answers for categorical data, or a real answer. Equinox modules are the natural
choice; :class:`AbstractTwoHeadNetwork` names the contract.
"""

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from . import _checks

__all__ = ["AbstractTwoHeadNetwork", "TwoHeadMLP", "LinearTwoHead"]


class AbstractTwoHeadNetwork(eqx.Module):
    """A network with an intended head and an instrumental head.

    Subclasses implement ``__call__(x) -> (intended, instrumental)`` for a single
    input. Both outputs must have the same shape. Parameters are the inexact array
    leaves of the module; everything else is static.

    Example:
        Two linear read-outs of one tanh feature layer, for three classes:

        >>> import jax
        >>> import jax.numpy as jnp
        >>> from posterior import AbstractTwoHeadNetwork
        >>> class SharedTrunk(AbstractTwoHeadNetwork):
        ...     trunk: jax.Array
        ...     heads: jax.Array
        ...     def __call__(self, x):
        ...         features = jnp.tanh(self.trunk @ x)
        ...         return self.heads[0] @ features, self.heads[1] @ features
        >>> net = SharedTrunk(jnp.ones((4, 2)), jnp.ones((2, 3, 4)))
        >>> [head.shape for head in net(jnp.array([0.5, -1.0]))]
        [(3,), (3,)]
    """

    @abc.abstractmethod
    def __call__(self, x: ArrayLike) -> tuple[Array, Array]:
        raise NotImplementedError


class TwoHeadMLP(AbstractTwoHeadNetwork):
    """An MLP trunk feeding two linear heads.

    Example:
        >>> import jax.random as jr
        >>> net = TwoHeadMLP(4, 3, width=8, depth=2, key=jr.key(0))
        >>> intended, instrumental = net(jnp.ones(4))
        >>> intended.shape, instrumental.shape
        ((3,), (3,))
    """

    trunk: eqx.nn.MLP
    intended: eqx.nn.Linear
    instrumental: eqx.nn.Linear

    def __init__(
        self,
        in_size: int,
        out_size: int | str,
        *,
        width: int = 32,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.tanh,
        key: PRNGKeyArray,
    ):
        """Args:
        in_size: length of one input vector (at least 1), or ``"scalar"`` for
            an input that is one number without an axis.
        out_size: number of answer classes (logits, at least 1), or
            ``"scalar"`` for a real answer.
        width: width of the trunk and of its output features (at least 1).
        depth: number of hidden layers in the trunk (at least 1).
        activation: trunk non-linearity, also applied to the trunk's output.
        key: a typed PRNG key, ``jax.random.key(seed)``, for the
            initialisation, which is also θ₀ of the prior.
        """
        in_size = _size(in_size, "in_size")
        out_size = _size(out_size, "out_size")
        width = _checks.count(width, "width")
        depth = _checks.count(depth, "depth")
        if not callable(activation):
            raise TypeError(f"`activation` must be callable, got {activation!r}.")
        key = _checks.typed_key(key)
        key_trunk, key_intended, key_instrumental = jr.split(key, 3)
        self.trunk = eqx.nn.MLP(
            in_size,
            width,
            width,
            depth - 1,
            activation=activation,
            final_activation=activation,
            key=key_trunk,
        )
        self.intended = eqx.nn.Linear(width, out_size, key=key_intended)
        self.instrumental = eqx.nn.Linear(width, out_size, key=key_instrumental)

    def __call__(self, x: ArrayLike) -> tuple[Array, Array]:
        features = self.trunk(jnp.asarray(x))
        return self.intended(features), self.instrumental(features)


def _size(value, name: str) -> int | str:
    """A layer size: a positive integer, or ``"scalar"`` (equinox's word for one
    number without an axis)."""
    if isinstance(value, str):
        if value != "scalar":
            raise ValueError(
                f"`{name}` must be a positive integer or 'scalar', got {value!r}."
            )
        return value
    return _checks.count(value, name)


class LinearTwoHead(AbstractTwoHeadNetwork):
    r"""Two real heads, each linear in one weight vector $w \in \mathbb{R}^d$.

    An input is a ``(2, d + 1)`` array: row 0 holds the intended head's features
    and offset, row 1 the instrumental head's, so that

    $$h_k(x; w) = x_{k, :d} \cdot w + x_{k, d}.$$

    With the squared-gap divergence and a Gaussian likelihood this gives the
    linear-Gaussian case whose posterior and log-partition are known exactly.

    Example:
        >>> import jax.numpy as jnp
        >>> import jax.random as jr
        >>> from posterior import LinearTwoHead
        >>> net = LinearTwoHead(2, key=jr.key(0))
        >>> x = jnp.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]])  # features, offset
        >>> intended, instrumental = net(x)
        >>> bool(jnp.allclose(intended, net.weight[0] + 0.5))
        True
    """

    weight: Float[Array, " dim"]

    def __init__(self, dim: int, *, scale: float = 1.0, key: PRNGKeyArray):
        self.weight = scale * jr.normal(key, (dim,))

    def __call__(self, x: ArrayLike) -> tuple[Array, Array]:
        x = jnp.asarray(x)
        heads = x[:, :-1] @ self.weight + x[:, -1]
        return heads[0], heads[1]
