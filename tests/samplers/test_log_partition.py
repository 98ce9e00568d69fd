"""Fast, deterministic checks of `samplers.log_partition` and its parts."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.scipy.special import logsumexp

from samplers import ais, annealing, grad_log_partition_estimate, log_partition


@pytest.fixture(scope="module")
def case(exact):
    return exact.dense_case(0, d=2, m=2, lam=1.0, sigma=0.8, offset=1.0)


def _run(case, key, **kwargs):
    kwargs = {"method": "ais", "num_particles": 16, **kwargs}
    return log_partition(
        case.disagreement,
        jnp.asarray(case.theta1),
        lam=case.lam,
        sigma=case.sigma,
        key=key,
        **kwargs,
    )


def test_result_fields_are_consistent(case):
    result = _run(case, jr.key(0))
    n, d = 16, case.dim
    assert result.particles.shape == (n, d)
    assert result.log_weights.shape == (n,)
    assert result.grad_log_z.shape == (d,)
    assert result.log_z.shape == () and result.log_z.dtype == jnp.float64
    # log Z-hat is the log-mean-exp of the log-weights, in nats; bits = nats / ln 2.
    np.testing.assert_allclose(
        logsumexp(result.log_weights) - math.log(n), result.log_z, rtol=1e-12
    )
    np.testing.assert_allclose(
        result.bits_saved, -result.log_z / math.log(2), rtol=1e-12
    )
    assert 1.0 <= float(result.ess) <= n
    assert 1 <= int(result.num_temperatures) <= 1000
    assert bool(jnp.isnan(result.log_z_upper))
    info = result.annealing.info
    visited = int(result.num_temperatures)
    assert float(info.beta[visited - 1]) == 1.0
    assert np.all(np.diff(np.asarray(info.beta[:visited])) > 0)
    assert np.all(np.isnan(np.asarray(info.beta[visited:])))


def test_fixed_step_sizes_are_the_ones_used_both_ways(case):
    schedule = np.array([0.2, 0.5, 1.0])
    step_sizes = np.array([0.9, 0.5, 0.3])
    # The reverse run starts from rejection samples (agreement is common here).
    result = _run(case, jr.key(0), schedule=schedule, step_sizes=step_sizes, upper=True)
    np.testing.assert_array_equal(result.annealing.info.step_size, step_sizes)
    # Backwards the move towards schedule[k] keeps step_sizes[k]; towards 0 it
    # takes the first temperature's.
    np.testing.assert_array_equal(result.reverse.info.beta, [0.5, 0.2, 0.0])
    np.testing.assert_array_equal(result.reverse.info.step_size, [0.5, 0.9, 0.9])


def test_same_key_gives_same_numbers(case):
    first, second = _run(case, jr.key(7)), _run(case, jr.key(7))
    jax.tree.map(np.testing.assert_array_equal, first, second)
    assert float(_run(case, jr.key(8)).log_z) != float(first.log_z)


def test_rejection_same_key_gives_same_numbers(case):
    first = _run(case, jr.key(7), method="rejection")
    second = _run(case, jr.key(7), method="rejection")
    jax.tree.map(np.testing.assert_array_equal, first, second)


def test_vmap_over_theta1_equals_a_loop(case):
    thetas = jnp.asarray(case.theta1)[None, :] + jnp.array(
        [[0.0, 0.0], [0.5, -1.0], [-2.0, 1.0]]
    )

    def one(theta1):
        return log_partition(
            case.disagreement,
            theta1,
            lam=case.lam,
            sigma=case.sigma,
            key=jr.key(3),
            method="ais",
            num_particles=16,
        )

    batched = jax.vmap(one)(thetas)
    for index, theta1 in enumerate(thetas):
        looped = one(theta1)
        np.testing.assert_allclose(batched.log_z[index], looped.log_z, rtol=1e-10)
        np.testing.assert_allclose(
            batched.grad_log_z[index], looped.grad_log_z, rtol=1e-8, atol=1e-12
        )


def test_one_temperature_without_resampling_is_importance_sampling(case):
    particles = jnp.asarray(case.theta1)[None, :] + case.sigma * jr.normal(
        jr.key(0), (64, 2)
    )

    def potential(theta):
        return case.lam * case.disagreement(theta)

    output = annealing.anneal(
        jr.key(1),
        particles,
        potential,
        jnp.asarray(case.theta1),
        case.sigma,
        schedule=jnp.array([1.0]),
        resample_threshold=0.0,
    )
    log_w = -jax.vmap(potential)(particles)
    np.testing.assert_allclose(
        ais.log_evidence(output.state), logsumexp(log_w) - math.log(64), rtol=1e-12
    )
    np.testing.assert_allclose(
        ais.global_log_weights(output.state),
        log_w - logsumexp(log_w),
        rtol=1e-10,
        atol=1e-12,
    )


def test_control_variate_gradient_is_exact_for_axis_aligned_quadratic(exact):
    case = exact.diagonal_case(
        0, d=5, lam=2.0, sigma=0.7, condition=50.0, power=1.0, offset=1.0
    )
    # Any non-degenerate cloud gives the exact gradient: the per-coordinate
    # regression coefficient recovers 1 / (1 + c_i) exactly.
    particles = jr.normal(jr.key(0), (32, 5)) * 3.0
    potential_grad = jax.vmap(jax.grad(lambda t: case.lam * case.disagreement(t)))(
        particles
    )
    combined, score, pathwise = grad_log_partition_estimate(
        particles, jnp.zeros(32), potential_grad, jnp.asarray(case.theta1), case.sigma
    )
    np.testing.assert_allclose(combined, case.grad_log_z, rtol=1e-10, atol=1e-12)


def test_control_variate_mixes_and_never_extrapolates_from_few_particles():
    # Two equally weighted particles whose control variate D barely varies
    # while the score does: the fitted coefficient Cov/Var was 10⁴, and the
    # estimate -10⁴ where the score and pathwise estimates say 5 and 4. Four
    # inner particles gave SGLD a θ₁ step of 700 posterior sd that way.
    theta1 = jnp.zeros(1)
    particles = jnp.array([[0.0], [10.0]])  # score (σ = 1): 0 and 10
    potential_grad = jnp.array([[1.0], [-8.999]])  # D = score + ∇U: 1 and 1.001
    combined, score, pathwise = grad_log_partition_estimate(
        particles, jnp.zeros(2), potential_grad, theta1, 1.0
    )
    low, high = sorted([float(score[0]), float(pathwise[0])])
    assert low <= float(combined[0]) <= high, (combined, score, pathwise)
    # Over random small clouds with skewed weights the same holds everywhere.
    keys = jr.split(jr.key(0), 3)
    particles = jr.normal(keys[0], (200, 4, 6))
    potential_grad = jr.normal(keys[1], (200, 4, 6)) * 3.0
    log_weights = 4.0 * jr.normal(keys[2], (200, 4))
    combined, score, pathwise = jax.vmap(
        lambda p, w, g: grad_log_partition_estimate(p, w, g, jnp.zeros(6), 0.5)
    )(particles, log_weights, potential_grad)
    low, high = jnp.minimum(score, pathwise), jnp.maximum(score, pathwise)
    assert bool(jnp.all((combined >= low - 1e-9) & (combined <= high + 1e-9)))


def test_rejection_refuses_when_agreement_is_too_rare(case):
    with pytest.raises(ValueError, match="max_rejection_draws"):
        _run(case, jr.key(0), method="rejection", max_rejection_draws=10)
    # The upper bound needs exact end samples: without them it says so.
    with pytest.raises(ValueError, match="end_samples"):
        log_partition(
            case.disagreement,
            jnp.asarray(case.theta1),
            lam=500.0,
            sigma=case.sigma,
            key=jr.key(0),
            method="ais",
            upper=True,
            max_rejection_draws=1000,
        )


def test_auto_picks_rejection_when_cheap_and_ais_when_not(case):
    cheap = _run(case, jr.key(0), method="auto")
    assert cheap.rejection is not None and cheap.annealing is None
    costly = _run(case, jr.key(0), method="auto", max_rejection_draws=10)
    assert costly.annealing is not None and costly.rejection is None


def _quadratic(theta):
    return 0.5 * jnp.sum(theta**2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lam": 0.0}, "lam"),
        ({"lam": -1.0}, "lam"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": float("nan")}, "sigma"),
        ({"theta1": jnp.zeros((2, 2))}, "theta1"),
        ({"theta1": jnp.zeros(())}, "theta1"),
        ({"theta1": jnp.zeros(3, dtype=jnp.int32)}, "theta1"),
        ({"num_particles": 0}, "num_particles"),
        ({"num_particles": 2.5}, "num_particles"),
        ({"disagreement_fn": "not a function"}, "disagreement_fn"),
        ({"key": jr.PRNGKey(0)}, "key"),
        ({"method": "magic"}, "method"),
        ({"move": "nuts"}, "move"),
        ({"schedule": jnp.array([0.5, 0.2, 1.0])}, "schedule"),
        ({"schedule": jnp.array([0.5, 0.9])}, "schedule"),
        ({"target_ess": 1.0}, "target_ess"),
        ({"end_samples": jnp.zeros((4, 2))}, "end_samples"),
        ({"reference": "posterior"}, "reference"),
        ({"reference": "fitted", "pilot_particles": 1}, "pilot_particles"),
        ({"reference": "fitted", "pilot_particles": True}, "pilot_particles"),
        ({"reference": "prior", "pilot_particles": 8}, "pilot_particles"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, match):
    arguments = {
        "disagreement_fn": _quadratic,
        "theta1": jnp.zeros(3),
        "lam": 1.0,
        "sigma": 1.0,
        "key": jr.key(0),
        **kwargs,
    }
    disagreement_fn = arguments.pop("disagreement_fn")
    theta1 = arguments.pop("theta1")
    with pytest.raises((ValueError, TypeError), match=match):
        log_partition(disagreement_fn, theta1, **arguments)


class _UnhashableQuadratic:
    """A callable whose instances cannot be hashed (it defines __eq__ only)."""

    def __eq__(self, other):
        return isinstance(other, _UnhashableQuadratic)

    def __call__(self, theta):
        return 0.5 * jnp.sum(theta**2)


def test_unhashable_disagreement_callable_is_accepted():
    result = log_partition(
        _UnhashableQuadratic(),
        jnp.zeros(2),
        lam=1.0,
        sigma=1.0,
        key=jr.key(0),
        method="rejection",
        num_particles=8,
    )
    assert np.isfinite(float(result.log_z))


def test_an_unhashable_callable_compiles_once_per_object():
    traces = []

    def listen(event, duration, **kwargs):
        if event == "/jax/core/compile/jaxpr_trace_duration":
            traces.append(kwargs.get("fun_name"))

    disagreement = _UnhashableQuadratic()

    def call(key):
        return log_partition(
            disagreement,
            jnp.zeros(2),
            lam=1.0,
            sigma=1.0,
            key=key,
            method="rejection",
            num_particles=8,
        )

    call(jr.key(0))
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        call(jr.key(1))
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert traces == [], traces
