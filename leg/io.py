"""Reading users' images into ``[0, 1]`` float arrays, and fitting them to a model's size.

Conversions (documented in docs/cli.md and recorded in ``results.json``):

- 8-bit images are divided by 255; 16-bit ones (PNG ``I;16``, ``I``) by 65535;
- greyscale is kept as one channel and repeated to three when the model wants RGB;
- RGBA / LA are composited over white (transparent pixels become white);
- palette, CMYK and other modes are converted to RGB by Pillow;
- to fit a model of fixed input size the image is centre-cropped to the model's aspect
  ratio and resized with anti-aliasing (``skimage.transform.resize``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


class ImageError(ValueError):
    """An image file that cannot be read, with the reason."""


def read_image(path: str | Path) -> tuple[np.ndarray, str]:
    """Read ``path`` as an ``(H, W, C)`` float64 array in ``[0, 1]`` (C = 1 or 3).

    Returns the array and a short description of the conversion applied.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image.")
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float64)
                scale = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
                return np.clip(arr / scale, 0, 1)[..., None], f"16-bit grey ({mode}) / {scale:g}"
            if mode == "F":
                arr = np.asarray(img, dtype=np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                return ((arr - lo) / (hi - lo or 1.0))[..., None], "float grey, min-max scaled"
            if mode in ("L", "1"):
                return np.asarray(img.convert("L"), dtype=np.float64)[..., None] / 255.0, \
                    f"greyscale ({mode}) / 255"
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                rgb = Image.alpha_composite(white, rgba).convert("RGB")
                return np.asarray(rgb, dtype=np.float64) / 255.0, \
                    f"{mode} composited over white / 255"
            note = "RGB / 255" if mode == "RGB" else f"{mode} converted to RGB / 255"
            return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0, note
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc}).") from None


def fit_to_model(image: np.ndarray, size: tuple[int, int] | None, channels: int | None
                 ) -> tuple[np.ndarray, str]:
    """Centre-crop and resize ``image`` to ``size`` and match ``channels`` (1 or 3)."""
    from skimage.transform import resize

    notes = []
    if channels is not None and channels != image.shape[2]:
        if channels == 3 and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
            notes.append("grey repeated to RGB")
        elif channels == 1 and image.shape[2] == 3:
            image = (image @ np.array([0.2989, 0.5870, 0.1140]))[..., None]
            notes.append("RGB converted to grey")
        else:
            raise ImageError(f"The model wants {channels} channels; the image has "
                             f"{image.shape[2]}.")
    if size is not None and tuple(image.shape[:2]) != tuple(size):
        h, w = image.shape[:2]
        th, tw = size
        if h * tw > w * th:  # too tall: crop rows
            new_h = max(1, round(w * th / tw))
            top = (h - new_h) // 2
            image = image[top:top + new_h]
        elif h * tw < w * th:
            new_w = max(1, round(h * tw / th))
            left = (w - new_w) // 2
            image = image[:, left:left + new_w]
        image = np.clip(resize(image, (th, tw), anti_aliasing=True, order=1), 0.0, 1.0)
        notes.append(f"centre-cropped from {h}x{w} and resized to {th}x{tw}")
    return image, "; ".join(notes)


def find_images(inputs) -> list[Path]:
    """Expand files and folders (non-recursive, sorted) into image paths."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            paths.append(p)
    return paths
