"""The array contract: a world round-trips, and a malformed one is refused with
an error naming the key, before anything is compiled."""

import numpy as np
import pytest

from two_stage_posterior.cli import main
from two_stage_posterior.honest_qa.contract import World, WorldError, load_npz, save_npz
from two_stage_posterior.honest_qa.world import WorldConfig, make_world

CONFIG = WorldConfig(num_agreement=30, num_test=10, num_in_distribution=5, x_dim=6)


@pytest.fixture
def arrays():
    return make_world(CONFIG, seed=0).to_arrays()


def test_round_trip_through_arrays_and_npz(arrays, tmp_path):
    world = World.from_arrays(arrays)
    again = World.from_arrays(world.to_arrays())
    save_npz(again, tmp_path / "world.npz")
    loaded = load_npz(tmp_path / "world.npz")
    names = set(np.load(tmp_path / "world.npz").files)
    assert {"agreement/x", "answers/answer", "test/simple", "num_answers"} <= names
    for name in ("agreement", "answers", "standard", "test", "in_distribution"):
        for field, value in getattr(world, name).items():
            np.testing.assert_array_equal(getattr(loaded, name)[field], value)
    assert loaded.num_answers == world.num_answers == CONFIG.num_slots + 1
    # "How many of kind k?" and "what will the person say about kind k?"
    assert loaded.num_questions == 2 * CONFIG.num_kinds
    np.testing.assert_array_equal(loaded.question_codes, world.question_codes)
    assert loaded.question_codes.shape == (2 * CONFIG.num_kinds, CONFIG.num_kinds + 1)
    np.testing.assert_array_equal(loaded.test["careful"], world.test["careful"])


def test_without_codes_a_question_is_seen_one_hot(arrays):
    del arrays["question_codes"]
    world = World.from_arrays(arrays)
    assert world.codes is None
    np.testing.assert_array_equal(world.question_codes, np.eye(2 * CONFIG.num_kinds))


def _break(arrays, change):
    name, field, value = change
    if field is None:
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    elif value is None:
        del arrays[name][field]
    else:
        arrays[name][field] = value(arrays[name][field])
    return arrays


@pytest.mark.parametrize(
    "change, words",
    [
        (("test", None, None), "'test'"),
        (("num_answers", None, None), "'num_answers'"),
        (("num_answers", None, 2.5), "'num_answers'"),
        (("answers", "answer", None), "['answers']['answer'] is missing"),
        (
            ("agreement", "x", lambda x: x[:, 0]),
            "['agreement']['x'] must be a 2-D float",
        ),
        (
            ("answers", "x", lambda x: x.astype(int)),
            "['answers']['x'] must be a 2-D float",
        ),
        (("standard", "x", lambda x: x[:, :3]), "['standard']['x'] has 3 features"),
        (
            ("test", "question", lambda q: q.astype(float)),
            "['test']['question'] must be a 1-D integer",
        ),
        (
            ("answers", "answer", lambda a: a + 100),
            "['answers']['answer'] must lie in 0..6",
        ),
        (("test", "truth", lambda a: a - 10), "['test']['truth'] must lie in 0..6"),
        (
            ("standard", "question", lambda q: q[:-1]),
            "world['standard']'s arrays differ",
        ),
        (
            (
                "agreement",
                "x",
                lambda x: np.where(np.arange(len(x))[:, None] == 2, np.nan, x),
            ),
            "['agreement']['x'] has NaN",
        ),
        (("test", "careful", lambda a: a + 7), "['test']['careful'] must lie in 0..6"),
        (
            ("question_codes", None, np.eye(3, dtype=np.float32)),
            "world['question_codes'] has 3 rows, but a question is 5",
        ),
        (
            ("question_codes", None, np.zeros(6, np.float32)),
            "world['question_codes'] must be a 2-D float array",
        ),
    ],
)
def test_malformed_worlds_name_the_key(arrays, change, words):
    with pytest.raises(WorldError) as error:
        World.from_arrays(_break(arrays, change))
    assert words in str(error.value)


def test_an_empty_test_set_is_refused(arrays):
    arrays["test"] = {field: value[:0] for field, value in arrays["test"].items()}
    with pytest.raises(WorldError, match=r"world\['test'\] is empty"):
        World.from_arrays(arrays)


def test_hold_out_moves_part_of_s_and_its_answers(arrays):
    del arrays["in_distribution"]
    world = World.from_arrays(arrays)
    held = world.hold_out(0.2, np.random.default_rng(0))
    num_out = int(0.2 * CONFIG.num_agreement)
    assert len(held.in_distribution["truth"]) == num_out
    assert len(held.agreement["x"]) == CONFIG.num_agreement - num_out
    assert len(held.answers["x"]) == len(world.answers["x"]) - num_out
    # S's answers in D are its simple labels, which are the truth there.
    rows = {
        x.tobytes(): a
        for x, a in zip(world.answers["x"], world.answers["answer"], strict=True)
    }
    for x, truth in zip(
        held.in_distribution["x"], held.in_distribution["truth"], strict=True
    ):
        assert rows[x.tobytes()] == truth
    assert not {x.tobytes() for x in held.answers["x"]} & {
        x.tobytes() for x in held.in_distribution["x"]
    }


def test_the_command_refuses_a_malformed_world_file(arrays, tmp_path, capsys):
    arrays["answers"]["answer"] = arrays["answers"]["answer"] + 100
    flat = {"num_answers": np.asarray(arrays.pop("num_answers"))}
    flat["question_codes"] = arrays.pop("question_codes")
    for name, group in arrays.items():
        flat.update({f"{name}/{field}": value for field, value in group.items()})
    np.savez(tmp_path / "bad.npz", **flat)
    status = main(
        [
            "honest-qa",
            "--world",
            str(tmp_path / "bad.npz"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert status == 2
    assert "world['answers']['answer'] must lie in 0..6" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
