"""Where the wall time of a run goes: `RunTiming` and the attributes of `sample`."""

import time

import jax.numpy as jnp
import jax.random as jr
import pytest

import posterior
import samplers
from samplers.run import RunTiming, run_chains


def test_seconds_between_shares_each_chunk_among_its_draws():
    timing = RunTiming(
        compile_seconds=1.0,
        chunk_draws=((0, 4), (4, 4), (8, 4)),
        chunk_seconds=(4.0, 8.0, 12.0),
    )
    assert timing.seconds_between(0, 12) == pytest.approx(24.0)
    assert timing.seconds_between(0, 6) == pytest.approx(4.0 + 8.0 * 2 / 4)
    assert timing.seconds_between(6, 10) == pytest.approx(8.0 * 2 / 4 + 12.0 * 2 / 4)
    # Draws past the last chunk (a run cut short of its last chunk) cost nothing.
    assert timing.seconds_between(10, 20) == pytest.approx(12.0 * 2 / 4)
    assert timing.seconds_between(12, 20) == 0.0


@pytest.mark.parametrize(
    "num_warmup, num_samples, chunks",
    [
        # One call would hold 20 warm-up draws and 60 kept ones: four instead.
        (20, 60, [(0, 20), (20, 20), (40, 20), (60, 20)]),
        (20, 70, [(0, 10)] + [(10 * i, 10) for i in range(1, 9)]),
        # No divisor of 100 cuts 201 draws into at most 20 calls without running
        # 19 draws past the end: the call is shared, as its timing says.
        (100, 101, [(0, 201)]),
        (0, 80, [(0, 80)]),
    ],
)
def test_no_call_holds_warm_up_and_kept_draws_where_few_calls_avoid_it(
    num_warmup, num_samples, chunks
):
    # An adapted warm-up step can cost several draws' time (at 10^5 parameters
    # SGLD's warm-up steps took 230 ms against 46 ms), so a shared call would
    # put warm-up time into `sampling_time`.
    def step(key, state, index):
        return state + 1.0, {}

    states, records, timing = run_chains(
        step,
        jnp.zeros((2,)),
        key=jr.key(0),
        num_steps=num_warmup + num_samples,
        record_fn=lambda key, state, info, draw: {"x": state},
        progress=False,
        num_warmup_draws=num_warmup,
    )
    assert list(timing.chunk_draws) == chunks
    assert records["x"][0, -1] == num_warmup + num_samples


def test_sample_says_where_its_time_went(capsys):
    case = posterior.LinearGaussianCase.random(
        jr.key(11), d=2, m=2, n=4, lam=3.0, sigma1=1.0, sigma2=0.6
    )
    started = time.perf_counter()
    tree = samplers.sample(
        case.model,
        key=jr.key(0),
        method="sgld",
        num_chains=2,
        num_warmup=30,
        num_samples=10,
        init="map",
        log_partition_every=0,
        progress=True,
    )
    wall = time.perf_counter() - started
    names = ("map_time", "setup_time", "compile_time", "warmup_time", "sampling_time")
    seconds = [tree.attrs[name] for name in names]
    assert all(value >= 0 for value in seconds), seconds
    # Compiling the chains' program costs far more than running 40 steps of a
    # 2-parameter model; the phases never add up to more than the call.
    assert tree.attrs["compile_time"] > tree.attrs["sampling_time"]
    assert sum(seconds) <= wall
    # The bar names its phases, tells the compile time, and stays on screen
    # (its last state ends with a newline, not a carriage return).
    bar = capsys.readouterr().err.split("sgld: compiling", 1)[1]
    assert "sgld: warm-up" in bar and "sgld: sampling" in bar
    assert bar.index("warm-up") < bar.index("sampling")
    assert "compiled in" in bar
    assert bar.rstrip(" ").endswith("\n") and "40/40" in bar.splitlines()[-1]


@pytest.mark.parametrize("dim, every", [(2, 1), (101, 0)])
def test_sgld_records_log_z_by_default_only_where_it_is_cheap(dim, every):
    # Above 100 parameters one AIS record costs hundreds of SGLD steps
    # (docs/benchmarks.md), so SGLD leaves it to the user there.
    case = posterior.LinearGaussianCase.random(
        jr.key(11), d=dim, m=2, n=4, lam=3.0, sigma1=1.0, sigma2=0.6
    )
    tree = samplers.sample(
        case.model,
        key=jr.key(0),
        method="sgld",
        num_chains=2,
        num_warmup=4,
        num_samples=4,
        init="theta0",
        log_partition_particles=8,
        progress=False,
    )
    assert tree.attrs["log_partition_every"] == every
    assert tree.attrs["log_partition_particles"] == 8
    assert ("log_partition" in tree.posterior.data_vars) == bool(every)
