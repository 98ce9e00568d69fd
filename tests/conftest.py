"""Global test configuration.

Runs before any test module is imported (in every xdist worker), so these JAX
settings apply to the whole suite.

Keys of the statistical tests
-----------------------------
A Monte Carlo test draws its randomness from the ``stat_key`` fixture (and, for
NumPy generators, ``stat_seed``) instead of a literal ``jr.key(31)``:

    def test_something(stat_key):
        draws = run(key=stat_key(31))

With the default offset 0, ``stat_key(31)`` is ``jr.key(31)`` and
``stat_seed(0)`` is ``0``, so the suite's numbers are those of fixed keys. With
``--stat-key-offset=N`` (or the environment variable ``TSP_STAT_KEY_OFFSET=N``;
the option wins) every such key and seed moves to an independent stream,
``jr.key(seed + 1000·N)`` and ``seed + 1000·N`` (the tests' seeds are below
1000, so streams never collide). Rerunning a statistical test under a few
offsets checks that it passes for the stated reason — its tolerance is set from
a false-failure rate and an honest Monte Carlo standard error — and not because
one key happens to work; never tune a seed until a test passes. Each
statistical test's docstring says under which offsets it was checked:

    .venv/bin/python -m pytest -p no:xdist tests/samplers/test_nested_ais.py \\
        --stat-key-offset=3

Only the Monte Carlo keys move: the problems themselves (a
``LinearGaussianCase``'s data, quadrature cases) stay fixed, because their
documented properties (how rare agreement is, how large a bias) set the tests'
power.

Programs a test compiles itself
-------------------------------
A test that compiles its own program uses ``samplers.base.jit``, with the
compiler options of the package's own programs: the log Z tests' programs
compile in about two thirds of the time.
The exchange-move tests (the calibration, the poor surrogate) keep ``jax.jit``:
at that optimisation level their programs ran 20-100 % slower. They run their
replications with ``lax.map``, not ``vmap``: a vmapped rejection loop waits,
round after round, for its slowest member.
"""

import os

# Closed-over arrays (a model's data, λ) become arguments of the compiled
# programs instead of constants baked into them, so that a program compiled for
# one model serves every model of the same shapes through the persistent cache
# below. JAX reads these two at import, hence before `import jax`.
os.environ.setdefault("JAX_USE_SIMPLIFIED_JAXPR_CONSTANTS", "True")
os.environ.setdefault("JAX_EMBEDDED_CONSTANTS_MAX_BYTES", "0")

import jax  # noqa: E402
import jax.random as jr
import pytest

# Tests compare against float64 references (scipy etc.).
jax.config.update("jax_enable_x64", True)
# Compile each program once per suite, not once per test. Most tests build the
# same samplers over the same shapes with other data; with closed-over arrays
# passed as arguments (above) those programs are identical, so the persistent
# cache, shared by the xdist workers, serves every compilation after the first.
# The cache holds compiled code only, keyed by the program, JAX's version and its
# flags: a hit gives the same numbers as a compilation. Every program goes in,
# however fast it compiled: set-up code runs hundreds of small eager operations,
# each a program that every worker would compile again (reading one back takes
# a few ms, compiling it 10-100). TSP_JAX_CACHE= (empty) turns it off.
_CACHE = os.environ.get(
    "TSP_JAX_CACHE", os.path.join(os.path.dirname(__file__), "..", "build", "jax-cache")
)
if _CACHE:
    jax.config.update("jax_compilation_cache_dir", os.path.abspath(_CACHE))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    # The same for the tests' subprocesses (notebooks, the killed checkpoint
    # run), which read JAX's options from the environment: a notebook cell that
    # repeats a test's call then finds its program compiled.
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.abspath(_CACHE))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# Catch accidental broadcasting between arrays of different rank.
jax.config.update("jax_numpy_rank_promotion", "raise")

STAT_KEY_STRIDE = 1000
_ENV = "TSP_STAT_KEY_OFFSET"


def pytest_addoption(parser):
    parser.addoption(
        "--stat-key-offset",
        type=int,
        default=None,
        help=(
            "Move every statistical test's keys to independent streams: seed s "
            f"becomes s + {STAT_KEY_STRIDE}·N (default: ${_ENV}, else 0)."
        ),
    )


def _offset(config) -> int:
    offset = config.getoption("--stat-key-offset")
    if offset is None:
        offset = int(os.environ.get(_ENV, "0"))
    if offset < 0:
        raise pytest.UsageError(f"--stat-key-offset must be >= 0, got {offset}.")
    return offset


def pytest_report_header(config):
    return f"stat-key-offset: {_offset(config)}"


@pytest.fixture(scope="session")
def stat_key_offset(pytestconfig) -> int:
    """The offset N of ``--stat-key-offset`` / ``$TSP_STAT_KEY_OFFSET``."""
    return _offset(pytestconfig)


@pytest.fixture(scope="session")
def stat_seed(stat_key_offset):
    """``seed -> seed + 1000·N``: an integer seed for NumPy generators."""

    def seed_for(seed: int) -> int:
        if not 0 <= seed < STAT_KEY_STRIDE:
            raise ValueError(f"statistical seeds must be in [0, 1000), got {seed}.")
        return seed + STAT_KEY_STRIDE * stat_key_offset

    return seed_for


@pytest.fixture(scope="session")
def stat_key(stat_seed):
    """``seed -> jr.key(seed + 1000·N)``: ``jr.key(seed)`` under the default offset."""
    return lambda seed: jr.key(stat_seed(seed))


def pytest_collection_modifyitems(items):
    # The notebooks take 20-40 s each in processes of their own; collected last,
    # they kept one xdist worker busy alone at the end of the suite. Started
    # first, the short tests fill in around them.
    items.sort(key=lambda item: item.path.name != "test_notebooks.py")


# Modules that a new process's imports spend most of their seconds on (jax,
# NumPyro, ArviZ with xarray and pandas, matplotlib, SciPy: about 7 of 8 s).
# None of them starts a JAX backend; blackjax does, at import, so it and the
# samplers are left to each process (forking a started backend would hand the
# child an XLA client whose threads are gone).
_PRELOAD = ["posterior", "arviz", "matplotlib.pyplot", "scipy.stats", "optax"]

_SCRIPT_IN_CHILD = """
import os, runpy, sys
log = os.open({log!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(log, 1)
os.dup2(log, 2)
os.chdir({cwd!r})
os.environ.update({env!r})
sys.argv = [{path!r}]
runpy.run_path({path!r}, run_name="__main__")
"""


@pytest.fixture(scope="session")
def start_script():
    """``start_script(path, cwd, env) -> (process, output path)``: the script
    started as ``python path`` would start it, in a process of its own, but
    forked from one that has imported the heavy libraries already
    (multiprocessing's forkserver): a notebook then starts in about 1 s instead
    of 8. The child starts from a fresh interpreter's state (the forkserver is
    one, started with this process's environment), not from this test
    process's; its stdout and stderr go to the output file."""
    import multiprocessing

    os.environ.setdefault("MPLBACKEND", "Agg")  # read when the server imports pyplot
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)

    def start(path, cwd, env):
        log = os.path.join(cwd, "output.txt")
        code = _SCRIPT_IN_CHILD.format(log=log, cwd=str(cwd), env=env, path=str(path))
        process = context.Process(target=exec, args=(code, {}))
        process.start()
        return process, log

    return start


@pytest.fixture(scope="session")
def run_script(start_script):
    """``run_script(path, cwd, env, timeout) -> (exit code, output)``: the
    script run to its end by ``start_script`` (killed after ``timeout`` s)."""

    def run(path, cwd, env, timeout):
        process, log = start_script(path, cwd, env)
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
        with open(log) as output:
            return process.exitcode, output.read()

    return run
