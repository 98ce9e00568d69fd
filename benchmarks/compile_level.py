"""XLA's CPU optimisation level for the package's programs: compile and run time.

`samplers.programs.compiler_options` compiles the chains' programs at LLVM level 1.
This times `sample` on small cases at each level (``default``: the option left
out, as JAX leaves it; an explicit 2 is not the same), each case and level in a
fresh process with no compilation cache, and prints the `tree.attrs` timings:
compile (the chains' program), set-up and sampling.

    python benchmarks/compile_level.py [--draws 5000] [--levels 1 default]
"""

import argparse
import json
import os
import subprocess
import sys

CASES = {
    "exchange, d = 1, hmc": dict(
        d=1, m=2, n=3, lam=3.0, sigma2=0.7, method="hmc", theta1_update="exchange"
    ),
    "exchange, d = 1, hmc, noise 0.8": dict(
        d=1,
        m=2,
        n=3,
        lam=3.0,
        sigma2=0.7,
        noise_scale=0.8,
        method="hmc",
        theta1_update="exchange",
    ),
    "exchange, d = 3, nuts (README)": dict(
        d=3, m=2, n=8, lam=1.0, sigma2=0.5, method="nuts", theta1_update="exchange"
    ),
    "nested AIS, d = 1, hmc": dict(
        d=1, m=2, n=3, lam=30.0, sigma2=1.0, method="hmc", theta1_update="nested_ais"
    ),
    "single head, d = 10, nuts": dict(
        d=10, m=4, n=20, lam=1.0, sigma2=0.5, method="nuts", baseline="single_head"
    ),
    "sgld, d = 10": dict(d=10, m=4, n=20, lam=1.0, sigma2=0.5, method="sgld"),
}

_CHILD = """
import json, sys
import jax, jax.random as jr
jax.config.update("jax_enable_x64", True)
import posterior, samplers, samplers.programs as programs
level, draws, case = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
options = programs.compiler_options()
options.pop("xla_backend_optimization_level", None)
if level != "default":
    options["xla_backend_optimization_level"] = int(level)
programs.compiler_options = lambda: dict(options)
names = ("d", "m", "n", "lam", "sigma2", "noise_scale")
shape = {k: case.pop(k) for k in names if k in case}
model = posterior.LinearGaussianCase.random(jr.key(21), sigma1=1.0, **shape).model
if case.get("theta1_update") == "nested_ais":
    case.update(num_chains=16, num_samples=draws // 20, log_partition_every=0)
else:
    case.update(num_chains=4, num_samples=draws)
tree = samplers.sample(model, key=jr.key(2), progress=False, **case)
print(json.dumps({k: tree.attrs[k] for k in
                  ("compile_time", "setup_time", "sampling_time")}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5000)
    parser.add_argument("--levels", nargs="+", default=["1", "default"])
    args = parser.parse_args()
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR="", PYTHONWARNINGS="ignore")
    print("| case | level | compile (s) | set-up (s) | sampling (s) |")
    print("|---|---|---|---|---|")
    for name, case in CASES.items():
        for level in args.levels:
            completed = subprocess.run(
                [sys.executable, "-c", _CHILD, level, str(args.draws)]
                + [json.dumps(case)],
                capture_output=True,
                text=True,
                env=env,
            )
            if completed.returncode:
                print(f"| {name} | {level} | failed: {completed.stderr[-300:]} |")
                continue
            times = json.loads(completed.stdout.strip().splitlines()[-1])
            print(
                f"| {name} | {level} | {times['compile_time']:.1f} | "
                f"{times['setup_time']:.1f} | {times['sampling_time']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
