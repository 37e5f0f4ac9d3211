"""leg.leg_estimand in bounded memory: the model's gradient sees at most
``gradient_batch_size`` images, the peak does not grow with the number of draws, and the
numbers do not depend on the gradient batch."""

import tracemalloc

import numpy as np
import pytest

import leg
from tests.models import smooth_image


class Recorded:
    """A smooth non-linear score with an exact gradient, recording the batch sizes it is
    given: ``f = tanh(Σ w·x)`` over all channels, two classes ``[f, -f]``."""

    def __init__(self, shape, seed=0):
        self.w = np.random.default_rng(seed).standard_normal(shape) / np.sqrt(np.prod(shape))
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
def test_gradient_batches_bound_the_calls_and_keep_the_numbers(mode):
    image = smooth_image(24, 24)
    grid = leg.Grid.from_cell_size(24, 24, 4)
    whole, small, tiny = Recorded(image.shape), Recorded(image.shape), Recorded(image.shape)
    runs = [leg.leg_estimand(model, image, grid, 0, sigma=0.05, mode=mode, n_draws=64,
                             batch_size=20, gradient_batch_size=g, seed=3)
            for model, g in ((whole, 20), (small, 6), (tiny, 1))]
    assert max(whole.sizes) == 20 and max(small.sizes) == 6 and max(tiny.sizes) == 1
    n = 64 * (3 if mode == "per_channel" else 1)
    assert sum(whole.sizes) == sum(small.sizes) == sum(tiny.sizes) == n
    for other in runs[1:]:  # a numpy model's gradients do not depend on the batch
        np.testing.assert_array_equal(other.channel_maps, runs[0].channel_maps)
        assert other.half_correlation == runs[0].half_correlation


def test_the_default_gradient_batch_is_small():
    image = smooth_image(16, 16)
    model = Recorded(image.shape)
    leg.leg_estimand(model, image, leg.Grid.from_cell_size(16, 16, 4), 0, sigma=0.05,
                     n_draws=128)  # blocks of 64 draws, gradients 16 at a time
    assert set(model.sizes) == {16}


def _peak_bytes(n_draws: int) -> int:
    image = smooth_image(64, 64)
    grid = leg.Grid.from_cell_size(64, 64, 4)
    model = Recorded(image.shape)
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
