"""LEG and LEG-TV saliency estimation for black-box image classifiers."""

from leg.covariance import Covariance, get_covariance
from leg.designs import DESIGNS
from leg.estimand import Estimand, leg_estimand
from leg.estimator import (
    LEG,
    LEGTV,
    AutoSampling,
    LEGResult,
    estimate_leg,
    estimate_leg_all_classes,
    estimate_leg_tv,
)
from leg.grid import Grid, difference_operator
from leg.models import Classifier, KerasClassifier, as_classifier
from leg.reliability import Reliability
from leg.sampling import Responses, Sampler, sample_responses
from leg.torch_models import TorchClassifier
from leg.tv import SolverError, solve_leg_tv

__version__ = "0.1.0"

__all__ = [
    "LEG", "LEGTV", "LEGResult", "AutoSampling", "Reliability", "Sampler", "DESIGNS",
    "Estimand", "leg_estimand", "Responses", "Grid", "Covariance",
    "Classifier", "KerasClassifier", "TorchClassifier", "SolverError", "as_classifier",
    "difference_operator", "estimate_leg",
    "estimate_leg_all_classes", "estimate_leg_tv", "get_covariance", "sample_responses",
    "solve_leg_tv",
]
