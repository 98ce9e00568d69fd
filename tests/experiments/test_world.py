"""The honest-QA world: labellers on hand-computed scenes, and the sets' promises."""

import dataclasses
import hashlib

import numpy as np
import pytest

from two_stage_posterior.honest_qa.world import (
    Scenes,
    WorldConfig,
    careful_counts,
    complex_labels,
    encode,
    make_world,
    simple_labels,
    true_counts,
)

SMALL_SIZES = dict(
    num_agreement=50,
    num_test=30,
    num_in_distribution=10,
    x_dim=8,
    num_world_questions=40,
)
SMALL = WorldConfig(**SMALL_SIZES)


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
    num_w = SMALL.num_world_questions
    assert num_c == 5  # 10% of |S|
    assert world.num_answers == SMALL.num_slots + 1
    assert (
        len(world.answers["answer"])
        == len(world.standard["answer"])
        == num_s + num_c + num_w
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
    corrections = world.answers["question"][num_s : num_s + num_c]
    assert set(corrections) <= set(SMALL.correction_kinds)
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
        ({"occluded_trace": 0.0}, "occluded_trace"),
        ({"careful_blind_slots": (6,)}, "careful_blind_slots"),
        ({"num_world_questions": -1}, "num_world_questions"),
    ],
)
def test_bad_world_settings_are_refused(change, word):
    with pytest.raises(ValueError, match=word):
        WorldConfig(**change)


IMITABLE = WorldConfig(**SMALL_SIZES, occluded_trace=0.2, careful_blind_slots=(0,))


def test_the_careful_labeller_misses_occluded_objects_in_its_blind_slots():
    # Scene 0's occluded chair sits in slot 0; scene 1's occluded lamps in 1, 2.
    np.testing.assert_array_equal(careful_counts(_scenes(), (0,)), [1, 3, 0])
    np.testing.assert_array_equal(careful_counts(_scenes(), (1, 2)), [2, 1, 0])
    labels = complex_labels(_scenes(), 4, 0.0, np.random.default_rng(0), (0,))
    np.testing.assert_array_equal(labels, [1, 3, 0])


def test_world_questions_carry_the_human_label_on_every_kind():
    world = make_world(IMITABLE, seed=5)
    num_k = IMITABLE.num_kinds
    start = IMITABLE.num_agreement + IMITABLE.num_corrections
    for group in (world.answers, world.standard):
        asked = group["question"][start:]
        assert len(asked) == IMITABLE.num_world_questions
        assert set(asked) == set(range(num_k, 2 * num_k))  # every kind
        np.testing.assert_array_equal(group["x"][start:], world.answers["x"][start:])
    # Occlusion scenes, so the human's label is below the truth, which the
    # corrections and the test set hold: only the world questions teach it.
    assert world.num_questions == 2 * num_k
    codes = world.question_codes
    np.testing.assert_array_equal(codes[:num_k, :num_k], np.eye(num_k))
    np.testing.assert_array_equal(codes[num_k:, :num_k], np.eye(num_k))
    np.testing.assert_array_equal(codes[:, num_k], [0] * num_k + [1] * num_k)


def test_an_occluded_object_shows_weakly_in_x():
    scenes = Scenes(
        kinds=np.array([[0, -1], [0, -1], [-1, -1]]),
        occluded=np.array([[False, False], [True, False], [True, False]]),
        question=np.zeros(3, int),
    )
    config = WorldConfig(num_slots=2, x_dim=200, noise=0.0, occluded_trace=0.2)
    rng = np.random.default_rng(0)
    encoder = (rng.standard_normal((200, 8)), np.zeros(200))
    # An empty but "occluded" slot isolates the occlusion flag's contribution.
    visible, occluded, flag = np.arctanh(
        encode(config, scenes, encoder, rng).astype(np.float64)
    )
    np.testing.assert_allclose(occluded - flag, 0.2 * visible, rtol=1e-4, atol=1e-5)


def test_without_the_world_questions_the_world_is_the_one_before_them():
    # The arrays of this world as drawn before world questions, weak traces and
    # blind slots existed (commit b481b02): their draws come after the others.
    old = WorldConfig(
        **{**SMALL_SIZES, "num_world_questions": 0},
        occluded_trace=1.0,
        careful_blind_slots=(),
    )
    world = make_world(old, seed=3)
    arrays = world.to_arrays()
    digest = hashlib.sha256()
    for name in sorted(k for k in arrays if isinstance(arrays[k], dict)):
        for field in sorted(arrays[name]):
            digest.update(np.ascontiguousarray(arrays[name][field]).tobytes())
    assert digest.hexdigest()[:16] == "af13c7dfed268272"
    assert world.codes is None and "careful" not in world.test
    # The same scenes with the new knobs: the test set's counts are unchanged.
    imitable = make_world(dataclasses.replace(IMITABLE, **SMALL_SIZES), seed=3)
    np.testing.assert_array_equal(imitable.test["truth"], world.test["truth"])
    assert imitable.test["careful"].shape == world.test["truth"].shape
