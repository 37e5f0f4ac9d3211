"""Grad-CAM (Selvaraju et al., ICCV 2017) for Keras classifiers."""

from __future__ import annotations

import time

import numpy as np

from evaluation.baselines._base import Baseline, check_target
from leg._validation import check_choice
from leg.explainers import register
from leg.models import KerasClassifier

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
    classifier : KerasClassifier
        Grad-CAM reads ``classifier.model``'s activations; other classifiers are refused.
    budget
        Ignored: one forward and backward pass, which also resolves ``target=None``.
    batch_size
        See :class:`~evaluation.baselines._base.Baseline`.
    layer : str or keras layer, optional
        The layer (or its name) whose activations are weighted.
    score : {"logit", "probability"}, default "logit"
        Differentiate the raw model output (the paper's pre-softmax score) or the softmax
        (when the classifier applies one).
    """

    name = "grad-cam"

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64,
                 layer=None, score: str = "logit"):
        if not isinstance(classifier, KerasClassifier):
            raise TypeError(
                "grad-cam needs a classifier with gradients and convolutional activations "
                "(a leg.models.KerasClassifier, which exposes .model); got "
                f"{type(classifier).__name__}."
            )
        super().__init__(classifier, budget=budget, batch_size=batch_size)
        self.score = check_choice(score, "score", SCORES)
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
        import tensorflow as tf
        from skimage.transform import resize

        classifier = self.classifier
        start = time.perf_counter()
        x = tf.convert_to_tensor(image[None].astype(np.float32))
        with tf.GradientTape() as tape:
            activations, out = self._model(tf.cast(classifier.preprocess(x), tf.float32),
                                           training=False)
            if self.score == "probability" and classifier.apply_softmax:
                out = tf.nn.softmax(out, axis=-1)
            if target is None:
                target = int(np.argmax(out.numpy()[0]))
            target = check_target(target)
            if target >= out.shape[-1]:
                raise ValueError(
                    f"The 'target' must be a class index in [0, {out.shape[-1] - 1}]; "
                    f"got {target}."
                )
            chosen = out[:, target]
        grads = tape.gradient(chosen, activations)
        model.seconds += time.perf_counter() - start
        model.n_evaluations += 1
        a = activations.numpy()[0].astype(np.float64)
        g = grads.numpy()[0].astype(np.float64)
        cam = np.maximum((a * g.mean(axis=(0, 1))).sum(axis=2), 0.0)
        cam = resize(cam, image.shape[:2], order=1, mode="edge", anti_aliasing=False)
        return cam, target
