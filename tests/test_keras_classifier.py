"""leg.KerasClassifier: LEG's perturbations built inside the compiled model call."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import leg  # noqa: E402
from leg.grid import Grid  # noqa: E402
from leg.sampling import sample_responses  # noqa: E402


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="tanh")(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="tanh")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def test_device_batches_default_follows_the_gpu(model):
    clf = leg.KerasClassifier(model)
    assert clf.device_batches == bool(tf.config.list_logical_devices("GPU"))


@pytest.mark.parametrize("mode", ["joint", "per_channel"])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("score", ["probability", "logit"])
def test_device_batches_match_host_batches(model, mode, clip, score):
    image = np.random.default_rng(0).uniform(0.0, 1.0, size=(16, 16, 3))
    grid = Grid.from_cell_size(16, 16, 4)
    kwargs = dict(sigma=0.05, n_samples=20, mode=mode, clip=clip, score=score, batch_size=6,
                  seed=3)
    runs = [sample_responses(leg.KerasClassifier(model, softmax=True, device_batches=flag),
                             image, grid, **kwargs) for flag in (True, False)]
    np.testing.assert_allclose(runs[0].eps, runs[1].eps, atol=1e-6 if clip else 0)
    np.testing.assert_allclose(runs[0].delta, runs[1].delta, atol=2e-6)
    if clip:
        assert np.abs(runs[0].eps - np.asarray(
            sample_responses(leg.KerasClassifier(model, softmax=True), image, grid,
                             **{**kwargs, "clip": False}).eps)).max() > 1e-3  # clipping bit
