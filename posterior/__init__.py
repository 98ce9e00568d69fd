"""The two-stage posterior over network parameters: what is to be sampled."""

# First: NumPyro must be whole before anything below uses it (see _numpyro).
from . import (
    _numpyro,  # noqa: F401
    agreement,
    likelihoods,
)
from .agreement import (
    jensen_shannon,
    kl,
    reverse_kl,
    squared_gap,
    total_variation,
)
from .exact import LinearGaussianCase
from .grid import Grid2DCase
from .kappa import kappa
from .likelihoods import (
    AbstractLikelihood,
    Bernoulli,
    BradleyTerry,
    Categorical,
    FromCallable,
    FromDistribution,
    Gaussian,
)
from .mechanism import MechanismCase
from .model import TwoStageModel
from .networks import AbstractTwoHeadNetwork, LinearTwoHead, TwoHeadMLP
from .priors import log_isotropic_normal

__all__ = [
    "AbstractLikelihood",
    "AbstractTwoHeadNetwork",
    "Bernoulli",
    "BradleyTerry",
    "Categorical",
    "FromCallable",
    "FromDistribution",
    "Gaussian",
    "Grid2DCase",
    "LinearGaussianCase",
    "LinearTwoHead",
    "MechanismCase",
    "TwoHeadMLP",
    "TwoStageModel",
    "agreement",
    "kappa",
    "jensen_shannon",
    "kl",
    "likelihoods",
    "log_isotropic_normal",
    "reverse_kl",
    "squared_gap",
    "total_variation",
]
