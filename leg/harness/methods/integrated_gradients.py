"""Integrated gradients (Sundararajan et al., ICML 2017)."""

from __future__ import annotations

import numpy as np

from leg._validation import check_int
from leg.explainers import register
from leg.harness.methods._base import Baseline, check_fill, check_gradient_classifier, fill_image
from leg.harness.methods.gradient import gradient_kwargs
from leg.harness.methods.record import Method


@register("integrated-gradients")
class IntegratedGradients(Baseline):
    """``(x - x') * mean_k grad f(x' + a_k (x - x'))``, summed over channels (signed).

    The path integral from the baseline image ``x'`` to ``x`` is the midpoint Riemann sum
    with ``a_k = (k + 1/2) / steps``, ``k = 0 .. steps-1``; it is exact for a linear score.

    Parameters
    ----------
    classifier, score
        As for :class:`~leg.harness.methods.gradient.Gradient`.
    budget : int, optional
        Number of gradient evaluations: sets ``steps`` when given.
    steps : int, default 50
        Used when ``budget`` is None. Resolving ``target=None`` costs one forward
        evaluation more.
    baseline : {"black", "white", "mean"} or float, default "black"
        ``x'``: 0, 1, the image mean colour or a constant.
    """

    name = "integrated-gradients"

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 steps: int = 50, baseline="black", score: str | None = None):
        check_gradient_classifier(self.name, classifier)
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.steps = check_int(steps, "steps", minimum=1) if budget is None else self.budget
        self.baseline = check_fill(baseline, "baseline")
        self.score_kwargs = gradient_kwargs(score)

    def _saliency(self, image, target, seed, model):
        target = model.resolve(image, target)
        reference = fill_image(image, self.baseline)
        alphas = (np.arange(self.steps) + 0.5) / self.steps
        total = np.zeros(image.shape)
        for start in range(0, self.steps, self.batch_size):
            a = alphas[start:start + self.batch_size, None, None, None]
            path = reference + a * (image - reference)
            total += model.gradient(path, target, **self.score_kwargs).sum(axis=0)
        return ((image - reference) * total / self.steps).sum(axis=2), target


METHOD = Method(
    "integrated-gradients", "Integrated gradients: the gradient integrated along a path from "
    "a fill (Sundararajan et al., 2017)", budget="gradient evaluations", gradients=50,
    needs_gradient=True, estimates="removal", suites={"perturbation", "groundtruth"},
    axioms={"completeness"})
