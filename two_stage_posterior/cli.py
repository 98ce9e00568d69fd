"""``two-stage-posterior``: the command line.

two-stage-posterior honest-qa [options]    the honest-QA experiment (make demo)
two-stage-posterior check [--seed N] [--quick]
                                           exact checks: linear-Gaussian, quadrature
two-stage-posterior mechanism [--json PATH] [--out DIR] [--quick]
                                           the (a, h) mechanism case, solved exactly
"""

import argparse

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="two-stage-posterior",
        description="Bayesian inference under a two-stage agreement prior.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    from two_stage_posterior.honest_qa.command import add_parser

    add_parser(commands)
    from two_stage_posterior import mechanism

    mechanism.add_parser(commands)
    check = commands.add_parser(
        "check",
        help="log Z and posterior samples on the exact reference cases",
        description=(
            "Estimates log Z by AIS on a linear-Gaussian case with a reverse-AIS "
            "upper bound, samples an exact posterior with NUTS + exchange, and "
            "checks a non-linear network against quadrature, printing each "
            "estimate beside the exact number."
        ),
    )
    check.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    check.add_argument(
        "--quick", action="store_true", help="fewer draws, for a smoke test"
    )
    arguments = parser.parse_args(argv)
    if arguments.command == "mechanism":
        return mechanism.run(arguments)
    if arguments.command == "honest-qa":
        from two_stage_posterior.honest_qa.command import run

        return run(arguments)
    from two_stage_posterior.check import run

    run(seed=arguments.seed, quick=arguments.quick)
    return 0
