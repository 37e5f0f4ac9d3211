"""ROAD-style removal (Rong et al., ICML 2022, "A Consistent and Efficient Evaluation Strategy
for Attribution Methods"): noisy linear imputation, most- and least-relevant-first removal
curves and their gap, and removal at a matched granularity (whole cells).

* :func:`noisy_linear_imputation` (and the picklable :class:`NoisyLinearImputer`): each
  removed pixel becomes the weighted average of its 8 neighbours (1/6 for the 4 direct, 1/12
  for the 4 diagonal ones; neighbours outside the image are left out and the weights of the
  others are not renormalised, as in the authors' code), kept pixels are fixed; one sparse
  symmetric positive definite system over the removed pixels, eliminated in a geometric
  nested-dissection order and factorised once (:func:`scipy.sparse.linalg.splu`, no
  pivoting), then solved for all channels at once; then Gaussian noise on the removed pixels
  and a clip to ``[0, 1]``.
* :func:`removal_curves`: the target score as the top (MoRF) or the bottom (LeRF) of the
  ``|saliency|`` ranking is removed and imputed; the conventions of
  :mod:`leg.harness.checks.faithfulness.removal` (fractions ``np.linspace(0, 1, steps + 1)``,
  ``ceil``
  counts by :func:`~leg.harness.checks.faithfulness.removal.pixel_counts`, stable ranking with ties
  in
  row-major order, raw target scores, trapezoid areas). ``gap = AUC(LeRF) - AUC(MoRF)``:
  positive when the map puts what the decision rests on first; near zero for a map unrelated
  to the model.
* Matched granularity: :func:`pool_to_cells` (sum of ``|saliency|`` per cell of a
  :class:`leg.grid.Grid`) and :func:`removal_masks` with ``grid=``: cells ranked by their
  pooled score and removed whole; the fractions then count cells.
* :func:`key_size_removal`: :func:`leg.harness.checks.faithfulness.removal.key_size` with the
removed pixels
  (or cells) imputed instead of replaced by a fixed background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from leg._validation import check_choice, check_float, check_image, check_int
from leg.grid import Grid
from leg.harness.checks.faithfulness.removal import (
    _check_alphas,
    _check_saliency,
    pixel_counts,
    ranking,
)
from leg.models import evaluate

__all__ = ["NEIGHBOUR_WEIGHTS", "ORDERS", "NoisyLinearImputer", "RemovalCurves",
           "key_size_removal", "noisy_linear_imputation", "pool_to_cells", "removal_curves",
           "removal_masks", "resolve_grid", "unit_ranks"]

#: ``(dy, dx, weight)`` of the 8 neighbours (Rong et al.: 1/6 direct, 1/12 diagonal).
NEIGHBOUR_WEIGHTS = (
    (0, 1, 1 / 6), (0, -1, 1 / 6), (1, 0, 1 / 6), (-1, 0, 1 / 6),
    (1, 1, 1 / 12), (1, -1, 1 / 12), (-1, 1, 1 / 12), (-1, -1, 1 / 12),
)
#: Removal orders: most relevant first, least relevant first.
ORDERS = ("morf", "lerf")

Imputer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _check_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"The 'mask' must be a boolean array (True = removed); got dtype "
                        f"{m.dtype}.")
    if m.shape != shape:
        raise ValueError(f"The 'mask' must have the image's shape {shape} (H, W); got {m.shape}.")
    return m


def _nested_dissection(h: int, w: int) -> np.ndarray:
    """Flat pixel indices of an ``h x w`` grid in geometric nested-dissection order: each
    rectangle's two halves first, the separating row or column last. Eliminating in this
    order keeps the fill of a 2-D grid's factor near-minimal."""
    key = (h, w)
    cached = _ND_CACHE.get(key)  # one lookup: another thread may clear the cache
    if cached is not None:
        return cached
    out = []

    def split(r0, r1, c0, c1):
        hh, ww = r1 - r0, c1 - c0
        if hh <= 0 or ww <= 0:
            return
        if hh * ww <= 16:
            out.append((np.arange(r0, r1)[:, None] * w + np.arange(c0, c1)[None, :]).ravel())
        elif hh >= ww:
            m = (r0 + r1) // 2
            split(r0, m, c0, c1)
            split(m + 1, r1, c0, c1)
            out.append(m * w + np.arange(c0, c1))
        else:
            m = (c0 + c1) // 2
            split(r0, r1, c0, m)
            split(r0, r1, m + 1, c1)
            out.append(np.arange(r0, r1) * w + m)

    split(0, h, 0, w)
    position = np.empty(h * w, dtype=np.int64)
    position[np.concatenate(out)] = np.arange(h * w)
    if len(_ND_CACHE) > 8:
        _ND_CACHE.clear()
    _ND_CACHE[key] = position
    return position


_ND_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _system(mask: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, sp.csc_matrix, np.ndarray]:
    """The removed pixels (flat indices, in elimination order) and ``A x = b`` over them:
    ``A`` ``(n, n)`` sparse symmetric, ``b`` ``(n, C)``. Row ``p``:
    ``sum_q w_q * x_p - sum_{q removed} w_q * x_q = sum_{q kept} w_q * image_q`` over the
    neighbours ``q`` of ``p`` inside the image."""
    h, w = mask.shape
    flat = mask.ravel()
    removed = np.flatnonzero(flat)
    removed = removed[np.argsort(_nested_dissection(h, w)[removed], kind="stable")]
    n = removed.size
    var = np.full(h * w, -1, dtype=np.int64)
    var[removed] = np.arange(n)
    pix = image.reshape(h * w, -1)
    rows, cols = np.divmod(removed, w)
    diag = np.zeros(n)
    b = np.zeros((n, pix.shape[1]))
    a_rows, a_cols, a_vals = [np.arange(n)], [np.arange(n)], [diag]
    for dy, dx, wt in NEIGHBOUR_WEIGHTS:
        r, c = rows + dy, cols + dx
        eq = np.flatnonzero((r >= 0) & (r < h) & (c >= 0) & (c < w))
        q = r[eq] * w + c[eq]
        diag[eq] += wt
        gone = flat[q]
        a_rows.append(eq[gone])
        a_cols.append(var[q[gone]])
        a_vals.append(np.full(a_rows[-1].size, -wt))
        kept = ~gone
        b[eq[kept]] += wt * pix[q[kept]]  # one neighbour per offset: no repeated rows
    a = sp.csc_matrix((np.concatenate(a_vals), (np.concatenate(a_rows),
                                                np.concatenate(a_cols))), shape=(n, n))
    return removed, a, b


def _solve(a: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
    """``A`` is a symmetric irreducibly diagonally dominant M-matrix (every connected region
    of removed pixels touches a kept one), hence positive definite: LU in the given
    (nested-dissection) order without pivoting is stable."""
    lu = splu(a, permc_spec="NATURAL", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})
    return lu.solve(b)


def noisy_linear_imputation(image, mask, *, noise_std: float = 0.01, seed: int | None = 0,
                            clip: bool = True) -> np.ndarray:
    """``image`` with its ``mask`` pixels imputed (ROAD's noisy linear imputation).

    Parameters
    ----------
    image : ndarray (H, W, C) (or (H, W): one channel) in [0, 1]
    mask : bool ndarray (H, W)
        True = removed (imputed); every other pixel is returned unchanged.
    noise_std : float >= 0, default 0.01
        Standard deviation of the Gaussian noise added to each imputed value (the authors'
        default); 0 gives the plain linear imputation.
    seed : int, optional
        Seeds the noise (:func:`numpy.random.default_rng`).
    clip : bool, default True
        Clip the imputed values to [0, 1] (the noise can leave the range).

    Returns
    -------
    ndarray (H, W, C), float64. With every pixel removed there is nothing to interpolate
    from: every pixel takes the image's mean colour (per channel), then the noise.
    """
    image = check_image(image)
    mask = _check_mask(mask, image.shape[:2])
    noise_std = check_float(noise_std, "noise_std", low=0.0)
    out = image.copy()
    flat = out.reshape(-1, image.shape[2])  # a view
    idx = np.flatnonzero(mask.ravel())  # row-major: the order the noise is drawn in
    if idx.size == 0:
        return out
    if idx.size == mask.size:
        flat[:] = image.mean(axis=(0, 1))
    else:
        removed, a, b = _system(mask, image)
        flat[removed] = _solve(a, b)
    if noise_std > 0:
        flat[idx] += noise_std * np.random.default_rng(seed).standard_normal(
            (idx.size, image.shape[2]))
    if clip:
        flat[idx] = np.clip(flat[idx], 0.0, 1.0)
    return out


@dataclass(frozen=True)
class NoisyLinearImputer:
    """:func:`noisy_linear_imputation` with fixed settings: ``imputer(image, mask)``."""

    noise_std: float = 0.01
    seed: int | None = 0
    clip: bool = True

    def __call__(self, image, mask) -> np.ndarray:
        return noisy_linear_imputation(image, mask, noise_std=self.noise_std, seed=self.seed,
                                       clip=self.clip)


def resolve_grid(shape: tuple[int, int], grid) -> Grid:
    """A :class:`leg.grid.Grid` over an ``(H, W)`` image from a ``Grid``, a cell size (int)
    or a ``(rows, cols)`` pair."""
    h, w = shape
    if isinstance(grid, Grid):
        if (grid.height, grid.width) != (h, w):
            raise ValueError(f"The 'grid' covers {grid.height}x{grid.width} px; the map is "
                             f"{h}x{w}.")
        return grid
    if isinstance(grid, Integral | np.integer) and not isinstance(grid, bool):
        return Grid.from_cell_size(h, w, int(grid))
    if isinstance(grid, tuple | list) and len(grid) == 2:
        return Grid.from_shape(h, w, tuple(grid))
    raise TypeError(f"The 'grid' must be a leg.grid.Grid, a cell size or a (rows, cols) pair; "
                    f"got {grid!r}.")


def pool_to_cells(saliency, grid) -> np.ndarray:
    """``(rows, cols)``: the sum of ``|saliency|`` over each cell of ``grid``.

    ``saliency``: ``(H, W)``; ``grid``: as :func:`resolve_grid`.
    """
    sal = np.asarray(saliency, dtype=np.float64)
    if sal.ndim != 2:
        raise ValueError(f"The 'saliency' must have shape (H, W); got {sal.shape}.")
    sal = _check_saliency(sal, sal.shape)
    return resolve_grid(sal.shape, grid).cell_sums(np.abs(sal))


def unit_ranks(saliency, *, order: str = "morf", grid=None) -> np.ndarray:
    """``(H, W)`` int: each pixel's removal position. Pixel ``p`` is removed at count ``k``
    when ``ranks[p] < k``.

    Units are pixels, or with ``grid`` the cells (every pixel of a cell shares its cell's
    position, cells ranked by :func:`pool_to_cells`). ``"morf"``: largest ``|saliency|``
    first (:func:`leg.harness.checks.faithfulness.removal.ranking`); ``"lerf"``: smallest first.
    Ties keep
    row-major order in both.
    """
    check_choice(order, "order", ORDERS)
    sal = np.asarray(saliency, dtype=np.float64)
    if sal.ndim != 2:
        raise ValueError(f"The 'saliency' must have shape (H, W); got {sal.shape}.")
    sal = _check_saliency(sal, sal.shape)
    if grid is None:
        units, cell_of = sal, None
    else:
        g = resolve_grid(sal.shape, grid)
        units, cell_of = g.cell_sums(np.abs(sal)), g.pixel_cells()
    flat = np.abs(units).ravel()
    seq = ranking(units) if order == "morf" else np.argsort(flat, kind="stable")
    rank = np.empty(flat.size, dtype=np.int64)
    rank[seq] = np.arange(flat.size)
    return rank.reshape(sal.shape) if cell_of is None else rank[cell_of]


def removal_masks(saliency, fractions, *, order: str = "morf", grid=None) -> np.ndarray:
    """``(len(fractions), H, W)`` bool: True where removed at each fraction.

    Fraction ``a`` removes the first ``ceil(a * units)`` units of :func:`unit_ranks`
    (pixels, or whole cells with ``grid``: then the fractions count cells).
    """
    rank = unit_ranks(saliency, order=order, grid=grid)
    n_units = int(rank.max()) + 1
    counts = pixel_counts(fractions, n_units)
    return rank[None] < counts[:, None, None]


@dataclass(frozen=True, eq=False)
class RemovalCurves:
    """Target scores as the top (``morf``) or bottom (``lerf``) units are removed.

    ``fractions``: ``(S,)`` in [0, 1]; ``morf``, ``lerf``: ``(S,)`` target scores;
    ``target``: the class scored. Areas by the trapezoid rule over ``fractions``.
    """

    fractions: np.ndarray
    morf: np.ndarray
    lerf: np.ndarray
    target: int

    @property
    def morf_auc(self) -> float:
        """Lower is better."""
        from leg.harness.checks.faithfulness.removal import area_under_curve

        return area_under_curve(self.fractions, self.morf)

    @property
    def lerf_auc(self) -> float:
        """Higher is better."""
        from leg.harness.checks.faithfulness.removal import area_under_curve

        return area_under_curve(self.fractions, self.lerf)

    @property
    def gap(self) -> float:
        """``lerf_auc - morf_auc``: higher is better; near 0 for a map unrelated to the model."""
        return self.lerf_auc - self.morf_auc


def _target(classifier, image, target) -> int:
    scores = evaluate(classifier, image[None])[0]
    if target is None:
        return int(np.argmax(scores))
    if isinstance(target, bool) or not isinstance(target, Integral | np.integer) or not (
            0 <= target < scores.size):
        raise ValueError(
            f"The 'target' must be a class index in [0, {scores.size - 1}]; got {target!r}.")
    return int(target)


def removal_curves(classifier, image, saliency, target: int | None = None, *,
                   impute: Imputer | None = None, fractions=None, steps: int = 50, grid=None,
                   batch_size: int = 64) -> RemovalCurves:
    """MoRF and LeRF removal curves of ``saliency`` with the removed units imputed.

    Parameters
    ----------
    classifier : callable
        ``(N, H, W, C)`` images in [0, 1] -> ``(N, K)`` scores.
    image : ndarray (H, W, C) in [0, 1]
    saliency : ndarray (H, W)
    target : int, optional
        The class scored; default the image's top-1 class.
    impute : callable ``(image, mask) -> image``, default ``NoisyLinearImputer()``
        Fills the removed pixels (mask True); must be deterministic.
    fractions : 1-D array in [0, 1], default ``np.linspace(0, 1, steps + 1)``
    steps : int, default 50
    grid : leg.grid.Grid, int or (rows, cols), optional
        Remove whole cells ranked by :func:`pool_to_cells` (fractions count cells).
    batch_size : int, default 64

    Each distinct mask is imputed and scored once (the counts 0 and all are shared by both
    orders, and fractions that remove the same count share an image).
    """
    image = check_image(image)
    sal = _check_saliency(saliency, image.shape[:2])
    steps = check_int(steps, "steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    fr = np.linspace(0.0, 1.0, steps + 1) if fractions is None else _check_alphas(fractions)
    impute = NoisyLinearImputer() if impute is None else impute
    target = _target(classifier, image, target)
    ranks = {o: unit_ranks(sal, order=o, grid=grid) for o in ORDERS}
    n_units = int(ranks["morf"].max()) + 1
    counts = pixel_counts(fr, n_units)
    keys = sorted({(o if 0 < k < n_units else "any", int(k)) for o in ORDERS for k in counts})
    index = {key: i for i, key in enumerate(keys)}
    scores = np.empty(len(keys))
    for start in range(0, len(keys), batch_size):
        chunk = keys[start:start + batch_size]
        imgs = np.stack([impute(image, ranks["morf" if o == "any" else o] < k)
                         for o, k in chunk])
        scores[start:start + len(chunk)] = evaluate(classifier, imgs)[:, target]

    def curve(o):
        return np.array([scores[index[(o if 0 < k < n_units else "any", int(k))]]
                         for k in counts])

    return RemovalCurves(fr, curve("morf"), curve("lerf"), target)


def key_size_removal(classifier, image, saliency, *, impute: Imputer | None = None,
                     alphas=None, grid=None, order: str = "morf", batch_size: int = 16
                     ) -> float:
    """The smallest ``alpha`` (first in grid order) whose removal, imputed, changes the top-1
    class: :func:`leg.harness.checks.faithfulness.removal.key_size` with ``impute`` instead of a
    background.

    ``alphas`` default ``np.linspace(0.001, 1, 1000)``; with ``grid`` they count cells, so
    at most ``cells + 1`` distinct images are imputed and scored. Distinct counts are
    evaluated ``batch_size`` at a time in grid order, stopping after the first batch with a
    change (smaller than :func:`~leg.harness.checks.faithfulness.removal.key_size`'s 64 by default:
    an
    imputation costs more than a model call, so fewer are wasted past the change). Returns
    ``nan`` when no alpha changes the class.
    """
    from leg.harness.checks.faithfulness.removal import DEFAULT_ALPHAS

    image = check_image(image)
    sal = _check_saliency(saliency, image.shape[:2])
    alphas = DEFAULT_ALPHAS if alphas is None else _check_alphas(alphas)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    impute = NoisyLinearImputer() if impute is None else impute
    label = int(np.argmax(evaluate(classifier, image[None])[0]))
    rank = unit_ranks(sal, order=order, grid=grid)
    counts = pixel_counts(alphas, int(rank.max()) + 1)
    distinct, first = np.unique(counts, return_index=True)
    seq = np.argsort(first)
    distinct, first = distinct[seq], first[seq]
    for start in range(0, len(distinct), batch_size):
        imgs = np.stack([impute(image, rank < k) for k in distinct[start:start + batch_size]])
        changed = np.flatnonzero(np.argmax(evaluate(classifier, imgs), axis=1) != label)
        if len(changed):
            return float(alphas[first[start + changed[0]]])
    return float("nan")
