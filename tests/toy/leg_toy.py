"""A toy suite, as a separate package would ship it (entry point ``leg.checks``): the share
of each map's mass in the central half of the image, paired with the floor's. Used by
tests/test_engine.py, which installs it with a ``.dist-info`` of its own."""

from __future__ import annotations

import os

import numpy as np

from leg.harness.checks.map_scores import MapCheck
from leg.harness.checks.metrics import Metric
from leg.harness.engine.suite import Check


class CentreMass(MapCheck):
    name = "toy"
    title = "Toy: mass at the centre"
    description = "the toy suite of tests/test_engine.py"
    metrics = ((Check("centre-mass", "centre mass",
                      "the share of |map| in the central half of the image, paired with the "
                      "floor's (higher is better)", family="toy"),
                Metric("centre_mass", True, "Share of |map| in the central half of the image.")),)
    gated = False

    def score(self, check, image, saliency, **_) -> float:
        a = np.abs(saliency)
        h, w = a.shape
        total = a.sum()
        centre = a[h // 4:h - h // 4, w // 4:w - w // 4].sum()
        shift = float(os.environ.get("LEG_TOY_SHIFT", "0"))  # a regression, on request
        return float(centre / total) - shift if total else 0.0

    def asserted(self, check: str, method: str, users=()) -> bool:
        return method == os.environ.get("LEG_TOY_ASSERTED", "true-map")


SUITE = CentreMass()
