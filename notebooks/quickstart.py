# %% [markdown]
# # Quickstart: a two-head network under the agreement prior
#
# A small categorical task: the intended head answers, the instrumental head
# predicts the labeller, and the prior asks them to agree on a trusted set S.
# We estimate the bits saved at the initialisation, find the MAP, and sample the
# posterior with nested SGLD. Set `SMOKE=1` to shrink every run (CI does).

# %%
import os

import jax

jax.config.update("jax_enable_x64", True)
import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402

SMOKE = bool(os.environ.get("SMOKE"))
num_samples = 40 if SMOKE else 1000
num_particles = 64 if SMOKE else 512  # AIS particles for log Z

# %% [markdown]
# ## Data and model
# Inputs in ℝ⁴; answers in 0..2 from a fixed random rule.

# %%
key_net, key_s, key_d, key_rule = jr.split(jr.key(0), 4)
rule = jr.normal(key_rule, (4, 3))
agreement_inputs = jr.normal(key_s, (64, 4))
answer_inputs = jr.normal(key_d, (128, 4))
answers = jnp.argmax(answer_inputs @ rule, axis=1)

net = posterior.TwoHeadMLP(4, 3, width=8, depth=1, key=key_net)
model = posterior.TwoStageModel(
    net,
    agreement_inputs=agreement_inputs,
    answer_inputs=answer_inputs,
    answers=answers,
    likelihood="categorical",
    divergence="kl",
    lam=20.0,
    sigma1=1.0,
    sigma2=0.1,
)
print(
    f"{model.num_params} parameters; C(θ₀) = {float(model.disagreement(model.theta0)):.4f}"
)

# %% [markdown]
# ## Bits saved at θ₀
# AIS from N(θ₀, σ₂²) to the conditioned prior.

# %%
result = samplers.log_partition(
    model.disagreement,
    model.theta0,
    lam=model.lam,
    sigma=model.sigma2,
    key=jr.key(1),
    method="ais",
    num_particles=num_particles,
)
print(
    f"log Z(θ₀) ≈ {float(result.log_z):.3f} nats = {float(result.bits_saved):.2f} bits saved"
)
print(f"{int(result.num_temperatures)} temperatures, ESS {float(result.ess):.0f}")

# %% [markdown]
# ## MAP, then posterior samples

# %%
fit = samplers.find_map(
    model,
    key=jr.key(2),
    num_steps=100 if SMOKE else 2000,
    num_inner=16,
    log_partition_particles=num_particles,
)
print(
    f"MAP: log joint {float(fit.log_joint):.2f}, bits saved {float(fit.bits_saved):.2f}"
)

tree = samplers.sample(
    model,
    key=jr.key(3),
    method="sgld",
    num_chains=2 if SMOKE else 4,
    num_samples=num_samples,
    num_warmup=num_samples,
    step_size=1e-5,
    batch_size=32,
    param_indices=jnp.arange(0, model.num_params, 10),
    log_partition_every=num_samples // 2,
    predict_inputs=answer_inputs[:5],
)
az.summary(tree, var_names=["disagreement", "log_likelihood_total"])

# %% [markdown]
# The trace of the disagreement and of the likelihood: a picture of mixing.

# %%
az.plot_trace_dist(tree, var_names=["disagreement", "log_likelihood_total"])
