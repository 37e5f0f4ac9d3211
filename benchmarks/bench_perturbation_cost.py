"""The perturbation suite's scoring cost per image, before and after issue 18.

Before: every map scanned at pixel granularity on every background with the plan's alpha
grid (:func:`leg.harness.perturbation.key_size`, batched early stop, distinct pixel counts
only) plus pixel-level deletion/insertion curves on the curve backgrounds: the old
``score_map``. After: the suite's ``score_map`` with one shared
:class:`~leg.harness.perturbation_suite.MaskedScorer` per image (matched granularity on
every background incl. ``road``, pixel granularity on the plan's pixel backgrounds, LeRF
curves, identical masked images evaluated once). Both on the same maps (every method of the
standard profile's plan for the model) in the same run; model evaluations and seconds.

    python benchmarks/bench_perturbation_cost.py            # digits, 1 image
    python benchmarks/bench_perturbation_cost.py --model lite0
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="digits", choices=("digits", "lite0"))
    ap.add_argument("--images", type=int, default=1)
    args = ap.parse_args()

    import leg.harness.baselines  # noqa: F401  (registers the baselines)
    from leg.explainers import EXPLAINERS
    from leg.harness import perturbation_suite as ps
    from leg.harness.config import get_profile
    from leg.harness.inputs import load_model_once, zoo_images
    from leg.harness.perturbation import (
        area_under_curve,
        background,
        deletion_curve,
        insertion_curve,
        key_size,
    )

    prof = get_profile("standard")
    plan = next(p for p in prof.perturbation if p.spec == args.model)
    clf = load_model_once(args.model)
    shape = ps.input_shape(clf)
    cell = ps.matched_cell(plan, shape)
    methods, skipped = ps._available(prof.perturbation_methods, clf)
    calls = [0]

    def counted(x):
        calls[0] += len(x)
        return clf(x)

    totals = {"before": [0, 0.0], "after": [0, 0.0]}
    for img_id, img in zoo_images(args.model, args.images):
        target = int(np.argmax(clf(img[None])[0]))
        maps = {}
        for m in methods:
            opts = ps.method_options(plan, m, shape, prof.black_box)
            maps[m] = EXPLAINERS[m](clf, **opts).explain(img, target, seed=0).saliency
        # before: pixel scans on every fixed background, pixel curves
        calls[0], t0 = 0, time.perf_counter()
        for sal in maps.values():
            for bg in (b for b in plan.backgrounds if b != "road"):
                bgi = background(img, sal, bg, k=plan.k, seed=0)
                key_size(counted, img, sal, background=bgi, alphas=ps.alpha_grid(plan.alpha_steps))
                if bg in plan.curve_backgrounds:
                    for fn in (deletion_curve, insertion_curve):
                        a, p = fn(counted, img, sal, target, background=bgi,
                                  steps=plan.curve_steps)
                        area_under_curve(a, p)
        before = (calls[0], time.perf_counter() - t0)
        # after: the suite's path, one scorer per image
        t0 = time.perf_counter()
        scorer = ps.MaskedScorer(clf, target)
        for sal in maps.values():
            for bg in plan.backgrounds:
                ps.score_map(clf, ps.ScoreItem(
                    "k", img, sal, target, bg, bg in plan.curve_backgrounds, plan.alpha_steps,
                    plan.curve_steps, plan.k, 0, cell, bg in plan.pixel_scored()), scorer)
        after = (scorer.evaluations, time.perf_counter() - t0)
        for k, v in (("before", before), ("after", after)):
            totals[k][0] += v[0]
            totals[k][1] += v[1]
        print(f"{args.model}/{img_id}: {len(maps)} maps, backgrounds {plan.backgrounds}; "
              f"before {before[0]} evaluations {before[1]:.1f} s; after {after[0]} "
              f"evaluations {after[1]:.1f} s (matched {cell} px cells, pixel on "
              f"{plan.pixel_scored()}, road and LeRF added)")
    n = max(args.images, 1)
    b, a = totals["before"], totals["after"]
    print(f"per image: before {b[0] / n:.0f} evaluations, {b[1] / n:.1f} s; after "
          f"{a[0] / n:.0f} evaluations, {a[1] / n:.1f} s; ratio evaluations "
          f"{a[0] / max(b[0], 1):.3f}, seconds {a[1] / max(b[1], 1e-9):.3f}; load "
          f"{os.getloadavg()}; skipped {sorted(skipped)}")


if __name__ == "__main__":
    main()
