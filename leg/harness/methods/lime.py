"""LIME (Ribeiro et al., KDD 2016) over superpixels, with the ``lime`` package."""

from __future__ import annotations

from unittest import mock

import numpy as np

from leg._validation import check_float, check_int
from leg.explainers import register
from leg.harness.methods._base import Baseline, check_fill, fill_image
from leg.harness.methods._superpixels import check_segmentation, superpixels
from leg.harness.methods.record import Method


@register("lime")
class LIME(Baseline):
    """LIME: a weighted linear model of the target score on superpixel on/off masks.

    :class:`lime.lime_image.LimeImageExplainer` draws ``num_samples = budget`` (default
    1000) random on/off vectors over the superpixels (the first is the unperturbed
    image), fills "off" superpixels, weights the samples by an exponential kernel of their
    cosine distance to the image and fits a ridge regression; each pixel gets its
    superpixel's coefficient for the target.

    Parameters
    ----------
    classifier, budget, batch_size
        See :class:`~leg.harness.methods._base.Baseline`. ``budget`` is LIME's
        ``num_samples``; resolving ``target=None`` costs one more evaluation.
    segmentation : {"slic", "quickshift"} or callable, default "slic"
        Superpixels, see :func:`~leg.harness.methods._superpixels.superpixels`.
    n_segments : int, default 50
        SLIC's target number of superpixels (capped at ``H*W/4``).
    fill : {"superpixel-mean", "mean", "black", "white"} or float, default "superpixel-mean"
        What "off" superpixels show: each superpixel's own mean colour (LIME's default,
        ``hide_color=None``), the image mean colour, 0, 1 or a constant.
    kernel_width : float, default 0.25
        LIME's kernel width on the cosine distance.

    The seed sets LIME's ``random_state``. LIME needs 1 or 3 channels (grey images are
    repeated to RGB for it; the classifier still sees grey).
    """

    name = "lime"
    default_budget = 1000

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 segmentation="slic", n_segments: int = 50, fill="superpixel-mean",
                 kernel_width: float = 0.25):
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.segmentation = check_segmentation(segmentation)
        self.n_segments = check_int(n_segments, "n_segments", minimum=1)
        self.fill = check_fill(fill, extra=("superpixel-mean",))
        self.kernel_width = check_float(kernel_width, "kernel_width", low=0.0,
                                        low_inclusive=False)

    def _saliency(self, image, target, seed, model):
        from lime import lime_image

        channels = image.shape[2]
        if channels not in (1, 3):
            raise ValueError(f"LIME needs images with 1 or 3 channels; got {channels}.")
        target = model.resolve(image, target)
        segments = superpixels(image, self.segmentation, n_segments=self.n_segments)
        rgb = np.repeat(image, 3, axis=2) if channels == 1 else image
        hide = None if self.fill == "superpixel-mean" else fill_image(rgb, self.fill)[0, 0]

        def classifier_fn(images):
            images = np.asarray(images, dtype=np.float64)
            return model.scores(images[..., :1] if channels == 1 else images)

        explainer = lime_image.LimeImageExplainer(
            kernel_width=self.kernel_width, feature_selection="none",
            random_state=np.random.RandomState(seed))
        # lime 0.2.0.1 always shows a tqdm progress bar over the samples; silence it.
        with mock.patch.object(lime_image, "tqdm", lambda iterable, *a, **k: iterable):
            explanation = explainer.explain_instance(
                rgb, classifier_fn, labels=(target,), hide_color=hide, top_labels=None,
                num_features=int(segments.max()) + 1, num_samples=self.effective_budget,
                batch_size=self.batch_size, segmentation_fn=lambda _: segments)
        weights = np.zeros(int(segments.max()) + 1)
        for feature, weight in explanation.local_exp[target]:
            weights[feature] = weight
        return weights[segments], target


METHOD = Method(
    "lime", "LIME: a sparse linear model of superpixels switched on and off (Ribeiro et al., "
    "2016)", budget="model evaluations", estimates="removal",
    suites={"perturbation", "groundtruth"}, figure=True)
