r"""LEG-TV: the total-variation linear program, solved sparse.

For a LEG right-hand side ``y`` (the sample mean of ``Δf·ε``, shape ``(q,)``) and noise
level ``σ``, LEG-TV solves

.. math::

    \min_\gamma \|D\gamma\|_1 \quad\text{s.t.}\quad
    \|D^{+\top}(\sigma^2\Sigma\gamma - y)\|_\infty \le \lambda \|D^{+\top} y\|_\infty

for each ``λ`` in a path. ``λ = 0`` is LEG exactly (``γ = (σ²Σ)⁻¹y``); ``λ ≥ 1`` admits
``γ = 0``, which is then the unique optimum.

We solve for ``g = σ²γ / ‖D⁺ᵀy‖∞`` (well scaled, same minimiser up to that factor).
With ``b = D⁺ᵀy / ‖D⁺ᵀy‖∞`` the constraint becomes ``|D⁺ᵀΣg − b| ≤ λ``. ``D⁺ᵀ = DA⁻¹``
with ``A = DᵀD``, and:

- ``"laplacian"``: ``D⁺ᵀΣ = D + u1ᵀ/q`` with ``u = D⁺ᵀ1`` (sparse plus rank one). We solve
  the LP's *dual*, which has ``q + 1`` rows instead of ``3m + 1``, and read ``g`` from its
  row duals (:func:`_lp_laplacian_dual`): far faster than the primal with HiGHS
  (docs/performance.md).
- any scheme (``Σ = S + c11ᵀ``): write ``w = A⁻¹(Σg − y)`` as a variable ``v`` with the
  sparse equality ``Av − Σg = −b'`` and bound ``|Dv| ≤ λ``; for ``"smooth"`` (``S = A⁻¹``)
  substitute ``g = Aη`` so that ``Sg = η`` (``formulation="general"`` forces this path).

The default solver is HiGHS (interior point with crossover) through ``highspy``; the ``λ`` of
a path are solved in parallel threads. Any installed cvxpy solver can
be asked for by name; MOSEK needs a licence.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from leg import defaults
from leg._quiet import hold_fd
from leg._validation import check_choice, check_float
from leg.covariance import Covariance

DEFAULT_SOLVER = defaults.SOLVER


class SolverError(RuntimeError):
    """The LP solver failed or is unavailable; the message says what to do instead."""


@dataclass
class _LP:
    """A sparse LP for HiGHS: min cᵀx s.t. row_lo ≤ Mx ≤ row_hi, col_lo ≤ x ≤ col_hi.

    ``set_lambda(highs, lam)`` changes what depends on ``λ``; ``extract(solution)`` returns
    the scaled estimate ``g`` (``q``,) from HiGHS's solution.
    """

    c: np.ndarray
    M: sp.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    set_lambda: Callable
    extract: Callable


def _lp_laplacian_dual(cov: Covariance, b: np.ndarray) -> _LP:
    """The dual of the laplacian LP: ``q + 1`` rows instead of ``3m + 1``.

    Primal: ``min ||Dg||₁`` s.t. ``|Dg + u(1ᵀg)/q − b| ≤ λ``. With ``Aᵀz = Dᵀz + 1(uᵀz)/q``
    its dual is ``max bᵀz − λ||z||₁`` s.t. ``Dᵀv = Aᵀz``, ``|v| ≤ 1``; we solve it as
    ``min −bᵀ(z⁺ − z⁻) + λ1ᵀ(z⁺ + z⁻)`` with ``r = uᵀz`` and read ``g`` from the duals of
    the ``q`` equality rows. ``λ`` enters only the costs.
    """
    q, m = cov.q, cov.D.shape[0]
    u = cov.D @ cov._a_inv_ones  # D⁺ᵀ1
    Dt = cov.D.T.tocsc()
    # columns: v (m, in [-1, 1]) | z⁺ (m, >= 0) | z⁻ (m, >= 0) | r (1, free)
    M = sp.vstack([
        sp.hstack([Dt, -Dt, Dt, sp.csc_matrix(np.full((q, 1), -1.0 / q))]),  # Dᵀv − Aᵀz = 0
        sp.hstack([sp.csc_matrix((1, m)), sp.csc_matrix(-u[None, :]),
                   sp.csc_matrix(u[None, :]), sp.csc_matrix([[1.0]])]),  # r − uᵀz = 0
    ]).tocsc()
    zeros = np.zeros(q + 1)
    col_lo = np.concatenate([-np.ones(m), np.zeros(2 * m), [-np.inf]])
    col_hi = np.concatenate([np.ones(m), np.full(2 * m, np.inf), [np.inf]])
    z_cols = np.arange(m, 3 * m, dtype=np.int32)

    def set_lambda(h, lam):
        h.changeColsCost(len(z_cols), z_cols, np.concatenate([lam - b, lam + b]))

    return _LP(np.zeros(3 * m + 1), M, zeros, zeros, col_lo, col_hi, set_lambda,
               lambda sol: np.asarray(sol.row_dual)[:q])


def _scheme_parts(cov: Covariance):
    """``(P, SP, c)`` with ``g = Pη`` and ``Σg = SPη + c·1(1ᵀg)``, all sparse."""
    A, Iq = cov.A.tocsr(), sp.identity(cov.q, format="csr")
    if cov.scheme == "smooth":  # Σ = A⁻¹ + 11ᵀ; g = Aη gives Σg = η + 1(1ᵀg)
        return A, Iq, 1.0
    if cov.scheme == "laplacian":
        return Iq, A, 1.0 / cov.q
    return Iq, Iq, 0.0


def _lp_general(cov: Covariance, y_scaled: np.ndarray) -> _LP:
    """The primal LP for any scheme, with ``v = A⁻¹(Σg − y)`` as a variable (all sparse)."""
    q, D, A = cov.q, cov.D, cov.A.tocsr()
    m = D.shape[0]
    ones_row = sp.csr_matrix(np.ones((1, q)))
    P, SP, c1 = _scheme_parts(cov)
    DP = (D @ P).tocsr()
    # columns: eta (q) | t (m) | v (q) | s (1)
    Z = sp.csr_matrix
    rows = sp.vstack([
        sp.hstack([DP, -sp.identity(m), Z((m, q)), Z((m, 1))]),  # DPη - t <= 0
        sp.hstack([DP, sp.identity(m), Z((m, q)), Z((m, 1))]),  # DPη + t >= 0
        sp.hstack([Z((m, q)), Z((m, m)), D, Z((m, 1))]),  # |Dv| <= lam
        sp.hstack([-SP, Z((q, m)), A, Z(np.full((q, 1), -c1))]),  # Av - Σg = -y
        sp.hstack([ones_row @ P, Z((1, m)), Z((1, q)), Z([[-1.0]])]),  # s = 1ᵀg
    ]).tocsc()
    inf = np.inf
    zeros_m = np.zeros(m)
    row_lo = np.concatenate([np.full(m, -inf), zeros_m, zeros_m, -y_scaled, [0.0]])
    row_hi = np.concatenate([zeros_m, np.full(m, inf), zeros_m, -y_scaled, [0.0]])
    n = 2 * q + m + 1
    c = np.concatenate([np.zeros(q), np.ones(m), np.zeros(q + 1)])
    lam_rows = np.arange(2 * m, 3 * m, dtype=np.int32)

    def set_lambda(h, lam):
        h.changeRowsBounds(m, lam_rows, np.full(m, -lam), np.full(m, lam))

    def extract(sol):
        eta = np.asarray(sol.col_value)[:q]
        return P @ eta

    return _LP(c, rows, row_lo, row_hi, np.full(n, -inf), np.full(n, inf), set_lambda, extract)


def _new_highs():
    """A ``highspy.Highs`` without the copyright banner HiGHS prints (to the C-level
    stdout, before any option can be set) when the first instance is created."""
    import highspy

    global _BANNER_DONE
    if _BANNER_DONE:
        return highspy.Highs()
    with hold_fd(1):
        h = highspy.Highs()
    _BANNER_DONE = True
    return h


_BANNER_DONE = False


def _highs_model(lp: _LP):
    """A ``highspy.Highs`` holding ``lp`` (interior point, quiet, seeded)."""
    import highspy

    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("solver", "ipm")
    model = highspy.HighsLp()
    model.num_col_ = lp.M.shape[1]
    model.num_row_ = lp.M.shape[0]
    model.col_cost_ = lp.c
    model.col_lower_ = lp.col_lo
    model.col_upper_ = lp.col_hi
    model.row_lower_ = lp.row_lo
    model.row_upper_ = lp.row_hi
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = lp.M.indptr
    model.a_matrix_.index_ = lp.M.indices
    model.a_matrix_.value_ = lp.M.data
    h.passModel(model)
    return h


def _solve_one(h, lp: _LP, lam: float) -> np.ndarray:
    import highspy

    lp.set_lambda(h, lam)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"HiGHS did not reach an optimum for lambda={lam:g} "
                          f"(status: {h.modelStatusToString(status)}).")
    return lp.extract(h.getSolution())


def _solve_highs(lp: _LP, lambdas: Sequence[float]) -> list[np.ndarray]:
    """Solve ``lp`` for each ``λ`` with HiGHS's interior-point method (crossover on, so
    the answer is an exact vertex). The ``λ`` are solved in parallel threads, one model
    each (HiGHS releases the GIL while it solves; an interior-point solve does not warm
    start, so nothing is lost by not sharing one model along the path)."""
    workers = min(len(lambdas), os.cpu_count() or 1)
    first = _highs_model(lp)  # in this thread: the first instance prints HiGHS's banner
    if workers <= 1:
        return [_solve_one(first, lp, lam) for lam in lambdas]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="leg-tv") as pool:
        rest = [pool.submit(lambda lam=lam: _solve_one(_highs_model(lp), lp, lam))
                for lam in lambdas[1:]]
        return [_solve_one(first, lp, lambdas[0]), *(f.result() for f in rest)]


def _solve_cvxpy(cov: Covariance, b: np.ndarray, y_scaled: np.ndarray,
                 lambdas: Sequence[float], solver: str) -> list[np.ndarray]:
    import cvxpy as cp

    name = solver.upper()
    lam = cp.Parameter(nonneg=True)
    if cov.scheme == "laplacian":
        g = cp.Variable(cov.q)
        u = cov.D @ cov._a_inv_ones
        constraints = [cp.norm_inf(cov.D @ g + u * (cp.sum(g) / cov.q) - b) <= lam]
    else:
        P, SP, c1 = _scheme_parts(cov)
        eta, v = cp.Variable(cov.q), cp.Variable(cov.q)
        g = P @ eta
        sigma_g = SP @ eta + c1 * cp.sum(g) * np.ones(cov.q)
        constraints = [cov.A @ v - sigma_g == -y_scaled, cp.norm_inf(cov.D @ v) <= lam]
    problem = cp.Problem(cp.Minimize(cp.norm1(cov.D @ g)), constraints)
    out = []
    for value in lambdas:
        lam.value = value
        try:
            problem.solve(solver=name)
        except cp.error.SolverError as exc:
            raise SolverError(_solver_failure_message(name, exc)) from None
        except Exception as exc:  # MOSEK raises its own types for licence trouble
            raise SolverError(_solver_failure_message(name, exc)) from None
        if problem.status not in ("optimal", "optimal_inaccurate") or g.value is None:
            raise SolverError(f"cvxpy with {name} returned status {problem.status!r} for "
                              f"lambda={value:g}. Try solver='highs'.")
        out.append(np.asarray(g.value, dtype=np.float64))
    return out


def _solver_failure_message(name: str, exc: Exception) -> str:
    text = str(exc)
    if name == "MOSEK" or "mosek" in text.lower():
        return (
            "MOSEK could not solve the LP, most likely because no licence was found "
            "(MOSEK looks for $MOSEKLM_LICENSE_FILE, else ~/mosek/mosek.lic). Get a licence "
            "from mosek.com, or use the open-source default solver='highs'. "
            f"MOSEK said: {text.strip()[:300]}"
        )
    return f"The cvxpy solver {name} failed: {text.strip()[:300]}. Try solver='highs'."


def check_solver(solver: str) -> str:
    """``"highs"``, ``"highs-cvxpy"`` or an installed cvxpy solver; else a SolverError."""
    if not isinstance(solver, str):
        raise TypeError(f"The 'solver' parameter must be a string; got {solver!r}.")
    if solver.lower() in ("highs", "highs-cvxpy"):
        return solver
    import cvxpy as cp

    if solver.upper() not in cp.installed_solvers():
        hint = " Install it with: pip install 'leg[mosek]'." if solver.upper() == "MOSEK" else ""
        raise SolverError(
            f"The solver {solver!r} is not installed for cvxpy (installed: "
            f"{', '.join(sorted(cp.installed_solvers()))}).{hint} The default, open-source "
            f"solver is solver='highs'."
        )
    return solver


def solve_leg_tv(y: np.ndarray, cov: Covariance, sigma: float, lambdas: Sequence[float],
                 *, solver: str = DEFAULT_SOLVER, formulation: str = "auto") -> list[np.ndarray]:
    """Solve LEG-TV for each ``λ`` in ``lambdas``; return a list of ``(q,)`` estimates ``γ``.

    Parameters
    ----------
    y : ndarray of shape (q,)
        LEG's right-hand side, ``mean(Δf_i ε_i)`` in grid space.
    cov : Covariance
        The perturbation covariance ``Σ`` (unit level).
    sigma : float
        Noise level ``σ > 0``.
    lambdas : sequence of float
        Each ``λ ≥ 0``. ``0`` gives LEG; ``≥ 1`` gives zeros.
    solver : str
        ``"highs"`` (default, via highspy, warm-started along the path) or the name of an
        installed cvxpy solver (``"mosek"``, ``"clarabel"``, ``"highs-cvxpy"`` …).
    formulation : {"auto", "general"}
        ``"auto"`` uses the sparse-plus-rank-one LP for the laplacian scheme.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (cov.q,):
        raise ValueError(f"The 'y' vector must have shape ({cov.q},); got {y.shape}.")
    sigma = check_float(sigma, "sigma", low=0.0, low_inclusive=False)
    lambdas = [check_float(v, "lambda", low=0.0) for v in np.atleast_1d(lambdas)]
    check_solver(solver)
    check_choice(formulation, "formulation", ("auto", "general"))
    b_full = cov.D @ cov._solve_a(y)  # D⁺ᵀy
    scale = float(np.max(np.abs(b_full)))
    leg = cov.solve(y) / sigma**2
    if scale == 0.0:
        return [np.zeros(cov.q) for _ in lambdas]
    b = b_full / scale
    y_scaled = y / scale
    pending = [lam for lam in lambdas if 0.0 < lam < 1.0]
    solved: dict[float, np.ndarray] = {}
    if pending:
        if solver.lower() == "highs":
            lp = (_lp_laplacian_dual(cov, b) if cov.scheme == "laplacian"
                  and formulation == "auto" else _lp_general(cov, y_scaled))
            gs = _solve_highs(lp, pending)
        else:
            name = "HIGHS" if solver.lower() == "highs-cvxpy" else solver
            gs = _solve_cvxpy(cov, b, y_scaled, pending, name)
        solved = {lam: g * scale / sigma**2 for lam, g in zip(pending, gs, strict=True)}
    out = []
    for lam in lambdas:
        if lam == 0.0:
            out.append(leg.copy())
        elif lam >= 1.0:
            out.append(np.zeros(cov.q))
        else:
            out.append(solved[lam])
    return out
