"""The honest-QA experiment (DESIGN.md, "The honest-QA world"; docs/honest_qa.md).

Does the two-stage posterior learn to answer honestly where the human labeller
errs, or to imitate the human?

- :mod:`~two_stage_posterior.honest_qa.world`: the synthetic world (numpy only);
- :mod:`~two_stage_posterior.honest_qa.contract`: the array contract any world
  enters by (:class:`World`, :func:`load_npz`, :func:`save_npz`);
- :mod:`~two_stage_posterior.honest_qa.experiment`: one method on one world
  (the only layer that imports both ``posterior`` and ``samplers``);
- :mod:`~two_stage_posterior.honest_qa.runner`: every method and seed, the
  tables and the files; :mod:`~two_stage_posterior.honest_qa.command`: the CLI.

Example:
    >>> from two_stage_posterior.honest_qa import World, WorldConfig, make_world
    >>> world = make_world(WorldConfig(num_agreement=20, num_test=4), seed=0)
    >>> sorted(world.to_arrays())[:3]
    ['agreement', 'answers', 'in_distribution']

The modules that import JAX load on first use, so that the command can set
JAX's options first.
"""

from two_stage_posterior.honest_qa.config import (
    METHODS,
    ExperimentConfig,
    ModelConfig,
    SamplerConfig,
)
from two_stage_posterior.honest_qa.contract import (
    World,
    WorldError,
    load_npz,
    save_npz,
)
from two_stage_posterior.honest_qa.world import WorldConfig, make_world

__all__ = [
    "METHODS",
    "ExperimentConfig",
    "ModelConfig",
    "SamplerConfig",
    "World",
    "WorldConfig",
    "WorldError",
    "load_npz",
    "make_world",
    "run_experiment",
    "save_npz",
]

_LAZY = {"run_experiment": "runner"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"two_stage_posterior.honest_qa.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
