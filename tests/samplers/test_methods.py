"""Method objects (samplers.NUTS, HMC, SGLD, SGHMC): the same run as the names
with keywords, and the keywords mapped onto the objects' settings."""

import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers
from samplers import keywords, methods


def test_names_with_keywords_are_the_objects():
    # The shorthand fills in the object field by field; "auto" is the exchange
    # move falling back to nested AIS.
    assert keywords.from_keywords("nuts") == samplers.NUTS(
        theta1=samplers.Exchange(fallback=samplers.NestedAIS())
    )
    assert keywords.from_keywords(
        "hmc", theta1_update="exchange", max_rejection_draws=100
    ) == samplers.HMC(theta1=samplers.Exchange(max_draws=100))
    assert keywords.from_keywords(
        "nuts", theta1_update="nested_ais", nested_particles=8
    ) == samplers.NUTS(theta1=samplers.NestedAIS(8))
    assert keywords.from_keywords(
        "sghmc", step_size=1e-3, num_inner=4, stop_gradient_intended=True
    ) == samplers.SGHMC(step_size=1e-3, num_inner=4, stop_gradient_intended=True)
    method = samplers.SGLD(batch_size=3)
    assert keywords.from_keywords(method) is method
    assert samplers.SGHMC(step_size=0.01).trajectory_steps(0.5, 7) == 50
    assert samplers.SGHMC().trajectory_steps(0.5, 7) == 7


def test_the_joint_exchange_settings_are_described_and_checked():
    # A checkpoint's settings and the repr name them when set, and only then,
    # so that earlier checkpoints and attributes still match.
    plain = samplers.NUTS(theta1=samplers.Exchange())
    joint = samplers.NUTS(theta1=samplers.Exchange(joint_steps=8, bridges=16))
    assert "joint_steps" not in keywords.describe(plain)
    assert keywords.describe(joint)["joint_steps"] == 8
    assert keywords.describe(joint)["bridges"] == 16
    assert repr(plain.theta1) == "Exchange(max_draws=100000, fallback=None)"
    for bad, error in [(-1, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="`joint_steps`"):
            samplers.Exchange(joint_steps=bad)
        with pytest.raises(error, match="`bridges`"):
            samplers.Exchange(bridges=bad)


def test_the_nested_joint_move_is_described_and_checked():
    plain = samplers.NUTS(theta1=samplers.NestedAIS())
    joint = samplers.NUTS(theta1=samplers.NestedAIS(particles=8, joint_steps=4))
    assert "nested_joint_steps" not in keywords.describe(plain)
    assert keywords.describe(joint)["nested_joint_steps"] == 4
    assert keywords.describe(joint)["nested_particles"] == 8
    # As a fallback too: the settings name the move that may run.
    auto = samplers.NUTS(
        theta1=samplers.Exchange(fallback=samplers.NestedAIS(joint_steps=4))
    )
    assert keywords.describe(auto)["nested_joint_steps"] == 4
    assert repr(plain.theta1) == "NestedAIS(particles=64)"
    assert repr(joint.theta1) == "NestedAIS(particles=8, joint_steps=4)"
    for bad, error in [(-1, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="`joint_steps`"):
            samplers.NestedAIS(joint_steps=bad)


def test_the_nested_budget_s_adaptation_is_described_and_capped():
    default = samplers.NestedAIS()
    assert (default.tolerance, default.max_particles) == (0.5, 1024)
    # A larger budget than the default cap is its own cap, and still valid.
    large = samplers.NestedAIS(particles=2048)
    assert large.max_particles == 2048 and repr(large) == "NestedAIS(particles=2048)"
    fixed = samplers.NUTS(theta1=samplers.NestedAIS(tolerance=None, max_particles=64))
    described = keywords.describe(fixed)
    assert described["nested_tolerance"] is None
    assert described["nested_max_particles"] == 64
    assert "nested_tolerance" not in keywords.describe(samplers.NUTS())
    # A new budget keeps every other setting, as a fallback too.
    auto = samplers.NUTS(theta1=samplers.Exchange(fallback=samplers.NestedAIS(8)))
    raised = methods.with_nested_particles(auto, 32)
    assert raised.theta1.fallback == samplers.NestedAIS(32)
    assert raised.theta1.max_draws == auto.theta1.max_draws
    assert methods.nested_move(raised).particles == 32
    assert methods.nested_move(samplers.NUTS(theta1="exchange")) is None


def test_an_object_draws_what_its_name_and_keywords_draw():
    case = posterior.LinearGaussianCase.random(
        jr.key(0), d=3, m=2, n=8, lam=1.0, sigma1=1.0, sigma2=0.5
    )
    run = dict(
        num_chains=2, num_samples=5, num_warmup=5, log_partition_every=0, progress=False
    )
    by_name = samplers.sample(
        case.model, key=jr.key(1), method="sghmc", step_size=1e-3, num_inner=8, **run
    )
    method = samplers.SGHMC(step_size=1e-3, num_inner=8)
    by_object = samplers.sample(case.model, key=jr.key(1), method=method, **run)
    # The object's settings reach the kernel: another inner count, other draws.
    other = samplers.sample(
        case.model, key=jr.key(1), method="sghmc", step_size=1e-3, num_inner=4, **run
    )
    draws = by_object.posterior["theta1"].values
    np.testing.assert_array_equal(by_name.posterior["theta1"].values, draws)
    assert not np.array_equal(other.posterior["theta1"].values, draws)
    assert by_object.attrs["num_inner"] == 8 and by_object.attrs["method"] == "sghmc"
