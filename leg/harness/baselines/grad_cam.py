"""Grad-CAM (Selvaraju et al., ICCV 2017) for Keras and PyTorch classifiers.

Keras: the activations come from a second ``keras.Model`` with the layer's output;
PyTorch (:class:`leg.TorchClassifier`): from a forward hook on the module's layer.
"""

from __future__ import annotations

import time

import numpy as np

from leg._validation import check_choice
from leg.explainers import register
from leg.harness.baselines._base import Baseline, check_target
from leg.models import KerasClassifier
from leg.torch_models import TorchClassifier

SCORES = ("logit", "probability")


def last_conv_layer(model):
    """The last layer of ``model`` whose output is 4-D ``(N, h, w, channels)``."""
    for layer in reversed(model.layers):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4:
            return layer
    raise ValueError(
        f"The model {model.name!r} has no layer with a 4-D (N, h, w, channels) output; "
        "Grad-CAM needs a convolutional layer. Pass layer= to choose one."
    )


@register("grad-cam")
class GradCAM(Baseline):
    """``ReLU(sum_k w_k A^k)`` with ``w_k`` the spatial mean of ``d score / d A^k``.

    ``A`` is the output of a convolutional layer (default: the last layer with a 4-D
    output); the ``(h, w)`` map is upsampled bilinearly to ``(H, W)``
    (:func:`skimage.transform.resize`, ``order=1``). Not normalised.

    Parameters
    ----------
    classifier : KerasClassifier or TorchClassifier
        Grad-CAM reads ``classifier.model``'s (Keras) or ``classifier.module``'s (PyTorch)
        activations; other classifiers are refused.
    budget
        Ignored: one forward and backward pass, which also resolves ``target=None``.
    batch_size
        See :class:`~leg.harness.baselines._base.Baseline`.
    layer : str, keras layer or torch module, optional
        The layer (or its name; for PyTorch the qualified module name, e.g. ``"_bn1"``)
        whose activations are weighted. PyTorch default: the last leaf module, in execution
        order, whose output is 4-D ``(N, channels, h, w)`` — for Lite0 ``_bn1``, the head's
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
            self.layer = _torch_layer(classifier.module, layer)
            return
        model = classifier.model
        if layer is None:
            layer = last_conv_layer(model)
        elif isinstance(layer, str):
            layer = model.get_layer(layer)
        if len(layer.output.shape) != 4:
            raise ValueError(
                f"Grad-CAM's layer must have a 4-D (N, h, w, channels) output; "
                f"{layer.name!r} has shape {tuple(layer.output.shape)}."
            )
        self.layer = layer
        import keras

        self._model = keras.Model(model.inputs, [layer.output, model.outputs[0]])

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

        from leg.harness.inputs import torch_module_inputs

        clf = self.classifier
        start = time.perf_counter()
        module = clf.module
        seen: dict = {}

        def keep(name):  # the chosen layer's output; by default the last 4-D one
            def hook(_module, _inputs, output):
                if name == self.layer or (isinstance(output, torch.Tensor) and output.ndim == 4):
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
                           else "no module of the model returned one. Pass layer= to choose "
                           "one."))
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


def _describe(output) -> str:
    shape = getattr(output, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else f"a {type(output).__name__}"


def _torch_layer(module, layer) -> str | None:
    """The qualified name of ``layer`` (a name or a submodule of ``module``), or None."""
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
        leaves = [n for n, m in module.named_modules() if n and not any(m.children())]
        raise ValueError(f"The module has no submodule {layer!r}; its leaf modules are "
                         f"{leaves[:8]}{' ...' if len(leaves) > 8 else ''}.") from None
    return layer
