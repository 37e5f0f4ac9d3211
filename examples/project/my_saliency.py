"""Two saliency methods of "your own", written against leg's explainer interface.

``GradientTimesInput`` looks at the model (its gradient); ``edges`` looks only at the image,
so the sanity checks must catch it: its maps do not change when the model is randomized.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


class GradientTimesInput:
    """|gradient x input| of the target class score, summed over channels: an ``(H, W)`` map.

    Built by the harness as ``GradientTimesInput(classifier, **options)``; the classifier
    must have ``.gradient(images, target)`` (leg's Keras and PyTorch adapters do).
    """

    def __init__(self, classifier):
        self.classifier = classifier

    def explain(self, image: np.ndarray, target=None, *, seed=None) -> np.ndarray:
        if target is None:
            target = int(np.argmax(self.classifier(image[None])[0]))
        grad = np.asarray(self.classifier.gradient(image[None], target))[0]
        return np.abs(grad * image).sum(axis=-1)


class _Edges:
    def explain(self, image: np.ndarray, target=None, *, seed=None) -> np.ndarray:
        grey = image.mean(axis=-1)
        return np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1))


def edges(classifier, **options):
    """A factory ``(classifier, **options) -> explainer`` that ignores the classifier."""
    return _Edges()
