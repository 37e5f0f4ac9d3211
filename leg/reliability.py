r"""How reproducible a LEG map is, predicted from the run itself.

What is predicted is the **seed-to-seed** agreement: the correlation over cells between this
cell map and the map an independent rerun would give at the same settings and the same
number of samples (another seed). Not the split-half agreement, which compares two maps of
half the samples each and is lower.

``"stderr"`` (LEG, from the per-cell standard errors): a map is ``m̂ = m + e`` with
``Var e_c = se_c²``. Its variance over cells is ``V ≈ var(m) + S`` with ``S = mean_c se_c²``,
and two independent runs correlate (Pearson) at ``var(m)/(var(m) + S)``, estimated by
``1 − S/V``. The Spearman correlation is simulated: with a normal prior of variance
``τ² = V − S`` on the cells, each cell's signal is drawn from its posterior
(``N(m̄ + w_c(m̂_c − m̄), w_c se_c²)``, ``w_c = τ²/(τ² + se_c²)``), two reruns add
independent noise of the cells' standard errors, and their Spearman correlation is averaged
over 64 draws (a fixed seed: the prediction is a function of the map and its errors). Unlike
the bivariate-normal ``(6/π)·asin(r/2)``, this keeps the shape of saliency maps, whose few
strong cells carry the Pearson correlation while the ranks of the many weak ones are noise.

``"split"`` (on request for LEG): the estimate is recomputed on the even and on the odd
antithetic pairs; their correlation ``r½`` (Pearson, and Spearman) is that of runs of half
the samples, and the Spearman–Brown formula ``SB(r½) = 2r½/(1 + r½)`` takes it to the full
sample (noise variance ∝ 1/n). Both are clipped to ``[0, 1]``.

``"split-ratio"`` (LEG-TV): Spearman–Brown under-predicts LEG-TV, whose error falls faster
than ``1/n`` (the LP denoises better as the signal dominates), and under-predicts any map of
the orthogonal design (halves of its blocks are not balanced). Both biases largely cancel
in a ratio: LEG-TV's prediction is the ``"stderr"`` prediction of the LEG map it starts from
times ``SB(r½ of the LEG-TV maps) / SB(r½ of the LEG maps)`` on the same two halves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

METHODS = ("stderr", "split")


@dataclass(frozen=True)
class Reliability:
    """Predicted seed-to-seed correlation of a cell map (two runs, same settings and ``n``).

    Attributes
    ----------
    pearson : float in [0, 1]
        Predicted Pearson correlation over cells.
    spearman : float in [0, 1]
        Predicted Spearman correlation over cells.
    method : {"stderr", "split", "split-ratio"}
    trusted : bool
        False when a regression had no more rows (antithetic pairs) than cells: its
        residuals, hence its standard errors and this prediction, are then too optimistic.
    """

    pearson: float
    spearman: float
    method: str
    trusted: bool = True

    def summary(self) -> dict:
        return {"pearson": round(self.pearson, 4), "spearman": round(self.spearman, 4),
                "method": self.method, "trusted": self.trusted}


def spearman_from_pearson(r: float) -> float:
    """Spearman correlation of a bivariate normal with Pearson correlation ``r``."""
    return float(6.0 / np.pi * np.arcsin(np.clip(r, -1.0, 1.0) / 2.0))


def _clip(r: float) -> float:
    return float(np.clip(np.nan_to_num(r, nan=0.0), 0.0, 1.0))


def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``a`` with the same row of ``b`` ``(k, q)``."""
    ra = stats.rankdata(a, axis=1)
    rb = stats.rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1.0), 0.0)


def from_stderr(cell_map: np.ndarray, stderr: np.ndarray, *, draws: int = 64) -> Reliability:
    """Predicted reliability of a map from its standard errors (same shape): Pearson
    ``1 − mean(se²)/var(map)``, Spearman simulated from the cells' posteriors."""
    values = np.ravel(cell_map).astype(np.float64)
    se = np.ravel(stderr).astype(np.float64)
    # errors at rounding level (an exactly linear model) are none: reruns would agree
    se = np.where(se <= 1e-9 * np.abs(values).max(initial=0.0), 0.0, se)
    noise = float(np.mean(se**2))
    total = float(np.var(values, ddof=1)) if values.size > 1 else 0.0
    if total <= 0.0 or total <= noise:
        return Reliability(pearson=0.0, spearman=0.0, method="stderr")
    tau2 = total - noise
    w = tau2 / (tau2 + se**2)
    rng = np.random.default_rng(0)
    mean = values.mean()
    signal = (mean + w * (values - mean)
              + np.sqrt(w) * se * rng.standard_normal((draws, values.size)))
    rerun = [signal + se * rng.standard_normal(signal.shape) for _ in range(2)]
    return Reliability(pearson=_clip(1.0 - noise / total),
                       spearman=_clip(_row_spearman(*rerun).mean()), method="stderr")


def spearman_brown(r_half: float) -> float:
    """Correlation of full-sample runs from that of half-sample runs."""
    r_half = max(float(r_half), 0.0)
    return 2.0 * r_half / (1.0 + r_half)


def from_halves(map_a: np.ndarray, map_b: np.ndarray) -> Reliability:
    """Spearman–Brown of the Pearson and of the Spearman correlation of two half-sample
    maps."""
    a, b = np.ravel(map_a).astype(np.float64), np.ravel(map_b).astype(np.float64)
    if a.std() == 0.0 or b.std() == 0.0:
        return Reliability(pearson=0.0, spearman=0.0, method="split")
    return Reliability(pearson=_clip(spearman_brown(np.corrcoef(a, b)[0, 1])),
                       spearman=_clip(spearman_brown(_row_spearman(a[None], b[None])[0])),
                       method="split")


def from_split_ratio(anchor: Reliability, halves: tuple[np.ndarray, np.ndarray],
                     reference_halves: tuple[np.ndarray, np.ndarray]) -> Reliability:
    """``anchor`` (the reference map's ``"stderr"`` prediction) times the ratio of the
    split-half predictions of a map (``halves``) and of its reference map."""
    split, ref = from_halves(*halves), from_halves(*reference_halves)

    def scaled(a: float, num: float, den: float) -> float:
        return _clip(a * num / den) if den > 0 else num

    return Reliability(pearson=scaled(anchor.pearson, split.pearson, ref.pearson),
                       spearman=scaled(anchor.spearman, split.spearman, ref.spearman),
                       method="split-ratio", trusted=anchor.trusted)
