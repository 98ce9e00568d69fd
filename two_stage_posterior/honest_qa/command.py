"""``two-stage-posterior honest-qa``: the experiment's command-line options.

Every option defaults to the value of the configuration dataclasses
(:class:`WorldConfig`, :class:`ModelConfig`, :class:`SamplerConfig`,
:class:`ExperimentConfig`); ``--quick`` replaces some defaults by the small sizes
of :data:`~two_stage_posterior.honest_qa.config.QUICK`, and explicit options
override both.
"""

import argparse
import dataclasses
import os
import pathlib
import sys
import tempfile

from two_stage_posterior import run_folder

__all__ = ["add_parser", "run"]

# One option a line: flag, configuration field, type, help.
_OPTIONS_TABLE = """
--num-slots             world.num_slots                   int   slots per scene; answers 0..num_slots
--num-kinds             world.num_kinds                   int   kinds of object
--object-probability    world.object_probability          float chance that a slot holds an object
--occlusion-probability world.occlusion_probability       float chance that a further object of an occludable kind is occluded
--num-agreement         world.num_agreement               int   |S|, scenes without occlusion
--correction-fraction   world.correction_fraction         float corrected occlusion scenes in D, as a fraction of |S|
--correction-kinds      world.correction_kinds            ints  kinds occluded in D's corrected scenes, e.g. 0,1; the rest are held out
--num-test              world.num_test                    int   test items
--num-in-distribution   world.num_in_distribution         int   fresh no-occlusion items for in-distribution accuracy
--x-dim                 world.x_dim                       int   length of the encoding x
--encoder-gain          world.encoder_gain                float gain of the random encoder
--noise                 world.noise                       float noise standard deviation added to x
--complex-error-rate    world.complex_error_rate          float chance that the complex labeller gives a wrong count
--num-world-questions   world.num_world_questions         int   world questions ("what will the person say about kind k?") in D, answered with the human's labels
--occluded-trace        world.occluded_trace              float how strongly an occluded object's kind shows in x (1: as strongly as a visible one's)
--careful-blind-slots   world.careful_blind_slots         ints  slots whose occluded objects the complex labeller misses too, e.g. 0; '' for none
--width                 model.width                       int   width of the network's trunk
--depth                 model.depth                       int   hidden layers of the trunk
--lam                   model.lam                         float λ of the agreement factor exp(−λC)
--sigma1                model.sigma1                      float prior scale of θ₁ around θ₀
--sigma2                model.sigma2                      float scale of θ₂ around θ₁
--divergence            model.divergence                  str   divergence between the heads: kl, reverse_kl, jensen_shannon, total_variation
--sampler               sampler.method                    str   sgld, sghmc, nuts or hmc
--chains                sampler.num_chains                int   chains per method and seed, each from its own start's MAP (θ₀'s, then prior draws)
--start-spread          sampler.start_spread              float the MAP fits after θ₀'s start at prior draws scaled by this (0: all at θ₀)
--warmup                sampler.num_warmup                int   warm-up steps per chain (dropped)
--samples               sampler.num_samples               int   draws kept per chain
--step-size             sampler.step_size                 step  SGLD/SGHMC step size, or 'auto' for the library's adapted one
--batch-size            sampler.batch_size                int   answers per minibatch
--num-inner             sampler.num_inner                 int   persistent inner chains for ∇log Z
--num-inner-steps       sampler.num_inner_steps           int   inner MALA steps per outer step
--agreement-batch-size  sampler.agreement_batch_size      int   agreement inputs per minibatch of C (MAP fits, SGLD/SGHMC)
--init-spread           sampler.init_spread               float chains start at their MAP plus this much noise (units of σ₁, σ₂)
--map-steps             sampler.map_steps                 int   Adam steps of the MAP fit
--learning-rate         sampler.learning_rate             float Adam's learning rate
--map-schedule          sampler.map_schedule              str   Adam's rate over the MAP fit: cosine (decays to 0) or constant
--log-z-draws           sampler.log_partition_draws       int   draws per chain at which bits saved is estimated by AIS
--log-z-particles       sampler.log_partition_particles   int   AIS particles per estimate
--log-z-repeats         sampler.log_partition_repeats     int   independent AIS estimates at the MAP (their spread is the SE)
--check-particles       sampler.check_particles           ints  AIS particle counts of the inference checks at the first seed's two-stage MAP
--check-repeats         sampler.check_repeats             int   AIS runs per count in the inference checks
--check-reference       sampler.check_reference_particles int   AIS particles of the checks' reference, with HMC moves (0: none)
--stop-gradient-intended sampler.stop_gradient_intended   onoff the essay's stop-gradient on the intended head in C's gradient (MAP and SGLD/SGHMC)
--holdout-fraction      experiment.holdout_fraction       float with --world and no in_distribution arrays: share of S held out
"""
_TYPES = {"int": int, "float": float, "str": str}


def _options():
    """``(flag, section, field, kind, help)`` for every line of the table."""
    for line in _OPTIONS_TABLE.strip().splitlines():
        flag, target, kind, text = line.split(maxsplit=3)
        section, name = target.split(".")
        yield flag, section, name, _TYPES.get(kind, kind), text


def add_parser(commands) -> argparse.ArgumentParser:
    """Add the ``honest-qa`` subcommand to an ``add_subparsers`` object."""
    from two_stage_posterior.honest_qa.config import METHODS

    parser = commands.add_parser(
        "honest-qa",
        help="the honest-QA experiment: honest or imitating? (make demo)",
        description=(
            "Trains a two-head network on human answers in a synthetic world "
            "where the human errs on occluded objects, by four methods (standard, "
            "data_only, penalty_only, two_stage), fits the MAP and posterior "
            "samples, and reports honest and imitation rates, in-distribution "
            "accuracy, C on S, bits saved, the learned heads and the sampler "
            "diagnostics. Defaults are the configuration's; see docs/honest_qa.md."
        ),
    )
    parser.add_argument(
        "--out",
        default="honest-qa-results",
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    parser.add_argument(
        "--seeds",
        type=_ints,
        default=None,
        metavar="0,1,2",
        help="world seeds (with --world: sampler seeds); default 0-9",
    )
    parser.add_argument(
        "--methods",
        type=_names(METHODS),
        default=None,
        metavar=",".join(METHODS),
        help="methods to run; default all",
    )
    parser.add_argument(
        "--world",
        type=pathlib.Path,
        default=None,
        metavar="PATH",
        help="an .npz of one's own world (docs/honest_qa.md)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one seed: a smoke test"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=(
            "the inference checks at every seed's two-stage MAP (not only the "
            "first's), then the sweep (--sweep's grid) into OUT/sweep"
        ),
    )
    _add_sweep_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--compilation-cache",
        default=None,
        metavar="DIR",
        help="keep JAX's compilation cache here (default: a "
        "temporary folder, removed at the end)",
    )
    _add_table_options(parser)
    return parser


def _add_sweep_arguments(parser) -> None:
    """``--sweep`` and its grid (:mod:`~two_stage_posterior.honest_qa.sweep`)."""
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="run data_only and two_stage over a grid of λ and σ₂/σ₁ (and the "
        "stop-gradient flipped) and report the honest share against κ; each "
        "point is a whole experiment over the seeds (docs/honest_qa.md)",
    )
    parser.add_argument(
        "--sweep-lams",
        type=_floats,
        default=None,
        metavar="X,X",
        help="λ values of --sweep (default: 100,400,1600)",
    )
    parser.add_argument(
        "--sweep-ratios",
        type=_floats,
        default=None,
        metavar="X,X",
        help="σ₂/σ₁ values of --sweep (default: 0.025,0.05,0.1)",
    )


def _add_table_options(parser) -> None:
    """One option per line of :data:`_OPTIONS_TABLE`, its default read from the
    configuration."""
    for flag, section, name, kind, text in _options():
        default = _default(section, name)
        metavar = {
            int: "N",
            float: "X",
            str: "NAME",
            "ints": "K,K",
            "step": "X",
            "onoff": "on|off",
        }[kind]
        kind = {"ints": _ints, "step": _step, "onoff": _on_off}.get(kind, kind)
        parser.add_argument(
            flag,
            dest=f"{section}.{name}",
            default=None,
            metavar=metavar,
            type=kind,
            help=f"{text} (default: {default})",
        )


def _default(section, name):
    from two_stage_posterior.honest_qa.config import ExperimentConfig

    config = ExperimentConfig()
    value = getattr(
        config if section == "experiment" else getattr(config, section), name
    )
    if value is None:
        return "all" if name in ("batch_size", "agreement_batch_size") else "auto"
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers like 0,1,2: {text!r}"
        ) from None


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or not all(v > 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected positive numbers like 1,2: {text!r}"
        )
    return values


def _step(text: str):
    """A step size, or ``auto``: the library's adapted step (kept as "auto" here,
    None in the configuration)."""
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'auto': {text!r}"
        ) from None


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off: {text!r}")
    return text == "on"


def _names(choices):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        bad = [n for n in names if n not in choices]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {choices}")
        return names

    return parse


def build_config(arguments):
    """The :class:`ExperimentConfig` of parsed arguments."""
    from two_stage_posterior.honest_qa.config import (
        QUICK,
        ExperimentConfig,
        ModelConfig,
        SamplerConfig,
    )
    from two_stage_posterior.honest_qa.world import WorldConfig

    sections = {"world": {}, "model": {}, "sampler": {}, "experiment": {}}
    if arguments.quick:
        for section in ("world", "model", "sampler"):
            sections[section].update(QUICK[section])
        sections["experiment"]["seeds"] = QUICK["seeds"]
    for key, value in vars(arguments).items():
        if "." in key and value is not None:
            section, name = key.split(".")
            sections[section][name] = None if value == "auto" else value
    if arguments.seeds is not None:
        sections["experiment"]["seeds"] = arguments.seeds
    if arguments.methods is not None:
        sections["experiment"]["methods"] = arguments.methods
    if arguments.full:
        sections["experiment"]["checks_every_seed"] = True
    return ExperimentConfig(
        world=WorldConfig(**sections["world"]),
        model=ModelConfig(**sections["model"]),
        sampler=SamplerConfig(**sections["sampler"]),
        **sections["experiment"],
    )


def _configure_jax(cache_dir: str) -> None:
    """Closed-over arrays (each seed's data) become arguments of the compiled
    programs instead of constants, so that a program compiled for one seed
    serves the next from the compilation cache: with identical shapes the
    compiled code is the same. Set before JAX is imported; without it the
    experiment only compiles more."""
    os.environ.setdefault("JAX_USE_SIMPLIFIED_JAXPR_CONSTANTS", "true")
    import jax

    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def run(arguments) -> int:
    """Run the experiment of parsed ``arguments``; returns the exit status."""
    fresh = "jax" not in sys.modules
    with tempfile.TemporaryDirectory(prefix="honest-qa-jax-") as scratch:
        if fresh or arguments.compilation_cache is not None:
            _configure_jax(arguments.compilation_cache or scratch)
        from two_stage_posterior.honest_qa.contract import WorldError, load_npz
        from two_stage_posterior.honest_qa.runner import run_experiment

        try:
            if arguments.sweep and arguments.world:
                raise ValueError("--sweep runs on generated worlds; drop --world.")
            if arguments.full and (arguments.sweep or arguments.world):
                raise ValueError(
                    "--full runs the experiment, then the sweep on generated "
                    "worlds; drop --sweep and --world."
                )
            grid = arguments.sweep_lams or arguments.sweep_ratios
            if grid and not (arguments.sweep or arguments.full):
                raise ValueError(
                    "--sweep-lams and --sweep-ratios need --sweep or --full."
                )
            config = build_config(arguments)
            world = load_npz(arguments.world) if arguments.world else None
            out = run_folder.prepare(
                arguments.out, "honest-qa", run_folder.arguments_record(arguments)
            )
        except (WorldError, ValueError, TypeError, OSError) as error:
            print(f"honest-qa: {error}", file=sys.stderr)
            return 2
        if arguments.sweep:
            files = _sweep(arguments, config, out)
        else:
            files = run_experiment(
                config,
                world=world,
                out_dir=out,
                progress=not arguments.no_progress,
            ).files
            if arguments.full:
                # The sweep's points check the first seed only, as by default.
                plain = dataclasses.replace(config, checks_every_seed=False)
                files += [
                    f"sweep/{name}" for name in _sweep(arguments, plain, out / "sweep")
                ]
        run_folder.finish(out, files)
    print(f"\nwrote {len(files)} files to {out.resolve()}:")
    print("  " + " ".join(sorted(files)))
    return 0


def _sweep(arguments, config, out) -> list[str]:
    from two_stage_posterior.honest_qa import sweep

    return sweep.run_sweep(
        config,
        lams=arguments.sweep_lams or sweep.LAMS,
        ratios=arguments.sweep_ratios or sweep.SIGMA2_RATIOS,
        out_dir=out,
        progress=not arguments.no_progress,
    )["files"]
