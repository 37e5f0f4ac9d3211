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
       [--target 0.9] [--targets 0.8,0.85,0.95] [--cap 4000] [--digits 8]
       [--long 4000] [--no-groundtruth] [--sample-only]

To fill the cache first: ``--sample-only --long 4000`` (about 40 min of Lite0 on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
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
            eps, delta = (a[:, self.served:self.served + n] for a in self.saved[:2])
            f0 = self.saved[2]
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
    p.add_argument("--targets", default="0.8,0.85,0.95", help="auto targets to sweep (LEG)")
    p.add_argument("--long", type=int, default=0,
                   help="also sample the default design to this many samples per seed")
    p.add_argument("--digits", type=int, default=8, help="digits test images (0: none)")
    p.add_argument("--no-groundtruth", action="store_true")
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
    default = leg.designs.DEFAULT_DESIGN
    rows = {}  # (photo, design) -> dict
    calib = []  # (what, source, predicted, measured)
    for name in photos:
        image = load_photo(name)
        grid = leg.Grid.from_shape(224, 224, GRID)
        target = None
        for design in designs:
            runs = [fixed_run(model, image, name, design, seed, args.n, cache)
                    for seed in seeds[:2]]
            target = int(np.argmax(runs[0].f0))
            truth = estimand_for(model, image, grid, target, name, args.gradients, cache)
            ridge = [leg.estimate_leg(r, target) for r in runs]
            tv = [leg.estimate_leg_tv(r, target, lambdas=LAM)[0] for r in runs]
            row = rows[name, design] = dict(
                est=[pearson(x.cell_map, truth) for x in ridge],
                est_tv=[pearson(x.cell_map, truth) for x in tv],
                s_ridge=spearman(*(x.cell_map for x in ridge)),
                s_tv=spearman(*(x.cell_map for x in tv)),
                s_ridge_abs=spearman(*(np.abs(x.cell_map) for x in ridge)),
                s_tv_abs=spearman(*(np.abs(x.cell_map) for x in tv)))
            for what, res in (("LEG", ridge), ("LEG-TV", tv)):
                measured = (pearson(*(x.cell_map for x in res)),
                            spearman(*(x.cell_map for x in res)))
                predicted = (np.mean([x.reliability.pearson for x in res]),
                             np.mean([x.reliability.spearman for x in res]))
                calib.append((what, design, f"{name}", predicted, measured))
            print(f"{name:10s} {design:10s} estimand r {row['est'][0]:.3f}/{row['est'][1]:.3f}"
                  f" (TV {row['est_tv'][0]:.3f}/{row['est_tv'][1]:.3f}); seed-to-seed "
                  f"Spearman LEG {row['s_ridge']:.3f} LEG-TV {row['s_tv']:.3f}", flush=True)
    print(f"\n== 1. Designs: {args.n} samples, {GRID[0]}x{GRID[1]}, joint, sigma {SIGMA:g}, "
          f"ridge; estimand from {args.gradients} gradients; median over "
          f"{len(photos)} photos")
    print(f"{'design':12s} {'r(estimand) LEG':>16s} {'r LEG-TV':>9s} "
          f"{'Spearman LEG':>13s} {'Spearman LEG-TV':>16s}")
    for design in designs:
        med = {k: statistics.median(
            np.mean(rows[n, design][k]) if isinstance(rows[n, design][k], list)
            else rows[n, design][k] for n in photos)
            for k in ("est", "est_tv", "s_ridge", "s_tv")}
        print(f"{design:12s} {med['est']:16.3f} {med['est_tv']:9.3f} {med['s_ridge']:13.3f} "
              f"{med['s_tv']:16.3f}")
    print("\n== 4. LEG-TV vs its ridge map (LEG), seed-to-seed Spearman, design "
          f"{default}, {args.n} samples")
    print(f"{'photo':12s} {'LEG signed':>10s} {'LEG-TV signed':>14s} {'LEG |map|':>10s} "
          f"{'LEG-TV |map|':>13s}")
    for name in photos:
        row = rows[name, default]
        print(f"{name:12s} {row['s_ridge']:10.3f} {row['s_tv']:14.3f} "
              f"{row['s_ridge_abs']:10.3f} {row['s_tv_abs']:13.3f}")
    if args.digits:
        calib += digits_calibration(args, default)
    if not args.no_groundtruth:
        calib += groundtruth_calibration(default)
    print_calibration(calib, default)
    print(f"\n== 3a. n_samples='auto' (leg), target sweep, cap {args.cap}, design {default}")
    for target_value in sorted({*map(float, args.targets.split(",")), args.target}):
        evals, measured, predicted = [], [], []
        for name in photos:
            image = load_photo(name)
            res = []
            for seed in seeds[:2]:
                explainer = leg.LEG(model, grid=GRID, mode="joint", n_samples="auto",
                                    target_reliability=target_value, max_samples=args.cap,
                                    progress=False)
                _, r = explainer.explain_auto(
                    image, seed=seed,
                    sampler=CachedSampler(model, image, name, default, seed, cache))
                res.append(r)
                evals.append(r.n_evaluations)
                predicted.append(r.reliability.spearman)
            measured.append(spearman(res[0].cell_map, res[1].cell_map))
        print(f"target {target_value:.2f}: evaluations median {statistics.median(evals):.0f} "
              f"mean {np.mean(evals):.0f} max {max(evals)}; measured seed-to-seed Spearman "
              f"{' / '.join(f'{m:.3f}' for m in measured)} (median "
              f"{statistics.median(measured):.3f}, min {min(measured):.3f}); predicted median "
              f"{statistics.median(predicted):.3f}")
    auto_rows = []
    for method in ("leg", "leg-tv"):
        maps = {}
        for name in photos:
            image = load_photo(name)
            for seed in seeds[:2]:
                cls = leg.LEG if method == "leg" else leg.LEGTV
                explainer = cls(model, grid=GRID, mode="joint", n_samples="auto",
                                target_reliability=args.target, max_samples=args.cap,
                                batch_size=32, progress=False)
                sampler = CachedSampler(model, image, name, default, seed, cache)
                _, res = explainer.explain_auto(image, seed=seed, sampler=sampler)
                maps[name, seed] = res
        print(f"\n== 3. n_samples='auto' ({method}, target {args.target}, cap {args.cap}, "
              f"rounds of 500, design {default})")
        print(f"{'photo':12s} {'evaluations':>16s} {'reached':>9s} {'predicted S':>12s} "
              f"{'measured S':>11s} {'|map| S':>8s}")
        for name in photos:
            a, b = (maps[name, s] for s in seeds[:2])
            measured = spearman(a.cell_map, b.cell_map)
            auto_rows.append((method, name, a.n_evaluations, b.n_evaluations, measured))
            print(f"{name:12s} {a.n_evaluations:7d}/{b.n_evaluations:<8d} "
                  f"{str(a.auto.reached)[0]}/{str(b.auto.reached)[0]:7s} "
                  f"{(a.reliability.spearman + b.reliability.spearman) / 2:12.3f} "
                  f"{measured:11.3f} {spearman(abs(a.cell_map), abs(b.cell_map)):8.3f}")
        evals = [e for m, _, e1, e2, _ in auto_rows if m == method for e in (e1, e2)]
        meas = [s for m, _, _, _, s in auto_rows if m == method]
        print(f"{'median':12s} {statistics.median(evals):16.0f} {'':9s} {'':12s} "
              f"{statistics.median(meas):11.3f}   (min {min(meas):.3f})")
    print(f"\nseconds: {time.perf_counter() - t0:.0f}")


def digits_calibration(args, design) -> list:
    """Predicted vs measured at ``leg explain``'s settings on the digits CNN's test images."""
    from leg.zoo.digits import digits_data, load_digits_cnn

    model = load_digits_cnn()
    images = digits_data()["x_test"][:args.digits].astype(np.float64)
    out = []
    for i, image in enumerate(images):
        for n, (what, cls) in itertools.product((100, 500, args.n), (("LEG", leg.LEG),
                                                               ("LEG-TV", leg.LEGTV))):
            explainer = cls(model, grid=GRID, mode="joint", n_samples=n, design=design,
                            batch_size=256, progress=False)
            res = [explainer.explain(image, seed=s) for s in (0, 1)]
            out.append((what, design, f"digit{i} n={n}" + ("*" if n // 2 <= 196 else ""),
                        (np.mean([x.reliability.pearson for x in res]),
                         np.mean([x.reliability.spearman for x in res])),
                        (pearson(*(x.cell_map for x in res)),
                         spearman(*(x.cell_map for x in res)))))
    return out


def groundtruth_calibration(design) -> list:
    """Predicted vs measured on the zoo's ground-truth classifiers (4 px cells, joint,
    σ = 0.02, 600 samples: more antithetic pairs than cells on every model)."""
    from leg.zoo.groundtruth import ground_truth_suite

    out = []
    for model in ground_truth_suite():
        image = model.base_image(0)
        for what, cls in (("LEG", leg.LEG), ("LEG-TV", leg.LEGTV)):
            explainer = cls(model, cell_size=4, mode="joint", n_samples=600, sigma=0.02,
                            design=design, progress=False)
            res = [explainer.explain(image, model.target, seed=s) for s in (0, 1)]
            out.append((what, design, "gt:" + model.name[:12],
                        (np.mean([x.reliability.pearson for x in res]),
                         np.mean([x.reliability.spearman for x in res])),
                        (pearson(*(x.cell_map for x in res)),
                         spearman(*(x.cell_map for x in res)))))
    return out


def print_calibration(calib, default) -> None:
    print("\n== 2. Predicted (mean of the two seeds' result.reliability) vs measured "
          "seed-to-seed correlation of the signed cell maps (*: fewer pairs than cells, "
          "reliability.trusted is False; left out of the medians)")
    print(f"{'map':7s} {'design':11s} {'image':15s} {'Pearson pred/meas':>18s} "
          f"{'Spearman pred/meas':>19s}")
    for what, design, src, pred, meas in calib:
        print(f"{what:7s} {design:11s} {src:15s} {pred[0]:8.3f}/{meas[0]:<9.3f} "
              f"{pred[1]:9.3f}/{meas[1]:<9.3f}")
    groups = {"photos": lambda src: not src.startswith(("digit", "gt:")),
              "digits": lambda src: src.startswith("digit"),
              "photos+digits": lambda src: not src.startswith("gt:"),
              "ground truth": lambda src: src.startswith("gt:")}
    for what in ("LEG", "LEG-TV"):
        for design in dict.fromkeys(d for _, d, _, _, _ in calib):
            for group, member in groups.items():
                sel = [(p, m) for w, d, src, p, m in calib if w == what and d == design
                       and member(src) and not src.endswith("*")]
                if not sel:
                    continue
                text = []
                for j, label in ((0, "Pearson"), (1, "Spearman")):
                    errs = [p[j] - m[j] for p, m in sel]
                    text.append(f"{label} median |pred - meas| "
                                f"{statistics.median(np.abs(errs)):.3f} (signed "
                                f"{statistics.median(errs):+.3f})")
                print(f"{what:7s} {design:11s} {group:13s} n={len(sel):2d}: {'; '.join(text)}")

if __name__ == "__main__":
    main()
