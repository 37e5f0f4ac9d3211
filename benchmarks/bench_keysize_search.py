"""Key size by batched bisection against the full scan, on the shipped models: how often they
agree, by how much they differ where they do not, and the model evaluations each spends.

    python benchmarks/bench_keysize_search.py [--lite0-images 4] [--digits-images 6]

The maps are the faithfulness suite's (the smoke plan's digits, and Lite0 at 500 evaluations
on 16 px cells, cached in ``.bench-cache/keysize``); each map is searched on the plan's
backgrounds at its matched granularity and, on the first background, at pixels, once with
:func:`scan_key_size` and once with :func:`search_key_size`, each with a scorer of its own so
that the evaluations counted are its own. The bisection assumes the class, once changed,
stays changed as more is removed; where a map's flip is not monotone it can answer a later
alpha than the scan.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def compare(res, plan, spec: str) -> dict:
    from leg.harness.checks.faithfulness.imputation import unit_ranks
    from leg.harness.checks.faithfulness.suite import (
        MaskedScorer,
        _Fill,
        alpha_grid,
        matched_cell,
        scan_key_size,
        search_key_size,
    )
    from leg.harness.engine.inputs import load_model_once
    from leg.harness.engine.pipeline import input_shape

    clf = load_model_once(spec)
    cell = matched_cell(plan, input_shape(clf))
    out = {"maps": 0, "agree": 0, "differ": [], "scan": 0, "bisect": 0}
    for (model, img_id, method), sal in res.maps.items():
        if model != spec:
            continue
        image, target = res.images[(model, img_id)], res.targets[(model, img_id)]
        grains = [(bg, cell, plan.alpha_steps) for bg in plan.backgrounds if bg != "road"]
        grains.append((plan.backgrounds[0], None, plan.pixel_alpha_steps or plan.alpha_steps))
        for bg, grain, steps in grains:
            fill = _Fill(image, bg, sal, plan.k, res.profile.seed)
            rank = unit_ranks(sal, order="morf", grid=grain)
            answers = {}
            for name, search in (("scan", scan_key_size), ("bisect", search_key_size)):
                scorer = MaskedScorer(clf, target)
                answers[name] = search(scorer, fill, rank, alpha_grid(steps))
                out[name] += scorer.evaluations
            out["maps"] += 1
            a, b = answers["scan"], answers["bisect"]
            if (np.isnan(a) and np.isnan(b)) or a == b:
                out["agree"] += 1
            else:
                out["differ"].append((method, img_id, bg, "pixel" if grain is None else
                                      f"cells:{grain}", a, b))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-images", type=int, default=6)
    parser.add_argument("--lite0-images", type=int, default=4)
    parser.add_argument("--cache", default=str(REPO / ".bench-cache" / "keysize"))
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    from leg._quiet import quiet_tensorflow
    from leg.harness.checks.faithfulness.suite import run_perturbation
    from leg.harness.profiles import get_profile

    quiet_tensorflow(load=True)
    methods = ["leg", "leg-tv", "gradient", "grad-cam", "occlusion", "smoothgrad", "random",
               "random-cells"]
    runs = {"digits": get_profile("smoke").with_overrides(
                model="digits", methods=methods, n_images=args.digits_images),
            "lite0": get_profile("standard").with_overrides(
                model="lite0", methods=methods, n_images=args.lite0_images)}
    for spec, prof in runs.items():
        if args.lite0_images == 0 and spec == "lite0":
            continue
        prof = replace(prof, perturbation=tuple(p for p in prof.perturbation if p.spec == spec))
        res = run_perturbation(prof, cache_root=args.cache)
        plan = prof.perturbation[0]
        r = compare(res, plan, spec)
        print(f"{spec}: {r['maps']} searches ({len({k[1] for k in res.maps})} images x "
              f"{len(methods)} methods x backgrounds and granularities): agree on "
              f"{r['agree']} ({r['agree'] / max(r['maps'], 1):.1%}); model evaluations: scan "
              f"{r['scan']:,}, bisection {r['bisect']:,} ({r['bisect'] / max(r['scan'], 1):.2f}x)")
        gaps = np.array([b - a for *_, a, b in r["differ"]], dtype=np.float64)
        if gaps.size:
            print(f"  where they differ, the bisection answers later in {int((gaps > 0).sum())} "
                  f"of {gaps.size}: by a median {np.nanmedian(gaps):.3f} of alpha (largest "
                  f"{np.nanmax(np.abs(gaps)):.3f}); the first 20:")
        for method, img, bg, grain, a, b in r["differ"][:20]:
            print(f"  differ: {method} {img} {bg} {grain}: scan {a:.3f}, bisection {b:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
