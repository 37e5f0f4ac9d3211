"""Real photos shipped with scikit-image that the pretrained Lite0 classifies correctly.

Each entry records the ImageNet class Lite0 (:func:`leg.zoo.lite0.load_lite0`) gives as its
top-1 on the 224x224 centre crop from :func:`load_photo`, and the probability measured when
the entry was chosen (for reference; tests only rely on the top-1 class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PHOTOS", "Photo", "load_photo", "photo_names"]


@dataclass(frozen=True)
class Photo:
    """A shipped photo and the ImageNet class Lite0 assigns to it."""

    name: str
    class_index: int
    class_name: str
    probability: float  # Lite0's top-1 softmax probability when measured
    description: str


PHOTOS: dict[str, Photo] = {
    p.name: p
    for p in (
        Photo("chelsea", 285, "Egyptian cat", 0.405,
              "Chelsea the cat (skimage.data.chelsea); runners-up tiger cat 0.33, tabby 0.16"),
        Photo("coffee", 967, "espresso", 0.941,
              "A cup of coffee on a saucer (skimage.data.coffee)"),
        Photo("camera", 872, "tripod", 0.951,
              "The cameraman with his camera on a tripod (skimage.data.camera, grayscale)"),
        Photo("motorcycle", 665, "moped", 0.682,
              "Left view of the Middlebury stereo motorcycle (skimage.data.stereo_motorcycle); "
              "ImageNet has no 'motorcycle' class, moped/motor scooter are the nearest"),
    )
}


def photo_names() -> list[str]:
    """Names accepted by :func:`load_photo`, in a fixed order."""
    return list(PHOTOS)


def _raw(name: str) -> np.ndarray:
    from skimage import data

    if name == "motorcycle":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


def load_photo(name: str, size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """A shipped photo as a float64 ``(H, W, 3)`` RGB array in ``[0, 1]``.

    The photo is centre-cropped to a square, then resized to ``size`` with
    ``skimage.transform.resize(..., anti_aliasing=True)``. Grayscale photos are repeated
    over three channels.
    """
    if name not in PHOTOS:
        raise ValueError(f"Unknown photo {name!r}; choose one of {photo_names()}.")
    if (len(tuple(size)) != 2
            or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in size)):
        raise ValueError(f"'size' must be a pair of positive integers; got {size!r}.")
    from skimage.transform import resize
    from skimage.util import img_as_float64

    img = img_as_float64(_raw(name))
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img = img[..., :3]
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = img[top:top + side, left:left + side]
    out = resize(img, tuple(int(s) for s in size), anti_aliasing=True)
    return np.clip(out, 0.0, 1.0)
