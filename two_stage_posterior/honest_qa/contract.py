"""The array contract through which any world enters the honest-QA experiment.

A world is a dict of numpy arrays::

    {"agreement": {"x": (nS, dx) float, "question": (nS,) int},
     "answers":   {"x": (nD, dx), "question": (nD,), "answer": (nD,) int},
     "standard":  {"x": (nT, dx), "question": (nT,), "answer": (nT,)},
     "test":      {"x": (nE, dx), "question": (nE,), "truth": (nE,), "simple": (nE,)},
     "num_answers": int}

and optionally ``"in_distribution": {"x", "question", "truth"}`` (fresh scenes
where the simple labeller is right), ``test["careful"]`` (the careful
labeller's count, where it may err too) and ``"question_codes"``. Answers,
truths and labels lie in ``0..num_answers-1``; questions are integers ``>= 0``.
The network sees question q as row q of ``question_codes``, a float
``(num_questions, q_dim)`` array; without one, as a one-hot of length
``1 + max(question)`` over all sets. Every set is non-empty and every x
finite. :meth:`World.from_arrays` checks all of this before anything is
compiled and names the offending key.

On disk (``--world PATH``) a world is an ``.npz`` holding the same arrays under
the names ``agreement/x``, ``agreement/question``, ``answers/x``, ...,
``test/simple`` and ``num_answers`` (:func:`save_npz`, :func:`load_npz`).
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["SCHEMA", "World", "WorldError", "load_npz", "save_npz"]

#: Each set's arrays: ``"x"`` is float ``(n, dx)``, every other one int ``(n,)``.
SCHEMA = {
    "agreement": ("x", "question"),
    "answers": ("x", "question", "answer"),
    "standard": ("x", "question", "answer"),
    "test": ("x", "question", "truth", "simple"),
}
_OPTIONAL = {"in_distribution": ("x", "question", "truth")}
#: Optional arrays of a set, checked like the others when present.
_OPTIONAL_FIELDS = {"test": ("careful",)}
_LABELS = ("answer", "truth", "simple", "careful")


class WorldError(ValueError):
    """A world that breaks the array contract; the message names the key."""


@dataclass(frozen=True)
class World:
    """A checked world. Each set is a dict of numpy arrays (see the module)."""

    agreement: dict
    answers: dict
    standard: dict
    test: dict
    num_answers: int
    in_distribution: dict | None = None
    codes: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, arrays: Mapping) -> "World":
        """Check ``arrays`` against the contract and wrap it (arrays copied)."""
        if not isinstance(arrays, Mapping):
            raise WorldError(f"a world must be a dict, got {type(arrays).__name__}.")
        num_answers = _num_answers(arrays)
        sets, dim = {}, None
        for name, fields in [*SCHEMA.items(), *_OPTIONAL.items()]:
            if name not in arrays:
                if name in _OPTIONAL:
                    continue
                raise WorldError(f"world lacks the key {name!r}.")
            fields += tuple(
                f for f in _OPTIONAL_FIELDS.get(name, ()) if f in arrays[name]
            )
            sets[name], dim = _check_set(arrays[name], name, fields, num_answers, dim)
        codes = None
        if "question_codes" in arrays:
            codes = _check_codes(arrays["question_codes"], sets)
        return cls(
            sets["agreement"],
            sets["answers"],
            sets["standard"],
            sets["test"],
            num_answers,
            sets.get("in_distribution"),
            codes,
        )

    def to_arrays(self) -> dict:
        """The contract's dict (with ``in_distribution`` when there is one)."""
        out = {name: dict(getattr(self, name)) for name in SCHEMA}
        if self.in_distribution is not None:
            out["in_distribution"] = dict(self.in_distribution)
        out["num_answers"] = self.num_answers
        if self.codes is not None:
            out["question_codes"] = self.codes.copy()
        return out

    @property
    def x_dim(self) -> int:
        return self.agreement["x"].shape[1]

    @property
    def num_questions(self) -> int:
        if self.codes is not None:
            return len(self.codes)
        return 1 + max(int(s["question"].max()) for s in _sets(self))

    @property
    def question_codes(self) -> np.ndarray:
        """``(num_questions, q_dim)``: how the network sees each question (the
        world's own codes, or one-hot)."""
        if self.codes is not None:
            return self.codes
        return np.eye(self.num_questions, dtype=self.agreement["x"].dtype)

    def hold_out(self, fraction: float, rng: np.random.Generator) -> "World":
        """Move a ``fraction`` of S, with its answers, to ``in_distribution``.

        For a world without an in-distribution set: rows of S whose (x, question)
        also appear in D (the contract puts S in D with its simple labels) are
        candidates; the chosen ones leave S, D and the standard set, and their
        answers in D become the truth. Without any such row the world is
        returned unchanged (in-distribution accuracy is then reported as NaN).
        """
        if self.in_distribution is not None:
            return self
        rows = {_row_key(x, q): i for i, (x, q) in enumerate(_pairs(self.answers))}
        matches = [
            (i, rows[key])
            for i, key in enumerate(_row_key(x, q) for x, q in _pairs(self.agreement))
            if key in rows
        ]
        num_out = int(fraction * len(matches))
        if num_out == 0 or num_out == len(self.agreement["question"]):
            return self
        chosen = [matches[i] for i in rng.permutation(len(matches))[:num_out]]
        keys = {_row_key(*_pair(self.agreement, s)) for s, _ in chosen}
        held = {
            "x": self.agreement["x"][[s for s, _ in chosen]],
            "question": self.agreement["question"][[s for s, _ in chosen]],
            "truth": self.answers["answer"][[d for _, d in chosen]],
        }
        return World(
            _drop(self.agreement, keys),
            _drop(self.answers, keys),
            _drop(self.standard, keys),
            self.test,
            self.num_answers,
            held,
            self.codes,
        )


def _sets(world) -> list[dict]:
    sets = [world.agreement, world.answers, world.standard, world.test]
    if world.in_distribution is not None:
        sets.append(world.in_distribution)
    return sets


def _check_codes(value, sets: dict) -> np.ndarray:
    codes = np.asarray(value)
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.floating):
        raise WorldError(
            "world['question_codes'] must be a 2-D float array (num_questions, "
            f"q_dim), got {codes.dtype} of shape {codes.shape}."
        )
    if not np.all(np.isfinite(codes)):
        raise WorldError("world['question_codes'] has NaN or infinite entries.")
    highest = max(int(group["question"].max()) for group in sets.values())
    if highest >= len(codes):
        raise WorldError(
            f"world['question_codes'] has {len(codes)} rows, but a question is "
            f"{highest}."
        )
    return codes.copy()


def _num_answers(arrays: Mapping) -> int:
    if "num_answers" not in arrays:
        raise WorldError("world lacks the key 'num_answers'.")
    value = np.asarray(arrays["num_answers"])
    if value.shape != () or not np.issubdtype(value.dtype, np.integer):
        raise WorldError(
            f"world['num_answers'] must be an integer, got {arrays['num_answers']!r}."
        )
    if int(value) < 2:
        raise WorldError(f"world['num_answers'] must be >= 2, got {int(value)}.")
    return int(value)


def _check_set(group, name, fields, num_answers, dim):
    if not isinstance(group, Mapping):
        raise WorldError(f"world[{name!r}] must be a dict of arrays.")
    out = {}
    for field in fields:
        label = f"world[{name!r}][{field!r}]"
        if field not in group:
            raise WorldError(f"{label} is missing.")
        value = np.asarray(group[field])
        if field == "x":
            if value.ndim != 2 or not np.issubdtype(value.dtype, np.floating):
                raise WorldError(
                    f"{label} must be a 2-D float array (n, dx), got "
                    f"{value.dtype} of shape {value.shape}."
                )
            if dim is not None and value.shape[1] != dim:
                raise WorldError(
                    f"{label} has {value.shape[1]} features; the other sets {dim}."
                )
            if not np.all(np.isfinite(value)):
                raise WorldError(f"{label} has NaN or infinite entries.")
            dim = value.shape[1]
        else:
            if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
                raise WorldError(
                    f"{label} must be a 1-D integer array, got {value.dtype} "
                    f"of shape {value.shape}."
                )
            high = num_answers - 1 if field in _LABELS else None
            if value.size and (value.min() < 0 or (high and value.max() > high)):
                bound = f"0..{high}" if high else ">= 0"
                raise WorldError(
                    f"{label} must lie in {bound}, got {value.min()}..{value.max()}."
                )
        out[field] = value.copy()
    sizes = {field: len(v) for field, v in out.items()}
    if len(set(sizes.values())) != 1:
        raise WorldError(f"world[{name!r}]'s arrays differ in length: {sizes}.")
    if next(iter(sizes.values())) == 0:
        raise WorldError(f"world[{name!r}] is empty.")
    return out, dim


def _pair(group, i):
    return group["x"][i], group["question"][i]


def _pairs(group):
    return zip(group["x"], group["question"], strict=True)


def _row_key(x, question) -> bytes:
    return np.asarray(x, np.float64).tobytes() + int(question).to_bytes(8, "little")


def _drop(group, keys):
    keep = [_row_key(x, q) not in keys for x, q in _pairs(group)]
    return {field: value[np.asarray(keep)] for field, value in group.items()}


def save_npz(world: World, path) -> None:
    """Write ``world`` as an ``.npz`` with names ``set/field`` and ``num_answers``."""
    flat = {"num_answers": np.asarray(world.num_answers)}
    if world.codes is not None:
        flat["question_codes"] = world.codes
    for name, group in world.to_arrays().items():
        if isinstance(group, dict):
            flat.update({f"{name}/{field}": v for field, v in group.items()})
    np.savez(path, **flat)


def load_npz(path) -> World:
    """Read and check a world written in the ``.npz`` layout of :func:`save_npz`."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise WorldError(f"--world {path}: no such file.") from None
    except (ValueError, OSError) as error:
        # NumPy's own message for a text file advises allow_pickle=True.
        raise WorldError(
            f"--world {path} is not an .npz archive of a world (see "
            f"docs/honest_qa.md for its layout): {type(error).__name__}."
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise WorldError(
            f"--world {path} holds one array, not an .npz archive of a world "
            "(see docs/honest_qa.md)."
        )
    with archive as data:
        arrays: dict = {}
        for name in data.files:
            if name in ("num_answers", "question_codes"):
                arrays[name] = data[name]
                continue
            group, _, field = name.partition("/")
            arrays.setdefault(group, {})[field] = data[name]
    return World.from_arrays(arrays)
