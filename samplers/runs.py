"""Runs that reload: what ``sample`` writes into a tree to rebuild its
posterior, and :func:`load_run`, which checks a model against it.

A tree saved with ``tree.to_netcdf(path)`` carries, in its attributes: a
schema version, the package and JAX versions, the settings that change the
draws (the key, the method's settings, the start) as JSON, and the model's
fingerprint (``model_*``: the network's class and layout hash, λ, σ₁, σ₂, the
divergence and likelihood, and hashes of θ₀ and the data). θ₀ itself is in
``constant_data``.
"""

import json
import os

import numpy as np

from samplers import checkpoint

__all__ = ["SCHEMA_VERSION", "load_run", "run_attributes"]

#: The layout of the attributes above; a run of another version is refused.
SCHEMA_VERSION = 1


def fingerprint(model) -> dict:
    """``model.fingerprint()``, or for a model with only the plain functions
    (see :mod:`samplers.target`) its sizes, scales and a hash of θ₀."""
    if hasattr(model, "fingerprint"):
        return dict(model.fingerprint())
    described = checkpoint.describe_settings(model)
    return {name.removeprefix("model."): value for name, value in described.items()}


def run_attributes(model, settings: dict) -> dict:
    """The attributes that let :func:`load_run` check a model against a run."""
    return {
        "schema_version": SCHEMA_VERSION,
        "versions": json.dumps(checkpoint.versions()),
        "settings": json.dumps(settings),
        **{f"model_{name}": value for name, value in fingerprint(model).items()},
    }


def load_run(path, model):
    """A tree saved by ``tree.to_netcdf(path)`` after :func:`samplers.sample`,
    checked against ``model``, ready for :func:`samplers.predict`.

    Args:
        path: the NetCDF file.
        model: the model of that run, rebuilt (same network layout, λ, σ₁,
            σ₂, divergence, likelihood, θ₀ and data).

    Raises:
        ValueError: the file is not such a run, was written under another
            schema, or the model differs from the run's; the message names
            every difference.

    Example:
        >>> import jax.random as jr
        >>> import posterior, samplers
        >>> case = posterior.LinearGaussianCase.random(
        ...     jr.key(0), d=3, m=2, n=8, lam=1.0, sigma1=1.0, sigma2=0.5
        ... )
        >>> tree = samplers.sample(
        ...     case.model, key=jr.key(1), method="sgld", num_chains=2,
        ...     num_warmup=30, num_samples=10, init="theta0",
        ...     log_partition_every=5, log_partition_particles=8, progress=False,
        ... )
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "run.nc")
        >>> tree.to_netcdf(path)
        >>> samplers.load_run(path, case.model).posterior["theta1"].shape
        (2, 10, 3)
    """
    import arviz as az

    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"`path` must be a file path, got {type(path).__name__}.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`path`: no file {os.fspath(path)!r}.")
    tree = az.from_netcdf(path)
    version = tree.attrs.get("schema_version")
    if version is None:
        raise ValueError(
            f"`path` {os.fspath(path)!r} holds no run of samplers.sample (no "
            "schema_version attribute)."
        )
    if int(version) != SCHEMA_VERSION:
        raise ValueError(
            f"`path` {os.fspath(path)!r} was written under run schema {version}; "
            f"this version reads schema {SCHEMA_VERSION} "
            f"(written by {tree.attrs.get('versions', 'unknown versions')})."
        )
    differences = []
    for name, value in fingerprint(model).items():
        stored = tree.attrs.get(f"model_{name}")
        stored = stored.item() if isinstance(stored, np.generic) else stored
        if not _same(stored, value):
            differences.append(f"{name}: run {stored!r}, model {value!r}")
    if differences:
        raise ValueError(
            "`model` is not the model of the run in "
            f"{os.fspath(path)!r}: " + "; ".join(differences) + "."
        )
    return tree


def _same(stored, value) -> bool:
    if isinstance(value, float) and stored is not None:
        return bool(np.isclose(float(stored), value, rtol=1e-12, atol=0.0))
    if isinstance(value, bool | int) and stored is not None:
        return int(stored) == int(value)
    return stored == value
