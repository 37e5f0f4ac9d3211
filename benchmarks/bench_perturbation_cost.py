"""The perturbation suite's scoring cost per image, before and after issue 18.

Before: the standard profile's plan before issue 18 (commit ed963fb): every map scanned at
pixel granularity on five backgrounds (mean, black, white, noise, dist-k) with the authors'
1000-step alpha grid (:func:`leg.harness.checks.faithfulness.removal.key_size`, batches of 64,
distinct
pixel counts only), plus pixel-level deletion/insertion curves of 20 steps on the curve
backgrounds (digits: all five; Lite0: mean). After: the suite's ``score_map`` on today's
standard plan, with one shared :class:`~leg.harness.checks.faithfulness.suite.MaskedScorer` per
image (matched granularity, ROAD, LeRF, pixel granularity on the plan's pixel backgrounds,
identical masked images evaluated once). Both on the same maps (the standard plan's
methods, or ``--methods``) in the same run; model evaluations and seconds per image.

    python benchmarks/bench_perturbation_cost.py                       # digits, 1 image
    python benchmarks/bench_perturbation_cost.py --model lite0 --methods leg,gradient,random
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

#: ed963fb's standard plans: (key-size backgrounds, curve backgrounds); 1000 steps, 20-step
#: curves, every score at pixel granularity.
OLD_PLANS = {
    "digits": (("mean", "black", "white", "noise", "dist-k"),
               ("mean", "black", "white", "noise", "dist-k")),
    "lite0": (("mean", "black", "white", "noise", "dist-k"), ("mean",)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="digits", choices=sorted(OLD_PLANS))
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--methods", default=None,
                    help="comma-separated subset of the plan's methods (default: all)")
    args = ap.parse_args()

    import leg.harness.methods  # noqa: F401  (registers the baselines)
    from leg.explainers import EXPLAINERS
    from leg.harness.checks.faithfulness import suite as ps
    from leg.harness.checks.faithfulness.removal import (
        area_under_curve,
        background,
        deletion_curve,
        insertion_curve,
        key_size,
    )
    from leg.harness.engine.inputs import load_model_once, zoo_images
    from leg.harness.profiles import get_profile

    prof = get_profile("standard")
    plan = next(p for p in prof.perturbation if p.spec == args.model)
    clf = load_model_once(args.model)
    shape = ps.input_shape(clf)
    cell = ps.matched_cell(plan, shape)
    methods, skipped = ps._available(prof.perturbation_methods, clf)
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in methods]
        if unknown:
            ap.error(f"--methods: {unknown} not among the plan's methods {methods}")
        methods = wanted
    old_bgs, old_curves = OLD_PLANS[args.model]
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
        calls[0], t0 = 0, time.perf_counter()
        for sal in maps.values():
            for bg in old_bgs:
                bgi = background(img, sal, bg, k=plan.k, seed=0)
                key_size(counted, img, sal, background=bgi, alphas=ps.alpha_grid(1000),
                         batch_size=64)
                if bg in old_curves:
                    for fn in (deletion_curve, insertion_curve):
                        a, p = fn(counted, img, sal, target, background=bgi, steps=20)
                        area_under_curve(a, p)
        before = (calls[0], time.perf_counter() - t0)
        t0 = time.perf_counter()
        scorer = ps.MaskedScorer(clf, target)
        for sal in maps.values():
            for bg in plan.scored():
                ps.score_map(clf, ps.ScoreItem(
                    "k", img, sal, target, bg, bg in plan.curve_backgrounds, plan.alpha_steps,
                    plan.curve_steps, plan.k, 0, cell, bg in plan.pixel_scored(),
                    plan.pixel_alpha_steps, bg in plan.backgrounds), scorer)
        after = (scorer.evaluations, time.perf_counter() - t0)
        for k, v in (("before", before), ("after", after)):
            totals[k][0] += v[0]
            totals[k][1] += v[1]
        print(f"{args.model}/{img_id}: {len(maps)} maps; before (pixels, key size on "
              f"{old_bgs}, curves on {old_curves}) {before[0]} evaluations {before[1]:.1f} s; "
              f"after (key size on {plan.backgrounds}, curves on {plan.curve_backgrounds}, "
              f"{cell} px cells, pixels on {plan.pixel_scored()}) {after[0]} evaluations "
              f"{after[1]:.1f} s", flush=True)
    n = max(args.images, 1)
    b, a = totals["before"], totals["after"]
    print(f"per image ({len(methods)} maps): before {b[0] / n:.0f} evaluations, "
          f"{b[1] / n:.1f} s; after {a[0] / n:.0f} evaluations, {a[1] / n:.1f} s; ratio "
          f"evaluations {a[0] / max(b[0], 1):.3f}, seconds {a[1] / max(b[1], 1e-9):.3f}; "
          f"load {os.getloadavg()}; skipped {sorted(skipped)}")


if __name__ == "__main__":
    main()
