"""Classifiers: the protocol the estimators use, and the Keras adapter (PyTorch's is in
:mod:`leg.torch_models`).

A *classifier* is any callable mapping an ``(N, H, W, C)`` float array with values in
``[0, 1]`` to an ``(N, K)`` array of class scores. Model-specific preprocessing belongs to
the adapter, never to the estimators.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from leg._validation import check_choice, check_int, check_scores
from leg.preprocessing import (  # noqa: F401  (re-exported: leg.models names)
    CAFFE_BGR_MEAN,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PREPROCESSING,
    get_preprocessing,
)


@runtime_checkable
class Classifier(Protocol):
    """``(N, H, W, C)`` images in ``[0, 1]`` -> ``(N, K)`` scores."""

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class KerasClassifier:
    """Wrap a ``keras.Model`` as a classifier on ``[0, 1]`` images.

    Parameters
    ----------
    model : keras.Model
        Takes ``(N, H, W, C)`` preprocessed images, returns ``(N, K)`` scores.
    preprocessing : {"caffe", "tf", "torch", "lite0", "none"} or callable, default "none"
        Maps ``[0, 1]`` images to the model's input space. ``"caffe"``: RGB->BGR, x255,
        minus ImageNet means (VGG, ResNet50); ``"tf"``: ``[-1, 1]``; ``"torch"``: ImageNet
        mean/std; ``"lite0"``: ``(255x - 127) / 128`` (EfficientNet-Lite); ``"none"``:
        unchanged.
    softmax : bool, default False
        Apply a softmax to the model's outputs (when the model returns logits).
    batch_size : int, default 64
        Images per compiled model call.
    class_names : sequence of str, optional
    device_batches : bool, optional
        Build LEG's perturbed images inside the compiled model call
        (:meth:`perturbed_scores`), where TensorFlow places the model. Default: on when
        TensorFlow sees a GPU, off on the CPU (where NumPy builds them in a background
        thread, overlapped with the model).
    """

    def __init__(self, model, *, preprocessing: str | Callable = "none", softmax: bool = False,
                 batch_size: int = 64, class_names=None, device_batches: bool | None = None):
        import tensorflow as tf

        self.model = model
        self.preprocess = get_preprocessing(preprocessing)
        self.preprocessing = preprocessing if isinstance(preprocessing, str) else "custom"
        self.apply_softmax = bool(softmax)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.class_names = list(class_names) if class_names is not None else None
        shape = tuple(model.input_shape)
        self.input_shape = shape[1:]
        self._call = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, *shape[1:]), tf.float32)],
            reduce_retracing=True,
        )
        if device_batches is None:
            device_batches = bool(tf.config.list_logical_devices("GPU"))
        self.device_batches = bool(device_batches)

    #: The model computes in float32: LEG's host-built batches are summed in it.
    input_dtype = np.float32

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Raw model outputs for ``(N, H, W, C)`` images in ``[0, 1]``."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[None]
        expected = tuple(d for d in self.input_shape)
        if images.shape[1:] != tuple(d if d is not None else s
                                     for d, s in zip(expected, images.shape[1:], strict=False)):
            raise ValueError(
                f"The model expects images of shape (N, {', '.join(map(str, expected))}); "
                f"got {images.shape}. Resize the image (e.g. skimage.transform.resize) first."
            )
        outs = []
        for start in range(0, len(images), self.batch_size):
            batch = self.preprocess(images[start:start + self.batch_size]).astype(np.float32)
            outs.append(np.asarray(self._call(batch)))
        return np.concatenate(outs, axis=0).astype(np.float64)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        out = self.logits(images)
        return softmax(out) if self.apply_softmax else out

    def gradient(self, images: np.ndarray, target: int, *, score: str = "probability"
                 ) -> np.ndarray:
        """Gradient of the target score w.r.t. the ``[0, 1]`` pixels: ``(N, H, W, C)``.

        ``score="probability"`` differentiates what ``__call__`` returns; ``"logit"`` the
        raw model output. The preprocessing is differentiated through.
        """
        import tensorflow as tf

        fn = self._gradient_function(score)
        k = tf.constant(int(target), dtype=tf.int32)
        outs = []
        for start in range(0, len(images), self.batch_size):
            x = np.asarray(images[start:start + self.batch_size], dtype=np.float32)
            outs.append(fn(x, k).numpy())
        return np.concatenate(outs, axis=0).astype(np.float64)

    def perturbed_scores(self, image: np.ndarray, cells: np.ndarray, eps: np.ndarray, *,
                         mode: str, clip: bool, score: str, batch_size: int,
                         progress: Callable[[int], object] | None = None):
        """Scores of ``image`` plus each perturbation, built inside one compiled function.

        The contract of :meth:`leg.TorchClassifier.perturbed_scores`: ``image`` ``(H, W, C)``,
        ``cells`` ``(H, W)`` the cell of each pixel, ``eps`` ``(S, n, q)``; returns the
        ``(S, n, K)`` scores and, with ``clip``, the applied perturbations pooled to cells.
        """
        import tensorflow as tf

        fn = self._perturbed_function(probability=self.apply_softmax and score == "probability",
                                      mode=mode, clip=clip)
        n_sets, n, q = eps.shape
        x0 = tf.constant(np.asarray(image, dtype=np.float32))
        index = tf.constant(np.asarray(cells, dtype=np.int32).ravel())
        counts = tf.constant(np.bincount(np.asarray(cells).ravel(), minlength=q), tf.float32)
        scores, applied = [], []
        for s in range(n_sets):
            for a in range(0, n, batch_size):
                e = tf.constant(np.asarray(eps[s, a:a + batch_size], dtype=np.float32))
                out, pooled = fn(x0, e, index, counts, tf.constant(s, tf.int32))
                scores.append(out)
                applied.append(pooled)
                if progress is not None:
                    progress(int(e.shape[0]))
        result = tf.concat(scores, 0).numpy().astype(np.float64).reshape(n_sets, n, -1)
        check_scores(result.reshape(n_sets * n, -1), n_sets * n)
        return result, (tf.concat(applied, 0).numpy().reshape(eps.shape) if clip else None)

    def _perturbed_function(self, *, probability: bool, mode: str, clip: bool):
        """One compiled ``(x0, eps, cells, counts, channel) -> (scores, pooled)`` per kind."""
        import tensorflow as tf

        cache = self.__dict__.setdefault("_perturbed_functions", {})
        key = (probability, mode, clip)
        if key not in cache:
            def build(x0, e, index, counts, channel):
                size = tf.shape(x0)
                noise = tf.reshape(tf.gather(e, index, axis=1), (-1, size[0], size[1], 1))
                if mode == "per_channel":
                    noise = noise * tf.one_hot(channel, size[2])
                batch = x0[None] + noise
                pooled = tf.zeros_like(e)
                if clip:
                    batch = tf.clip_by_value(batch, 0.0, 1.0)
                    moved = batch - x0[None]
                    moved = (tf.reduce_mean(moved, -1) if mode == "joint"
                             else tf.gather(moved, channel, axis=-1))
                    sums = tf.math.unsorted_segment_sum(
                        tf.transpose(tf.reshape(moved, (tf.shape(e)[0], -1))), index,
                        tf.shape(e)[1])
                    pooled = tf.transpose(sums) / counts
                out = self.model(tf.cast(self.preprocess(batch), tf.float32), training=False)
                return (tf.nn.softmax(out, axis=-1) if probability else out), pooled

            cache[key] = tf.function(build, input_signature=[
                tf.TensorSpec((None, None, None), tf.float32),
                tf.TensorSpec((None, None), tf.float32),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((None,), tf.float32),
                tf.TensorSpec((), tf.int32)], reduce_retracing=True)
        return cache[key]

    def _gradient_function(self, score: str):
        """One compiled gradient per score kind (the class index is a traced argument)."""
        import tensorflow as tf

        check_choice(score, "score", ("probability", "logit"))
        cache = self.__dict__.setdefault("_gradient_functions", {})
        if score not in cache:
            probability = self.apply_softmax and score == "probability"

            def gradient(x, k):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    out = self.model(tf.cast(self.preprocess(x), tf.float32), training=False)
                    if probability:
                        out = tf.nn.softmax(out, axis=-1)
                    chosen = tf.gather(out, k, axis=1)
                return tape.gradient(chosen, x)

            cache[score] = tf.function(gradient, input_signature=[
                tf.TensorSpec((None, *self.input_shape), tf.float32),
                tf.TensorSpec((), tf.int32)], reduce_retracing=True)
        return cache[score]


def as_classifier(model, **kwargs) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``model`` as a classifier: a ``keras.Model`` is wrapped in
    :class:`KerasClassifier`, a ``torch.nn.Module`` in :class:`leg.TorchClassifier` (with
    ``kwargs``); other callables pass through."""
    keras = sys.modules.get("keras")  # a Keras model implies Keras is already imported
    if keras is not None and isinstance(model, keras.Model):
        return KerasClassifier(model, **kwargs)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        from leg.torch_models import TorchClassifier

        return TorchClassifier(model, **kwargs)
    if kwargs:
        raise TypeError(f"Options {sorted(kwargs)} apply to Keras and PyTorch models only; got "
                        f"a {type(model).__name__}.")
    if not callable(model):
        raise TypeError(
            "The 'model' must be a keras.Model, a torch.nn.Module or a callable mapping "
            f"(N, H, W, C) images in [0, 1] to (N, K) scores; got {type(model).__name__}."
        )
    return model


def evaluate(classifier, images: np.ndarray, *, batch_size: int | None = None,
             expected_classes: int | None = None) -> np.ndarray:
    """Call ``classifier`` on ``images`` in batches and check the scores it returns.

    Returns an ``(N, K)`` float64 array; raises ``ValueError`` naming what was wrong when
    the classifier returns the wrong shape or non-finite scores.
    """
    n = len(images)
    step = n if batch_size is None else batch_size
    outs = []
    for start in range(0, n, step):
        batch = images[start:start + step]
        scores = check_scores(classifier(batch), len(batch), expected_classes)
        outs.append(scores)
        expected_classes = scores.shape[1]
    return np.concatenate(outs, axis=0)
