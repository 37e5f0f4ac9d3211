"""The random map: the floor every method should beat."""

from __future__ import annotations

import numpy as np

from evaluation.baselines._base import Baseline
from leg.explainers import register


@register("random")
class RandomMap(Baseline):
    """Uniform noise in ``[0, 1)`` from ``numpy.random.default_rng(seed)``; ignores the model.

    ``budget`` is ignored; resolving ``target=None`` costs one evaluation (so the result
    names the class every other method explains).
    """

    name = "random"

    def _saliency(self, image, target, seed, model):
        target = model.resolve(image, target)
        return np.random.default_rng(seed).uniform(size=image.shape[:2]), target
