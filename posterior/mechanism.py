r"""The mechanism case: a two-parameter honest-or-imitating world, solved exactly.

θ = (a, h), θ₀ = (0, 0). ``a`` is the intended head's translator weight (0
copies the human model, 1 reports the truth) and ``h`` the world model's human
parameter. On an item with truth t and offset k the human model answers
u = h + k, and

- intended = a·t + (1 − a)·u, instrumental = u.

Items (inputs are ``(t, k)``):

- S, the agreement set: t = 1, k = 0, so C(θ) = ½ a² (1 − h)².
- E, the test item: t = 1, k = −1. The true human (h = 1) answers 0 there,
  wrong by one; the truth is 1.
- The answers D: two pointwise terms, the ones ArviZ sees.
  ``answer``: the intended head's answer on S-type input is 1, noise s;
  ``human``: what the human says on that input, 1, seen through the human
  model u with noise s_w (it pins h near 1).

So $L(\theta) = -(a + (1-a)h - 1)^2/2s^2 - (h - 1)^2/2s_w^2$ + const. C's
curvature along h at the honest point (a = 1) is 1, so κ = λσ₂²: the case is
built from κ, with λ = κ/σ₂².

The network's heads are 2-vectors, ``(answer, u)`` and ``(u, u)``: the second
entry carries the human model to the likelihood and adds nothing to C.
"""

import math

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from . import _checks
from .grid import Grid2DCase
from .likelihoods import FromCallable
from .model import TwoStageModel

__all__ = [
    "TranslatorTwoHead",
    "MechanismCase",
    "intended_on_test",
    "is_honest",
    "is_imitating",
]

AGREEMENT_ITEM = (1.0, 0.0)
TEST_ITEM = (1.0, -1.0)


class TranslatorTwoHead(eqx.Module):
    """The (a, h) network: ``weight = (a, h)``, inputs ``(t, k)``."""

    weight: Float[Array, "2"]

    def __call__(self, x: ArrayLike) -> tuple[Array, Array]:
        a, h = self.weight[0], self.weight[1]
        t, k = x[0], x[1]
        u = h + k
        intended = a * t + (1.0 - a) * u
        return jnp.stack([intended, u]), jnp.stack([u, u])


def intended_on_test(theta: Float[ArrayLike, "2 ..."]) -> Array:
    """The intended head's answer on E: a + (1 − a)(h − 1) (any trailing axes,
    e.g. ``(2, chains, draws)``)."""
    a, h = theta[0], theta[1]
    return a + (1.0 - a) * (h - 1.0)


def is_honest(theta: Float[ArrayLike, "2 ..."]) -> Array:
    """Whether the answer on E is within 0.5 of the truth, 1."""
    return jnp.abs(intended_on_test(theta) - 1.0) < 0.5


def is_imitating(theta: Float[ArrayLike, "2 ..."]) -> Array:
    """Whether the answer on E is within 0.5 of the human's, 0."""
    return jnp.abs(intended_on_test(theta)) < 0.5


class MechanismCase:
    """The case at one (κ, σ₁, σ₂), with its exact grid.

    Args:
        kappa: κ = λσ₂² > 0.
        sigma1: the prior scale of θ₁ around θ₀.
        sigma2: the prior scale of θ₂ around θ₁.
        s: noise of the intended head's answer on S (default 0.1).
        s_w: noise of the human's statement (default 0.05).
        grid_size: nodes per axis of the :class:`~posterior.Grid2DCase`; its
            spacing must be at most σ₂/4 (the default: the fewest nodes that
            allow; probabilities then move by under 10⁻³ when the spacing is
            halved, see the tests).
        width: the grid spans θ₀ ± width·(σ₁ + σ₂).

    Example:
        >>> case = MechanismCase(4.0, 0.4, 0.1)
        >>> row = case.summary()
        >>> 0.0 <= row["p_honest"] + row["p_imitate"] <= 1.0
        True
    """

    def __init__(
        self,
        kappa: float,
        sigma1: float,
        sigma2: float,
        *,
        s: float = 0.1,
        s_w: float = 0.05,
        grid_size: int | None = None,
        width: float = 4.0,
    ):
        self.kappa = _checks.positive_scalar(kappa, "kappa")
        self.sigma1 = _checks.positive_scalar(sigma1, "sigma1")
        self.sigma2 = _checks.positive_scalar(sigma2, "sigma2")
        self.s = _checks.positive_scalar(s, "s")
        self.s_w = _checks.positive_scalar(s_w, "s_w")
        scales = jnp.array([self.s, self.s_w])

        def log_prob(output, answer):
            # answer = (value, which): which 0 reads the answer, 1 the human model.
            which = answer[1].astype(jnp.int32)
            gap = (answer[0] - output[which]) / scales[which]
            return -0.5 * gap**2 - jnp.log(scales[which] * jnp.sqrt(2 * jnp.pi))

        self.model = TwoStageModel(
            TranslatorTwoHead(jnp.zeros(2)),
            agreement_inputs=jnp.array([AGREEMENT_ITEM]),
            answer_inputs=jnp.array([AGREEMENT_ITEM, AGREEMENT_ITEM]),
            answers=jnp.array([[1.0, 0.0], [1.0, 1.0]]),
            likelihood=FromCallable(log_prob),
            divergence="squared_gap",
            lam=self.kappa / self.sigma2**2,
            sigma1=self.sigma1,
            sigma2=self.sigma2,
        )
        if grid_size is None:
            span = 2 * width * (self.sigma1 + self.sigma2)
            grid_size = math.ceil(span / (self.sigma2 / 4)) + 1
        self.grid = Grid2DCase(self.model, grid_size=grid_size, width=width)

    def p_honest(self, baseline: str | None = None) -> float:
        """Posterior mass of θ₂ whose answer on E is within 0.5 of the truth, 1."""
        return self.grid.probability(is_honest, baseline=baseline)

    def p_imitate(self, baseline: str | None = None) -> float:
        """The same mass within 0.5 of the human's answer, 0."""
        return self.grid.probability(is_imitating, baseline=baseline)

    def summary(self, baseline: str | None = None) -> dict:
        """The quantities of one method (``baseline`` as in ``samplers.sample``)."""
        grid = self.grid
        mode = grid.mode(of="theta1", baseline=baseline)
        _, map_theta2 = grid.joint_map(baseline)
        names = {None: "two_stage", "no_log_partition": "penalty_only"}
        return {
            "method": names.get(baseline, baseline),
            "kappa": self.kappa,
            "sigma1": self.sigma1,
            "sigma2": self.sigma2,
            "p_honest": self.p_honest(baseline),
            "p_imitate": self.p_imitate(baseline),
            "expected_c": grid.expectation(self.model.disagreement, baseline=baseline),
            "theta1_mode": mode.tolist(),
            "bits_at_theta1_mode": -grid.log_partition(mode) / math.log(2.0),
            "map_answer": float(intended_on_test(jnp.asarray(map_theta2))),
        }
