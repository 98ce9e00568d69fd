# %% [markdown]
# # Diagnostics and long runs
#
# A run that is too short, what its warnings say, and how to fix it without
# starting again: a checkpointed run extended to more draws, saved, reloaded
# and used for predictions. Then the one check that SGLD and SGHMC add, on
# their inner particles. The model is the README's linear-Gaussian case, whose
# exact posterior sits beside the draws. Set `SMOKE=1` to shrink every run (CI
# does); the prose describes the full-size runs.

# %%
import os
import tempfile
import warnings

import jax

jax.config.update("jax_enable_x64", True)
import arviz as az  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402

SMOKE = bool(os.environ.get("SMOKE"))
SHORT, LONG = (40, 120) if SMOKE else (100, 4000)
EVERY = 20 if SMOKE else 100  # draws between checkpoints
folder = tempfile.mkdtemp()

case = posterior.LinearGaussianCase.random(
    jr.key(0), d=3, m=2, n=8, lam=1.0, sigma1=1.0, sigma2=0.5
)
model = case.model
exact_mean, exact_cov = case.posterior_mean_cov()

# %% [markdown]
# ## A run too short to trust
# Every run ends with `samplers.diagnose`, which warns once per problem. The
# checks read only scalar summaries (C(θ₂), L(θ₂) and the recorded log Z),
# which are invariant to a network's symmetries. The run writes a checkpoint as
# it goes, so that it can be continued later.

# %%
path = os.path.join(folder, "run.ckpt")
run = dict(
    key=jr.key(1),
    method="nuts",
    num_warmup=SHORT,
    checkpoint=path,
    checkpoint_every=EVERY,
    progress=False,
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    short = samplers.sample(model, num_samples=SHORT, **run)
for warning in caught:
    print(f"{warning.category.__name__}: {str(warning.message)[:160]}…")
report = samplers.diagnose(short)
print("ok:", report.ok)
print({name: round(value, 3) for name, value in report.rhat.items()})

# %% [markdown]
# At full size, 4 chains of 100 draws gave R-hat 1.08 for C and 1.13 for the
# recorded log Z, and a bulk ESS of 46 for C where the check wants 100 per
# chain: a `ConvergenceWarning`. What it suggests, in the order to try them:
#
# - **more draws**, which a checkpoint gives without redoing the first ones
#   (below);
# - **a start from the MAP** (`init="map"`, or `init=samplers.find_map(...)`)
#   when the chains spend their warm-up travelling from θ₀, as a network's do;
# - **more chains**, so that R-hat can see a chain that is stuck.
#
# A divergent trajectory, a NaN, a recorded log Z with a poor ESS or a large
# standard error, and an exchange move that missed its cap each give a
# `SamplingWarning` of their own (docs/long_runs.md lists them all).

# %% [markdown]
# ## Extending the run from its checkpoint
# `resume` with a larger `num_samples` continues the chains where they stopped.
# The result is the longer run that would have been drawn in one go: the first
# draws are the short run's, to the last bit.

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    long = samplers.sample(model, num_samples=LONG, resume=path, **run)
print(f"{len(caught)} warning(s)")
first = long.posterior["theta1"].values[:, :SHORT]
print("first draws unchanged:", np.array_equal(first, short.posterior["theta1"].values))
report = samplers.diagnose(long)
print("ok:", report.ok)
summary = az.summary(long, var_names=["theta1"], kind="all")
summary["exact mean"] = np.asarray(exact_mean[:3])
summary["exact sd"] = np.sqrt(np.diag(np.asarray(exact_cov))[:3])
summary[["mean", "mcse_mean", "exact mean", "sd", "exact sd", "ess_bulk", "r_hat"]]

# %% [markdown]
# At full size, 4 chains of 4,000 draws passed every check (R-hat at most
# 1.003, bulk ESS 1,100–3,300 for C, L and log Z), and θ₁'s means were within
# 1.6 Monte Carlo standard errors (`mcse_mean`) of the exact ones. Compare a
# mean with its MCSE, not with the sd: the MCSE is how far a mean of these
# draws may be from the truth by chance. Half as many draws were not quite
# enough: at 2,000, the recorded log Z still had R-hat 1.011 and the run
# warned. The fix was the same again: resume with a larger `num_samples`.
#
# The rank plot is the picture to look at: uniform ranks in every chain mean
# the chains agree.

# %%
az.plot_rank(long, var_names=["disagreement", "log_likelihood_total"])

# %% [markdown]
# ## Saving, reloading and predicting
# A finished run is a DataTree, saved as ArviZ saves any. `load_run` reads it
# back checked against the model (it names every difference if the model was
# rebuilt differently), ready for `predict`. Where each second went is in the
# attributes.

# %%
saved = os.path.join(folder, "run.nc")
long.to_netcdf(saved)
again = samplers.load_run(saved, model)
new = samplers.predict(again, model, model.answer_inputs[:2])
print(new.predictions["intended"].dims, new.predictions["intended"].shape)
{
    name: round(again.attrs[name], 2)
    for name in ("setup_time", "compile_time", "sampling_time")
}

# %% [markdown]
# ## SGLD and SGHMC: the inner particles
# SG-MCMC moves θ₁ with ∇log Z estimated from a few persistent inner particles
# per chain. Their effective number, `sample_stats.inner_ess`, must stay a
# fair share of `num_inner`: below 10% on average, `sample` warns that ∇log Z
# comes from a particle or two. The fixes are more inner particles
# (`num_inner`) and more inner steps per step (`num_inner_steps`).

# %%
# SMOKE's sizes are those of the docstring examples, whose compiled programs
# the test suite then shares.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    sgld = samplers.sample(
        model,
        key=jr.key(2),
        method="sgld",
        num_chains=2 if SMOKE else 4,
        num_warmup=30 if SMOKE else 500,
        num_samples=10 if SMOKE else 500,
        init="theta0",
        log_partition_every=5,
        log_partition_particles=8,
        progress=False,
    )
inner_ess = sgld.sample_stats["inner_ess"]
print(f"inner ESS: mean {float(inner_ess.mean()):.1f} of {sgld.attrs['num_inner']}")
print([warning.category.__name__ for warning in caught])

# %% [markdown]
# At full size the inner ESS was 11.7 of the 16 particles: agreement is not
# rare at λ = 1, so they weigh about the same. Where it is rare (a large λ, a
# network) the same numbers fall, and the warning says so. The run's only
# warning was about convergence: 4 × 500 SGLD draws are too few here, and the
# fixes above apply to SGLD as they do to NUTS.
