"""Superpixels for the black-box baselines that switch image regions on and off (LIME, SHAP)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from leg._validation import check_choice, check_int

SEGMENTATIONS = ("slic", "quickshift")


def check_segmentation(segmentation) -> str | Callable:
    if callable(segmentation):
        return segmentation
    return check_choice(segmentation, "segmentation", SEGMENTATIONS)


def superpixels(image: np.ndarray, segmentation: str | Callable = "slic", *,
                n_segments: int = 50, **options) -> np.ndarray:
    """Label each pixel of ``image`` ``(H, W, C)`` with its superpixel: ``(H, W)`` ints.

    Labels are ``0 .. M-1`` with no gaps (LIME and SHAP index features by label).

    ``"slic"`` (default): :func:`skimage.segmentation.slic` on the RGB image (grey images
    are repeated to RGB, so they are segmented in CIELAB lightness too) with
    ``n_segments`` (capped at ``H*W/4``, so that tiny images still get superpixels of a
    few pixels), ``compactness=10``, ``start_label=0``; it is deterministic. When that
    yields fewer than ``n_segments / 4`` superpixels (noise-like or very small images),
    the compactness is raised to 100, then 1000 (a near-regular grid); pass
    ``compactness=`` to fix it.
    ``"quickshift"``: :func:`skimage.segmentation.quickshift` with LIME's defaults
    (``kernel_size=4, max_dist=200, ratio=0.2, rng=0``), which suit large photos; on
    small images prefer SLIC. A callable gets the ``(H, W, C)`` image and returns labels.
    Extra ``options`` go to the scikit-image function.
    """
    from skimage.segmentation import quickshift, slic

    h, w, c = image.shape
    rgb = image[..., :3] if c >= 3 else np.repeat(image[..., :1], 3, axis=2)
    if callable(segmentation):
        labels = np.asarray(segmentation(image))
    elif segmentation == "slic":
        n = min(check_int(n_segments, "n_segments", minimum=1), max(1, h * w // 4))
        kwargs = {"start_label": 0, **options}
        compactness = [float(kwargs.pop("compactness"))] if "compactness" in kwargs else [
            10.0, 100.0, 1000.0]
        for value in compactness:  # textureless or noisy images need a stiffer grid
            labels = slic(rgb, n_segments=n, compactness=value, channel_axis=-1, **kwargs)
            if len(np.unique(labels)) >= max(2, n // 4):
                break
    else:
        check_choice(segmentation, "segmentation", SEGMENTATIONS)
        kwargs = {"kernel_size": 4, "max_dist": 200, "ratio": 0.2, "rng": 0, **options}
        labels = quickshift(rgb, **kwargs)
    if labels.shape != (h, w):
        raise ValueError(
            f"The segmentation must return labels of shape {(h, w)}; got {labels.shape}."
        )
    return np.unique(labels, return_inverse=True)[1].reshape(h, w)
