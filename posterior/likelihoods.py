"""Likelihoods of the answers through the intended head.

A likelihood turns the intended head's outputs on the answer inputs into
per-example log-probabilities of the answers. Built-in ones wrap NumPyro
distributions; users bring a per-example log-probability function
(:class:`FromCallable`) or a distribution factory (:class:`FromDistribution`).
"""

import abc
import inspect
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jaxtyping import Array, Float

from . import _checks

__all__ = [
    "AbstractLikelihood",
    "Categorical",
    "Gaussian",
    "Bernoulli",
    "BradleyTerry",
    "FromCallable",
    "FromDistribution",
    "resolve_likelihood",
]

IntendedFn = Callable[[Array], Array]


class AbstractLikelihood(eqx.Module):
    """How answers depend on the intended head.

    ``outputs`` maps the intended head over the answer inputs (override it when an
    example is more than one network input, as for pairwise comparisons);
    ``distribution`` gives the NumPyro distribution of all answers, or ``None``
    when the likelihood is only a log-probability function.

    Example:
        Poisson counts with the intended head as the log rate, usable as
        ``TwoStageModel(..., likelihood=LogRatePoisson())``:

        >>> import jax.numpy as jnp
        >>> import numpyro.distributions as dist
        >>> from posterior import AbstractLikelihood
        >>> class LogRatePoisson(AbstractLikelihood):
        ...     def distribution(self, outputs):
        ...         return dist.Poisson(jnp.exp(outputs[..., 0]))
        >>> likelihood = LogRatePoisson()
        >>> outputs = likelihood.outputs(lambda x: x[:1], jnp.array([[0.0], [1.0]]))
        >>> likelihood.log_prob(outputs, jnp.array([1, 3])).shape
        (2,)
    """

    def outputs(self, intended_fn: IntendedFn, inputs: Array) -> Array:
        return jax.vmap(intended_fn)(inputs)

    @abc.abstractmethod
    def distribution(self, outputs: Array) -> dist.Distribution | None:
        raise NotImplementedError

    def log_prob(self, outputs: Array, answers: Array) -> Float[Array, " num_data"]:
        return self.distribution(outputs).log_prob(answers)

    def check(self, output_shape: tuple[int, ...], answers: np.ndarray) -> None:
        """Raises ValueError if the answers cannot come from this likelihood.

        Args:
            output_shape: shape of the intended head for one input.
            answers: all answers, as a NumPy array.
        """


def _check_binary(answers: np.ndarray) -> None:
    if answers.ndim != 1:
        raise ValueError(
            f"`answers` must have shape (num_answers,), got {answers.shape}."
        )
    if not np.all((answers == 0) | (answers == 1)):
        raise ValueError("`answers` must be 0 or 1 for this likelihood.")


def _check_scalar_head(output_shape: tuple[int, ...], name: str) -> None:
    if output_shape != ():
        raise ValueError(
            f"The {name} likelihood needs a scalar intended head (out_size='scalar'),"
            f" but the head has shape {output_shape}."
        )


class Categorical(AbstractLikelihood):
    """Answers in ``0..k-1``; the intended head gives ``k`` logits.

    Example:
        >>> import jax.numpy as jnp
        >>> logits = jnp.log(jnp.array([[1.0, 3.0]]))  # P(answer = 1) = 3/4
        >>> round(float(Categorical().log_prob(logits, jnp.array([1]))[0]), 4)
        -0.2877
    """

    def distribution(self, outputs: Array) -> dist.Distribution:
        return dist.Categorical(logits=outputs)

    def log_prob(self, outputs: Array, answers: Array) -> Float[Array, " num_data"]:
        # Whole-number float answers pass `check`; indexing needs integers.
        return self.distribution(outputs).log_prob(jnp.asarray(answers).astype(int))

    def check(self, output_shape: tuple[int, ...], answers: np.ndarray) -> None:
        if len(output_shape) != 1:
            raise ValueError(
                "The categorical likelihood needs an intended head of logits with "
                f"shape (num_classes,), but the head has shape {output_shape}."
            )
        num_classes = output_shape[0]
        if answers.ndim != 1:
            raise ValueError(
                "`answers` must be class indices of shape (num_answers,) for a "
                f"categorical likelihood, got shape {answers.shape} (one-hot or "
                "column answers: take `argmax(-1)` or `ravel()` first)."
            )
        integral = np.issubdtype(answers.dtype, np.integer) or bool(
            np.all(answers == np.round(answers))  # NaN fails this too
        )
        if not integral or answers.min() < 0 or answers.max() >= num_classes:
            raise ValueError(
                f"`answers` must be integers in 0..{num_classes - 1} for a "
                f"categorical likelihood with {num_classes} classes."
            )


class Gaussian(AbstractLikelihood):
    r"""Real answers, $a \sim \mathcal N(h_1(x), s^2)$ with a fixed scale $s$.

    Example:
        >>> import jax.numpy as jnp
        >>> likelihood = Gaussian(scale=0.5)
        >>> round(float(likelihood.log_prob(jnp.zeros(1), jnp.array([0.5]))[0]), 4)
        -0.7258
    """

    scale: float = 1.0

    def __check_init__(self):
        # A traced scale (a Gaussian built inside jit) cannot be read; any other
        # must be a finite number > 0: an infinite one makes every answer
        # equally likely, log-probability -inf.
        if not isinstance(self.scale, jax.core.Tracer):
            _checks.positive_scalar(self.scale, "scale")

    def distribution(self, outputs: Array) -> dist.Distribution:
        event_dims = outputs.ndim - 1
        return dist.Normal(outputs, self.scale).to_event(event_dims)

    def check(self, output_shape: tuple[int, ...], answers: np.ndarray) -> None:
        if answers.shape[1:] != output_shape:
            raise ValueError(
                f"`answers` must have shape (num_answers, *{output_shape}) to match "
                f"the intended head, got {answers.shape}."
            )


class Bernoulli(AbstractLikelihood):
    """Answers 0 or 1; the intended head gives one logit.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(Bernoulli().log_prob(jnp.zeros(1), jnp.array([1]))[0]), 4)
        -0.6931
    """

    def distribution(self, outputs: Array) -> dist.Distribution:
        return dist.Bernoulli(logits=outputs)

    def check(self, output_shape: tuple[int, ...], answers: np.ndarray) -> None:
        _check_scalar_head(output_shape, "Bernoulli")
        _check_binary(answers)


class BradleyTerry(AbstractLikelihood):
    r"""Pairwise comparisons: $P(\text{first} \succ \text{second}) =
    \sigma(h_1(x_1) - h_1(x_2))$.

    Each answer input is a pair, shape ``(num_answers, 2, *input_shape)``, and
    its answer is 1 when the first item was preferred. Following the essay, keep
    only the pairs the labeller was confident about.

    Example:
        Scores 1 and 0 for the two items: P(first preferred) = σ(1).

        >>> import jax.numpy as jnp
        >>> pairs = jnp.array([[[1.0], [0.0]]])  # one pair of 1-D items
        >>> gaps = BradleyTerry().outputs(lambda x: jnp.sum(x), pairs)
        >>> round(float(BradleyTerry().log_prob(gaps, jnp.array([1]))[0]), 4)
        -0.3133
    """

    def outputs(self, intended_fn: IntendedFn, inputs: Array) -> Array:
        first = jax.vmap(intended_fn)(inputs[:, 0])
        second = jax.vmap(intended_fn)(inputs[:, 1])
        return first - second

    def distribution(self, outputs: Array) -> dist.Distribution:
        return dist.Bernoulli(logits=outputs)

    def check(self, output_shape: tuple[int, ...], answers: np.ndarray) -> None:
        _check_scalar_head(output_shape, "Bradley-Terry")
        _check_binary(answers)


class FromCallable(AbstractLikelihood):
    """A user's per-example log-probability ``fn(output, answer) -> scalar``.

    It has no NumPyro distribution, so the model enters it as a factor, and
    a run draws no answers from it (no ``posterior_predictive`` group).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> likelihood = FromCallable(lambda h, a: jax.nn.log_softmax(h)[a])
        >>> logits = jnp.log(jnp.array([[1.0, 3.0]]))
        >>> round(float(likelihood.log_prob(logits, jnp.array([1]))[0]), 4)
        -0.2877
    """

    fn: Callable[[Array, Array], Array]

    def distribution(self, outputs: Array) -> None:
        return None

    def log_prob(self, outputs: Array, answers: Array) -> Float[Array, " num_data"]:
        return jax.vmap(self.fn)(outputs, answers)


class FromDistribution(AbstractLikelihood):
    """A user's factory ``outputs -> numpyro Distribution`` of batch shape
    ``(num_answers,)``, e.g. ``lambda h: dist.StudentT(3.0, h, 0.5)``.

    Example:
        >>> import jax.numpy as jnp, numpyro.distributions as dist
        >>> likelihood = FromDistribution(lambda h: dist.Categorical(logits=h))
        >>> logits = jnp.log(jnp.array([[1.0, 3.0]]))
        >>> round(float(likelihood.log_prob(logits, jnp.array([1]))[0]), 4)
        -0.2877
        >>> FromDistribution(dist.Categorical)  # a class reads logits as probs
        Traceback (most recent call last):
        ...
        TypeError: `factory` is the NumPyro distribution Categorical, ...
    """

    factory: Callable[[Array], dist.Distribution]

    def __check_init__(self):
        # A class called with the outputs alone takes them as its first
        # parameter: dist.Categorical(h) reads logits as probabilities.
        _refuse_distribution(self.factory, "factory")

    def distribution(self, outputs: Array) -> dist.Distribution:
        return self.factory(outputs)


_NAMED = {
    "categorical": Categorical,
    "gaussian": Gaussian,
    "bernoulli": Bernoulli,
    "bradley_terry": BradleyTerry,
}


def resolve_likelihood(
    likelihood: str | AbstractLikelihood | Callable[[Array, Array], Array],
) -> AbstractLikelihood:
    """Turns a likelihood name into an instance; instances pass through, and a
    plain callable ``(output, answer) -> log p`` becomes :class:`FromCallable`
    (as ``divergence=`` takes a callable)."""
    if isinstance(likelihood, AbstractLikelihood):
        return likelihood
    _refuse_distribution(likelihood, "likelihood")
    if callable(likelihood):
        return FromCallable(likelihood)
    if not isinstance(likelihood, str):
        raise TypeError(
            f"`likelihood` must be a name, one of {sorted(_NAMED)}, an "
            "AbstractLikelihood or a callable (output, answer) -> log p, got "
            f"{type(likelihood).__name__} {likelihood!r}."
        )
    if likelihood not in _NAMED:
        raise ValueError(
            f"`likelihood` must be one of {sorted(_NAMED)}, an AbstractLikelihood "
            "(e.g. FromDistribution) or a callable (output, answer) -> log p for "
            f"one example, got {likelihood!r}."
        )
    return _NAMED[likelihood]()


def _refuse_distribution(value, name: str) -> None:
    """A NumPyro distribution class or instance where a function is expected:
    both are callable, and fail later with errors that name neither (a class
    wants its parameters by name, an instance's call wants ``rng_key``)."""
    # dist.Categorical and dist.Bernoulli are functions that pick a class.
    constructor = getattr(value, "__module__", "") or ""
    is_class = constructor.startswith("numpyro.distributions") and (
        isinstance(value, type) or inspect.isfunction(value)
    )
    if is_class or isinstance(value, dist.Distribution):
        what = value.__name__ if is_class else type(value).__name__
        raise TypeError(
            f"`{name}` is the NumPyro distribution {what}"
            f"{'' if is_class else ' (an instance)'}, where a function of the "
            "intended head's outputs is expected. Pass a factory, for example "
            f"likelihood=FromDistribution(lambda h: dist.{what}(logits=h)) (name "
            "the parameter the head's outputs are), or a name such as "
            "'categorical'."
        )
