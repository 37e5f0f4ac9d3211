"""Infidelity (Yeh et al., NeurIPS 2019): how badly the map predicts the score drop of a
random perturbation (lower is better).

``INFD = E_I[(I . Phi(x) - (f(x) - f(x - I)))^2]``: a perturbation ``I`` (an array the shape
of the image) is subtracted from the input, the map predicts the drop of the class score
``f`` as ``I . Phi = sum over pixels and channels of I[h, w, c] * Phi[h, w]`` (the ``(H, W)``
map broadcast over channels, as Quantus does), and the squared error of that prediction
is averaged over ``n`` perturbations (:func:`infidelity`). The harness draws the
perturbations with :func:`infidelity_perturbations`, evaluates ``f(x - I)`` in batches and
passes the drops ``f(x) - f(x - I)``; they depend on the image only, so every method
explaining that image shares them.

Perturbations (``kind``)
    ``"square"`` (default): each ``I`` removes one ``patch x patch`` square (default 4, as
    Quantus) at a uniformly random position, ``x - I`` having the ``baseline`` value there
    (default 0, "black"): Yeh et al.'s square removal, with Quantus' patch size and
    baseline. ``"grid"``: the same with the square drawn from the non-overlapping
    ``patch``-grid that Quantus uses. ``"gaussian"``: ``I`` Gaussian with standard deviation
    ``sigma`` (default 0.1) per pixel and channel (Yeh et al.'s noisy perturbation). In all
    kinds ``x - I`` is clipped to ``clip`` (default ``[0, 1]``) and ``I`` is the perturbation
    that remains after clipping, so ``x - I`` is exactly the input the model sees.

What Quantus 0.6 computes instead (``quantus.Infidelity`` defaults)
    It removes the ``4 x 4`` blocks of its grid *cumulatively* in raster order -- the
    ``k``-th perturbation has blocks ``1..k`` all set to the image's minimum -- because each
    step perturbs the previous step's output; so its ``E_I`` is over a deterministic
    deletion curve, not over independent random perturbations, and its
    ``n_perturb_samples=10`` repeats the same numbers ten times. :func:`grid_perturbations`
    builds those (``cumulative=True``) and the independent ones (``cumulative=False``), so
    ``benchmarks/quantus_families.py`` can check that :func:`infidelity` reproduces Quantus
    on its own perturbations and measure what the cumulative removal changes.

Normalisation
    None by default (Quantus and Captum's default): the map's scale matters. With
    ``normalise=True`` the map is first multiplied by the scale that minimises the error,
    ``beta = E[(I . Phi) d] / E[(I . Phi)^2]`` (Yeh et al.'s scale-invariant form, Captum's
    ``normalize=True``), which makes the score invariant to the map's scale.

Controls that win alone
    An occlusion map built with the evaluator's own patches -- the score drop of removing
    each grid block, spread over the block in proportion to ``x - baseline`` -- has
    infidelity exactly 0 on ``kind="grid"`` perturbations, whatever the model: a method
    whose perturbation matches the evaluator's is favoured (``tests/test_infidelity.py``).
    On a linear model the gradient is also exact, for every kind.
"""

from __future__ import annotations

import numpy as np

from leg._validation import check_choice, check_float, check_int
from leg.harness.checks._arrays import (
    as_array,
    as_image,
    as_map,
    check_count,
    check_seed,
    finite,
)
from leg.harness.checks.map_scores import GATE, MapCheck
from leg.harness.checks.metrics import Metric
from leg.harness.engine.suite import Check

__all__ = [
    "INFIDELITY_METRICS",
    "SUITE",
    "Infidelity",
    "KINDS",
    "N_PERTURBATIONS",
    "grid_perturbations",
    "infidelity",
    "infidelity_perturbations",
    "predicted_drops",
]

INFIDELITY_METRICS = {
    "infidelity": Metric(
        "infidelity", higher_is_better=False,
        description="Mean squared error of the map's prediction I . map of the score drop "
                    "f(x) - f(x - I) over random square removals (Yeh et al., NeurIPS 2019; "
                    "Quantus Infidelity)."),
}

KINDS = ("square", "grid", "gaussian")
#: Default number of perturbations per image (forward passes only, shared by all methods).
N_PERTURBATIONS = 200
PATCH = 4  # Quantus' perturb_patch_sizes=[4]
SIGMA = 0.1


def infidelity_perturbations(image, n: int = N_PERTURBATIONS, kind: str = "square",
                             seed: int = 0, *, patch: int = PATCH, sigma: float = SIGMA,
                             baseline: float = 0.0,
                             clip: tuple[float, float] | None = (0.0, 1.0)) -> np.ndarray:
    """``(n, H, W, C)`` perturbations ``I`` of an ``(H, W, C)`` (or ``(H, W)``) image; the
    perturbed inputs are ``image - I``. Deterministic given ``seed``
    (``numpy.random.default_rng(seed)``); see the module docstring for the kinds."""
    x = as_image(image)
    n = check_count(n)
    rng = np.random.default_rng(check_seed(seed))
    kind = check_choice(kind, "kind", KINDS)
    h, w = x.shape[:2]
    if kind == "gaussian":
        moved = x[None] - rng.normal(0.0, check_float(sigma, "sigma", low=0.0),
                                     size=(n, *x.shape))
    else:
        p = check_int(patch, "patch", minimum=1)
        if p > min(h, w):
            raise ValueError(f"The 'patch' ({p}) is larger than the image ({h}x{w}).")
        b = check_float(baseline, "baseline")
        if kind == "square":
            tops = rng.integers(0, h - p + 1, size=n)
            lefts = rng.integers(0, w - p + 1, size=n)
        else:
            cells = rng.integers(0, (h // p) * (w // p), size=n)
            tops, lefts = (cells // (w // p)) * p, (cells % (w // p)) * p
        moved = np.repeat(x[None], n, axis=0)
        for k, (t, left) in enumerate(zip(tops, lefts, strict=True)):
            moved[k, t:t + p, left:left + p] = b
    if clip is not None:
        moved = np.clip(moved, *clip)
    return x[None] - moved


def grid_perturbations(image, *, patch: int = PATCH, baseline: float = 0.0,
                       cumulative: bool = False) -> np.ndarray:
    """``(B, H, W, C)`` perturbations that remove the ``B`` non-overlapping ``patch x patch``
    blocks in raster order (blocks that do not fit at the right and bottom edges are
    skipped): block ``k`` alone, or blocks ``1..k`` with ``cumulative=True`` (what
    ``quantus.Infidelity`` computes with ``baseline`` = the image's minimum)."""
    x = as_image(image)
    p = check_int(patch, "patch", minimum=1)
    b = check_float(baseline, "baseline")
    h, w = x.shape[:2]
    if p > min(h, w):
        raise ValueError(f"The 'patch' ({p}) is larger than the image ({h}x{w}).")
    out, current = [], x.copy()
    for t in range(0, h - p + 1, p):
        for left in range(0, w - p + 1, p):
            moved = current if cumulative else x.copy()
            moved[t:t + p, left:left + p] = b
            out.append(x - moved)
            if cumulative:
                current = moved.copy()
    return np.stack(out)


def predicted_drops(saliency, perturbations) -> np.ndarray:
    """``(n,)`` predictions ``I_k . Phi`` of the score drops: ``sum_{h,w,c} I_k[h,w,c] *
    saliency[h,w]`` for an ``(H, W)`` map and ``(n, H, W, C)`` (or ``(n, H, W)``)
    perturbations."""
    m = as_map(saliency)
    i = as_array(perturbations, "perturbations")
    if i.ndim == 3:
        i = i[..., None]
    if i.ndim != 4 or i.shape[1:3] != m.shape or i.shape[0] < 1:
        raise ValueError(f"The 'perturbations' must have shape (n, {m.shape[0]}, "
                         f"{m.shape[1]}, C) with n >= 1; got shape {i.shape}.")
    return np.einsum("nhwc,hw->n", finite(i, "perturbations"), m)


def infidelity(saliency, perturbations, score_drops, *, normalise: bool = False) -> float:
    """Mean over ``k`` of ``(I_k . Phi - score_drops[k])^2`` (Yeh et al. 2019), ``>= 0``;
    lower is better.

    ``saliency``: the ``(H, W)`` map of ``x``; ``perturbations``: ``(n, H, W, C)`` from
    :func:`infidelity_perturbations`; ``score_drops``: ``(n,)`` ``f(x) - f(x - I_k)`` for
    the explained class. ``normalise``: rescale the map by the error-minimising ``beta``
    first (scale-invariant; a map whose predictions are all 0 is left as it is).
    """
    pred = predicted_drops(saliency, perturbations)
    d = finite(as_array(score_drops, "score_drops"), "score_drops")
    if d.shape != pred.shape:
        raise ValueError(f"The 'score_drops' must have shape ({len(pred)},), one per "
                         f"perturbation; got shape {d.shape}.")
    if normalise:
        energy = float(np.mean(pred * pred))
        if energy > 0:
            pred = pred * (float(np.mean(pred * d)) / energy)
    return float(np.mean((pred - d) ** 2))


# ------------------------------------------------------------------------------ the suite
class Infidelity(MapCheck):
    """Infidelity of every map of the comparison plans under random square removals shared
    by all methods of an image, relative to the drops' own energy, paired with the random
    map at LEG's granularity over the images."""

    name = "infidelity"
    title = "Infidelity: how well the map predicts the score drop of random removals"
    description = "the squared error of the map's prediction of score drops (Yeh et al. 2019)"
    order = 65
    metrics = ((
        Check("infidelity", "infid", f"the mean squared error of I . map (scaled by its "
              f"best factor) against f(x) - f(x - I) over random {PATCH}x{PATCH} squares "
              "set to black, divided by the mean squared drop (0: perfect, 1: predicts "
              "nothing); paired with the random map at LEG's granularity over the images "
              "(one-sided Wilcoxon): pass when significantly lower",
              "Yeh et al., NeurIPS 2019", "infidelity",
              "an occlusion map made with the evaluator's own squares and fill predicts "
              "their drops by construction (occlusion's patches are the plan's cells and "
              "its fill is not black, so it is not that map); " + GATE),
        INFIDELITY_METRICS["infidelity"]),)

    def prepare(self, pipeline, ran: dict) -> None:
        """``infidelity_samples`` square removals of every image and the class score's drop
        under each (``result.extra[(model, image)] = (perturbations, drops)``): forward
        passes only, in batches, shared by every method of the image."""
        res = pipeline.result
        for spec, (plan, _, _) in ran.items():
            n = plan.infidelity_samples
            if not n:
                continue
            clf = pipeline.model(spec)
            for (m, img_id), img in res.images.items():
                if m != spec:
                    continue
                t = res.targets[(spec, img_id)]
                perts = infidelity_perturbations(img, n, "square", seed=res.profile.seed)
                scores = np.concatenate([
                    np.asarray(clf(img[None] - perts[i:i + 64]), dtype=np.float64)[:, t]
                    for i in range(0, n, 64)])
                f = float(np.asarray(clf(img[None]), dtype=np.float64)[0, t])
                res.extra[(spec, img_id)] = (perts, f - scores)

    def score(self, check, image, saliency, *, model, image_id, result, **_):
        got = result.extra.get((model, image_id))
        if got is None:
            return None
        perts, drops = got
        energy = float(np.mean(drops ** 2))
        if energy == 0:
            return None  # the removals do not move the score: nothing to predict
        raw = infidelity(saliency, perts, drops, normalise=True)
        return raw / energy, raw


SUITE = Infidelity()
