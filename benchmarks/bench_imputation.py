"""Cost of ROAD's noisy linear imputation
(:func:`leg.harness.checks.faithfulness.imputation.noisy_linear_imputation`).

Prints milliseconds per call (median and minimum of ``--repeats``) on a ``--size`` x
``--size`` RGB photo (scikit-image's astronaut, resized) for several masks: scattered pixels
(50 %), one half of the image, and whole 16 px cells at 5, 50 and 90 % (the matched
granularity's key-size steps), with the system size ``n`` of each and the machine's load
average, and the same solve with SciPy's default ``splu`` ordering (COLAMD) for comparison.
Then the imputation cost of one map's ROAD curves (both orders, 16 px cells, ``--steps``
fractions) with a classifier that costs nothing, and of its matched-granularity key-size
scan to the end (every one of the 196 cell counts: the worst case).

Usage: python benchmarks/bench_imputation.py [--size 224] [--repeats 7] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from scipy.sparse.linalg import splu
from skimage import data
from skimage.transform import resize

from leg.grid import Grid
from leg.harness.checks.faithfulness.imputation import (
    _system,
    key_size_removal,
    noisy_linear_imputation,
    removal_curves,
)


def _ms(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t))
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    s = args.size
    img = resize(data.astronaut() / 255.0, (s, s), anti_aliasing=True)
    rng = np.random.default_rng(0)
    cells = Grid.from_cell_size(s, s, 16)
    q = cells.size

    def cell_mask(frac):
        return (rng.permutation(q) < int(np.ceil(frac * q)))[cells.pixel_cells()]

    masks = {"pixels 50%": rng.uniform(size=(s, s)) < 0.5,
             "half image": np.arange(s)[:, None].repeat(s, 1) < s // 2,
             "cells 5%": cell_mask(0.05), "cells 50%": cell_mask(0.5),
             "cells 90%": cell_mask(0.9)}
    print(f"{s}x{s}x3, load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    print(f"{'mask':<12} {'n':>6} {'ms median':>10} {'ms min':>8} {'COLAMD ms':>10}")
    for name, m in masks.items():
        med, low = _ms(lambda m=m: noisy_linear_imputation(img, m, seed=0), args.repeats)
        _, a, b = _system(m, img)
        colamd, _ = _ms(lambda a=a, b=b: splu(a).solve(b), max(1, args.repeats // 2))
        print(f"{name:<12} {int(m.sum()):>6} {med:>10.1f} {low:>8.1f} {colamd:>10.1f}")

    def free(x):  # the same class whatever the image: the scan runs to the end
        return np.tile([0.9, 0.1], (len(x), 1))

    sal = rng.normal(size=(s, s))
    t = time.perf_counter()
    removal_curves(free, img, sal, steps=args.steps, grid=16)
    print(f"ROAD curves, both orders, 16 px cells, {args.steps} steps: "
          f"{time.perf_counter() - t:.2f} s per map")
    t = time.perf_counter()
    key_size_removal(free, img, sal, grid=16)
    print(f"key size, 16 px cells, all {q} counts: {time.perf_counter() - t:.2f} s per map")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
