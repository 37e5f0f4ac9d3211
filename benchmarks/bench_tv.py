"""Benchmark: sparse LEG-TV (``leg.tv.solve_leg_tv``) against the original dense formulation.

Usage::

    python benchmarks/bench_tv.py [--grids 28 56] [--repeats 3] [--skip-dense-above 56]
                                  [--dense-time-limit 600]

For each ``N x N`` grid (laplacian scheme, σ = 0.02, λ = 0.075) it builds a realistic LEG
right-hand side ``y = mean(Δf_i ε_i)`` from ``n`` noise draws through a smooth two-region
score, then times

(a) ``solve_leg_tv`` end to end (covariance set-up, LP build, HiGHS solve): the median of
    ``--repeats`` runs;
(b) the original research code's formulation (:mod:`leg._reference`): dense ``pinv(D)``,
    dense ``D⁺ᵀσ²Σ``, then cvxpy + HiGHS. The build and the cvxpy call (canonicalisation and
    solve; the solver's own time is shown too) are timed separately. Grids above 28 x 28 run
    the dense path once; grids above ``--skip-dense-above`` skip it. A dense solve that hits
    ``--dense-time-limit`` (HiGHS's own limit) is reported as a lower bound (``>``).

It prints both objectives ``‖Dγ‖₁``, their relative difference, both constraint ratios
``‖D⁺ᵀ(σ²Σγ − y)‖∞ / ‖D⁺ᵀy‖∞`` (feasible: ``≤ λ``), the speed ratio dense/ours, and
whether the target (≥ 100x at 28 x 28) is met. LP optima need not be unique, so the
vectors themselves are not compared.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

from leg._reference import (
    dense_leg_tv_reference,
    dense_reference_matrices,
    leg_tv_constraint_ratio,
    leg_tv_objective,
)
from leg.covariance import Covariance
from leg.tv import solve_leg_tv

SIGMA = 0.02
LAMBDA = 0.075
SCHEME = "laplacian"
TARGET_GRID = 28
TARGET_SPEEDUP = 100.0


def realistic_y(n_grid: int, *, n_samples: int = 2000, seed: int = 0) -> np.ndarray:
    """LEG's ``y = mean(Δf ε)`` for a smooth two-region score on an ``n_grid²`` grid."""
    rng = np.random.default_rng(seed)
    cov = Covariance((n_grid, n_grid), SCHEME)
    ii, jj = np.mgrid[0:n_grid, 0:n_grid] / n_grid
    region_a = ((ii - 0.35) ** 2 + (jj - 0.4) ** 2 < 0.04).ravel().astype(float)
    region_b = ((ii > 0.6) & (jj > 0.55) & (jj < 0.85)).ravel().astype(float)
    w_a, w_b = region_a / region_a.sum(), region_b / region_b.sum()
    eps = SIGMA * cov.sample(rng, n_samples)  # (n, q)

    def score(x):  # a smooth function of two region means, as a classifier score
        return np.tanh(8 * (x @ w_a)) - 0.6 * np.tanh(6 * (x @ w_b)) + 0.3 * (x @ w_a) ** 2

    x0 = np.zeros(cov.q)
    delta_f = score(x0 + eps) - score(x0)
    return delta_f @ eps / n_samples


def time_ours(y: np.ndarray, n_grid: int, repeats: int) -> tuple[float, np.ndarray]:
    times, gamma = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        cov = Covariance((n_grid, n_grid), SCHEME)  # fresh: include the sparse factorisation
        (gamma,) = solve_leg_tv(y, cov, SIGMA, [LAMBDA])
        times.append(time.perf_counter() - start)
    return statistics.median(times), gamma


def time_dense(y: np.ndarray, n_grid: int, repeats: int, time_limit: float) -> dict:
    """Time the dense reference; ``gamma`` is None when HiGHS hit ``time_limit``."""
    builds, solves, solver_times, gamma = [], [], [], None
    for _ in range(repeats):
        start = time.perf_counter()
        cov = Covariance((n_grid, n_grid), SCHEME)
        matrices = dense_reference_matrices(cov, SIGMA)
        mid = time.perf_counter()
        info: dict = {}
        try:
            gamma = dense_leg_tv_reference(y, cov, SIGMA, LAMBDA, solver="HIGHS",
                                           matrices=matrices, info=info,
                                           time_limit=float(time_limit))
        except RuntimeError:  # stopped by the time limit: the times are lower bounds
            gamma = None
        end = time.perf_counter()
        builds.append(mid - start)
        solves.append(end - mid)
        solver_times.append(info.get("solver_time", float("nan")))
        if gamma is None:
            break
    build, solve = statistics.median(builds), statistics.median(solves)
    return dict(build=build, solve=solve, total=build + solve,
                solver=statistics.median(solver_times), gamma=gamma, runs=len(solves))


def _fmt_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, rule, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[28, 56],
                        help="grid sizes N (N x N cells); default 28 56")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of the sparse solver (and of the dense one up to "
                             "28x28); default 3")
    parser.add_argument("--skip-dense-above", type=int, default=56, metavar="N",
                        help="skip the dense reference for grids larger than N; default 56")
    parser.add_argument("--dense-time-limit", type=float, default=600.0, metavar="SECONDS",
                        help="HiGHS time limit for one dense solve; a run that hits it is "
                             "reported as a lower bound ('>'); default 600")
    args = parser.parse_args(argv)
    repeats = max(1, args.repeats)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="cvxpy")

    import cvxpy
    import highspy  # noqa: F401  (the default solver's backend must be present)
    import scipy

    print(f"LEG-TV benchmark: scheme={SCHEME}, sigma={SIGMA}, lambda={LAMBDA}, "
          f"repeats={repeats}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy "
          f"{scipy.__version__}, cvxpy {cvxpy.__version__}, {os.cpu_count()} CPUs "
          f"({platform.machine()})")
    sys.stdout.flush()

    timing_rows, accuracy_rows, speedups, limited = [], [], {}, set()
    for n_grid in args.grids:
        cov = Covariance((n_grid, n_grid), SCHEME)
        y = realistic_y(n_grid)
        print(f"[{n_grid}x{n_grid}] q={cov.q}, m={cov.D.shape[0]}: sparse solve ...", flush=True)
        ours_t, ours = time_ours(y, n_grid, repeats)
        obj_ours = leg_tv_objective(ours, cov)
        ratio_ours = leg_tv_constraint_ratio(ours, y, cov, SIGMA)
        dense = None
        if n_grid <= args.skip_dense_above:
            runs = repeats if n_grid <= TARGET_GRID else 1
            print(f"[{n_grid}x{n_grid}] dense reference ({runs} run(s); may take minutes) ...",
                  flush=True)
            dense = time_dense(y, n_grid, runs, args.dense_time_limit)
        grid = f"{n_grid}x{n_grid}"
        if dense is None:
            timing_rows.append([grid, str(cov.q), f"{ours_t:.3f}", "skipped", "-", "-", "-", "-"])
            accuracy_rows.append([grid, f"{obj_ours:.6g}", "-", "-", f"{ratio_ours:.6f}", "-"])
            continue
        speedups[n_grid] = dense["total"] / ours_t
        if dense["gamma"] is None:  # the dense solve hit the time limit
            limited.add(n_grid)
            timing_rows.append([
                grid, str(cov.q), f"{ours_t:.3f}", f"{dense['build']:.2f}",
                f">{dense['solve']:.0f}", "-", f">{dense['total']:.0f} (limit)",
                f">{speedups[n_grid]:.0f}x",
            ])
            accuracy_rows.append([grid, f"{obj_ours:.8g}", "time limit", "-",
                                  f"{ratio_ours:.8f}", "-"])
            continue
        obj_dense = leg_tv_objective(dense["gamma"], cov)
        ratio_dense = leg_tv_constraint_ratio(dense["gamma"], y, cov, SIGMA)
        timing_rows.append([
            grid, str(cov.q), f"{ours_t:.3f}", f"{dense['build']:.2f}", f"{dense['solve']:.2f}",
            f"{dense['solver']:.2f}", f"{dense['total']:.2f} ({dense['runs']}x)",
            f"{speedups[n_grid]:.0f}x",
        ])
        accuracy_rows.append([
            grid, f"{obj_ours:.8g}", f"{obj_dense:.8g}",
            f"{abs(obj_ours - obj_dense) / abs(obj_dense):.1e}",
            f"{ratio_ours:.8f}", f"{ratio_dense:.8f}",
        ])

    print()
    print("Timing (seconds per solve; ours = median, includes covariance set-up and LP build;")
    print("dense build = pinv(D) and D+^T sigma^2 Sigma; dense cvxpy = canonicalise + solve;")
    print("HiGHS = the solver's own time inside it)")
    print(_fmt_table(
        ["grid", "q", "ours", "dense build", "dense cvxpy", "  HiGHS", "dense total",
         "dense/ours"],
        timing_rows))
    print()
    print(f"Agreement (objective ||D gamma||_1; constraint ratio must be <= lambda = {LAMBDA})")
    print(_fmt_table(
        ["grid", "objective ours", "objective dense", "rel diff", "ratio ours",
         "ratio dense"],
        accuracy_rows))
    print()
    if TARGET_GRID in speedups:
        speedup, bound = speedups[TARGET_GRID], TARGET_GRID in limited
        met = speedup >= TARGET_SPEEDUP
        note = "; a lower bound: the dense solve hit its time limit" if bound else ""
        print(f"TARGET >={TARGET_SPEEDUP:.0f}x at {TARGET_GRID}x{TARGET_GRID}: "
              f"{'MET' if met else 'NOT MET'} ({'>' if bound else ''}{speedup:.0f}x{note})")
    else:
        print(f"TARGET >={TARGET_SPEEDUP:.0f}x at {TARGET_GRID}x{TARGET_GRID}: NOT MET "
              f"(not measured: run with --grids {TARGET_GRID})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
