"""Figures of saliency maps (matplotlib). Every function returns ``(figure, axes)`` and works
headless; nothing is shown unless the caller asks.

Colour follows the sign of what is drawn, and every colour bar says what its values are:

- a signed map (LEG's joint-mode map, a gradient) is drawn in a diverging colour map,
  :data:`DIVERGING` (``RdBu_r``: red where brightening the cell raises the class score,
  blue where it lowers it), with limits ``±max|map|``, so that zero is white;
- a non-negative map (``|map|``, one sign of a map, the per-channel maps combined as
  absolute values) in a sequential one, :data:`SEQUENTIAL` (``inferno``) from 0 to its
  maximum (``gist_gray`` for the ``"gray"`` style);
- the colour bar's label is ``label=``; by default :data:`LEG_LABEL` (what LEG estimates:
  the derivative of the class probability with respect to a cell's intensity) with the
  sign mode said; :func:`leg_label` builds the exact one from a :class:`leg.LEGResult`
  (LEG or LEG-TV and its λ, the class, how per-channel maps were combined).

Taken from Captum's ``captum.attr.visualization.visualize_image_attr``: its four sign modes
(``sign=``: ``"all"``, ``"positive"``, ``"negative"`` — the magnitude of the negative part —
and ``"absolute_value"``; the 2019 code's ``direction`` is the first three), and its rule
that the mode picks the colour map: two-sided for ``"all"`` with limits symmetric about
zero, one-sided from zero for the others. Not taken: its normalisation to ``[-1, 1]`` after
clipping the top 2 % of the attribution mass (``outlier_perc``) — here the bar keeps the
map's units and its ends are the map's extremes, so two figures' bars can be compared — and
its red-white-green map, unreadable with the commonest colour blindness (``RdBu_r`` is not).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

SIGNS = ("all", "positive", "negative", "absolute_value")  # Captum's sign modes
DIRECTIONS = SIGNS[:3]  # the 2019 code's generateHeatmap(direction=...)
#: Signed maps: diverging, centred on zero (symmetric limits).
DIVERGING = "RdBu_r"
#: Non-negative maps: sequential from zero.
SEQUENTIAL = "inferno"
#: What a LEG map's value is (LEG estimates the noise-averaged gradient of the class score).
LEG_LABEL = "LEG saliency: d P(class) / d cell intensity"

_SIGN_WORDS = {"positive": "positive part of", "negative": "negative part (magnitude) of",
               "absolute_value": "magnitude of"}


def apply_sign(saliency: np.ndarray, sign: str = "all") -> np.ndarray:
    """Captum's sign modes: ``"all"`` unchanged; ``"positive"``: negatives set to 0;
    ``"negative"``: sign flipped, then negatives set to 0 (the negative part's magnitude);
    ``"absolute_value"``: ``|map|``."""
    if sign not in SIGNS:
        raise ValueError(f"The 'sign' parameter must be one of {list(SIGNS)}; got {sign!r}.")
    out = np.array(saliency, dtype=np.float64)
    if sign == "absolute_value":
        return np.abs(out)
    if sign == "negative":
        out = -out
    if sign != "all":
        out[out < 0] = 0.0
    return out


def apply_direction(saliency: np.ndarray, direction: str = "all") -> np.ndarray:
    """``"all"``: unchanged; ``"positive"``: negatives set to 0; ``"negative"``: sign flipped,
    then negatives set to 0 (the 2019 code's ``direction``; :func:`apply_sign`'s first
    three modes)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"The 'direction' parameter must be one of {list(DIRECTIONS)}; got "
                         f"{direction!r}.")
    return apply_sign(saliency, direction)


def colour_scale(values: np.ndarray, cmap: str | None = None, *,
                 sequential: str = SEQUENTIAL) -> tuple[str, float, float]:
    """``(colour map, vmin, vmax)`` for ``values``: :data:`DIVERGING` and ``±max|values|``
    when any value is negative, else ``sequential`` and ``[0, max]`` (``cmap`` replaces the
    colour map, never the limits)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    limit = float(np.max(np.abs(finite))) if finite.size else 0.0
    limit = limit or 1.0  # an all-zero map: any range, zero at the bottom or the centre
    if finite.size and finite.min() < 0:
        return cmap or DIVERGING, -limit, limit
    return cmap or sequential, 0.0, limit


def value_label(label: str | None, sign: str = "all") -> str:
    """The colour bar's label: ``label`` (default :data:`LEG_LABEL`) with the sign mode
    said (``"positive part of ..."``)."""
    label = label or LEG_LABEL
    if sign == "all":
        return label
    head, sep, tail = label.partition(": ")
    return f"{head}: {_SIGN_WORDS[sign]} {tail}" if sep else f"{_SIGN_WORDS[sign]} {label}"


def leg_label(result, class_names: Sequence[str] | None = None) -> str:
    """What the values of ``result``'s map (a :class:`leg.LEGResult`) are, for a colour bar:
    e.g. ``"LEG: d P(espresso) / d cell intensity"``, or with per-channel maps combined as
    mean absolute values ``"LEG: mean over channels of |d P(espresso) / d cell intensity|"``.
    ``class_names``: the classifier's class names, indexed by class (default ``class k``)."""

    kind = "logit" if getattr(result, "score_kind", "probability") == "logit" else "P"

    def prob(k: int) -> str:
        return f"{kind}({class_names[k] if class_names is not None else f'class {k}'})"

    method = "LEG" if result.lam is None else f"LEG-TV (λ={result.lam:g})"
    target = result.target
    score = (f"({prob(target[0])} − {prob(target[1])})" if isinstance(target, tuple)
             else prob(target))
    derivative = f"d {score} / d cell intensity"
    if result.mode == "per_channel":
        derivative = {
            "mean_abs": f"mean over channels of |{derivative}|",
            "sum_abs": f"sum over channels of |{derivative}|",
            "mean": f"mean over channels of {derivative}",
            "sum": f"sum over channels of {derivative}",
        }[result.combine]
    return f"{method}: {derivative}"


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


def _colorbar(fig, ax, im, label: str) -> None:
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def heatmap(saliency: np.ndarray, *, ax=None, cmap: str | None = None, colorbar: bool = True,
            title: str | None = None, sign: str = "all", label: str | None = None):
    """The map alone with a colour bar (the original ``"heatmap_only"`` style): diverging
    and centred on zero for a signed map, sequential for a non-negative one."""
    fig, ax = _new_axes(ax)
    values = apply_sign(saliency, sign)
    cmap, vmin, vmax = colour_scale(values, cmap)
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if colorbar:
        _colorbar(fig, ax, im, value_label(label, sign))
    _finish(ax, title)
    return fig, ax


def gray_overlay(image: np.ndarray, saliency: np.ndarray, *, ax=None, alpha: float = 0.8,
                 colorbar: bool = True, title: str | None = None, sign: str = "all",
                 label: str | None = None, cmap: str | None = None):
    """The map over the grey image (the original ``"gray"`` style): in grey for a
    non-negative map, as the original drew it; a signed map in the diverging colour map
    centred on zero, since grey cannot show the sign."""
    fig, ax = _new_axes(ax)
    ax.imshow(to_gray(image), cmap="gray", vmin=0, vmax=1)
    values = apply_sign(saliency, sign)
    cmap, vmin, vmax = colour_scale(values, cmap, sequential="gist_gray")
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                   alpha=alpha)
    if colorbar:
        _colorbar(fig, ax, im, value_label(label, sign))
    _finish(ax, title)
    return fig, ax


def color_overlay(image: np.ndarray, saliency: np.ndarray, *, ax=None, alpha: float = 0.5,
                  cmap: str | None = None, colorbar: bool = True, title: str | None = None,
                  sign: str = "all", label: str | None = None):
    """The map in colour over the image: diverging and centred on zero for a signed map,
    sequential for a non-negative one."""
    fig, ax = _new_axes(ax)
    img = np.asarray(image, dtype=np.float64)
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img[..., :3],
              cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=1)
    values = apply_sign(saliency, sign)
    cmap, vmin, vmax = colour_scale(values, cmap)
    im = ax.imshow(values, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax,
                   interpolation="bilinear")
    if colorbar:
        _colorbar(fig, ax, im, value_label(label, sign))
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
    """Side-by-side grid: one row per image, the image then one column per map (each map
    scaled on its own, as :func:`colour_scale` says; no colour bars)."""
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
