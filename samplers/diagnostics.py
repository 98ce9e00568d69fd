"""Turning recorded draws into ArviZ objects (an xarray DataTree, ArviZ 1.x).

This is the only module of the package that imports ArviZ; it is never called
inside traced code.
"""

import warnings
from collections.abc import Mapping

import numpy as np

__all__ = ["to_inference_data"]

_SWAPPED_AXES = "Found chain dimension to be longer than draw dimension"


def to_inference_data(
    posterior: Mapping[str, np.ndarray],
    *,
    sample_stats: Mapping[str, np.ndarray] | None = None,
    log_likelihood: Mapping[str, np.ndarray] | None = None,
    posterior_predictive: Mapping[str, np.ndarray] | None = None,
    observed_data: Mapping[str, np.ndarray] | None = None,
    constant_data: Mapping[str, np.ndarray] | None = None,
    predictions: Mapping[str, np.ndarray] | None = None,
    predictions_constant_data: Mapping[str, np.ndarray] | None = None,
    coords: Mapping[str, np.ndarray] | None = None,
    dims: Mapping[str, list[str]] | None = None,
    attrs: Mapping[str, object] | None = None,
    thinned_groups: Mapping[str, tuple[Mapping[str, np.ndarray], np.ndarray]]
    | None = None,
):
    """Build a DataTree from ``(chain, draw, ...)`` arrays.

    Args:
        posterior: variables of the posterior group.
        sample_stats: per-draw diagnostics (acceptance, step size, ...).
        log_likelihood: pointwise log-likelihood, ``(chain, draw, num_answers)``.
        posterior_predictive: answers drawn at each draw, ``(chain, draw, ...)``.
        observed_data: the observed answers (no chain or draw axis).
        constant_data: the answers' inputs (no chain or draw axis).
        predictions: predictions for new inputs, ``(chain, draw, ...)``.
        predictions_constant_data: the new inputs.
        coords, dims: ArviZ coordinates and dimension names.
        attrs: attributes of the whole tree (method, whether approximate, ...).
        thinned_groups: extra groups recorded at some draws only, each as
            ``(variables, draw_indices)``; their ``draw`` coordinate holds the
            indices, so they line up with the posterior's draws.
    """
    import arviz as az

    groups = {"posterior": _numpy(posterior)}
    for name, group in [
        ("sample_stats", sample_stats),
        ("log_likelihood", log_likelihood),
        ("posterior_predictive", posterior_predictive),
        ("observed_data", observed_data),
        ("constant_data", constant_data),
        ("predictions", predictions),
        ("predictions_constant_data", predictions_constant_data),
    ]:
        if group:
            groups[name] = _numpy(group)
    for name in (n for group in groups.values() for n in group):
        if "/" in name:
            raise ValueError(f"Variable names must not contain '/': {name!r}.")
    tree_attrs = None
    if attrs:
        # NetCDF attributes must be strings or numbers.
        clean = {
            k: v if isinstance(v, int | float | str) else str(v)
            for k, v in attrs.items()
        }
        tree_attrs = {"/": clean, **{group: clean for group in groups}}
    with warnings.catch_warnings():
        # ArviZ guesses that the axes are swapped when there are more chains
        # than draws; here the first two axes are chain and draw by contract,
        # and a log Z record every 500 draws of 4 chains is (4, 2).
        warnings.filterwarnings("ignore", message=_SWAPPED_AXES, category=UserWarning)
        # The predictions groups take their dims and coords from
        # pred_dims/pred_coords.
        tree = az.from_dict(
            groups,
            coords=coords,
            dims=dims,
            pred_dims=dims,
            pred_coords=coords,
            attrs=tree_attrs,
        )
        for name, (variables, draws) in (thinned_groups or {}).items():
            extra = az.from_dict(
                {"posterior": _numpy(variables)}, coords={"draw": np.asarray(draws)}
            )
            tree[name] = extra["posterior"]
    return tree


def _numpy(group: Mapping[str, object]) -> dict[str, np.ndarray]:
    return {name: np.asarray(value) for name, value in group.items()}
