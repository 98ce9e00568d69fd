"""Where the AIS path starts: `log_partition(reference="prior" | "fitted" | "auto")`.

Three targets, 256 particles, one program per reference vmapped over keys:

- `dense`: quadratic C with a dense random A (d = 300, m = 40, lambda = 60,
  sigma = 1), -log Z = 104 nats in closed form (the problem of the issue
  "log Z you can trust").
- `logcosh`: C = sum_j c_j log cosh(q_j . theta - t_j) along the columns of a
  random orthogonal matrix, c_j = 100 / j, d = 50: not quadratic, oblique,
  -log Z = 380 nats by 1-D quadratures.
- `network`: a two-head MLP's disagreement (4 inputs, width 16, 3 classes, 64
  agreement inputs; d = 182), lambda = 200, sigma = 0.3. Its log Z is the mean
  of four prior-path runs of 4096 particles (their spread is printed); its
  gradient is not known well enough to score.

For each reference: the error of log Z-hat (mean, sd and RMS over the keys),
the mean reported SE, the mean number of temperatures, the gradient's relative
error where it is known, and the seconds per call once compiled (the vmapped
program's time over the number of keys).

Rerun (2 CPU cores, about 3 minutes):

    PYTHONPATH=. JAX_PLATFORMS=cpu python benchmarks/reference_bench.py
"""

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "tests" / "samplers"))
import conftest as cases  # noqa: E402

from samplers import log_partition  # noqa: E402

REFERENCES = ("prior", "fitted", "auto")


def network():
    disagreement, theta0 = cases.network_case()
    long_runs = _runs(disagreement, theta0, 200.0, 0.3, "prior", 4, 4096, key=99)
    log_z = np.asarray(long_runs.log_z)
    print(f"network: log Z by 4 runs of 4096 particles {log_z.round(3)}")
    return disagreement, theta0, 200.0, 0.3, float(log_z.mean()), None


def problem(name):
    """(disagreement, theta1, lam, sigma, log Z, grad log Z or None)."""
    if name == "network":
        return network()
    if name == "dense":
        case = cases.dense_case(0, d=300, m=40, lam=60.0, sigma=1.0, offset=1.0)
    else:
        case = cases.oblique_case(0, d=50, condition=100.0, offset=4.0)
    theta1 = jnp.asarray(case.theta1)
    return case.disagreement, theta1, case.lam, case.sigma, case.log_z, case.grad_log_z


def _runs(disagreement, theta1, lam, sigma, reference, num_keys, particles, key=5):
    def one(key):
        return log_partition(
            disagreement,
            theta1,
            lam=lam,
            sigma=sigma,
            key=key,
            method="ais",
            num_particles=particles,
            reference=reference,
        )

    return jax.jit(jax.vmap(one))(jr.split(jr.key(key), num_keys))


def row(name, reference, spec, num_keys):
    disagreement, theta1, lam, sigma, log_z, grad = spec
    _runs(disagreement, theta1, lam, sigma, reference, num_keys, 256, key=0)
    started = time.perf_counter()
    result = _runs(disagreement, theta1, lam, sigma, reference, num_keys, 256)
    jax.block_until_ready(result.log_z)
    seconds = (time.perf_counter() - started) / num_keys
    errors = np.asarray(result.log_z) - log_z
    grad_error = "n/a"
    if grad is not None:
        relative = np.linalg.norm(np.asarray(result.grad_log_z) - grad, axis=1)
        grad_error = f"{np.mean(relative) / np.linalg.norm(grad):.3f}"
    return (
        f"| {name} | {reference} | {errors.mean():+.3f} | {errors.std(ddof=1):.3f} "
        f"| {np.sqrt(np.mean(errors**2)):.3f} | {np.mean(result.log_z_se):.3f} "
        f"| {np.mean(result.num_temperatures):.1f} | {grad_error} | {seconds:.2f} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=16)
    parser.add_argument("--problems", default="dense,logcosh,network")
    args = parser.parse_args()
    lines = [
        "| target | reference | mean error | sd | RMS | mean SE | temperatures "
        "| gradient rel. error | s a call |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in args.problems.split(","):
        spec = problem(name)
        lines += [row(name, reference, spec, args.keys) for reference in REFERENCES]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
