"""The oracle: a ground-truth model's exact saliency map (the floor's opposite)."""

from __future__ import annotations

from leg.explainers import register
from leg.harness.methods._base import Baseline
from leg.harness.methods.record import Method, has_true_map


@register("true-map")
class TrueMap(Baseline):
    """The exact gradient of the target class's probability w.r.t. the pixels, summed over
    channels: ``GroundTruthModel.true_map`` for the model's own target column, its negative
    for the other one (the outputs are ``[p, 1 - p]``). Shape ``(H, W)``, float64, signed.

    Only ground-truth models (:mod:`leg.zoo.groundtruth`) know it; any other classifier is
    refused. ``budget`` and ``seed`` are ignored; resolving ``target=None`` costs one
    evaluation.
    """

    name = "true-map"

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64):
        if not has_true_map(classifier):
            raise ValueError(f"true-map needs a ground-truth model (leg.zoo.groundtruth) that "
                             f"knows its true saliency; got {type(classifier).__name__}.")
        super().__init__(classifier, budget=budget, batch_size=batch_size)

    def _saliency(self, image, target, seed, model):
        target = model.resolve(image, target)
        true = self.classifier.true_map(image)
        return (true if target == self.classifier.target else -true), target


METHOD = Method(
    "true-map", "The oracle: a ground-truth model's exact gradient", needs="true-map",
    suites={"perturbation"})
