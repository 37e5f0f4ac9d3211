"""Which similarity separates Guided Backprop from the gradient under cascading randomization?

Adebayo et al. (2018): randomizing a network's top layers changes the gradient's map at
once but barely changes Guided Backprop's. This script measures it with the harness's own
machinery: the model from :func:`leg.harness.engine.inputs.load_model_once`, its layer
groups and their top-down cascade (:func:`leg.harness.checks.randomization.layers.layer_groups`,
:func:`~leg.harness.checks.randomization.layers.randomized` with seed 0 and the batch-norm
statistics re-estimated on all the run's images sorted by id, as the sanity suite's jobs
do), the images of :func:`leg.harness.engine.inputs.zoo_images`, each explained for the
original model's top-1 class with explanation seed 0 in every state, and the similarities
of :data:`leg.harness.checks.randomization.similarity.SIMILARITIES`.

Printed, per metric: for each method the median over images of similarity(original map,
randomized map) at each cascade depth (number of groups randomized from the output down:
1, 2, 3, 5, 8 and all for Lite0, every depth for the digits CNN), next to the *unrelated*
level, the median over image pairs of the similarity of two different images' original
maps. ``edge`` (a Sobel map of the image) is the model-independent control: its column is
1 at every depth by construction, and its unrelated level says how similar two images'
edge maps already are. A second table per metric gives, for each method and state, the
median over images of the similarity of its map to the image's edge map: a metric on
which a randomized map still matches the edge map as well as the original did sees image
edges, not the model. ``thr`` is the sanity suite's pooled threshold (the 0.95 quantile
of the unrelated similarities plus the metric's margin, :class:`leg.harness.profiles.Thresholds`);
``*`` marks a median at or below it, ``!n`` a state in which n maps were degenerate
(constant, or flagged by the explainer).

Usage: python benchmarks/cascade_similarity.py --model lite0|lite0-torch|digits
       [--images N] [--methods gradient,guided-backprop,grad-cam,guided-grad-cam,edge,leg]
       [--depths 1,2,3,5,8,all] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

METHODS = ("gradient", "guided-backprop", "grad-cam", "guided-grad-cam", "edge")
MODELS = {"lite0": 8, "lite0-torch": 8, "digits": 10}  # default number of images
LITE0_DEPTHS = "1,2,3,5,8,all"


def method_options(spec: str) -> dict:
    """Per-method options: LEG at the smoke profile's settings (Lite0: joint mode, 32 px
    cells, 160 samples; digits: 4 px cells, 3000 samples), the rest at their defaults."""
    from leg.harness.profiles import _digits_options, _lite0_options

    options = _digits_options(3000) if spec == "digits" else _lite0_options(32, 160, "joint")
    return {"leg": {**options["leg"], "progress": False}}


def depths_for(spec: str, text: str | None, n_groups: int) -> list[int]:
    text = text or ("all" if spec == "digits" else LITE0_DEPTHS)
    if text == "all":
        return list(range(1, n_groups + 1))
    out = sorted({n_groups if d == "all" else int(d) for d in text.split(",")})
    if not all(1 <= d <= n_groups for d in out):
        raise SystemExit(f"Depths must lie in [1, {n_groups}]; got {text!r}.")
    return out


def spec_is_torch(spec: str) -> bool:
    return spec.endswith("-torch")


def set_threads(n: int, *, torch_only: bool) -> None:
    """Use ``n`` CPU threads in PyTorch (when installed) and TensorFlow (unless only the
    PyTorch model runs: importing TensorFlow is not needed then)."""
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.set_num_threads(n)
    if not torch_only:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)


def explain_all(explainers: dict, images: list, targets: list, seconds: dict) -> dict:
    """``method -> (maps, number of degenerate ones)`` for every image (seed 0)."""
    from leg.harness.checks.randomization.similarity import is_degenerate

    out = {}
    for name, explainer in explainers.items():
        t0 = time.perf_counter()
        maps, bad = [], 0
        for (_, image), target in zip(images, targets, strict=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # degenerate maps are counted instead
                result = explainer.explain(image, target, seed=0)
            saliency = np.asarray(result.saliency, dtype=np.float64)
            bad += bool(getattr(result, "degenerate", None)) or is_degenerate(saliency)
            maps.append(saliency)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        out[name] = (maps, bad)
    return out


def main(argv=None) -> None:
    import leg.harness.methods  # noqa: F401  (registers the baselines)
    from leg.explainers import make_explainer
    from leg.harness.checks.randomization.layers import layer_groups, randomized
    from leg.harness.checks.randomization.similarity import SIMILARITIES
    from leg.harness.checks.randomization.suite import threshold
    from leg.harness.engine.inputs import load_model_once, zoo_images
    from leg.harness.profiles import Thresholds

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(MODELS), default="lite0")
    p.add_argument("--images", type=int, default=None,
                   help="number of images (default: 8 for Lite0, 10 for digits)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help="comma-separated; 'leg' adds LEG at the smoke settings")
    p.add_argument("--depths", default=None,
                   help=f"cascade depths (default: {LITE0_DEPTHS} for Lite0, all for digits)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for TensorFlow and PyTorch (default: theirs); on a "
                        "loaded shared machine 1 can be several times faster")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        set_threads(args.threads, torch_only=spec_is_torch(args.model))
    spec, methods = args.model, args.methods.split(",")
    n_images = args.images or MODELS[spec]
    t_start = time.perf_counter()

    clf = load_model_once(spec)
    images = zoo_images(spec, n_images)
    if len(images) < 2:
        raise SystemExit("At least 2 images are needed (the unrelated level compares pairs).")
    calibration = np.stack([img for _, img in sorted(images, key=lambda t: t[0])])
    targets = [int(k) for k in np.argmax(np.asarray(clf(np.stack([im for _, im in images]))),
                                         axis=1)]
    groups = [g for g, _ in layer_groups(clf)]
    depths = depths_for(spec, args.depths, len(groups))
    options = method_options(spec)
    explainers = {m: make_explainer(m, clf, **options.get(m, {})) for m in methods}
    edge = make_explainer("edge", clf)
    seconds: dict = {}
    edge_maps = [edge.explain(im, k).saliency for (_, im), k in zip(images, targets,
                                                                      strict=True)]

    states = {"original": explain_all(explainers, images, targets, seconds)}
    t_random = 0.0
    for d in depths:
        t0 = time.perf_counter()
        with randomized(clf, groups[:d], seed=0, calibration=calibration):
            t_random += time.perf_counter() - t0
            states[f"d={d}"] = explain_all(explainers, images, targets, seconds)
        print(f"  [{spec}] depth {d} ({groups[d - 1]}) done, "
              f"{time.perf_counter() - t_start:.0f} s", file=sys.stderr, flush=True)

    pairs = list(itertools.combinations(range(len(images)), 2))
    rule = Thresholds()
    table: dict = {}
    for metric, sim in SIMILARITIES.items():
        table[metric] = {}
        for m in methods:
            orig = states["original"][m][0]
            unrelated = [sim(orig[i], orig[j]) for i, j in pairs]
            row = {"unrelated": float(np.median(unrelated)),
                   "threshold": threshold(unrelated, rule.quantile, rule.margin[metric])}
            for name, maps in states.items():
                cur, bad = maps[m]
                row[name] = {
                    "vs_original": float(np.median([sim(a, b) for a, b in zip(orig, cur,
                                                                            strict=True)])),
                    "vs_edge": float(np.median([sim(a, e) for a, e in zip(cur, edge_maps,
                                                                          strict=True)])),
                    "degenerate": int(bad)}
            table[metric][m] = row

    names = [f"d={d}" for d in depths]
    print(f"\n{spec}: top-down cascade over {len(groups)} layer groups {groups}; "
          f"{len(images)} images ({', '.join(i for i, _ in images)}); depth d randomizes "
          f"the first d groups; seed 0; batch norm re-estimated on the {len(images)} images")
    print(f"unrel: median over {len(pairs)} pairs of different images' original maps; thr: "
          f"their {rule.quantile:g} quantile + the margin (the sanity suite's pooled "
          "threshold); * at or below thr; !n: n degenerate maps")
    width = max(len(m) for m in methods) + 1

    def cell(entry, key, thr=None):
        mark = "*" if thr is not None and entry[key] <= thr else " "
        mark += f"!{entry['degenerate']}" if entry["degenerate"] else ""
        return f"{entry[key]:6.2f}{mark:4s}"

    for metric in SIMILARITIES:
        print(f"\n{metric}: median over images of similarity(original, randomized)")
        print(f"{'method':{width}s} {'unrel':>6s} {'thr':>5s}  "
              + "".join(f"{n:>6s}    " for n in names))
        for m in methods:
            row = table[metric][m]
            print(f"{m:{width}s} {row['unrelated']:6.2f} {row['threshold']:5.2f}  "
                  + "".join(cell(row[n], "vs_original", row["threshold"]) for n in names))
        print(f"  {metric} to the image's edge map (median over images):")
        print(f"  {'method':{width}s} {'orig':>6s}    " + "".join(f"{n:>6s}    " for n in names))
        for m in methods:
            if m != "edge":
                row = table[metric][m]
                print(f"  {m:{width}s} " + "".join(cell(row[n], "vs_edge")
                                                  for n in ["original", *names]))
    print(f"\nseconds: {', '.join(f'{m} {s:.0f}' for m, s in seconds.items())}, "
          f"randomization {t_random:.0f}, total {time.perf_counter() - t_start:.0f}")
    if args.json:
        args.json.write_text(json.dumps({
            "model": spec, "images": [i for i, _ in images], "targets": targets,
            "groups": groups, "depths": depths, "table": table, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
