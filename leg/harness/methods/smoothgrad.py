"""SmoothGrad (Smilkov et al., 2017)."""

from __future__ import annotations

import numpy as np

from leg._validation import check_float
from leg.explainers import register
from leg.harness.methods._base import Baseline, check_gradient_classifier
from leg.harness.methods.gradient import gradient_kwargs
from leg.harness.methods.record import Method


@register("smoothgrad")
class SmoothGrad(Baseline):
    """The mean gradient over noisy copies of the image, summed over channels (signed).

    ``n = budget`` (default 50) copies ``x + e``, ``e ~ N(0, sigma^2)`` per value, with
    ``sigma = noise_level * (x.max() - x.min())`` (the paper's 15 % of the image's range;
    the range of ``[0, 1]`` when the image is constant). Noisy copies are not clipped. The
    map is the channel sum of the *signed* mean gradient, so it is a smoothed version of
    the ``"gradient"`` baseline and keeps the sign that ``dist-k`` backgrounds use;
    ``absolute=True`` gives the channel sum of the mean |gradient| (the paper's
    visualisation) instead.

    Parameters
    ----------
    classifier, score
        As for :class:`~leg.harness.methods.gradient.Gradient`.
    budget : int, optional
        Number of noisy copies (gradient evaluations); default 50. Resolving
        ``target=None`` costs one forward evaluation more.
    noise_level : float, default 0.15
    absolute : bool, default False
    """

    name = "smoothgrad"
    default_budget = 50

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 noise_level: float = 0.15, absolute: bool = False, score: str | None = None):
        check_gradient_classifier(self.name, classifier)
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.noise_level = check_float(noise_level, "noise_level", low=0.0)
        self.absolute = bool(absolute)
        self.score_kwargs = gradient_kwargs(score)

    def _saliency(self, image, target, seed, model):
        target = model.resolve(image, target)
        rng = np.random.default_rng(seed)
        spread = float(image.max() - image.min()) or 1.0
        sigma = self.noise_level * spread
        total = np.zeros(image.shape)
        n = self.effective_budget
        for start in range(0, n, self.batch_size):
            m = min(self.batch_size, n - start)
            noisy = image + sigma * rng.standard_normal((m, *image.shape))
            grads = model.gradient(noisy, target, **self.score_kwargs)
            total += (np.abs(grads) if self.absolute else grads).sum(axis=0)
        return (total / n).sum(axis=2), target


METHOD = Method(
    "smoothgrad", "SmoothGrad: the gradient averaged over noisy copies (Smilkov et al., 2017)",
    budget="gradient evaluations", gradients=50, needs_gradient=True,
    suites={"perturbation", "groundtruth"})
