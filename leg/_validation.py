"""Small helpers that check user input at the boundary and fail with one message format."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np


def check_image(image, *, name: str = "image", value_range: tuple[float, float] = (0.0, 1.0)):
    """Return ``image`` as a float64 ``(H, W, C)`` array, or raise a clear error.

    A 2-D ``(H, W)`` array is treated as one grey channel. ``value_range`` is the declared
    range; pixels outside it (beyond a small tolerance) are refused rather than clipped.
    """
    try:
        arr = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"The {name!r} must be a numeric array; got {type(image).__name__}."
        ) from exc
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(
            f"The {name!r} must have shape (H, W, C) or (H, W); got shape {arr.shape}. "
            "Pass one image at a time (drop the batch axis)."
        )
    if arr.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"The {name!r} must have 1, 3 or 4 channels in the last axis; got {arr.shape[2]} "
            f"(shape {arr.shape}). Channels-first images need np.moveaxis(image, 0, -1)."
        )
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"The {name!r} must be at least 2x2 pixels; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"The {name!r} contains {bad} non-finite values (NaN or inf).")
    lo, hi = value_range
    tol = 1e-6 * max(1.0, hi - lo)
    if arr.min() < lo - tol or arr.max() > hi + tol:
        hint = ""
        if hi <= 1.0 and arr.max() > 1.0 and arr.max() <= 255.0:
            hint = " It looks like a [0, 255] image: divide it by 255."
        raise ValueError(
            f"The {name!r} has values in [{arr.min():.4g}, {arr.max():.4g}], outside the declared "
            f"range [{lo:g}, {hi:g}].{hint}"
        )
    return arr


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral | np.integer):
        raise TypeError(f"The {name!r} parameter must be an integer; got {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"The {name!r} parameter must be an integer >= {minimum}; got {value}.")
    return int(value)


def check_float(value, name: str, *, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise TypeError(f"The {name!r} parameter must be a real number; got {value!r}.")
    value = float(value)
    ok = np.isfinite(value)
    if low is not None:
        ok = ok and (value >= low if low_inclusive else value > low)
    if high is not None:
        ok = ok and value <= high
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        bracket = "[" if low_inclusive else "("
        raise ValueError(
            f"The {name!r} parameter must be a finite number in the range {bracket}{lo}, {hi}]; "
            f"got {value!r}."
        )
    return value


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(
            f"The {name!r} parameter must be one of {sorted(choices)}; got {value!r}."
        )
    return value


def check_scores(scores: np.ndarray, n_images: int, expected_classes: int | None = None
                 ) -> np.ndarray:
    """``scores`` for a batch of ``n_images`` as an ``(N, K)`` float64 array, or a
    ``ValueError`` naming what was wrong (wrong shape, another number of classes, NaN)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1 and n_images == 1:
        scores = scores[None]
    if scores.ndim != 2 or scores.shape[0] != n_images:
        raise ValueError(
            f"The model must return scores of shape (N, K) = ({n_images}, K) for a batch of "
            f"{n_images} images; it returned shape {scores.shape}."
        )
    if expected_classes is not None and scores.shape[1] != expected_classes:
        raise ValueError(
            f"The model returned {scores.shape[1]} classes for this batch but "
            f"{expected_classes} before; its output must have a fixed number of classes."
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError(
            "The model returned non-finite scores (NaN or inf); check its preprocessing and "
            "that the input range [0, 1] is what it expects."
        )
    return scores
