"""The random map: the floor every method should beat."""

from __future__ import annotations

import numpy as np

from leg.explainers import register
from leg.harness.methods._base import Baseline
from leg.harness.methods.record import Method


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


@register("random-cells")
class RandomCells(Baseline):
    """A random map at a coarse method's granularity: uniform noise in ``[0, 1)`` per
    ``cell_size`` x ``cell_size`` block (``numpy.random.default_rng(seed)``), copied to its
    pixels; ignores the model.

    The floor for block-structured maps (LEG on its grid, occlusion patches): a pixel-level
    random map scatters single replaced pixels, which perturbs a CNN far more per pixel
    than removing whole blocks, so perturbation metrics would compare granularity, not
    information. ``budget`` is ignored.
    """

    name = "random-cells"

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 cell_size: int = 8):
        from leg._validation import check_int

        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.cell_size = check_int(cell_size, "cell_size", minimum=1)

    def _saliency(self, image, target, seed, model):
        from leg.grid import Grid

        target = model.resolve(image, target)
        h, w = image.shape[:2]
        grid = Grid.from_cell_size(h, w, self.cell_size)
        cells = np.random.default_rng(seed).uniform(size=grid.shape)
        return grid.upsample(cells, "nearest"), target


METHODS = (
    Method("random", "A random map: uniform noise per pixel, ignoring the model (a control: "
           "no check may pass it)", suites={"sanity", "perturbation", "groundtruth"},
           role="control", figure=True),
    Method("random-cells", "A random map at LEG's granularity (noise per cell): the floor of "
           "the faithfulness comparisons", suites={"perturbation"}, floor=True),
)
