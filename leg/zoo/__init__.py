"""Models and data that ship with leg (nothing downloads at run time).

- ``"lite0"``: EfficientNet-Lite0 pretrained on ImageNet (:mod:`leg.zoo.lite0`);
- ``"digits"`` / ``"digits-permuted"``: small CNNs on scikit-learn's digits
  (:mod:`leg.zoo.digits`), trained on true or permuted labels;
- photos from ``skimage.data`` (:mod:`leg.zoo.photos`);
- ground-truth classifiers with known saliency (:mod:`leg.zoo.groundtruth`).

:func:`load_model` also resolves a user's ``.keras``/``.h5`` file or ``module:attribute``.
"""

from __future__ import annotations

import importlib
import os

ZOO_MODELS = ("lite0", "digits", "digits-permuted")


def load_model(spec: str, *, preprocessing: str = "none", softmax: bool = False):
    """Return a classifier for ``spec``: a zoo name, ``groundtruth:<name>`` (a model of
    :func:`leg.zoo.groundtruth.ground_truth_suite`), a ``.keras``/``.h5`` path, or
    ``module:attribute`` (an object, or a zero-argument callable returning one).

    ``preprocessing``/``softmax`` apply to Keras files only (see
    :class:`leg.models.KerasClassifier`). Raises ``ValueError`` with what would work.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"The model must be a zoo name {list(ZOO_MODELS)}, a .keras/.h5 file "
                         f"or module:attribute; got {spec!r}.")
    if spec == "lite0":
        from leg.zoo.lite0 import load_lite0

        return load_lite0()
    if spec in ("digits", "digits-permuted"):
        from leg.zoo.digits import load_digits_cnn

        return load_digits_cnn("true" if spec == "digits" else "permuted")
    if spec.startswith("groundtruth:"):
        from leg.zoo.groundtruth import ground_truth_suite

        name = spec.partition(":")[2]
        found = [m for m in ground_truth_suite() if m.name == name]
        if not found:
            raise ValueError(f"Unknown ground-truth model {name!r}; choose from "
                             f"{[m.name for m in ground_truth_suite()]}.")
        return found[0]
    if spec.endswith((".keras", ".h5")):
        if not os.path.isfile(spec):
            raise ValueError(f"The model file {spec!r} does not exist.")
        import keras

        from leg.models import KerasClassifier

        try:
            model = keras.models.load_model(spec, compile=False)
        except Exception as exc:  # keras raises many types for unreadable files
            raise ValueError(f"Could not load the Keras model {spec!r}: {exc}") from None
        return KerasClassifier(model, preprocessing=preprocessing, softmax=softmax)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"Could not import {spec!r} ({exc}); expected module:attribute "
                             "naming a classifier or a function returning one.") from None
        if _is_factory(obj):
            obj = obj()
        if not callable(obj):
            raise ValueError(f"{spec!r} did not give a callable classifier; got "
                             f"{type(obj).__name__}.")
        return obj
    raise ValueError(f"Unknown model {spec!r}: use a zoo name {list(ZOO_MODELS)}, a path to a "
                     ".keras/.h5 file, or module:attribute.")


def _is_factory(obj) -> bool:
    """A function or class taking no required arguments (not an already-built classifier)."""
    import inspect

    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return False
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params)
