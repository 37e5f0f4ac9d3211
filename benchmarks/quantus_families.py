"""Cross-check the metric families of :mod:`leg.harness.checks` (robustness, complexity,
localisation, axiomatic, infidelity) against Quantus 0.6, and time both.

Two steps, as ``benchmarks/quantus_crosscheck.py``; both run by
``python benchmarks/quantus_families.py`` from the project's venv:

1. ``make`` (this venv): the digits CNN (``load_model_once("digits")``) on 8 test digits
   (``zoo_images("digits", 8)``) with three maps -- ``gradient`` (signed, channel-summed),
   the ``edge`` control (Sobel) and the ``random`` map (seed 0, so the same map for every
   input, as the harness draws it) -- plus integrated gradients (black baseline, 50 steps)
   for completeness; Lite0 on the 8 shipped photos with their masks
   (:func:`leg.zoo.photos.load_mask`) for localisation, with its gradient, edge, random and
   a centred Gaussian blob. It draws the perturbed inputs (:func:`perturbed_inputs`, 200
   uniform of radius 0.2 and 200 Gaussian of std 0.1 per digit), explains them, evaluates
   the model on Quantus' grid removals (one block at a time and cumulative), computes every
   metric with our functions (timed) and writes all arrays to ``out/families.npz``.
2. ``quantus`` (the Quantus venv, a subprocess): reads the ``.npz`` and runs each Quantus
   metric's ``__call__`` end to end on the same arrays: ``a_batch`` is our maps,
   ``explain_func`` returns our precomputed maps of the inputs Quantus asks about,
   ``perturb_func`` returns our perturbed inputs (so the samples are identical), and the
   model is a *replay* module that returns the digits CNN's recorded scores for the inputs
   it recorded (NaN for any other input, which would show). Input invariance needs a model
   whose first layer Quantus can shift, so it runs on a small torch CNN (seed 0) whose
   gradient maps Quantus asks for are recorded and scored by us in step 3. Times each call.
3. the comparison (this venv): per metric the largest absolute and relative difference,
   and seconds per image for ours and Quantus'.

What it found (Quantus 0.6.0, 200 perturbations; the numbers are in the commit message that
added this script). Configured alike, Quantus and ours agree: sensitivities, pointing game,
relevance mass, completeness gap and infidelity to 0 -- 2e-12, the Lipschitz estimate with
``normalise=False`` to 3e-11, complexity to 1e-9 (Quantus' ``log(p + 1e-12)``), relevance
rank to 4e-4 (the centred blob's tied values: Quantus breaks ties by ``argsort`` order, we
share them). Where Quantus' defaults differ, step 3 recomputes Quantus' number our way to
show the cause:

* ``LocalLipschitzEstimate`` (``normalise=True``) divides the maps of ``x`` by the maximum
  over the *whole* ``a_batch`` and the maps of the perturbed inputs by the maximum of each
  batch: scores depend on the other images and differ from per-map normalisation by up to
  ``1.4`` (batch of 1) or ``2.2`` (batch of 8) here.
* ``Sparseness`` divides by the ``a_batch`` maximum and adds ``1e-7``: up to ``2.2e-3`` away
  from the exact Gini index for the digits CNN's gradients.
* ``Completeness`` compares ``sum(a) == f(x) - f(b)`` exactly (after dividing the map by its
  maximum by default): ``False`` for every map here, integrated gradients (relative gap
  2e-3) included.
* ``Infidelity`` removes its ``4 x 4`` blocks *cumulatively* in raster order (the ``k``-th
  perturbation removes blocks ``1..k``), and ``n_perturb_samples`` repeats that identical
  computation; ours on those perturbations reproduces it to 1e-15 relative.
* ``InputInvariance``: ``perturb_batch`` passes ``indices[i][1:]``, so pixel 0 is never
  shifted (the gradient of a padding-free CNN then moves by 3 %; shifted everywhere it does
  not move at all); the bias correction takes ``torch.unique(...)[0]`` of the first layer's
  response to a constant, wrong for a convolution with zero padding (the gradient moves by
  84 %). Quantus calls the gradient "not invariant" in both; ``f(z - c)`` gives 0.
* ``PointingGame`` counts a hit when any tied maximum is on the object (a constant map
  always hits); ``RelevanceMassAccuracy`` sums the signed map (early Quantus versions and
  Arras et al. use the positive part, our default; both are reported).
* Not covered here: Focus (width and height swapped, Quantus #357), Non-Sensitivity and
  Continuity (definitions corrected in #357); none is implemented in leg.

Setup of the Quantus venv (CPU PyTorch from this machine's wheels)::

    python3 -m venv /tmp/qvenv
    /tmp/qvenv/bin/pip install torch==2.13.0 && /tmp/qvenv/bin/pip install quantus

Usage: python benchmarks/quantus_families.py [make|check|quantus|all] [--out DIR]
       [--quantus-python PATH] [--samples 200]
(``$QUANTUS_PYTHON`` names the interpreter, default ``/tmp/qvenv/bin/python``.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

METHODS = ("gradient", "edge", "random")
PHOTO_METHODS = ("gradient", "edge", "random", "blob")
DEFAULT_QUANTUS_PYTHON = "/tmp/qvenv/bin/python"
SHIFT = -1.0  # Quantus InputInvariance's input_shift


def _each(fn, *arrays, **kwargs):
    """``fn`` on the ``i``-th element of every array, for each ``i``; and the seconds it took."""
    t = time.perf_counter()
    vals = np.array([fn(*(a[i] for a in arrays), **kwargs) for i in range(len(arrays[0]))],
                    dtype=np.float64)
    return vals, time.perf_counter() - t


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


# ------------------------------------------------------------------ step 1: our side
def make(out: Path, *, samples: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from skimage.color import rgb2gray
    from skimage.filters import sobel

    import leg.harness.methods  # noqa: F401  (registers the baselines)
    from leg.explainers import make_explainer
    from leg.harness.checks import axiomatic, complexity, infidelity, localisation, robustness
    from leg.harness.engine.inputs import load_model_once, zoo_images
    from leg.zoo.photos import load_mask

    saved, times = {}, {}

    def add_time(metric, seconds):
        times[metric] = times.get(metric, 0.0) + seconds

    def maps_of(clf, method, images, targets):
        if method == "gradient":  # the harness's Gradient: channel-summed, signed
            out = np.empty(images.shape[:3])
            for k in np.unique(targets):
                rows = np.flatnonzero(targets == k)
                out[rows] = clf.gradient(images[rows], int(k)).sum(axis=-1)
            return out
        if method == "edge":
            return np.stack([sobel(rgb2gray(i) if i.shape[-1] == 3 else i[..., 0])
                             for i in images])
        if method == "random":  # the harness's random map: seed 0 whatever the input
            return np.repeat(np.random.default_rng(0).uniform(size=images.shape[1:3])[None],
                             len(images), axis=0)
        raise ValueError(method)

    # digits: robustness, complexity, completeness, infidelity
    clf = load_model_once("digits")
    x = np.stack([img for _, img in zoo_images("digits", 8)])
    scores = np.asarray(clf(x), dtype=np.float64)
    y = scores.argmax(axis=1)
    n = len(x)
    saved.update(images=x, targets=y)
    for m in METHODS:
        saved[f"map_{m}"] = maps_of(clf, m, x, y)
    for kind in ("uniform", "gaussian"):
        px = np.stack([robustness.perturbed_inputs(x[i], samples, kind, seed=i)
                       for i in range(n)])  # (N, S, H, W, C)
        saved[f"pert_{kind}"] = px
        for m in METHODS:
            saved[f"pmap_{kind}_{m}"] = np.stack(
                [maps_of(clf, m, px[i], np.full(samples, y[i])) for i in range(n)])
    for m in METHODS:
        a, pu, pg = saved[f"map_{m}"], saved[f"pmap_uniform_{m}"], saved[f"pmap_gaussian_{m}"]
        for name, fn in (("avg_sensitivity", robustness.avg_sensitivity),
                         ("max_sensitivity", robustness.max_sensitivity)):
            vals, dt = _each(fn, a, pu)
            saved[f"ours_{name}_{m}"] = vals
            add_time(name, dt)
        vals, dt = _each(robustness.local_lipschitz, a, pg, x, saved["pert_gaussian"])
        saved[f"ours_local_lipschitz_{m}"] = vals
        add_time("local_lipschitz", dt)
        saved[f"ours_local_lipschitz_raw_{m}"] = _each(
            robustness.local_lipschitz, a, pg, x, saved["pert_gaussian"], normalise=False)[0]
        for name, fn in (("sparseness", complexity.sparseness),
                         ("complexity", complexity.complexity)):
            vals, dt = _each(fn, a)
            saved[f"ours_{name}_{m}"] = vals
            add_time(name, dt)

    # completeness: gradient and integrated gradients, black baseline (the image minimum, 0)
    ig = make_explainer("integrated-gradients", clf, steps=50, baseline="black")
    saved["map_ig"] = np.stack([ig.explain(x[i], int(y[i]), seed=0).saliency
                                for i in range(n)])
    black = x.reshape(n, -1).min(axis=1)[:, None, None, None] * np.ones_like(x)
    saved["black"] = black
    f_black = np.asarray(clf(black), dtype=np.float64)[np.arange(n), y]
    saved["f_x"], saved["f_black"] = scores[np.arange(n), y], f_black
    for m in ("ig", "gradient"):
        vals, dt = _each(axiomatic.completeness, saved[f"map_{m}"], saved["f_x"], f_black)
        saved[f"ours_completeness_{m}"] = vals
        add_time("completeness", dt)
        saved[f"ours_completeness_rel_{m}"] = np.array(
            [axiomatic.completeness(saved[f"map_{m}"][i], saved["f_x"][i], f_black[i],
                                    relative=True) for i in range(n)])

    # infidelity on Quantus' grid: one block at a time, and cumulative (its default)
    for label, cumulative in (("single", False), ("cumulative", True)):
        pert = np.stack([infidelity.grid_perturbations(
            x[i], patch=4, baseline=float(x[i].min()), cumulative=cumulative)
            for i in range(n)])  # (N, B, H, W, C)
        f_pert = np.stack([np.asarray(clf(x[i][None] - pert[i]), dtype=np.float64)[:, y[i]]
                           for i in range(n)])
        saved[f"inf_pert_{label}"] = pert
        saved[f"inf_drop_{label}"] = saved["f_x"][:, None] - f_pert
        for m in METHODS:
            vals, dt = _each(infidelity.infidelity, saved[f"map_{m}"], pert,
                             saved[f"inf_drop_{label}"])
            saved[f"ours_infidelity_{label}_{m}"] = vals
            if label == "single":
                add_time("infidelity", dt)
    # our default (random squares) for the record: not comparable with Quantus
    sq = [infidelity.infidelity_perturbations(x[i], samples, "square", seed=i)
          for i in range(n)]
    sq_drop = [saved["f_x"][i] - np.asarray(clf(x[i][None] - sq[i]))[:, y[i]]
               for i in range(n)]
    for m in METHODS:
        saved[f"ours_infidelity_square_{m}"] = np.array(
            [infidelity.infidelity(saved[f"map_{m}"][i], sq[i], sq_drop[i]) for i in range(n)])

    # input invariance on our side: the digits CNN shifted by f(z - c), gradient maps
    shifted = axiomatic.ShiftedClassifier(clf, SHIFT)
    g0 = saved["map_gradient"]
    gs = np.stack([shifted.gradient(x[i:i + 1] + SHIFT, int(y[i]))[0].sum(-1)
                   for i in range(n)])
    gxi = np.stack([(x[i] * clf.gradient(x[i:i + 1], int(y[i]))[0]).sum(-1)
                    for i in range(n)])
    gxi_s = np.stack([((x[i] + SHIFT) * shifted.gradient(x[i:i + 1] + SHIFT, int(y[i]))[0]
                       ).sum(-1) for i in range(n)])
    saved["ours_inv_digits_gradient"] = np.array(
        [axiomatic.input_invariance(g0[i], gs[i]) for i in range(n)])
    saved["ours_inv_digits_gradxinput"] = np.array(
        [axiomatic.input_invariance(gxi[i], gxi_s[i]) for i in range(n)])

    # Lite0 on the photos: localisation
    lite = load_model_once("lite0")
    photos = zoo_images("lite0", 8)
    px = np.stack([img for _, img in photos])
    py = np.asarray(lite(px)).argmax(axis=1)
    masks = np.stack([load_mask(name) for name, _ in photos])
    saved.update(photos=px, photo_targets=py, masks=masks,
                 photo_names=np.array([name for name, _ in photos]))
    yy, xx = np.mgrid[:224, :224]
    blob = np.exp(-((yy - 111.5) ** 2 + (xx - 111.5) ** 2) / (2 * 40.0 ** 2))
    for m in PHOTO_METHODS:
        a = (np.repeat(blob[None], len(px), axis=0) if m == "blob"
             else maps_of(lite, m, px, py))
        saved[f"pmap_photo_{m}"] = a
        for name, fn in (("pointing_game", localisation.pointing_game),
                         ("relevance_mass", localisation.relevance_mass),
                         ("relevance_rank", localisation.relevance_rank)):
            for part in ("signed", "positive"):
                vals, dt = _each(fn, a, masks, part=part)
                saved[f"ours_{name}_{part}_{m}"] = vals
                if part == "signed":
                    add_time(name, dt)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "families.npz"
    np.savez_compressed(path, **saved, meta=json.dumps({
        "samples": samples, "n_digits": n, "n_photos": len(px), "times": times,
        "time_images": {"digits": n * len(METHODS), "photos": len(px) * len(PHOTO_METHODS)}}))
    return path


# ------------------------------------------------------------- step 2: Quantus's side
def quantus_side(npz: Path) -> dict:
    import warnings

    import quantus
    import torch

    warnings.filterwarnings("ignore")
    data = np.load(npz)
    meta = json.loads(str(data["meta"]))
    out, times = {}, {}
    replay_seconds = [0.0]  # time spent replaying our arrays, left out of Quantus' times
    x = np.transpose(data["images"], (0, 3, 1, 2))  # (N, 1, H, W), float64
    y = data["targets"].astype(np.int64)
    n, s = len(x), meta["samples"]

    class Replay(torch.nn.Module):
        """Returns the recorded class scores of the recorded inputs (NaN for the others)."""

        def __init__(self, inputs, scores, n_classes=10):
            super().__init__()
            keys = np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
            # identical inputs (the all-black images) share one row with all their classes
            self.keys, inverse = np.unique(keys, axis=0, return_inverse=True)
            self.rows = np.full((len(self.keys), n_classes), np.nan)
            self.rows[inverse.ravel(), scores[1]] = scores[0]
            self.misses = 0
            self.lin = torch.nn.Linear(1, 1)  # so that the module has parameters
            self.eval()  # Quantus refuses a module in training mode

        def forward(self, t):
            t0 = time.perf_counter()
            try:
                return self._forward(t)
            finally:
                replay_seconds[0] += time.perf_counter() - t0

        def _forward(self, t):
            q = t.detach().cpu().numpy().astype(np.float32).reshape(len(t), -1)
            d = ((q[:, None, :] - self.keys[None]) ** 2).sum(-1)
            j = d.argmin(axis=1)
            bad = d[np.arange(len(q)), j] > 1e-8
            self.misses += int(bad.sum())
            r = self.rows[j].copy()
            r[bad] = np.nan
            return torch.tensor(r)

    stand_in = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(x[0].size, 10)).eval()

    def run(name, metric, key, **kwargs):
        t, r = time.perf_counter(), replay_seconds[0]
        res = np.asarray(metric(**kwargs), dtype=np.float64)
        spent = time.perf_counter() - t - (replay_seconds[0] - r)
        times[name] = times.get(name, 0.0) + spent
        out[key] = res
        return res

    # --- robustness: replayed perturbations and maps
    for method in ("gradient", "edge", "random"):
        a = data[f"map_{method}"][:, None]
        for kind, names in (("uniform", ("AvgSensitivity", "MaxSensitivity")),
                            ("gaussian", ("LocalLipschitzEstimate",))):
            pert = np.transpose(data[f"pert_{kind}"], (0, 1, 4, 2, 3))  # (N, S, 1, H, W)
            pmaps = data[f"pmap_{kind}_{method}"]
            flat_x = x.reshape(n, -1)
            for qname in names:
                configs = ([(1, True), (n, True), (1, False)]
                           if qname == "LocalLipschitzEstimate" else [(n, False)])
                for bs, normalise in configs:
                    state = {"step": np.zeros(n, int), "rows": None, "gap": 0.0}

                    def perturb(arr, indices, state=state, pert=pert, flat_x=flat_x, **kw):
                        t0 = time.perf_counter()
                        rows = [int(np.argmin(((flat_x - r) ** 2).sum(1))) for r in arr]
                        state["rows"] = rows
                        res = np.stack([pert[r, state["step"][r]].reshape(-1) for r in rows])
                        state["sent"] = res.copy()
                        for r in rows:
                            state["step"][r] += 1
                        replay_seconds[0] += time.perf_counter() - t0
                        return res

                    def explain(model, inputs, targets, state=state, pmaps=pmaps, **kw):
                        t0 = time.perf_counter()
                        got = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
                        state["gap"] = max(state["gap"], float(np.abs(got - state["sent"]).max()))
                        res = np.stack([pmaps[r, state["step"][r] - 1] for r in state["rows"]]
                                       )[:, None].astype(np.float64)
                        replay_seconds[0] += time.perf_counter() - t0
                        return res

                    cls = getattr(quantus, qname)
                    metric = cls(nr_samples=s, perturb_func=perturb, normalise=normalise,
                                 disable_warnings=True)
                    key = {"AvgSensitivity": "avg_sensitivity",
                           "MaxSensitivity": "max_sensitivity",
                           "LocalLipschitzEstimate": "local_lipschitz"}[qname]
                    suffix = ("" if bs == 1 or qname != "LocalLipschitzEstimate" else "_batch"
                              ) + ("_raw" if qname == "LocalLipschitzEstimate"
                                   and not normalise else "")
                    run(key + suffix, metric, f"q_{key}{suffix}_{method}", model=stand_in,
                        x_batch=x, y_batch=y, a_batch=a, explain_func=explain,
                        device="cpu", batch_size=bs)
                    out[f"q_inputgap_{key}{suffix}_{method}"] = state["gap"]
        # --- complexity (Quantus defaults: abs, max-normalised), batch of 1 and of N
        for qname, key in (("Sparseness", "sparseness"), ("Complexity", "complexity")):
            for bs in (1, n):
                suffix = "" if bs == 1 else "_batch"
                run(key + suffix, getattr(quantus, qname)(disable_warnings=True),
                    f"q_{key}{suffix}_{method}", model=stand_in, x_batch=x, y_batch=y,
                    a_batch=a.copy(), device="cpu", batch_size=bs)

    # --- localisation on the photos (Quantus defaults: signed, max-normalised)
    px = np.transpose(data["photos"], (0, 3, 1, 2))
    pyt = data["photo_targets"].astype(np.int64)
    masks = data["masks"][:, None].astype(float)
    lite_stand_in = torch.nn.Sequential(torch.nn.Flatten(),
                                        torch.nn.Linear(px[0].size, 1000)).eval()
    for method in ("gradient", "edge", "random", "blob"):
        a_signed = data[f"pmap_photo_{method}"][:, None]
        for part, a in (("signed", a_signed), ("positive", np.maximum(a_signed, 0))):
            for qname, key in (("PointingGame", "pointing_game"),
                               ("RelevanceMassAccuracy", "relevance_mass"),
                               ("RelevanceRankAccuracy", "relevance_rank")):
                res = run(key if part == "signed" else key + "_positive",
                          getattr(quantus, qname)(disable_warnings=True),
                          f"q_{key}_{part}_{method}", model=lite_stand_in, x_batch=px,
                          y_batch=pyt, a_batch=a.copy(), s_batch=masks, device="cpu",
                          batch_size=len(px))
                out[f"q_{key}_{part}_{method}"] = res

    # --- completeness: replayed model (f(x) and f(black)), IG and gradient maps
    replay = Replay(np.concatenate([x, np.transpose(data["black"], (0, 3, 1, 2))]),
                    (np.concatenate([data["f_x"], data["f_black"]]), np.concatenate([y, y])))
    for method in ("ig", "gradient"):
        seen = []

        def record(a, seen=seen):
            seen.append(np.asarray(a, dtype=np.float64))
            return a

        for normalise in (False, True):
            res = run("completeness" if not normalise else "completeness_default",
                      quantus.Completeness(normalise=normalise, output_func=record,
                                           disable_warnings=True),
                      f"q_completeness_norm{int(normalise)}_{method}", model=replay,
                      x_batch=x, y_batch=y, a_batch=data[f"map_{method}"][:, None].copy(),
                      device="cpu", batch_size=n)
            out[f"q_completeness_norm{int(normalise)}_{method}"] = res.astype(float)
        out[f"q_delta_f_{method}"] = seen[0]
    out["q_replay_misses_completeness"] = replay.misses

    # --- infidelity: replayed model; Quantus' default (cumulative) and one block at a time
    pc = np.transpose(data["inf_pert_cumulative"], (0, 1, 4, 2, 3))
    ps = np.transpose(data["inf_pert_single"], (0, 1, 4, 2, 3))
    inputs = [x]
    sc, cl = [data["f_x"]], [y]
    for label, p in (("cumulative", pc), ("single", ps)):
        inputs.append((x[:, None] - p).reshape(-1, *x.shape[1:]))
        sc.append((data["f_x"][:, None] - data[f"inf_drop_{label}"]).reshape(-1))
        cl.append(np.repeat(y, p.shape[1]))
    replay = Replay(np.concatenate(inputs), (np.concatenate(sc), np.concatenate(cl)))
    for method in ("gradient", "edge", "random"):
        a = data[f"map_{method}"][:, None]
        run("infidelity_default", quantus.Infidelity(disable_warnings=True),
            f"q_infidelity_cumulative_{method}", model=replay, x_batch=x, y_batch=y,
            a_batch=a.copy(), device="cpu", batch_size=n)

        def one_block(arr, indices, perturb_baseline="black", **kw):
            res = x.reshape(n, -1).copy()  # the original image, not the previous step
            rows = np.arange(n)[:, None]
            res[rows, indices] = x.reshape(n, -1).min(axis=1)[:, None]
            return res

        run("infidelity", quantus.Infidelity(perturb_func=one_block, n_perturb_samples=1,
                                             disable_warnings=True),
            f"q_infidelity_single_{method}", model=replay, x_batch=x, y_batch=y,
            a_batch=a.copy(), device="cpu", batch_size=n)
    out["q_replay_misses_infidelity"] = replay.misses

    # --- input invariance: a torch CNN Quantus can shift; record the maps it asks for
    for pad in (0, 1):  # zero padding is where Quantus' bias shift is not exact
        torch.manual_seed(0)
        side = x.shape[-1] - 2 + 2 * pad
        cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=pad), torch.nn.ReLU(),
                                  torch.nn.Flatten(), torch.nn.Linear(4 * side * side, 10)
                                  ).eval()
        for kind in ("gradient", "gradxinput"):
            maps = []

            def explain(model, inputs, targets, kind=kind, maps=maps, **kw):
                t = torch.tensor(np.asarray(inputs), dtype=torch.float32, requires_grad=True)
                scores = model(t)
                scores[torch.arange(len(t)), torch.as_tensor(targets)].sum().backward()
                g = t.grad.detach().numpy().astype(np.float64)
                a = g if kind == "gradient" else g * np.asarray(inputs, dtype=np.float64)
                maps.append(a.sum(axis=1, keepdims=True))
                return maps[-1]

            run("input_invariance", quantus.InputInvariance(disable_warnings=True),
                f"q_input_invariance_pad{pad}_{kind}", model=cnn,
                x_batch=x.astype(np.float32), y_batch=y, a_batch=None, explain_func=explain,
                device="cpu", batch_size=n)
            # the maps Quantus asked for: (2, N, 1, H, W), of x, then of x + c
            out[f"q_inv_maps_pad{pad}_{kind}"] = np.stack(maps[:2])
            # Quantus 0.6 leaves pixel 0 unshifted (perturb_batch passes indices[i][1:]):
            # the same shifted model on x + c shifted everywhere
            from quantus.helpers.model.pytorch_model import PyTorchModel

            shifted = PyTorchModel(cnn, channel_first=True, softmax=False, device="cpu"
                                   ).add_mean_shift_to_first_layer(SHIFT, x[:1].shape)
            out[f"q_inv_maps_fixed_pad{pad}_{kind}"] = np.stack(
                [maps[0], explain(shifted, (x + SHIFT).astype(np.float32), y, maps=[])])
    out["q_times"] = json.dumps(times)
    out["quantus_version"] = quantus.__version__
    return out


# ------------------------------------------------------------------ step 3: comparison
def _diff(ours, theirs) -> tuple[float, float]:
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    if not np.array_equal(np.isfinite(ours), np.isfinite(theirs)):
        return float("inf"), float("inf")
    both = np.isfinite(ours)
    if not both.any():
        return 0.0, 0.0
    d = np.abs(ours[both] - theirs[both])
    rel = d / np.maximum(np.abs(ours[both]), 1e-300)
    return float(d.max()), float(np.where(d == 0, 0.0, rel).max())


def _quantus_sparseness(maps: np.ndarray) -> np.ndarray:
    """Quantus' Sparseness as it computes it: |map| over the max of the whole a_batch, plus
    1e-7, then the Gini index."""
    a = np.abs(maps) / np.abs(maps).max() + 1e-7
    a = np.sort(a.reshape(len(a), -1), axis=1)
    k = np.arange(1, a.shape[1] + 1)
    return ((2 * k - a.shape[1] - 1) * a).sum(1) / (a.shape[1] * a.sum(1))


def _quantus_lipschitz(data, method: str, batch: int) -> np.ndarray:
    """Quantus' LocalLipschitzEstimate as it normalises: the maps of x over the max of the
    whole a_batch, the maps of the perturbed inputs over the max of each batch of ``batch``
    images at each step; the denominator + 1e-10."""
    a = data[f"map_{method}"]
    p = data[f"pmap_gaussian_{method}"]  # (N, S, H, W)
    x, xp = data["images"], data["pert_gaussian"]
    a = a / np.abs(a).max()
    out = []
    for start in range(0, len(a), batch):
        pb = p[start:start + batch]
        peak = np.abs(pb).max(axis=(0, 2, 3), keepdims=True)
        pb = pb / np.where(peak == 0, 1.0, peak)
        for i in range(len(pb)):
            num = np.sqrt(((pb[i] - a[start + i]) ** 2).sum(axis=(1, 2)))
            den = np.sqrt(((xp[start + i] - x[start + i]) ** 2).reshape(len(pb[i]), -1).sum(1))
            out.append(np.max(num / (den + 1e-10)))
    return np.array(out)


def report(npz: Path, q: dict) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from leg.harness.checks.axiomatic import input_invariance

    data = np.load(npz)
    meta = json.loads(str(data["meta"]))
    print(f"Quantus {q['quantus_version']} vs leg.harness.checks ({npz}): digits CNN, "
          f"{meta['n_digits']} digits, {meta['samples']} perturbations; Lite0, "
          f"{meta['n_photos']} photos with masks")
    print(f"{'metric':44s} {'ours (median)':>14s} {'Quantus':>10s} {'max|diff|':>10s} "
          f"{'max rel':>9s}")
    worst: dict[str, float] = {}

    def line(label, ours, theirs, family=None):
        d, r = _diff(ours, theirs)
        if family:
            worst[family] = max(worst.get(family, 0.0), d)
        print(f"{label:44s} {np.nanmedian(ours):14.6g} {np.nanmedian(theirs):10.6g} "
              f"{d:10.2e} {r:9.2e}")

    for m in METHODS:
        for key in ("avg_sensitivity", "max_sensitivity", "local_lipschitz"):
            line(f"{key} {m}", data[f"ours_{key}_{m}"], q[f"q_{key}_{m}"],
                 None if key == "local_lipschitz" else key)
        line(f"local_lipschitz {m} (both normalise=False)",
             data[f"ours_local_lipschitz_raw_{m}"], q[f"q_local_lipschitz_raw_{m}"],
             "local_lipschitz")
        line(f"local_lipschitz {m} (Quantus batch of 8)", data[f"ours_local_lipschitz_{m}"],
             q[f"q_local_lipschitz_batch_{m}"])
        for bs, suffix in ((1, ""), (len(data["images"]), "_batch")):
            line(f"  Quantus' normalisation redone by us, batch {bs}",
                 _quantus_lipschitz(data, m, bs), q[f"q_local_lipschitz{suffix}_{m}"])
        for key in ("sparseness", "complexity"):
            line(f"{key} {m}", data[f"ours_{key}_{m}"], q[f"q_{key}_{m}"], key)
            line(f"{key} {m} (Quantus batch of 8)", data[f"ours_{key}_{m}"],
                 q[f"q_{key}_batch_{m}"])
        line(f"  sparseness {m}, Quantus' 1e-7 and batch max redone by us",
             _quantus_sparseness(data[f"map_{m}"]), q[f"q_sparseness_{m}"])
    gaps = max(float(np.max(q[k])) for k in q if k.startswith("q_inputgap_"))
    print(f"  (largest difference between the inputs Quantus asked to explain and ours: "
          f"{gaps:.1e})")
    for m in PHOTO_METHODS:
        for key in ("pointing_game", "relevance_mass", "relevance_rank"):
            for part in ("signed", "positive"):
                line(f"{key} part={part} {m}", data[f"ours_{key}_{part}_{m}"],
                     q[f"q_{key}_{part}_{m}"], key if part == "signed" else None)
    for m in ("ig", "gradient"):
        a = data[f"map_{m}"]
        quantus_gap = np.abs(a.reshape(len(a), -1).sum(1) - q[f"q_delta_f_{m}"])
        line(f"completeness gap {m} (Quantus' sum and f(x)-f(b))",
             data[f"ours_completeness_{m}"], quantus_gap, "completeness")
        print(f"  Quantus Completeness {m}: normalise=False "
              f"{q[f'q_completeness_norm0_{m}'].astype(bool).tolist()}, default "
              f"{q[f'q_completeness_norm1_{m}'].astype(bool).tolist()}; our relative gap "
              f"median {np.median(data[f'ours_completeness_rel_{m}']):.2e}")
    for m in METHODS:
        line(f"infidelity {m} (Quantus default: cumulative)",
             data[f"ours_infidelity_cumulative_{m}"], q[f"q_infidelity_cumulative_{m}"],
             "infidelity")
        line(f"infidelity {m} (one block at a time)", data[f"ours_infidelity_single_{m}"],
             q[f"q_infidelity_single_{m}"], "infidelity")
        print(f"  ours, default random 4x4 squares: median "
              f"{np.median(data[f'ours_infidelity_square_{m}']):.3e}")
    print(f"  replay misses (inputs the replay model did not know): completeness "
          f"{q['q_replay_misses_completeness']}, infidelity {q['q_replay_misses_infidelity']}")
    for pad in (0, 1):
        for kind in ("gradient", "gradxinput"):
            maps = q[f"q_inv_maps_pad{pad}_{kind}"][:, :, 0]
            ours = np.array([input_invariance(a, b) for a, b in zip(maps[0], maps[1],
                                                                    strict=True)])
            verdict = q[f"q_input_invariance_pad{pad}_{kind}"].astype(bool)
            fixed = q[f"q_inv_maps_fixed_pad{pad}_{kind}"][:, :, 0]
            ours_fixed = np.array([input_invariance(a, b) for a, b in zip(fixed[0], fixed[1],
                                                                          strict=True)])
            print(f"input_invariance {kind} (torch CNN padding={pad}, c=-1): ours median "
                  f"{np.median(ours):.2e}, max {ours.max():.2e}; Quantus invariant: "
                  f"{int(verdict.sum())}/{len(verdict)}; with every pixel shifted: ours "
                  f"median {np.median(ours_fixed):.2e}")
            worst["input_invariance verdicts differing"] = max(
                worst.get("input_invariance verdicts differing", 0.0),
                float(np.sum((ours < 1e-3) != verdict)))
    print(f"input_invariance digits CNN with f(z - c): gradient median "
          f"{np.median(data['ours_inv_digits_gradient']):.2e}, gradient x input median "
          f"{np.median(data['ours_inv_digits_gradxinput']):.2e}")
    print("largest |difference| per metric (Quantus configured as ours): " + ", ".join(
        f"{k} {v:.1e}" for k, v in worst.items()))
    ours_t, q_t = meta["times"], json.loads(str(q["q_times"]))
    per = meta["time_images"]
    print(f"{'seconds per image (maps given)':34s} {'ours':>10s} {'Quantus':>10s}")
    for key, qkey in (("avg_sensitivity", "avg_sensitivity"),
                      ("max_sensitivity", "max_sensitivity"),
                      ("local_lipschitz", "local_lipschitz"), ("sparseness", "sparseness"),
                      ("complexity", "complexity"), ("pointing_game", "pointing_game"),
                      ("relevance_mass", "relevance_mass"),
                      ("relevance_rank", "relevance_rank"), ("completeness", "completeness"),
                      ("infidelity", "infidelity")):
        k = per["photos"] if key in ("pointing_game", "relevance_mass", "relevance_rank") \
            else (2 * meta["n_digits"] if key == "completeness" else per["digits"])
        print(f"{key:34s} {ours_t[key] / k:10.2e} {q_t[qkey] / k:10.2e}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", nargs="?", choices=("all", "make", "check", "quantus"),
                   default="all")
    p.add_argument("--out", type=Path, default=Path("quantus-families"))
    p.add_argument("--quantus-python", default=os.environ.get("QUANTUS_PYTHON",
                                                              DEFAULT_QUANTUS_PYTHON))
    p.add_argument("--samples", type=int, default=200)
    args = p.parse_args(argv)
    npz = args.out / "families.npz"
    if args.step in ("all", "make"):
        npz, dt = _timed(make, args.out, samples=args.samples)
        print(f"wrote {npz} in {dt:.0f} s")
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
