"""Accuracy of LEG's estimators against LEG's exact estimand on the shipped ImageNet model.

For each photo: the estimand ``γ* = E[∇_ε f(x0 + ε)]`` by autodiff over ``--gradients``
draws (:func:`leg.leg_estimand`), then one sampling run of ``max(--budgets)`` model
evaluations and every estimator on its first n samples (what a run of budget n would have
seen). Prints the Pearson correlation of each estimate's cell map with the estimand, per
photo and the median, and the relative L2 error. Estimands are cached in ``--cache``.

Usage: python benchmarks/bench_estimand.py [--photos chelsea,coffee,camera,motorcycle]
       [--grid 28] [--sigma 0.005] [--budgets 1000,2000,4000] [--gradients 4096]
       [--mode joint] [--seed 0] [--design iid] [--tv]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import leg  # noqa: E402
from leg.zoo.lite0 import load_lite0  # noqa: E402
from leg.zoo.photos import load_photo  # noqa: E402

VARIANTS = {
    "moment": dict(estimator="moment"),
    "ols": dict(estimator="ols"),
    "ridge (default: gcv, auto)": dict(estimator="ridge"),
    "ridge (gcv, identity)": dict(estimator="ridge", penalty="identity"),
    "ridge (gcv, covariance)": dict(estimator="ridge", penalty="covariance"),
}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(b))


def estimand_for(model, image, grid, target, args, cache: Path, photo: str) -> np.ndarray:
    key = (f"{photo}_g{grid.shape[0]}x{grid.shape[1]}_s{args.sigma:g}_{args.mode}_"
           f"t{target}_n{args.gradients}_seed{args.seed}.npy")
    path = cache / key
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    est = leg.leg_estimand(model, image, grid, target, sigma=args.sigma, mode=args.mode,
                           n_draws=args.gradients, seed=args.seed + 1000, batch_size=32)
    print(f"  estimand {photo}: {args.gradients} gradients in {time.perf_counter() - t0:.0f} s, "
          f"half-vs-half correlation {est.half_correlation:.4f}", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, est.channel_maps)
    return est.channel_maps


def responses_for(sampler, image, args, cache: Path, photo: str):
    """Sample once per (photo, settings); the model's responses are cached as .npz."""
    n = sampler.sampling["n_samples"]
    design = "" if args.design == "iid" else f"_{args.design}"
    path = cache / (f"{photo}_g{args.grid}_s{args.sigma:g}_{args.mode}_n{n}_seed{args.seed}"
                    f"{design}_responses.npz")
    if path.exists():
        with np.load(path) as saved:
            grid = sampler.grid_for(image)
            return leg.Responses(
                image=image, grid=grid, covariance=leg.get_covariance(grid.shape, "laplacian"),
                sigma=args.sigma, mode=args.mode, eps=saved["eps"], delta=saved["delta"],
                f0=saved["f0"], antithetic=True, clip=False, score="probability",
                seed=args.seed, design=args.design)
    t0 = time.perf_counter()
    responses = sampler.sample(image, seed=args.seed)
    print(f"{photo}: {responses.n_evaluations} evaluations in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, eps=responses.eps, delta=responses.delta, f0=responses.f0)
    return responses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", default="chelsea,coffee,camera,motorcycle")
    p.add_argument("--grid", type=int, default=28)
    p.add_argument("--sigma", type=float, default=0.005)
    p.add_argument("--budgets", default="1000,2000,4000")
    p.add_argument("--gradients", type=int, default=4096)
    p.add_argument("--mode", default="joint", choices=["joint", "per_channel"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--design", default="iid", choices=["iid", "orthogonal", "sobol"],
                   help="perturbation design (default iid: the tables of docs/estimators.md)")
    p.add_argument("--tv", action="store_true", help="also LEG-TV at a few lambdas")
    p.add_argument("--cache", default=".bench-cache")
    args = p.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    model = load_lite0()
    rows: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for photo in args.photos.split(","):
        image = load_photo(photo)
        sampler = leg.LEG(model, grid=(args.grid, args.grid), sigma=args.sigma,
                          n_samples=budgets[-1] // (3 if args.mode == "per_channel" else 1),
                          mode=args.mode, batch_size=32, design=args.design)
        grid = sampler.grid_for(image)
        responses = responses_for(sampler, image, args, Path(args.cache), photo)
        target = int(np.argmax(responses.f0))
        truth = estimand_for(model, image, grid, target, args, Path(args.cache), photo)
        for n in budgets:
            sub = responses.head(n // responses.eps.shape[0] // 2 * 2)
            estimates = {}
            for name, options in VARIANTS.items():
                try:
                    t1 = time.perf_counter()
                    res = leg.estimate_leg(sub, target, combine="mean", **options)
                    estimates[name] = (res.channel_maps, time.perf_counter() - t1)
                except ValueError:
                    continue
            if args.tv:
                for lam in (0.02, 0.05, 0.1):
                    t1 = time.perf_counter()
                    res = leg.estimate_leg_tv(sub, target, lambdas=[lam], combine="mean")[0]
                    estimates[f"leg-tv ridge λ={lam}"] = (res.channel_maps,
                                                         time.perf_counter() - t1)
                    res = leg.estimate_leg_tv(sub, target, lambdas=[lam], combine="mean",
                                              estimator="moment")[0]
                    estimates[f"leg-tv moment λ={lam}"] = (res.channel_maps, 0.0)
            for name, (maps, seconds) in estimates.items():
                r, e = pearson(maps, truth), rel_error(maps, truth)
                rows.setdefault((name, n), []).append((r, e))
                print(f"  n={n:6d} {name:28s} r={r:.3f} rel.err={e:.3f} ({seconds:.2f} s)",
                      flush=True)
    print(f"\nMedian over photos ({args.photos}); grid {args.grid}x{args.grid}, sigma "
          f"{args.sigma:g}, {args.mode}, estimand from {args.gradients} gradients")
    names = list(dict.fromkeys(name for name, _ in rows))
    print(f"{'estimator':28s} " + " ".join(f"n={n:<12d}" for n in budgets))
    for name in names:
        cells = []
        for n in budgets:
            vals = rows.get((name, n))
            cells.append("–" if not vals else
                         f"{statistics.median(v[0] for v in vals):.3f}/"
                         f"{statistics.median(v[1] for v in vals):.2f}")
        print(f"{name:28s} " + " ".join(f"{c:14s}" for c in cells))
    print("(each cell: median Pearson r / median relative L2 error)")


if __name__ == "__main__":
    main()
