"""Similarity between two saliency maps, for the sanity checks of Adebayo et al. (2018).

Each similarity is a pure function of two ``(H, W)`` maps returning a float (1 for identical
maps) and carries :class:`leg.harness.checks.metrics.Metric` metadata so a report can label and
rank it without special cases.

Direction. In a sanity check the number is the similarity between the explanation of the
*original* model and that of a *randomized* model (or of a model trained on permuted
labels). An explainer that is faithful to the model must change when the model does, so
for these checks **lower is better**: every metric here has ``higher_is_better=False``. (The
same functions also score the "unrelated maps" reference, explanations of different images
under the same model; there the direction is irrelevant, only the level matters.)

Metrics (scipy and scikit-image do the arithmetic):

``spearman_abs``
    Spearman rank correlation of ``|a|`` and ``|b|`` over pixels (``scipy.stats.spearmanr``).
``spearman_signed``
    Spearman rank correlation of ``a`` and ``b`` (sign kept): a map and its negative score -1.
``ssim``
    Structural similarity (``skimage.metrics.structural_similarity``, data range 1) of
    ``|a|`` and ``|b|``, each min-max normalised to ``[0, 1]``; window 7 or the largest odd
    size that fits the map.
``hog_pearson``
    Pearson correlation of the HOG features (``skimage.feature.hog``, 9 orientations,
    cells of ``max(2, min(H, W) // 16)`` pixels, 2x2-cell blocks, L2-Hys) of the same
    normalised absolute maps.

Degenerate inputs: when either map is constant a correlation is undefined; we return 1.0
if the two maps are equal and 0.0 otherwise (a constant map carries no ranking, so it is
"unrelated" to anything that does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from leg.harness.checks.metrics import Metric, register

__all__ = [
    "SIMILARITIES",
    "Similarity",
    "hog_pearson",
    "normalize_abs",
    "similarity",
    "spearman_abs",
    "spearman_signed",
    "ssim",
]


def _check_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"Similarity needs two (H, W) maps of the same shape; got {a.shape} and {b.shape}."
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("Similarity needs finite maps; got NaN or inf values.")
    return a, b


def _constant(x: np.ndarray) -> bool:
    return bool(np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())))


def normalize_abs(m: np.ndarray) -> np.ndarray:
    """``|m|`` min-max scaled to ``[0, 1]`` (a constant map becomes all zeros)."""
    m = np.abs(np.asarray(m, dtype=np.float64))
    lo, hi = m.min(), m.max()
    if hi - lo <= 1e-12 * max(1.0, hi):
        return np.zeros_like(m)
    return (m - lo) / (hi - lo)


def _degenerate(a: np.ndarray, b: np.ndarray) -> float | None:
    if _constant(a) or _constant(b):
        return 1.0 if np.allclose(a, b) else 0.0
    return None


def spearman_signed(a, b) -> float:
    """Spearman rank correlation of the signed maps ``a`` and ``b`` ``(H, W)``: in [-1, 1]."""
    from scipy.stats import spearmanr

    a, b = _check_pair(a, b)
    d = _degenerate(a, b)
    if d is not None:
        return d
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def spearman_abs(a, b) -> float:
    """Spearman rank correlation of ``|a|`` and ``|b|`` ``(H, W)``: in [-1, 1]."""
    a, b = _check_pair(a, b)
    return spearman_signed(np.abs(a), np.abs(b))


def ssim(a, b) -> float:
    """SSIM of ``|a|`` and ``|b|`` ``(H, W)`` after min-max normalisation to [0, 1]."""
    from skimage.metrics import structural_similarity

    a, b = _check_pair(a, b)
    na, nb = normalize_abs(a), normalize_abs(b)
    d = _degenerate(na, nb)
    if d is not None:
        return d
    side = min(a.shape)
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"SSIM needs maps of at least 3x3 pixels; got {a.shape}.")
    return float(structural_similarity(na, nb, data_range=1.0, win_size=win))


def _hog(m: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    cell = max(2, min(m.shape) // 16)
    return hog(m, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2),
               block_norm="L2-Hys", feature_vector=True)


def hog_pearson(a, b) -> float:
    """Pearson correlation of the HOG features of ``|a|`` and ``|b|`` (normalised)."""
    a, b = _check_pair(a, b)
    ha, hb = _hog(normalize_abs(a)), _hog(normalize_abs(b))
    d = _degenerate(ha, hb)
    if d is not None:
        return d
    return float(np.corrcoef(ha, hb)[0, 1])


@dataclass(frozen=True)
class Similarity:
    """A similarity function with its :class:`Metric` metadata."""

    metric: Metric
    fn: Callable[[np.ndarray, np.ndarray], float]

    @property
    def name(self) -> str:
        return self.metric.name

    def __call__(self, a, b) -> float:
        return self.fn(a, b)


_SIM_NOTE = "similarity to the original model's map (lower is better: the map should change)"

def _similarity(name: str, what: str, fn) -> Similarity:
    return Similarity(register(Metric(name, False, f"{what}; {_SIM_NOTE}.", "randomization",
                                      -1.0, 1.0, "Adebayo et al., NeurIPS 2018")), fn)


SIMILARITIES: dict[str, Similarity] = {
    s.name: s
    for s in (
        _similarity("spearman_abs", "Spearman rank correlation of absolute maps", spearman_abs),
        _similarity("spearman_signed", "Spearman rank correlation of signed maps",
                    spearman_signed),
        _similarity("ssim", "SSIM of absolute maps normalised to [0, 1]", ssim),
        _similarity("hog_pearson", "Pearson correlation of HOG features of absolute maps",
                    hog_pearson),
    )
}


def similarity(name: str, a, b) -> float:
    """The similarity ``name`` (a key of :data:`SIMILARITIES`) of maps ``a`` and ``b``."""
    if name not in SIMILARITIES:
        raise ValueError(f"Unknown similarity {name!r}; choose one of {sorted(SIMILARITIES)}.")
    return SIMILARITIES[name](a, b)


#: A map whose values span at most this much is constant (saliency maps here are
#: derivatives of probabilities or scores; 1e-12 is far below float32 model resolution).
DEGENERATE_ATOL = 1e-12


def is_degenerate(saliency, *, atol: float = DEGENERATE_ATOL) -> bool:
    """True when ``saliency`` is constant (max - min <= ``atol``; all-zero included) or
    not finite: it ranks no pixel above another."""
    m = np.asarray(saliency, dtype=np.float64)
    if m.size == 0 or not np.all(np.isfinite(m)):
        return True
    return bool(np.ptp(m) <= atol)
