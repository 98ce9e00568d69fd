"""The problems of `log_partition_bench.py`, with their exact log Z (closed form,
or 1-D quadratures for the separable skewed one); see that file's docstring."""

import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial


def quadratic(a, b, theta):
    residual = (a @ theta if a.ndim == 2 else a * theta) - b
    return 0.5 * jnp.sum(jnp.square(residual))


def skewed(c, t, theta):
    # sum_i c_i h(theta_i - t_i), h(u) = (e^{a u} - 1 - a u) / a^2 with a = SKEW:
    # u^2 / 2 near 0, steep on one side, linear on the other.
    u = SKEW * (theta - t)
    return jnp.sum(c * (jnp.expm1(u) - u)) / SKEW**2


SKEW = 1.5


def skewed_log_z(c, t, lam, sigma, num=4001, span=14.0):
    """log Z of `skewed` (separable): a 1-D quadrature per coordinate, on a grid of
    +-`span` widths around each coordinate's mode (converged to ~1e-10 nats in both
    `num` and `span`)."""
    x = (lam * c * t) / (1 / sigma**2 + lam * c)
    for _ in range(100):  # Newton on the mode of log N(x; 0, sigma^2) - lam c h
        grad = -x / sigma**2 - lam * c * np.expm1(SKEW * (x - t)) / SKEW
        hess = -1 / sigma**2 - lam * c * np.exp(SKEW * (x - t))
        x = x - grad / hess
    width = 1 / np.sqrt(-hess)
    offsets = np.linspace(-span, span, num)
    grid = x[:, None] + width[:, None] * offsets[None, :]
    u = SKEW * (grid - t[:, None])
    log_f = (
        -0.5 * (grid / sigma) ** 2
        - 0.5 * np.log(2 * np.pi * sigma**2)
        - lam * c[:, None] * (np.expm1(u) - u) / SKEW**2
    )
    peak = log_f.max(axis=1, keepdims=True)
    integral = np.trapezoid(np.exp(log_f - peak), axis=1) * (offsets[1] - offsets[0])
    return float(np.sum(np.log(integral * width) + peak[:, 0]))


def network(dtype):
    """tests/samplers/conftest.py's `network_case` (d = 182), lambda = 200, sigma =
    0.3. Imported when asked for: that module turns on float64."""
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "tests" / "samplers"))
    from conftest import network_case

    disagreement, theta0 = network_case()
    return disagreement, jnp.asarray(theta0, dtype), 200.0, 0.3


# Four prior-path runs of 4096 particles (benchmarks/reference_bench.py, keys
# split from 99): -16.424, -16.475, -16.409, -16.495; mean -16.451, SE 0.020.
NETWORK_LOG_Z = -16.451


def dense(d, m, lam, offset, seed=0):
    """The dense oblique problems of tests/samplers/conftest.py's `dense_case`."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, d)) / np.sqrt(d)
    theta1 = 0.1 * rng.standard_normal(d)
    b = a @ theta1 - offset * rng.standard_normal(m)
    k = np.eye(m) + lam * a @ a.T
    r = a @ theta1 - b
    log_z = -0.5 * np.linalg.slogdet(k)[1] - 0.5 * lam * r @ np.linalg.solve(k, r)
    return a, b, theta1, lam, 1.0, float(log_z)


def make_problem(name, dtype):
    if name == "network":
        return (*network(dtype), NETWORK_LOG_Z)
    if name in ("dense300", "dense1000"):
        d = int(name[5:])
        a, b, theta1, lam, sigma, log_z = dense(d, 40 if d == 300 else 100, 60.0, 1.0)
        fn = Partial(quadratic, jnp.asarray(a, dtype), jnp.asarray(b, dtype))
        return fn, jnp.asarray(theta1, dtype), lam, sigma, log_z
    if name == "skew":
        d, lam, sigma = 10_000, 1.0, 1.0
        c = 1e4 * np.arange(1, d + 1, dtype=float) ** -1.5
        t = 0.8 * np.random.default_rng(0).standard_normal(d)
        fn = Partial(skewed, jnp.asarray(c, dtype), jnp.asarray(t, dtype))
        theta1 = jnp.zeros(d, dtype)
        return fn, theta1, lam, sigma, skewed_log_z(c, t, lam, sigma)
    if name == "big":
        d, lam, sigma = 10_000, 1.0, 1.0
        c = 1e4 * np.arange(1, d + 1, dtype=float) ** -1.5
        a = np.sqrt(c / (lam * sigma**2))
        target = 0.8 * np.random.default_rng(0).standard_normal(d)
        b, theta1 = a * target, np.zeros(d)
        r = a * theta1 - b
        log_z = -0.5 * np.sum(np.log1p(c)) - 0.5 * lam * np.sum(r**2 / (1 + c))
    else:
        rng = np.random.default_rng(1)
        d, m, lam, sigma = 100, 20, 10.0, 1.0
        a = rng.standard_normal((m, d)) / np.sqrt(d)
        theta1 = 0.1 * rng.standard_normal(d)
        b = a @ theta1 - 2.0 * rng.standard_normal(m)
        k = np.eye(m) + lam * sigma**2 * a @ a.T
        r = a @ theta1 - b
        log_z = -0.5 * np.linalg.slogdet(k)[1] - 0.5 * lam * r @ np.linalg.solve(k, r)
    fn = Partial(quadratic, jnp.asarray(a, dtype), jnp.asarray(b, dtype))
    return fn, jnp.asarray(theta1, dtype), lam, sigma, float(log_z)
