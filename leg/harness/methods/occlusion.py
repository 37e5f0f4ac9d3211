"""Occlusion (Zeiler & Fergus, ECCV 2014): the score drop when a patch is covered."""

from __future__ import annotations

import numpy as np

from leg._validation import check_int
from leg.explainers import register
from leg.harness.methods._base import Baseline, check_fill, check_target, fill_image
from leg.harness.methods.record import Method


def patch_starts(size: int, patch: int, stride: int) -> np.ndarray:
    """Patch positions along one axis: ``0, stride, 2*stride, ...`` plus one flush with the end."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return np.asarray(starts)


def n_patches(shape: tuple[int, int], patch: int, stride: int) -> int:
    h, w = shape
    return len(patch_starts(h, min(patch, h), stride)) * len(patch_starts(w, min(patch, w), stride))


@register("occlusion")
class Occlusion(Baseline):
    """Score drop when a square patch is filled, spread over its pixels, averaged over overlaps.

    For each patch ``P`` (a grid with the given stride, plus patches flush with the right
    and bottom edges so that every pixel is covered),
    ``drop_P = score(x) - score(x with P filled)``; pixel ``(i, j)`` gets the mean of
    ``drop_P / |P|`` over the patches that cover it.

    Parameters
    ----------
    classifier, batch_size
        See :class:`~leg.harness.methods._base.Baseline`.
    budget : int, optional
        Most patches (model evaluations besides the unperturbed image, which also resolves
        ``target=None``); default 1000. Used when ``patch_size`` is None: the smallest
        patch (stride ``max(1, patch // 2)`` unless ``stride`` is given) whose grid has at
        most ``budget`` patches. ``budget >= H*W`` gives one-pixel patches.
    patch_size : int, optional
        Side of the square patch (overrides the budget).
    stride : int, optional
        Step between patches; default ``max(1, patch_size // 2)``.
    fill : {"mean", "black", "white"} or float, default "mean"
        The image mean colour, 0, 1 or a constant.
    """

    name = "occlusion"
    default_budget = 1000

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 patch_size: int | None = None, stride: int | None = None, fill="mean"):
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.patch_size = None if patch_size is None else check_int(patch_size, "patch_size",
                                                                    minimum=1)
        self.stride = None if stride is None else check_int(stride, "stride", minimum=1)
        self.fill = check_fill(fill)

    def geometry(self, shape: tuple[int, int]) -> tuple[int, int]:
        """``(patch_size, stride)`` used for images of ``shape`` ``(H, W)``."""
        if self.patch_size is not None:
            patch = min(self.patch_size, max(shape))
            return patch, self.stride or max(1, patch // 2)
        for patch in range(1, max(shape) + 1):
            stride = self.stride or max(1, patch // 2)
            if n_patches(shape, patch, stride) <= self.effective_budget:
                return patch, stride
        return max(shape), self.stride or max(1, max(shape) // 2)

    def _saliency(self, image, target, seed, model):
        h, w = image.shape[:2]
        patch, stride = self.geometry((h, w))
        ph, pw = min(patch, h), min(patch, w)
        base = model.scores(image[None])[0]
        if target is None:
            target = int(np.argmax(base))
        else:
            target = model.check_target(check_target(target))
        fill = fill_image(image, self.fill)
        corners = [(i, j) for i in patch_starts(h, ph, stride) for j in patch_starts(w, pw, stride)]
        total = np.zeros((h, w))
        count = np.zeros((h, w))
        for start in range(0, len(corners), self.batch_size):
            chunk = corners[start:start + self.batch_size]
            batch = np.repeat(image[None], len(chunk), axis=0)
            for b, (i, j) in enumerate(chunk):
                batch[b, i:i + ph, j:j + pw] = fill[i:i + ph, j:j + pw]
            drops = base[target] - model.scores(batch)[:, target]
            for drop, (i, j) in zip(drops, chunk, strict=True):
                total[i:i + ph, j:j + pw] += drop / (ph * pw)
                count[i:i + ph, j:j + pw] += 1
        return total / np.maximum(count, 1), target


METHOD = Method(
    "occlusion", "Occlusion: the score drop when a patch is filled (Zeiler & Fergus, 2014)",
    budget="model evaluations", estimates="removal", suites={"perturbation", "groundtruth"},
    asserted={"ground-truth"}, figure=True)
