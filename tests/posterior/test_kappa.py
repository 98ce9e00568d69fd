"""κ against exact curvature: the linear-Gaussian case's Hessian of C, the
mechanism case's closed form, and a network's Gauss–Newton matrix formed
densely."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import posterior
from posterior.agreement import mean_divergence


def test_linear_gaussian_kappa_is_lambda_sigma2_squared_times_c_hessian():
    case = posterior.LinearGaussianCase.random(
        jr.key(3), d=6, m=4, n=5, lam=3.0, sigma1=1.0, sigma2=0.4
    )
    model = case.model
    theta = jr.normal(jr.key(4), (model.num_params,))
    hessian = np.asarray(jax.jit(jax.hessian(model.disagreement))(theta))
    expected = 3.0 * 0.4**2 * np.sort(np.linalg.eigvalsh(hessian))[::-1][:3]
    np.testing.assert_allclose(posterior.kappa(model, theta, k=3), expected, rtol=1e-8)


@pytest.mark.parametrize(("a", "h"), [(1.0, 1.0), (0.5, 0.6), (0.0, 0.3)])
def test_mechanism_kappa_follows_its_closed_form(a, h):
    # C = ½a²(1−h)²: the Gauss–Newton matrix of the gap a(1−h) is ggᵀ with
    # g = ((1−h), −a), one eigenvalue (1−h)² + a².
    case = posterior.MechanismCase(25.0, 0.4, 0.1)
    found = posterior.kappa(case.model, jnp.array([a, h]), k=2)
    np.testing.assert_allclose(found, [25.0 * ((1 - h) ** 2 + a**2), 0.0], atol=1e-9)


def test_network_kappa_matches_the_dense_gauss_newton_matrix():
    net = posterior.TwoHeadMLP(3, 4, width=5, depth=1, key=jr.key(0))
    model = posterior.TwoStageModel(
        net,
        agreement_inputs=jr.normal(jr.key(1), (12, 3)),
        answer_inputs=jr.normal(jr.key(2), (6, 3)),
        answers=jnp.arange(6) % 4,
        lam=40.0,
        sigma1=1.0,
        sigma2=0.2,
    )
    theta = model.theta0 + 0.3 * jr.normal(jr.key(5), (model.num_params,))

    def heads(t):
        return jnp.concatenate(
            [h.ravel() for h in model.heads(t, model.agreement_inputs)]
        )

    jacobian = jax.jit(jax.jacobian(heads))(theta)
    half = jacobian.shape[0] // 2

    def divergence(flat):
        intended, instrumental = flat[:half].reshape(12, 4), flat[half:].reshape(12, 4)
        return mean_divergence(model.divergence, intended, instrumental)

    curvature = jax.jit(jax.hessian(divergence))(heads(theta))
    gauss_newton = np.asarray(jacobian.T @ curvature @ jacobian)
    expected = 40.0 * 0.2**2 * np.sort(np.linalg.eigvalsh(gauss_newton))[::-1][:3]
    np.testing.assert_allclose(posterior.kappa(model, theta, k=3), expected, rtol=1e-6)


def test_bad_arguments_are_named():
    model = posterior.MechanismCase(25.0, 0.4, 0.1).model
    with pytest.raises(ValueError, match="`k` must be at most the model's 2"):
        posterior.kappa(model, jnp.zeros(2), k=3)
    with pytest.raises(ValueError, match="`k`"):
        posterior.kappa(model, jnp.zeros(2), k=0)
    with pytest.raises((ValueError, TypeError), match="theta"):
        posterior.kappa(model, jnp.zeros(3))
