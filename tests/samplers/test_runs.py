"""Runs that reload: save → `load_run` in a fresh process → `predict`, and a
model that differs from the run's is refused, naming what differs."""

import json
import textwrap

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import samplers

# The model, built the same way here and in the fresh process.
MODEL = textwrap.dedent(
    """
    import jax.numpy as jnp, jax.random as jr
    import posterior

    def build(lam=2.0, width=4, answers=None):
        net = posterior.TwoHeadMLP(3, 4, width=width, depth=1, key=jr.key(0))
        inputs = jr.normal(jr.key(2), (40, 3))
        if answers is None:
            answers = jnp.argmax(inputs @ jr.normal(jr.key(4), (3, 4)), axis=-1)
        return posterior.TwoStageModel(
            net,
            agreement_inputs=jr.normal(jr.key(1), (10, 3)),
            answer_inputs=inputs,
            answers=answers,
            lam=lam,
            sigma1=1.0,
            sigma2=0.1,
        )
    """
)
_namespace = {}
exec(MODEL, _namespace)
build = _namespace["build"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = build()
    # test_predict.py's call (other data and key): its compiled program serves.
    tree = samplers.sample(
        model,
        key=jr.key(3),
        method="nuts",
        baseline="single_head",
        num_chains=2,
        num_warmup=200,
        num_samples=100,
        predict_inputs=jr.normal(jr.key(3), (7, 3)),
        progress=False,
    )
    path = tmp_path_factory.mktemp("run") / "run.nc"
    tree.to_netcdf(path)
    return model, tree, path


def test_a_run_carries_what_rebuilds_it(saved):
    model, tree, _ = saved
    attrs = tree.attrs
    assert attrs["schema_version"] == 1
    assert set(json.loads(attrs["versions"])) == {"two-stage-posterior", "jax"}
    settings = json.loads(attrs["settings"])
    assert settings["key"]["data"] == np.asarray(jr.key_data(jr.key(3))).tolist()
    assert settings["method"] == "nuts" and settings["baseline"] == "single_head"
    for name, value in model.fingerprint().items():
        assert attrs[f"model_{name}"] == value, name
    assert attrs["model_network"] == "posterior.networks.TwoHeadMLP"
    assert attrs["model_likelihood"] == "Categorical()"
    np.testing.assert_array_equal(
        tree.constant_data["theta0"].values, np.asarray(model.theta0)
    )


def test_predict_after_load_run_in_a_fresh_process(saved, tmp_path, run_script):
    model, tree, path = saved
    inputs = np.asarray(jr.normal(jr.key(7), (5, 3)))
    expected = samplers.predict(tree, model, inputs).predictions["intended"].values
    np.save(tmp_path / "inputs.npy", inputs)
    # The run was made in float64 (tests/conftest.py): so is its rebuild, or
    # load_run refuses it (the layout's dtypes and the data's hashes differ).
    script = "import jax; jax.config.update('jax_enable_x64', True)\n" + MODEL
    script += textwrap.dedent(
        f"""
        import numpy as np
        import samplers
        tree = samplers.load_run({str(path)!r}, build())
        inputs = np.load({str(tmp_path / "inputs.npy")!r})
        out = samplers.predict(tree, build(), inputs)
        np.save({str(tmp_path / "out.npy")!r}, out.predictions["intended"].values)
        """
    )
    (tmp_path / "rebuild.py").write_text(script)
    exit_code, output = run_script(tmp_path / "rebuild.py", tmp_path, {}, timeout=120)
    assert exit_code == 0, output[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"lam": 3.0}, "lam: run 2.0, model 3.0"),
        ({"width": 5}, "network_layout: .*num_params: run 56, model 68"),
        ({"answers": jnp.zeros(40, int)}, "answers: run"),
    ],
    ids=["lam", "network", "data"],
)
def test_another_model_is_refused_naming_what_differs(saved, changes, named):
    _, _, path = saved
    with pytest.raises(ValueError, match=f"`model` is not the model .*{named}"):
        samplers.load_run(path, build(**changes))


def test_a_file_that_is_no_run_is_refused(saved, tmp_path):
    _, tree, _ = saved
    other = tree.copy()
    other.attrs = {**tree.attrs, "schema_version": 99}
    other.to_netcdf(tmp_path / "future.nc")
    with pytest.raises(ValueError, match="schema 99; this version reads schema 1"):
        samplers.load_run(tmp_path / "future.nc", build())
    bare = tree.copy()
    bare.attrs = {}
    bare.to_netcdf(tmp_path / "bare.nc")
    with pytest.raises(ValueError, match="no run of samplers.sample"):
        samplers.load_run(tmp_path / "bare.nc", build())
    with pytest.raises(FileNotFoundError, match="`path`"):
        samplers.load_run(tmp_path / "missing.nc", build())
