r"""The original research code's dense LEG-TV formulation, for cross-checks and benchmarks.

This module reproduces, line for line in spirit, how the original LEG scripts set up the
LEG-TV linear program: a dense difference operator ``D``, its pseudo-inverse
``D⁺ = pinv(D)``, the dense ``m x q`` matrix ``D⁺ᵀ(σ²Σ)`` and the problem

.. math::

    \min_x \|Dx\|_1 \quad\text{s.t.}\quad
    \|D^{+\top}y - D^{+\top}\sigma^2\Sigma x\|_\infty \le \lambda \|D^{+\top}y\|_\infty

handed to cvxpy. It is slow (dense pseudo-inverse, dense constraint matrix) and is **not
used by the library path** (:func:`leg.tv.solve_leg_tv`); tests compare against it and
``benchmarks/bench_tv.py`` times it.

Because LP optima need not be unique, compare solutions with :func:`leg_tv_objective` and
:func:`leg_tv_constraint_ratio`, not element by element.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from leg.covariance import Covariance

__all__ = [
    "dense_leg_tv_reference",
    "dense_reference_matrices",
    "leg_tv_constraint_ratio",
    "leg_tv_objective",
]


def dense_reference_matrices(cov: Covariance, sigma: float) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """The original code's dense matrices ``(D, D⁺, D⁺ᵀσ²Σ)``.

    Returns
    -------
    D : ndarray of shape (m, q)
        The difference operator, dense.
    Dplus : ndarray of shape (q, m)
        ``np.linalg.pinv(D)``.
    DS : ndarray of shape (m, q)
        ``Dplus.T @ (sigma**2 * Sigma)``.
    """
    D = cov.D.toarray()
    Dplus = np.linalg.pinv(D)
    DS = Dplus.T @ (sigma**2 * cov.dense())
    return D, Dplus, DS


def dense_leg_tv_reference(y: np.ndarray, cov: Covariance, sigma: float, lam: float, *,
                           solver: str = "HIGHS",
                           matrices: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                           info: dict | None = None, **solver_opts) -> np.ndarray:
    """Solve LEG-TV for one ``λ`` exactly as the original code did (dense, through cvxpy).

    Parameters
    ----------
    y : ndarray of shape (q,)
        LEG's right-hand side.
    cov : Covariance
        The perturbation covariance (unit level).
    sigma : float
        Noise level.
    lam : float
        The LEG-TV ``λ``.
    solver : str
        A cvxpy solver name (``"HIGHS"``, ``"CLARABEL"``, ``"MOSEK"`` …).
    matrices : tuple, optional
        The output of :func:`dense_reference_matrices`, to time the solve on its own.
    info : dict, optional
        Filled with ``"solver_time"`` (seconds inside the solver, as cvxpy reports it, or
        NaN) and ``"status"``.
    **solver_opts
        Passed to ``cvxpy.Problem.solve`` (e.g. ``time_limit=600`` for HiGHS).

    Returns
    -------
    ndarray of shape (q,)
        The minimiser ``x`` (``γ``) found by the solver.
    """
    import cvxpy as cp

    y = np.asarray(y, dtype=np.float64)
    D, Dplus, DS = dense_reference_matrices(cov, sigma) if matrices is None else matrices
    DY = Dplus.T @ y
    x = cp.Variable(cov.q)
    objective = cp.Minimize(cp.sum(cp.abs(D @ x)))
    constraints = [cp.max(cp.abs(DY - DS @ x)) <= lam * np.max(np.abs(DY))]
    problem = cp.Problem(objective, constraints)
    problem.solve(solver=solver.upper(), **solver_opts)
    if info is not None:
        stats = problem.solver_stats
        solve_time = getattr(stats, "solve_time", None) if stats is not None else None
        info["solver_time"] = float("nan") if solve_time is None else float(solve_time)
        info["status"] = problem.status
    if problem.status not in ("optimal", "optimal_inaccurate") or x.value is None:
        raise RuntimeError(f"The dense reference LP ended with status {problem.status!r}.")
    return np.asarray(x.value, dtype=np.float64)


def leg_tv_objective(gamma: np.ndarray, cov: Covariance) -> float:
    """``‖Dγ‖₁``, the LEG-TV objective."""
    return float(np.abs(cov.D @ np.asarray(gamma, dtype=np.float64)).sum())


def _dplus_t(cov: Covariance, r: np.ndarray) -> np.ndarray:
    """``D⁺ᵀr = D (DᵀD)⁻¹ r``, sparse."""
    return cov.D @ spla.spsolve(cov.A.tocsc(), np.asarray(r, dtype=np.float64))


def leg_tv_constraint_ratio(gamma: np.ndarray, y: np.ndarray, cov: Covariance,
                            sigma: float) -> float:
    """``‖D⁺ᵀ(σ²Σγ − y)‖∞ / ‖D⁺ᵀy‖∞``; a feasible LEG-TV solution has this ``≤ λ``."""
    y = np.asarray(y, dtype=np.float64)
    resid = sigma**2 * cov.matvec(np.asarray(gamma, dtype=np.float64)) - y
    return float(np.max(np.abs(_dplus_t(cov, resid))) / np.max(np.abs(_dplus_t(cov, y))))
