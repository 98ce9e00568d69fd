r"""The honest-QA world: scenes, a "video" encoding, two labellers and four sets.

A scene has ``num_slots`` slots; each holds nothing or one object of a kind
(``0..num_kinds-1``: chair, table, lamp by default) that may be occluded. A
question asks "how many objects of kind k?"; answers lie in ``0..num_slots``.

- The **simple labeller** (the human in the room) counts the visible objects of
  kind k: it errs exactly when an object of kind k is occluded.
- The **complex labeller** (careful review) gives the true count, except that it
  too misses occluded objects in the ``careful_blind_slots`` (a subtype where both
  labellers err); with probability ``complex_error_rate`` it gives a uniformly
  drawn wrong count.

The observation x is a fixed random non-linear encoding of the whole scene plus
noise. Slot i contributes the features $f_i = [w_i\,\mathrm{onehot}(k_i), o_i]$
(zero for an empty slot, $o_i$ the occlusion flag, $w_i$ 1 for a visible object
and ``occluded_trace`` for an occluded one), so x carries the occluded objects,
weakly when the trace is small, and a network *can* learn the truth and the
human's blind spot alike:

$$x = \tanh\!\big(g\,W f / \sqrt{\dim f} + b\big) + \epsilon,\qquad
  W_{jl}, b_j \sim \mathcal N(0, 1),\ \epsilon \sim \mathcal N(0, s^2 I).$$

**World questions** ("what will the person say about kind k?", question
``num_kinds + k``) are answered with the simple labeller's count, on occlusion
scenes of every kind; ``num_world_questions`` of them join D and the standard
set. They make the essay's premise true: the trunk learns to represent the
human's answer on every kind, so that the instrumental head can read it and an
intended head can copy it cheaply, while the truth about an occluded object of
a held-out kind rests on its weak trace. The network sees a question through
:attr:`World.question_codes`: the asked kind's one-hot and a flag for a world
question, so "how many?" and "what will the person say?" about one kind share
their code but for the flag.

The sets (DESIGN.md, "The honest-QA world"):

- agreement set S: scenes without occlusion (simple label = truth);
- answer set D: S with its simple labels plus ``correction_fraction``·|S|
  occlusion scenes whose occluded objects are of the ``correction_kinds`` only,
  asked about an occluded kind and labelled by the complex labeller;
- standard set: S with simple labels plus as many occlusion scenes of *every*
  kind, labelled by the simple labeller (the usual way: human labels on all),
  plus the world questions;
- test set: occlusion scenes of the held-out kinds (the others), asked about an
  occluded held-out kind, so the simple label is wrong on every item; with
  blind slots it also holds the complex labeller's count (``careful``, without
  its random errors), so that items where only the human errs and items where
  both err can be scored apart;
- in-distribution set: fresh scenes without occlusion, with their true counts.

One ``seed`` fixes the encoder, the scenes, the noise and the labeller errors.
"""

from dataclasses import asdict, dataclass

import numpy as np

from two_stage_posterior.honest_qa.contract import World

__all__ = [
    "WorldConfig",
    "Scenes",
    "make_world",
    "encode",
    "simple_labels",
    "careful_counts",
    "complex_labels",
    "question_codes",
]

#: Names of the default kinds, for printing only.
KIND_NAMES = ("chair", "table", "lamp")


@dataclass(frozen=True)
class WorldConfig:
    """Every knob of the generated world; one seed fixes everything else.

    Attributes:
        num_slots: slots per scene; answers lie in 0..num_slots.
        num_kinds: kinds of object (questions ask about one kind).
        object_probability: chance that a slot holds an object.
        occlusion_probability: in an occlusion scene, chance that each further
            object of an occludable kind is occluded (one is always occluded).
        num_agreement: |S|.
        correction_fraction: corrected occlusion scenes in D, as a fraction of
            |S|; the standard set gets as many uncorrected ones.
        correction_kinds: kinds that may be occluded in D's corrected scenes;
            the others are held out for the test set.
        num_test: test items.
        num_in_distribution: fresh no-occlusion items for in-distribution
            accuracy.
        x_dim: length of the encoding x.
        encoder_gain: gain g of the random encoder.
        noise: standard deviation s of the noise added to x.
        complex_error_rate: chance that the complex labeller gives a wrong count.
        num_world_questions: world questions ("what will the person say about
            kind k?") in D and the standard set, on occlusion scenes of every
            kind, answered with the simple labeller's count; 0 for none.
        occluded_trace: how strongly an occluded object's kind shows in x,
            relative to a visible one's (1: as strongly).
        careful_blind_slots: slots whose occluded objects the complex labeller
            misses too.
    """

    num_slots: int = 6
    num_kinds: int = 3
    object_probability: float = 0.6
    occlusion_probability: float = 0.3
    num_agreement: int = 400
    correction_fraction: float = 0.1
    correction_kinds: tuple[int, ...] = (0, 1)
    num_test: int = 200
    num_in_distribution: int = 200
    x_dim: int = 48
    encoder_gain: float = 0.7
    noise: float = 0.05
    complex_error_rate: float = 0.0
    num_world_questions: int = 400
    occluded_trace: float = 0.2
    careful_blind_slots: tuple[int, ...] = (0,)

    def __post_init__(self):
        if self.num_slots < 1 or self.num_kinds < 2:
            raise ValueError("`num_slots` must be >= 1 and `num_kinds` >= 2.")
        held_out = self.held_out_kinds
        if not self.correction_kinds or not held_out:
            raise ValueError(
                "`correction_kinds` must name some but not all of the "
                f"{self.num_kinds} kinds, got {self.correction_kinds}."
            )
        if any(not 0 <= k < self.num_kinds for k in self.correction_kinds):
            raise ValueError(f"`correction_kinds` outside 0..{self.num_kinds - 1}.")
        if any(not 0 <= i < self.num_slots for i in self.careful_blind_slots):
            raise ValueError(
                f"`careful_blind_slots` outside 0..{self.num_slots - 1}: "
                f"{self.careful_blind_slots}."
            )
        if self.num_world_questions < 0:
            raise ValueError("`num_world_questions` must be at least 0.")
        for name in ("object_probability", "occlusion_probability", "occluded_trace"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"`{name}` must lie in (0, 1].")
        if not 0 <= self.complex_error_rate < 1:
            raise ValueError("`complex_error_rate` must lie in [0, 1).")
        if not self.correction_fraction > 0:
            raise ValueError("`correction_fraction` must be positive.")
        for name in ("num_agreement", "num_test", "num_in_distribution", "x_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1.")

    @property
    def held_out_kinds(self) -> tuple[int, ...]:
        return tuple(k for k in range(self.num_kinds) if k not in self.correction_kinds)

    @property
    def num_corrections(self) -> int:
        return max(1, round(self.correction_fraction * self.num_agreement))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scenes:
    """A batch of scenes and their questions.

    Attributes:
        kinds: ``(n, num_slots)`` int, the kind in each slot, -1 for empty.
        occluded: ``(n, num_slots)`` bool (False for empty slots).
        question: ``(n,)`` int, the kind asked about.
    """

    kinds: np.ndarray
    occluded: np.ndarray
    question: np.ndarray


def simple_labels(scenes: Scenes) -> np.ndarray:
    """The simple labeller: the number of *visible* objects of the asked kind."""
    asked = scenes.kinds == scenes.question[:, None]
    return np.sum(asked & ~scenes.occluded, axis=1)


def true_counts(scenes: Scenes) -> np.ndarray:
    """The truth: every object of the asked kind, occluded or not."""
    return np.sum(scenes.kinds == scenes.question[:, None], axis=1)


def careful_counts(scenes: Scenes, blind_slots=()) -> np.ndarray:
    """The complex labeller without its random errors: every object of the asked
    kind but the occluded ones in ``blind_slots``."""
    asked = scenes.kinds == scenes.question[:, None]
    blind = np.zeros(scenes.kinds.shape[1], bool)
    blind[list(blind_slots)] = True
    return np.sum(asked & ~(scenes.occluded & blind), axis=1)


def complex_labels(
    scenes: Scenes,
    num_slots: int,
    error_rate: float,
    rng: np.random.Generator,
    blind_slots=(),
) -> np.ndarray:
    """The complex labeller: the true count but for occluded objects in
    ``blind_slots``; with probability ``error_rate`` a wrong count drawn
    uniformly from the other ``num_slots`` values."""
    truth = careful_counts(scenes, blind_slots)
    wrong = rng.random(truth.shape) < error_rate
    # An offset in 1..num_slots modulo num_slots + 1 is a uniform other value.
    offset = rng.integers(1, num_slots + 1, truth.shape)
    return np.where(wrong, (truth + offset) % (num_slots + 1), truth)


def _clear_scenes(config: WorldConfig, n: int, rng) -> Scenes:
    present = rng.random((n, config.num_slots)) < config.object_probability
    kinds = np.where(present, rng.integers(0, config.num_kinds, present.shape), -1)
    question = rng.integers(0, config.num_kinds, n)
    return Scenes(kinds, np.zeros(kinds.shape, bool), question)


def _occlusion_scenes(config: WorldConfig, n: int, occludable, rng) -> Scenes:
    """Scenes with at least one occluded object of the asked kind; only objects
    of the ``occludable`` kinds are ever occluded."""
    base = _clear_scenes(config, n, rng)
    kinds = base.kinds.copy()
    question = np.asarray(occludable)[rng.integers(0, len(occludable), n)]
    forced = rng.integers(0, config.num_slots, n)
    rows = np.arange(n)
    kinds[rows, forced] = question
    may = np.isin(kinds, occludable)
    occluded = may & (rng.random(kinds.shape) < config.occlusion_probability)
    occluded[rows, forced] = True
    return Scenes(kinds, occluded, question)


def encode(config: WorldConfig, scenes: Scenes, encoder, rng) -> np.ndarray:
    """The "video" x of each scene (see the module docstring)."""
    weight, bias = encoder
    onehot = scenes.kinds[..., None] == np.arange(config.num_kinds)
    onehot = onehot * np.where(scenes.occluded, config.occluded_trace, 1.0)[..., None]
    features = np.concatenate([onehot, scenes.occluded[..., None]], axis=-1)
    flat = features.reshape(len(scenes.question), -1).astype(np.float64)
    pre = config.encoder_gain * flat @ weight.T / np.sqrt(flat.shape[1]) + bias
    x = np.tanh(pre) + config.noise * rng.standard_normal(pre.shape)
    return x.astype(np.float32)


def make_world(config: WorldConfig | None = None, *, seed: int = 0) -> World:
    """Generate a world (the array contract plus an in-distribution set).

    Example:
        >>> world = make_world(WorldConfig(num_agreement=20, num_test=5), seed=0)
        >>> bool(((world.test["truth"] != world.test["simple"])).all())
        True
    """
    config = config or WorldConfig()
    rng = np.random.default_rng(seed)
    num_features = config.num_slots * (config.num_kinds + 1)
    encoder = (
        rng.standard_normal((config.x_dim, num_features)),
        rng.standard_normal(config.x_dim),
    )
    agreement = _clear_scenes(config, config.num_agreement, rng)
    corrected = _occlusion_scenes(
        config, config.num_corrections, config.correction_kinds, rng
    )
    uncorrected = _occlusion_scenes(
        config, config.num_corrections, tuple(range(config.num_kinds)), rng
    )
    test = _occlusion_scenes(config, config.num_test, config.held_out_kinds, rng)
    fresh = _clear_scenes(config, config.num_in_distribution, rng)

    x_agreement = encode(config, agreement, encoder, rng)
    x_corrected = encode(config, corrected, encoder, rng)
    x_uncorrected = encode(config, uncorrected, encoder, rng)
    corrections = complex_labels(
        corrected,
        config.num_slots,
        config.complex_error_rate,
        rng,
        config.careful_blind_slots,
    )
    x_test = encode(config, test, encoder, rng)
    x_fresh = encode(config, fresh, encoder, rng)
    s_labels = simple_labels(agreement)
    world_x, world_q, world_a = _world_questions(config, encoder, rng)
    arrays = {
        "agreement": {"x": x_agreement, "question": agreement.question},
        "answers": {
            "x": np.concatenate([x_agreement, x_corrected, world_x]),
            "question": np.concatenate(
                [agreement.question, corrected.question, world_q]
            ),
            "answer": np.concatenate([s_labels, corrections, world_a]),
        },
        "standard": {
            "x": np.concatenate([x_agreement, x_uncorrected, world_x]),
            "question": np.concatenate(
                [agreement.question, uncorrected.question, world_q]
            ),
            "answer": np.concatenate([s_labels, simple_labels(uncorrected), world_a]),
        },
        "test": {
            "x": x_test,
            "question": test.question,
            "truth": true_counts(test),
            "simple": simple_labels(test),
        },
        "in_distribution": {
            "x": x_fresh,
            "question": fresh.question,
            "truth": true_counts(fresh),
        },
        "num_answers": config.num_slots + 1,
    }
    if config.careful_blind_slots:
        arrays["test"]["careful"] = careful_counts(test, config.careful_blind_slots)
    if config.num_world_questions:
        arrays["question_codes"] = question_codes(config.num_kinds)
    return World.from_arrays(arrays)


def question_codes(num_kinds: int) -> np.ndarray:
    """``(2 num_kinds, num_kinds + 1)``: row k asks "how many of kind k?", row
    ``num_kinds + k`` "what will the person say about kind k?"; the asked
    kind's one-hot, then the world-question flag."""
    kinds = np.tile(np.eye(num_kinds, dtype=np.float32), (2, 1))
    flag = np.repeat(np.array([0.0, 1.0], np.float32), num_kinds)[:, None]
    return np.concatenate([kinds, flag], axis=1)


def _world_questions(config: WorldConfig, encoder, rng):
    """``num_world_questions`` occlusion scenes of every kind, asked what the
    person will say about an occluded kind: x, question ``num_kinds + k``, and
    the simple labeller's count. Drawn after every other set, so that a world
    without them is the same as before they existed."""
    n = config.num_world_questions
    if n == 0:
        x = np.zeros((0, config.x_dim), np.float32)
        return x, np.zeros(0, int), np.zeros(0, int)
    scenes = _occlusion_scenes(config, n, tuple(range(config.num_kinds)), rng)
    x = encode(config, scenes, encoder, rng)
    return x, scenes.question + config.num_kinds, simple_labels(scenes)
