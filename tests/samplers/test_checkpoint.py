"""Checkpoints: a killed run resumes to the draws of an uninterrupted one.

The runs of ``sample`` use SGLD on a d = 2 linear-Gaussian case; compiling
dominates, so there are three: an uninterrupted reference, a run SIGKILLed in a
process of its own and its resumption. A toy random walk whose records draw from
their keys tests ``run_chains`` directly and cheaply: checkpoint counts, extending a
finished run, the progress bar.
"""

import os
import signal
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import posterior
import samplers
from samplers import checkpoint as checkpoints
from samplers import gibbs, scout, stochastic
from samplers.run import run_chains

# Runs this short have not converged, and sample says so; that is not under test.
pytestmark = pytest.mark.filterwarnings("ignore::samplers.SamplingWarning")

SEED = 1
# Plain values, so that the killed process can be given the same run.
SETTINGS = dict(
    method="sgld",
    num_chains=2,
    num_warmup=10,
    num_inner=4,
    log_partition_every=0,
    progress=False,
)
NUM_SAMPLES = 30
CASE_ARGUMENTS = "d=2, m=2, n=4, lam=1.0, sigma1=1.0, sigma2=0.5"


def _case():
    return posterior.LinearGaussianCase.random(
        jr.key(0), d=2, m=2, n=4, lam=1.0, sigma1=1.0, sigma2=0.5
    )


def _sample(model, **kwargs):
    return samplers.sample(model, **(SETTINGS | {"key": jr.key(SEED)} | kwargs))


def _arrays(tree, num_draws=None):
    """Every recorded array of a DataTree, by group and name."""
    out = {}
    for node in tree.subtree:
        for name, variable in node.data_vars.items():
            values = variable.values
            if num_draws is not None and variable.dims[:2] == ("chain", "draw"):
                values = values[:, :num_draws]
            out[f"{node.path}/{name}"] = values
    return out


def _assert_same_draws(tree, reference, *, rtol=0.0):
    num_draws = tree.posterior.sizes["draw"]
    got, want = _arrays(tree), _arrays(reference, num_draws)
    assert got.keys() == want.keys()
    for name, values in want.items():
        np.testing.assert_allclose(got[name], values, rtol=rtol, atol=0, err_msg=name)


@pytest.fixture(scope="module")
def model():
    return _case().model


@pytest.fixture(scope="module")
def reference(model):
    """The uninterrupted run of NUM_SAMPLES draws."""
    return _sample(model, num_samples=NUM_SAMPLES)


_KILLED_RUN = """
import os, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.random as jr
import posterior, samplers

replace = os.replace
writes = []

def hang_on_the_second_write(source, target):
    writes.append(target)
    if len(writes) == 2:
        # The second checkpoint is written to its .partial file but not yet
        # renamed: tell the parent, which kills this process here.
        print("writing", flush=True)
        time.sleep(600)
    replace(source, target)

os.replace = hang_on_the_second_write
case = posterior.LinearGaussianCase.random(jr.key(0), {case})
samplers.sample(
    case.model, key=jr.key({seed}), num_samples={num_samples},
    checkpoint={path!r}, checkpoint_every=5, **{settings!r}
)
print("finished", flush=True)
"""


@pytest.fixture(scope="module")
def killed(tmp_path_factory, start_script):
    """The checkpoint of a run of half the draws (a process of its own),
    SIGKILLed while writing its second checkpoint."""
    folder = tmp_path_factory.mktemp("killed")
    path = folder / "run.ckpt"
    script = folder / "killed.py"
    script.write_text(
        _KILLED_RUN.format(
            case=CASE_ARGUMENTS,
            seed=SEED,
            num_samples=NUM_SAMPLES // 2,
            path=str(path),
            settings=SETTINGS,
        )
    )
    process, output = start_script(script, folder, {})
    # The run says when it hangs in its second write; one that never does is
    # killed after 300 s, and the test then fails.
    deadline = time.monotonic() + 300
    while process.is_alive() and time.monotonic() < deadline:
        if os.path.exists(output) and "writing" in Path(output).read_text():
            break
        time.sleep(0.05)
    process.kill()
    process.join()
    text = Path(output).read_text()
    assert "writing" in text, text[-3000:]
    assert process.exitcode == -signal.SIGKILL
    return path


@pytest.fixture(scope="module")
def resumed(killed, model):
    """The killed run resumed, past its own end to NUM_SAMPLES draws, with
    checkpoints: its tree and its file."""
    # Killed mid-write: the first checkpoint (5 of the 10 warm-up draws) is
    # whole, the second only in its .partial file.
    assert checkpoints.load(killed).num_draws_done == 5
    assert os.path.exists(f"{killed}.partial")
    tree = _sample(
        model,
        num_samples=NUM_SAMPLES,
        resume=killed,
        checkpoint=killed,
        checkpoint_every=5,
    )
    return tree, killed


def test_a_killed_run_resumes_to_the_uninterrupted_draws(resumed, reference):
    tree, path = resumed
    # Resumed mid-warm-up and run to twice the killed run's length: the draws
    # of one uninterrupted run (those of a run do not depend on its length).
    _assert_same_draws(tree, reference, rtol=1e-12)
    assert tree.posterior.sizes["draw"] == NUM_SAMPLES
    stored = checkpoints.load(path)
    assert stored.num_draws_done == 10 + NUM_SAMPLES
    assert stored.records[0].shape[1] == stored.num_draws_done
    assert not os.path.exists(f"{path}.partial")
    # Plain arrays only: the file loads without unpickling anything.
    with np.load(path, allow_pickle=False) as archive:
        assert "meta" in archive.files


def _truncated(path, target):
    data = path.read_bytes()
    target.write_bytes(data[: len(data) // 2])


def _corrupt(path, target):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # in the stored arrays, under zip's CRC-32
    target.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, match",
    [(_truncated, "truncated, corrupt"), (_corrupt, "Bad CRC-32")],
)
def test_a_damaged_checkpoint_is_refused_naming_its_path(
    resumed, model, tmp_path, damage, match
):
    _, path = resumed
    damaged = tmp_path / "damaged.ckpt"
    damage(path, damaged)
    with pytest.raises(checkpoints.CheckpointError, match=match) as caught:
        _sample(model, num_samples=NUM_SAMPLES, resume=damaged)
    assert str(damaged) in str(caught.value)


def _compiling(*args, **kwargs):
    raise AssertionError("the checkpoint was not refused before compiling")


class _Resized:
    """The model with θ₀ of another size (the checkpoint is refused before any
    of its functions runs, and building a real one costs seconds)."""

    def __init__(self, model, num_params):
        self._model = model
        self.num_params = num_params
        self.theta0 = jnp.zeros(num_params)

    def __getattr__(self, name):
        return getattr(self._model, name)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(num_chains=3), r"`num_chains` is 2 in the checkpoint, 3 now"),
        # num_inner=None: HMC refuses a setting of SGLD's inner chains.
        (
            dict(method="hmc", num_inner=None),
            r"`method` is \"sgld\" in the checkpoint, \"hmc\" now",
        ),
        (dict(d=3), r"`model.num_params` is 2 in the checkpoint, 3 now"),
        (dict(key=jr.key(2)), r"`key` is"),
        (dict(num_warmup=20), r"`num_warmup` is 10"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused_naming_the_difference(
    resumed, model, change, match, monkeypatch
):
    _, path = resumed
    change = dict(change)
    if "d" in change:
        model = _Resized(model, change.pop("d"))
    # Refused before the set-up of the chains, the first thing that compiles.
    monkeypatch.setattr(scout, "check_exchange_cost", _compiling)
    monkeypatch.setattr(gibbs, "setup", _compiling)
    monkeypatch.setattr(stochastic, "setup", _compiling)
    with pytest.raises(checkpoints.CheckpointError, match=match):
        _sample(model, num_samples=NUM_SAMPLES, resume=path, **change)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(resume="no/such/file.ckpt"), FileNotFoundError, "no/such/file"),
        (dict(checkpoint="no/such/folder/run.ckpt"), FileNotFoundError, "folder"),
        (dict(checkpoint_every=5), ValueError, "needs a `checkpoint`"),
        (dict(checkpoint="run.ckpt", checkpoint_every=0), ValueError, "at least 1"),
        (dict(resume=3), TypeError, "file path"),
    ],
)
def test_bad_checkpoint_arguments_raise_before_compiling(model, kwargs, error, match):
    with pytest.raises(error, match=match):
        _sample(model, num_samples=NUM_SAMPLES, **kwargs)


def _walk_step(key, state, index):
    position, key_state = state
    position = position + jr.normal(key, position.shape, position.dtype)
    # A typed key in the state, as a sampler's may hold, must survive a reload.
    return (position, jr.fold_in(key_state, index)), jnp.mean(position)


def _walk_record(key, state, info, draw):
    # The record draws from its key: resumed or extended, it must be the same.
    return {"position": state[0], "noise": jr.normal(key), "mean": info}


def _walk(num_draws, **kwargs):
    states = (jnp.zeros((3, 2)), jr.split(jr.key(5), 3))
    arguments = dict(key=jr.key(1), record_fn=_walk_record, thin=2, progress=False)
    final, records, _ = run_chains(
        _walk_step, states, num_steps=2 * num_draws, **(arguments | kwargs)
    )
    return final, jax.tree.map(np.asarray, records)


def test_a_finished_run_extends_to_the_longer_run(tmp_path, monkeypatch, capsys):
    final, reference = _walk(25)
    written = []
    save = checkpoints.save

    def counting_save(path, states, records, **kwargs):
        written.append(kwargs["num_draws_done"])
        save(path, states, records, **kwargs)

    monkeypatch.setattr(checkpoints, "save", counting_save)
    path = tmp_path / "walk.ckpt"
    _, short = _walk(10, checkpoint=path, checkpoint_every=3)
    # checkpoint_every counts draws; the last chunk runs past the 10 asked for.
    assert written == [3, 6, 9, 12]
    # Records drawn from their keys do not depend on the run's length.
    for name, values in short.items():
        np.testing.assert_array_equal(values, reference[name][:, :10], err_msg=name)

    extended_final, extended = _walk(25, resume=path, progress=True)
    for name, values in extended.items():
        np.testing.assert_array_equal(values, reference[name], err_msg=name)
    np.testing.assert_array_equal(jr.key_data(extended_final[1]), jr.key_data(final[1]))
    # The bar starts where the checkpoint stopped: 12 draws of 2 steps.
    assert "24/50" in capsys.readouterr().err

    # States of another shape: refused, naming the leaf (after a trace only).
    with pytest.raises(checkpoints.CheckpointError, match=r"states leaf \[0\]"):
        run_chains(
            _walk_step,
            (jnp.zeros((3, 5)), jr.split(jr.key(5), 3)),
            key=jr.key(1),
            num_steps=50,
            record_fn=_walk_record,
            thin=2,
            progress=False,
            resume=path,
        )
