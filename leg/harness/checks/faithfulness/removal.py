"""Perturbation-size metrics: they score a saliency *map* given the model and the image.

Pixels are ranked by ``|saliency|`` (:func:`ranking`); the top ``ceil(alpha * H * W)`` of
them are replaced by a background image (:func:`background`, :func:`masked_images`).

* :func:`key_size` -- the smallest ``alpha`` on a grid whose masked image changes the top-1
  class (lower is better: the map found the pixels the decision rests on).
* :func:`deletion_curve` / :func:`insertion_curve` and :func:`area_under_curve` -- the
  target score as the top pixels are removed (lower area is better) or revealed from the
  background (higher area is better).

Its metrics are registered in :mod:`leg.harness.checks.metrics`.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from leg._validation import check_choice, check_image, check_int
from leg.harness.checks.metrics import Metric, register
from leg.harness.methods._base import FILLS, fill_image
from leg.models import evaluate

__all__ = [
    "BACKGROUNDS", "DEFAULT_K", "SCORE_BACKGROUNDS", "area_under_curve",
    "background", "deletion_curve", "insertion_curve", "key_size", "key_size_linear_scan",
    "masked_images", "pixel_counts", "ranking",
]

BACKGROUNDS = ("mean", "black", "white", "noise", "dist-k")
#: What a perturbation plan may remove with: the fixed backgrounds, and ``"road"`` (ROAD's
#: noisy linear imputation, :mod:`leg.harness.checks.faithfulness.imputation`; scored by the suite
#: at the matched
#: granularity only).
SCORE_BACKGROUNDS = BACKGROUNDS + ("road",)
DEFAULT_K = 32
DEFAULT_ALPHAS = np.linspace(0.001, 1.0, 1000)

_PETSIUK = "Petsiuk et al., BMVC 2018 (RISE: deletion and insertion)"
_ROAD = "Rong et al., ICML 2022 (ROAD)"
for _m in (
    Metric("key_size", False, "Smallest fraction of the top-|saliency| pixels that, replaced "
           "by the background, changes the top-1 class (NaN when no fraction does).",
           "faithfulness", 0.0, 1.0, "Luo et al., ICCV 2021"),
    Metric("deletion_auc", False, "Area under the target score as the top-|saliency| pixels "
           "are replaced by the background, fraction 0 to 1.", "faithfulness", 0.0, 1.0,
           _PETSIUK),
    Metric("insertion_auc", True, "Area under the target score as the top-|saliency| pixels "
           "are revealed on the background, fraction 0 to 1.", "faithfulness", 0.0, 1.0,
           _PETSIUK),
    Metric("lerf_auc", True, "Area under the target score as the *least* relevant pixels are "
           "removed first (ROAD's LeRF), fraction 0 to 1.", "faithfulness", 0.0, 1.0, _ROAD),
    Metric("road_gap", True, "LeRF area minus MoRF (deletion) area (ROAD): near 0 for a map "
           "unrelated to the model.", "faithfulness", -1.0, 1.0, _ROAD),
):
    register(_m)


def _check_saliency(saliency, shape: tuple[int, int]) -> np.ndarray:
    sal = np.asarray(saliency, dtype=np.float64)
    if sal.shape != shape:
        raise ValueError(f"The 'saliency' must have shape {shape} (H, W); got {sal.shape}.")
    if not np.all(np.isfinite(sal)):
        raise ValueError("The 'saliency' contains non-finite values (NaN or inf).")
    return sal


def _check_alphas(alphas) -> np.ndarray:
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or len(a) == 0:
        raise ValueError(f"The 'alphas' must be a non-empty 1-D sequence; got shape {a.shape}.")
    if not np.all(np.isfinite(a)) or a.min() < 0.0 or a.max() > 1.0:
        raise ValueError(
            f"The 'alphas' must be fractions in [0, 1]; got values in [{a.min()}, {a.max()}]."
        )
    return a


def ranking(saliency: np.ndarray) -> np.ndarray:
    """Flat pixel indices ``(H*W,)`` ordered by ``|saliency|``, largest first.

    Ties keep row-major order (a stable sort of ``-|saliency|``), so the order is
    deterministic.
    """
    sal = np.asarray(saliency, dtype=np.float64)
    if not np.all(np.isfinite(sal)):
        raise ValueError("The 'saliency' contains non-finite values (NaN or inf).")
    return np.argsort(-np.abs(sal).ravel(), kind="stable")


def pixel_counts(alphas, n_pixels: int) -> np.ndarray:
    """``ceil(alpha * n_pixels)`` for each alpha, robust to float round-off.

    The product is rounded to 9 decimals before the ceiling, so that e.g.
    ``0.3 * 10 = 3.0000000000000004`` counts 3 pixels, not 4.
    """
    a = _check_alphas(alphas)
    return np.ceil(np.round(a * n_pixels, 9)).astype(np.int64)


def background(image: np.ndarray, saliency: np.ndarray | None = None, kind: str = "mean", *,
               k: int = DEFAULT_K, seed: int | None = 0) -> np.ndarray:
    """The ``(H, W, C)`` image that replaces the removed pixels.

    Parameters
    ----------
    image : ndarray (H, W, C) in [0, 1]
    saliency : ndarray (H, W), optional
        Needed by ``"dist-k"`` only.
    kind : {"mean", "black", "white", "noise", "dist-k"}
        ``"mean"``: every pixel the image's mean colour (per channel); ``"black"``: 0;
        ``"white"``: 1; ``"noise"``: uniform in ``[0, 1)`` from
        ``numpy.random.default_rng(seed)``; ``"dist-k"``: every channel of pixel ``(i, j)``
        moved by ``k / 255`` *against* the sign of its saliency,
        ``clip(x - sign(saliency[i, j]) * k / 255, 0, 1)`` -- positive saliency goes down,
        negative goes up, zero saliency stays.
    k : int, default 32
        Intensity levels (of 255) for ``"dist-k"``.
    seed : int, optional
        For ``"noise"``.
    """
    image = check_image(image)
    check_choice(kind, "kind", BACKGROUNDS)
    if kind in FILLS:
        return fill_image(image, kind)
    if kind == "noise":
        return np.random.default_rng(seed).uniform(size=image.shape)
    if saliency is None:
        raise ValueError("The 'dist-k' background needs the saliency map (its signs).")
    sal = _check_saliency(saliency, image.shape[:2])
    k = check_int(k, "k", minimum=0)
    return np.clip(image - np.sign(sal)[..., None] * (k / 255.0), 0.0, 1.0)


def _resolve_background(image, saliency, kind_or_image, k, seed) -> np.ndarray:
    if isinstance(kind_or_image, str):
        return background(image, saliency, kind_or_image, k=k, seed=seed)
    bg = np.asarray(kind_or_image, dtype=np.float64)
    if bg.shape != image.shape:
        raise ValueError(
            f"The 'background' image must have the image's shape {image.shape}; got {bg.shape}."
        )
    return bg


def masked_images(image: np.ndarray, saliency: np.ndarray, background_image: np.ndarray,
                  alphas) -> np.ndarray:
    """``(len(alphas), H, W, C)``: ``image`` with its top pixels replaced by the background.

    For each ``alpha``, the first ``ceil(alpha * H * W)`` pixels of :func:`ranking`
    (all channels) take ``background_image``'s values; every other pixel keeps
    ``image``'s value exactly.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3:
        raise ValueError(f"The 'image' must have shape (H, W, C); got {image.shape}.")
    h, w = image.shape[:2]
    sal = _check_saliency(saliency, (h, w))
    bg = np.asarray(background_image, dtype=np.float64)
    if bg.shape != image.shape:
        raise ValueError(
            f"The 'background_image' must have the image's shape {image.shape}; got {bg.shape}."
        )
    return _replace(image, _ranks(sal), bg, pixel_counts(alphas, h * w))


def _ranks(saliency: np.ndarray) -> np.ndarray:
    """``(H*W,)``: each pixel's position in :func:`ranking`."""
    rank = np.empty(saliency.size, dtype=np.int64)
    rank[ranking(saliency)] = np.arange(saliency.size)
    return rank


def _replace(image: np.ndarray, rank: np.ndarray, bg: np.ndarray, counts: np.ndarray
             ) -> np.ndarray:
    h, w = image.shape[:2]
    replace = (rank[None, :] < np.asarray(counts)[:, None]).reshape(len(counts), h, w, 1)
    return np.where(replace, bg[None], image[None])


def _top1(classifier, image: np.ndarray) -> int:
    return int(np.argmax(evaluate(classifier, image[None])[0]))


def key_size(classifier, image: np.ndarray, saliency: np.ndarray, *, background="mean",
             alphas=None, batch_size: int = 64, k: int = DEFAULT_K, seed: int | None = 0
             ) -> float:
    """The smallest ``alpha`` (first in grid order) whose masked image changes the top-1 class.

    Exactly :func:`key_size_linear_scan`'s answer, with fewer model calls: the image's
    class is computed once, then the masked images are evaluated ``batch_size`` at a time
    in grid order, stopping after the first batch that contains a change. Alphas that
    replace the same number of pixels give the same image, so each distinct count is
    evaluated once (the classifier is assumed deterministic). A coarse-to-fine search
    would not be equivalent: whether the class has changed is not monotone in ``alpha``.

    Parameters
    ----------
    classifier : callable
        ``(N, H, W, C)`` images in ``[0, 1]`` -> ``(N, K)`` scores.
    image : ndarray (H, W, C) in [0, 1]
    saliency : ndarray (H, W)
        Pixels are ranked by ``|saliency|`` (:func:`ranking`).
    background : str or ndarray (H, W, C), default "mean"
        One of :data:`BACKGROUNDS` (see :func:`background`) or the replacement image.
    alphas : 1-D array of fractions in [0, 1], default ``np.linspace(0.001, 1, 1000)``
        Scanned in the given order.
    batch_size : int, default 64
    k, seed
        For the ``"dist-k"`` and ``"noise"`` backgrounds.

    Returns
    -------
    float
        The alpha, or ``nan`` when no alpha on the grid changes the class (e.g. the
        background itself is classified like the image).
    """
    image = check_image(image)
    sal = _check_saliency(saliency, image.shape[:2])
    alphas = DEFAULT_ALPHAS if alphas is None else _check_alphas(alphas)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    bg = _resolve_background(image, sal, background, k, seed)
    label = _top1(classifier, image)
    counts = pixel_counts(alphas, image.shape[0] * image.shape[1])
    distinct, first = np.unique(counts, return_index=True)
    order = np.argsort(first)  # distinct counts in the order the scan meets them
    distinct, first = distinct[order], first[order]
    rank = _ranks(sal)
    for start in range(0, len(distinct), batch_size):
        images = _replace(image, rank, bg, distinct[start:start + batch_size])
        changed = np.flatnonzero(np.argmax(evaluate(classifier, images), axis=1) != label)
        if len(changed):
            return float(alphas[first[start + changed[0]]])
    return float("nan")


def key_size_linear_scan(classifier, image: np.ndarray, saliency: np.ndarray, *,
                         background="mean", alphas=None, k: int = DEFAULT_K,
                         seed: int | None = 0) -> float:
    """Reference for :func:`key_size`: one model call per alpha, in order, as the authors did.

    Same parameters and result as :func:`key_size`; one call for the image's class plus
    one per alpha up to and including the first change.
    """
    image = check_image(image)
    sal = _check_saliency(saliency, image.shape[:2])
    alphas = DEFAULT_ALPHAS if alphas is None else _check_alphas(alphas)
    bg = _resolve_background(image, sal, background, k, seed)
    label = _top1(classifier, image)
    rank = _ranks(sal)
    for alpha, count in zip(alphas, pixel_counts(alphas, sal.size), strict=True):
        masked = _replace(image, rank, bg, [count])
        if int(np.argmax(evaluate(classifier, masked)[0])) != label:
            return float(alpha)
    return float("nan")


def _curve(classifier, image, saliency, target, background, steps, k, seed, batch_size,
           insertion: bool):
    image = check_image(image)
    sal = _check_saliency(saliency, image.shape[:2])
    steps = check_int(steps, "steps", minimum=1)
    bg = _resolve_background(image, sal, background, k, seed)
    alphas = np.linspace(0.0, 1.0, steps + 1)
    images = (masked_images(bg, sal, image, alphas) if insertion
              else masked_images(image, sal, bg, alphas))
    scores = evaluate(classifier, images, batch_size=batch_size)
    if target is None:
        target = int(np.argmax(evaluate(classifier, image[None])[0]))
    if isinstance(target, bool) or not isinstance(target, Integral | np.integer) or not (
            0 <= target < scores.shape[1]):
        raise ValueError(
            f"The 'target' must be a class index in [0, {scores.shape[1] - 1}]; got {target!r}."
        )
    return alphas, scores[:, int(target)]


def deletion_curve(classifier, image: np.ndarray, saliency: np.ndarray, target: int | None, *,
                   background="mean", steps: int = 50, k: int = DEFAULT_K,
                   seed: int | None = 0, batch_size: int = 64
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Target score as the top-|saliency| pixels are replaced by the background.

    Returns ``alphas = np.linspace(0, 1, steps + 1)`` and the target's scores (its
    probability for a probabilistic classifier) of the images of :func:`masked_images`:
    at ``alpha = 0`` the original image, at ``alpha = 1`` the background. ``target=None``
    is the image's top-1 class. Lower area is better.
    """
    return _curve(classifier, image, saliency, target, background, steps, k, seed, batch_size,
                  insertion=False)


def insertion_curve(classifier, image: np.ndarray, saliency: np.ndarray, target: int | None, *,
                    background="mean", steps: int = 50, k: int = DEFAULT_K,
                    seed: int | None = 0, batch_size: int = 64
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Target score as the top-|saliency| pixels are revealed on the background.

    As :func:`deletion_curve`, but starting from the background (``alpha = 0``) and
    copying the image's top pixels onto it (``alpha = 1`` is the original image). Higher
    area is better.
    """
    return _curve(classifier, image, saliency, target, background, steps, k, seed, batch_size,
                  insertion=True)


def area_under_curve(alphas, scores) -> float:
    """Trapezoid-rule area under ``scores`` over ``alphas`` (:func:`scipy.integrate.trapezoid`)."""
    from scipy.integrate import trapezoid

    a = np.asarray(alphas, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if a.shape != s.shape or a.ndim != 1:
        raise ValueError(
            f"The 'alphas' and 'scores' must be 1-D of equal length; got {a.shape} and {s.shape}."
        )
    return float(trapezoid(s, a))
