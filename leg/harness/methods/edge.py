"""An edge detector: a model-independent control the sanity checks must catch."""

from __future__ import annotations

from leg.explainers import register
from leg.harness.methods._base import Baseline
from leg.harness.methods.record import Method


@register("edge")
class Edge(Baseline):
    """Sobel edge magnitude (:func:`skimage.filters.sobel`) of the grey image.

    The map depends on the image only — never on the classifier — so it looks plausible
    and must fail model-randomization sanity checks. Grey is
    :func:`skimage.color.rgb2gray` for RGB(A) images, the single channel otherwise.
    ``budget`` and ``seed`` are ignored; resolving ``target=None`` costs one evaluation
    (for the record only; the map does not depend on it).
    """

    name = "edge"

    def _saliency(self, image, target, seed, model):
        from skimage.color import rgb2gray
        from skimage.filters import sobel

        target = model.resolve(image, target)
        grey = rgb2gray(image[..., :3]) if image.shape[2] >= 3 else image[..., 0]
        return sobel(grey), target


METHOD = Method(
    "edge", "A Sobel edge map of the image: ignores the model (a control the randomization "
    "checks must catch, and the map metrics' model-dependence gate)",
    suites={"sanity", "perturbation"}, role="control")
