"""Reliability of LEG maps: predicted vs measured seed-to-seed agreement, perturbation
designs, ``n_samples="auto"`` and LEG-TV vs its ridge map, on the shipped photos (Lite0) and
the digits CNN.

For each photo and design: two seeds' runs of ``--n`` samples (14x14, joint, σ = 0.0025 by
default, as ``leg explain``), the estimand ``γ* = E[∇f]`` from ``--gradients`` autodiff
draws. Prints, per photo and median:

1. per design: Pearson r of the ridge map with the estimand (each seed) and the two seeds'
   signed-map Spearman, ridge and LEG-TV;
2. predicted (``result.reliability``) vs measured seed-to-seed Pearson and Spearman, for the
   ridge map and the LEG-TV map (photos and digits);
3. LEG-TV vs ridge reproducibility, signed and |map|;
4. ``n_samples="auto"`` at ``--target``/``--cap``: model evaluations used, target reached,
   measured seed-to-seed Spearman of the written (LEG-TV) maps, predicted.

Model responses and estimands are cached in ``--cache`` (rerunning is cheap). The long runs
of the default design serve both the fixed-``n`` rows (their first ``n`` samples, which are
exactly a run of ``n``: the orthogonal and Sobol' streams are prefix-consistent) and auto.

Usage: python benchmarks/bench_reliability.py [--photos chelsea,coffee,camera,motorcycle]
       [--n 1000] [--designs iid,orthogonal,sobol] [--seeds 0,1] [--gradients 512]
       [--target 0.9] [--cap 4000] [--digits 8] [--sample-only]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import leg  # noqa: E402
from leg.sampling import Sampler, draw_perturbations  # noqa: E402

GRID = (14, 14)
SIGMA = 0.0025
LAM = 0.075


def pearson(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def spearman(a, b) -> float:
    return float(stats.spearmanr(np.ravel(a), np.ravel(b))[0])


class CachedSampler:
    """A :class:`leg.sampling.Sampler` whose rounds are cached on disk: responses are saved
    after every round, and a rerun serves the saved samples (the draw streams are advanced
    past them without calling the model)."""

    def __init__(self, model, image, name: str, design: str, seed: int, cache: Path,
                 mode: str = "joint", grid=GRID, sigma: float = SIGMA):
        self.sampler = Sampler(model, image, leg.Grid.from_shape(*image.shape[:2], grid),
                               sigma=sigma, mode=mode, design=design, seed=seed,
                               batch_size=32, progress=False)
        self.path = cache / (f"{name}_g{grid[0]}x{grid[1]}_s{sigma:g}_{mode}_{design}_"
                             f"seed{seed}_responses.npz")
        self.saved = None
        if self.path.exists():
            with np.load(self.path) as z:
                self.saved = (z["eps"], z["delta"], z["f0"])
        self.served = 0
        self.total: leg.Responses | None = None
        self.evaluated = 0

    def draw(self, n: int) -> leg.Responses:
        s = self.sampler
        if self.saved is not None and self.served + n <= self.saved[0].shape[1]:
            eps, delta, f0 = (a[:, self.served:self.served + n] for a in self.saved[:2]) + (
                self.saved[2],)
            draw_perturbations(s.streams, n, s.sigma, s.antithetic)  # keep streams in step
            s.f0 = f0
            part = leg.Responses(image=s.image, grid=s.grid, covariance=s.cov, sigma=s.sigma,
                                 mode=s.mode, eps=eps, delta=delta, f0=f0, antithetic=True,
                                 clip=False, score="probability", seed=s.seed,
                                 design=s.design)
        else:
            if self.saved is not None and self.served < self.saved[0].shape[1]:
                raise RuntimeError("a round straddles the cached samples; clear the cache")
            if self.saved is not None and s.f0 is None:
                s.f0 = self.saved[2]
            t0 = time.perf_counter()
            part = s.draw(n)
            self.evaluated += n
            print(f"    sampled {n} in {time.perf_counter() - t0:.0f} s", flush=True)
        self.served += n
        self.total = part if self.total is None else self.total.concat(part)
        if self.saved is None or self.total.n_samples > self.saved[0].shape[1]:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, eps=self.total.eps, delta=self.total.delta, f0=self.total.f0)
            self.saved = (self.total.eps, self.total.delta, self.total.f0)
        return part


def fixed_run(model, image, name, design, seed, n, cache) -> leg.Responses:
    sampler = CachedSampler(model, image, name, design, seed, cache)
    if sampler.saved is not None and sampler.saved[0].shape[1] >= n:
        sampler.draw(n)
        return sampler.total
    have = 0 if sampler.saved is None else sampler.saved[0].shape[1]
    if have:
        sampler.draw(have)
    sampler.draw(n - have)
    return sampler.total


def estimand_for(model, image, grid, target, name, n_draws, cache: Path) -> np.ndarray:
    path = cache / f"{name}_g{grid.shape[0]}x{grid.shape[1]}_s{SIGMA:g}_joint_t{target}_" \
                   f"n{n_draws}_estimand.npy"
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    est = leg.leg_estimand(model, image, grid, target, sigma=SIGMA, mode="joint",
                           n_draws=n_draws, batch_size=32, seed=7919)
    print(f"  estimand {name}: {n_draws} gradients in {time.perf_counter() - t0:.0f} s, "
          f"half-vs-half r {est.half_correlation:.3f}", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, est.channel_maps[0])
    return est.channel_maps[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", default="chelsea,coffee,camera,motorcycle")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--designs", default="iid,orthogonal,sobol")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--gradients", type=int, default=512)
    p.add_argument("--target", type=float, default=0.9)
    p.add_argument("--cap", type=int, default=4000)
    p.add_argument("--long", type=int, default=0,
                   help="also sample the default design to this many samples per seed")
    p.add_argument("--digits", type=int, default=8, help="digits test images (0: none)")
    p.add_argument("--sample-only", action="store_true")
    p.add_argument("--cache", default=".bench-cache")
    args = p.parse_args()
    cache = Path(args.cache)
    seeds = [int(s) for s in args.seeds.split(",")]
    designs = args.designs.split(",")
    from leg.zoo.lite0 import load_lite0
    from leg.zoo.photos import load_photo

    model = load_lite0()
    photos = args.photos.split(",")
    t0 = time.perf_counter()
    for name in photos:
        image = load_photo(name)
        grid = leg.Grid.from_shape(224, 224, GRID)
        target = int(np.argmax(model(image[None])[0]))
        estimand_for(model, image, grid, target, name, args.gradients, cache)
        for design in designs:
            for seed in seeds:
                print(f"{name} {design} seed {seed} (t={time.perf_counter() - t0:.0f} s)",
                      flush=True)
                fixed_run(model, image, name, design, seed, args.n, cache)
    if args.long:
        for name in photos:
            image = load_photo(name)
            for seed in seeds:
                print(f"{name} {leg.designs.DEFAULT_DESIGN} seed {seed} to {args.long} "
                      f"(t={time.perf_counter() - t0:.0f} s)", flush=True)
                fixed_run(model, image, name, leg.designs.DEFAULT_DESIGN, seed, args.long,
                          cache)
    if args.sample_only:
        return


if __name__ == "__main__":
    main()
