"""Preprocessing presets: ``(..., C)`` RGB images in ``[0, 1]`` -> the model's input range.

Shared by the Keras adapter (:mod:`leg.models`, NumPy) and the PyTorch adapter
(:mod:`leg.torch_models`, which mirrors these presets on tensors).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from leg._validation import check_choice

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])
CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68])


def _caffe(x: np.ndarray) -> np.ndarray:
    # VGG/ResNet "caffe" mode: RGB [0,1] -> BGR [0,255] minus the ImageNet channel means.
    return x[..., ::-1] * 255.0 - CAFFE_BGR_MEAN


def _tf(x: np.ndarray) -> np.ndarray:
    return x * 2.0 - 1.0


def _torch(x: np.ndarray) -> np.ndarray:
    return (x - IMAGENET_MEAN) / IMAGENET_STD


def _lite0(x: np.ndarray) -> np.ndarray:
    # TF EfficientNet-Lite checkpoints: inception-style (255x - 127) / 128 (leg.zoo.lite0)
    return (x * 255.0 - 127.0) / 128.0


def _none(x: np.ndarray) -> np.ndarray:
    return x


PREPROCESSING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "caffe": _caffe,
    "tf": _tf,
    "torch": _torch,
    "lite0": _lite0,
    "none": _none,
}


def get_preprocessing(preprocessing: str | Callable) -> Callable[[np.ndarray], np.ndarray]:
    """Resolve a preprocessing name (``"caffe"``, ``"tf"``, ``"torch"``, ``"lite0"``,
    ``"none"``) or callable."""
    if callable(preprocessing):
        return preprocessing
    check_choice(preprocessing, "preprocessing", PREPROCESSING)
    return PREPROCESSING[preprocessing]
