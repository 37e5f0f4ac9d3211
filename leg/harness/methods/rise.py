"""RISE (Petsiuk et al., BMVC 2018): randomized input sampling for explanation."""

from __future__ import annotations

import numpy as np

from leg._validation import check_float, check_int
from leg.explainers import register
from leg.harness.methods._base import Baseline, check_fill, fill_image
from leg.harness.methods.record import Method


def rise_masks(shape: tuple[int, int], n: int, cells: int, p: float,
               rng: np.random.Generator) -> np.ndarray:
    """``n`` soft masks ``(n, H, W)`` in ``[0, 1]``, as in the paper's reference code.

    A ``cells x cells`` binary grid (each cell on with probability ``p``) is upsampled
    bilinearly to ``(cells + 1) * ceil(H / cells)`` (and likewise for ``W``) and cropped to
    ``(H, W)`` at a random shift in ``[0, cell size)`` along each axis.
    """
    from skimage.transform import resize

    h, w = shape
    ch, cw = -(-h // cells), -(-w // cells)
    grids = (rng.random((n, cells, cells)) < p).astype(np.float64)
    shifts = np.stack([rng.integers(0, ch, n), rng.integers(0, cw, n)], axis=1)
    masks = np.empty((n, h, w))
    for k in range(n):
        up = resize(grids[k], ((cells + 1) * ch, (cells + 1) * cw), order=1, mode="reflect",
                    anti_aliasing=False)
        i, j = shifts[k]
        masks[k] = up[i:i + h, j:j + w]
    return masks


@register("rise")
class RISE(Baseline):
    """``S = sum_i score_target(M_i * x + (1 - M_i) * fill) M_i / (n p)``.

    Parameters
    ----------
    classifier, batch_size
        See :class:`~leg.harness.methods._base.Baseline`.
    budget : int, optional
        ``n_masks`` (model evaluations); default 1000. Resolving ``target=None`` costs one
        evaluation more.
    cells : int, default 7
        Side of the low-resolution grid (the paper's ``s``; capped at the image size).
    p : float, default 0.5
        Probability that a grid cell is on.
    fill : {"black", "mean", "white"} or float, default "black"
        What masked-out pixels tend to (the paper multiplies by the mask: black).
    """

    name = "rise"
    default_budget = 1000

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 cells: int = 7, p: float = 0.5, fill="black"):
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.cells = check_int(cells, "cells", minimum=1)
        self.p = check_float(p, "p", low=0.0, high=1.0, low_inclusive=False)
        self.fill = check_fill(fill)

    def _saliency(self, image, target, seed, model):
        target = model.resolve(image, target)
        rng = np.random.default_rng(seed)
        shape = image.shape[:2]
        cells = min(self.cells, *shape)
        fill = fill_image(image, self.fill)
        n = self.effective_budget
        total = np.zeros(shape)
        for start in range(0, n, self.batch_size):
            masks = rise_masks(shape, min(self.batch_size, n - start), cells, self.p, rng)
            m = masks[..., None]
            scores = model.scores(m * image + (1.0 - m) * fill)
            total += np.tensordot(scores[:, model.check_target(target)], masks, axes=1)
        return total / (n * self.p), target


METHOD = Method(
    "rise", "RISE: the score under random masks, averaged per pixel (Petsiuk et al., 2018)",
    budget="model evaluations", estimates="removal", suites={"perturbation", "groundtruth"})
