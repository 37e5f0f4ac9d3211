"""Guided Backpropagation (Springenberg et al., ICLR workshop 2015) for Keras and PyTorch.

The gradient of the target score, except that every ReLU-family activation passes back
only the positive part of the gradient that reaches it, and only where its own derivative
is non-zero: for ``y = min(max(x, 0), m)`` (``m = inf``: ReLU; ``m = 6``: ReLU6; any ``m``:
a clipped ReLU, ``Hardtanh(0, m)``) the backward rule is ``g_x = [0 < x < m] * max(g_y, 0)``
instead of ``g_x = [0 < x < m] * g_y`` — the frameworks' own masks (``x == 0`` and
``x == m`` pass nothing back), so the plain gradient and the guided one differ only by
the clamp. The model is never modified:

Keras (:class:`leg.models.KerasClassifier`)
    One compiled function per classifier and score kind (cached, weakly keyed by the
    classifier) traces the model's forward pass under ``gradient_override_map`` with the
    ``Relu`` and ``Relu6`` ops mapped to guided gradients, and differentiates it with
    ``tf.gradients``. Every such op is caught wherever it comes from: ``ReLU()``,
    ``ReLU(max_value=6)`` (a ``Relu6`` op), ``ReLU(max_value=m)`` (``Relu`` then a clip,
    whose gradient mask is non-negative, so guiding the ``Relu`` guides the composite),
    ``Activation("relu")``, ``activation="relu"`` inside ``Conv2D``/``Dense``,
    ``tf.nn.relu6`` in an ``Activation`` or a ``Lambda``. The function reads the model's
    own weight variables, so it always sees the current weights (the harness's
    randomization changes them in place). Not caught: activations that emit no
    ``Relu``/``Relu6`` op (``ReLU(threshold=t)`` with ``t != 0``, ``tf.maximum(x, 0)``) and
    layers that run their own compiled graph (a ``TFSMLayer``).

PyTorch (:class:`leg.TorchClassifier`)
    The forward pass runs under a :class:`torch.overrides.TorchFunctionMode` (thread-local,
    left when the pass ends, also on error) that replaces every call of ``F.relu``,
    ``torch.relu``, ``Tensor.relu`` (and their in-place forms), ``F.relu6`` and
    ``F.hardtanh(x, 0, m)`` with a custom autograd function whose backward is the guided
    rule. Modules (``nn.ReLU``, ``nn.ReLU6``, ``nn.Hardtanh(0, m)``) call these functions, so
    they are caught too — and so are functional calls, which module hooks (Captum's
    guided backprop) never see: on EfficientNet-Lite0, whose ReLU6 are ``F.relu6`` calls,
    such hooks modify nothing and the "guided" map is the plain gradient. ``Hardtanh`` with
    another lower bound is not ReLU-family and is left alone. Not caught: clamps written as
    ``torch.clamp``, and scripted (TorchScript) modules.

A model in which nothing was caught gets :attr:`leg.explainers.Explanation.degenerate`
("guided backprop found no ReLU-family activation to modify in <model>") and a
:class:`NoReLUWarning`: its map is the plain gradient, not guided backprop. A constant map
(e.g. every positive path blocked) is flagged like Grad-CAM's
(:class:`~leg.harness.methods.grad_cam.DegenerateMapWarning`).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
import weakref

import numpy as np

from leg._validation import check_choice
from leg.explainers import register
from leg.harness.methods._base import Baseline
from leg.harness.methods.grad_cam import DegenerateMapWarning, is_constant
from leg.harness.methods.record import Method
from leg.models import KerasClassifier
from leg.torch_models import TorchClassifier

__all__ = ["GuidedBackprop", "NoReLUWarning", "guided_gradient", "no_relu_message"]

SCORES = ("probability", "logit")

#: TensorFlow op types whose gradients are replaced, and the names of their guided ones.
GUIDED_OPS = {"Relu": "LegGuidedRelu", "Relu6": "LegGuidedRelu6"}


class NoReLUWarning(RuntimeWarning):
    """Guided backprop modified no activation: the map is the plain gradient."""


def no_relu_message(model_name: str) -> str:
    return (f"guided backprop found no ReLU-family activation to modify in {model_name!r}: "
            "the map is the plain gradient (Keras: no Relu or Relu6 op in the model's "
            "forward pass; PyTorch: no relu, relu6 or hardtanh(x, 0, m) call in it)")


def model_name(classifier) -> str:
    """The Keras model's name, or the PyTorch module's class name."""
    if isinstance(classifier, TorchClassifier):
        return type(classifier.module).__name__
    return str(getattr(classifier.model, "name", type(classifier.model).__name__))


def check_guided_classifier(method: str, classifier) -> None:
    if not isinstance(classifier, KerasClassifier | TorchClassifier):
        raise TypeError(
            f"{method} needs a classifier with gradients whose activations it can modify (a "
            "leg.models.KerasClassifier, which exposes .model, or a leg.TorchClassifier, "
            f"which exposes .module); got {type(classifier).__name__}.")


# ---------------------------------------------------------------------------- Keras
_REGISTER_LOCK = threading.Lock()
_registered = False
#: classifier -> {probability: (compiled function, {"caught": n})}
_KERAS_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _register_tf_gradients() -> None:
    """Register the guided gradients of ``Relu`` and ``Relu6`` (once per process)."""
    global _registered
    with _REGISTER_LOCK:
        if _registered:
            return
        import tensorflow as tf

        def relu(op, grad):  # TF's ReluGrad masks with the output: [y > 0] = [x > 0]
            return tf.cast(op.outputs[0] > 0, grad.dtype) * tf.nn.relu(grad)

        def relu6(op, grad):  # TF's Relu6Grad masks with the input: [0 < x < 6]
            x = op.inputs[0]
            return tf.cast(tf.logical_and(x > 0, x < 6), grad.dtype) * tf.nn.relu(grad)

        for name, fn in ((GUIDED_OPS["Relu"], relu), (GUIDED_OPS["Relu6"], relu6)):
            try:
                tf.RegisterGradient(name)(fn)
            except KeyError:  # registered by an earlier copy of this module (a reload)
                pass
        _registered = True


def _keras_function(classifier, probability: bool):
    """The compiled guided gradient of ``classifier`` and a record of the ops it caught."""
    import tensorflow as tf

    _register_tf_gradients()
    cache = _KERAS_FUNCTIONS.setdefault(classifier, {})
    if probability not in cache:
        model, preprocess = classifier.model, classifier.preprocess
        record = {"caught": None}

        def guided(x, k):
            graph = tf.compat.v1.get_default_graph()  # the function's graph, while tracing
            start = len(graph.get_operations())
            with graph.gradient_override_map(GUIDED_OPS):
                out = model(tf.cast(preprocess(x), tf.float32), training=False)
            record["caught"] = sum(op.type in GUIDED_OPS
                                   for op in graph.get_operations()[start:])
            if probability:
                out = tf.nn.softmax(out, axis=-1)
            (grad,) = tf.gradients(tf.reduce_sum(tf.gather(out, k, axis=1)), [x])
            return tf.zeros_like(x) if grad is None else grad

        fn = tf.function(guided, input_signature=[
            tf.TensorSpec((None, *classifier.input_shape), tf.float32),
            tf.TensorSpec((), tf.int32)], reduce_retracing=True)
        cache[probability] = (fn, record)
    return cache[probability]


def _keras_guided(classifier, images, target: int, probability: bool):
    import tensorflow as tf

    fn, record = _keras_function(classifier, probability)
    k = tf.constant(int(target), dtype=tf.int32)
    outs = []
    for start in range(0, len(images), classifier.batch_size):
        x = np.asarray(images[start:start + classifier.batch_size], dtype=np.float32)
        outs.append(fn(x, k).numpy())
    return np.concatenate(outs, axis=0), int(record["caught"])


# ---------------------------------------------------------------------------- PyTorch
def _torch_mode_class():
    """The guided-backprop ``TorchFunctionMode`` (defined lazily: torch is optional)."""
    import torch
    from torch.overrides import TorchFunctionMode

    F = torch.nn.functional
    nn_ops = torch._C._nn

    class GuidedClip(torch.autograd.Function):
        """``clamp(x, 0, high)`` whose backward is ``[0 < x < high] * max(g, 0)``."""

        @staticmethod
        def forward(ctx, x, high):
            mask = (x > 0) if math.isinf(high) else (x > 0) & (x < high)
            ctx.save_for_backward(mask)  # the mask, not x: an in-place caller may reuse x
            return x.clamp(min=0.0) if math.isinf(high) else x.clamp(0.0, high)

        @staticmethod
        def backward(ctx, grad):
            (mask,) = ctx.saved_tensors
            return grad.clamp(min=0.0) * mask, None  # measured faster than masked_fill

    def arg(args, kwargs, i, name, default):
        return args[i] if len(args) > i else kwargs.get(name, default)

    # function -> (upper bound or "hardtanh", in place): "inplace" reads the argument
    rules = {}
    for fn in (F.relu, torch.relu, torch.Tensor.relu):
        rules[fn] = (math.inf, "inplace")
    for fn in (F.relu_, torch.relu_, torch.Tensor.relu_):
        rules[fn] = (math.inf, True)
    rules[F.relu6] = (6.0, "inplace")
    for name, inplace in (("relu6", False), ("relu6_", True)):
        if hasattr(nn_ops, name):
            rules[getattr(nn_ops, name)] = (6.0, inplace)
    rules[F.hardtanh] = ("hardtanh", "inplace")
    rules[F.hardtanh_] = ("hardtanh", True)
    for name, inplace in (("hardtanh", False), ("hardtanh_", True)):
        if hasattr(nn_ops, name):
            rules[getattr(nn_ops, name)] = ("hardtanh", inplace)

    class GuidedMode(TorchFunctionMode):
        """Replace ReLU-family calls by :class:`GuidedClip`; count them in ``caught``."""

        def __init__(self):
            super().__init__()
            self.caught = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            rule = rules.get(func)
            if rule is None:
                return func(*args, **kwargs)
            high, inplace = rule
            x = args[0] if args else kwargs["input"]
            if high == "hardtanh":
                low = float(arg(args, kwargs, 1, "min_val", -1.0))
                high = float(arg(args, kwargs, 2, "max_val", 1.0))
                if low != 0.0 or not high > 0.0:  # not a clipped ReLU
                    return func(*args, **kwargs)
                index = 3
            else:
                index = 1
            if inplace == "inplace":
                inplace = bool(arg(args, kwargs, index, "inplace", False))
            if not isinstance(x, torch.Tensor) or not x.is_floating_point():
                return func(*args, **kwargs)
            self.caught += 1
            out = GuidedClip.apply(x, float(high))
            if inplace:  # the caller may use x itself: write the result into it
                return x.copy_(out)
            return out

    return GuidedMode


_TORCH_MODE = []


def guided_mode():
    """A fresh guided-backprop ``TorchFunctionMode``: ``with guided_mode() as m: ...``
    runs a forward pass whose ReLU-family calls backpropagate the guided rule;
    ``m.caught`` counts them."""
    if not _TORCH_MODE:
        _TORCH_MODE.append(_torch_mode_class())
    return _TORCH_MODE[0]()


def _torch_guided(classifier, images, target: int, probability: bool):
    import torch

    x = classifier._as_tensor(images)
    outs, caught = [], 0
    with torch.enable_grad():
        for a in range(0, len(x), classifier.batch_size):
            batch = x[a:a + classifier.batch_size].detach().requires_grad_(True)
            with guided_mode() as mode:
                out = classifier._forward(batch, probability)
            caught = max(caught, mode.caught)
            (grad,) = torch.autograd.grad(out[:, int(target)].sum(), batch, allow_unused=True)
            outs.append(torch.zeros_like(batch) if grad is None else grad.detach())
    return torch.cat(outs).cpu().numpy(), caught


# ---------------------------------------------------------------------------- both
def guided_gradient(classifier, images, target: int, *, score: str = "probability"
                    ) -> tuple[np.ndarray, int]:
    """Guided backprop of the target score w.r.t. the ``[0, 1]`` pixels.

    Returns the ``(N, H, W, C)`` float64 guided gradient of ``images`` and the number of
    ReLU-family activations modified in the forward pass (0: the map is the gradient).
    ``score`` as in :meth:`leg.models.KerasClassifier.gradient`.
    """
    check_guided_classifier("guided-backprop", classifier)
    score = check_choice(score, "score", SCORES)
    probability = bool(classifier.apply_softmax) and score == "probability"
    if isinstance(classifier, TorchClassifier):
        grad, caught = _torch_guided(classifier, images, target, probability)
    else:
        grad, caught = _keras_guided(classifier, images, target, probability)
    return grad.astype(np.float64), caught


def flag(result, reasons: list[str]):
    """Set ``result.degenerate`` to the joined ``reasons`` (with the warning of each)."""
    for reason, category in reasons:
        warnings.warn(reason, category, stacklevel=3)
    if reasons:
        result.degenerate = "; ".join(reason for reason, _ in reasons)
    return result


def constant_reason(name: str, saliency) -> str:
    return (f"{name}'s map is constant ({float(saliency.flat[0]):.3g} everywhere): no "
            "gradient passes the guided activations for this image and class")


@register("guided-backprop")
class GuidedBackprop(Baseline):
    """The guided gradient of the target score w.r.t. the pixels, summed over channels
    (signed, as :class:`~leg.harness.methods.gradient.Gradient`).

    See the module docstring for the rule and what is modified in each framework.
    ``n_modified`` is the number of ReLU-family activations the last pass modified; none
    gives ``Explanation.degenerate`` and a :class:`NoReLUWarning` (the map is then the
    plain gradient), a constant map a
    :class:`~leg.harness.methods.grad_cam.DegenerateMapWarning`.

    Parameters
    ----------
    classifier : KerasClassifier or TorchClassifier
    budget
        Ignored (one gradient evaluation; resolving ``target=None`` costs one forward one).
    batch_size
        See :class:`~leg.harness.methods._base.Baseline`.
    score : {"probability", "logit"}, default "probability"
        Differentiate what the classifier returns (its softmax, when it applies one) or the
        raw model output — the default of :class:`~leg.harness.methods.gradient.Gradient`.
    """

    name = "guided-backprop"

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 score: str = "probability"):
        check_guided_classifier(self.name, classifier)
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.score = check_choice(score, "score", SCORES)
        self.n_modified: int | None = None

    def explain(self, image, target=None, *, seed=None):
        """As :meth:`Baseline.explain`; flags a map for which no activation was modified
        (:class:`NoReLUWarning`) or a constant map, in ``degenerate``."""
        result = super().explain(image, target, seed=seed)
        reasons = []
        if self.n_modified == 0:
            reasons.append((no_relu_message(model_name(self.classifier)), NoReLUWarning))
        if is_constant(result.saliency):
            reasons.append((constant_reason(self.name, result.saliency), DegenerateMapWarning))
        return flag(result, reasons)

    def _saliency(self, image, target, seed, model):
        target = model.resolve(image, target)
        grad = self.guided(image, target, model)
        return grad.sum(axis=2), target

    def guided(self, image, target: int, model) -> np.ndarray:
        """``(H, W, C)`` guided gradient of one image; counted in ``model``."""
        start = time.perf_counter()
        grad, self.n_modified = guided_gradient(self.classifier, image[None], target,
                                                score=self.score)
        model.seconds += time.perf_counter() - start
        model.n_evaluations += 1
        return grad[0]


METHOD = Method(
    "guided-backprop", "Guided Backprop: the gradient with every ReLU passing back only "
    "positive gradients at positive inputs (Springenberg et al., 2015)", gradients=1,
    needs_gradient=True, needs="network", suites={"sanity"})
