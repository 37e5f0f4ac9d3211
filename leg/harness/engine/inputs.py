"""Models and images the harness runs on: zoo names, user models, user image folders.

Model specs (``--leg-model``) are those of :func:`leg.zoo.load_model`: ``"lite0"``,
``"lite0-torch"`` (the same network and weights in PyTorch, on the GPU when there is one),
``"digits"``/``"digits-permuted"``, ``"groundtruth:<name>"``, a ``.keras``/``.h5`` file
(wrapped with ``preprocessing="none"``: the file must take ``[0, 1]`` images and return
class scores — build the preprocessing into the model), a PyTorch ``.pt2``/``.pt``/``.pth``
file, or ``"package.module:attribute"`` (a KerasClassifier or a TorchClassifier for the
randomization checks; any classifier for perturbation checks).

Images (``--leg-images DIR``): every image file in ``DIR`` (not recursive, sorted by name),
read and converted as :func:`leg.io.read_image` documents (8/16-bit scaling, RGBA over
white), then centre-cropped to the model's aspect ratio and resized to its input size and
channel count (:func:`leg.io.fit_to_model`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from leg._validation import check_float
from leg.io import IMAGE_SUFFIXES, find_images, fit_to_model, read_image
from leg.zoo import TWINS, ZOO_MODELS

__all__ = [
    "ShiftedClassifier",
    "IMAGE_SUFFIXES",
    "ZOO_MODELS",
    "array_hash",
    "image_folder_names",
    "images_fingerprint",
    "files_fingerprint",
    "load_image_folder",
    "MODEL_OPTIONS_ENV",
    "load_model_once",
    "model_options",
    "model_records",
    "resolve_model_once",
    "set_model_options",
    "model_fingerprint",
    "model_input_shape",
    "prepare_image",
    "saturated_digits",
    "skipped_images",
    "zoo_images",
]



_MODELS: dict[str, object] = {}  # per-process memo: spec -> classifier
#: The environment variable that carries ``--leg-input-size``, ``--leg-preprocessing`` and
#: ``--leg-softmax`` (JSON, ``spec -> options``) to every process that loads the models.
MODEL_OPTIONS_ENV = "LEG_MODEL_OPTIONS"


def set_model_options(spec: str, **options) -> None:
    """Load ``spec`` with ``options`` (those of :func:`leg.zoo.resolve_model` that were given)
    in this process and in the worker processes it starts."""
    given = {k: v for k, v in options.items() if v is not None}
    table = model_options()
    if given:
        table[spec] = given
    else:
        table.pop(spec, None)
    os.environ[MODEL_OPTIONS_ENV] = json.dumps(table, sort_keys=True)
    _MODELS.pop(spec, None)


def model_options(spec: str | None = None) -> dict:
    """The options ``spec`` is loaded with (all specs' when ``None``)."""
    table = json.loads(os.environ.get(MODEL_OPTIONS_ENV) or "{}")
    return table if spec is None else dict(table.get(spec, {}))


def resolve_model_once(spec: str):
    """:func:`leg.zoo.resolve_model` of ``spec`` with its options (:func:`set_model_options`):
    the classifier and where its input size came from. Raises ``ValueError``."""
    from leg.zoo import resolve_model

    return resolve_model(spec, option_prefix="--leg-", **model_options(spec))


def load_model_once(spec: str):
    """The classifier named by ``spec`` (see :func:`leg.zoo.resolve_model`, with the options
    of :func:`set_model_options`), once per process."""
    if spec not in _MODELS:
        resolved = resolve_model_once(spec)
        _MODELS[spec] = resolved.classifier
        _RECORDS[spec] = resolved.record()
    return _MODELS[spec]


_RECORDS: dict[str, dict] = {}


def model_records() -> dict[str, dict]:
    """``spec -> `` input size (and where it came from), preprocessing and softmax of every
    model this process loaded (for ``run.json``)."""
    return dict(_RECORDS)


def model_input_shape(clf) -> tuple[int, int, int]:
    """``(H, W, C)`` the classifier expects (``input_shape`` attribute, KerasClassifier)."""
    shape = getattr(clf, "input_shape", None)
    if shape is None or len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(
            "The model does not declare a fixed input shape (H, W, C) (an 'input_shape', or "
            "an 'image_size' attribute); give it one, or pass --leg-input-size HxW."
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


def _torch_state(module):
    """``(name, array)`` of every tensor in ``module``'s state dict (parameters and
    buffers), copied to the CPU (bfloat16, which NumPy lacks, as float32)."""
    import torch

    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu()
        yield name, (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _is_torch_classifier(clf) -> bool:
    module = getattr(clf, "module", None)
    return module is not None and hasattr(module, "state_dict") and hasattr(clf, "preprocess")


def model_fingerprint(clf) -> str:
    """Hash of a classifier's weights and preprocessing (hex, 16 characters).

    KerasClassifier: every weight array, the preprocessing (name, or module and qualified
    name of a callable), the softmax flag. TorchClassifier: every tensor of the module's
    state dict (parameters and buffers, by name), the same preprocessing and softmax flag.
    The device, memory format and batch size are left out (they do not change the scores
    beyond float rounding). Other callables: their type and every NumPy array among their
    attributes (a ``fingerprint`` attribute, when present, wins).
    """
    if isinstance(getattr(clf, "fingerprint", None), str):
        return clf.fingerprint
    h = hashlib.sha256()
    model = getattr(clf, "model", None)
    if (model is not None and hasattr(model, "get_weights")) or _is_torch_classifier(clf):
        if model is not None and hasattr(model, "get_weights"):
            for w in model.get_weights():
                h.update(array_hash(np.asarray(w)).encode())
        else:
            h.update(b"torch")
            for name, value in _torch_state(clf.module):
                h.update(name.encode() + array_hash(value).encode())
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
    img = np.asarray(img, dtype=np.float64)
    return fit_to_model(img[..., None] if img.ndim == 2 else img, shape[:2], shape[2])[0]


_SCANS: dict[str, tuple[dict, dict]] = {}  # folder -> (name -> raw image, name -> why skipped)


def _scan(directory: str | Path) -> tuple[dict, dict]:
    """Every image file of ``directory`` read once per process: ``(readable, skipped)``,
    ``name -> (H, W, C) array`` and ``name -> reason``. An unreadable or empty file is
    skipped with one warning naming it; a folder with nothing readable is a ``ValueError``."""
    import warnings

    from leg.io import ImageError

    d = Path(directory)
    key = str(d.resolve())
    if key in _SCANS:
        return _SCANS[key]
    if not d.is_dir():
        raise ValueError(f"The images folder {str(d)!r} does not exist.")
    names = [p.name for p in find_images([d])]
    if not names:
        raise ValueError(f"The images folder {str(d)!r} holds no image files "
                         f"({', '.join(IMAGE_SUFFIXES)}).")
    readable, skipped = {}, {}
    for name in names:
        try:
            readable[name] = read_image(d / name)[0]
        except (ImageError, OSError, ValueError) as exc:
            skipped[name] = str(exc).removeprefix(f"{d / name}: ")
            warnings.warn(f"Skipped the image {d / name}: {skipped[name]}", UserWarning,
                          stacklevel=2)
    if not readable:
        raise ValueError(f"No image in {str(d)!r} could be read: "
                         + "; ".join(f"{n}: {r}" for n, r in skipped.items()))
    _SCANS[key] = (readable, skipped)
    return _SCANS[key]


def image_folder_names(directory: str | Path) -> list[str]:
    """The readable image files (``IMAGE_SUFFIXES``, any case) in ``directory``, sorted
    (unreadable ones are skipped: :func:`skipped_images`)."""
    return list(_scan(directory)[0])


def images_fingerprint(directory: str | Path) -> str:
    """Hash of the readable image files of ``directory`` (their names and bytes; hex, 16
    characters): two runs with this hash explained the same images."""
    d = Path(directory)
    h = hashlib.sha256()
    for name in image_folder_names(d):
        h.update(name.encode() + b"\0")
        h.update(hashlib.sha256((d / name).read_bytes()).digest())
    return h.hexdigest()[:16]


def files_fingerprint(directory: str | Path) -> str:
    """Hash of every file of ``directory`` (not recursive, hidden files left out; names and
    bytes; hex, 16 characters), read as bytes only (the masks of ``--leg-masks``)."""
    d = Path(directory)
    h = hashlib.sha256()
    for p in sorted(x for x in d.iterdir() if x.is_file() and not x.name.startswith(".")):
        h.update(p.name.encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def skipped_images(directory: str | Path | None) -> dict[str, str]:
    """``file name -> reason`` for the files of ``directory`` that could not be read."""
    return dict(_scan(directory)[1]) if directory is not None else {}


def load_image_folder(directory: str | Path, shape: tuple[int, int, int]
                      ) -> list[tuple[str, np.ndarray]]:
    """``(file stem, image)`` for every readable image in ``directory``, prepared for
    ``shape`` (read and converted as :func:`leg.io.read_image` documents)."""
    return [(Path(name).stem, prepare_image(raw, shape))
            for name, raw in _scan(directory)[0].items()]


_DIGITS: dict = {}
_SATURATED: list[dict] = []


def saturated_digits() -> list[dict]:
    """The test digits :func:`zoo_images` skipped as saturated (image, model, probability)."""
    return list(_SATURATED)


def zoo_images(spec: str, n: int) -> list[tuple[str, np.ndarray]]:
    """The first ``n`` shipped images for a zoo model, as ``(id, image)``.

    ``digits``: per digit 0, 1, 2, ... its first test image that neither the digits CNN nor
    its permuted-label twin saturates (top-1 probability above 1 - 1e-6: no map of it could
    move; ids ``digit<d>``, or ``digit<d>-<k>`` for the ``k``-th; the skipped ones are
    :func:`saturated_digits`);
    ``lite0`` and ``lite0-torch``: the photos of :mod:`leg.zoo.photos` in their listed order.
    """
    spec = TWINS.get(spec, spec)
    if spec.startswith("digits"):
        from leg.zoo.digits import choose_test_digits

        key = ("digits", n)
        if key not in _DIGITS:
            models = {name: load_model_once(name) for name in ("digits", "digits-permuted")}
            chosen, saturated = choose_test_digits(models, n, size=32, seed=0)
            _DIGITS[key] = [(i, img.astype(np.float64)) for i, _, img in chosen]
            _SATURATED.extend(s for s in saturated if s not in _SATURATED)
        return list(_DIGITS[key])
    if spec == "lite0":
        from leg.zoo.photos import load_photo, photo_names

        return [(name, load_photo(name)) for name in photo_names()[:n]]
    raise ValueError(f"The model {spec!r} ships no images; pass --leg-images DIR.")


class ShiftedClassifier:
    """``f_shifted(z) = f((z - shift) / scale)``: the classifier ``f`` fed the input
    shifted (and scaled) back.

    ``classifier``: ``(N, H, W, C) -> (N, K)`` scores; ``shift``: a number or an array that
    broadcasts to one image ``(H, W, C)``; ``scale`` > 0 (default 1: a pure shift). Calling
    it and, when ``classifier`` has one, its ``gradient(images, target, **kwargs)`` (the
    gradient w.r.t. ``z``: ``classifier.gradient((z - shift) / scale, ...) / scale`` by the
    chain rule) are all it offers: explain ``scale * x + shift`` with it and compare with
    the map of ``x`` under ``classifier``
    (:func:`leg.harness.checks.axiomatic.input_invariance`). The axiomatic suite compares
    ``0.9 x`` and ``0.9 x + 0.1`` (both in ``[0, 1]``), each under its own wrapper, so the
    two differ by a pure shift.
    """

    def __init__(self, classifier, shift, *, scale: float = 1.0):
        if not callable(classifier):
            raise TypeError(f"The 'classifier' must be callable; got "
                            f"{type(classifier).__name__}.")
        self.classifier = classifier
        self.shift = np.asarray(shift, dtype=np.float64)
        if not np.all(np.isfinite(self.shift)):
            raise ValueError("The 'shift' must be finite.")
        self.scale = check_float(scale, "scale", low=0.0, low_inclusive=False)
        if hasattr(classifier, "gradient"):
            self.gradient = self._gradient

    def _unshift(self, images) -> np.ndarray:
        return (np.asarray(images, dtype=np.float64) - self.shift) / self.scale

    def __call__(self, images) -> np.ndarray:
        return self.classifier(self._unshift(images))

    def _gradient(self, images, target, **kwargs) -> np.ndarray:
        return np.asarray(self.classifier.gradient(self._unshift(images), target, **kwargs)
                          ) / self.scale
