"""The cell grid: pooling pixels to cells, upsampling cells to pixels, the operator ``D``.

Cells are ``cell_size`` pixels square; when the image size is not a multiple of the cell
size, the last row and column of cells absorb the remainder (nothing is cropped). Cells are
numbered row-major: cell ``(i, j)`` is index ``i * pw + j``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from leg._validation import check_int


def _edges(size: int, cells: int) -> np.ndarray:
    """Cell boundaries along one axis when ``cells`` cells share ``size`` pixels."""
    return np.floor(np.linspace(0, size, cells + 1)).astype(int)


@dataclass(frozen=True)
class Grid:
    """A ``ph x pw`` grid of cells over an ``height x width`` image.

    Build it with :meth:`from_cell_size` (square cells of side ``s``; the last cells absorb
    the remainder) or :meth:`from_shape` (``ph x pw`` cells of near-equal size).
    """

    height: int
    width: int
    row_edges: tuple[int, ...]
    col_edges: tuple[int, ...]

    @classmethod
    def from_cell_size(cls, height: int, width: int, cell_size: int) -> Grid:
        cell_size = check_int(cell_size, "cell_size", minimum=1)
        if cell_size > min(height, width):
            raise ValueError(
                f"The 'cell_size' parameter ({cell_size} px) is larger than the image "
                f"({height}x{width} px); use a cell size of at most {min(height, width)}."
            )
        ph, pw = height // cell_size, width // cell_size
        rows = [i * cell_size for i in range(ph)] + [height]
        cols = [j * cell_size for j in range(pw)] + [width]
        return cls(height, width, tuple(rows), tuple(cols))

    @classmethod
    def from_shape(cls, height: int, width: int, grid_shape: tuple[int, int]) -> Grid:
        try:
            ph, pw = (int(v) for v in grid_shape)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"The 'grid' parameter must be a pair (rows, cols); got "
                            f"{grid_shape!r}.") from exc
        if ph < 1 or pw < 1 or ph > height or pw > width:
            raise ValueError(
                f"The 'grid' parameter ({ph}x{pw} cells) must be between 1x1 and the image size "
                f"({height}x{width} px)."
            )
        return cls(height, width, tuple(_edges(height, ph)), tuple(_edges(width, pw)))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_edges) - 1, len(self.col_edges) - 1

    @property
    def size(self) -> int:
        """Number of cells ``q = ph * pw``."""
        ph, pw = self.shape
        return ph * pw

    @cached_property
    def row_counts(self) -> np.ndarray:
        return np.diff(self.row_edges)

    @cached_property
    def col_counts(self) -> np.ndarray:
        return np.diff(self.col_edges)

    def pool(self, pixels: np.ndarray) -> np.ndarray:
        """Cell means of ``(..., H, W)`` or ``(..., H, W, C)``-free arrays: ``(..., ph, pw)``.

        The last two axes are the image's height and width.
        """
        return self.cell_sums(pixels) / np.outer(self.row_counts, self.col_counts)

    def cell_sums(self, pixels: np.ndarray) -> np.ndarray:
        """Cell sums of ``(..., H, W)`` arrays: ``(..., ph, pw)`` (e.g. pixel gradients to
        the gradient with respect to the cell intensities)."""
        pixels = np.asarray(pixels, dtype=np.float64)
        if pixels.shape[-2:] != (self.height, self.width):
            raise ValueError(f"Expected an array ending in ({self.height}, {self.width}); got "
                             f"shape {pixels.shape}.")
        sums = np.add.reduceat(pixels, np.asarray(self.row_edges[:-1]), axis=-2)
        return np.add.reduceat(sums, np.asarray(self.col_edges[:-1]), axis=-1)

    def pixel_cells(self) -> np.ndarray:
        """``(H, W)`` int: the flat index (row-major, ``0..q-1``) of each pixel's cell, so
        ``cells.reshape(-1)[grid.pixel_cells()]`` is the ``"nearest"`` upsampling."""
        index = np.arange(self.size).reshape(self.shape)
        return self.upsample(index)

    def upsample(self, cells: np.ndarray, method: str = "nearest") -> np.ndarray:
        """``(..., ph, pw)`` -> ``(..., H, W)``: block copy (``"nearest"``) or ``"bilinear"``."""
        cells = np.asarray(cells)
        if cells.shape[-2:] != self.shape:
            raise ValueError(f"Expected an array ending in {self.shape}; got shape {cells.shape}.")
        if method == "nearest":
            out = np.repeat(cells, self.row_counts, axis=-2)
            return np.repeat(out, self.col_counts, axis=-1)
        if method == "bilinear":
            from scipy.interpolate import RegularGridInterpolator

            rc = (np.asarray(self.row_edges[:-1]) + np.asarray(self.row_edges[1:]) - 1) / 2
            cc = (np.asarray(self.col_edges[:-1]) + np.asarray(self.col_edges[1:]) - 1) / 2
            yy, xx = np.meshgrid(np.clip(np.arange(self.height), rc[0], rc[-1]),
                                 np.clip(np.arange(self.width), cc[0], cc[-1]), indexing="ij")
            lead = cells.shape[:-2]
            flat = cells.reshape(-1, *self.shape)
            out = np.stack([
                RegularGridInterpolator((rc, cc), c, method="linear")((yy, xx))
                if min(self.shape) > 1 else np.repeat(np.repeat(c, self.row_counts, 0),
                                                      self.col_counts, 1)
                for c in flat
            ])
            return out.reshape(*lead, self.height, self.width)
        raise ValueError(f"The 'method' parameter must be one of ['bilinear', 'nearest']; got "
                         f"{method!r}.")

    @cached_property
    def difference_operator(self) -> sp.csr_matrix:
        """Sparse ``D`` of shape ``(m, q)``; see :func:`difference_operator`."""
        return difference_operator(*self.shape)


def difference_operator(ph: int, pw: int) -> sp.csr_matrix:
    """The ``m x q`` first-difference operator on a ``ph x pw`` grid, with boundary rows.

    Rows, in order: one per horizontally adjacent pair ``(+1 at (i, j+1), -1 at (i, j))``,
    one per vertically adjacent pair, then a single ``+1`` for each border cell per side
    (top, bottom, left, right; corner cells appear twice). ``m = ph(pw-1) + (ph-1)pw +
    2(ph+pw)``; the boundary rows give ``D`` full column rank ``q = ph*pw``.
    """
    idx = np.arange(ph * pw).reshape(ph, pw)
    right, left = idx[:, 1:].ravel(), idx[:, :-1].ravel()
    down, up = idx[1:, :].ravel(), idx[:-1, :].ravel()
    border = np.concatenate([idx[0, :], idx[-1, :], idx[:, 0], idx[:, -1]])
    n_h, n_v, n_b = right.size, down.size, border.size
    rows = np.concatenate([
        np.arange(n_h), np.arange(n_h),
        n_h + np.arange(n_v), n_h + np.arange(n_v),
        n_h + n_v + np.arange(n_b),
    ])
    cols = np.concatenate([right, left, down, up, border])
    vals = np.concatenate([np.ones(n_h), -np.ones(n_h), np.ones(n_v), -np.ones(n_v), np.ones(n_b)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_h + n_v + n_b, ph * pw))
