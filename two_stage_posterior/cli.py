"""``two-stage-posterior``: the command line.

two-stage-posterior demo [--seed N] [--quick]
"""

import argparse

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="two-stage-posterior",
        description="Bayesian inference under a two-stage agreement prior.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="log Z and posterior samples on the exact reference cases"
    )
    demo.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    demo.add_argument(
        "--quick", action="store_true", help="fewer draws, for a smoke test"
    )
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        from two_stage_posterior.demo import run

        run(seed=arguments.seed, quick=arguments.quick)
    return 0
