"""What independent randomization does to the model itself: logits before vs after.

For each layer group of the digits CNN and of EfficientNet-Lite0, randomizes that group
alone (:func:`leg.harness.checks.randomization.output_sensitivity.output_change`, seed 0,
batch-norm statistics
re-estimated on the same images, as the sanity suite does) and prints, per group, the
median over images of the Pearson and Spearman correlations of the logits before and
after (over the classes), the smallest per-image Pearson, the top-1 agreement and the
median relative change of the logit vector; then the same for the cascading (top-down)
and bottom-up stages. Images: one test digit per class; Lite0's shipped photos.

Usage: python benchmarks/output_sensitivity.py [--models digits,lite0] [--seed 0]
       [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _model_and_images(name: str):
    if name == "digits":
        from leg.harness.engine.inputs import zoo_images
        from leg.zoo.digits import load_digits_cnn

        return load_digits_cnn("true"), np.stack([im for _, im in zoo_images("digits", 10)])
    if name == "lite0":
        from leg.zoo.lite0 import load_lite0
        from leg.zoo.photos import load_photo, photo_names

        return load_lite0(), np.stack([load_photo(n) for n in photo_names()])
    raise SystemExit(f"Unknown model {name!r}; choose digits or lite0.")


def main(argv=None) -> None:
    from leg.harness.checks.randomization.output_sensitivity import output_change

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="digits,lite0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    out = {}
    for name in args.models.split(","):
        clf, x = _model_and_images(name)
        out[name] = {}
        for kind in ("independent", "cascading", "bottom-up"):
            rows = output_change(clf, x, kind=kind, seed=args.seed)
            out[name][kind] = rows
            print(f"\n{name}: {kind} randomization, {len(x)} images")
            print(f"{'stage':24s} {'pearson':>8s} {'spearman':>8s} {'min r':>7s} "
                  f"{'top1 same':>9s} {'rel.change':>10s}")
            for r in rows:
                print(f"{r['stage']:24s} {r['pearson']:8.3f} {r['spearman']:8.3f} "
                      f"{r['pearson_min']:7.3f} {r['top1_agreement']:9.2f} "
                      f"{r['relative_change']:10.3f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
