"""Kernel SHAP (Lundberg & Lee, NeurIPS 2017) over superpixels, with the ``shap`` package."""

from __future__ import annotations

import numpy as np

from leg._validation import check_int
from leg.explainers import register
from leg.harness.methods._base import Baseline, check_fill, fill_image
from leg.harness.methods._superpixels import check_segmentation, superpixels
from leg.harness.methods.record import Method


@register("kernel-shap")
class KernelSHAP(Baseline):
    """Kernel SHAP: Shapley values of superpixels, "off" meaning filled with the background.

    :class:`shap.KernelExplainer` explains ``g(z) = score_target(z * image + (1 - z) *
    fill)`` for on/off vectors ``z`` over the superpixels, with the all-off vector as the
    single background row; each pixel gets its superpixel's SHAP value.

    Parameters
    ----------
    classifier, budget, batch_size
        See :class:`~leg.harness.methods._base.Baseline`. ``budget`` is SHAP's
        ``nsamples`` (default 1000; SHAP caps it at ``2**M - 2`` for ``M`` superpixels).
        SHAP also evaluates the background and the image once each, and resolving
        ``target=None`` costs one more evaluation.
    segmentation, n_segments
        As for :class:`~leg.harness.methods.lime.LIME`.
    fill : {"mean", "black", "white"} or float, default "mean"
        The background: the image mean colour, 0, 1 or a constant.
    l1_reg : bool, str or float, default False
        SHAP's feature selection; False keeps every superpixel.

    SHAP draws from NumPy's global generator: it is seeded with ``seed`` for the call and
    its previous state restored afterwards (not thread-safe).
    """

    name = "kernel-shap"
    default_budget = 1000

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 segmentation="slic", n_segments: int = 50, fill="mean", l1_reg=False):
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.segmentation = check_segmentation(segmentation)
        self.n_segments = check_int(n_segments, "n_segments", minimum=1)
        self.fill = check_fill(fill)
        self.l1_reg = l1_reg

    def _saliency(self, image, target, seed, model):
        import shap

        target = model.resolve(image, target)
        segments = superpixels(image, self.segmentation, n_segments=self.n_segments)
        n_features = int(segments.max()) + 1
        background = fill_image(image, self.fill)

        def g(z):
            z = np.asarray(z, dtype=np.float64)
            out = np.empty(len(z))
            for start in range(0, len(z), self.batch_size):
                keep = z[start:start + self.batch_size][:, segments][..., None]
                out[start:start + len(keep)] = model.scores(
                    keep * image + (1.0 - keep) * background)[:, target]
            return out

        state = np.random.get_state()
        try:
            np.random.seed(seed)
            explainer = shap.KernelExplainer(g, np.zeros((1, n_features)))
            values = explainer.shap_values(np.ones((1, n_features)),
                                           nsamples=self.effective_budget,
                                           l1_reg=self.l1_reg, silent=True)
        finally:
            np.random.set_state(state)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        return values[segments], target


METHOD = Method(
    "kernel-shap", "KernelSHAP: Shapley values of superpixels by weighted regression "
    "(Lundberg & Lee, 2017)", budget="model evaluations", estimates="removal",
    suites={"perturbation", "groundtruth"}, asserted={"ground-truth"})
