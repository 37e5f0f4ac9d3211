"""Cross-check :mod:`leg.harness.checks.randomization.mprt` against Quantus' ``EfficientMPRT`` and
``SmoothMPRT``.

Quantus (and its PyTorch) live in a separate virtual environment, so the check has two
steps, both run by ``python benchmarks/quantus_crosscheck.py`` from the project's venv:

1. ``make`` (this venv): the digits CNN (:func:`leg.zoo.digits.load_digits_cnn`) explains
   one test image per digit with ``gradient``, ``edge``, ``leg``, ``leg-tv`` and ``random``
   under the original and the fully randomized model (every layer group, seed 0, batch-norm
   statistics on the same images, as the harness does); ``gradient`` also gets sMPRT-
   smoothed maps (:func:`leg.harness.checks.randomization.mprt.smprt`). Writes the maps and our
   complexities,
   eMPRT rises (``absolute=False`` and ``True``) and sMPRT similarities to an ``.npz``.
2. ``quantus`` (the Quantus venv, run as a subprocess): reads the ``.npz`` and runs
   ``quantus.EfficientMPRT.__call__`` end to end on a stand-in PyTorch model whose
   ``explain_func`` returns the saved maps (the original model's maps for the original
   model object, the randomized ones for Quantus' fully randomized copy;
   ``skip_layers=True``), with ``abs=False`` (Quantus' default) and ``abs=True``; scores
   the smoothed maps with Quantus' sMPRT similarity (``correlation_spearman`` after its
   ``abs`` and ``normalise_by_average_second_moment_estimate``); and records the noise
   ``SmoothMPRT.explain_smooth_batch`` adds (its ``std`` per image over the image's range,
   and whether the last copy is noiseless). Prints the agreement: max |difference| and
   Pearson correlation per quantity.

Setup of the Quantus venv (CPU PyTorch from this machine's wheels)::

    python3 -m venv /work/venv-quantus
    /work/venv-quantus/bin/pip install torch==2.13.0 && /work/venv-quantus/bin/pip install quantus

Usage: python benchmarks/quantus_crosscheck.py [--out DIR] [--quantus-python PATH]
       [--leg-samples 1000] [--smooth-copies 50] [--smooth-sigma 0.1]
(``make`` runs step 1 only, ``check`` step 2 and the comparison on an existing ``.npz``,
``quantus`` step 2 alone inside the Quantus venv; ``$QUANTUS_PYTHON`` names the
interpreter, default ``/work/venv-quantus/bin/python``.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

METHODS = ("gradient", "edge", "leg", "leg-tv", "random")
DEFAULT_QUANTUS_PYTHON = "/work/venv-quantus/bin/python"


# ------------------------------------------------------------------ step 1: our side
def make(out: Path, *, leg_samples: int, smooth_copies: int, smooth_sigma: float) -> Path:
    """Explain, score with :mod:`leg.harness.checks.randomization.mprt`, write ``out/maps.npz``;
    returns it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import leg.harness.methods  # noqa: F401  (registers gradient, edge, random)
    from leg.explainers import make_explainer
    from leg.harness.checks.randomization.layers import layer_groups, randomized
    from leg.harness.checks.randomization.mprt import emprt, smprt
    from leg.harness.checks.randomization.similarity import spearman_abs
    from leg.harness.engine.inputs import zoo_images
    from leg.zoo.digits import load_digits_cnn

    clf = load_digits_cnn("true")
    images = zoo_images("digits", 10)
    x = np.stack([img for _, img in images])
    targets = np.argmax(np.asarray(clf(x)), axis=1)
    options = {"leg": {"cell_size": 4, "n_samples": leg_samples, "sigma": 0.02},
               "leg-tv": {"cell_size": 4, "n_samples": leg_samples, "sigma": 0.02,
                          "lam": 0.075}}
    groups = [g for g, _ in layer_groups(clf)]

    def maps_of(method):
        ex = make_explainer(method, clf, **options.get(method, {}))
        return np.stack([ex.explain(img, int(k), seed=0).saliency
                         for img, k in zip(x, targets, strict=True)])

    def gradient_fn(k):
        ex = make_explainer("gradient", clf)
        return lambda img: ex.explain(img, int(k), seed=0).saliency

    saved = {"images": x.astype(np.float32), "targets": targets}
    original = {m: maps_of(m) for m in METHODS}
    smooth_orig = [smprt(gradient_fn(k), gradient_fn(k), x[i:i + 1], n=smooth_copies,
                         sigma=smooth_sigma, seed=i, clip=(0, 1))["original"][0]
                   for i, k in enumerate(targets)]
    with randomized(clf, groups, seed=0, calibration=x):
        rand = {m: maps_of(m) for m in METHODS}
        smooth_rand = [smprt(gradient_fn(k), gradient_fn(k), x[i:i + 1], n=smooth_copies,
                             sigma=smooth_sigma, seed=i, clip=(0, 1))["original"][0]
                       for i, k in enumerate(targets)]
    for m in METHODS:
        saved[f"orig_{m}"], saved[f"rand_{m}"] = original[m], rand[m]
        for absolute in (False, True):
            res = emprt(original[m], rand[m], absolute=absolute)
            saved[f"ours_rise_abs{int(absolute)}_{m}"] = res.rise
    saved["smooth_orig_gradient"] = np.stack(smooth_orig)
    saved["smooth_rand_gradient"] = np.stack(smooth_rand)
    saved["ours_smprt_gradient"] = np.array([spearman_abs(a, b) for a, b in
                                             zip(smooth_orig, smooth_rand, strict=True)])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "maps.npz"
    np.savez(path, **saved, meta=json.dumps({"methods": METHODS, "groups": groups,
                                             "leg_samples": leg_samples,
                                             "smooth_copies": smooth_copies,
                                             "smooth_sigma": smooth_sigma}))
    return path


# ------------------------------------------------------------- step 2: Quantus's side
def quantus_side(npz: Path) -> dict:
    """Quantus' numbers on the saved maps (run in the Quantus venv)."""
    import quantus
    import torch
    from quantus.functions.normalise_func import normalise_by_average_second_moment_estimate
    from quantus.functions.similarity_func import correlation_spearman

    data = np.load(npz)
    meta = json.loads(str(data["meta"]))
    x = np.transpose(data["images"], (0, 3, 1, 2)).astype(np.float32)  # (N, 1, H, W)
    y = data["targets"].astype(np.int64)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(),
                              torch.nn.Linear(2 * (x.shape[2] - 2) * (x.shape[3] - 2), 10)).eval()
    index = {xi.tobytes(): i for i, xi in enumerate(x)}
    out: dict = {}
    for method in meta["methods"]:
        maps = {"orig": data[f"orig_{method}"], "rand": data[f"rand_{method}"]}

        def explain_func(model, inputs, targets, maps=maps, **kwargs):
            which = "orig" if model is net else "rand"
            rows = [index[np.asarray(xi, dtype=np.float32).tobytes()] for xi in inputs]
            return maps[which][rows][:, None].astype(np.float32)

        for absolute in (False, True):
            metric = quantus.EfficientMPRT(abs=absolute, normalise=absolute, skip_layers=True,
                                           layer_order="bottom_up", disable_warnings=True)
            scores = metric(model=net, x_batch=x, y_batch=y, a_batch=None,
                            explain_func=explain_func, softmax=True, device="cpu",
                            batch_size=len(x))
            out[f"quantus_rise_abs{int(absolute)}_{method}"] = np.asarray(scores, float)
            out[f"quantus_nbins_abs{int(absolute)}_{method}"] = int(
                metric.complexity_func_kwargs["n_bins"])
    a, b = data["smooth_orig_gradient"], data["smooth_rand_gradient"]
    a = np.abs(normalise_by_average_second_moment_estimate(a))
    b = np.abs(normalise_by_average_second_moment_estimate(b))
    out["quantus_smprt_gradient"] = np.asarray(correlation_spearman(
        a.reshape(len(a), -1), b.reshape(len(b), -1), batched=True), float)
    # the noise SmoothMPRT adds: record each copy quantus.explain is asked to explain
    seen = []
    real_explain = quantus.explain

    def recording_explain(model, inputs, targets, **kwargs):
        seen.append(np.array(inputs, dtype=np.float64))
        return np.array(inputs, dtype=np.float32)[:, :1] + 1.0  # any non-zero map

    quantus.explain = recording_explain
    try:
        smooth = quantus.SmoothMPRT(nr_samples=meta["smooth_copies"],
                                    noise_magnitude=meta["smooth_sigma"],
                                    disable_warnings=True)
        smooth.explain_smooth_batch(model=net, x_batch=x, y_batch=y)
    finally:
        quantus.explain = real_explain
    noise = np.stack(seen) - x[None].astype(np.float64)  # (copies, N, 1, H, W)
    ranges = np.ptp(x.reshape(len(x), -1), axis=1)
    out["quantus_noise_std_over_range"] = noise[:-1].reshape(
        len(seen) - 1, len(x), -1).transpose(1, 0, 2).reshape(len(x), -1).std(axis=1) / ranges
    out["quantus_last_copy_noiseless"] = bool(np.all(noise[-1] == 0))
    out["quantus_copies"] = len(seen)
    out["quantus_version"] = quantus.__version__
    return out


def _agreement(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    both = np.isfinite(ours) & np.isfinite(theirs)
    if not np.array_equal(np.isfinite(ours), np.isfinite(theirs)):
        return float("inf"), float("nan")
    diff = float(np.max(np.abs(ours[both] - theirs[both]))) if both.any() else 0.0
    r = (float(np.corrcoef(ours[both], theirs[both])[0, 1])
         if both.sum() > 1 and np.ptp(ours[both]) > 0 and np.ptp(theirs[both]) > 0
         else float("nan"))
    return diff, r


def report(npz: Path, theirs: dict) -> None:
    data = np.load(npz)
    meta = json.loads(str(data["meta"]))
    print(f"Quantus {theirs['quantus_version']} vs leg.harness.checks.randomization.mprt on {npz} "
          f"(digits CNN, 10 digits, full randomization of {meta['groups']})")
    print(f"{'quantity':34s} {'ours median':>12s} {'Quantus median':>14s} "
          f"{'max|diff|':>10s} {'pearson':>8s}")
    for absolute in (0, 1):
        for m in meta["methods"]:
            ours = data[f"ours_rise_abs{absolute}_{m}"]
            q = theirs[f"quantus_rise_abs{absolute}_{m}"]
            diff, r = _agreement(ours, q)
            print(f"{f'eMPRT rise abs={bool(absolute)} {m}':34s} {np.nanmedian(ours):12.6f} "
                  f"{np.nanmedian(q):14.6f} {diff:10.2e} {r:8.5f}"
                  f"  (n_bins {theirs[f'quantus_nbins_abs{absolute}_{m}']})")
    ours, q = data["ours_smprt_gradient"], theirs["quantus_smprt_gradient"]
    diff, r = _agreement(ours, q)
    print(f"{'sMPRT similarity gradient':34s} {np.median(ours):12.6f} {np.median(q):14.6f} "
          f"{diff:10.2e} {r:8.5f}")
    ratio = theirs["quantus_noise_std_over_range"]
    print(f"SmoothMPRT noise: {theirs['quantus_copies']} copies, std / image range "
          f"{ratio.min():.4f}-{ratio.max():.4f} (sigma {meta['smooth_sigma']}), last copy "
          f"noiseless: {theirs['quantus_last_copy_noiseless']}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", nargs="?", choices=("all", "make", "check", "quantus"),
                   default="all")
    p.add_argument("--out", type=Path, default=Path("quantus-crosscheck"))
    p.add_argument("--quantus-python", default=os.environ.get("QUANTUS_PYTHON",
                                                              DEFAULT_QUANTUS_PYTHON))
    p.add_argument("--leg-samples", type=int, default=1000)
    p.add_argument("--smooth-copies", type=int, default=50)
    p.add_argument("--smooth-sigma", type=float, default=0.1)
    args = p.parse_args(argv)
    npz = args.out / "maps.npz"
    if args.step in ("all", "make"):
        npz = make(args.out, leg_samples=args.leg_samples, smooth_copies=args.smooth_copies,
                   smooth_sigma=args.smooth_sigma)
        print(f"wrote {npz}")
    if args.step == "quantus":
        theirs = quantus_side(npz)
        np.savez(args.out / "quantus.npz", **{k: np.asarray(v) for k, v in theirs.items()})
        return
    if args.step in ("all", "check"):
        if not Path(args.quantus_python).exists():
            raise SystemExit(f"No Quantus interpreter at {args.quantus_python}; create the venv "
                             "(see this script's docstring) or pass --quantus-python.")
        subprocess.run([args.quantus_python, __file__, "quantus", "--out", str(args.out)],
                       check=True)
        q = np.load(args.out / "quantus.npz")
        report(npz, {k: q[k].item() if q[k].ndim == 0 else q[k] for k in q.files})


if __name__ == "__main__":
    main()
