"""Models and images the harness runs on: zoo names, user models, user image folders.

Model specs (``--leg-model``)
    ``"lite0"``: pretrained EfficientNet-Lite0 (:func:`leg.zoo.lite0.load_lite0`);
    ``"digits"`` / ``"digits-permuted"``: the digits CNN trained on true / permuted labels
    (:func:`leg.zoo.digits.load_digits_cnn`); a path ending in ``.keras`` or ``.h5``: loaded
    with ``keras.models.load_model(compile=False)`` and wrapped as a
    :class:`leg.models.KerasClassifier` with ``preprocessing="none"`` (the file must take
    ``[0, 1]`` images and return class scores — build the preprocessing into the model);
    ``"groundtruth:<name>"``: the model of that name in
    :func:`leg.zoo.groundtruth.ground_truth_suite` (e.g. ``groundtruth:linear_region_28x28x3``);
    ``"package.module:attribute"``: the attribute, called without arguments when it is not
    already a classifier, must give a classifier (a KerasClassifier for the randomization
    checks; any callable for perturbation checks).

Images (``--leg-images DIR``)
    Every ``*.jpg``, ``*.jpeg`` and ``*.png`` in ``DIR`` (not recursive, sorted by name) is
    read with Pillow, converted to RGB (grey for one-channel models: the mean of R, G, B),
    scaled to float ``[0, 1]``, centre-cropped to the model's aspect ratio and resized
    (``skimage.transform.resize``, anti-aliased) to the model's input size.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "ZOO_MODELS",
    "array_hash",
    "image_folder_names",
    "load_image_folder",
    "load_model",
    "model_fingerprint",
    "model_input_shape",
    "prepare_image",
    "zoo_images",
]

ZOO_MODELS = ("lite0", "digits", "digits-permuted")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_MODELS: dict[str, object] = {}  # per-process memo: spec -> classifier


def load_model(spec: str):
    """The classifier named by ``spec`` (see the module docstring), loaded once per process."""
    if spec in _MODELS:
        return _MODELS[spec]
    if spec == "lite0":
        from leg.zoo.lite0 import load_lite0

        clf = load_lite0()
    elif spec in ("digits", "digits-permuted"):
        from leg.zoo.digits import load_digits_cnn

        clf = load_digits_cnn("true" if spec == "digits" else "permuted")
    elif spec.endswith((".keras", ".h5")):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"The model file {spec!r} does not exist.")
        import keras

        from leg.models import KerasClassifier

        clf = KerasClassifier(keras.models.load_model(path, compile=False))
    elif spec.startswith("groundtruth:"):
        from leg.zoo.groundtruth import ground_truth_suite

        name = spec.partition(":")[2]
        found = [m for m in ground_truth_suite() if m.name == name]
        if not found:
            raise ValueError(f"Unknown ground-truth model {name!r}; choose from "
                             f"{[m.name for m in ground_truth_suite()]}.")
        clf = found[0]
    elif ":" in spec:
        module, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"Cannot load the model {spec!r}: {exc}.") from exc
        clf = obj() if _is_factory(obj) else obj
    else:
        raise ValueError(
            f"Unknown model {spec!r}: use one of {list(ZOO_MODELS)}, a .keras/.h5 file or "
            "'module:attribute'."
        )
    if not callable(clf):
        raise TypeError(f"The model {spec!r} did not give a callable classifier; got "
                        f"{type(clf).__name__}.")
    _MODELS[spec] = clf
    return clf


def _is_factory(obj) -> bool:
    """A class, or a function with no required parameter (a classifier takes images)."""
    import inspect

    if isinstance(obj, type):
        return True
    if not inspect.isfunction(obj):
        return False
    params = inspect.signature(obj).parameters.values()
    return not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   for p in params)


def model_input_shape(clf) -> tuple[int, int, int]:
    """``(H, W, C)`` the classifier expects (``input_shape`` attribute, KerasClassifier)."""
    shape = getattr(clf, "input_shape", None)
    if shape is None or len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(
            "The model does not declare a fixed input shape (H, W, C) (an 'input_shape' "
            "attribute); give it one so images can be resized to it."
        )
    return tuple(int(d) for d in shape)


def array_hash(a: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (hex, 16 characters)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def _callable_id(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def model_fingerprint(clf) -> str:
    """Hash of a classifier's weights and preprocessing (hex, 16 characters).

    KerasClassifier: every weight array, the preprocessing (name, or module and qualified
    name of a callable), the softmax flag. Other callables: their type and every NumPy
    array among their attributes (a ``fingerprint`` attribute, when present, wins).
    """
    if isinstance(getattr(clf, "fingerprint", None), str):
        return clf.fingerprint
    h = hashlib.sha256()
    model = getattr(clf, "model", None)
    if model is not None and hasattr(model, "get_weights"):
        for w in model.get_weights():
            h.update(array_hash(np.asarray(w)).encode())
        prep = clf.preprocessing if clf.preprocessing != "custom" else _callable_id(clf.preprocess)
        h.update(json.dumps([prep, bool(getattr(clf, "apply_softmax", False))]).encode())
    else:
        h.update(_callable_id(type(clf)).encode())
        for key, value in sorted(getattr(clf, "__dict__", {}).items()):
            if isinstance(value, np.ndarray):
                h.update(key.encode() + array_hash(value).encode())
            elif isinstance(value, int | float | str | bool | tuple):
                h.update(f"{key}={value!r}".encode())
    return h.hexdigest()[:16]


def prepare_image(img: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """An RGB/grey image in ``[0, 1]`` centre-cropped and resized to ``shape`` ``(H, W, C)``."""
    from skimage.transform import resize

    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        img = img[..., None]
    h, w, c = shape
    if c == 1 and img.shape[2] != 1:
        img = img[..., :3].mean(axis=2, keepdims=True)
    elif c == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] != c:
        img = img[..., :c]
    ih, iw = img.shape[:2]
    target = h / w
    if ih / iw > target:  # too tall: crop rows
        new_h = max(1, round(iw * target))
        top = (ih - new_h) // 2
        img = img[top:top + new_h]
    else:
        new_w = max(1, round(ih / target))
        left = (iw - new_w) // 2
        img = img[:, left:left + new_w]
    if img.shape[:2] != (h, w):
        img = resize(img, (h, w, c), anti_aliasing=True)
    return np.clip(img, 0.0, 1.0)


def image_folder_names(directory: str | Path) -> list[str]:
    """The image files (``IMAGE_SUFFIXES``, any case) in ``directory``, sorted."""
    d = Path(directory)
    if not d.is_dir():
        raise ValueError(f"The images folder {str(d)!r} does not exist.")
    names = sorted(p.name for p in d.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise ValueError(f"The images folder {str(d)!r} holds no JPEG or PNG files.")
    return names


def load_image_folder(directory: str | Path, shape: tuple[int, int, int]
                      ) -> list[tuple[str, np.ndarray]]:
    """``(file stem, image)`` for every JPEG/PNG in ``directory``, prepared for ``shape``."""
    from PIL import Image

    out = []
    for name in image_folder_names(directory):
        with Image.open(Path(directory) / name) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
        out.append((Path(name).stem, prepare_image(rgb, shape)))
    return out


def zoo_images(spec: str, n: int) -> list[tuple[str, np.ndarray]]:
    """The first ``n`` shipped images for a zoo model, as ``(id, image)``.

    ``digits``: the first test image of each digit 0, 1, 2, ... (ids ``digit<d>``);
    ``lite0``: the photos of :mod:`leg.zoo.photos` in their listed order.
    """
    if spec.startswith("digits"):
        from leg.zoo.digits import digits_data

        data = digits_data(size=32, seed=0)
        out = []
        for d in range(min(n, 10)):
            idx = int(np.flatnonzero(data["y_test"] == d)[0])
            out.append((f"digit{d}", data["x_test"][idx].astype(np.float64)))
        return out
    if spec == "lite0":
        from leg.zoo.photos import load_photo, photo_names

        return [(name, load_photo(name)) for name in photo_names()[:n]]
    raise ValueError(f"The model {spec!r} ships no images; pass --leg-images DIR.")
