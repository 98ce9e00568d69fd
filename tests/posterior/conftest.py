"""Shared models for the posterior/ tests, and an independent NumPy oracle.

The oracle recomputes everything a :class:`~posterior.TwoStageModel` computes —
the heads of a :class:`~posterior.TwoHeadMLP`, the divergences, the
log-probabilities — in NumPy/SciPy from the flat parameter vector, so the tests
compare the package with numbers it did not produce.
"""

import zlib
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.special
import scipy.stats
from jax.flatten_util import ravel_pytree

from posterior import (
    BradleyTerry,
    FromCallable,
    FromDistribution,
    Gaussian,
    TwoHeadMLP,
    TwoStageModel,
)

IN_SIZE = 3
NUM_CLASSES = 4
NUM_AGREEMENT = 7
NUM_ANSWERS = 6
LAM, SIGMA1, SIGMA2 = 2.5, 0.8, 0.3
NOISE = 0.7


def case_key(*path: int):
    """``jr.key(0)`` folded with a fixed path of integers: one key per case."""
    key = jr.key(0)
    for index in path:
        key = jr.fold_in(key, index)
    return key


# --------------------------------------------------------------- NumPy oracle


def mlp_heads(network, theta, inputs):
    """Both heads of a TwoHeadMLP (tanh trunk) at flat ``theta``, in NumPy.

    Unravels ``theta`` by the spec's definition (ravel_pytree of the inexact
    leaves), then runs the forward pass by hand.
    """
    params, static = eqx.partition(network, eqx.is_inexact_array)
    _, unravel = ravel_pytree(params)
    net = eqx.combine(unravel(jnp.asarray(theta)), static)
    x = np.asarray(inputs, dtype=np.float64)
    for layer in net.trunk.layers:
        x = np.tanh(x @ np.asarray(layer.weight).T + np.asarray(layer.bias))
    heads = []
    for head in (net.intended, net.instrumental):
        out = x @ np.asarray(head.weight).T + np.asarray(head.bias)
        heads.append(out[:, 0] if head.out_features == "scalar" else out)
    return heads[0], heads[1]


def np_divergence(name, h1, h2):
    """Per-row divergence between two heads, with SciPy."""
    if name == "squared_gap":
        gap = (h1 - h2).reshape(h1.shape[0], -1)
        return 0.5 * np.sum(gap**2, axis=1)
    p1 = scipy.special.softmax(h1, axis=-1)
    p2 = scipy.special.softmax(h2, axis=-1)
    if name == "kl":
        return np.sum(scipy.special.rel_entr(p1, p2), axis=-1)
    if name == "reverse_kl":
        return np.sum(scipy.special.rel_entr(p2, p1), axis=-1)
    if name == "jensen_shannon":
        from scipy.spatial.distance import jensenshannon

        return np.array([jensenshannon(a, b) ** 2 for a, b in zip(p1, p2, strict=True)])
    if name == "total_variation":
        return 0.5 * np.sum(np.abs(p1 - p2), axis=-1)
    raise KeyError(name)


def np_pointwise_loglik(kind, intended, answers):
    """log p(a | h₁) per answer with scipy.stats."""
    answers = np.asarray(answers)
    if kind == "categorical":
        probs = scipy.special.softmax(intended, axis=-1)
        onehot = np.eye(intended.shape[-1])[answers.astype(int)]
        return np.array(
            [
                scipy.stats.multinomial(1, p).logpmf(o)
                for p, o in zip(probs, onehot, strict=True)
            ]
        )
    if kind == "gaussian":
        return scipy.stats.norm(intended, NOISE).logpdf(answers)
    if kind in ("bernoulli", "bradley_terry"):
        return scipy.stats.bernoulli(scipy.special.expit(intended)).logpmf(answers)
    if kind == "student_t":
        return scipy.stats.t(3.0, loc=intended, scale=0.5).logpdf(answers)
    if kind == "laplace_callable":
        return scipy.stats.laplace(loc=intended, scale=0.4).logpdf(answers)
    raise KeyError(kind)


# --------------------------------------------------------------- the models


@dataclass
class Built:
    """A model together with what the oracle needs to recompute it."""

    model: TwoStageModel
    network: TwoHeadMLP
    kind: str  # likelihood, as understood by np_pointwise_loglik
    divergence: str  # as understood by np_divergence
    _jitted: dict = field(default_factory=dict, repr=False)

    def jit(self, name: str):
        """``jax.jit`` of a model method, compiled once per model and shape."""
        if name not in self._jitted:
            self._jitted[name] = jax.jit(getattr(self.model, name))
        return self._jitted[name]

    def terms(self, thetas1, thetas2, batch=None):
        """Every model quantity at a stack of points, in one compiled call.

        One jit(vmap(...)) per model and batch shape keeps the suite fast; the
        jit / no-jit / vmap test checks that compiling changes nothing.

        Returns:
            A dict of arrays with a leading axis over points, and a dict of the
            NumPyro sites' static facts (site type, observed or not).
        """
        if "terms" not in self._jitted:
            self._jitted["terms"] = jax.jit(
                jax.vmap(
                    _all_terms(self.model, self._jitted.setdefault("static", {})),
                    in_axes=(0, 0, None),
                )
            )
        values = self._jitted["terms"](
            jnp.asarray(thetas1), jnp.asarray(thetas2), batch
        )
        return jax.tree.map(np.asarray, values), self._jitted["static"]

    def heads(self, theta, inputs):
        return mlp_heads(self.network, theta, inputs)

    def disagreement(self, theta):
        h1, h2 = self.heads(theta, self.model.agreement_inputs)
        return float(np.mean(np_divergence(self.divergence, h1, h2)))

    def intended_on_answers(self, theta):
        inputs = np.asarray(self.model.answer_inputs)
        if self.kind == "bradley_terry":
            return (
                self.heads(theta, inputs[:, 0])[0] - self.heads(theta, inputs[:, 1])[0]
            )
        return self.heads(theta, inputs)[0]

    def pointwise(self, theta):
        return np_pointwise_loglik(
            self.kind, self.intended_on_answers(theta), self.model.answers
        )

    def log_likelihood(self, theta):
        return float(np.sum(self.pointwise(theta)))

    def log_joint(self, theta1, theta2):
        theta0 = np.asarray(self.model.theta0)
        log_prior = np.sum(scipy.stats.norm(theta0, SIGMA1).logpdf(theta1))
        log_base = np.sum(scipy.stats.norm(theta1, SIGMA2).logpdf(theta2))
        return (
            self.log_likelihood(theta2)
            + log_prior
            + log_base
            - LAM * self.disagreement(theta2)
        )


def log_partition_stand_in(theta1):
    """A stand-in for an estimate of log Z(θ₁): any smooth function will do."""
    return -0.3 * jnp.sum(theta1**2) + jnp.sin(theta1[0])


def _all_terms(model: TwoStageModel, static: dict):
    from numpyro.infer.util import log_density

    def site_log_prob(site):
        return jnp.sum(site["fn"].log_prob(site["value"]))

    def terms(theta1, theta2, batch):
        params = {"theta1": theta1, "theta2": theta2}
        numpyro_value, trace = log_density(model.numpyro_model, (batch,), {}, params)
        with_log_z, trace_log_z = log_density(
            model.numpyro_model, (batch, log_partition_stand_in), {}, params
        )
        # Site facts are Python values, fixed at trace time.
        static["answers_type"] = trace["answers"]["type"]
        static["answers_observed"] = trace["answers"].get("is_observed")
        intended, instrumental = model.heads(theta2, model.agreement_inputs)
        return {
            "intended": intended,
            "instrumental": instrumental,
            "disagreement": model.disagreement(theta2),
            "pointwise": model.pointwise_log_likelihood(theta2, batch),
            "log_likelihood": model.log_likelihood(theta2, batch),
            "log_prior": model.log_prior(theta1),
            "inner_logdensity": model.inner_logdensity(theta2, theta1),
            "log_joint": model.log_joint(theta1, theta2, batch),
            "numpyro": numpyro_value,
            "numpyro_with_log_z": with_log_z,
            "site_theta1": site_log_prob(trace["theta1"]),
            "site_theta2": site_log_prob(trace["theta2"]),
            "site_agreement": site_log_prob(trace["agreement"]),
            "site_neg_log_partition": site_log_prob(trace["neg_log_partition"]),
            "site_neg_log_partition_with_log_z": site_log_prob(
                trace_log_z["neg_log_partition"]
            ),
            "site_answers": site_log_prob(trace["answers"]),
            "site_answers_value": trace["answers"]["value"],
        }

    return terms


def build(kind: str, divergence: str, index: int) -> Built:
    """One small model per (likelihood, divergence); ``index`` picks its keys."""
    key_net, key_s, key_d, key_a = jr.split(case_key(1, index), 4)
    scalar = kind != "categorical"
    network = TwoHeadMLP(
        IN_SIZE, "scalar" if scalar else NUM_CLASSES, width=4, depth=2, key=key_net
    )
    agreement_inputs = jr.normal(key_s, (NUM_AGREEMENT, IN_SIZE))
    if kind == "bradley_terry":
        answer_inputs = jr.normal(key_d, (NUM_ANSWERS, 2, IN_SIZE))
    else:
        answer_inputs = jr.normal(key_d, (NUM_ANSWERS, IN_SIZE))
    if kind == "categorical":
        answers = jr.randint(key_a, (NUM_ANSWERS,), 0, NUM_CLASSES)
        likelihood = "categorical"
    elif kind == "gaussian":
        answers = jr.normal(key_a, (NUM_ANSWERS,))
        likelihood = Gaussian(NOISE)
    elif kind in ("bernoulli", "bradley_terry"):
        answers = jr.bernoulli(key_a, 0.5, (NUM_ANSWERS,)).astype(jnp.int32)
        likelihood = "bernoulli" if kind == "bernoulli" else BradleyTerry()
    elif kind == "student_t":
        import numpyro.distributions as dist

        answers = jr.normal(key_a, (NUM_ANSWERS,))
        likelihood = FromDistribution(lambda h: dist.StudentT(3.0, h, 0.5))
    elif kind == "laplace_callable":
        answers = jr.normal(key_a, (NUM_ANSWERS,))
        likelihood = FromCallable(lambda h, a: -jnp.abs(a - h) / 0.4 - jnp.log(2 * 0.4))
    else:
        raise KeyError(kind)
    model = TwoStageModel(
        network,
        agreement_inputs=agreement_inputs,
        answer_inputs=answer_inputs,
        answers=answers,
        likelihood=likelihood,
        divergence=divergence,
        lam=LAM,
        sigma1=SIGMA1,
        sigma2=SIGMA2,
    )
    return Built(model, network, kind, divergence)


# (likelihood, divergence) pairs covering every likelihood; the divergences
# themselves are checked one by one in test_agreement.py.
CONFIGS = [
    ("categorical", "kl"),
    ("categorical", "jensen_shannon"),
    ("gaussian", "squared_gap"),
    ("bernoulli", "squared_gap"),
    ("bradley_terry", "squared_gap"),
    ("student_t", "squared_gap"),
    ("laplace_callable", "squared_gap"),
]
CONFIG_IDS = [f"{kind}-{div}" for kind, div in CONFIGS]
_CACHE: dict = {}


def build_cached(kind: str, divergence: str) -> Built:
    """One model per configuration for the whole session (compiles are reused)."""
    config = (kind, divergence)
    if config not in _CACHE:
        index = zlib.crc32(repr(config).encode()) % 2**31
        _CACHE[config] = build(kind, divergence, index)
    return _CACHE[config]


@pytest.fixture(params=CONFIGS, ids=CONFIG_IDS)
def built(request) -> Built:
    return build_cached(*request.param)


def random_theta(built_model: Built, index: int, scale: float = 0.5) -> np.ndarray:
    """θ₀ plus a fixed random perturbation (θ₀ itself is too special)."""
    theta0 = np.asarray(built_model.model.theta0)
    noise = jr.normal(case_key(2, index), theta0.shape)
    return theta0 + scale * np.asarray(noise)


@pytest.fixture(scope="session")
def oracle():
    """The helpers above, for test modules (which cannot import conftest under
    ``--import-mode=importlib``)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        case_key=case_key,
        mlp_heads=mlp_heads,
        np_divergence=np_divergence,
        np_pointwise_loglik=np_pointwise_loglik,
        build=build,
        build_cached=build_cached,
        log_partition_stand_in=log_partition_stand_in,
        random_theta=random_theta,
        LAM=LAM,
        SIGMA1=SIGMA1,
        SIGMA2=SIGMA2,
        NOISE=NOISE,
        IN_SIZE=IN_SIZE,
        NUM_CLASSES=NUM_CLASSES,
        NUM_ANSWERS=NUM_ANSWERS,
    )
