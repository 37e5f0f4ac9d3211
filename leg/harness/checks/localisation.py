"""Localisation: does the map point at the object, given a binary mask of it (higher is
better).

Three metrics, as Quantus 0.6 defines them (``quantus.PointingGame``,
``quantus.RelevanceMassAccuracy``, ``quantus.RelevanceRankAccuracy``); where this module
differs, it says so. ``benchmarks/quantus_families.py`` compares the numbers. A map is
``(H, W)``; a mask is ``(H, W)``, bool or 0/1, ``True`` on the object
(:func:`check_mask`: a mask of the wrong shape, an empty one or one that covers the whole
image is refused). The shipped photos have masks: :func:`leg.zoo.photos.load_mask`.

Which part of the map is scored (``part``): ``"signed"`` (the map as given), ``"positive"``
(``max(map, 0)``: evidence *for* the class) or ``"absolute"`` (``|map|``). Quantus 0.6 uses
the signed map for all three (``abs=False``; its default max-normalisation divides by a
positive constant and changes nothing here).

Pointing game (Zhang et al., IJCV 2018)
    1 if the map's maximum lies inside the mask, else 0 (:func:`pointing_game`). Default
    ``part="signed"``, the map as given, as Quantus. Zhang et al. count a hit within a
    15-pixel tolerance of the object (on the original image); Quantus has no tolerance
    (``tolerance=0``, the default here); ``tolerance=t`` grows the mask by a disk of radius
    ``t`` pixels. Ties: when several pixels share the maximum, the score is the fraction of
    them inside the mask -- the expected hit when the tie is broken at random, 1/0 when the
    maximum is unique. Quantus counts a hit when *any* tied maximum is inside, so a constant
    map scores 1 on every image; here it scores the mask's area fraction.

Relevance mass accuracy (Arras et al., Information Fusion 2022)
    ``sum(map inside the mask) / sum(map)`` (:func:`relevance_mass`). Default
    ``part="positive"``: Arras et al. measure the positive relevance (evidence for the
    class; early Quantus versions zeroed negative values for this reason). The signed map
    (Quantus 0.6's default) gives ratios above 1 or below 0 when the map has negative
    values and is undefined when they cancel; ``|map|`` would count evidence *against* the
    class as pointing at the object. In ``[0, 1]`` for the positive and absolute parts; NaN
    when the total is 0. Scale-free: multiplying the map by a positive constant changes
    nothing.

Relevance rank accuracy (Arras et al., Information Fusion 2022)
    The fraction of the ``K`` highest-ranked pixels, ``K`` the mask's pixel count, that lie
    inside the mask (:func:`relevance_rank`); in ``[0, 1]``. Default ``part="positive"``
    (as relevance mass; the ranking of the positive pixels is the signed one). Ties at the
    ``K``-th value are counted by their expected share under a random tie-break (Quantus
    breaks them by ``np.argsort``'s order, so a constant map's score depends on where the
    object is in raster order). Scale-free.

Controls that win alone
    A centred Gaussian blob (a map that ignores image and model) wins the pointing game on
    every photo whose object covers the image centre (6 of the 8 shipped photos) and puts
    more than the mask's area fraction of its mass on those objects
    (``tests/test_localisation.py``). On the shipped photos it beats Lite0's gradient:
    pointing game 6/8 against 3/8, median relevance mass 0.60 against 0.37, rank 0.60
    against 0.36 (``benchmarks/quantus_families.py``; the edge map: 5/8, 0.39, 0.38).
    The mask itself is an oracle (every score 1), not a control. Localisation needs a
    faithfulness floor: a map can sit on the object without the model using it.
"""

from __future__ import annotations

import numpy as np

from leg._validation import check_choice, check_int
from leg.harness.checks._arrays import as_map
from leg.harness.checks.map_scores import GATE, MapCheck
from leg.harness.checks.metrics import Metric
from leg.harness.engine.suite import Check

__all__ = [
    "LOCALISATION_METRICS",
    "PARTS",
    "SUITE",
    "Localisation",
    "check_mask",
    "fit_mask",
    "read_masks",
    "pointing_game",
    "relevance_mass",
    "relevance_rank",
]

LOCALISATION_METRICS = {
    "pointing_game": Metric(
        "pointing_game", higher_is_better=True,
        description="1 if the map's maximum lies on the object's mask, else 0 (ties: the "
                    "fraction inside) (Zhang et al., IJCV 2018; Quantus PointingGame)."),
    "relevance_mass": Metric(
        "relevance_mass", higher_is_better=True,
        description="Share of the map's positive mass inside the object's mask (Arras et "
                    "al., Information Fusion 2022; Quantus RelevanceMassAccuracy)."),
    "relevance_rank": Metric(
        "relevance_rank", higher_is_better=True,
        description="Share of the top-K pixels (K = mask size) inside the object's mask "
                    "(Arras et al., Information Fusion 2022; Quantus RelevanceRankAccuracy)."),
}

PARTS = ("signed", "positive", "absolute")


def check_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` as an ``(H, W)`` bool array; ``ValueError`` (one line) when it has another
    shape, values other than 0/1, no ``True`` pixel, or no ``False`` pixel."""
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"The 'mask' must have the map's shape {tuple(shape)} (H, W); got "
                         f"{m.shape}.")
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.all((m == 0) | (m == 1)):
            raise ValueError("The 'mask' must be binary (bool, or 0 and 1 only).")
        m = m.astype(bool)
    if not m.any():
        raise ValueError("The 'mask' is empty (no pixel on the object).")
    if m.all():
        raise ValueError("The 'mask' covers the whole image; it cannot localise anything.")
    return m


def _part(saliency, part: str) -> np.ndarray:
    m = as_map(saliency)
    check_choice(part, "part", PARTS)
    if part == "positive":
        return np.maximum(m, 0.0)
    return np.abs(m) if part == "absolute" else m


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius == 0:
        return mask
    from scipy.ndimage import binary_dilation

    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return binary_dilation(mask, structure=(y * y + x * x) <= radius * radius)


def pointing_game(saliency, mask, *, tolerance: int = 0, part: str = "signed") -> float:
    """1.0 if the maximum of the ``(H, W)`` map lies inside ``mask`` (grown by
    ``tolerance`` pixels), else 0.0; with tied maxima, the fraction of them inside."""
    a = _part(saliency, part)
    s = _dilate(check_mask(mask, a.shape), check_int(tolerance, "tolerance", minimum=0))
    top = a == a.max()
    return float(np.count_nonzero(top & s) / np.count_nonzero(top))


def relevance_mass(saliency, mask, *, part: str = "positive") -> float:
    """``sum(a[mask]) / sum(a)`` for ``a`` the ``part`` of the ``(H, W)`` map; in
    ``[0, 1]`` unless ``part="signed"``; NaN when ``sum(a) == 0``."""
    a = _part(saliency, part)
    s = check_mask(mask, a.shape)
    total = a.sum()
    return float("nan") if total == 0 else float(a[s].sum() / total)


def relevance_rank(saliency, mask, *, part: str = "positive") -> float:
    """Fraction of the ``K = mask.sum()`` highest pixels of the ``part`` of the ``(H, W)``
    map that lie inside ``mask``, ties at the ``K``-th value shared by expectation; in
    ``[0, 1]``."""
    scored = _part(saliency, part)
    s = check_mask(mask, scored.shape).ravel()
    a = scored.ravel()
    k = int(s.sum())
    kth = np.partition(a, a.size - k)[a.size - k]  # the K-th largest value
    above, tied = a > kth, a == kth
    slots = k - int(above.sum())  # places in the top K left for the tied pixels, >= 1
    inside = (np.count_nonzero(above & s)
              + slots * np.count_nonzero(tied & s) / np.count_nonzero(tied))
    return float(inside / k)


# ------------------------------------------------------------------------------ masks
MASK_SUFFIX = ".png"
_MASKS: dict[tuple[str, str], tuple[dict, dict]] = {}


def read_masks(masks_dir: str, images_dir: str) -> tuple[dict, dict]:
    """The masks of the ``images_dir`` images: ``(stem -> (H, W) bool mask at the image
    file's size, stem -> one line saying why that image has none)``, read once per process.

    ``masks_dir`` holds one PNG per image with the image file's stem (``cat.jpg`` ->
    ``cat.png``), the image's size; a pixel is on the object when it is brighter than half
    the mask's maximum (an RGB mask: its first channel). A missing,
    unreadable, wrongly sized or empty mask, or one that covers the whole image, is a line
    in the second dict; the other images keep theirs.
    """
    from pathlib import Path

    from leg.harness.engine.inputs import _scan
    from leg.io import ImageError, read_image

    key = (str(Path(masks_dir).resolve()), str(Path(images_dir).resolve()))
    if key in _MASKS:
        return _MASKS[key]
    masks, problems = {}, {}
    for name, image in _scan(images_dir)[0].items():
        stem = Path(name).stem
        path = Path(masks_dir) / f"{stem}{MASK_SUFFIX}"
        if not path.is_file():
            problems[stem] = f"{path}: missing (no mask for the image {name})"
            continue
        try:
            grey = read_image(path)[0][..., 0]
        except (ImageError, OSError, ValueError) as exc:
            why = str(exc).removeprefix(f"{path}: ").splitlines()[0]
            problems[stem] = f"{path}: unreadable ({why})"
            continue
        if grey.shape != image.shape[:2]:
            problems[stem] = (f"{path}: {'x'.join(map(str, grey.shape))} pixels, but {name} "
                              f"is {image.shape[0]}x{image.shape[1]}")
            continue
        peak = float(grey.max())
        mask = grey > peak / 2 if peak > 0 else np.zeros(grey.shape, bool)
        try:
            masks[stem] = check_mask(mask, grey.shape)
        except ValueError as exc:
            problems[stem] = f"{path}: {str(exc).removeprefix('The ').rstrip('.')}".replace(
                "'mask' is empty", "empty").replace("'mask' covers", "covers")
    _MASKS[key] = (masks, problems)
    return masks, problems


def fit_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An ``(h, w)`` bool mask cropped and resized to ``shape`` ``(H, W)`` exactly as its
    image is for the model (:func:`leg.io.fit_to_model`), ``True`` where at least half of a
    pixel is on the object."""
    from leg.io import fit_to_model

    if mask.shape == tuple(shape):
        return mask
    fitted = fit_to_model(mask.astype(np.float64)[..., None], tuple(shape), 1)[0][..., 0]
    return fitted >= 0.5


# ------------------------------------------------------------------------------ the suite


class Localisation(MapCheck):
    """Pointing game, relevance mass and relevance rank inside each image's object region:
    a ground-truth model's relevant regions, the shipped photos' masks, or the user's
    (``--leg-masks DIR`` beside ``--leg-images DIR``); paired with the random map at LEG's
    granularity over the images."""

    name = "localisation"
    title = "Localisation: does the map point at the object"
    description = "pointing game, relevance mass and rank inside the object's region"
    order = 62
    metrics = (
        (Check("pointing-game", "point", "1 when the map's maximum is on the object, paired "
               "with the random map at LEG's granularity over the images (one-sided "
               "Wilcoxon): pass when significantly more often", "Zhang et al., IJCV 2018",
               "localisation", "a centred blob on centred objects: " + GATE),
         LOCALISATION_METRICS["pointing_game"]),
        (Check("relevance-mass", "mass", "the share of the map's positive mass on the "
               "object, paired with the random map at LEG's granularity: pass when "
               "significantly larger", "Arras et al., Information Fusion 2022",
               "localisation", "a centred blob, or an edge map of an object on a plain "
               "background: " + GATE), LOCALISATION_METRICS["relevance_mass"]),
        (Check("relevance-rank", "rank", "the share of the K highest pixels on the object "
               "(K its size), paired with the random map at LEG's granularity: pass when "
               "significantly larger", "Arras et al., Information Fusion 2022",
               "localisation", "as relevance mass: " + GATE),
         LOCALISATION_METRICS["relevance_rank"]),
    )

    def prepare(self, pipeline, ran: dict) -> None:
        """The region of every image explained (``result.extra[(model, image)]``); a model
        without regions, or an image without a usable mask, gets a note and no score."""
        from leg.zoo import TWINS

        res = pipeline.result
        masks_dir = getattr(pipeline, "masks_dir", None)
        for spec, (_, methods, shape) in ran.items():
            ids = [i for (m, i) in res.images if m == spec]
            regions, missing = {}, {}
            if spec.startswith("groundtruth:"):
                clf = pipeline.model(spec)
                union = np.logical_or.reduce(list(clf.regions.values()))
                regions = dict.fromkeys(ids, union)
            elif masks_dir and pipeline.images_dir:
                masks, problems = read_masks(masks_dir, pipeline.images_dir)
                regions = {i: fit_mask(masks[i], shape[:2]) for i in ids if i in masks}
                missing = {i: problems[i] for i in ids if i in problems}
            elif TWINS.get(spec, spec) == "lite0" and not pipeline.images_dir:
                from leg.zoo.photos import load_mask

                regions = {i: fit_mask(load_mask(i), shape[:2]) for i in ids}
            else:
                why = ("no object regions for its images: pass --leg-masks DIR (one binary "
                       "PNG per --leg-images file, the same stem)")
                res.notes.append(f"{spec}: {why}")
                res.skipped.update({(spec, m): why for m in methods})
                continue
            res.notes.extend(f"{spec}: {line}; {i} is not localised"
                             for i, line in missing.items())
            res.extra.update({(spec, i): r for i, r in regions.items()})

    def score(self, check, image, saliency, *, model, image_id, result, **_):
        region = result.extra.get((model, image_id))
        if region is None:
            return None
        if check == "pointing-game":
            return pointing_game(saliency, region)
        if check == "relevance-mass":
            return relevance_mass(saliency, region)
        return relevance_rank(saliency, region)


SUITE = Localisation()
