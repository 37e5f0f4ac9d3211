"""What every baseline shares: validation, target resolution, evaluation counting, timing.

A baseline is built once as ``Baseline(classifier, *, budget=None, batch_size=64, **options)``
and called as ``explain(image, target=None, *, seed=None)``. :meth:`Baseline.explain`
validates the image, times the call, counts the images the model sees (forward or
backward) and wraps the ``(H, W)`` float64 map in a :class:`leg.explainers.Explanation`.
Subclasses implement only :meth:`Baseline._saliency`.
"""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real

import numpy as np

from leg._validation import check_choice, check_image, check_int
from leg.explainers import Explanation
from leg.models import evaluate

FILLS = ("mean", "black", "white")


def gradient_message(method: str, classifier) -> str:
    return (
        f"{method} needs a classifier with gradients (a KerasClassifier or an object with "
        f".gradient(images, target)); got {type(classifier).__name__}."
    )


def check_gradient_classifier(method: str, classifier) -> None:
    """Raise ``TypeError`` unless ``classifier`` has a callable ``gradient`` method."""
    if not callable(getattr(classifier, "gradient", None)):
        raise TypeError(gradient_message(method, classifier))


def check_fill(fill, name: str = "fill", extra: tuple[str, ...] = ()):
    """A fill is one of ``FILLS`` (+ ``extra``) or a number in ``[0, 1]``."""
    if isinstance(fill, str):
        return check_choice(fill, name, FILLS + extra)
    if isinstance(fill, bool) or not isinstance(fill, Real) or not 0.0 <= float(fill) <= 1.0:
        raise ValueError(
            f"The {name!r} parameter must be one of {sorted(FILLS + extra)} or a number in "
            f"[0, 1]; got {fill!r}."
        )
    return float(fill)


def fill_image(image: np.ndarray, fill) -> np.ndarray:
    """The ``(H, W, C)`` image that replaces removed pixels: ``"mean"`` (every pixel the
    image's mean colour, per channel), ``"black"`` (0), ``"white"`` (1) or a constant (the
    fixed backgrounds of :func:`leg.harness.checks.faithfulness.removal.background` too)."""
    image = np.asarray(image, dtype=np.float64)
    if fill == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1)), image.shape).copy()
    return np.full_like(image, float({"black": 0.0, "white": 1.0}.get(fill, fill)))


class Model:
    """The classifier as one explanation sees it: batched, checked and counted.

    ``n_evaluations`` counts images passed through the model, forward (``scores``) or
    backward (``gradient``); ``seconds`` the time spent inside the model.
    """

    def __init__(self, classifier, batch_size: int):
        self.classifier = classifier
        self.batch_size = batch_size
        self.n_evaluations = 0
        self.seconds = 0.0
        self.n_classes: int | None = None

    def scores(self, images: np.ndarray) -> np.ndarray:
        """``(N, K)`` float64 scores of ``(N, H, W, C)`` images."""
        start = time.perf_counter()
        out = evaluate(self.classifier, images, batch_size=self.batch_size,
                       expected_classes=self.n_classes)
        self.seconds += time.perf_counter() - start
        self.n_evaluations += len(images)
        self.n_classes = out.shape[1]
        return out

    def gradient(self, images: np.ndarray, target: int, **kwargs) -> np.ndarray:
        """``(N, H, W, C)`` gradient of the target score, from ``classifier.gradient``."""
        start = time.perf_counter()
        out = np.asarray(self.classifier.gradient(images, target, **kwargs), dtype=np.float64)
        self.seconds += time.perf_counter() - start
        self.n_evaluations += len(images)
        if out.shape != np.shape(images):
            raise ValueError(
                f"The classifier's gradient must have the shape of its input {np.shape(images)}; "
                f"got {out.shape}."
            )
        return out

    def check_target(self, target: int) -> int:
        if self.n_classes is not None and not 0 <= target < self.n_classes:
            raise ValueError(
                f"The 'target' must be a class index in [0, {self.n_classes - 1}]; got {target}."
            )
        return target

    def resolve(self, image: np.ndarray, target) -> int:
        """``target`` checked, or the top-1 class of ``image`` (one evaluation) when None."""
        if target is None:
            return int(np.argmax(self.scores(image[None])[0]))
        return self.check_target(check_target(target))


def check_target(target) -> int:
    if isinstance(target, bool) or not isinstance(target, Integral | np.integer) or target < 0:
        raise ValueError(
            f"The 'target' must be a non-negative class index or None; got {target!r}."
        )
    return int(target)


class Baseline:
    """Base of the baselines: one call shape, one result type.

    Parameters
    ----------
    classifier : callable
        ``(N, H, W, C)`` images in ``[0, 1]`` -> ``(N, K)`` scores.
    budget : int, optional
        The method's number of model evaluations (see each subclass for what it sets).
    batch_size : int, default 64
        Images per model call.
    """

    name = "baseline"
    default_budget: int | None = None

    def __init__(self, classifier, *, budget: int | None = None, batch_size: int = 64):
        if not callable(classifier):
            raise TypeError(
                f"The 'classifier' must be a callable mapping (N, H, W, C) images in [0, 1] to "
                f"(N, K) scores; got {type(classifier).__name__}."
            )
        self.classifier = classifier
        self.budget = None if budget is None else check_int(budget, "budget", minimum=1)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)

    @property
    def effective_budget(self) -> int | None:
        return self.default_budget if self.budget is None else self.budget

    def explain(self, image: np.ndarray, target: int | None = None, *,
                seed: int | None = None) -> Explanation:
        """Saliency of ``image`` ``(H, W, C)`` in ``[0, 1]`` for ``target`` (default top-1).

        Returns an :class:`~leg.explainers.Explanation` whose ``saliency`` is a finite
        ``(H, W)`` float64 array; ``n_evaluations`` counts the images the model saw and
        ``timings`` holds ``"total"`` and ``"model"`` seconds. The same ``seed`` gives the
        same map.
        """
        image = check_image(image)
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        model = Model(self.classifier, self.batch_size)
        start = time.perf_counter()
        saliency, target = self._saliency(image, target, seed, model)
        total = time.perf_counter() - start
        saliency = np.asarray(saliency, dtype=np.float64)
        if saliency.shape != image.shape[:2]:
            raise RuntimeError(  # a bug in the baseline, not a user error
                f"{self.name} produced a map of shape {saliency.shape}; expected "
                f"{image.shape[:2]}."
            )
        if not np.all(np.isfinite(saliency)):
            warnings.warn(f"{self.name} produced non-finite saliency values; they are set to 0.",
                          RuntimeWarning, stacklevel=2)
            saliency = np.nan_to_num(saliency, nan=0.0, posinf=0.0, neginf=0.0)
        return Explanation(method=self.name, saliency=saliency, target=int(target),
                           n_evaluations=model.n_evaluations, seed=seed,
                           timings={"total": total, "model": model.seconds})

    def _saliency(self, image: np.ndarray, target, seed: int | None, model: Model
                  ) -> tuple[np.ndarray, int]:
        """Return the ``(H, W)`` map and the resolved target class."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(budget={self.budget}, batch_size={self.batch_size})"
