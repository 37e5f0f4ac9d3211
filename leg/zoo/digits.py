"""Small Keras CNNs trained offline on scikit-learn's digits, for fast tests and sanity checks.

scikit-learn ships the UCI handwritten digits (1797 grey 8x8 images, 10 classes) inside its
wheel, so nothing downloads. :func:`digits_data` upsamples them to ``size x size``;
:func:`train_digits_cnn` trains a small CNN on the true labels, or on a seeded permutation
of them (the *data randomization* test of Adebayo et al., 2018: a network that memorises
random labels); :func:`load_digits_cnn` caches the trained model on disk and in memory and
returns it as a :class:`leg.models.KerasClassifier`.

Determinism across machines. Op determinism and fixed seeds make a training repeatable on
one machine, but not across machines: with oneDNN (TensorFlow's default CPU kernels) the
weights depend on the number of threads, and oneDNN picks its kernels by the processor's
instruction set, so a machine with another core count or another CPU trains another
network (memorising permuted labels amplifies any rounding difference). So
:func:`train_digits_cnn` trains, by default, in a fresh Python process with
:data:`DETERMINISTIC_ENV`: one intra- and one inter-op thread, oneDNN off, no GPU, op
determinism, fixed seeds (``keras.utils.set_random_seed``). What remains machine-
dependent is the TensorFlow/Keras version and the architecture (x86-64 here); the
training's ``weights_sha256`` is kept in the metrics so two machines can compare.
The cache file names carry :data:`TRAINING_SCHEME`, so models trained before are not
reused.

Saturated digits. A test image on which a model's top-1 probability is 1 to within
float rounding has no usable gradient or perturbation signal: :func:`choose_test_digits`
picks, per digit, the first test image on which no given model's top-1 probability
exceeds ``1 - 1e-6`` (computed in float64 from the logits), and reports the skipped ones
with their probabilities.

The network (layer names are distinct, so layers can be re-initialised by name from the
output down)::

    image (size, size, 1)
    conv1   Conv2D 16 3x3 same, ReLU  -> pool1 MaxPool 2x2
    conv2   Conv2D 32 3x3 same, ReLU  -> pool2 MaxPool 2x2
    flatten -> dense1 Dense 64, ReLU -> logits Dense 10 -> probabilities Softmax
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from leg._validation import check_choice, check_int
from leg.zoo._cache import cache_path, write_cache_file

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from leg.models import KerasClassifier

__all__ = ["digits_data", "train_digits_cnn", "load_digits_cnn", "clear_memory_cache",
           "choose_test_digits", "digit_logits", "weights_sha256", "LABELS", "CLASS_NAMES",
           "DETERMINISTIC_ENV", "TRAINING_SCHEME", "SATURATION"]

LABELS = ("true", "permuted")
CLASS_NAMES = [str(d) for d in range(10)]

#: Default epochs for the true-label model (fixed schedule).
TRUE_EPOCHS = 8
#: Most epochs the permuted-label model may take to memorise its training set.
PERMUTED_MAX_EPOCHS = 300
#: The permuted model stops once its training accuracy (on the permuted labels) reaches this.
PERMUTED_TARGET_ACCURACY = 0.99
#: Training images used for the permuted model (a subset makes memorisation fast).
PERMUTED_TRAIN_SIZE = 600
#: Mini-batch sizes (the permuted model's larger batch halves its steps per epoch).
TRUE_BATCH_SIZE = 32
PERMUTED_BATCH_SIZE = 64

#: Environment of the training process (see the module docstring).
DETERMINISTIC_ENV = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "CUDA_VISIBLE_DEVICES": "-1",
    "TF_DETERMINISTIC_OPS": "1",
    "PYTHONHASHSEED": "0",
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
#: Version of the training procedure; part of the cache file names.
TRAINING_SCHEME = "det1"
#: A top-1 probability above ``1 - SATURATION`` counts as saturated.
SATURATION = 1e-6

_MEMORY: dict[tuple[str, int, int, str], KerasClassifier] = {}


def clear_memory_cache() -> None:
    """Forget the models :func:`load_digits_cnn` keeps in memory (the disk cache stays)."""
    _MEMORY.clear()


def digits_data(size: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """The scikit-learn digits, scaled to ``[0, 1]``, resized and split into train and test.

    Parameters
    ----------
    size : int, default 32
        Output images are ``size x size`` (bilinear, ``skimage.transform.resize(order=1)``
        of the 8x8 originals); ``size >= 8``.
    seed : int, default 0
        Seed of the stratified 75 / 25 train / test split.

    Returns
    -------
    dict
        ``x_train`` (1347, size, size, 1) and ``x_test`` (450, size, size, 1), float32 in
        ``[0, 1]``; ``y_train`` (1347,) and ``y_test`` (450,), int64 digits 0-9.
    """
    size = check_int(size, "size", minimum=8)
    seed = check_int(seed, "seed", minimum=0)
    from skimage.transform import resize
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.float64) / 16.0  # (1797, 8, 8), values 0..16
    if size != 8:
        images = resize(images, (len(images), size, size), order=1, mode="edge",
                        anti_aliasing=False)
    images = np.clip(images, 0.0, 1.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.25, stratify=labels, random_state=seed)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _build_model(size: int) -> keras.Model:
    import keras
    from keras import layers

    inputs = keras.Input(shape=(size, size, 1), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="dense1")(x)
    x = layers.Dense(10, name="logits")(x)
    outputs = layers.Activation("softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def _stop_at_accuracy(target: float):
    """A Keras callback that stops training once the epoch's training accuracy >= target."""
    import keras

    class StopAtAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs and logs.get("accuracy", 0.0) >= target:
                self.model.stop_training = True

    return StopAtAccuracy()


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    probs = model.predict(x, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == y))


def weights_sha256(model) -> str:
    """SHA-256 of a Keras model's weights (float bytes in ``get_weights()`` order)."""
    import hashlib

    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def train_digits_cnn(labels: str = "true", *, size: int = 32, seed: int = 0,
                     epochs: int | None = None, isolated: bool = True
                     ) -> tuple[keras.Model, dict[str, Any]]:
    """Train the digits CNN on true or permuted labels, deterministically from ``seed``.

    Parameters
    ----------
    labels : {"true", "permuted"}, default "true"
        ``"true"``: the real labels (test accuracy about 0.97-0.99). ``"permuted"``: a
        seeded permutation of the training labels, on the first
        :data:`PERMUTED_TRAIN_SIZE` training images, trained until the network memorises
        them (the epoch's running training accuracy >= :data:`PERMUTED_TARGET_ACCURACY`;
        the final model's own accuracy on its permuted labels, ``train_accuracy``, must
        reach 0.95 or a ``RuntimeWarning`` says it did not memorise them; test accuracy
        near chance, 0.1).
    size : int, default 32
        Image side (see :func:`digits_data`).
    seed : int, default 0
        Seeds the split, the permutation, the weights and the batch order; TensorFlow op
        determinism is switched on (process-wide), so the same seed gives the same model.
    epochs : int, optional
        Exact number of epochs. Default: :data:`TRUE_EPOCHS` for true labels; for permuted
        labels, until memorised, at most :data:`PERMUTED_MAX_EPOCHS`.
    isolated : bool, default True
        Train in a fresh process with :data:`DETERMINISTIC_ENV` (the same weights on every
        machine with the same TensorFlow; the model is passed back through a temporary
        ``.keras`` file). ``False``: in this process, repeatable here only.

    Returns
    -------
    model : keras.Model
        Maps ``(N, size, size, 1)`` images in ``[0, 1]`` to ``(N, 10)`` probabilities.
    metrics : dict
        ``train_accuracy`` (on the labels trained on), ``test_accuracy`` (true test labels),
        ``epochs``, ``seconds`` (training only), ``labels``, ``seed``, ``size``, ``n_train``,
        ``weights_sha256``, ``isolated``, ``scheme``; isolated: also ``process_seconds``
        (the whole child process), ``tensorflow``.
    """
    check_choice(labels, "labels", LABELS)
    size = check_int(size, "size", minimum=8)
    seed = check_int(seed, "seed", minimum=0)
    if epochs is not None:
        epochs = check_int(epochs, "epochs", minimum=1)
    if isolated:
        return _train_isolated(labels, size=size, seed=seed, epochs=epochs)
    import keras
    import tensorflow as tf

    data = digits_data(size=size, seed=seed)
    x_train, y_train = data["x_train"], data["y_train"]
    if labels == "permuted":
        x_train, y_train = x_train[:PERMUTED_TRAIN_SIZE], y_train[:PERMUTED_TRAIN_SIZE]
        y_train = np.random.default_rng(seed).permutation(y_train)

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = _build_model(size)
    batch_size = PERMUTED_BATCH_SIZE if labels == "permuted" else TRUE_BATCH_SIZE
    # one compiled call per epoch: fewer Python round trips, the very same updates
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=-(-len(x_train) // batch_size))
    callbacks = []
    if epochs is None:
        if labels == "true":
            epochs = TRUE_EPOCHS
        else:
            epochs = PERMUTED_MAX_EPOCHS
            callbacks.append(_stop_at_accuracy(PERMUTED_TARGET_ACCURACY))
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
                        callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - start
    metrics = {
        "labels": labels,
        "seed": seed,
        "size": size,
        "epochs": len(history.epoch),
        "n_train": int(len(x_train)),
        "train_accuracy": _accuracy(model, x_train, y_train),
        "test_accuracy": _accuracy(model, data["x_test"], data["y_test"]),
        "seconds": round(seconds, 3),
        "weights_sha256": weights_sha256(model),
        "isolated": False,
        "scheme": TRAINING_SCHEME,
    }
    _check_memorised(labels, metrics, stacklevel=3)
    return model, metrics


def _check_memorised(labels: str, metrics: dict, *, stacklevel: int) -> None:
    """Warn when the permuted-label twin has not memorised its labels (its own check)."""
    if labels == "permuted" and metrics["train_accuracy"] < 0.95:
        warnings.warn(
            f"The permuted-label model reached only {metrics['train_accuracy']:.3f} training "
            f"accuracy after {metrics['epochs']} epochs; it has not memorised its labels.",
            RuntimeWarning, stacklevel=stacklevel)


def _train_isolated(labels: str, *, size: int, seed: int, epochs: int | None):
    """:func:`train_digits_cnn` in a child process with :data:`DETERMINISTIC_ENV`."""
    import keras

    env = {**os.environ, **DETERMINISTIC_ENV}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="leg-digits-") as tmp:
        out = os.path.join(tmp, "model.keras")
        cmd = [sys.executable, "-m", "leg.zoo.digits", "--labels", labels, "--size", str(size),
               "--seed", str(seed), "--out", out]
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"Training the digits CNN ({labels} labels) in a child process "
                               f"failed (exit {proc.returncode}): {tail[0]}")
        with open(out + ".json") as f:
            metrics = json.load(f)
        metrics["process_seconds"] = round(time.perf_counter() - start, 3)
        model = keras.models.load_model(out, compile=False)
    if weights_sha256(model) != metrics["weights_sha256"]:
        raise RuntimeError("The digits CNN read back from the training process has other "
                           "weights than it saved.")
    _check_memorised(labels, metrics, stacklevel=4)
    return model, metrics


def _child_main(argv=None) -> None:
    """Entry point of the training process (``python -m leg.zoo.digits``)."""
    import argparse

    p = argparse.ArgumentParser(description="Train the digits CNN deterministically.")
    p.add_argument("--labels", choices=LABELS, default="true")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the parent warns
        model, metrics = train_digits_cnn(args.labels, size=args.size, seed=args.seed,
                                          epochs=args.epochs, isolated=False)
    metrics.update(isolated=True, tensorflow=tf.__version__,
                   environment={k: os.environ.get(k) for k in DETERMINISTIC_ENV})
    model.save(args.out)
    _write_json(args.out + ".json", metrics)


def digit_logits(classifier, images: np.ndarray) -> np.ndarray:
    """``(N, 10)`` float64 logits (the ``logits`` layer) of the digits CNN on ``images``."""
    import keras

    inner = getattr(classifier, "model", classifier)
    net = keras.Model(inner.input, inner.get_layer("logits").output)
    return np.asarray(net(np.asarray(images, dtype=np.float32), training=False), np.float64)


def choose_test_digits(classifiers: dict, n: int = 10, *, size: int = 32, seed: int = 0,
                       saturation: float = SATURATION) -> tuple[list, list[dict]]:
    """Per digit ``0 .. n-1``, the first test image that no model saturates.

    ``classifiers``: ``name -> digits CNN`` (a KerasClassifier or keras.Model of this
    module). An image is saturated under a model when its top-1 probability, the float64
    softmax of :func:`digit_logits`, exceeds ``1 - saturation``. Returns ``chosen``:
    ``[(id, test index, image (size, size, 1) float64)]`` with id ``digit<d>`` for the
    digit's first test image and ``digit<d>-<k>`` for its ``k``-th (from 0), and
    ``degenerate``: one dict per skipped image (``image``, ``index``, ``model``,
    ``top1_probability``, ``one_minus_top1``), never asserted on. A digit whose every test
    image is saturated is left out.
    """
    n = check_int(n, "n", minimum=1)
    if not classifiers:
        raise ValueError("choose_test_digits needs at least one classifier.")
    if not 0 < saturation < 1:
        raise ValueError(f"saturation must lie in (0, 1); got {saturation}.")
    data = digits_data(size=size, seed=seed)
    x, y = data["x_test"], data["y_test"]
    one_minus = {}
    for name, clf in classifiers.items():
        z = digit_logits(clf, x)
        top = z.argmax(axis=1)
        e = np.exp(z - z[np.arange(len(z)), top][:, None])
        e[np.arange(len(z)), top] = 0.0
        rest = e.sum(axis=1)  # sum over the other classes of exp(z_j - z_top), no rounding
        one_minus[name] = rest / (1.0 + rest)
    chosen, degenerate = [], []
    for d in range(min(n, 10)):
        for k, idx in enumerate(np.flatnonzero(y == d)):
            image_id = f"digit{d}" if k == 0 else f"digit{d}-{k}"
            bad = [(name, float(om[idx])) for name, om in one_minus.items()
                   if om[idx] < saturation]
            if not bad:
                chosen.append((image_id, int(idx), x[idx].astype(np.float64)))
                break
            degenerate += [{"image": image_id, "index": int(idx), "model": name,
                            "top1_probability": 1.0 - om, "one_minus_top1": om}
                           for name, om in bad]
    return chosen, degenerate


def load_digits_cnn(labels: str = "true", *, size: int = 32, seed: int = 0) -> KerasClassifier:
    """The trained digits CNN as a classifier: from memory, from the disk cache, or trained.

    The model is cached as ``digits_{labels}_{size}_{seed}_{TRAINING_SCHEME}.keras`` (trained
    by :func:`train_digits_cnn`, isolated) with a JSON sidecar of
    its metrics in :func:`leg.zoo._cache.cache_dir` (``$LEG_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/leg``). A cache that cannot be written only costs a warning; a cache
    file that cannot be read is retrained over.

    Parameters
    ----------
    labels : {"true", "permuted"}, default "true"
    size : int, default 32
    seed : int, default 0
        See :func:`train_digits_cnn`.

    Returns
    -------
    KerasClassifier
        Maps ``(N, size, size, 1)`` images in ``[0, 1]`` to ``(N, 10)`` probabilities, with
        attributes ``metrics`` (dict), ``input_size`` ``(size, size)`` and ``class_names``
        ``["0", ..., "9"]``.
    """
    check_choice(labels, "labels", LABELS)
    size = check_int(size, "size", minimum=8)
    seed = check_int(seed, "seed", minimum=0)
    path = cache_path(f"digits_{labels}_{size}_{seed}_{TRAINING_SCHEME}.keras")
    key = (labels, size, seed, str(path))
    if key in _MEMORY:
        return _MEMORY[key]

    import keras

    from leg.models import KerasClassifier

    sidecar = path.with_suffix(".json")
    model = metrics = None
    if path.is_file() and sidecar.is_file():
        try:
            metrics = json.loads(sidecar.read_text())
            model = keras.models.load_model(path, compile=False)
        except Exception as exc:  # a corrupt or incompatible cache file: train again
            warnings.warn(f"Could not read the cached model {path} ({exc}); training it again.",
                          RuntimeWarning, stacklevel=2)
            model = metrics = None
    if model is None:
        model, metrics = train_digits_cnn(labels, size=size, seed=seed)
        if write_cache_file(path, lambda tmp: model.save(tmp)):
            write_cache_file(sidecar, lambda tmp: _write_json(tmp, metrics))

    classifier = KerasClassifier(model, preprocessing="none", softmax=False,
                                 class_names=CLASS_NAMES)
    classifier.metrics = dict(metrics)
    classifier.input_size = (size, size)
    _MEMORY[key] = classifier
    return classifier


def _write_json(path, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    _child_main()
