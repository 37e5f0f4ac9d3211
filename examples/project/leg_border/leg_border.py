"""A check of our own, for leg's harness: how much of each map lies on the image's border.

A classifier that is right for the wrong reason often looks at the frame (a watermark, a
ruler, a scanner's edge): its maps put their mass on the border. This package ships the
check through the entry-point group ``leg.checks`` (see pyproject.toml); installed next to
leg, it runs like the built-in checks: ``leg evaluate -m border``, a column ``border-mass``
in the verdict matrix, a leaderboard, a table compared with a stored run in regression mode.

Each map's border mass is compared with the random map at LEG's granularity on the same
images (paired over images): a method passes when its maps put significantly less of their
mass on the border. What can game it: any map that ignores the frame, model or not (an edge
detector of a centred object), so it is a localisation check, not a faithfulness one; the
harness's model-dependence gate keeps such maps from passing; our own methods are asserted,
the others reported.
"""

from __future__ import annotations

import numpy as np

from leg.harness.checks.map_scores import MapCheck
from leg.harness.checks.metrics import Metric
from leg.harness.engine.suite import Check
from leg.harness.methods import record

#: The border's width, as a fraction of the image's smaller side.
WIDTH = 0.125


class BorderMass(MapCheck):
    name = "border"
    title = "Border mass (an example check of our own)"
    description = "the share of each map on the image's border (leg-border-check)"
    metrics = ((Check("border-mass", "border",
                      "the share of |map| in the outer 1/8 of the image, paired with "
                      "random-cells' over the images (Wilcoxon): pass when significantly "
                      "smaller", family="localisation",
                      gamed_by="any map that ignores the frame (an edge detector of a "
                               "centred object): the harness's model-dependence gate"),
                Metric("border_mass", False, "Share of |map| in the outer 1/8 of the image.",
                       "localisation", 0.0, 1.0)),)

    def score(self, check, image, saliency, **_) -> float:
        a = np.abs(np.asarray(saliency, dtype=np.float64))
        total = a.sum()
        if not total:
            return 1.0  # an empty map says nothing about where it looks: worst
        w = max(1, int(round(WIDTH * min(a.shape))))
        inner = a[w:-w, w:-w].sum()
        return float((total - inner) / total)

    def asserted(self, check: str, method: str, users=()) -> bool:
        return record(method, users).target is not None  # our own methods


SUITE = BorderMass()
