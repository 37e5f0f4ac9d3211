"""Figures of saliency maps (matplotlib). Every function returns ``(figure, axes)`` and works
headless; nothing is shown unless the caller asks."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

DIRECTIONS = ("all", "positive", "negative")


def apply_direction(saliency: np.ndarray, direction: str = "all") -> np.ndarray:
    """``"all"``: unchanged; ``"positive"``: negatives set to 0; ``"negative"``: sign flipped,
    then negatives set to 0."""
    if direction not in DIRECTIONS:
        raise ValueError(f"The 'direction' parameter must be one of {list(DIRECTIONS)}; got "
                         f"{direction!r}.")
    out = np.array(saliency, dtype=np.float64)
    if direction == "negative":
        out = -out
    if direction != "all":
        out[out < 0] = 0.0
    return out


def to_gray(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` in [0, 1] -> ``(H, W)`` luminance (ITU-R 601 weights for RGB)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    if image.shape[-1] == 1:
        return image[..., 0]
    return image[..., :3] @ np.array([0.2989, 0.5870, 0.1140])


def _new_axes(ax):
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        return fig, ax
    return ax.figure, ax


def heatmap(saliency: np.ndarray, *, ax=None, cmap: str = "hot", colorbar: bool = True,
            title: str | None = None):
    """The map alone with a colour bar (the original ``"heatmap_only"`` style)."""
    fig, ax = _new_axes(ax)
    im = ax.imshow(saliency, cmap=cmap, interpolation="nearest")
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    _finish(ax, title)
    return fig, ax


def gray_overlay(image: np.ndarray, saliency: np.ndarray, *, ax=None, alpha: float = 0.8,
                 colorbar: bool = True, title: str | None = None):
    """The map in grey over the grey image (the original ``"gray"`` style)."""
    fig, ax = _new_axes(ax)
    ax.imshow(to_gray(image), cmap="gray", vmin=0, vmax=1)
    im = ax.imshow(saliency, cmap="gist_gray", interpolation="nearest", alpha=alpha)
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    _finish(ax, title)
    return fig, ax


def color_overlay(image: np.ndarray, saliency: np.ndarray, *, ax=None, alpha: float = 0.5,
                  cmap: str | None = None, colorbar: bool = True, title: str | None = None):
    """The map in colour over the image; signed maps use a diverging map centred at 0."""
    fig, ax = _new_axes(ax)
    img = np.asarray(image, dtype=np.float64)
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img[..., :3],
              cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=1)
    signed = np.nanmin(saliency) < 0
    limit = float(np.max(np.abs(saliency))) or 1.0
    im = ax.imshow(saliency, cmap=cmap or ("bwr" if signed else "jet"), alpha=alpha,
                   vmin=-limit if signed else 0.0, vmax=limit, interpolation="bilinear")
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    _finish(ax, title)
    return fig, ax


STYLES = {"heatmap_only": heatmap, "gray": gray_overlay, "overlay": color_overlay}


def show_style(image, saliency, style: str, **kwargs):
    """Draw ``saliency`` in one of :data:`STYLES` (``heatmap_only`` ignores the image)."""
    if style not in STYLES:
        raise ValueError(f"The 'style' parameter must be one of {sorted(STYLES)}; got {style!r}.")
    if style == "heatmap_only":
        return heatmap(saliency, **kwargs)
    return STYLES[style](image, saliency, **kwargs)


def grid(images: Sequence[np.ndarray], maps: Sequence[Sequence[np.ndarray]], *,
         row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
         style: str = "heatmap_only", cell_inches: float = 2.2):
    """Side-by-side grid: one row per image, the image then one column per map."""
    rows, cols = len(maps), 1 + max(len(r) for r in maps)
    fig, axes = plt.subplots(rows, cols, figsize=(cell_inches * cols, cell_inches * rows),
                             squeeze=False)
    for i, (img, row) in enumerate(zip(images, maps, strict=True)):
        im = np.asarray(img)
        axes[i, 0].imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap="gray", vmin=0, vmax=1)
        for j, m in enumerate(row, start=1):
            show_style(img, m, style, ax=axes[i, j], colorbar=False)
        for j in range(len(row) + 1, cols):
            axes[i, j].axis("off")
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i])
    if col_labels is not None:
        for j, label in enumerate(col_labels):
            axes[0, j].set_title(label, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig, axes


def _finish(ax, title):
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
