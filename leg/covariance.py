"""Perturbation covariances ``Sigma`` on the cell grid, with sampling and solves.

Three schemes (``q`` cells, ``D`` the difference operator, ``A = DᵀD``):

- ``"laplacian"`` (default): ``Sigma = A + 11ᵀ/q``; per-cell std ≈ 2 (so noise std ≈ 2σ).
- ``"smooth"`` (the 2019 README's): ``Sigma = A⁻¹ + 11ᵀ``.
- ``"iid"``: ``Sigma = I``.

Nothing here forms a dense ``q x q`` matrix: sampling uses ``D`` (``Dᵀz`` has covariance
``A``; ``A⁻¹Dᵀz`` has covariance ``A⁻¹``), solves use a sparse LU of ``A`` and the
Sherman–Morrison/Woodbury identities for the rank-one term.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

import numpy as np
import scipy.sparse.linalg as spla

from leg._validation import check_choice
from leg.grid import difference_operator

SCHEMES = ("laplacian", "smooth", "iid")


class Covariance:
    """``Sigma`` for one grid shape and scheme (unit noise level; scale by ``sigma**2``)."""

    def __init__(self, grid_shape: tuple[int, int], scheme: str = "laplacian"):
        self.scheme = check_choice(scheme, "scheme", SCHEMES)
        self.grid_shape = tuple(int(v) for v in grid_shape)
        self.q = self.grid_shape[0] * self.grid_shape[1]
        self.D = difference_operator(*self.grid_shape)
        self.A = (self.D.T @ self.D).tocsc()
        self.ones = np.ones(self.q)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_lu", None)  # SuperLU does not pickle; it is refactorised on demand
        return state

    @cached_property
    def _lu(self):
        return spla.splu(self.A)

    def _solve_a(self, y: np.ndarray) -> np.ndarray:
        return self._lu.solve(np.asarray(y, dtype=np.float64))

    @cached_property
    def _a_inv_ones(self) -> np.ndarray:
        return self._solve_a(self.ones)

    @cached_property
    def _a_ones(self) -> np.ndarray:
        return self.A @ self.ones

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``Sigma @ x`` for ``x`` of shape ``(q,)`` or ``(q, k)``."""
        x = np.asarray(x, dtype=np.float64)
        total = self.ones @ x
        if self.scheme == "laplacian":
            return self.A @ x + np.multiply.outer(self.ones, total) / self.q
        if self.scheme == "smooth":
            return self._solve_a(x) + np.multiply.outer(self.ones, total)
        return x.copy()

    def solve(self, y: np.ndarray) -> np.ndarray:
        """``Sigma⁻¹ @ y`` for ``y`` of shape ``(q,)`` or ``(q, k)``."""
        y = np.asarray(y, dtype=np.float64)
        if self.scheme == "laplacian":
            # (A + 11ᵀ/q)⁻¹ y = A⁻¹y − A⁻¹1 (1ᵀA⁻¹y) / (q + 1ᵀA⁻¹1)
            ay = self._solve_a(y)
            a1 = self._a_inv_ones
            return ay - np.multiply.outer(a1, self.ones @ ay) / (self.q + self.ones @ a1)
        if self.scheme == "smooth":
            # (A⁻¹ + 11ᵀ)⁻¹ y = Ay − A1 (1ᵀAy) / (1 + 1ᵀA1)
            ay = self.A @ y
            a1 = self._a_ones
            return ay - np.multiply.outer(a1, self.ones @ ay) / (1.0 + self.ones @ a1)
        return y.copy()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws from ``N(0, Sigma)`` as an ``(n, q)`` array."""
        if self.scheme == "iid":
            return rng.standard_normal((n, self.q))
        z = rng.standard_normal((self.D.shape[0], n))
        c = rng.standard_normal(n)
        dz = self.D.T @ z  # covariance A
        if self.scheme == "laplacian":
            return (dz + np.outer(self.ones, c) / np.sqrt(self.q)).T
        return (self._solve_a(dz) + np.outer(self.ones, c)).T

    def dense(self) -> np.ndarray:
        """The dense ``q x q`` matrix (for tests and small grids only)."""
        return self.matvec(np.eye(self.q))

    @cached_property
    def cell_std(self) -> float:
        """Typical per-cell standard deviation of unit-level noise (mean of sqrt(diag))."""
        if self.scheme == "iid":
            return 1.0
        if self.scheme == "laplacian":
            diag = np.asarray(self.A.diagonal()) + 1.0 / self.q
            return float(np.mean(np.sqrt(diag)))
        # smooth: estimate diag(A⁻¹) from a few hundred draws (exact diag would be dense)
        draws = self.sample(np.random.default_rng(0), 512)
        return float(np.mean(draws.std(axis=0)))


@lru_cache(maxsize=16)
def get_covariance(grid_shape: tuple[int, int], scheme: str = "laplacian") -> Covariance:
    """Cached :class:`Covariance` per ``(grid shape, scheme)``."""
    return Covariance(grid_shape, scheme)


