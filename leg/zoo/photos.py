"""Real photos that the pretrained Lite0 classifies correctly, read from packages leg
installs (nothing is downloaded).

Each entry records the ImageNet class Lite0 (:func:`leg.zoo.lite0.load_lite0`) gives as its
top-1 on the 224x224 centre crop from :func:`load_photo`, the probability measured when the
entry was chosen, where the file comes from and its licence. The first four are
scikit-image's; the last four were added so that comparisons over images have enough photos
for a paired test (every photo the installed scikit-image, scikit-learn and matplotlib ship
was tried; these are the ones whose top-1 class is right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PHOTOS", "Photo", "load_mask", "load_photo", "photo_names"]


@dataclass(frozen=True)
class Photo:
    """A shipped photo and the ImageNet class Lite0 assigns to it."""

    name: str
    class_index: int
    class_name: str
    probability: float  # Lite0's top-1 softmax probability when measured
    description: str
    source: str = "scikit-image (skimage.data), BSD-3-Clause collection; see skimage.data"


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
        Photo("rocket", 657, "missile", 0.301,
              "Falcon 9 launching DSCOVR (skimage.data.rocket); runner-up projectile 0.16",
              "skimage.data.rocket: SpaceX photo, released into the public domain"),
        Photo("china", 698, "palace", 0.340,
              "A Chinese temple roof (sklearn.datasets.load_sample_image('china.jpg')); "
              "runner-up bell cote 0.19",
              "scikit-learn sample image china.jpg: danielbuechele on Flickr, CC BY 2.0"),
        Photo("flower", 985, "daisy", 0.204,
              "A flower head with a bee (sklearn.datasets.load_sample_image('flower.jpg')); "
              "runners-up mushroom 0.10, bee 0.05",
              "scikit-learn sample image flower.jpg: vultilion on Flickr, CC BY 2.0"),
        Photo("grace_hopper", 652, "military uniform", 0.399,
              "Commodore Grace M. Hopper in uniform (matplotlib sample data grace_hopper.jpg); "
              "runner-up mortarboard 0.10",
              "matplotlib sample data grace_hopper.jpg: U.S. Navy photograph, public domain"),
    )
}


def photo_names() -> list[str]:
    """Names accepted by :func:`load_photo`, in a fixed order."""
    return list(PHOTOS)


def _raw(name: str) -> np.ndarray:
    from skimage import data

    if name == "motorcycle":
        return data.stereo_motorcycle()[0]
    if name in ("china", "flower"):
        try:
            from sklearn.datasets import load_sample_image
        except ImportError as exc:
            raise ImportError(f"The photo {name!r} is scikit-learn's sample image: "
                              "pip install scikit-learn (leg's tf and torch extras have it)."
                              ) from exc
        return load_sample_image(f"{name}.jpg")
    if name == "grace_hopper":
        import matplotlib.cbook
        from skimage import io

        return io.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
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


def load_mask(name: str) -> np.ndarray:
    """The object mask of a shipped photo: a ``(224, 224)`` bool array, ``True`` on the
    object of the photo's class, aligned with ``load_photo(name)`` at its default size.

    Drawn for this project by hand-placed polygons over the 224x224 crop;
    ``leg/data/masks/SOURCE.md`` says what each covers, ``docs/make_photo_masks.py``
    regenerates them.
    """
    import importlib.resources
    import io

    if name not in PHOTOS:
        raise ValueError(f"Unknown photo {name!r}; choose one of {photo_names()}.")
    from skimage.io import imread

    data = (importlib.resources.files("leg") / "data" / "masks" / f"{name}.png").read_bytes()
    mask = imread(io.BytesIO(data))
    if mask.shape != (224, 224):
        raise RuntimeError(f"leg/data/masks/{name}.png is {mask.shape}, not (224, 224).")
    return mask > 127
