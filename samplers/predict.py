"""`predict`: the intended head on new inputs, at every stored θ₂ draw of a run."""

import jax
import jax.numpy as jnp
import numpy as np

from samplers import _checks
from samplers.programs import filter_jit
from samplers.record import inputs_as_data
from samplers.target import check_model

__all__ = ["predict"]


def predict(tree, model, inputs, *, draws_per_batch: int = 256):
    """The intended head's outputs on ``inputs`` at each θ₂ draw of ``tree``,
    after the run (as numpyro's ``Predictive`` gives them from its samples).

    Args:
        tree: a DataTree from :func:`samplers.sample` whose posterior holds every
            coordinate of θ₂ (by default, runs of at most ``max_full_params``
            parameters; pass a larger ``max_full_params`` otherwise).
        model: the model of that run (its network and shapes).
        inputs: a batch of the network's inputs (leading axis).
        draws_per_batch: draws evaluated at once, to bound memory.

    Returns:
        A DataTree with a ``predictions`` group, variable ``intended`` of dims
        ``(chain, draw, new_input, ...)`` and, where the likelihood has them,
        ``probabilities`` (class probabilities ``(..., new_input, class)``, or
        P(answer = 1)), and a ``predictions_constant_data`` group holding the
        inputs, as ArviZ lays out predictions.

    Example:
        The intended head on three inputs, at each of 2 × 10 draws.

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
        >>> new = samplers.predict(tree, case.model, case.model.answer_inputs[:3])
        >>> new.predictions["intended"].dims[:3]
        ('chain', 'draw', 'new_input')
    """
    check_model(model)
    if inputs is None:
        raise ValueError("`inputs` must be a batch of inputs (leading axis).")
    _checks.predict_inputs(inputs, model, name="inputs")
    draws_per_batch = _checks.count(draws_per_batch, "draws_per_batch")
    theta2 = _stored_theta2(tree, int(model.num_params))
    chains, draws, dim = theta2.shape
    flat = theta2.reshape(chains * draws, dim)

    parts = [
        jax.device_get(
            _outputs(model, inputs, jnp.asarray(flat[start : start + draws_per_batch]))
        )
        for start in range(0, flat.shape[0], draws_per_batch)
    ]
    outputs = {
        name: np.concatenate([p[name] for p in parts]).reshape(
            chains, draws, *parts[0][name].shape[1:]
        )
        for name in parts[0]
    }
    return _as_tree(tree, outputs, inputs)


def _as_tree(tree, outputs, inputs):
    import xarray as xr

    posterior = tree.posterior
    num_inputs = outputs["intended"].shape[2]
    coords = {
        "chain": posterior["chain"].values,
        "draw": posterior["draw"].values,
        "new_input": np.arange(num_inputs),
    }
    # Named as sample's predictions group names them (samplers.record).
    classes = ["class"] if "probabilities" in outputs else []
    variables = {}
    for name, values in outputs.items():
        extra = classes[: values.ndim - 3]
        extra += [f"{name}_dim_{i}" for i in range(len(extra), values.ndim - 3)]
        variables[name] = (["chain", "draw", "new_input", *extra], values)
    groups = {"predictions": xr.Dataset(variables, coords=coords)}
    # One array of inputs is kept beside the predictions, as sample keeps it.
    data = inputs_as_data(inputs, "inputs")
    if data is not None:
        groups["predictions_constant_data"] = xr.Dataset(
            {"inputs": (["new_input", "input_dim"], data["inputs"])},
            coords={"new_input": coords["new_input"]},
        )
    return xr.DataTree.from_dict(groups)


@filter_jit
def _outputs(model, inputs, thetas):
    # The model as an argument: a model of the same shapes finds the program
    # (samplers.programs).
    probabilities_fn = getattr(model, "probabilities", lambda *_: None)

    def one(theta):
        out = {"intended": model.intended(theta, inputs)}
        probabilities = probabilities_fn(theta, inputs)
        if probabilities is not None:
            out["probabilities"] = probabilities
        return out

    return jax.vmap(one)(thetas)


def _stored_theta2(tree, num_params: int) -> np.ndarray:
    """θ₂'s draws ``(chain, draw, num_params)``, in the model's coordinate order;
    an error naming what is missing when the run kept only some coordinates."""
    try:
        variable = tree.posterior["theta2"]
    except (AttributeError, KeyError) as error:
        raise ValueError(
            "`tree` holds no posterior θ₂: pass the DataTree that "
            "samplers.sample returned."
        ) from error
    stored = np.asarray(variable["param"].values)
    if stored.shape != (num_params,) or not np.array_equal(
        stored, np.arange(num_params)
    ):
        raise ValueError(
            f"`tree` stores {stored.size} of the model's {num_params} θ₂ "
            "coordinates, and predict needs them all: sample again with "
            f"max_full_params={num_params} (or param_indices=None and "
            "max_full_params at least the model's size)."
        )
    return np.asarray(variable.values)
