"""The checks `TwoStageModel` makes when it is built, and its fingerprint's
parts: a network's layout and the data's hashes."""

import hashlib
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from .agreement import DIVERGENCES
from .likelihoods import FromCallable, FromDistribution

__all__ = [
    "check_pairs",
    "check_terms_at_theta0",
    "divergence_at",
    "log_likelihood_at",
    "describe_network",
    "digest",
    "head_shape",
]


def check_terms_at_theta0(model) -> None:
    """The user's divergence and likelihood, tried once at θ₀: a vector, a
    negative value or a NaN there would otherwise be averaged, flip the sign of
    log Z or poison every chain without a word."""
    # Shapes first (tracing only); then each term is one compiled program:
    # run eagerly, the forward pass and the checks cost dozens of small
    # compilations, about a second per model built.
    intended, instrumental = jax.eval_shape(
        model.heads, model.theta0, model.agreement_inputs
    )
    try:
        shape = jax.eval_shape(model.divergence, _one(intended), _one(instrumental))
    except Exception as error:
        raise ValueError(
            f"`divergence` fails on the heads' outputs at θ₀: {error}"
        ) from error
    if getattr(shape, "shape", None) != ():
        raise ValueError(
            "`divergence` must return a scalar for one input, got shape "
            f"{getattr(shape, 'shape', type(shape).__name__)}."
        )
    values = np.asarray(_divergence_at(model, model.theta0))
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"`divergence` is NaN or infinite at θ₀ on agreement inputs "
            f"{bad[:5].tolist()}."
        )
    # Rounding may leave -1e-16 where heads agree; a real negative value would
    # make e^{-λC} exceed 1 and log Z positive.
    if values.min() < -1e-6 * max(1.0, float(np.abs(values).max())):
        raise ValueError(
            "`divergence` must be >= 0 (zero where the heads agree); at θ₀ it is "
            f"{values.min():.3g} on agreement input {int(values.argmin())}."
        )
    try:
        log_probs = np.asarray(_log_likelihood_at(model, model.theta0))
    except Exception as error:
        raise ValueError(
            f"`likelihood` fails on the intended head's outputs at θ₀: {error}"
        ) from error
    if log_probs.shape != (model.num_answers,):
        raise ValueError(
            f"`likelihood` must give one log-probability per answer, shape "
            f"({model.num_answers},), got {log_probs.shape}."
        )
    bad = np.flatnonzero(~np.isfinite(log_probs))
    if bad.size:
        raise ValueError(
            f"`likelihood` is NaN or infinite at θ₀ on answers {bad[:5].tolist()}."
        )
    positive = np.flatnonzero(log_probs > 1e-6)
    if positive.size and _discrete_answers(model):
        raise ValueError(
            "`likelihood` gives a positive log-probability to a discrete answer "
            f"at θ₀ (answers {positive[:5].tolist()}, up to "
            f"{log_probs.max():.3g}): it must return log p, not p. (Answers that "
            "are continuous values should be passed as floats.)"
        )


def _discrete_answers(model) -> bool:
    """Whether the answers are discrete, so that log p ≤ 0: a discrete
    distribution, or integer answers under a user's log-probability."""
    distribution = None
    if not isinstance(model.likelihood, FromCallable):
        outputs = model.likelihood.outputs(
            lambda x: model.network_at(model.theta0)(x)[0], model.answer_inputs
        )
        distribution = model.likelihood.distribution(outputs)
    if distribution is None:
        return bool(jnp.issubdtype(jnp.asarray(model.answers).dtype, jnp.integer))
    return bool(distribution.is_discrete)


def divergence_at(model, theta):
    """The divergence on each agreement input at ``theta`` (a check's program)."""
    return jax.vmap(model.divergence)(*model.heads(theta, model.agreement_inputs))


def log_likelihood_at(model, theta):
    """log p of each answer at ``theta`` (a check's program)."""
    return model.pointwise_log_likelihood(theta)


# The model as an argument (it is a pytree): a model of the same shapes finds
# the compiled checks (0.8 s a model otherwise, on a small network).
_divergence_at = eqx.filter_jit(divergence_at)
_log_likelihood_at = eqx.filter_jit(log_likelihood_at)


def _one(shapes: PyTree) -> PyTree:
    """The shape of one example of a batch's shapes."""
    return jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape[1:], leaf.dtype), shapes
    )


def _first(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda leaf: leaf[0], tree)


def check_pairs(inputs: PyTree, name: str) -> None:
    """Pairwise inputs: every leaf of shape ``(num_answers, 2, ...)``. Only the
    first two items are compared, so a third would be dropped without a word."""
    for leaf in jax.tree.leaves(inputs):
        if leaf.ndim < 2 or leaf.shape[1] != 2:
            raise ValueError(
                f"`{name}` must hold pairs for the Bradley-Terry likelihood, shape "
                f"(num_answers, 2, *input_shape), got {leaf.shape}."
            )


def head_shape(
    network: Callable, inputs: PyTree, name: str, *, pairs: bool = False
) -> tuple[int, ...]:
    """The heads' common shape for one input, found without computing anything."""
    example = _first(_first(inputs) if pairs else inputs)
    try:
        heads = eqx.filter_eval_shape(network, example)
    except Exception as error:
        raise ValueError(f"`{name}` do not fit the network: {error}") from error
    if not (isinstance(heads, tuple | list) and len(heads) == 2):
        raise TypeError(
            "`network(x)` must return a pair (intended, instrumental); got "
            f"{type(heads).__name__}."
        )
    intended, instrumental = heads
    if intended.shape != instrumental.shape:
        raise ValueError(
            "The network's heads have different shapes: intended "
            f"{intended.shape}, instrumental {instrumental.shape}."
        )
    return tuple(intended.shape)


def describe_network(network, params) -> dict[str, str | int]:
    """The network's class and a hash of its parameters' layout (paths,
    shapes, dtypes), stable across processes."""
    layout = [
        (jax.tree_util.keystr(path), tuple(leaf.shape), str(leaf.dtype))
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
    ]
    kind = type(network)
    return {
        "network": f"{kind.__module__}.{kind.__qualname__}",
        "network_layout": hashlib.sha256(repr(layout).encode()).hexdigest()[:16],
        "num_params": sum(int(np.prod(shape)) for _, shape, _ in layout),
    }


def digest(tree: PyTree) -> str:
    """A SHA-256 prefix of a pytree's arrays' bytes, shapes and dtypes."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def fingerprint(model) -> dict[str, str | int | float]:
    """What identifies a model's posterior (see `TwoStageModel.fingerprint`)."""
    divergence = next(
        (n for n, f in DIVERGENCES.items() if f is model.divergence), "custom"
    )
    custom = isinstance(model.likelihood, FromCallable | FromDistribution)
    return {
        **dict(model._network),
        "lam": float(model.lam),
        "sigma1": model.sigma1,
        "sigma2": model.sigma2,
        "divergence": divergence,
        "likelihood": "custom" if custom else repr(model.likelihood),
        "theta0": digest(model.theta0),
        "agreement_inputs": digest(model.agreement_inputs),
        "answer_inputs": digest(model.answer_inputs),
        "answers": digest(model.answers),
    }
