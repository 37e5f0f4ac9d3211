"""The randomization rule: how far a map moved, and whether that is enough, over images.

Adebayo et al. (NeurIPS 2018) randomize a network's layers from the output down and watch
the explanations: the gradient's maps change as soon as the top layers are randomized,
Guided Backprop's stay as they were until the lower layers go too; the first fails the
test, the second passes. So the rule judges the *cascade*, not its end.

Where a map stands is measured on one scale per image ``i`` and similarity metric:

    position_i = (s_i - u_i) / (r_i - u_i)

``s_i``: the similarity of the original map of image ``i`` and the map after randomization;
``r_i``: the similarity of two maps of the original model under different seeds (the
method's own reproducibility: 1 for a deterministic method); ``u_i``: the median similarity
of image ``i``'s original map to the other images' original maps (the level of unrelated
maps, which shares whatever every map of the method has in common: a centre bias, a cell
grid, image edges). A map still like the original is at 1, a map as unrelated as another
image's is at 0. Where ``r_i - u_i`` is below :data:`MIN_SPAN` the original maps do not
stand out from unrelated ones (the method is uninformative there) and the position is
undefined (NaN).

A check over images, paired statistics (:func:`leg.harness.checks.statistics.compare_paired`,
one-sided Wilcoxon signed-rank, alpha :data:`ALPHA`, fewer than 5 images never decide):

* **moved** (:func:`moved`): the map moved at least ``tau`` of the way to the unrelated
  level: ``1 - position_i`` significantly above ``tau``;
* **reached** (:func:`reached`): an equivalence statement in its one-sided form
  (non-inferiority): the position is significantly below ``+delta`` — the map is no closer
  to its original than another image's map is, within ``delta``. A map *further* from its
  original than unrelated maps (a negative position) has lost even what every map of the
  method shares (a centre bias, the object's usual place): it is unrelated too, so there is
  no lower bound. (Measured on the digits CNN: LEG's fully randomized maps sit at -0.42 on
  Spearman |map|, the gradient's at -0.30.)

Cascading randomization (and the bottom-up cascade of Binder et al., CVPR 2023) passes when
the map *moved* at the first stage (the top layer randomized; the input layer, bottom-up)
and *reached* the unrelated level at full randomization, on every decisive metric; label
randomization and independent randomization when the map moved. A pass needs every test to
be significant, so the p-value of the check is the largest of its tests' (an
intersection-union test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from leg.harness.checks.statistics import PairedComparison, compare_paired, min_images_for

__all__ = ["ALPHA", "MIN_SPAN", "Judgement", "combine", "moved", "position", "reached"]

#: Significance level of every randomization test.
ALPHA = 0.05
#: The least difference between a method's reproducibility and the unrelated level for a
#: position to be defined (below it, the original maps do not stand out).
MIN_SPAN = 0.05


def position(similarity: float, unrelated: float, reproducibility: float) -> float:
    """Where a map stands between its original (1) and an unrelated map (0):
    ``(similarity - unrelated) / (reproducibility - unrelated)``; NaN when the span is
    below :data:`MIN_SPAN` or an input is not finite."""
    span = reproducibility - unrelated
    if not all(map(math.isfinite, (similarity, unrelated, reproducibility))) or span < MIN_SPAN:
        return float("nan")
    return float((similarity - unrelated) / span)


@dataclass(frozen=True)
class Judgement:
    """One test of a check over images: ``what`` it tested, its verdict (``"pass"``,
    ``"fail"`` or ``"undecided"``) and its statistics."""

    what: str
    verdict: str
    comparison: PairedComparison | None
    n_images: int

    @property
    def p_value(self) -> float:
        return 1.0 if self.comparison is None else self.comparison.p_value


def _judged(what: str, comp: PairedComparison) -> Judgement:
    if comp.n_images < min_images_for(ALPHA):
        return Judgement(what, "undecided", comp, comp.n_images)
    return Judgement(what, "pass" if comp.verdict == "pass" else "fail", comp, comp.n_images)


def _finite(positions: Sequence[float]) -> np.ndarray | None:
    p = np.asarray(positions, dtype=np.float64).ravel()
    return p if p.size and np.all(np.isfinite(p)) else None


def moved(positions: Sequence[float], tau: float, *, seed: int = 0) -> Judgement:
    """Whether the maps moved at least ``tau`` (in ``(0, 1)``) of the way from their
    originals to the unrelated level, over images: ``1 - position`` significantly above
    ``tau``. An undefined position (NaN) makes the test ``"undefined"``."""
    p = _finite(positions)
    if p is None:
        return Judgement(f"moved >= {tau:g}", "undefined", None, len(positions))
    comp = compare_paired(1.0 - p, tau, higher_is_better=True, rule="require", alpha=ALPHA,
                          seed=seed)
    return _judged(f"moved >= {tau:g}", comp)


def reached(positions: Sequence[float], delta: float, *, seed: int = 0) -> Judgement:
    """Whether the maps reached the unrelated level, over images: the position
    significantly below ``delta`` (no closer to the original than unrelated maps, within
    ``delta``)."""
    p = _finite(positions)
    if p is None:
        return Judgement(f"position < {delta:g}", "undefined", None, len(positions))
    comp = compare_paired(p, delta, higher_is_better=False, rule="require", alpha=ALPHA,
                          seed=seed)
    return _judged(f"position < {delta:g}", comp)


#: How bad a test's verdict is (the worst decides a check).
_ORDER = ("undefined", "fail", "undecided", "pass")


def combine(judgements: Sequence[Judgement]) -> tuple[str, Judgement]:
    """The verdict of a check made of ``judgements`` (every one must pass) and the one that
    decides it: the worst verdict (:data:`_ORDER`), and among those the largest p-value.
    ``"undefined"`` (an undefined position) reads ``"uninformative"``."""
    if not judgements:
        raise ValueError("A check needs at least one test.")
    worst = min(judgements, key=lambda j: (_ORDER.index(j.verdict), -j.p_value))
    verdict = {"undefined": "uninformative"}.get(worst.verdict, worst.verdict)
    return verdict, worst
