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
from collections.abc import Callable
from dataclasses import dataclass

ZOO_MODELS = ("lite0", "lite0-torch", "digits", "digits-permuted")
#: Zoo models that are another zoo model in another framework, ``twin -> original``: the
#: same weights and images.
TWINS = {"lite0-torch": "lite0"}


def uses_tensorflow(spec: str) -> bool:
    """Whether loading ``spec`` imports TensorFlow (the zoo's Keras models, Keras files)."""
    return (spec in ZOO_MODELS and not spec.endswith("-torch")) or spec.endswith((".keras",
                                                                                  ".h5"))


def load_model(spec: str, *, preprocessing: str | None = None, softmax: bool | None = None,
               device: str | None = None):
    """Return a classifier for ``spec``: a zoo name, ``groundtruth:<name>`` (a model of
    :func:`leg.zoo.groundtruth.ground_truth_suite`), a ``.keras``/``.h5`` path, a PyTorch
    ``.pt2`` (``torch.export``) or TorchScript ``.pt``/``.pth`` path, or
    ``module:attribute`` (an object, or a zero-argument callable returning one; a
    ``keras.Model`` or ``torch.nn.Module`` is wrapped).

    ``preprocessing``/``softmax`` apply to the model files and to wrapped modules (default
    ``"none"``, no softmax; see :class:`leg.models.KerasClassifier`,
    :class:`leg.TorchClassifier`) and are refused for a ready classifier; ``device`` to
    PyTorch models (default: where the module is; ``lite0-torch`` and PyTorch files: the
    GPU when PyTorch sees one). Raises ``ValueError`` with what would work.
    :func:`resolve_model` also resolves the image size the model runs at.
    """
    return resolve_model(spec, preprocessing=preprocessing, softmax=softmax,
                         device=device).classifier


@dataclass(frozen=True)
class ResolvedModel:
    """A classifier, the image size it runs at and how it was built (:func:`resolve_model`).

    Attributes
    ----------
    classifier : callable
        ``(N, H, W, C)`` images in ``[0, 1]`` -> ``(N, K)`` scores.
    spec : str
        The model as named (zoo name, path or ``module:attribute``).
    input_size : (H, W) or None
        The image size to resize images to; None when nothing declares one.
    channels : int or None
        The channel count the model takes, when known (None: keep the image's).
    size_from : str
        Where ``input_size`` came from: ``"input_shape"``/``"image_shape"`` (a fixed input
        the classifier checks), ``"input_size"``, ``"image_size"``, ``"input_image_size"``
        (an attribute the model declares), ``"option"`` (given by the user) or ``"none"``.
    declared_size : (H, W) or None
        The size the model declares, when the user's ``input_size`` replaced it.
    preprocessing : str or None
        What leg's wrapper applies (``"none"``, ``"caffe"``, ..., ``"custom"``); for a ready
        classifier its own ``preprocessing`` attribute, None when it has none.
    softmax : bool or None
        Whether a softmax is applied to the outputs, as for ``preprocessing``.
    wrapped : bool
        True when leg wrapped a file or a bare ``keras.Model``/``torch.nn.Module`` (the
        preprocessing and softmax options applied); False for a ready classifier.
    """

    classifier: Callable
    spec: str
    input_size: tuple[int, int] | None
    channels: int | None
    size_from: str
    declared_size: tuple[int, int] | None
    preprocessing: str | None
    softmax: bool | None
    wrapped: bool

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """``(H, W, C)`` images are fitted to (C = 3 when the model does not say), or None."""
        if self.input_size is None:
            return None
        return (*self.input_size, self.channels or 3)

    def record(self) -> dict:
        """JSON-ready description for ``results.json`` / ``run.json``."""
        return {"input_size": list(self.input_size) if self.input_size else None,
                "channels": self.channels, "input_size_from": self.size_from,
                "declared_input_size": (list(self.declared_size) if self.declared_size
                                        else None),
                "preprocessing": self.preprocessing, "softmax": self.softmax,
                "wrapped": self.wrapped}


def parse_input_size(value) -> tuple[int, int]:
    """``"HxW"`` (e.g. ``"224x224"``) or a pair of positive ints as ``(H, W)``; a
    ``ValueError`` saying what is expected otherwise."""
    try:
        if isinstance(value, str):
            h, w = (int(v) for v in value.lower().split("x"))
        else:
            h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"expected an input size HxW such as 224x224, got {value!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"expected a positive input size HxW such as 224x224, got {value!r}")
    return h, w


def declared_input_size(model) -> tuple[tuple[int, int], int | None, str, bool] | None:
    """The image size ``model`` declares: ``((H, W), channels or None, attribute, strict)``,
    or None.

    Looked up in order: a fixed ``input_shape``/``image_shape`` ``(H, W, C)`` (strict: the
    classifier takes no other size), then an ``input_size``, ``image_size`` or
    ``input_image_size`` attribute (an int or ``(H, W)``; the reference EfficientNet of
    ``efficientnet_lite_pytorch`` has ``input_image_size``), on the classifier and on the
    module or Keras model it wraps (``.module``, ``.model``).
    """
    owners = [model, *(o for o in (getattr(model, "module", None), getattr(model, "model", None))
                       if o is not None)]
    channels = None
    for owner in owners:
        for attr in ("input_shape", "image_shape"):
            shape = _int_shape(getattr(owner, attr, None), attr)
            if shape is None:
                continue
            if len(shape) == 4:  # keras.Model.input_shape: (None, H, W, C)
                shape = shape[1:]
            if len(shape) != 3:
                continue
            channels = channels or shape[2]
            if shape[0] is not None and shape[1] is not None:
                return (shape[0], shape[1]), shape[2], attr, True
    for owner in owners:
        for attr in ("input_size", "image_size", "input_image_size"):
            value = getattr(owner, attr, None)
            if isinstance(value, bool) or value is None or callable(value):
                continue
            if isinstance(value, int):
                value = (value, value)
            try:
                return parse_input_size(value), channels, attr, False
            except ValueError:
                continue
    return None


def _int_shape(shape, attr: str):
    """A shape attribute as a tuple of ints/None, or None when it is not a shape."""
    if shape is None or isinstance(shape, str) or callable(shape):
        return None
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        return None


def _option(prefix: str | None, name: str) -> str:
    """How the user spells option ``name``: ``--input-size`` (CLI), ``--leg-input-size``
    (harness) or ``input_size=`` (Python)."""
    if prefix is None:
        return f"{name}="
    return prefix + name.replace("_", "-")


def resolve_model(spec: str, *, input_size=None, preprocessing: str | None = None,
                  softmax: bool | None = None, device: str | None = None,
                  require_size: bool = False, option_prefix: str | None = None
                  ) -> ResolvedModel:
    """Load ``spec`` (as :func:`load_model`) and resolve the image size it runs at.

    ``input_size`` (``"HxW"`` or ``(H, W)``) is used when the model declares no size, and
    replaces a size it only declares as an attribute (``image_size``, ...); it is refused
    when it contradicts a fixed input shape. ``preprocessing`` (default ``"none"``) and
    ``softmax`` (default False) apply to model files and wrapped modules; for a ready
    classifier (a zoo model, or ``module:attribute`` giving anything but a bare
    ``keras.Model``/``torch.nn.Module``) they are refused. A wrapped ``torch.nn.Module``
    gets the resolved size as its ``input_shape``. With ``require_size``, a model with no
    size at all and no ``input_size`` is refused. ``option_prefix`` names the options in
    the messages (``"--"`` for ``leg explain``, ``"--leg-"`` for the harness; default the
    Python keywords). Raises ``ValueError`` with one line saying what would work.
    """
    size = None if input_size is None else parse_input_size(input_size)
    given = [_option(option_prefix, n) for n, v in
             (("preprocessing", preprocessing), ("softmax", softmax)) if v is not None]
    if given and isinstance(spec, str) and (spec in ZOO_MODELS
                                            or spec.startswith("groundtruth:")):
        raise ValueError(f"{' and '.join(given)} cannot apply: the zoo model {spec!r} is a "
                         "ready classifier with its own preprocessing and outputs.")
    classifier, wrapped = _load(spec, preprocessing="none" if preprocessing is None
                                else preprocessing, softmax=bool(softmax), device=device)
    if given and not wrapped:
        raise ValueError(
            f"{' and '.join(given)} cannot apply: {spec!r} gives a ready classifier "
            f"({type(classifier).__name__}) with its own preprocessing and outputs; build "
            "them into it, or give the bare keras.Model / torch.nn.Module to have leg wrap "
            "it.")
    found = declared_input_size(classifier)
    channels = found[1] if found else None
    declared, size_from = None, "none"
    if found is not None and found[3]:  # a fixed input shape
        if size is not None and size != found[0]:
            raise ValueError(
                f"{_option(option_prefix, 'input_size')} {size[0]}x{size[1]} cannot apply: "
                f"{spec!r} takes {found[0][0]}x{found[0][1]} images only (its {found[2]}); "
                f"drop the option.")
        size, size_from = found[0], found[2]
    elif size is not None:
        size_from = "option"
        declared = found[0] if found is not None else None
    elif found is not None:
        size, size_from = found[0], found[2]
    if size is None and require_size:
        raise ValueError(
            f"{spec!r} declares no input size (no fixed input_shape, no input_size or "
            f"image_size attribute); give the size it was trained at with "
            f"{_option(option_prefix, 'input_size')} HxW, e.g. 224x224.")
    if wrapped and size is not None and _is_torch_classifier(classifier) \
            and classifier.input_shape is None:
        classifier.input_shape = (*size, channels or _first_conv_channels(classifier.module))
        channels = classifier.input_shape[2]
    if wrapped:
        prep, soft = (preprocessing or "none"), bool(softmax)
        if not isinstance(prep, str):
            prep = "custom"
    else:
        prep = getattr(classifier, "preprocessing", None)
        prep = prep if isinstance(prep, str) else None
        soft = getattr(classifier, "apply_softmax", None)
        soft = bool(soft) if soft is not None else None
    return ResolvedModel(classifier=classifier, spec=spec, input_size=size, channels=channels,
                         size_from=size_from, declared_size=declared, preprocessing=prep,
                         softmax=soft, wrapped=wrapped)


def _is_torch_classifier(obj) -> bool:
    from leg.torch_models import TorchClassifier

    return isinstance(obj, TorchClassifier)


def _first_conv_channels(module) -> int:
    """The input channels of ``module``'s first ``Conv2d`` (3 when it has none)."""
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            return int(m.in_channels)
    return 3


def _load(spec: str, *, preprocessing, softmax: bool, device: str | None):
    """``(classifier, wrapped)``: wrapped when leg built the adapter (options applied)."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"The model must be a zoo name {list(ZOO_MODELS)}, a .keras/.h5 file, "
                         f"a TorchScript .pt file or module:attribute; got {spec!r}.")
    if spec == "lite0":
        from leg.zoo.lite0 import load_lite0

        return load_lite0(), False
    if spec == "lite0-torch":
        from leg.zoo.lite0_torch import load_lite0_torch

        return load_lite0_torch(device=device), False
    if spec in ("digits", "digits-permuted"):
        from leg.zoo.digits import load_digits_cnn

        return load_digits_cnn("true" if spec == "digits" else "permuted"), False
    if spec.startswith("groundtruth:"):
        from leg.zoo.groundtruth import ground_truth_suite

        name = spec.partition(":")[2]
        found = [m for m in ground_truth_suite() if m.name == name]
        if not found:
            raise ValueError(f"Unknown ground-truth model {name!r}; choose from "
                             f"{[m.name for m in ground_truth_suite()]}.")
        return found[0], False
    if spec.endswith((".keras", ".h5")):
        if not os.path.isfile(spec):
            raise ValueError(f"The model file {spec!r} does not exist.")
        import keras

        from leg.models import KerasClassifier

        try:
            model = keras.models.load_model(spec, compile=False)
        except Exception as exc:  # keras raises many types for unreadable files
            raise ValueError(f"Could not load the Keras model {spec!r}: {exc}") from None
        return KerasClassifier(model, preprocessing=preprocessing, softmax=softmax), True
    if spec.endswith((".pt", ".pth", ".pt2")):
        return _load_torch_file(spec, preprocessing=preprocessing, softmax=softmax,
                                device=device), True
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"Could not import {spec!r} ({exc}); expected module:attribute "
                             "naming a classifier or a function returning one.") from None
        if _is_factory(obj):
            obj = obj()
        wrapped = _is_torch_module(obj) or _is_keras_model(obj)
        if wrapped:
            from leg.models import as_classifier

            if _is_torch_module(obj) and device is not None:
                obj = obj.to(device)
            obj = as_classifier(obj, preprocessing=preprocessing, softmax=softmax)
        if not callable(obj):
            raise ValueError(f"{spec!r} did not give a callable classifier; got "
                             f"{type(obj).__name__}.")
        return obj, wrapped
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
