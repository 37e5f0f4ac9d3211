"""Grad-CAM (Selvaraju et al., ICCV 2017) for Keras and PyTorch classifiers.

Keras: the activations come from a second ``keras.Model`` with the layer's output;
PyTorch (:class:`leg.TorchClassifier`): from a forward hook on the module's layer.

The default layer is the last one whose output still has spatial extent (a 4-D output
larger than 1x1): a global pooling kept 4-D (``nn.AdaptiveAvgPool2d(1)``, Keras
``GlobalAveragePooling2D(keepdims=True)``) would give a constant map. A map that is
constant all the same is flagged: :class:`DegenerateMapWarning`, and the explanation's
``degenerate`` names the layer.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from leg._validation import check_choice
from leg.explainers import register
from leg.harness.methods._base import Baseline, check_target
from leg.harness.methods.record import Method
from leg.models import KerasClassifier
from leg.torch_models import TorchClassifier

SCORES = ("logit", "probability")


#: Names listed in a message about the layer (the last ones, nearest the output).
_LISTED = 12


class DegenerateMapWarning(RuntimeWarning):
    """A Grad-CAM map is constant (no spatial information); the message names the layer."""


def spatial_layers(model) -> list[str]:
    """Names of the Keras ``model``'s layers whose output is 4-D ``(N, h, w, channels)``
    with ``h x w`` larger than 1x1 (unknown sizes count as larger), in model order."""
    names = []
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and not (shape[1] == 1 and shape[2] == 1):
            names.append(layer.name)
    return names


def last_conv_layer(model):
    """The last layer of the Keras ``model`` whose output is 4-D ``(N, h, w, channels)`` with
    spatial extent (``h x w`` larger than 1x1)."""
    names = spatial_layers(model)
    if not names:
        raise ValueError(
            f"The model {model.name!r} has no layer with a 4-D (N, h, w, channels) output "
            "larger than 1x1; Grad-CAM needs a convolutional layer. Pass layer= to choose one."
        )
    return model.get_layer(names[-1])


def _name_list(names: list[str]) -> str:
    """``names`` for a message: all of them, or the last :data:`_LISTED` and a count."""
    if len(names) <= _LISTED:
        return str(names)
    return f"(the last {_LISTED} of {len(names)}) {names[-_LISTED:]}"


@register("grad-cam")
class GradCAM(Baseline):
    """``ReLU(sum_k w_k A^k)`` with ``w_k`` the spatial mean of ``d score / d A^k``.

    ``A`` is the output of a convolutional layer (default: the last layer whose 4-D output
    is larger than 1x1); the ``(h, w)`` map is upsampled bilinearly to ``(H, W)``
    (:func:`skimage.transform.resize`, ``order=1``). Not normalised. A constant map gets
    ``Explanation.degenerate`` (a sentence naming the layer) and a
    :class:`DegenerateMapWarning`; ``layer_name`` is the layer the maps come from.

    Parameters
    ----------
    classifier : KerasClassifier or TorchClassifier
        Grad-CAM reads ``classifier.model``'s (Keras) or ``classifier.module``'s (PyTorch)
        activations; other classifiers are refused.
    budget
        Ignored: one forward and backward pass, which also resolves ``target=None``.
    batch_size
        See :class:`~leg.harness.methods._base.Baseline`.
    layer : str, keras layer or torch module, optional
        The layer (or its name; for PyTorch the qualified module name, e.g. ``"_bn1"``)
        whose activations are weighted; an unknown name is refused with the valid ones.
        Keras default: the last layer whose output is 4-D ``(N, h, w, channels)`` with
        ``h x w`` larger than 1x1. PyTorch default: the last leaf module, in execution order,
        whose output is 4-D ``(N, channels, h, w)`` larger than 1x1 (so not a 1x1 adaptive
        average pool) — for Lite0 ``_bn1``, the head's
        batch norm: its ReLU6 is functional, not a module, so the map weighs pre-activation
        channels where Keras Lite0's default (the ``head_activation`` layer) weighs
        activated ones.
    score : {"logit", "probability"}, default "logit"
        Differentiate the raw model output (the paper's pre-softmax score) or the softmax
        (when the classifier applies one).
    """

    name = "grad-cam"

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 layer=None, score: str = "logit"):
        if not isinstance(classifier, KerasClassifier | TorchClassifier):
            raise TypeError(
                "grad-cam needs a classifier with gradients and convolutional activations "
                "(a leg.models.KerasClassifier, which exposes .model, or a "
                f"leg.TorchClassifier, which exposes .module); got {type(classifier).__name__}."
            )
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.score = check_choice(score, "score", SCORES)
        if isinstance(classifier, TorchClassifier):
            self.layer = _torch_layer(classifier, layer)
            self.layer_name = self.layer
            return
        model = classifier.model
        if layer is None:
            layer = last_conv_layer(model)
        elif isinstance(layer, str):
            if layer not in {la.name for la in model.layers}:
                raise ValueError(
                    f"The model {model.name!r} has no layer {layer!r}; its layers with a 4-D "
                    f"output larger than 1x1 are {_name_list(spatial_layers(model))}.")
            layer = model.get_layer(layer)
        if len(layer.output.shape) != 4:
            raise ValueError(
                f"Grad-CAM's layer must have a 4-D (N, h, w, channels) output; "
                f"{layer.name!r} has shape {tuple(layer.output.shape)}."
            )
        self.layer = layer
        self.layer_name = layer.name
        import keras

        self._model = keras.Model(model.inputs, [layer.output, model.outputs[0]])

    def explain(self, image, target=None, *, seed=None):
        """As :meth:`Baseline.explain`; a constant map also gets ``degenerate`` (why, naming
        the layer) and a :class:`DegenerateMapWarning`."""
        result = super().explain(image, target, seed=seed)
        if is_constant(result.saliency):
            result.degenerate = (
                f"grad-cam's map on layer {self.layer_name!r} is constant "
                f"({float(result.saliency.flat[0]):.3g} everywhere): the layer carries no "
                "spatial information for this image and class; choose another layer with "
                "layer=")
            warnings.warn(result.degenerate, DegenerateMapWarning, stacklevel=2)
        return result

    def _saliency(self, image, target, seed, model):
        if isinstance(self.classifier, TorchClassifier):
            a, g, target = self._torch_pass(image, target, model)
        else:
            a, g, target = self._keras_pass(image, target, model)
        return _cam(a, g, image.shape[:2]), target

    def _resolve(self, scores, target) -> int:
        """``target`` checked against ``scores`` ``(1, K)``, or their top-1 when None."""
        if target is None:
            target = int(np.argmax(scores[0]))
        target = check_target(target)
        if target >= scores.shape[-1]:
            raise ValueError(
                f"The 'target' must be a class index in [0, {scores.shape[-1] - 1}]; "
                f"got {target}."
            )
        return target

    def _torch_pass(self, image, target, model):
        """``(h, w, channels)`` activations and gradients of the hooked layer, target."""
        import torch

        from leg.torch_models import torch_module_inputs

        clf = self.classifier
        start = time.perf_counter()
        module = clf.module
        seen: dict = {}

        def keep(name):  # the chosen layer's output; by default the last spatial 4-D one
            def hook(_module, _inputs, output):
                if name == self.layer or (isinstance(output, torch.Tensor) and output.ndim == 4
                                          and tuple(output.shape[2:]) != (1, 1)):
                    seen["layer"] = (name, output)
            return hook

        targets = ([(self.layer, module.get_submodule(self.layer))] if self.layer is not None
                   else [(n, m) for n, m in module.named_modules() if not any(m.children())])
        handles = [m.register_forward_hook(keep(n)) for n, m in targets]
        try:
            with torch.enable_grad():
                inputs = torch_module_inputs(clf, image[None]).detach().requires_grad_(True)
                out = module(inputs)  # inputs need a gradient when the weights are frozen
                if self.score == "probability" and clf.apply_softmax:
                    out = torch.softmax(out, dim=-1)
                target = self._resolve(out.detach().cpu().numpy(), target)
                name, activations = seen.get("layer", (self.layer, None))
                if not isinstance(activations, torch.Tensor) or activations.ndim != 4:
                    raise ValueError(
                        "Grad-CAM's layer must have a 4-D (N, channels, h, w) output; "
                        + (f"{name!r} returned {_describe(activations)}." if name is not None
                           else "no module of the model returned one larger than 1x1. Pass "
                           "layer= to choose one."))
                self.layer_name = name
                (grads,) = torch.autograd.grad(out[0, target], activations)
        finally:
            for h in handles:
                h.remove()
        model.seconds += time.perf_counter() - start
        model.n_evaluations += 1

        def hwc(t):
            return t.detach()[0].permute(1, 2, 0).float().cpu().numpy().astype(np.float64)

        return hwc(activations), hwc(grads), target

    def _keras_pass(self, image, target, model):
        """``(h, w, channels)`` activations and gradients of the layer, target."""
        import tensorflow as tf

        classifier = self.classifier
        start = time.perf_counter()
        x = tf.convert_to_tensor(image[None].astype(np.float32))
        with tf.GradientTape() as tape:
            activations, out = self._model(tf.cast(classifier.preprocess(x), tf.float32),
                                           training=False)
            if self.score == "probability" and classifier.apply_softmax:
                out = tf.nn.softmax(out, axis=-1)
            target = self._resolve(out.numpy(), target)
            chosen = out[:, target]
        grads = tape.gradient(chosen, activations)
        model.seconds += time.perf_counter() - start
        model.n_evaluations += 1
        return (activations.numpy()[0].astype(np.float64), grads.numpy()[0].astype(np.float64),
                target)


def _cam(a: np.ndarray, g: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``ReLU(sum_k mean(g_k) a_k)`` of ``(h, w, channels)`` activations ``a`` and gradients
    ``g``, upsampled bilinearly to ``shape`` ``(H, W)``."""
    from skimage.transform import resize

    cam = np.maximum((a * g.mean(axis=(0, 1))).sum(axis=2), 0.0)
    return resize(cam, shape, order=1, mode="edge", anti_aliasing=False)


def is_constant(saliency: np.ndarray) -> bool:
    """Whether a map is constant up to float rounding (range <= 1e-9 of its magnitude)."""
    saliency = np.asarray(saliency, dtype=np.float64)
    scale = float(np.abs(saliency).max()) if saliency.size else 0.0
    return scale == 0.0 or float(np.ptp(saliency)) <= 1e-9 * scale


def _describe(output) -> str:
    shape = getattr(output, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else f"a {type(output).__name__}"


def _torch_layer(classifier, layer) -> str | None:
    """The qualified name of ``layer`` (a name or a submodule of the classifier's module),
    or None (the default, resolved on the first pass)."""
    module = classifier.module
    if layer is None:
        return None
    if not isinstance(layer, str):
        names = [n for n, m in module.named_modules() if m is layer]
        if not names:
            raise ValueError("Grad-CAM's layer must be a submodule of the classifier's module "
                             "or its qualified name.")
        return names[0]
    try:
        module.get_submodule(layer)
    except AttributeError:
        spatial = torch_spatial_layers(classifier)
        if spatial is not None:
            raise ValueError(f"The module has no submodule {layer!r}; its modules with a 4-D "
                             f"output larger than 1x1, in execution order, are "
                             f"{_name_list(spatial)}.") from None
        leaves = [n for n, m in module.named_modules() if n and not any(m.children())]
        raise ValueError(f"The module has no submodule {layer!r}; its leaf modules are "
                         f"{_name_list(leaves)}.") from None
    return layer


def torch_spatial_layers(classifier) -> list[str] | None:
    """Qualified names of the TorchClassifier's modules whose output is 4-D with ``h x w``
    larger than 1x1, in the order a forward pass runs them (one pass on a zero image of
    ``classifier.input_shape``); None when the classifier declares no input shape."""
    import torch

    from leg.torch_models import torch_module_inputs

    shape = getattr(classifier, "input_shape", None)
    if shape is None:
        return None
    order: list[str] = []

    def record(name):
        def hook(_module, _inputs, output):
            if (isinstance(output, torch.Tensor) and output.ndim == 4
                    and tuple(output.shape[2:]) != (1, 1)):
                if name in order:
                    order.remove(name)
                order.append(name)
        return hook

    module = classifier.module
    handles = [m.register_forward_hook(record(n)) for n, m in module.named_modules() if n]
    try:
        with torch.inference_mode():
            module(torch_module_inputs(classifier, np.zeros((1, *shape), np.float32)))
    finally:
        for h in handles:
            h.remove()
    return order


METHOD = Method(
    "grad-cam", "Grad-CAM: a convolutional layer's activations weighted by their mean "
    "gradient (Selvaraju et al., 2017)", gradients=1, needs_gradient=True,
    needs="convolution", suites={"sanity", "perturbation", "groundtruth"})
