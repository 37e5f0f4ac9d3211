r"""Regression estimates of LEG's estimand from the perturbations actually drawn.

LEG's target is ``γ* = E[∇_ε f(x0 + ε)]`` (Stein's identity), the gradient with respect to
the cell intensities averaged over the perturbation law. The *moment* estimator
``(σ²Σ)⁻¹ mean(Δf·ε)`` replaces the sample second moment ``EᵀE/n`` by its expectation, so
its error carries the whole signal's variance (relative error ≈ √(q/n)). Regressing the
responses on the perturbations that were drawn removes that term — a control variate —
and estimates the same ``γ*``.

**Design.** With antithetic pairs ``(ε_j, −ε_j)``: ``x_j = (ε_2j − ε_2j+1)/2`` and
``y_j = (Δf_2j − Δf_2j+1)/2`` (the half-differences: the linear and odd terms; the
curvature cancels). Without pairs: ``ε`` and ``Δf`` centred (an intercept). Each row is an
independent unit.

**Estimators** (``m`` rows, ``q`` cells, ``P`` a penalty matrix):

- ``"ols"``: least squares ``(XᵀX)⁻¹Xᵀy``; needs more rows than cells.
- ``"ridge"``: ``(XᵀX + αP)⁻¹Xᵀy`` with ``α`` chosen per target by generalised
  cross-validation (``alpha="gcv"``, closed form) or fixed. ``P = I`` (``penalty="identity"``,
  a white prior: best for high-frequency maps such as a deep network's) or ``P = Σ``
  (``penalty="covariance"``, a smooth prior: as ``α → ∞`` the estimate tends to a shrunken
  moment estimator, so it interpolates between least squares and LEG as published; best
  for smooth maps and when cells outnumber pairs). ``penalty="auto"`` (default) fits both
  and keeps the one with the lower GCV score, per target.

Everything goes through one eigendecomposition per sample set: of the ``m x m`` kernel
``XP⁻¹Xᵀ`` when ``m ≤ q`` (no ``q x q`` matrix), else of the pencil ``(XᵀX, P)``. Then
``γ(α) = R diag(1/(s² + α)) Uᵀy`` for every ``α`` and every class at once, with GCV and
the hat matrix's diagonal in closed form. Standard errors are the heteroskedasticity-robust
sandwich with HC2 leverage correction (``Var γ̂_c = Σ_i M_ci² e_i² / (1 − h_ii)``); they
ignore the ridge's shrinkage bias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from leg._validation import check_choice, check_float
from leg.covariance import Covariance

ESTIMATORS = ("moment", "ols", "ridge")
PENALTIES = ("auto", "identity", "covariance")
_ALPHA_GRID = 10.0 ** np.linspace(-6.0, 4.0, 81)  # times the median eigenvalue


def check_alpha(alpha) -> str | float:
    """``"gcv"`` or a number ``≥ 0``."""
    if isinstance(alpha, str):
        if alpha != "gcv":
            raise ValueError(f"The 'alpha' parameter must be 'gcv' or a number >= 0; got "
                             f"{alpha!r}.")
        return alpha
    return check_float(alpha, "alpha", low=0.0)


def design_matrix(eps: np.ndarray, antithetic: bool) -> tuple[np.ndarray, int]:
    """Regression rows ``X (m, q)`` of one sample set's ``eps`` ``(n, q)`` and the residual
    degrees of freedom before fitting (``m``, or ``m − 1`` after centring)."""
    eps = np.asarray(eps, dtype=np.float64)
    if antithetic:
        return (eps[0::2] - eps[1::2]) / 2.0, len(eps) // 2
    return eps - eps.mean(axis=0), len(eps) - 1


def design(eps: np.ndarray, delta: np.ndarray, antithetic: bool
           ) -> tuple[np.ndarray, np.ndarray, int]:
    """Regression rows of one sample set: ``X (m, q)``, ``Y (m, K)`` and the residual
    degrees of freedom before fitting (``m``, or ``m − 1`` after centring).

    ``eps`` is ``(n, q)``, ``delta`` ``(n, K)``; antithetic samples come in pairs.
    """
    X, dof = design_matrix(eps, antithetic)
    delta = np.asarray(delta, dtype=np.float64)
    if antithetic:
        return X, (delta[0::2] - delta[1::2]) / 2.0, dof
    return X, delta - delta.mean(axis=0), dof


@dataclass
class RidgeFit:
    """The spectral form of one sample set's regression.

    ``γ(α) = R diag(1/(s2 + α)) Uᵀy``; the hat matrix is ``U diag(s2/(s2 + α)) Uᵀ``.
    """

    U: np.ndarray  # (m, r), orthonormal columns
    s2: np.ndarray  # (r,), > 0
    R: np.ndarray  # (q, r)
    dof: int  # rows (less one when centred)
    penalty: str = "identity"

    @classmethod
    def from_design(cls, X: np.ndarray, dof: int, cov: Covariance,
                    penalty: str = "identity") -> RidgeFit:
        m, q = X.shape
        if m <= q:  # kernel form: eigenvectors of X P⁻¹ Xᵀ (m x m)
            PinvXt = X.T if penalty == "identity" else cov.solve(X.T)
            s2, U = np.linalg.eigh(X @ PinvXt)
            keep = s2 > s2.max() * 1e-10
            U, s2 = U[:, keep], s2[keep]
            R = PinvXt @ U
        else:  # primal form: the pencil (XᵀX, P), q x q with q < m
            gram = X.T @ X
            if penalty == "identity":
                s2, W = np.linalg.eigh(gram)
            else:
                s2, W = sla.eigh(gram, cov.dense())
            keep = s2 > s2.max() * 1e-10
            W, s2 = W[:, keep], s2[keep]
            R = W * np.sqrt(s2)
            U = (X @ W) / np.sqrt(s2)
        return cls(U=U, s2=s2, R=R, dof=dof, penalty=penalty)

    def alpha_grid(self, allow_zero: bool) -> np.ndarray:
        grid = _ALPHA_GRID * float(np.median(self.s2))
        return np.concatenate([[0.0], grid]) if allow_zero else grid

    def effective_df(self, alpha: np.ndarray) -> np.ndarray:
        """``tr H(α)`` for each ``α``."""
        alpha = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(alpha[:, None] > 0,
                             self.s2 / (self.s2 + alpha[:, None]), 1.0)
        return ratio.sum(axis=1)

    def gcv_alpha(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per column of ``Y (m, K)``, the ``α`` minimising ``dof·RSS/(dof − df)²``, and
        that minimum."""
        B = self.U.T @ Y
        outside = np.maximum((Y**2).sum(axis=0) - (B**2).sum(axis=0), 0.0)  # (K,)
        alphas = self.alpha_grid(allow_zero=len(self.s2) < self.dof - 1)
        df = self.effective_df(alphas)
        valid = df < self.dof - 0.5
        alphas, df = alphas[valid], df[valid]
        shrink = alphas[:, None] / (self.s2 + alphas[:, None])  # (A, r)
        rss = outside + (shrink**2) @ (B**2)  # (A, K)
        gcv = self.dof * rss / (self.dof - df)[:, None] ** 2
        best = np.argmin(gcv, axis=0)
        return alphas[best], gcv[best, np.arange(gcv.shape[1])]

    def coefficients(self, Y: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """``γ (q, K)`` for ``Y (m, K)`` and one ``α`` per column."""
        B = self.U.T @ Y
        return self.R @ (B / (self.s2[:, None] + np.asarray(alpha)[None, :]))

    def stderr(self, y: np.ndarray, alpha: float) -> np.ndarray:
        """HC2 sandwich standard errors ``(q,)`` of one column's estimate."""
        g = 1.0 / (self.s2 + alpha)
        b = self.U.T @ y
        residual = y - self.U @ (self.s2 * g * b)
        leverage = (self.U**2) @ (self.s2 * g)
        weights = residual**2 / np.maximum(1.0 - leverage, 1e-3)
        M = (self.R * g) @ self.U.T  # (q, m): γ = M y
        return np.sqrt((M**2) @ weights)


def fit(X: np.ndarray, Y: np.ndarray, dof: int, cov: Covariance, *, estimator: str,
        alpha="gcv", penalty: str = "auto", factorised: Callable[[str], RidgeFit] | None = None
        ) -> tuple[list[RidgeFit], np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``Y (m, K)`` on ``X (m, q)``.

    Returns the fits, which fit each column used ``(K,)``, ``γ (q, K)`` and ``α (K,)``.
    ``penalty="auto"`` fits both penalties and keeps, per column, the one with the lower
    GCV score (with a fixed ``α``: the identity). ``factorised(penalty)``, when given,
    returns the :class:`RidgeFit` of this ``X`` (computed earlier: it does not depend on
    ``Y``).
    """
    if factorised is None:
        def factorised(name: str) -> RidgeFit:
            return RidgeFit.from_design(X, dof, cov, name)

    check_choice(estimator, "estimator", ("ols", "ridge"))
    check_choice(penalty, "penalty", PENALTIES)
    m, q = X.shape
    k = Y.shape[1]
    if estimator == "ols":
        if dof <= q:
            raise ValueError(
                f"estimator='ols' needs more independent rows than cells: {dof} rows "
                f"(antithetic pairs, or samples less one) for {q} cells. Use "
                f"estimator='ridge', more samples (n_samples > {2 * (q + 1)}) or larger cells."
            )
        fitted = factorised("identity")
        alphas = np.zeros(k)
        return [fitted], np.zeros(k, dtype=int), fitted.coefficients(Y, alphas), alphas
    if alpha != "gcv":
        fitted = factorised("covariance" if penalty == "covariance" else "identity")
        alphas = np.full(k, float(alpha))
        return [fitted], np.zeros(k, dtype=int), fitted.coefficients(Y, alphas), alphas
    names = ("identity", "covariance") if penalty == "auto" else (penalty,)
    fits = [factorised(name) for name in names]
    chosen = [f.gcv_alpha(Y) for f in fits]
    which = np.argmin(np.stack([score for _, score in chosen]), axis=0)
    alphas = np.choose(which, [a for a, _ in chosen])
    gamma = np.empty((q, k))
    for i, f in enumerate(fits):
        cols = which == i
        if cols.any():
            gamma[:, cols] = f.coefficients(Y[:, cols], alphas[cols])
    return fits, which, gamma, alphas
