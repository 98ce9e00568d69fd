# %% [markdown]
# # Honest or imitating
#
# The question the package exists for: trained on a human's answers, does a
# network learn to answer **honestly** where the human errs, or to **imitate**
# the human? In the honest-QA world the truth, the human's answer and a
# careful reviewer's are all known, so the answer is a number (the
# documentation's page on the honest-QA experiment has every detail).
#
# This notebook builds a small world, looks at where its human errs, runs one
# head trained on the answers (`data_only`) beside the two-stage posterior
# (`two_stage`), and reads the table. Set `SMOKE=1` to shrink every run (CI
# does); the prose describes the full-size run: the command's defaults and all
# four methods, as `make demo` runs them, on three of its ten seeds.

# %%
import os

import jax

jax.config.update("jax_enable_x64", True)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from two_stage_posterior.honest_qa import (  # noqa: E402
    METHODS,
    ExperimentConfig,
    ModelConfig,
    SamplerConfig,
    WorldConfig,
    make_world,
    run_experiment,
)
from two_stage_posterior.honest_qa.config import QUICK  # noqa: E402
from two_stage_posterior.honest_qa.report import FIT_LABELS  # noqa: E402

SMOKE = bool(os.environ.get("SMOKE"))

# %% [markdown]
# ## The world
# A scene has up to 6 objects of 3 kinds; the network sees a noisy encoding x
# of the scene, in which an occluded object shows only weakly, and a question:
# "how many objects of kind k?", or a *world question*, "what will the person
# say about kind k?". The human counts what is visible, so it errs exactly
# where an object of kind k is occluded. The answers D hold the human's labels
# on scenes without occlusion, a few occluded scenes of kinds 0 and 1 corrected
# by the careful reviewer (who misses occluded objects in slot 0 too), and the
# world questions, answered with the human's count on occluded scenes of every
# kind. Kind 2 is held out: the test set asks about occluded objects of kind 2
# only, where the human is wrong on every item.
#
# The world questions are the essay's premise made concrete: they teach the
# network's trunk what the human will say about every kind, so that imitating
# the human on kind 2 is one input flag away, while the truth there rests on a
# faint trace that nothing in D taught the network to read for that kind.

# %%
world_config = WorldConfig(**QUICK["world"]) if SMOKE else WorldConfig()
world = make_world(world_config, seed=0)
test = world.test
print(f"x: {world.x_dim} numbers; answers 0..{world.num_answers - 1}")
print(
    {name: len(getattr(world, name)["question"]) for name in ("agreement", "answers")}
)
world_questions = world.answers["question"] >= 3
print(f"world questions in D: {world_questions.sum()}")
print(f"test items: {len(test['truth'])}, kinds asked {np.unique(test['question'])}")
print(f"human right on the test set: {np.mean(test['simple'] == test['truth']):.2f}")
print(f"human's count below the truth by {np.mean(test['truth'] - test['simple']):.2f}")
print(f"careful reviewer right there: {np.mean(test['careful'] == test['truth']):.2f}")

# %% [markdown]
# On a test item a head's answer is *honest* when it is the truth and
# *imitating* when it is the human's count; the two never coincide there. A
# rule that always gives D's most common answer sets the floor
# (`constant_answer`): a method has learned something about kind 2 only where
# it beats that rule. And the world asks the question only if one head trained
# on D imitates more often than it answers honestly (the *precondition*):
# otherwise no method has anything to fix.

# %% [markdown]
# ## Two methods, then the table
# Each method fits MAPs with Adam from eight starts (θ₀, the network's
# initialisation, and seven nearby draws of the prior), then runs one SGLD
# chain from each optimum. The chains stay near their optima, so they are
# *local* posteriors: the table calls θ₀'s optimum `map` and the chains
# `local`, and the local *masses* are the share of a chain's draws whose
# intended head is truth-like (honest mass) or human-like (imitating mass),
# averaged over the chains, with their spread over the starts as the SE. `data_only` is one head trained on D. `two_stage` adds the
# instrumental head, the agreement factor e^{−λC} on the scenes S, and the
# −log Z(θ₁) of the two-stage prior. SMOKE's sizes are those of the tests'
# run of the command, so that the suite compiles `data_only` once.

# %%
if SMOKE:
    config = ExperimentConfig(
        world=world_config,
        model=ModelConfig(**QUICK["model"]),
        sampler=SamplerConfig(**{**QUICK["sampler"], "map_steps": 20}),
        methods=("data_only", "two_stage"),
        seeds=QUICK["seeds"],
    )
else:
    config = ExperimentConfig(methods=METHODS, seeds=(0, 1, 2))
results = run_experiment(config, progress=False, echo=lambda text: None)
print(f"{len(config.seeds)} seed(s), {results.seconds:.0f} s")
print(results.precondition["text"])

# %%
columns = [
    "method",
    "fit",
    "honest",
    "imitation",
    "mass_honest",
    "mass_honest_se",
    "in_distribution_accuracy",
    "bits_saved",
    "kappa_theta2_top",
    "failed_seeds",
]
# The chains are local posteriors around their starts' optima: named so.
summaries = pd.DataFrame(results.summaries).replace({"fit": FIT_LABELS})
table = summaries[columns].set_index(["method", "fit"])
table.round(2)

# %% [markdown]
# Read the last column first: a `local` row whose chains failed their
# diagnostics (R-hat above 1.05, a bulk ESS below 100) is printed for
# inspection, not as a result. At full size every local row failed: eight
# chains from eight optima that do not mix between them, which is what local
# means. The MAP rows, the constant rule and the local masses with their SE
# over starts are the numbers to read.
#
# The full-size run (three seeds, λ = 400, float64, 2026-12-06, with the MAP
# fits' former constant Adam rate; they now decay it) took 460 s on 2 CPU
# cores. Its precondition line: at the MAP `data_only` imitates 0.51 of
# the time and answers honestly 0.32 (imitating more on 2 of the 3 seeds);
# under the local chains 0.44 against 0.26, on all three.
#
# `make demo` runs the same settings in float32 (this notebook, like the
# others, turns on float64) on ten seeds. There (mean over seeds, 2026-12-06):
#
# - the precondition holds at the MAP: `data_only` imitates 0.72 and answers
#   honestly 0.15, imitating more on all 10 seeds; `standard` imitates most
#   (0.80); the constant rule scores 0.26 honest and 0.41 imitation;
# - conditioning acts, if less than the defaults assumed: κ at the two-stage
#   θ₂ is 5.8–29 (under 10 on 4 seeds), and its θ₁ sits where agreement is
#   rarer (238 ± 57 bits saved, against 12 for the penalty alone);
# - the local honest masses are 0.23 for `data_only` and `two_stage` and 0.25
#   for `penalty_only` (SE over starts about 0.03);
# - the declared test finds no difference against `data_only` (the two-stage
#   honest share minus `data_only`'s is −0.008 [−0.021, +0.006], Wilcoxon
#   p = 0.28, MDD 0.026), and finds the two-stage head *less* honest than the
#   agreement penalty alone: −0.019 [−0.033, −0.007], p = 0.020 (Holm 0.039),
#   on 8 of the 10 seeds. The chains behind these numbers are local and failed
#   their diagnostics.
#
# So the world poses the question, conditioning acts in it, and the two-stage
# posterior, as these samplers see it, does not answer more honestly; against
# the penalty alone, slightly less. What would make that a firm answer is
# masses from chains that move between the heads (the documentation's page on
# the experiment has the verdict, the local masses' gap to exact ones on the
# mechanism case, and what the result can and cannot rule out).

# %% [markdown]
# ## Honest and imitation rates, side by side
# The MAP rows against the constant rule (dashed lines).

# %%
rows = pd.DataFrame(results.rows)
maps = rows[rows["fit"] == "map"].groupby("method")[["honest", "imitation"]].mean()
rule = rows[rows["fit"] == "rule"][["honest", "imitation"]].mean()
axis = maps.plot.bar(rot=0, color=["tab:green", "tab:red"], figsize=(6, 3))
for name, color in [("honest", "tab:green"), ("imitation", "tab:red")]:
    axis.axhline(rule[name], color=color, linestyle="--", linewidth=1)
axis.set_ylabel("share of test items")
axis.set_title("MAP answers on the held-out kind")
plt.tight_layout()
