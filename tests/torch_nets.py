"""Tiny PyTorch networks for the harness tests (import only where torch is installed)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SIZE = 16


class TinyBN(nn.Module):
    """``(N, 3, 16, 16)`` -> ``(N, 3)``: conv, batch norm, conv, a linear read-out.

    Layer groups (output first): ``logits``, ``block.2``, ``block.0``, ``conv1``
    (``block`` is an ``nn.Sequential``, opened).
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.block = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
        self.logits = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        h = self.block(torch.relu(self.conv1(x)))
        return self.logits(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 4), 1))


class Quadrant(nn.Module):
    """A CNN that scores how bright each of three regions is (top-left quadrant, top-right
    quadrant, bottom half): a 3x3 mean filter, a batch norm (running statistics set as if
    trained), ReLU, average pooling to 4x4 and a linear read-out of the regions.

    LEG's maps (joint mode: brightness added to every channel) follow the regions.
    """

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.logits = nn.Linear(2 * 4 * 4, 3)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0] = 1.0 / 27  # channel 0: local brightness
            self.conv.weight[1] = -1.0 / 27  # channel 1: local darkness
            self.conv.bias.zero_()
            self.bn.running_mean.fill_(0.0)
            self.bn.running_var.fill_(0.25)
            regions = torch.zeros(3, 4, 4)
            regions[0, :2, :2] = 1.0
            regions[1, :2, 2:] = 1.0
            regions[2, 2:, :] = 0.5
            w = torch.zeros(3, 2, 4, 4)
            w[:, 0] = 4.0 * regions
            self.logits.weight.copy_(w.reshape(3, -1))
            self.logits.bias.zero_()
        self.eval()

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return self.logits(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 4), 1))


class Colours(nn.Module):
    """Class ``k`` = how much of colour ``k`` (red, green, blue) the image holds: a 1x1
    colour-opponent convolution (channel ``k`` = ``x_k`` minus the mean of the others), a
    batch norm with running statistics 0/1, ReLU, global average pooling and a diagonal
    read-out. On an image with a red, a green and a blue patch, Grad-CAM for class ``k``
    must light up patch ``k`` alone (each class reads one channel, and that channel is
    non-zero only on its patch)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bn = nn.BatchNorm2d(3)
        self.logits = nn.Linear(3, 3)
        with torch.no_grad():
            self.conv.weight.copy_((1.5 * torch.eye(3) - 0.5).reshape(3, 3, 1, 1))
            self.conv.bias.zero_()
            self.logits.weight.copy_(4.0 * torch.eye(3))
            self.logits.bias.zero_()
        self.eval()

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return self.logits(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


#: The patches of :func:`colour_patches`: red top-left, green top-right, blue bottom.
PATCHES = ((slice(1, 7), slice(1, 7)), (slice(1, 7), slice(9, 15)), (slice(10, 15), slice(4, 12)))


def colour_patches() -> np.ndarray:
    """A ``(16, 16, 3)`` grey image with a red, a green and a blue patch (:data:`PATCHES`)."""
    img = np.full((SIZE, SIZE, 3), 0.5)
    for k, region in enumerate(PATCHES):
        img[region] = 0.1
        img[region + (k,)] = 0.9
    return img


def quadrant_classifier():
    """:class:`Quadrant` as a TorchClassifier on ``(N, 16, 16, 3)`` images (softmax)."""
    import leg

    return leg.TorchClassifier(Quadrant(), softmax=True, input_shape=(SIZE, SIZE, 3),
                               class_names=["top-left", "top-right", "bottom"])


def quadrant_images(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 16, 16, 3)`` images in ``[0, 1]``: noise with one bright region each (cycling
    through the three classes)."""
    rng = np.random.default_rng(seed)
    out = rng.uniform(0.0, 0.3, size=(n, SIZE, SIZE, 3))
    h = SIZE // 2
    for i in range(n):
        region = [(slice(0, h), slice(0, h)), (slice(0, h), slice(h, None)),
                  (slice(h, None), slice(None))][i % 3]
        out[i][region] += 0.6
    return np.clip(out, 0.0, 1.0)


class PooledHead(nn.Module):
    """``(N, 3, 16, 16)`` -> ``(N, 3)``: conv, ReLU, conv, ReLU, then a module
    ``nn.AdaptiveAvgPool2d(1)`` (``pool``) and a linear read-out. Its last 4-D output is the
    1x1 pooling, as in EfficientNet-Lite's head; Grad-CAM there would be constant. The
    read-out weights are non-negative, so Grad-CAM on ``act2`` weighs non-negative
    activations by non-negative weights: a map that follows them, never all zero."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1, stride=2)
        self.act2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.logits = nn.Linear(8, 3)
        with torch.no_grad():
            self.logits.weight.abs_()
        self.eval()

    def forward(self, x):
        h = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.logits(torch.flatten(self.pool(h), 1))


class NoSize(nn.Module):
    """A fully convolutional classifier that declares no input size: conv, ReLU, global
    average pooling, linear (``(N, 3, H, W)`` -> ``(N, 2)`` at any ``H, W``)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.logits = nn.Linear(4, 2)
        self.eval()

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.logits(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


class DeclaresImageSize(NoSize):
    """:class:`NoSize` declaring ``input_image_size = 24``, the attribute the reference
    EfficientNet (``efficientnet_lite_pytorch``) has."""

    input_image_size = 24


def ready_classifier():
    """:class:`NoSize` already wrapped (softmax, 20x20): a ready classifier."""
    import leg

    return leg.TorchClassifier(NoSize(), softmax=True, input_shape=(20, 20, 3))
