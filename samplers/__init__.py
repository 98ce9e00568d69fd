"""Samplers for two-stage posteriors: HOW to sample, on plain JAX functions.

Nothing here imports numpyro or `posterior/`: every estimator works on JAX functions
of a flat parameter vector.
"""

from samplers import ais, annealing, moves, precondition, reference, rejection
from samplers.compare import Comparison, compare_runs
from samplers.estimate import estimate_log_z
from samplers.gradient import grad_log_partition_estimate
from samplers.health import ConvergenceWarning, Diagnosis, SamplingWarning, diagnose
from samplers.log_partition import log_partition
from samplers.log_z_types import LogPartitionResult, LogZConfig
from samplers.methods import HMC, NUTS, SGHMC, SGLD, Exchange, NestedAIS
from samplers.mode import MAPResult, find_map
from samplers.predict import predict
from samplers.rejection import RejectionResult, rejection_sample
from samplers.runs import load_run
from samplers.sample import METHODS, sample
from samplers.smc import tempered_smc
from samplers.target import BASELINES, Target, build_target
from samplers.thermodynamic import ThermodynamicResult, thermodynamic_integration

__all__ = [
    "sample",
    "tempered_smc",
    "predict",
    "load_run",
    "NUTS",
    "HMC",
    "SGLD",
    "SGHMC",
    "Exchange",
    "NestedAIS",
    "diagnose",
    "Diagnosis",
    "compare_runs",
    "Comparison",
    "SamplingWarning",
    "ConvergenceWarning",
    "find_map",
    "MAPResult",
    "METHODS",
    "BASELINES",
    "Target",
    "build_target",
    "log_partition",
    "estimate_log_z",
    "LogZConfig",
    "thermodynamic_integration",
    "ThermodynamicResult",
    "LogPartitionResult",
    "grad_log_partition_estimate",
    "rejection_sample",
    "RejectionResult",
    "ais",
    "annealing",
    "moves",
    "precondition",
    "reference",
    "rejection",
]
