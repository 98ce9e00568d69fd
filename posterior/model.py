r"""The two-stage model: a NumPyro program and the plain JAX functions samplers use.

$$\log p(\theta_1, \theta_2 \mid D) = L(\theta_2)
  + \log\mathcal N(\theta_1; \theta_0, \sigma_1^2 I)
  + \log\mathcal N(\theta_2; \theta_1, \sigma_2^2 I)
  - \lambda C(\theta_2) - \log Z(\theta_1) + \text{const}$$

$Z(\theta_1)$ has no closed form in general; the model leaves it out of
:meth:`TwoStageModel.log_joint`, and the NumPyro program takes it from an
estimator through the factor site ``neg_log_partition``.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Float, Int, PyTree

from . import _checks, _model_checks
from ._layout import Layout
from .agreement import (
    CATEGORICAL_DIVERGENCES,
    DIVERGENCES,
    mean_divergence,
    resolve_divergence,
)
from .likelihoods import (
    AbstractLikelihood,
    Bernoulli,
    BradleyTerry,
    Categorical,
    resolve_likelihood,
)
from .priors import log_isotropic_normal

__all__ = ["TwoStageModel"]

Batch = Int[ArrayLike, " batch"] | None


@jax.tree_util.register_pytree_node_class
class TwoStageModel:
    r"""A two-head network under the two-stage agreement prior.

    θ₁ and θ₂ are flat vectors over the network's floating-point leaves
    (``ravel_pytree``); ``theta0`` is the network as given, its initialisation.
    The model is a pytree whose leaves are λ and its arrays (θ₀, the data, and
    any in the likelihood or the network's non-parameter parts); the σ's and the
    network's structure are its static part. So a program compiled for one model
    serves every model of the same shapes and σ's, λ and the data passed in as
    arguments. Its methods are plain functions too: ``jax.jit(model.log_joint)``
    and ``jax.vmap(model.disagreement)`` work as is.

    Example:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from posterior import TwoHeadMLP, TwoStageModel
        >>> net = TwoHeadMLP(3, 4, width=8, depth=1, key=jr.key(0))
        >>> model = TwoStageModel(
        ...     net,
        ...     agreement_inputs=jr.normal(jr.key(1), (10, 3)),
        ...     answer_inputs=jr.normal(jr.key(2), (5, 3)),
        ...     answers=jnp.array([0, 1, 2, 3, 0]),
        ...     likelihood="categorical",
        ...     divergence="kl",
        ...     lam=2.0,
        ...     sigma1=1.0,
        ...     sigma2=0.1,
        ... )
        >>> model.disagreement(model.theta0).shape
        ()
    """

    theta0: Float[Array, " dim"]
    agreement_inputs: PyTree[Array]
    answer_inputs: PyTree[Array]
    answers: Array
    likelihood: AbstractLikelihood
    divergence: Callable[[Array, Array], Array]
    lam: float
    sigma1: float
    sigma2: float
    num_answers: int
    num_agreement: int
    # The network without its parameters, and where they sit in θ.
    _static: PyTree
    _layout: Layout
    _network: tuple[tuple[str, str | int], ...]

    # λ is a child, an array leaf, so that a new λ compiles nothing new; the
    # σ's set the Gaussians' normalisers and stay static.
    _CHILDREN = (
        "lam",
        "theta0",
        "agreement_inputs",
        "answer_inputs",
        "answers",
        "likelihood",
        "_static",
    )
    _AUX = (
        "divergence",
        "sigma1",
        "sigma2",
        "num_answers",
        "num_agreement",
        "_layout",
        "_network",
    )

    def tree_flatten(self):
        children = tuple(getattr(self, name) for name in self._CHILDREN)
        if isinstance(self.lam, int | float):
            children = (np.asarray(self.lam, float), *children[1:])
        return children, tuple(getattr(self, name) for name in self._AUX)

    @classmethod
    def tree_unflatten(cls, aux, children):
        # No __init__: its checks ran when the model was made, and under a
        # trace the leaves are not arrays.
        model = object.__new__(cls)
        for name, value in zip(cls._CHILDREN + cls._AUX, children + aux, strict=True):
            setattr(model, name, value)
        return model

    def __init__(
        self,
        network: Callable,
        *,
        agreement_inputs: PyTree[ArrayLike],
        answer_inputs: PyTree[ArrayLike],
        answers: ArrayLike,
        likelihood: str | AbstractLikelihood = "categorical",
        divergence: str | Callable[[Array, Array], Array] = "kl",
        lam: float,
        sigma1: float,
        sigma2: float,
    ):
        r"""Args:
        network: a two-head network: ``network(x) -> (intended, instrumental)``
            for one input, e.g. :class:`~posterior.TwoHeadMLP`.
        agreement_inputs: the agreement set S, a leading axis over examples.
        answer_inputs: the inputs of the answer set D (pairs for Bradley–Terry).
        answers: the answers of D, aligned with ``answer_inputs``.
        likelihood: ``"categorical"``, ``"gaussian"``, ``"bernoulli"``,
            ``"bradley_terry"`` or an :class:`~posterior.AbstractLikelihood`.
        divergence: ``"kl"`` (intended ‖ instrumental), ``"reverse_kl"``,
            ``"jensen_shannon"``, ``"total_variation"``, ``"squared_gap"``, or a
            callable ``(intended, instrumental) -> scalar`` for one input.
        lam: strength λ > 0 of the agreement factor $e^{-\lambda C}$.
        sigma1: prior scale of θ₁ around θ₀.
        sigma2: scale of θ₂ around θ₁.
        """
        self.lam = _checks.positive_scalar(lam, "lam")
        self.sigma1 = _checks.positive_scalar(sigma1, "sigma1")
        self.sigma2 = _checks.positive_scalar(sigma2, "sigma2")
        if not callable(network):
            raise TypeError(
                "`network` must be callable: x -> (intended, instrumental)."
            )
        params, self._static = eqx.partition(network, eqx.is_inexact_array)
        if not jax.tree.leaves(params):
            raise TypeError(
                "`network` has no floating-point array leaves to use as parameters "
                "(integer arrays are not parameters)."
            )
        self.theta0, _ = ravel_pytree(params)
        self._layout = Layout.of(params)
        self._network = tuple(_model_checks.describe_network(network, params).items())
        self.agreement_inputs, self.num_agreement = _checks.data_tree(
            agreement_inputs, "agreement_inputs"
        )
        self.answer_inputs, self.num_answers = _checks.data_tree(
            answer_inputs, "answer_inputs"
        )
        self.answers, num_answers = _checks.data_tree(answers, "answers")
        if num_answers != self.num_answers:
            raise ValueError(
                f"`answers` has {num_answers} entries but `answer_inputs` has "
                f"{self.num_answers} examples."
            )
        self.likelihood = resolve_likelihood(likelihood)
        self.divergence = resolve_divergence(divergence)

        output_shape = _model_checks.head_shape(
            network, self.agreement_inputs, "agreement_inputs"
        )
        categorical = any(
            self.divergence is DIVERGENCES[name] for name in CATEGORICAL_DIVERGENCES
        )
        if categorical and len(output_shape) != 1:
            raise ValueError(
                f"`divergence`={divergence!r} compares answer distributions and "
                f"needs heads of logits, shape (num_classes,); got {output_shape}."
            )
        pairs = isinstance(self.likelihood, BradleyTerry)
        if pairs:
            _model_checks.check_pairs(self.answer_inputs, "answer_inputs")
        answer_shape = _model_checks.head_shape(
            network, self.answer_inputs, "answer_inputs", pairs=pairs
        )
        self.likelihood.check(answer_shape, np.asarray(self.answers))
        if isinstance(self.likelihood, Categorical):
            # Whole-number floats pass the check; the NumPyro site needs integers.
            self.answers = self.answers.astype(jnp.int32)
        _model_checks.check_terms_at_theta0(self)

    def fingerprint(self) -> dict[str, str | int | float]:
        """What identifies this posterior, as NetCDF attributes: the network's
        class and a hash of its parameters' paths, shapes and dtypes, λ, σ₁,
        σ₂, the divergence and likelihood (their names, or ``"custom"``) and
        SHA-256 prefixes of θ₀ and the data. :func:`samplers.sample` stores it
        in ``tree.attrs`` and :func:`samplers.load_run` checks a model against
        it."""
        return _model_checks.fingerprint(self)

    # -- the network ---------------------------------------------------------

    @property
    def num_params(self) -> int:
        return self.theta0.shape[0]

    def network_at(self, theta: Float[ArrayLike, " dim"]) -> Callable:
        """The network with its parameters set from the flat vector ``theta``."""
        theta = _checks.flat_theta(theta, self.num_params)
        return eqx.combine(self._layout.unravel(theta), self._static)

    def heads(
        self, theta: Float[ArrayLike, " dim"], inputs: PyTree[ArrayLike]
    ) -> tuple[Array, Array]:
        """Both heads on a batch of inputs (leading axis)."""
        return jax.vmap(self.network_at(theta))(inputs)

    def intended(
        self, theta: Float[ArrayLike, " dim"], inputs: PyTree[ArrayLike]
    ) -> Array:
        """The intended head's outputs (answers' logits or values) on a batch."""
        return self.heads(theta, inputs)[0]

    # -- the terms of the log density ---------------------------------------

    def disagreement(
        self,
        theta: Float[ArrayLike, " dim"],
        *,
        stop_gradient_intended: bool = False,
        batch: Batch = None,
    ) -> Float[Array, ""]:
        r"""$C(\theta)$, the mean divergence over the whole agreement set, or
        over the agreement inputs ``batch`` (an unbiased estimate of it).

        Args:
            theta: flat parameters.
            stop_gradient_intended: the essay's option for gradient dynamics:
                hold the intended head fixed when differentiating. The value is
                the same; its gradient is no gradient of a density (see
                :func:`posterior.agreement.mean_divergence`).
            batch: indices into the agreement set; ``None``: all of it.
        """
        inputs = self.agreement_inputs
        if batch is not None:
            index = _checks.batch_index(batch, self.num_agreement, "agreement")
            inputs = jax.tree.map(lambda leaf: leaf[index], inputs)
        intended, instrumental = self.heads(theta, inputs)
        return mean_divergence(
            self.divergence,
            intended,
            instrumental,
            stop_gradient_intended=stop_gradient_intended,
        )

    def _batch(self, batch: Batch) -> tuple[PyTree, Array, float]:
        if batch is None:
            return self.answer_inputs, self.answers, 1.0
        index = _checks.batch_index(batch, self.num_answers, "answer")
        inputs = jax.tree.map(lambda leaf: leaf[index], self.answer_inputs)
        # Sum over the minibatch, scaled to an unbiased estimate of the full sum.
        return inputs, self.answers[index], self.num_answers / index.shape[0]

    def pointwise_log_likelihood(
        self, theta: Float[ArrayLike, " dim"], batch: Batch = None
    ) -> Float[Array, " batch"]:
        """log p(a | h₁(x; θ)) for each answer (all, or the indices ``batch``)."""
        inputs, answers, _ = self._batch(batch)
        intended_fn = lambda x: self.network_at(theta)(x)[0]  # noqa: E731
        outputs = self.likelihood.outputs(intended_fn, inputs)
        return self.likelihood.log_prob(outputs, answers)

    def log_likelihood(
        self, theta: Float[ArrayLike, " dim"], batch: Batch = None
    ) -> Float[Array, ""]:
        r"""$L(\theta)$, or its unbiased minibatch estimate
        $\frac{N}{|B|}\sum_{i\in B}\log p(a_i\mid h_1(x_i;\theta))$."""
        _, _, scale = self._batch(batch)
        return scale * jnp.sum(self.pointwise_log_likelihood(theta, batch))

    def predictive(self, key: Array, theta: Float[ArrayLike, " dim"]) -> Array | None:
        """Answers drawn from the likelihood at the intended head's outputs on
        every answer input: the ``posterior_predictive`` group of
        :func:`samplers.sample`. ``None`` for a likelihood without a distribution
        (a plain log-probability callable)."""
        inputs, _, _ = self._batch(None)
        intended_fn = lambda x: self.network_at(theta)(x)[0]  # noqa: E731
        outputs = self.likelihood.outputs(intended_fn, inputs)
        distribution = self.likelihood.distribution(outputs)
        return None if distribution is None else distribution.sample(key)

    def probabilities(
        self, theta: Float[ArrayLike, " dim"], inputs: PyTree[ArrayLike]
    ) -> Array | None:
        """The answer's probabilities on a batch of inputs: class probabilities
        ``(batch, classes)`` under the categorical likelihood, P(answer = 1)
        under the Bernoulli one, ``None`` for other likelihoods."""
        if isinstance(self.likelihood, Categorical):
            return jax.nn.softmax(self.intended(theta, inputs), axis=-1)
        if type(self.likelihood) is Bernoulli:
            return jax.nn.sigmoid(self.intended(theta, inputs))
        return None

    def log_prior(self, theta1: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        r"""$\log\mathcal N(\theta_1; \theta_0, \sigma_1^2 I)$."""
        theta1 = _checks.flat_theta(theta1, self.num_params, "theta1")
        return log_isotropic_normal(theta1, self.theta0, self.sigma1)

    def inner_logdensity(
        self, theta: Float[ArrayLike, " dim"], theta1: Float[ArrayLike, " dim"]
    ) -> Float[Array, ""]:
        r"""The unnormalised inner target
        $\log\mathcal N(\theta; \theta_1, \sigma_2^2 I) - \lambda C(\theta)$,
        whose normaliser is $Z(\theta_1)$."""
        theta = _checks.flat_theta(theta, self.num_params)
        theta1 = _checks.flat_theta(theta1, self.num_params, "theta1")
        base = log_isotropic_normal(theta, theta1, self.sigma2)
        return base - self.lam * self.disagreement(theta)

    def log_joint(
        self,
        theta1: Float[ArrayLike, " dim"],
        theta2: Float[ArrayLike, " dim"],
        batch: Batch = None,
    ) -> Float[Array, ""]:
        r"""Every term of the log posterior but $-\log Z(\theta_1)$:
        $L(\theta_2) + \log\mathcal N(\theta_1;\theta_0,\sigma_1^2)
        + \log\mathcal N(\theta_2;\theta_1,\sigma_2^2) - \lambda C(\theta_2)$,
        the Gaussians normalised."""
        theta1 = _checks.flat_theta(theta1, self.num_params, "theta1")
        theta2 = _checks.flat_theta(theta2, self.num_params, "theta2")
        return (
            self.log_likelihood(theta2, batch)
            + self.log_prior(theta1)
            + self.inner_logdensity(theta2, theta1)
        )

    # -- the probabilistic program -------------------------------------------

    def numpyro_model(
        self,
        batch: Batch = None,
        log_partition_fn: Callable[[Array], Array] | None = None,
    ) -> None:
        r"""The two-stage model as a NumPyro program.

        Sites: ``theta1`` and ``theta2`` (flat vectors), the factor ``agreement``
        ($-\lambda C(\theta_2)$), the factor ``neg_log_partition``
        ($-\log Z(\theta_1)$, from ``log_partition_fn``) and the observed
        ``answers`` in the plate ``data``.

        Args:
            batch: answer indices of a minibatch; the likelihood is scaled by
                ``num_answers / len(batch)``. ``None`` uses every answer.
            log_partition_fn: an estimate of $\log Z(\theta_1)$. Left as ``None``,
                the factor is zero and the program is the agreement-penalty
                baseline whose log density equals :meth:`log_joint`.
        """
        theta1 = numpyro.sample(
            "theta1", dist.Normal(self.theta0, self.sigma1).to_event(1)
        )
        theta2 = numpyro.sample("theta2", dist.Normal(theta1, self.sigma2).to_event(1))
        numpyro.factor("agreement", -self.lam * self.disagreement(theta2))
        log_z = 0.0 if log_partition_fn is None else log_partition_fn(theta1)
        numpyro.factor("neg_log_partition", -log_z)

        inputs, answers, scale = self._batch(batch)
        intended_fn = lambda x: self.network_at(theta2)(x)[0]  # noqa: E731
        outputs = self.likelihood.outputs(intended_fn, inputs)
        distribution = self.likelihood.distribution(outputs)
        with (
            numpyro.handlers.scale(scale=scale),
            numpyro.plate("data", answers.shape[0]),
        ):
            if distribution is None:
                numpyro.factor("answers", self.likelihood.log_prob(outputs, answers))
            else:
                numpyro.sample("answers", distribution, obs=answers)
