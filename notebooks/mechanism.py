# %% [markdown]
# # The mechanism, exactly: when does conditioning on agreement make a head honest?
#
# A two-parameter world (docs/mechanism.md) small enough to solve by
# quadrature, with no sampler in the way: θ = (a, h), where `a` is the intended
# head's translator weight (a = 1 reports the truth, a = 0 copies the human
# model) and `h` the world model's human parameter. The heads must agree on S
# (C(θ) = ½ a² (1 − h)²); the test item E is one where the human is wrong by one.
#
# **Endpoint, stated before any number:** P(honest), the posterior mass of θ₂
# whose intended answer on E is within 0.5 of the truth. It is a *mass*: where
# conditioning acts the posterior has several modes, and a mode or a MAP can
# say the opposite of the mass. Set `SMOKE=1` to shrink the sweep (CI does).

# %%
import os

import jax

jax.config.update("jax_enable_x64", True)
import warnings  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import posterior  # noqa: E402
import samplers  # noqa: E402
from posterior.mechanism import intended_on_test  # noqa: E402

SMOKE = bool(os.environ.get("SMOKE"))
KAPPAS = (0.25, 4.0, 25.0) if SMOKE else (0.25, 1.0, 4.0, 10.0, 25.0, 100.0)
SIGMA1, SIGMA2 = 0.4, 0.1
METHODS = {"single head": "single_head", "penalty only": "no_log_partition"}
METHODS["two-stage"] = None

# %% [markdown]
# ## What κ means
#
# In a linear-Gaussian model the two-stage prior's −log Z(θ₁) only refunds what
# θ₁'s disagreement costs θ₂: the best θ₂ near θ₁, less −log Z, is
# ½ log det(I + λσ₂² AAᵀ) whatever θ₁ is. Conditioning can change which
# hypothesis wins only where κ = λσ₂² × (the curvature of C) is large, i.e.
# where agreement costs θ₂ more than its prior wiggle room σ₂ gives for free.
# Here C's curvature along h at the honest point is 1, so κ = λσ₂², and each
# case is built from κ.

# %%
cases = {kappa: posterior.MechanismCase(kappa, SIGMA1, SIGMA2) for kappa in KAPPAS}
rows = []
for kappa, case in cases.items():
    for name, baseline in METHODS.items():
        row = case.summary(baseline)
        rows.append((kappa, name, row["p_honest"], row["p_imitate"], row["map_answer"]))
print(f"σ₁ = {SIGMA1}, σ₂ = {SIGMA2}")
print(f"{'κ':>6} {'method':>13} {'P(honest)':>10} {'P(imitate)':>11} {'MAP on E':>9}")
for kappa, name, honest, imitate, answer in rows:
    print(f"{kappa:>6g} {name:>13} {honest:>10.3f} {imitate:>11.3f} {answer:>9.2f}")

# %%
figure, axes = plt.subplots(figsize=(5, 3.5))
for name in METHODS:
    values = [honest for _, n, honest, _, _ in rows if n == name]
    axes.plot(KAPPAS, values, marker="o", label=name)
axes.set(xscale="log", xlabel="κ = λσ₂²", ylabel="P(honest)", ylim=(0, 1))
axes.legend()
plt.show()

# %% [markdown]
# Read as found: for small κ the three methods agree. From κ ≈ 4 on, the
# two-stage posterior raises P(honest) above the single head's, while the
# penalty alone (e^{−λC} without −log Z) *lowers* it: without the refund,
# agreement is bought by copying the human. Yet no setting here gives an
# honest majority: C is even in a, so a mirror mode at a ≈ −0.7 (neither honest
# nor imitating) takes its share.

# %% [markdown]
# ## The θ₂ posterior at κ = 25, and where the joint MAP sits

# %%
case = cases[25.0]
grid = case.grid
figure, all_axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
for axes, (name, baseline) in zip(all_axes, METHODS.items(), strict=True):
    _, log_p2 = grid.log_marginals(baseline)
    axes.pcolormesh(grid.nodes[0], grid.nodes[1], np.exp(log_p2 - log_p2.max()).T)
    _, map_theta2 = grid.joint_map(baseline)
    axes.plot(*map_theta2, "r+", markersize=14, label="joint MAP's θ₂")
    axes.set(title=name, xlabel="a", xlim=(-2, 2), ylim=(0.5, 1.5))
    axes.legend(loc="lower left", fontsize=8)
all_axes[0].set_ylabel("h")
plt.show()

# %% [markdown]
# The two-stage posterior has three modes along h ≈ 1 (the human's statement
# pins h): honest at a ≈ 0.7, imitating at a ≈ 0 and the mirror at a ≈ −0.7.
# The joint MAP is a single point in one of them: its answer on E is a coin
# flip between modes of nearly equal height (it flips between grids of nearly
# the same spacing), while P(honest) is stable. Report masses.

# %%
answers = {
    name: float(intended_on_test(jnp.asarray(grid.joint_map(baseline)[1])))
    for name, baseline in METHODS.items()
}
print("joint MAP's answer on E:", {k: round(v, 2) for k, v in answers.items()})
print("P(honest):", {name: round(case.p_honest(b), 3) for name, b in METHODS.items()})

# %% [markdown]
# ## Bits saved where θ₁ goes
#
# −log₂ Z(θ₁) is how many bits the conditioning saves; the posterior favours θ₁
# where agreement is rare.

# %%
mode = grid.mode(of="theta1")
print(f"θ₁ mode {mode.round(2)}: {-grid.log_partition(mode) / np.log(2):.1f} bits")
print(f"θ₀ = (0, 0): {-grid.log_partition(np.zeros(2)) / np.log(2):.2f} bits")

# %% [markdown]
# ## What a sampler does here
#
# The default NUTS (`theta1="auto"`) checks the exact exchange move's cost at θ₀,
# where agreement is common, and takes it; chains started in the honest mode
# then find its auxiliary draws far too dear (about 24 bits each, against a cap
# of 10⁵ proposals). It says so, and starts again with the nested-AIS move:

# %%
honest_start = (jnp.array([0.70, 0.40]), jnp.array([0.70, 0.98]))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    tree = samplers.sample(
        case.model,
        key=jr.key(0),
        method=samplers.HMC(num_integration_steps=3),
        num_chains=2,
        num_warmup=40 if SMOKE else 500,
        num_samples=10 if SMOKE else 500,
        init=honest_start,
        log_partition_every=0,
        progress=False,
    )
for warning in caught:
    print(f"{warning.category.__name__}: {str(warning.message)[:160]}…")
print("θ₁ move in force:", tree.attrs["theta1_update"])

# %% [markdown]
# Even then the chains keep to the modes they start in, so their P(honest) is
# that of their starting points, and the diagnostics say so (R-hat, ESS).
# docs/benchmarks.md holds every sampler against this exact case; recovering the
# mode masses needs a method that moves mass between modes (open work).
