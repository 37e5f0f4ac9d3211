"""leg.leg_estimand in bounded memory: the model sees at most its own batch size, the peak
does not grow with the number of draws, and the numbers do not depend on the chunking."""

import tracemalloc

import numpy as np
import pytest

import leg
from tests.models import smooth_image


class Recorded:
    """A smooth non-linear score with an exact gradient, recording the batch sizes it is
    given: ``f = tanh(Σ w·x)`` over all channels, two classes ``[f, -f]``."""

    def __init__(self, shape, batch_size=None, seed=0):
        self.w = np.random.default_rng(seed).standard_normal(shape) / np.sqrt(np.prod(shape))
        if batch_size is not None:
            self.batch_size = batch_size
        self.sizes = []

    def __call__(self, images):
        f = np.tanh(np.einsum("nhwc,hwc->n", np.asarray(images), self.w))
        return np.stack([f, -f], axis=1)

    def gradient(self, images, target, *, score="probability"):
        self.sizes.append(len(images))
        f = np.tanh(np.einsum("nhwc,hwc->n", np.asarray(images), self.w))
        sign = 1.0 if target == 0 else -1.0
        return sign * (1.0 - f**2)[:, None, None, None] * self.w[None]


@pytest.mark.parametrize("mode", ["joint", "per_channel"])
def test_the_model_batch_size_bounds_the_gradient_calls_and_keeps_the_numbers(mode):
    image = smooth_image(24, 24)
    grid = leg.Grid.from_cell_size(24, 24, 4)
    whole = Recorded(image.shape)  # no batch_size: one call per block of draws, as before
    small = Recorded(image.shape, batch_size=6)
    a = leg.leg_estimand(whole, image, grid, 0, sigma=0.05, mode=mode, n_draws=64,
                         batch_size=20, seed=3)
    b = leg.leg_estimand(small, image, grid, 0, sigma=0.05, mode=mode, n_draws=64,
                         batch_size=20, seed=3)
    assert max(whole.sizes) == 20 and max(small.sizes) == 6
    assert sum(small.sizes) == sum(whole.sizes) == 64 * (3 if mode == "per_channel" else 1)
    np.testing.assert_array_equal(a.channel_maps, b.channel_maps)
    assert a.half_correlation == b.half_correlation


def _peak_bytes(n_draws: int) -> int:
    image = smooth_image(64, 64)
    grid = leg.Grid.from_cell_size(64, 64, 4)
    model = Recorded(image.shape, batch_size=16)
    tracemalloc.start()
    try:
        leg.leg_estimand(model, image, grid, 0, sigma=0.05, n_draws=n_draws, batch_size=32)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_draws():
    few, many = _peak_bytes(64), _peak_bytes(1024)
    # one batch of 32 perturbed 64x64x3 images in float64 is 3 MiB; 1024 of them, 96 MiB
    assert many < 1.2 * few, (few, many)
