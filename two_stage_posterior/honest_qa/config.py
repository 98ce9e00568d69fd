"""The experiment's settings: world, model, sampler, methods and seeds.

Plain dataclasses with the defaults of ``two-stage-posterior honest-qa``; this
module imports no JAX, so that the command can read its defaults before setting
JAX's options.
"""

import dataclasses
from dataclasses import dataclass, field

from two_stage_posterior.honest_qa.world import WorldConfig

__all__ = [
    "BASELINES",
    "METHODS",
    "QUICK",
    "ExperimentConfig",
    "ModelConfig",
    "SamplerConfig",
]

METHODS = ("standard", "data_only", "penalty_only", "two_stage")
#: The ``baseline=`` of ``samplers`` that each method runs with.
BASELINES = {
    "standard": "single_head",
    "data_only": "single_head",
    "penalty_only": "no_log_partition",
    "two_stage": None,
}


#: Samplers of ``samplers.sample`` and the categorical divergences of ``posterior``.
SAMPLERS = ("sgld", "sghmc", "nuts", "hmc")
DIVERGENCES = ("kl", "reverse_kl", "jensen_shannon", "total_variation")
#: Adam's learning rate over a MAP fit (``SamplerConfig.map_schedule``).
MAP_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class ModelConfig:
    """The network and the prior; the same for every method and seed.

    Attributes:
        width, depth: of :class:`posterior.TwoHeadMLP`'s trunk.
        lam: λ of the agreement factor e^{−λC}.
        sigma1: prior scale of θ₁ around the initialisation θ₀.
        sigma2: scale of θ₂ around θ₁.
        divergence: δ between the heads' answer distributions.
    """

    width: int = 16
    depth: int = 2
    # λ = 400 puts κ ≥ 10 at every two-stage MAP of the ten default seeds
    # (docs/honest_qa.md, "Where conditioning acts"); at 100 seven of ten were
    # below 10, where conditioning cannot change the answer.
    lam: float = 400.0
    sigma1: float = 1.0
    sigma2: float = 0.05
    divergence: str = "kl"

    def __post_init__(self):
        if self.divergence not in DIVERGENCES:
            raise ValueError(
                f"`divergence` must be one of {DIVERGENCES}, got {self.divergence!r}."
            )
        for name in ("width", "depth", "lam", "sigma1", "sigma2"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be positive.")


@dataclass(frozen=True)
class SamplerConfig:
    """How each method is fitted and sampled (the same for every method).

    Attributes:
        method: ``samplers.sample``'s method: sgld, sghmc, nuts or hmc.
        num_chains, num_warmup, num_samples: per method and seed. Each chain
            starts from its own MAP: the first from θ₀, the others from draws
            of the prior (``start_spread``), so that the chains are local
            posteriors around different optima (the table's "local" rows).
        step_size: SGLD/SGHMC step size; ``None`` takes the library's default
            (for SGLD a preconditioned, adapted step). The default 1e-4 is
            0.04 σ₂² at σ₂ = 0.05.
        batch_size: answers per minibatch (None: all).
        num_inner, num_inner_steps: persistent inner chains for ∇log Z.
        inner_refresh_every: the MAP fits replace their inner particles by a
            fresh AIS run every this many Adam steps (``find_map``'s
            ``inner_refresh_every``); 0 never.
        agreement_batch_size: agreement inputs per minibatch of C in the MAP
            fits and SGLD/SGHMC (outer gradient and inner chains); None: all.
        start_spread: the MAP fits start from θ₁ = θ₀ + start_spread·σ₁·ε
            and θ₂ = θ₁ + start_spread·σ₂·ε′ (one start per chain after the
            first, which starts at θ₀); 0 starts every fit at θ₀.
        init_spread: chains start at their MAP plus this much noise (in units
            of σ₁ for θ₁, σ₂ for θ₂).
        map_steps, learning_rate: Adam on the negative log posterior.
        map_schedule: Adam's rate over the fit: ``"cosine"`` (from
            ``learning_rate`` down to 0) or ``"constant"``. With a constant
            rate the two-stage fits do not settle (docs/honest_qa.md).
        log_partition_draws: posterior draws per chain at which log Z(θ₁) is
            estimated by AIS (two-head methods only).
        log_partition_particles: AIS particles per estimate.
        log_partition_repeats: independent AIS estimates at the MAP θ₁, whose
            spread gives the estimator's standard error.
        stop_gradient_intended: the essay's stop-gradient on the intended head
            in C's gradient, for the MAP fit and SGLD/SGHMC (gradient dynamics
            only: it defines no density, so NUTS/HMC refuse it).
        check_particles, check_repeats: the inference checks at the first
            seed's two-stage MAP: log Z(θ₁) by AIS with each particle count,
            ``check_repeats`` runs each (the growth with the budget shows the
            estimator's downward bias, which one budget's SE cannot).
        check_reference_particles: the checks' reference, ``check_repeats``
            AIS runs of this many particles with HMC moves, which mix where
            the table's do not (``log_z_estimates.REFERENCE_MOVE``); 0 for none.
    """

    method: str = "sgld"
    # Eight starts, one chain each: the local masses' spread over starts needs
    # several, and eight chains × 100 draws keep the 800 draws per method and
    # seed of the former 4 × 200 from one start.
    num_chains: int = 8
    num_warmup: int = 100
    num_samples: int = 100
    step_size: float | None = 1e-4
    batch_size: int | None = None
    num_inner: int = 16
    num_inner_steps: int = 2
    inner_refresh_every: int = 0
    agreement_batch_size: int | None = None
    # 0.2 σ₁ per coordinate is about the size of θ₀'s own weights (1/√fan-in
    # ≈ 0.14-0.25 here): far enough to reach other optima, near enough that
    # 1000 Adam steps settle as far as θ₀'s own (at σ₁ = 1, a full prior draw,
    # they were still 300-500 nats of loss behind; docs/honest_qa.md).
    start_spread: float = 0.2
    init_spread: float = 0.01
    map_steps: int = 1000
    learning_rate: float = 3e-3
    map_schedule: str = "cosine"
    log_partition_draws: int = 1
    log_partition_particles: int = 16
    log_partition_repeats: int = 3
    stop_gradient_intended: bool = False
    check_particles: tuple[int, ...] = (16, 64)
    check_repeats: int = 2
    check_reference_particles: int = 256

    def __post_init__(self):
        if self.method not in SAMPLERS:
            raise ValueError(
                f"`method` must be one of {SAMPLERS}, got {self.method!r}."
            )
        if self.stop_gradient_intended and self.method in ("nuts", "hmc"):
            raise ValueError(
                "`stop_gradient_intended` needs sgld or sghmc: it changes the "
                f"gradient, not a density, and {self.method} needs a density."
            )
        positive = ("num_chains", "num_samples", "num_inner", "num_inner_steps")
        for name in (*positive, "map_steps", "log_partition_particles"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"`{name}` must be at least 1.")
        if self.inner_refresh_every < 0:
            raise ValueError("`inner_refresh_every` must be at least 0.")
        if self.agreement_batch_size is not None and self.agreement_batch_size < 1:
            raise ValueError("`agreement_batch_size` must be at least 1.")
        if not self.check_particles or min(self.check_particles) < 1:
            raise ValueError("`check_particles` must be positive counts.")
        if self.check_repeats < 1:
            raise ValueError("`check_repeats` must be at least 1.")
        if self.map_schedule not in MAP_SCHEDULES:
            raise ValueError(
                f"`map_schedule` must be one of {MAP_SCHEDULES}, "
                f"got {self.map_schedule!r}."
            )
        if not self.start_spread >= 0:
            raise ValueError("`start_spread` must be at least 0.")
        for name in (
            "num_warmup",
            "log_partition_draws",
            "log_partition_repeats",
            "check_reference_particles",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"`{name}` must be at least 0.")


@dataclass(frozen=True)
class ExperimentConfig:
    """The whole experiment: world, model, sampler, methods and seeds.

    Attributes:
        holdout_fraction: with a world of one's own that has no
            ``in_distribution`` set, the share of S held out to measure
            in-distribution accuracy (:meth:`World.hold_out`).
        checks_every_seed: the inference checks at every seed's two-stage MAP,
            not only the first seed's (``--full``).
    """

    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    methods: tuple[str, ...] = METHODS
    # Ten world seeds: the verdict's paired test (docs/honest_qa.md) cannot
    # reject with fewer than seven; with eight starts each, the ten seeds take
    # `make demo` about 13 minutes on 2 cores (docs/honest_qa.md, "Cost").
    seeds: tuple[int, ...] = tuple(range(10))
    holdout_fraction: float = 0.2
    checks_every_seed: bool = False

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods must be among {METHODS}, got {self.methods}.")
        if not self.seeds:
            raise ValueError("at least one seed is needed.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: Overrides of ``--quick``: a smoke test in well under a minute once compiled.
QUICK = {
    "world": {
        "num_agreement": 40,
        "num_test": 20,
        "num_in_distribution": 20,
        "num_world_questions": 40,
    },
    "model": {"width": 8},
    "sampler": {
        "num_chains": 2,
        "num_warmup": 5,
        "num_samples": 10,
        "map_steps": 30,
        "num_inner": 4,
        "log_partition_draws": 1,
        "log_partition_particles": 8,
        "log_partition_repeats": 2,
        # The checks at the table's own budget only, and no reference: each
        # other budget or move is one more program to compile (6 s of the
        # honest-QA notebook's smoke run).
        "check_particles": (8,),
        "check_repeats": 1,
        "check_reference_particles": 0,
    },
    "seeds": (0,),
}
