"""Complexity: how concentrated a map is, judged from the map alone.

Two metrics, as Quantus 0.6 defines them (``quantus.Sparseness``, ``quantus.Complexity``,
both on ``|map|``: their defaults ``abs=True``); ``benchmarks/quantus_families.py`` compares
the numbers. A map is ``(H, W)``; its ``n = H * W`` pixels are scored as one flat vector.

Sparseness (Chalasani et al., ICML 2020)
    The Gini index of ``a = |map|`` flattened and sorted ascending
    (:func:`sparseness`): ``G = sum_i (2i - n - 1) a_(i) / (n sum_i a_(i))``, ``i = 1..n``.
    ``G`` lies in ``[0, 1 - 1/n]``: 0 for a constant map, ``1 - 1/n`` for a map with one
    non-zero pixel. Higher is sparser, which Quantus scores as better. Normalisation: none
    is needed -- ``G`` does not change when the map is multiplied by a non-zero constant.
    Quantus first divides by the maximum ``|value|`` over the *whole* ``a_batch`` it is given
    and then adds ``1e-7`` to every pixel, so its score is not exactly scale-free and
    depends on the other maps: a map far weaker than the batch's strongest moves by up to
    ``1e-7 * n / sum a`` (2e-3 for the digits CNN's gradients, whose scales differ by
    orders of magnitude between digits; ``benchmarks/quantus_families.py`` reproduces
    Quantus exactly that way). This module uses the exact formula. An all-zero map scores
    NaN (Quantus: 0).

Complexity (Bhatt et al., IJCAI 2020)
    The Shannon entropy, in nats, of the distribution ``p = |map| / sum |map|`` over pixels
    (:func:`complexity`): ``-sum_i p_i log p_i`` with ``0 log 0 = 0``; in ``[0, log n]``:
    0 for one non-zero pixel, ``log n`` for a constant map. Lower is better. Scale-free like
    sparseness. Quantus computes ``-sum p log(p + 1e-12)`` (within ~1e-12 * n of this). An
    all-zero map scores NaN (Quantus: NaN). This is
    :func:`leg.harness.checks.randomization.mprt.complexity` with ``kind="shannon"``, except
    for the all-zero map (there 0).

Controls that win alone
    A map with a single non-zero pixel is the sparsest and least complex map there is
    (sparseness ``1 - 1/n``, complexity 0) and says nothing about the model. Less
    trivially, the Sobel ``edge`` map of an object on a plain background is sparse: its
    mass sits on a few contours; it beats a dense model-based map and the random map
    (``tests/test_complexity.py``). It does not beat every model: on the digits CNN the
    gradient is sparser (median sparseness 0.60 against the edge map's 0.52 and the random
    map's 0.32; ``benchmarks/quantus_families.py``). A complexity verdict needs a
    faithfulness floor beside it.
"""

from __future__ import annotations

import numpy as np

from leg.harness.checks._arrays import as_map
from leg.harness.checks.map_scores import GATE, MapCheck
from leg.harness.checks.metrics import Metric
from leg.harness.engine.suite import Check

__all__ = ["COMPLEXITY_METRICS", "SUITE", "Complexity", "complexity", "sparseness"]

COMPLEXITY_METRICS = {
    "sparseness": Metric(
        "sparseness", higher_is_better=True,
        description="Gini index of |map| over pixels, 0 (uniform) to 1 - 1/n (one pixel) "
                    "(Chalasani et al., ICML 2020; Quantus Sparseness)."),
    "complexity": Metric(
        "complexity", higher_is_better=False,
        description="Shannon entropy (nats) of |map| / sum |map| over pixels, 0 to log n "
                    "(Bhatt et al., IJCAI 2020; Quantus Complexity)."),
}


def sparseness(saliency) -> float:
    """Gini index of ``|saliency|`` (an ``(H, W)`` map) over its pixels, in
    ``[0, 1 - 1/(H*W)]``; NaN for an all-zero map. Higher is sparser."""
    a = np.sort(np.abs(as_map(saliency)).ravel())
    total = a.sum()
    if total == 0:
        return float("nan")
    n = a.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * ranks - n - 1) * a).sum() / (n * total))


def complexity(saliency) -> float:
    """Shannon entropy (nats) of ``|saliency| / sum |saliency|`` over the pixels of an
    ``(H, W)`` map, in ``[0, log(H*W)]``; NaN for an all-zero map. Lower is better."""
    a = np.abs(as_map(saliency)).ravel()
    total = a.sum()
    if total == 0:
        return float("nan")
    p = a[a > 0] / total
    return float(-(p * np.log(p)).sum())


# ------------------------------------------------------------------------------ the suite



class Complexity(MapCheck):
    """Sparseness and complexity of every map of the comparison plans, paired with the
    random map at LEG's granularity over the images."""

    name = "complexity"
    title = "Complexity: sparseness and entropy of the maps"
    description = "how concentrated each map is (Chalasani et al. 2020; Bhatt et al. 2020)"
    order = 61
    metrics = (
        (Check("sparseness", "sparse", "Gini index of |map| over pixels, paired with the "
               "random map at LEG's granularity over the images (one-sided Wilcoxon): pass "
               "when significantly sparser", "Chalasani et al., ICML 2020", "complexity",
               "an edge detector (its mass sits on a few contours) or a one-pixel map: "
               + GATE), COMPLEXITY_METRICS["sparseness"]),
        (Check("complexity", "complex", "Shannon entropy of |map| / sum |map|, paired with "
               "the random map at LEG's granularity over the images: pass when "
               "significantly lower", "Bhatt et al., IJCAI 2020", "complexity",
               "an edge detector or a one-pixel map: " + GATE),
         COMPLEXITY_METRICS["complexity"]),
    )

    def score(self, check, image, saliency, **_) -> float:
        return sparseness(saliency) if check == "sparseness" else complexity(saliency)


SUITE = Complexity()
