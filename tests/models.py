"""Tiny analytic classifiers used across the unit tests (no framework needed)."""

from __future__ import annotations

import numpy as np


class LinearSigmoid:
    """``p = sigmoid(a + Σ w·x)`` over the channel-mean image; scores ``[p, 1 − p]``.

    ``gradient`` of ``p`` w.r.t. a cell's intensity (added to all channels equally) is
    ``p(1−p)·Σ_{cell} w``, so LEG's joint-mode target is the cell-pooled weight map.
    """

    def __init__(self, weights: np.ndarray, scale: float = 1.0, offset: float = 0.0):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.scale = scale
        self.offset = offset
        self.calls = 0

    def logit(self, images):
        return self.offset + self.scale * np.einsum("nhw,hw->n", images.mean(-1), self.weights)

    def __call__(self, images):
        self.calls += len(images)
        p = 1.0 / (1.0 + np.exp(-self.logit(np.asarray(images))))
        return np.stack([p, 1.0 - p], axis=1)


class Linear:
    """Scores ``[Σ w·x, −Σ w·x]`` per channel-sum: exactly linear, so LEG is unbiased."""

    def __init__(self, weights: np.ndarray):
        self.weights = np.asarray(weights, dtype=np.float64)

    def __call__(self, images):
        s = np.einsum("nhwc,hw->n", np.asarray(images), self.weights)
        return np.stack([s, -s], axis=1)


def block_weights(h: int, w: int) -> np.ndarray:
    weights = np.zeros((h, w))
    weights[h // 6: h // 2, w // 4: 3 * w // 4] = 1.0
    weights[2 * h // 3: 5 * h // 6, w // 8: w // 3] = -0.5
    return weights


def smooth_image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.15 * np.sin(6 * xx + 2 * yy)[..., None] + 0.05 * rng.standard_normal((h, w, c))
    return np.clip(base, 0.05, 0.95)


def cli_model():
    """A 32x32 classifier for command-line tests (``--model tests.models:cli_model``)."""
    model = LinearSigmoid(block_weights(32, 32), scale=0.05)
    model.input_size = (32, 32)
    model.class_names = ["blob", "not blob"]
    return model


def torch_module_in_training_mode():
    """A ``torch.nn.Module`` left in training mode (``--model`` must refuse it clearly)."""
    import torch

    return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Dropout(0.5),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())


def cli_model_without_size():
    """:func:`cli_model` without its ``input_size``: a ready classifier that declares no
    size (it scores any size whose weights fit: 16x16 block weights here)."""
    model = LinearSigmoid(block_weights(16, 16), scale=0.05)
    model.class_names = ["blob", "not blob"]
    return model


class NoisyLinear:
    """:class:`Linear` plus independent Gaussian noise of std ``noise`` on every score (a
    seeded stream): LEG's map then has a known, tunable reproducibility."""

    def __init__(self, weights: np.ndarray, noise: float, seed: int = 0):
        self.linear = Linear(weights)
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)

    def __call__(self, images):
        scores = self.linear(images)
        return scores + self.noise * self.rng.standard_normal(scores.shape)


class IgnoresImage:
    """Scores that do not depend on the image: seeded noise around a fixed ``[0.6, 0.4]``."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def __call__(self, images):
        self.calls += len(images)
        p = 0.6 + 0.01 * self.rng.standard_normal(len(images))
        return np.stack([p, 1.0 - p], axis=1)


def small_cli_model():
    """An 8x8 classifier: smaller than the default 14x14 grid."""
    model = LinearSigmoid(block_weights(8, 8), scale=0.05)
    model.input_size = (8, 8)
    model.class_names = ["blob", "not blob"]
    return model
