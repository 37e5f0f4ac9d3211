"""Input checks shared by the metric-family modules (robustness, complexity, localisation,
axiomatic, infidelity): one message format, ``ValueError`` for a bad value, ``TypeError``
for a non-numeric argument."""

from __future__ import annotations

import numpy as np


def as_array(value, name: str) -> np.ndarray:
    """``value`` as a float64 array; ``TypeError`` when it is not numeric."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The {name!r} must be a numeric array; got "
                        f"{type(value).__name__}.") from exc


def finite(arr: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"The {name!r} has {bad} non-finite values (NaN or inf).")
    return arr


def as_map(saliency, name: str = "saliency") -> np.ndarray:
    """A finite float64 ``(H, W)`` map."""
    m = as_array(saliency, name)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"The {name!r} must be an (H, W) map; got shape {m.shape}.")
    return finite(m, name)


def as_maps(maps, shape: tuple[int, int], name: str) -> np.ndarray:
    """A finite float64 ``(n, H, W)`` stack of maps of the given ``(H, W)``, ``n >= 1``."""
    m = as_array(maps, name)
    if m.ndim != 3 or m.shape[1:] != tuple(shape) or m.shape[0] < 1:
        raise ValueError(f"The {name!r} must have shape (n, {shape[0]}, {shape[1]}) with "
                         f"n >= 1; got shape {m.shape}.")
    return finite(m, name)


def as_image(image, name: str = "image") -> np.ndarray:
    """A finite float64 ``(H, W, C)`` image (an ``(H, W)`` array is one channel)."""
    x = as_array(image, name)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or x.size == 0:
        raise ValueError(f"The {name!r} must be an (H, W, C) or (H, W) image; got shape "
                         f"{x.shape}.")
    return finite(x, name)


def as_images(images, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A finite float64 ``(n, *shape)`` stack (``(n, H, W)`` is read as one channel when
    ``shape`` is ``(H, W, 1)``)."""
    x = as_array(images, name)
    if x.ndim == 3 and len(shape) == 3 and shape[2] == 1:
        x = x[..., None]
    if x.ndim != len(shape) + 1 or x.shape[1:] != tuple(shape) or x.shape[0] < 1:
        raise ValueError(f"The {name!r} must have shape (n, {', '.join(map(str, shape))}) "
                         f"with n >= 1; got shape {x.shape}.")
    return finite(x, name)


def check_seed(seed) -> int:
    from leg._validation import check_int

    return check_int(seed, "seed", minimum=0)


def check_count(n, name: str = "n") -> int:
    from leg._validation import check_int

    return check_int(n, name, minimum=1)
