"""The ArviZ conversion of recorded draws (`samplers.diagnostics`)."""

import warnings

import numpy as np

from samplers.diagnostics import to_inference_data


def test_a_thinned_group_lines_up_with_the_draws_without_a_warning():
    # 4 chains with a log Z record every 500 of 1000 draws: more chains than
    # records, which ArviZ takes for swapped axes unless told otherwise.
    rng = np.random.default_rng(0)
    log_z = rng.normal(size=(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tree = to_inference_data(
            {"disagreement": rng.normal(size=(4, 3))},
            thinned_groups={"log_partition": ({"log_partition": log_z}, [0, 500])},
        )
    np.testing.assert_array_equal(tree["posterior"]["disagreement"].shape, (4, 3))
    group = tree["log_partition"]["log_partition"]
    assert group.dims == ("chain", "draw")
    np.testing.assert_array_equal(group["draw"].values, [0, 500])
    np.testing.assert_array_equal(group.values, log_z)
