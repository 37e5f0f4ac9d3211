r"""Perturbation designs: how the draws ``ε ~ N(0, σ²Σ)`` of one sample set are laid out.

Every design's draws have LEG's perturbation law *marginally* (each draw is ``N(0, Σ)`` at
unit level), so LEG's estimand ``γ* = E[∇_ε f(x0 + ε)]`` is the same for all of them; they
differ in how the draws of one run depend on each other:

- ``"iid"``: independent Gaussian draws (the paper's; :mod:`leg.compat` keeps it).
- ``"orthogonal"``: blocks of ``q`` draws (``q`` cells) that are orthogonal in ``Σ``'s
  metric, ``ε_iᵀΣ⁻¹ε_j = 0`` for ``i ≠ j`` in a block: ``ε_i = L ℓ_i Q e_i`` with ``L`` the
  Cholesky factor of ``Σ``, ``Q`` a Haar-random orthogonal matrix
  (:data:`scipy.stats.ortho_group`) and independent lengths ``ℓ_i ~ χ_q`` — uniform
  direction times a ``χ_q`` length is exactly ``N(0, I)``.
- ``"sobol"``: scrambled Sobol' points (:class:`scipy.stats.qmc.Sobol`) through the normal
  quantile, ``ε = L Φ⁻¹(u)`` (randomised quasi-Monte Carlo: each point is uniform on the
  cube, so each draw is ``N(0, Σ)``).

The designs apply to the ``+ε`` half of antithetic pairs. Draws are made on the host with
NumPy/SciPy, so a seed gives the same numbers whatever device runs the model. The
``orthogonal`` and ``sobol`` streams are *prefix-consistent*: the first ``n`` draws of a run
of ``n' > n`` draws are the draws of a run of ``n`` (what lets ``n_samples="auto"`` extend a
run round by round); ``iid`` keeps the draws it always made for a fixed ``n``.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import scipy.linalg as sla
from scipy import stats
from scipy.stats import qmc

from leg import defaults
from leg._validation import check_choice
from leg.covariance import Covariance

DESIGNS = ("iid", "orthogonal", "sobol")
#: The default of LEG/LEGTV and ``leg explain`` (chosen by measurement: docs/reliability.md).
DEFAULT_DESIGN = defaults.DESIGN
#: Largest grid (cells) for the designs that need a dense Cholesky factor of Σ.
MAX_DENSE_CELLS = 4096


def check_design(design: str) -> str:
    return check_choice(design, "design", DESIGNS)


@lru_cache(maxsize=8)
def _cholesky(grid_shape: tuple[int, int], scheme: str) -> np.ndarray:
    from leg.covariance import get_covariance

    return np.linalg.cholesky(get_covariance(grid_shape, scheme).dense())


def cholesky_factor(cov: Covariance) -> np.ndarray:
    """Lower-triangular ``L`` ``(q, q)`` with ``LLᵀ = Σ`` (cached per grid and scheme)."""
    if cov.q > MAX_DENSE_CELLS:
        raise ValueError(
            f"The 'orthogonal' and 'sobol' designs need a dense {cov.q}x{cov.q} factor of the "
            f"covariance; they support grids of up to {MAX_DENSE_CELLS} cells. Use larger "
            "cells (cell_size= or grid=) or design='iid'.")
    return _cholesky(cov.grid_shape, cov.scheme)


class DrawStream:
    """The unit-level draws ``(k, q)`` of one sample set, in order, ``k`` at a time.

    ``iid`` draws from the shared ``rng`` (as LEG always did); the other designs own a
    generator spawned from it, so their stream depends on the seed and the set alone.
    """

    def __init__(self, cov: Covariance, design: str, rng: np.random.Generator):
        self.cov = cov
        self.design = check_design(design)
        self.rng = rng
        self._buffer = np.empty((0, cov.q))
        if self.design != "iid":
            self.factor = cholesky_factor(cov)
        if self.design == "sobol":
            self._sobol = qmc.Sobol(d=cov.q, scramble=True, rng=rng)

    def next(self, k: int) -> np.ndarray:
        """The next ``k`` draws, ``(k, q)``, each ``N(0, Σ)``."""
        if self.design == "iid":
            return self.cov.sample(self.rng, k)
        if self.design == "sobol":
            with warnings.catch_warnings():  # balance at powers of 2 only: not needed here
                warnings.simplefilter("ignore", UserWarning)
                u = self._sobol.random(k)
            z = stats.norm.ppf(np.clip(u, 1e-12, 1.0 - 1e-12))
            return z @ self.factor.T
        while len(self._buffer) < k:
            self._buffer = np.concatenate([self._buffer, self._orthogonal_block()])
        out, self._buffer = self._buffer[:k], self._buffer[k:]
        return out

    def _orthogonal_block(self) -> np.ndarray:
        q = self.cov.q
        if q == 1:
            directions = np.ones((1, 1)) * self.rng.choice([-1.0, 1.0])
        else:
            directions = stats.ortho_group.rvs(q, random_state=self.rng)  # rows: Haar
        lengths = stats.chi.rvs(q, size=q, random_state=self.rng)
        return (lengths[:, None] * directions) @ self.factor.T


def draw_streams(cov: Covariance, design: str, rng: np.random.Generator, n_sets: int
                 ) -> list[DrawStream]:
    """One :class:`DrawStream` per sample set."""
    if check_design(design) == "iid":
        return [DrawStream(cov, design, rng) for _ in range(n_sets)]
    return [DrawStream(cov, design, child) for child in rng.spawn(n_sets)]


def whitened(cov: Covariance, draws: np.ndarray) -> np.ndarray:
    """``L⁻¹ε`` for draws ``(n, q)``: ``N(0, I)`` rows under every design (for tests)."""
    return sla.solve_triangular(cholesky_factor(cov), np.asarray(draws, float).T,
                                lower=True).T
