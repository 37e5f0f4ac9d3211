"""Saliency methods of "your own", written against leg's explainer interface.

``GradientMagnitude`` looks at the model (its gradient); ``edges`` looks only at the image,
so the sanity checks must catch it: its maps do not change when the model is randomized.
``GradientTimesInput`` is in between: multiplying by the input carries the image's own
structure into the map, and on the digits CNN the checks catch that too (its maps stay
closer to the original than unrelated maps after full randomization: Adebayo et al., 2018,
found the same).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


class GradientMagnitude:
    """|gradient| of the target class score, the largest over channels: an ``(H, W)`` map.

    Built by the harness as ``GradientMagnitude(classifier, **options)``; the classifier
    must have ``.gradient(images, target)`` (leg's Keras and PyTorch adapters do).
    """

    def __init__(self, classifier):
        self.classifier = classifier

    def _gradient(self, image: np.ndarray, target) -> tuple[np.ndarray, int]:
        if target is None:
            target = int(np.argmax(self.classifier(image[None])[0]))
        return np.asarray(self.classifier.gradient(image[None], target))[0], target

    def explain(self, image: np.ndarray, target=None, *, seed=None) -> np.ndarray:
        grad, _ = self._gradient(image, target)
        return np.abs(grad).max(axis=-1)


class GradientTimesInput(GradientMagnitude):
    """|gradient x input|, summed over channels."""

    def explain(self, image: np.ndarray, target=None, *, seed=None) -> np.ndarray:
        grad, _ = self._gradient(image, target)
        return np.abs(grad * image).sum(axis=-1)


class _Edges:
    def explain(self, image: np.ndarray, target=None, *, seed=None) -> np.ndarray:
        grey = image.mean(axis=-1)
        return np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1))


def edges(classifier, **options):
    """A factory ``(classifier, **options) -> explainer`` that ignores the classifier."""
    return _Edges()
