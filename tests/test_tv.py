"""LEG-TV: the sparse LP against the original dense formulation, limits in λ, bad input.

LP optima need not be unique, so solutions are compared by objective ``‖Dγ‖₁`` and by the
constraint ratio ``‖D⁺ᵀ(σ²Σγ − y)‖∞ / ‖D⁺ᵀy‖∞`` (``≤ λ`` when feasible), not entry by entry.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leg._reference import dense_leg_tv_reference, leg_tv_constraint_ratio, leg_tv_objective
from leg.covariance import SCHEMES, Covariance
from leg.tv import SolverError, solve_leg_tv

# cvxpy's bound propagation warns about inf * 0 on some problems; harmless here.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def _instance(scheme: str, shape: tuple[int, int], sigma: float, seed: int):
    """A LEG right-hand side ``y = σ²Σγ + noise`` for a piecewise-constant ``γ``."""
    rng = np.random.default_rng(seed)
    cov = Covariance(shape, scheme)
    ph, pw = shape
    gamma = np.zeros(shape)
    i, j = rng.integers(0, ph + 1), rng.integers(0, pw + 1)
    gamma[:i, :j] = rng.normal(0, 3)
    gamma += rng.normal(0, 0.3, shape)
    y = sigma**2 * cov.matvec(gamma.ravel())
    y += 0.05 * np.abs(y).max() * rng.standard_normal(cov.q)
    return cov, y


def _assert_optimal(gamma, reference, y, cov, sigma, lam, rtol):
    obj, ref_obj = leg_tv_objective(gamma, cov), leg_tv_objective(reference, cov)
    assert obj == pytest.approx(ref_obj, rel=rtol, abs=1e-12)
    assert leg_tv_constraint_ratio(gamma, y, cov, sigma) <= lam * (1 + rtol)


instances = dict(
    scheme=st.sampled_from(SCHEMES),
    shape=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    sigma=st.sampled_from([0.02, 0.1, 0.3]),
    lam=st.floats(0.005, 0.995),
    seed=st.integers(0, 2**32 - 1),
)


@settings(max_examples=60, deadline=None)
@given(**instances)
@example(scheme="smooth", shape=(2, 9), sigma=0.02, lam=0.015625, seed=103)
@example(scheme="iid", shape=(10, 1), sigma=0.02, lam=0.25, seed=22)
def test_sparse_lp_matches_dense_reference(scheme, shape, sigma, lam, seed):
    cov, y = _instance(scheme, shape, sigma, seed)
    (gamma,) = solve_leg_tv(y, cov, sigma, [lam])
    assert gamma.shape == (cov.q,)
    # The original formulation is unscaled (rows of size ~σ²), so HiGHS's default absolute
    # feasibility tolerance (1e-7) lets the reference violate its constraint by ~1e-3
    # relative and undercut the optimum (hypothesis found smooth, 2x9, λ = 1/64: 1.1e-3,
    # objective 3e-6 low); with tight tolerances it matches the optimum, but can still stray
    # from its constraint by up to ~1e-5 absolute (iid, 10x1, λ = 1/4: ratio 0.2500019,
    # objective 1.4e-6 low).
    tight = {"solver": "HIGHS", "primal_feasibility_tolerance": 1e-10,
             "dual_feasibility_tolerance": 1e-10}
    reference = dense_leg_tv_reference(y, cov, sigma, lam, **tight)
    excess = leg_tv_constraint_ratio(reference, y, cov, sigma) - lam
    assert excess <= 1e-5
    if excess <= 1e-12:  # feasible, to float rounding
        _assert_optimal(gamma, reference, y, cov, sigma, lam, rtol=1e-6)
        return
    # An infeasible reference solved a looser problem: its objective bounds the optimum
    # from below. A reference solved with the constraint tightened by twice the excess is
    # feasible and bounds it from above; ours must lie between them.
    upper = dense_leg_tv_reference(y, cov, sigma, lam - 2 * excess, **tight)
    assert leg_tv_constraint_ratio(upper, y, cov, sigma) <= lam + 1e-12
    obj = leg_tv_objective(gamma, cov)
    assert leg_tv_objective(reference, cov) * (1 - 1e-6) <= obj
    assert obj <= leg_tv_objective(upper, cov) * (1 + 1e-6)
    assert leg_tv_constraint_ratio(gamma, y, cov, sigma) <= lam * (1 + 1e-6)


@settings(max_examples=15, deadline=None)
@given(shape=instances["shape"], sigma=instances["sigma"], lam=instances["lam"],
       seed=instances["seed"])
def test_general_formulation_matches_laplacian_fast_path(shape, sigma, lam, seed):
    cov, y = _instance("laplacian", shape, sigma, seed)
    (fast,) = solve_leg_tv(y, cov, sigma, [lam])
    (general,) = solve_leg_tv(y, cov, sigma, [lam], formulation="general")
    _assert_optimal(general, fast, y, cov, sigma, lam, rtol=1e-6)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape,lam", [((1, 1), 0.4), ((3, 7), 0.075), ((8, 8), 0.2)])
def test_cvxpy_clarabel_path_agrees(scheme, shape, lam):
    cov, y = _instance(scheme, shape, 0.02, seed=7)
    (highs,) = solve_leg_tv(y, cov, 0.02, [lam])
    (clarabel,) = solve_leg_tv(y, cov, 0.02, [lam], solver="clarabel")
    _assert_optimal(clarabel, highs, y, cov, 0.02, lam, rtol=1e-4)


def test_highs_through_cvxpy_agrees():
    cov, y = _instance("laplacian", (6, 5), 0.02, seed=3)
    (ours,) = solve_leg_tv(y, cov, 0.02, [0.1])
    (via_cvxpy,) = solve_leg_tv(y, cov, 0.02, [0.1], solver="highs-cvxpy")
    _assert_optimal(via_cvxpy, ours, y, cov, 0.02, 0.1, rtol=1e-6)


# --------------------------------------------------------------------------- limits in λ


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", [(1, 1), (4, 7), (10, 10)])
def test_lambda_zero_is_leg_and_tiny_lambda_is_close(scheme, shape):
    sigma = 0.02
    cov, y = _instance(scheme, shape, sigma, seed=11)
    leg = cov.solve(y) / sigma**2
    (at_zero,) = solve_leg_tv(y, cov, sigma, [0.0])
    np.testing.assert_array_equal(at_zero, leg)
    (tiny,) = solve_leg_tv(y, cov, sigma, [1e-7])
    assert np.linalg.norm(tiny - leg) <= 1e-3 * np.linalg.norm(leg)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lambda_at_least_one_gives_zeros(scheme):
    cov, y = _instance(scheme, (5, 6), 0.02, seed=5)
    for gamma in solve_leg_tv(y, cov, 0.02, [1.0, 1.5, 10.0]):
        np.testing.assert_array_equal(gamma, np.zeros(cov.q))


def test_zero_y_gives_zeros():
    cov = Covariance((4, 4))
    for gamma in solve_leg_tv(np.zeros(16), cov, 0.02, [0.0, 0.1, 1.0]):
        np.testing.assert_array_equal(gamma, np.zeros(16))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lambda_path_in_input_order_equals_single_solves(scheme):
    sigma = 0.02
    cov, y = _instance(scheme, (7, 6), sigma, seed=21)
    lambdas = [0.3, 0.05, 0.6, 0.0, 1.0, 0.15, 0.05]
    path = solve_leg_tv(y, cov, sigma, lambdas)
    assert len(path) == len(lambdas)
    objectives = []
    for lam, gamma in zip(lambdas, path, strict=True):
        (single,) = solve_leg_tv(y, cov, sigma, [lam])
        if lam in (0.0, 1.0):
            np.testing.assert_array_equal(gamma, single)
        else:
            _assert_optimal(gamma, single, y, cov, sigma, lam, rtol=1e-6)
        objectives.append(leg_tv_objective(gamma, cov))
    # the optimal objective decreases as λ grows
    order = np.argsort(lambdas, kind="stable")
    assert np.all(np.diff(np.asarray(objectives)[order]) <= 1e-6 * max(objectives))


def test_scalar_lambda_is_accepted():
    cov, y = _instance("laplacian", (3, 3), 0.02, seed=0)
    assert len(solve_leg_tv(y, cov, 0.02, 0.1)) == 1


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def small():
    cov, y = _instance("laplacian", (4, 4), 0.02, seed=1)
    return y, cov


def test_negative_lambda_raises(small):
    y, cov = small
    with pytest.raises(ValueError, match="lambda"):
        solve_leg_tv(y, cov, 0.02, [0.1, -0.2])


@pytest.mark.parametrize("sigma", [0.0, -0.1, float("nan")])
def test_bad_sigma_raises(small, sigma):
    y, cov = small
    with pytest.raises(ValueError, match="sigma"):
        solve_leg_tv(y, cov, sigma, [0.1])


@pytest.mark.parametrize("shape", [(15,), (16, 1), (4, 4), (17,)])
def test_wrong_y_shape_raises(small, shape):
    _, cov = small
    with pytest.raises(ValueError, match=r"\(16,\)"):
        solve_leg_tv(np.ones(shape), cov, 0.02, [0.1])


def test_unknown_solver_names_installed_and_highs(small):
    y, cov = small
    with pytest.raises(SolverError) as info:
        solve_leg_tv(y, cov, 0.02, [0.1], solver="no-such-solver")
    message = str(info.value)
    assert "no-such-solver" in message
    assert "'highs'" in message
    for name in cp.installed_solvers():
        assert name in message


def test_mosek_without_installation_or_licence(small):
    y, cov = small
    if "MOSEK" not in cp.installed_solvers():
        with pytest.raises(SolverError) as info:
            solve_leg_tv(y, cov, 0.02, [0.1], solver="mosek")
        message = str(info.value)
        assert "pip install" in message and "highs" in message
        return
    try:
        solve_leg_tv(y, cov, 0.02, [0.1], solver="mosek")
    except SolverError as exc:
        message = str(exc)
        assert "licence" in message and "highs" in message
        assert exc.__cause__ is None  # no traceback from inside cvxpy
    else:
        pytest.skip("MOSEK is installed and licensed here: the no-licence path is untestable")


def test_parallel_lambda_solves_equal_one_thread(monkeypatch):
    cov, y = _instance("laplacian", (8, 8), 0.02, seed=4)
    lambdas = [0.05, 0.1, 0.2, 0.4]
    parallel = solve_leg_tv(y, cov, 0.02, lambdas)
    monkeypatch.setattr("leg.tv.os.cpu_count", lambda: 1)
    serial = solve_leg_tv(y, cov, 0.02, lambdas)
    for a, b in zip(parallel, serial, strict=True):
        np.testing.assert_array_equal(a, b)
