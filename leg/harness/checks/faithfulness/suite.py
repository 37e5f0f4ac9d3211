"""Perturbation-size comparison of LEG, LEG-TV and the baselines: plan, compute, report.

For each model of :attr:`leg.harness.profiles.Profile.perturbation`, every method explains
every image for its top-1 class; then each map is scored by
:mod:`leg.harness.checks.faithfulness.removal`:
on the key-size backgrounds the *key size* (smallest fraction ``alpha`` of the
top-|saliency| pixels whose replacement changes the top-1 class, on the grid
``linspace(1/steps, 1, steps)``; NaN when none does), on the curve backgrounds the
*deletion* and *insertion* curves of the class probability and their areas (on ROAD's
imputation its own protocol: deletion and least-relevant-first removal, and their gap).

Equal budgets
    Every black-box method (:data:`leg.harness.profiles.BLACK_BOX`: leg, leg-tv, lime,
    kernel-shap, occlusion, rise) gets the same ``budget`` of model evaluations; each
    explanation's own count (``n_evaluations``) is recorded and shown in the report.
    LEG and LEG-TV share one set of samples (LEG-TV is a different solve of the same
    responses). Gradient methods use their default numbers of gradient evaluations.

Computed once, resumable
    The maps go through :func:`leg.harness.engine.jobs.compute_explanations` (on-disk cache);
    the scores of each (map, background) are a :class:`ScoreJob` unit whose result is
    written to :class:`leg.harness.engine.cache.ResultCache` as soon as it is computed, so an
    interrupted run recomputes neither. The tests only read :class:`PerturbationResults`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from leg.harness.checks.faithfulness.imputation import (
    ORDERS,
    NoisyLinearImputer,
    noisy_linear_imputation,
    unit_ranks,
)
from leg.harness.checks.faithfulness.removal import (
    area_under_curve,
    background,
    pixel_counts,
)
from leg.harness.checks.map_scores import model_dependence
from leg.harness.checks.metrics import metric as metric_of
from leg.harness.checks.statistics import min_images_for
from leg.harness.checks.verdicts import Leaderboard, Verdict, rank
from leg.harness.engine.cache import ResultCache, result_key
from leg.harness.engine.executors import JobOutput
from leg.harness.engine.inputs import load_model_once
from leg.harness.engine.jobs import run_jobs
from leg.harness.engine.maps import MapResults, explain_plans, price_maps
from leg.harness.engine.pipeline import Pipeline, image_ids, input_shape
from leg.harness.engine.suite import Cell, Check, Suite
from leg.harness.methods import METHODS, ours, record
from leg.harness.profiles import PerturbationPlan, Profile, cell_size_for
from leg.models import evaluate

__all__ = [
    "SCORE_VERSION",
    "PerturbationCase",
    "PerturbationResults",
    "ScoreItem",
    "ScoreJob",
    "add_to_report",
    "curve_kinds",
    "keysize_statistics",
    "leaderboards",
    "matrix_verdicts",
    "plan_cases",
    "reliability",
    "run_perturbation",
    "run_score_job",
]

SCORE_VERSION = 4  # bump when the meaning of a stored score changes
#: Masked images per model call, and so the early-stopping step of a key-size scan: a scan
#: evaluates on average half a batch past its answer, so a small batch wastes little (a Lite0
#: image costs the same in a batch of 16 as in one of 64).
SCAN_BATCH = 16
#: Threads imputing a batch of ROAD's masked images: one per core this process may use.
IMPUTATION_THREADS = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1)
#: The curve numbers of a score row (None where the background has no curves).
CURVE_METRICS = ("deletion_auc", "insertion_auc", "lerf_auc", "road_gap")


@dataclass(frozen=True)
class PerturbationCase:
    """One parametrized test: ``model`` x ``image`` x ``method`` x ``background``."""

    model: str
    image: str
    method: str
    background: str
    curves: bool  # the deletion/insertion curves are computed on this background
    key_size: bool = True  # the key size is computed on this background

    @property
    def id(self) -> str:
        return f"{self.model}-{self.image}-{self.method}-{self.background}"


def matched_cell(plan: PerturbationPlan, shape) -> int:
    """The plan's matched granularity in pixels per cell side for images of ``shape``."""
    return cell_size_for(plan.matched_cell, shape)


def plan_cases(profile: Profile, images_dir: str | None = None) -> list[PerturbationCase]:
    """Every (model, image, method, background) case of ``profile`` (models not loaded)."""
    out = []
    for plan in profile.perturbation:
        for img in image_ids(plan.spec, plan.n_images, images_dir):
            for method in profile.perturbation_methods:
                for bg in plan.scored():
                    out.append(PerturbationCase(plan.spec, img, method, bg,
                                                bg in plan.curve_backgrounds,
                                                bg in plan.backgrounds))
    return out


def alpha_grid(steps: int) -> np.ndarray:
    """The key-size grid ``linspace(1/steps, 1, steps)`` (1000 steps: the authors' grid)."""
    return np.linspace(1.0 / steps, 1.0, int(steps))


# ------------------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class ScoreItem:
    """Score one map on one background: the key size when ``key_size``, the curves when
    ``curves``.

    ``matched_cell``: score at the matched granularity too (cells of that many pixels,
    removed whole; ``None``: not); ``pixel``: score at pixel granularity (never for
    ``road``, the noisy linear imputation, which is scored matched only) with
    ``pixel_alpha_steps`` steps (default ``alpha_steps``).
    """

    key: str
    image: np.ndarray = field(repr=False, compare=False)
    saliency: np.ndarray = field(repr=False, compare=False)
    target: int
    background: str
    curves: bool
    alpha_steps: int
    curve_steps: int
    k: int
    seed: int
    matched_cell: int | None = None
    pixel: bool = True
    pixel_alpha_steps: int | None = None
    key_size: bool = True
    search: str = "scan"

    @property
    def pixel_steps(self) -> int:
        """The key-size grid's steps at pixel granularity (``alpha_steps`` by default)."""
        return self.pixel_alpha_steps or self.alpha_steps


@dataclass(frozen=True)
class ScoreJob:
    """Score items of one model (``model_spec``), results in ``cache_root``'s ResultCache.

    The items of a job share one image (one job per image), so identical masked images
    are evaluated once for the whole job (:class:`MaskedScorer`)."""

    model_spec: str
    items: tuple[ScoreItem, ...]
    cache_root: str

    @property
    def label(self) -> str:
        return f"scores:{self.model_spec}"

    @property
    def cache(self) -> ResultCache:
        return ResultCache(self.cache_root)


def score_key(*, explanation: str, background: str, curves: bool, alpha_steps: int,
              curve_steps: int, k: int, seed: int, matched_cell: int | None = None,
              pixel: bool = True, pixel_alpha_steps: int | None = None,
              key_size: bool = True, search: str = "scan") -> str:
    """Key of one (map, background) score; every argument changes it (the default scan
    leaves the key as it was before bisection existed)."""
    extra = {} if search == "scan" else {"search": search}
    return result_key(kind="perturbation", version=SCORE_VERSION, explanation=explanation,
                      background=background, curves=curves, alpha_steps=alpha_steps,
                      curve_steps=curve_steps, k=k, seed=seed, matched_cell=matched_cell,
                      pixel=pixel, pixel_alpha_steps=pixel_alpha_steps, key_size=key_size,
                      **extra)


def granularity(cell: int | None) -> str:
    """The ``granularity`` column: ``"pixel"`` (``cell=None``) or ``"cells:<px>"``."""
    return "pixel" if cell is None else f"cells:{int(cell)}"


class _Fill:
    """What replaces the removed pixels of one image: a fixed background image or ROAD's
    noisy linear imputation (seeded). ``id`` names it for deduplication."""

    def __init__(self, image: np.ndarray, kind: str, saliency: np.ndarray, k: int, seed: int):
        self.image = image
        if kind == "road":
            self.impute = NoisyLinearImputer(seed=seed)
            self.bg = None
            self.id = ("road", seed)
        else:
            self.impute = None
            self.bg = background(image, saliency, kind, k=k, seed=seed)
            self.id = ("bg", hashlib.blake2b(self.bg.tobytes(), digest_size=16).hexdigest())
        self.road = kind == "road"

    def apply(self, removed: np.ndarray) -> np.ndarray:
        """``(H, W, C)``: the image with its ``removed`` ``(H, W)`` pixels filled."""
        if self.impute is not None:
            return self.impute(self.image, removed)
        return np.where(removed[..., None], self.bg, self.image)

    def apply_all(self, masks: list[np.ndarray]) -> np.ndarray:
        """``(n, H, W, C)``: :meth:`apply` to each of ``masks``. ROAD's imputations run on
        every core (its sparse solves release the GIL; each is seeded, so the result does
        not depend on the order)."""
        if self.impute is None or len(masks) < 2:
            return np.stack([self.apply(m) for m in masks])
        return np.stack(list(_imputation_pool().map(self.apply, masks)))


@functools.cache
def _imputation_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(IMPUTATION_THREADS, thread_name_prefix="leg-road")


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=_imputation_pool.cache_clear)


class MaskedScorer:
    """Scores the masked versions of one image, each distinct masked image once.

    A masked image is named by its fill (:class:`_Fill`, e.g. the hash of the background
    image) and a hash of its removed-pixel mask (the unperturbed image by ``"none"``
    whatever the fill), so identical masked images of different methods, granularities
    and orders are evaluated (and imputed) once. ``evaluations`` counts the images the
    model saw. Stores the top-1 class and the ``target``'s score of each.
    """

    def __init__(self, classifier, target: int):
        self.classifier = classifier
        self.target = int(target)
        self.memo: dict = {}
        self.evaluations = 0

    def _key(self, fill: _Fill, removed: np.ndarray):
        if not removed.any():
            return ("none",)
        return (fill.id, hashlib.blake2b(np.packbits(removed).tobytes(),
                                         digest_size=16).hexdigest())

    def score(self, fill: _Fill, masks) -> tuple[np.ndarray, np.ndarray]:
        """``(top1 (n,), target score (n,))`` of the image with each of ``masks``
        (``n`` bool ``(H, W)`` arrays, True = removed) filled by ``fill``."""
        masks = list(masks)
        keys = [self._key(fill, m) for m in masks]
        todo = {}
        for key, m in zip(keys, masks, strict=True):
            if key not in self.memo and key not in todo:
                todo[key] = m
        pending = list(todo.items())
        for start in range(0, len(pending), SCAN_BATCH):
            chunk = pending[start:start + SCAN_BATCH]
            imgs = fill.apply_all([m for _, m in chunk])
            scores = evaluate(self.classifier, imgs)
            self.evaluations += len(chunk)
            for (key, _), row in zip(chunk, scores, strict=True):
                self.memo[key] = (int(np.argmax(row)), float(row[self.target]))
        got = [self.memo[k] for k in keys]
        return (np.array([g[0] for g in got], dtype=np.int64),
                np.array([g[1] for g in got], dtype=np.float64))


def _distinct_counts(rank: np.ndarray, alphas) -> tuple[np.ndarray, np.ndarray]:
    """``(distinct unit counts in grid order, the grid index where each first appears)``."""
    counts = pixel_counts(alphas, int(rank.max()) + 1)
    distinct, first = np.unique(counts, return_index=True)
    order = np.argsort(first)
    return distinct[order], first[order]


def scan_key_size(scorer: MaskedScorer, fill: _Fill, rank: np.ndarray, alphas) -> float:
    """The smallest alpha (first in grid order) whose removal of the units with ``rank <
    ceil(alpha * units)`` changes the top-1 class; NaN when none does.

    ``rank``: ``(H, W)`` removal positions
    (:func:`leg.harness.checks.faithfulness.imputation.unit_ranks`; pixels
    or cells). Only distinct counts are evaluated (at most one per unit), ``SCAN_BATCH``
    at a time in grid order, stopping after the first batch with a change:
    :func:`leg.harness.checks.faithfulness.removal.key_size`'s answer for pixel ranks and a
    background.
    """
    label = scorer.score(fill, [np.zeros(rank.shape, dtype=bool)])[0][0]
    distinct, first = _distinct_counts(rank, alphas)
    for start in range(0, len(distinct), SCAN_BATCH):
        top1, _ = scorer.score(fill, (rank < c for c in distinct[start:start + SCAN_BATCH]))
        changed = np.flatnonzero(top1 != label)
        if len(changed):
            return float(alphas[first[start + changed[0]]])
    return float("nan")


def search_key_size(scorer: MaskedScorer, fill: _Fill, rank: np.ndarray, alphas) -> float:
    """:func:`scan_key_size`'s answer found by a batched bisection, assuming the class, once
    changed, stays changed as more units are removed (monotone): each round evaluates up to
    ``SCAN_BATCH`` evenly spaced counts of the interval still open (the first round
    includes the largest count: if it does not change the class, nothing does: NaN) and
    keeps the part between the last unchanged and the first changed count. About
    ``SCAN_BATCH * log(counts) / log(SCAN_BATCH)`` evaluations instead of a scan's half of the
    grid; where the flip is not monotone it can answer a later flip than the scan
    (measured by ``benchmarks/bench_keysize_search.py``)."""
    label = scorer.score(fill, [np.zeros(rank.shape, dtype=bool)])[0][0]
    distinct, first = _distinct_counts(rank, alphas)
    lo, hi = 0, len(distinct)  # the answer is in [lo, hi]; hi == len: not found yet
    found = False
    while lo < hi:
        idx = np.unique(np.linspace(lo, hi - 1, min(SCAN_BATCH, hi - lo)).round().astype(int))
        top1, _ = scorer.score(fill, (rank < distinct[i] for i in idx))
        changed = np.flatnonzero(top1 != label)
        if not len(changed):
            if not found:
                return float("nan")  # the largest count left the class as it was
            lo = int(idx[-1]) + 1
            continue
        found = True
        j = int(changed[0])
        hi = int(idx[j])
        lo = int(idx[j - 1]) + 1 if j else lo
    return float(alphas[first[hi]]) if found else float("nan")


#: How a key size is searched: every count in order, or by bisection (monotone flips).
SEARCHES = {"scan": scan_key_size, "bisect": search_key_size}


def curve_kinds(background: str) -> tuple[str, str]:
    """The two curves scored on ``background``: ``("deletion", "insertion")`` on a fixed
    background, ``("deletion", "lerf")`` on ROAD's imputation (its own protocol)."""
    return ("deletion", "lerf" if background == "road" else "insertion")


def _curve_label(kind: str) -> str:
    return "LeRF" if kind == "lerf" else kind


def score_curves(scorer: MaskedScorer, fill: _Fill, saliency: np.ndarray, steps: int,
                 cell: int | None) -> dict:
    """Curves of the target score at fractions ``linspace(0, 1, steps + 1)`` of the units
    (pixels, or cells of ``cell`` px) and their areas: deletion (most relevant first) and
    insertion on a fixed background; with ROAD's imputation (``fill`` of ``road``) its own
    protocol instead, deletion and least-relevant-first removal, and ``road_gap = lerf_auc
    - deletion_auc``. (Nothing reads a LeRF curve on a fixed background; insertion under
    ROAD would impute all but the top units, which is not ROAD's protocol.)"""
    fr = np.linspace(0.0, 1.0, steps + 1)
    orders = ORDERS if fill.road else ("morf",)
    ranks = {o: unit_ranks(saliency, order=o, grid=cell) for o in orders}
    counts = pixel_counts(fr, int(ranks["morf"].max()) + 1)
    curves = [("deletion", (ranks["morf"] < c for c in counts))]
    if fill.road:  # the kinds of curve_kinds
        curves.append(("lerf", (ranks["lerf"] < c for c in counts)))
    else:
        curves.append(("insertion", (ranks["morf"] >= c for c in counts)))
    out = {}
    for name, masks in curves:
        probs = scorer.score(fill, masks)[1]
        out[name] = [float(p) for p in probs]
        out[f"{name}_auc"] = area_under_curve(fr, probs)
    if fill.road:
        out["road_gap"] = out["lerf_auc"] - out["deletion_auc"]
    return out


def score_map(clf, item: ScoreItem, scorer: MaskedScorer | None = None) -> dict:
    """Key size and/or curves of one map, at pixel granularity (``item.pixel``) and at the
    matched one (``item.matched_cell``): ``{"pixel": {...} | None, "matched": {...} | None,
    "cell", "evaluations", "seconds"}`` (``"key_size"`` absent where not asked for).
    ``scorer`` (shared by a job's items) dedupes the masked images; ``evaluations`` counts
    the model calls this item added."""
    t0 = time.perf_counter()
    scorer = scorer or MaskedScorer(clf, item.target)
    before = scorer.evaluations
    fill = _Fill(item.image, item.background, item.saliency, item.k, item.seed)
    out: dict = {"pixel": None, "matched": None, "cell": item.matched_cell}
    grains = ([("pixel", None)] if item.pixel and item.background != "road" else []) + (
        [("matched", item.matched_cell)] if item.matched_cell is not None else [])
    if not grains:
        raise ValueError(f"Nothing to score: {item.background!r} is scored at the matched "
                         "granularity only, and the item has no matched_cell.")
    if not (item.key_size or item.curves):
        raise ValueError("Nothing to score: the item asks for neither key size nor curves.")
    for name, cell in grains:
        scores = {}
        if item.key_size:
            rank = unit_ranks(item.saliency, order="morf", grid=cell)
            steps = item.pixel_steps if cell is None else item.alpha_steps
            scores["key_size"] = SEARCHES[item.search](scorer, fill, rank, alpha_grid(steps))
        if item.curves:
            scores.update(score_curves(scorer, fill, item.saliency, item.curve_steps, cell))
        out[name] = scores
    out["evaluations"] = scorer.evaluations - before
    out["seconds"] = time.perf_counter() - t0
    return out


def score_job(job: ScoreJob, done: frozenset[str] = frozenset()) -> Iterator[JobOutput]:
    """Score the job's items whose keys are not in ``done``, wherever the job runs: yields
    ``(key, "computed", seconds, encoded result)`` per item, or ``(key, "error: <message>",
    0.0, None)`` for an item that raised (the others go on). See
    :mod:`leg.harness.engine.executors`.
    """
    todo = [it for it in job.items if it.key not in done]
    if not todo:
        return
    clf = load_model_once(job.model_spec)
    scorers: dict[int, MaskedScorer] = {}  # per target (one image per job: one target)
    for it in todo:
        try:
            scorer = scorers.setdefault(it.target, MaskedScorer(clf, it.target))
            value = score_map(clf, it, scorer)
        except Exception as exc:  # reported per item; the others go on
            yield it.key, f"error: {type(exc).__name__}: {exc}", 0.0, None
            continue
        yield it.key, "computed", value["seconds"], ResultCache.encode(it.key, value)


def run_score_job(job: ScoreJob) -> list[tuple[str, str]]:
    """Compute and store the job's missing scores in this process: ``(key, "cached" |
    "computed" | "error: <message>")`` per item."""
    return [(k, st) for k, (st, _) in run_jobs([job], score_job).items()]


# ------------------------------------------------------------------------------ running
@dataclass
class PerturbationResults(MapResults):
    """Everything the perturbation tests assert on and the report shows: the maps
    (:class:`~leg.harness.engine.maps.MapResults`) and their scores."""

    keysize: list[dict] = field(default_factory=list)  # model, image, method, background, ...
    curves: list[dict] = field(default_factory=list)  # model, image, method, kind, alpha, ...
    scores: list[dict] = field(default_factory=list)  # metric rows (regression shape)
    matched: dict = field(default_factory=dict)  # model -> "cells:<px>", its granularity
    score_evaluations: dict = field(default_factory=dict)  # (model, image, method, bg) -> n

    def case(self, case: PerturbationCase, granularity: str | None = None) -> dict | None:
        """The case's score row at ``granularity`` (default: the model's matched one)."""
        gran = granularity or self.matched.get(case.model)
        for r in self.keysize:
            if (r["model"], r["image"], r["method"], r["background"],
                    r.get("granularity")) == (case.model, case.image, case.method,
                                              case.background, gran):
                return r
        return None

    def key_size_rows(self) -> list[dict]:
        """The rows of :attr:`keysize` that have a key size (a curve-only background's
        have ``key_size`` None)."""
        return [r for r in self.keysize if r["key_size"] is not None]


def run_perturbation(profile: Profile, *, cache_root: str, images_dir: str | None = None,
                     executor=None) -> PerturbationResults:
    """Compute (or read from the caches) every map and score of ``profile.perturbation``."""
    res = PerturbationResults(profile=profile)
    return SUITE.run(Pipeline(profile, res, cache_root=cache_root, images_dir=images_dir,
                              executor=executor))


def _explain(pipe: Pipeline) -> tuple[dict, dict]:
    """Every map of the plans (:func:`leg.harness.engine.maps.explain_plans`) and each
    model's matched granularity: ``(spec -> (plan, methods), (model, image, method) ->
    explanation key)``."""
    ran, index = explain_plans(pipe)
    for spec, (plan, _, shape) in ran.items():
        pipe.result.matched[spec] = granularity(matched_cell(plan, shape))
    return {spec: (plan, methods) for spec, (plan, methods, _) in ran.items()}, index


def _score(pipe: Pipeline, plans: dict, index: dict) -> None:
    """Every score of every map, through ``pipe``, read back into ``pipe.result``."""
    res, profile = pipe.result, pipe.profile
    t0 = time.perf_counter()
    score_jobs, sindex = [], {}
    for spec, (plan, _) in plans.items():
        by_image: dict[str, list[ScoreItem]] = {}  # one job per image, as for the maps
        cell = int(res.matched[spec].removeprefix("cells:"))
        pixel_bgs = plan.pixel_scored()
        for (model, img_id, method), sal in res.maps.items():
            if model != spec:
                continue
            items = by_image.setdefault(img_id, [])
            for bg in plan.scored():
                curves, ks = bg in plan.curve_backgrounds, bg in plan.backgrounds
                key = score_key(explanation=index[(model, img_id, method)], background=bg,
                                curves=curves, alpha_steps=plan.alpha_steps,
                                curve_steps=plan.curve_steps, k=plan.k, seed=profile.seed,
                                matched_cell=cell, pixel=bg in pixel_bgs,
                                pixel_alpha_steps=plan.pixel_alpha_steps, key_size=ks,
                                search=plan.search)
                sindex[(model, img_id, method, bg)] = key
                items.append(ScoreItem(key, res.images[(model, img_id)], sal,
                                       res.targets[(model, img_id)], bg, curves,
                                       plan.alpha_steps, plan.curve_steps, plan.k,
                                       profile.seed, cell, bg in pixel_bgs,
                                       plan.pixel_alpha_steps, ks, plan.search))
        score_jobs += [ScoreJob(spec, tuple(its), pipe.cache_root) for its in by_image.values()]
    entries = pipe.run(score_jobs, sindex, produce=score_job, desc="scores",
                       cache=ResultCache(pipe.cache_root), stats="scores")
    res.timings["score"] = time.perf_counter() - t0
    for (model, img_id, method, bg), entry in entries.items():
        res.score_evaluations[(model, img_id, method, bg)] = entry.get("evaluations")
        for level in ("pixel", "matched"):
            sc = entry.get(level)
            if not sc:
                continue
            gran = granularity(None if level == "pixel" else entry["cell"])
            ks = None  # not asked for on this background
            if "key_size" in sc:  # a stored None is a key set not found (JSON has no NaN)
                ks = float("nan") if sc["key_size"] is None else float(sc["key_size"])
            res.keysize.append({"model": model, "image": img_id, "method": method,
                                "background": bg, "granularity": gran, "key_size": ks,
                                **{m: sc.get(m) for m in CURVE_METRICS}})
            stage = f"{bg}@{gran}"
            if ks is not None:
                res.scores.append(_score_row("keysize", model, img_id, method, stage,
                                             "key_size", ks))
            plan = plans[model][0]
            alphas = np.linspace(0.0, 1.0, plan.curve_steps + 1)
            for kind in ("deletion", "insertion", "lerf"):
                if kind not in sc:
                    continue
                res.curves += [{"model": model, "image": img_id, "method": method,
                                "background": bg, "granularity": gran, "kind": kind,
                                "alpha": float(a), "probability": float(p)}
                               for a, p in zip(alphas, sc[kind], strict=True)]
                res.scores.append(_score_row(kind, model, img_id, method, stage,
                                             f"{kind}_auc", sc[f"{kind}_auc"]))
            if sc.get("road_gap") is not None:
                res.scores.append(_score_row("road-gap", model, img_id, method, stage,
                                             "road_gap", sc["road_gap"]))


def _score_row(check, model, image, method, bg, metric, value) -> dict:
    return {"check": check, "model": model, "image": image, "method": method, "stage": bg,
            "metric": metric, "value": float(value),
            "higher_is_better": metric_of(metric).higher_is_better}


# ---------------------------------------------------------------------------- statistics
#: A key size not found (no alpha changed the class) counts as this: worse than any found.
NOT_FOUND = 1.0 + 1e-9


def _nan_last(values) -> np.ndarray:
    """Key sizes with NaN (no change found) counted as :data:`NOT_FOUND`."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(v), NOT_FOUND, v)


def median_key_size(rows, **match) -> float:
    vals = [r["key_size"] for r in rows if r["key_size"] is not None
            and all(r[k] == v for k, v in match.items())]
    return float(np.median(_nan_last(vals))) if vals else float("nan")


def _groups(res: PerturbationResults, rows) -> list[tuple[str, str, str, str]]:
    """Sorted ``(model, granularity, background, method)`` of ``rows``."""
    return sorted({(r["model"], r.get("granularity", "pixel"), r["background"], r["method"])
                   for r in rows},
                  key=lambda k: (k[0], k[1] == "pixel", k[1], k[2], _method_order(res, k[3])))


def _rows(res: PerturbationResults, model, gran, bg, method) -> list[dict]:
    return [r for r in res.keysize if (r["model"], r.get("granularity", "pixel"),
                                       r["background"], r["method"]) == (model, gran, bg,
                                                                         method)]


def keysize_statistics(res: PerturbationResults) -> list[dict]:
    """Per model, granularity, background and method: count, NaN count, mean, std,
    quartiles (finite)."""
    out = []
    for model, gran, bg, method in _groups(res, res.key_size_rows()):
        vals = np.array([r["key_size"] for r in _rows(res, model, gran, bg, method)])
        fin = vals[np.isfinite(vals)]
        q = np.quantile(fin, [0.25, 0.5, 0.75]) if len(fin) else [np.nan] * 3
        out.append({"model": model, "granularity": gran, "background": bg, "method": method,
                    "count": int(len(fin)), "not_found": int(np.isnan(vals).sum()),
                    "mean": float(fin.mean()) if len(fin) else None,
                    "std": float(fin.std(ddof=1)) if len(fin) > 1 else None,
                    "min": float(fin.min()) if len(fin) else None,
                    "25%": float(q[0]), "50%": float(q[1]), "75%": float(q[2]),
                    "max": float(fin.max()) if len(fin) else None})
    return out


def _method_order(res, method) -> int:
    order = list(res.profile.perturbation_methods)
    return order.index(method) if method in order else len(order)


def auc_summary(res: PerturbationResults) -> list[dict]:
    """Per model, granularity, background and method: median curve areas, ROAD gap and key
    size."""
    out = []
    for model, gran, bg, method in _groups(
            res, [r for r in res.keysize if r.get("deletion_auc") is not None]):
        rows = _rows(res, model, gran, bg, method)
        out.append({"model": model, "granularity": gran, "background": bg, "method": method,
                    "images": len(rows),
                    **{m: float(np.median([r[m] for r in rows])) for m in CURVE_METRICS
                       if all(r.get(m) is not None for r in rows)},
                    "key_size_median": median_key_size(rows)})
    return out


def budget_summary(res: PerturbationResults) -> list[dict]:
    """Per model and method: the budget and the recorded model evaluations (min, max), and
    the model evaluations its scoring added (mean per image, after deduplication)."""
    out = []
    for model, method in sorted({(r["model"], r["method"]) for r in res.explanations},
                                key=lambda k: (k[0], _method_order(res, k[1]))):
        rows = [r for r in res.explanations if (r["model"], r["method"]) == (model, method)]
        ev = [r["n_evaluations"] for r in rows if r["n_evaluations"] is not None]
        scored = {}
        for (m, img, meth, _), n in res.score_evaluations.items():
            if (m, meth) == (model, method) and n is not None:
                scored[img] = scored.get(img, 0) + n
        out.append({"model": model, "method": method, "budget": rows[0]["budget"],
                    "n_evaluations_min": min(ev) if ev else None,
                    "n_evaluations_max": max(ev) if ev else None,
                    "seconds_per_map": float(np.mean([r["seconds"] or 0.0 for r in rows])),
                    "scoring_evaluations_per_image": (float(np.mean(list(scored.values())))
                                                      if scored else None)})
    return out


# ------------------------------------------------------------------------------ verdicts
#: The floor every comparison is paired with: the random map at LEG's granularity (the
#: method whose record says ``floor``).
FLOOR = next(name for name, m in METHODS.items() if m.floor)

#: Matrix check -> (score column, higher is better, backgrounds it uses: "all" the key-size
#: ones, "curves" the curve ones, "road" only ROAD's).
CHECK_METRICS = {
    "key-size": ("key_size", False, "all"),
    "deletion": ("deletion_auc", False, "curves"),
    "insertion": ("insertion_auc", True, "curves"),
    "road-gap": ("road_gap", True, "road"),
}

def _shown(key_size: float) -> float:
    """A median key size for display: NaN where the median image found no key set."""
    return key_size if key_size <= 1.0 else float("nan")


def _said(median: float) -> str:
    """A median for a verdict's text: NaN (no key set found) said in words."""
    return f"{median:.3g}" if np.isfinite(median) else "none (no key set found)"


def per_image_values(res: PerturbationResults, model: str, method: str, check: str,
                     granularity: str | None = None) -> dict[str, float]:
    """``image -> value`` of ``method`` on ``check`` at ``granularity`` (default: the model's
    matched one): the median over the check's backgrounds of that image (key size: a key set
    not found counts as :data:`NOT_FOUND`, worse than any found)."""
    metric, _, which = CHECK_METRICS[check]
    gran = granularity or res.matched.get(model)
    per: dict[str, list[float]] = {}
    for r in res.keysize:
        if (r["model"], r["method"], r.get("granularity")) != (model, method, gran):
            continue
        if which == "road" and r["background"] != "road":
            continue
        v = r.get(metric)
        if v is None:
            continue
        per.setdefault(r["image"], []).append(
            float(_nan_last(v)) if metric == "key_size" else float(v))
    return {img: float(np.median(v)) for img, v in sorted(per.items())}


def paired_comparison(res: PerturbationResults, model: str, method: str, check: str,
                      granularity: str | None = None, reference: str = FLOOR,
                      rule: str = "compare"):
    """:func:`leg.harness.checks.statistics.compare_paired` of ``method`` against ``reference`` on
    the images both were scored on (Wilcoxon, seeded by the profile; ``rule="require"`` for
    an asserted check: not shown better with enough images is a failure), or ``None`` when
    they share no image."""
    from leg.harness.checks.statistics import compare_paired

    mine = per_image_values(res, model, method, check, granularity)
    ref = per_image_values(res, model, reference, check, granularity)
    common = [i for i in mine if i in ref]
    if not common:
        return None
    return compare_paired([mine[i] for i in common], [ref[i] for i in common],
                          higher_is_better=CHECK_METRICS[check][1], rule=rule,
                          seed=res.profile.seed)


def _checks_of(plan: PerturbationPlan) -> list[str]:
    return [c for c in CHECK_METRICS if c != "road-gap" or "road" in plan.curve_backgrounds]


def planned_cells(profile: Profile) -> list[tuple[str, str, str]]:
    """``(model, method, check)`` of every matrix cell this suite would fill for ``profile``
    (shown as "not run" when the suite did not run)."""
    return [(plan.spec, method, check) for plan in profile.perturbation
            for method in profile.perturbation_methods for check in _checks_of(plan)]


_VERDICT = {"pass": "pass", "fail": "fail", "not significant": "not-significant"}
#: What a control can win here, and how its verdict prevents it.
_CONTROL_GAME = ("a map made without the model (the edge map) beats the floor where the "
                 "object's edges are what the model uses: a control's pass reads uninformative")


def matrix_verdicts(res: PerturbationResults) -> list[Verdict]:
    """Per model, method and check (key size, deletion, insertion, ROAD gap), at the model's
    matched granularity: a paired comparison with ``random-cells`` over the images
    (:func:`paired_comparison`), with ``n_images``, the CI of the median paired difference
    and the p-value. The checks a method's record lists as ``asserted`` (LEG's and LEG-TV's
    key size and deletion) claim the method beats the floor: pass when shown, fail when not
    (at least 5 images), undecided with fewer; a failure the plan expects
    (``expected_failures``, with its measured reason) reads "expected-failure". The others
    are reported: pass (significantly better), fail (significantly worse), not significant,
    or undecided (fewer than 5 images). A control (the edge or random map, made without
    the model) that would pass reads "uninformative": an image's edges can lie on what the
    model uses, and a perturbation check cannot tell."""
    out = []
    methods = res.profile.perturbation_methods
    users = res.profile.user_methods
    for plan in res.profile.perturbation:
        model = plan.spec
        if not any(m == model for m, _ in res.images):
            continue
        gran = res.matched.get(model)
        for check in _checks_of(plan):
            metric, higher, _ = CHECK_METRICS[check]
            shown = _shown if metric == "key_size" else (lambda v: v)
            floor_vals = per_image_values(res, model, FLOOR, check)
            for method in methods:
                is_asserted = check in record(method, users).asserted
                cmp = (paired_comparison(res, model, method, check, rule="require"
                                         if is_asserted else "compare") if floor_vals
                       else None)
                if cmp is None:
                    why = res.skipped.get((model, method)) or (
                        f"{FLOOR} was not scored" if not floor_vals
                        else "no score (see the failures)")
                    out.append(Verdict(model, method, check, "not-run", asserted=is_asserted,
                                       detail=why))
                    continue
                if method == FLOOR:
                    out.append(Verdict(model, method, check, "reference",
                                       shown(cmp.reference_median), higher_is_better=higher,
                                       n_images=cmp.n_images,
                                       detail=f"the random map at LEG's granularity: the "
                                              f"floor ({gran})"))
                    continue
                verdict_ = ("undecided" if cmp.n_images < min_images_for()
                            else _VERDICT[cmp.verdict])
                expected = plan.expected_failures.get(check)
                if verdict_ == "fail" and is_asserted and expected:
                    verdict_ = "expected-failure"
                # the metric families' gate without the sanity suite's verdicts: only a
                # control (a map made without the model) is caught; its pass is no evidence
                depends, why = model_dependence({}, res.profile, model, method)
                control = verdict_ == "pass" and not depends
                if control:
                    verdict_ = "uninformative"
                out.append(Verdict(
                    model, method, check, verdict_, shown(cmp.method_median),
                    shown(cmp.reference_median), higher, is_asserted,
                    f"{gran}: median {_said(shown(cmp.method_median))} against {FLOOR}'s "
                    f"{_said(shown(cmp.reference_median))}; {cmp.summary()}"
                    + (f"; expected: {expected}" if verdict_ == "expected-failure" else "")
                    + (f"; model dependence: {why}" if control else ""),
                    **cmp.row()))
    return out


def _comparison(metric: str, background: str) -> str:
    return f"{metric} / {background}"


def reliability(res: PerturbationResults) -> tuple[list[dict], list[dict]]:
    """How far the matched-granularity comparisons can be trusted (Tomsett et al., 2020):
    per model and comparison (metric / background) Kendall's W of the methods' per-image
    scores, images as raters, with Friedman's p-value; and per model the agreement (Kendall's
    tau-b, +1: the same order of merit) of every pair of comparisons
    (:func:`leg.harness.checks.agreement.reliability_rows`). ``random`` (pixel noise) is left out:
    it is no method whose rank matters. A key set not found counts as :data:`NOT_FOUND`."""
    from leg.harness.checks.agreement import reliability_rows

    rows = []
    for r in res.keysize:
        if r.get("granularity") != res.matched.get(r["model"]) or r["method"] == "random":
            continue
        for metric in ("key_size", *CURVE_METRICS):
            v = r.get(metric)
            if v is None or metric == "lerf_auc":
                continue
            if metric == "road_gap" and r["background"] != "road":  # as its verdict
                continue
            rows.append({"model": r["model"], "comparison": _comparison(metric, r["background"]),
                         "image": r["image"], "method": r["method"],
                         "value": float(_nan_last(v)) if metric == "key_size" else v,
                         "higher_is_better": metric in ("insertion_auc", "road_gap")})
    return reliability_rows(rows)


def _w_text(row: dict | None) -> str:
    if row is None or not np.isfinite(row["kendalls_w"]):
        return ""
    return f"{row['kendalls_w']:.2f} (p {row['p_value']:.2g}, {row['n_images']} images)"


def leaderboards(res: PerturbationResults) -> list[Leaderboard]:
    """Per model, at its matched granularity: the methods ranked by median key size on each
    background, by median deletion and insertion areas on each curve background and by the
    ROAD gap, each with the bootstrap CI of the median over images, and under each ranking
    Kendall's W of the images' rankings (:func:`reliability`)."""
    from leg.harness.checks.statistics import median_ci

    out = []
    seed = res.profile.seed
    concordance = {(r["model"], r["comparison"]): r for r in reliability(res)[0]}
    for check, title in (("key-size", "key size"), ("deletion", "deletion area"),
                         ("insertion", "insertion area"), ("road-gap", "ROAD gap (LeRF - "
                                                                       "MoRF area)")):
        metric, higher, which = CHECK_METRICS[check]
        rows = [r for r in res.keysize if r.get("granularity") == res.matched.get(r["model"])
                and r.get(metric) is not None
                and (which != "road" or r["background"] == "road")]
        for model, bg in dict.fromkeys((r["model"], r["background"]) for r in rows):
            values = {}
            for method in dict.fromkeys(r["method"] for r in rows):
                vals = [r[metric] for r in rows if (r["model"], r["background"], r["method"])
                        == (model, bg, method)]
                if not vals:
                    continue
                if metric == "key_size":
                    found = sum(bool(np.isfinite(v)) for v in vals)
                    med, lo, hi = median_ci(_nan_last(vals), seed)
                    values[method] = (_shown(med), f"{found}/{len(vals)} found", _shown(lo),
                                      _shown(hi))
                else:
                    med, lo, hi = median_ci(vals, seed)
                    values[method] = (med, f"n={len(vals)}", lo, hi)
            out.append(rank(f"{model}: {title}, {res.matched[model]} "
                            f"({'higher' if higher else 'lower'} is better)", bg, metric,
                            higher, values, marked=ours(res.profile.user_methods),
                            reliability=_w_text(
                                concordance.get((model, _comparison(metric, bg))))))
    return out


# ------------------------------------------------------------------------------ report
def _curves_figure(res: PerturbationResults, model: str, bg: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    methods = sorted({r["method"] for r in res.curves if r["model"] == model},
                     key=lambda m: _method_order(res, m))
    kinds = curve_kinds(bg)
    titles = {"deletion": ("top", "removed", "lower"), "insertion": ("top", "revealed", "higher"),
              "lerf": ("bottom", "removed", "higher")}
    for ax, kind in zip(axes, kinds, strict=True):
        for i, method in enumerate(methods):
            rows = [r for r in res.curves if r["model"] == model and r["method"] == method
                    and r["kind"] == kind and r["background"] == bg
                    and r.get("granularity") == res.matched.get(model)]
            if not rows:
                continue
            alphas = sorted({r["alpha"] for r in rows})
            mean = [np.mean([r["probability"] for r in rows if r["alpha"] == a])
                    for a in alphas]
            ours = record(method, res.profile.user_methods).ours
            style = "-" if ours else "--" if method == "random" else ":"
            ax.plot(alphas, mean, style, color=f"C{i % 10}", label=method, lw=2 if ours else 1)
        end, how, better = titles[kind]
        ax.set_xlabel(f"fraction of {end}-|saliency| {res.matched.get(model, 'pixel')} {how}")
        ax.set_title(f"{_curve_label(kind)} ({better} area is better)",
                     fontsize=9)
    axes[0].set_ylabel("probability of the top-1 class (mean over images)")
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{model}: {' and '.join(map(_curve_label, kinds))} curves, {bg} "
                 f"{'imputation' if bg == 'road' else 'background'}, "
                 f"{res.matched.get(model, 'pixel')}", fontsize=9)
    fig.tight_layout()
    return fig


def _masked_figure(res: PerturbationResults, model: str, alphas=(0.01, 0.05, 0.2)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from leg.harness.checks.faithfulness.removal import masked_images

    img_id = sorted(i for (m, i) in res.images if m == model)[0]
    img = res.images[(model, img_id)]
    methods = [m for m, rec in METHODS.items() if rec.figure and (model, img_id, m) in res.maps]
    fig, axes = plt.subplots(len(methods), len(alphas) + 1, squeeze=False,
                             figsize=(1.6 * (len(alphas) + 1), 1.6 * len(methods)))
    grey = img.shape[2] == 1
    for r, method in enumerate(methods):
        sal = res.maps[(model, img_id, method)]
        axes[r, 0].imshow(np.abs(sal), cmap="hot")
        axes[r, 0].set_ylabel(method, fontsize=7)
        bg = background(img, sal, "mean")
        for c, (a, m) in enumerate(zip(alphas, masked_images(img, sal, bg, alphas),
                                       strict=True), start=1):
            axes[r, c].imshow(m[..., 0] if grey else np.clip(m, 0, 1),
                              cmap="gray" if grey else None)
            if r == 0:
                axes[r, c].set_title(f"alpha={a}", fontsize=7)
    if methods:
        axes[0, 0].set_title("|map|", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{model}/{img_id}: top pixels replaced by the mean colour", fontsize=8)
    return fig


def add_to_report(report, res: PerturbationResults) -> None:
    """Tables, sections and figures of the perturbation suites in ``report``."""
    report.add_table("keysize", res.key_size_rows(),
                     columns=["model", "image", "method", "background", "granularity",
                              "key_size"])
    report.add_table("curves", res.curves, columns=["model", "image", "method", "background",
                                                    "granularity", "kind", "alpha",
                                                    "probability"])
    report.add_table("perturbation_scores", res.scores)
    stats = keysize_statistics(res)
    report.add_table("keysize_statistics", stats)
    report.add_table("perturbation_auc", auc_summary(res))
    report.add_table("perturbation_budgets", budget_summary(res))
    concordance, agreement = reliability(res)
    report.add_table("perturbation_concordance", concordance)
    report.add_table("perturbation_agreement", agreement)
    report.add_section(
        "Perturbation size: how reliable are these comparisons?",
        "Following Tomsett et al. (AAAI 2020, \"Sanity checks for saliency metrics\"), at "
        "the matched granularity. *Consistency across images*: Kendall's W of the methods' "
        "per-image scores for each metric and background (images as raters; 1: every image "
        "ranks the methods alike, near 0: the ranking is noise across images), with "
        "Friedman's p-value; a leaderboard whose W is low, or whose p is not small, ranks "
        "the methods by chance (it is also shown under each leaderboard column). "
        "*Agreement between metrics and backgrounds*: Kendall's tau-b between the orders of "
        "merit two comparisons give the methods, per image then averaged (`per_image`) and "
        "of the medians over images (`of_medians`); +1 the same order, 0 unrelated, -1 "
        "reversed. Low agreement means the comparisons answer different questions, and a "
        "method's standing depends on which one is read.", order=19,
        tables=[("perturbation_concordance", None), ("perturbation_agreement", 60)],
        open=True)
    budgets = ", ".join(f"{m}: {b}" for m, b in res.budgets.items())
    matched = ", ".join(f"{m}: {g}" for m, g in res.matched.items())
    text = (
        "Key size: the smallest fraction alpha of the top-|saliency| units whose "
        "replacement by the background changes the top-1 class (lower is better; "
        "`not_found`: no alpha on the grid changed it, excluded from the statistics and "
        "counted as worst in medians). Every map is scored at one matched granularity per "
        f"model ({matched}): pooled to cells (sum of |saliency| per cell), cells ranked and "
        "removed or revealed whole, so that pixel maps and cell maps compete on one scale "
        "(at pixel granularity scattered single pixels flip a CNN's class whatever their "
        "order). The verdicts and leaderboards use the matched scores: per image the median "
        "over backgrounds, compared with random-cells on the same images by a one-sided "
        "paired Wilcoxon test (p < 0.05; fewer than 5 images are never significant), with "
        "the bootstrap CI of the median difference. Pixel-level scores (the first "
        "background only unless the plan says otherwise) are in the tables and CSVs with "
        "`granularity=pixel`. `road`: ROAD's noisy linear imputation (Rong et al., 2022) "
        "of the removed cells; its ROAD gap is the LeRF minus the MoRF area (near 0 for a "
        "map unrelated to the model); a plan may score a background for its curves only. "
        "One table row per model, granularity, background and "
        "method, over the images. Black-box methods (leg, leg-tv, lime, kernel-shap, occlusion, "
        f"rise) ran at the same budget of model evaluations ({budgets}); the recorded "
        "counts are in the budget table. Gradient methods use their default numbers of "
        "gradient evaluations (integrated-gradients and smoothgrad 50). "
        f"Cache: {res.cache_stats}. Skipped: "
        f"{ {f'{k[0]}/{k[1]}': v for k, v in res.skipped.items()} or 'none'}. "
        f"Errors: {len(res.errors)}.")
    report.add_section("Perturbation size: key-size statistics", text, order=20,
                       tables=[("keysize_statistics", None)])
    report.add_section("Perturbation size: deletion / insertion areas and key sizes "
                       "(medians over images)",
                       "Deletion area: lower is better; insertion area and (ROAD) LeRF "
                       "area: higher is better.",
                       order=21, tables=[("perturbation_auc", None)])
    report.add_section("Perturbation size: equal budgets",
                       "Model evaluations recorded per explanation (`n_evaluations`).",
                       order=22, tables=[("perturbation_budgets", None)])
    figs = []
    for plan in res.profile.perturbation:
        if not any(m == plan.spec for m, _ in res.images):
            continue
        for bg in plan.curve_backgrounds:
            name = f"curves_{plan.spec}_{bg}"
            report.add_figure(name, _curves_figure(res, plan.spec, bg),
                              f"{plan.spec}: {'/'.join(map(_curve_label, curve_kinds(bg)))}, "
                              f"{bg} {'imputation' if bg == 'road' else 'background'}")
            figs.append(name)
        name = f"masked_{plan.spec}"
        report.add_figure(name, _masked_figure(res, plan.spec),
                          f"{plan.spec}: masked images")
        figs.append(name)
    report.add_section("Perturbation figures", "Mean curves per method; example masked "
                       "images at a few alpha.", order=23, figures=figs)
    if res.errors:
        err = [{"case": "/".join(k), "error": v} for k, v in sorted(res.errors.items())]
        report.add_table("perturbation_errors", err)
        report.add_section("Perturbation: failures", "", order=24,
                           tables=[("perturbation_errors", 40)], open=True)


def _scan_cost(steps: int, units: int) -> int:
    """Expected model calls of one batched key-size scan: the distinct counts of a
    ``steps`` grid over ``units`` pixels or cells (at most ``min(steps, units)``), the first
    batch (:data:`SCAN_BATCH`) and half of the rest (the
    scan stops at the class change)."""
    distinct = min(int(steps), int(units))
    first = min(distinct, SCAN_BATCH)
    return first + (distinct - first) // 2


@functools.lru_cache(maxsize=8)
def _imputation_seconds(shape: tuple[int, int, int], cell: int) -> float:
    """Seconds of one ROAD imputation of half the ``cell`` px cells of a ``shape`` image
    (timed once per size and cell: the sparse solve grows with the removed area, half is
    the middle)."""
    h, w, c = shape
    rng = np.random.default_rng(0)
    cells = rng.random((-(-h // cell), -(-w // cell))) < 0.5
    mask = np.kron(cells, np.ones((cell, cell), dtype=bool))[:h, :w]
    image = rng.random((h, w, c))
    noisy_linear_imputation(image, mask)  # warm-up: the elimination order is cached
    t0 = time.perf_counter()
    noisy_linear_imputation(image, mask)
    return time.perf_counter() - t0


def price(profile: Profile, images_dir: str | None, models: dict) -> list:
    """The faithfulness suite's work: the maps, then the key-size scans and curves."""
    from leg.harness.engine.plan import Work, plural

    out = []
    methods = profile.perturbation_methods
    maps = iter(price_maps(profile, images_dir, models, "perturbation"))
    for plan in profile.perturbation:
        shape = input_shape(models[plan.spec])
        n_img = len(image_ids(plan.spec, plan.n_images, images_dir))
        out.append(next(maps))
        # matched granularity: every background, at most one call per cell and scan; pixel
        # granularity: the plan's pixel backgrounds only, on their grid. Curves: two per
        # background (deletion and insertion; ROAD: deletion and LeRF). Upper bounds:
        # identical masked images are evaluated once per image
        cell = matched_cell(plan, shape)
        cells = -(-shape[0] // cell) * -(-shape[1] // cell)
        pixel = plan.pixel_scored()
        curves = [(b, g) for b in plan.curve_backgrounds
                  for g in ("matched", "pixel") if g == "matched" or b in pixel]
        per_map = (len(plan.backgrounds) * _scan_cost(plan.alpha_steps, cells)
                   + len(pixel) * _scan_cost(plan.pixel_alpha_steps or plan.alpha_steps,
                                             shape[0] * shape[1])
                   + 2 * len(curves) * (plan.curve_steps + 1))
        # ROAD imputes each of its masked images (a sparse solve, priced by timing one; a
        # batch's imputations run on IMPUTATION_THREADS threads)
        road = ((_scan_cost(plan.alpha_steps, cells) if "road" in plan.backgrounds else 0)
                + (2 * (plan.curve_steps + 1) if "road" in plan.curve_backgrounds else 0))
        units = n_img * len(methods) * (len(plan.scored()) + len(pixel))
        out.append(Work("perturbation", plan.spec,
                        f"key-size scans ({plural(len(plan.backgrounds), 'background')} at "
                        f"{cell} px cells, {len(pixel)} at pixels) and curves", units,
                        n_img * len(methods) * per_map,
                        overhead=(n_img * len(methods) * road * _imputation_seconds(shape, cell)
                                  / IMPUTATION_THREADS if road else 0.0)))
    return out


class FaithfulnessSuite(Suite):
    """Perturbation size: key size, deletion and insertion, ROAD (see the module docstring)."""

    name = "perturbation"
    title = "Perturbation size"
    order = 20
    description = "perturbation-size and ground-truth suites"
    result_type = PerturbationResults
    checks = (
        Check("key-size", "key size",
              "at the model's matched granularity (cells removed whole), per image the "
              "median key size over the backgrounds (a key set not found counts as worst), "
              "paired with random-cells' over the images (Wilcoxon): pass when "
              "significantly smaller (p < 0.05)",
              "Luo et al., ICCV 2021 (the key size); Tomsett et al., AAAI 2020 (reliability)",
              "faithfulness",
              "scattered single pixels flip a CNN whatever their order: every map is scored "
              "at one matched granularity and paired with a random map at that granularity; "
              + _CONTROL_GAME),
        Check("deletion", "deletion",
              "matched granularity: per image the median deletion area over the curve "
              "backgrounds, paired with random-cells' (Wilcoxon): pass when significantly "
              "smaller", "Petsiuk et al., BMVC 2018", "faithfulness",
              "off-distribution masks (matched cells, ROAD's imputation); " + _CONTROL_GAME),
        Check("insertion", "insertion",
              "matched granularity: per image the median insertion area over the curve "
              "backgrounds, paired with random-cells' (Wilcoxon): pass when significantly "
              "larger (reported)", "Petsiuk et al., BMVC 2018", "faithfulness",
              "as deletion; " + _CONTROL_GAME),
        Check("road-gap", "ROAD gap",
              "matched granularity, ROAD's noisy linear imputation: per image LeRF area minus "
              "MoRF area, paired with random-cells' (Wilcoxon): pass when significantly "
              "larger (reported)", "Rong et al., ICML 2022", "faithfulness",
              "the mask's shape leaking the class (hence the imputation); " + _CONTROL_GAME),
    )
    table = "perturbation_scores"
    tests = "test_perturbation"

    def models(self, profile) -> list[str]:
        return [p.spec for p in profile.perturbation]

    def price(self, profile, images_dir, models) -> list:
        return price(profile, images_dir, models)

    def run(self, pipeline: Pipeline) -> PerturbationResults:
        plans, index = _explain(pipeline)
        _score(pipeline, plans, index)
        return pipeline.result

    def verdicts(self, result) -> list[Verdict]:
        return matrix_verdicts(result)

    def leaderboards(self, result) -> list[Leaderboard]:
        return leaderboards(result)

    def metric_rows(self, result) -> list[dict]:
        return result.scores

    def planned_cells(self, profile, images_dir=None) -> list[Cell]:
        users = profile.user_methods
        return [Cell(*c, c[2] in record(c[1], users).asserted) for c in planned_cells(profile)]

    def image_counts(self, profile, images_dir=None) -> dict[str, int]:
        return {p.spec: len(image_ids(p.spec, p.n_images, images_dir))
                for p in profile.perturbation}

    def report(self, report, result) -> None:
        add_to_report(report, result)


SUITE = FaithfulnessSuite()
