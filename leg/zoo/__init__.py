"""Models and data that ship with leg (nothing downloads at run time).

- ``"lite0"``: EfficientNet-Lite0 pretrained on ImageNet (:mod:`leg.zoo.lite0`), in Keras;
  ``"lite0-torch"``: the same network and weights in PyTorch (:mod:`leg.zoo.lite0_torch`),
  on the GPU when PyTorch sees one;
- ``"digits"`` / ``"digits-permuted"``: small CNNs on scikit-learn's digits
  (:mod:`leg.zoo.digits`), trained on true or permuted labels;
- photos from ``skimage.data`` (:mod:`leg.zoo.photos`);
- ground-truth classifiers with known saliency (:mod:`leg.zoo.groundtruth`).

:func:`load_model` also resolves a user's ``.keras``/``.h5`` file, a PyTorch file (``torch.export``
``.pt2`` or TorchScript ``.pt``/``.pth``) or ``module:attribute``.
"""

from __future__ import annotations

import importlib
import os
import sys

ZOO_MODELS = ("lite0", "lite0-torch", "digits", "digits-permuted")


def load_model(spec: str, *, preprocessing: str = "none", softmax: bool = False,
               device: str | None = None):
    """Return a classifier for ``spec``: a zoo name, ``groundtruth:<name>`` (a model of
    :func:`leg.zoo.groundtruth.ground_truth_suite`), a ``.keras``/``.h5`` path, a PyTorch
    ``.pt2`` (``torch.export``) or TorchScript ``.pt``/``.pth`` path, or
    ``module:attribute`` (an object, or a zero-argument callable returning one; a
    ``keras.Model`` or ``torch.nn.Module`` is wrapped).

    ``preprocessing``/``softmax`` apply to the model files and to wrapped modules (see
    :class:`leg.models.KerasClassifier`, :class:`leg.TorchClassifier`); ``device`` to
    PyTorch models (default: where the module is; ``lite0-torch`` and PyTorch files:
    the GPU when PyTorch sees one). Raises ``ValueError`` with what would work.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"The model must be a zoo name {list(ZOO_MODELS)}, a .keras/.h5 file, "
                         f"a TorchScript .pt file or module:attribute; got {spec!r}.")
    if spec == "lite0":
        from leg.zoo.lite0 import load_lite0

        return load_lite0()
    if spec == "lite0-torch":
        from leg.zoo.lite0_torch import load_lite0_torch

        return load_lite0_torch(device=device)
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
    if spec.endswith((".pt", ".pth", ".pt2")):
        return _load_torch_file(spec, preprocessing=preprocessing, softmax=softmax,
                                 device=device)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"Could not import {spec!r} ({exc}); expected module:attribute "
                             "naming a classifier or a function returning one.") from None
        if _is_factory(obj):
            obj = obj()
        if _is_torch_module(obj) or _is_keras_model(obj):
            from leg.models import as_classifier

            if _is_torch_module(obj) and device is not None:
                obj = obj.to(device)
            obj = as_classifier(obj, preprocessing=preprocessing, softmax=softmax)
        if not callable(obj):
            raise ValueError(f"{spec!r} did not give a callable classifier; got "
                             f"{type(obj).__name__}.")
        return obj
    raise ValueError(f"Unknown model {spec!r}: use a zoo name {list(ZOO_MODELS)}, a path to a "
                     ".keras/.h5 or TorchScript .pt file, or module:attribute.")


def _is_torch_module(obj) -> bool:
    torch = sys.modules.get("torch")  # a module object implies torch is already imported
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_keras_model(obj) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


def _load_torch_file(path: str, *, preprocessing: str, softmax: bool, device: str | None):
    """A ``torch.export`` program (``.pt2``) or a TorchScript module (``.pt``/``.pth``)."""
    if not os.path.isfile(path):
        raise ValueError(f"The model file {path!r} does not exist.")
    try:
        import torch
    except ImportError:
        raise ValueError(f"{path!r} is a PyTorch file; install PyTorch (pip install torch) to "
                         "load it.") from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        input_shape = None
        if path.endswith(".pt2"):
            program = torch.export.load(path)
            input_shape = _exported_image_shape(program)
            module = program.module().to(device)
            # An exported program runs the graph it was exported with: there is no mode to
            # switch (export it from a module in eval mode).
            for m in module.modules():
                m.training = False
        else:
            module = torch.jit.load(path, map_location=device).eval()
    except Exception as exc:  # torch raises several types for files it cannot read
        raise ValueError(
            f"Could not load the PyTorch model {path!r} ({exc}). leg loads programs written "
            "by torch.export.save (.pt2) and TorchScript modules written by torch.jit.save "
            "(.pt, .pth); for a state dict, write a function that builds the module and loads "
            "it, and pass it as module:function."
        ) from None
    from leg.torch_models import TorchClassifier

    clf = TorchClassifier(module, preprocessing=preprocessing, softmax=softmax)
    clf.input_shape = input_shape
    return clf


def _exported_image_shape(program) -> tuple[int, int, int] | None:
    """``(H, W, C)`` of an exported program's image input, when export fixed it."""
    user_inputs = program.graph_signature.user_inputs
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            shape = tuple(getattr(node.meta.get("val"), "shape", ()))
            if len(shape) == 4 and all(isinstance(d, int) for d in shape[1:]):
                return int(shape[2]), int(shape[3]), int(shape[1])
            return None
    return None


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
