"""The honest-QA world: labellers on hand-computed scenes, and the sets' promises."""

import numpy as np
import pytest

from two_stage_posterior.honest_qa.world import (
    Scenes,
    WorldConfig,
    complex_labels,
    make_world,
    simple_labels,
    true_counts,
)

SMALL = WorldConfig(num_agreement=50, num_test=30, num_in_distribution=10, x_dim=8)


def _scenes():
    # Scene 0: chair (occluded), table, empty, chair -> asked about chairs.
    # Scene 1: lamp, lamp (occluded), lamp (occluded), empty -> asked about lamps.
    # Scene 2: table (occluded), empty x3 -> asked about chairs (none at all).
    return Scenes(
        kinds=np.array([[0, 1, -1, 0], [2, 2, 2, -1], [1, -1, -1, -1]]),
        occluded=np.array(
            [
                [True, False, False, False],
                [False, True, True, False],
                [True] + [False] * 3,
            ]
        ),
        question=np.array([0, 2, 0]),
    )


def test_simple_labeller_counts_only_visible_objects():
    np.testing.assert_array_equal(simple_labels(_scenes()), [1, 1, 0])


def test_truth_counts_occluded_objects_too():
    np.testing.assert_array_equal(true_counts(_scenes()), [2, 3, 0])


def test_complex_labeller_without_errors_is_the_truth():
    labels = complex_labels(_scenes(), 4, 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(labels, [2, 3, 0])


def test_complex_labeller_errors_are_other_valid_counts():
    scenes = _scenes()
    labels = complex_labels(scenes, 4, 0.999999, np.random.default_rng(1))
    assert np.all(labels != true_counts(scenes))
    assert np.all((labels >= 0) & (labels <= 4))


def test_simple_label_is_wrong_on_every_test_item():
    world = make_world(SMALL, seed=3)
    assert np.all(world.test["truth"] != world.test["simple"])
    assert np.all(world.test["truth"] > world.test["simple"])
    assert set(world.test["question"]) <= set(SMALL.held_out_kinds)


def test_sets_follow_the_design():
    world = make_world(SMALL, seed=4)
    num_s, num_c = SMALL.num_agreement, SMALL.num_corrections
    assert num_c == 5  # 10% of |S|
    assert world.num_answers == SMALL.num_slots + 1
    assert (
        len(world.answers["answer"]) == len(world.standard["answer"]) == num_s + num_c
    )
    # D and the standard set both start with S and its (simple) labels.
    for group in (world.answers, world.standard):
        np.testing.assert_array_equal(group["x"][:num_s], world.agreement["x"])
        np.testing.assert_array_equal(
            group["question"][:num_s], world.agreement["question"]
        )
    np.testing.assert_array_equal(
        world.answers["answer"][:num_s], world.standard["answer"][:num_s]
    )
    # Corrections ask only about the correction kinds; the standard set's
    # occlusion scenes may ask about any kind.
    assert set(world.answers["question"][num_s:]) <= set(SMALL.correction_kinds)
    assert world.test["x"].shape == (SMALL.num_test, SMALL.x_dim)
    assert world.in_distribution["x"].shape == (SMALL.num_in_distribution, SMALL.x_dim)


def test_a_seed_fixes_everything():
    first, again, other = (make_world(SMALL, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(first.answers["x"], again.answers["x"])
    np.testing.assert_array_equal(first.test["truth"], again.test["truth"])
    assert not np.array_equal(first.answers["x"], other.answers["x"])


@pytest.mark.parametrize(
    "change, word",
    [
        ({"correction_kinds": (0, 1, 2)}, "correction_kinds"),
        ({"correction_kinds": (5,)}, "correction_kinds"),
        ({"complex_error_rate": 1.0}, "complex_error_rate"),
        ({"num_test": 0}, "num_test"),
        ({"object_probability": 0.0}, "object_probability"),
    ],
)
def test_bad_world_settings_are_refused(change, word):
    with pytest.raises(ValueError, match=word):
        WorldConfig(**change)
