"""LEG and LEG-TV saliency estimation for black-box image classifiers.

The names below are imported on first use (``leg.LEG``, ``from leg import LEG``), so that
``import leg`` — and the harness's pytest plugin, which every pytest run of the environment
loads — costs almost nothing.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_WHERE = {
    "Covariance": "leg.covariance", "get_covariance": "leg.covariance",
    "DESIGNS": "leg.designs", "Reliability": "leg.reliability",
    "AutoSampling": "leg.estimator", "Sampler": "leg.sampling",
    "Estimand": "leg.estimand", "leg_estimand": "leg.estimand",
    "LEG": "leg.estimator", "LEGTV": "leg.estimator", "LEGResult": "leg.estimator",
    "estimate_leg": "leg.estimator", "estimate_leg_all_classes": "leg.estimator",
    "estimate_leg_tv": "leg.estimator",
    "Grid": "leg.grid", "difference_operator": "leg.grid",
    "Classifier": "leg.models", "KerasClassifier": "leg.models", "as_classifier": "leg.models",
    "Responses": "leg.sampling", "sample_responses": "leg.sampling",
    "TorchClassifier": "leg.torch_models",
    "SolverError": "leg.tv", "solve_leg_tv": "leg.tv",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'leg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
