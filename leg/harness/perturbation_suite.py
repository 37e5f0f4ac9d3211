"""Perturbation-size comparison of LEG, LEG-TV and the baselines: plan, compute, report.

For each model of :attr:`leg.harness.config.Profile.perturbation`, every method explains
every image for its top-1 class; then each map is scored by :mod:`leg.harness.perturbation`
on every background: the *key size* (smallest fraction ``alpha`` of the top-|saliency|
pixels whose replacement changes the top-1 class, on the grid
``linspace(1/steps, 1, steps)``; NaN when none does) and, on the curve backgrounds, the
*deletion* and *insertion* curves of the class probability and their areas.

Equal budgets
    Every black-box method (:data:`leg.harness.config.BLACK_BOX`: leg, leg-tv, lime,
    kernel-shap, occlusion, rise) gets the same ``budget`` of model evaluations; each
    explanation's own count (``n_evaluations``) is recorded and shown in the report.
    LEG and LEG-TV share one set of samples (LEG-TV is a different solve of the same
    responses). Gradient methods use their default numbers of gradient evaluations.

Computed once, resumable
    The maps go through :func:`leg.harness.jobs.compute_explanations` (on-disk cache);
    the scores of each (map, background) are a :class:`ScoreJob` unit whose result is
    written to :class:`leg.harness.cache.ResultCache` as soon as it is computed, so an
    interrupted run recomputes neither. The tests only read :class:`PerturbationResults`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from leg.harness.cache import ExplanationCache, ResultCache, explanation_key, result_key
from leg.harness.config import BLACK_BOX, PerturbationPlan, Profile, cell_size_for
from leg.harness.executor import JobOutput, SequentialExecutor
from leg.harness.inputs import array_hash, load_model_once, model_fingerprint, model_input_shape
from leg.harness.jobs import ExplainItem, ExplainJob, compute_explanations, run_jobs
from leg.harness.perturbation import (
    PERTURBATION_METRICS,
    area_under_curve,
    background,
    deletion_curve,
    insertion_curve,
    key_size,
)
from leg.harness.verdicts import Leaderboard, Verdict, rank

__all__ = [
    "SCORE_VERSION",
    "PerturbationCase",
    "PerturbationResults",
    "ScoreItem",
    "ScoreJob",
    "add_to_report",
    "keysize_statistics",
    "leaderboards",
    "matrix_verdicts",
    "plan_cases",
    "run_perturbation",
    "run_score_job",
]

SCORE_VERSION = 1  # bump when the meaning of a stored score changes


@dataclass(frozen=True)
class PerturbationCase:
    """One parametrized test: ``model`` x ``image`` x ``method`` x ``background``."""

    model: str
    image: str
    method: str
    background: str
    curves: bool  # the deletion/insertion curves are computed on this background

    @property
    def id(self) -> str:
        return f"{self.model}-{self.image}-{self.method}-{self.background}"


def image_ids(plan: PerturbationPlan, images_dir: str | None) -> list[str]:
    from leg.harness.config import ModelPlan
    from leg.harness.sanity import image_ids as sanity_ids

    return sanity_ids(ModelPlan(plan.spec, n_images=plan.n_images), images_dir)


def plan_cases(profile: Profile, images_dir: str | None = None) -> list[PerturbationCase]:
    """Every (model, image, method, background) case of ``profile`` (models not loaded)."""
    out = []
    for plan in profile.perturbation:
        for img in image_ids(plan, images_dir):
            for method in profile.perturbation_methods:
                for bg in plan.backgrounds:
                    out.append(PerturbationCase(plan.spec, img, method, bg,
                                                bg in plan.curve_backgrounds))
    return out


def method_options(plan: PerturbationPlan, method: str, shape,
                   black_box: tuple[str, ...] = BLACK_BOX) -> dict:
    """The explainer options of ``method``: ``budget`` for the black-box ones, + the plan's."""
    opts = dict(plan.options.get(method, {}))
    if isinstance(opts.get("cell_size"), str):
        opts["cell_size"] = cell_size_for(opts["cell_size"], shape)
    if method in black_box:
        opts["budget"] = int(plan.budget)
    return opts


def alpha_grid(steps: int) -> np.ndarray:
    """The key-size grid ``linspace(1/steps, 1, steps)`` (1000 steps: the authors' grid)."""
    return np.linspace(1.0 / steps, 1.0, int(steps))


# ------------------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class ScoreItem:
    """Score one map on one background: key size, and the curves when ``curves``."""

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


@dataclass(frozen=True)
class ScoreJob:
    """Score items of one model (``model_spec``), results in ``cache_root``'s ResultCache."""

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
              curve_steps: int, k: int, seed: int) -> str:
    """Key of one (map, background) score; every argument changes it."""
    return result_key(kind="perturbation", version=SCORE_VERSION, explanation=explanation,
                      background=background, curves=curves, alpha_steps=alpha_steps,
                      curve_steps=curve_steps, k=k, seed=seed)


def score_map(clf, item: ScoreItem) -> dict:
    """Key size (and deletion/insertion curves) of one map; counts the model evaluations."""
    calls = [0]

    def counted(x):
        calls[0] += len(x)
        return clf(x)

    t0 = time.perf_counter()
    bg = background(item.image, item.saliency, item.background, k=item.k, seed=item.seed)
    out = {"key_size": key_size(counted, item.image, item.saliency, background=bg,
                                alphas=alpha_grid(item.alpha_steps))}
    if item.curves:
        for name, fn in (("deletion", deletion_curve), ("insertion", insertion_curve)):
            alphas, probs = fn(counted, item.image, item.saliency, item.target, background=bg,
                               steps=item.curve_steps)
            out[name] = [float(p) for p in probs]
            out[f"{name}_auc"] = area_under_curve(alphas, probs)
    out["evaluations"] = calls[0]
    out["seconds"] = time.perf_counter() - t0
    return out


def score_job(job: ScoreJob, done: frozenset[str] = frozenset()) -> Iterator[JobOutput]:
    """Score the job's items whose keys are not in ``done``, wherever the job runs: yields
    ``(key, "computed", seconds, encoded result)`` per item, or ``(key, "error: <message>",
    0.0, None)`` for an item that raised (the others go on). See :mod:`leg.harness.executor`.
    """
    todo = [it for it in job.items if it.key not in done]
    if not todo:
        return
    clf = load_model_once(job.model_spec)
    for it in todo:
        try:
            value = score_map(clf, it)
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
class PerturbationResults:
    """Everything the perturbation tests assert on and the report shows."""

    profile: Profile
    keysize: list[dict] = field(default_factory=list)  # model, image, method, background, ...
    curves: list[dict] = field(default_factory=list)  # model, image, method, kind, alpha, ...
    scores: list[dict] = field(default_factory=list)  # metric rows (regression shape)
    explanations: list[dict] = field(default_factory=list)  # n_evaluations, seconds
    maps: dict = field(default_factory=dict)  # (model, image, method) -> map
    images: dict = field(default_factory=dict)  # (model, image) -> array
    targets: dict = field(default_factory=dict)  # (model, image) -> class
    probabilities: dict = field(default_factory=dict)  # (model, image) -> top-1 probability
    budgets: dict = field(default_factory=dict)  # model -> budget
    skipped: dict = field(default_factory=dict)  # (model, method) -> reason
    errors: dict = field(default_factory=dict)  # (model, image, method[, background]) -> msg
    timings: dict = field(default_factory=dict)
    cache_stats: dict = field(default_factory=dict)
    fingerprints: dict = field(default_factory=dict)

    def case(self, case: PerturbationCase) -> dict | None:
        for r in self.keysize:
            if (r["model"], r["image"], r["method"], r["background"]) == (
                    case.model, case.image, case.method, case.background):
                return r
        return None


def _available(methods, clf) -> tuple[list[str], dict]:
    import leg.harness.baselines  # noqa: F401  (registers the baselines)
    from leg.explainers import EXPLAINERS

    ok, skipped = [], {}
    for m in methods:
        if m not in EXPLAINERS:
            skipped[m] = "not registered"
        elif m in ("gradient", "smoothgrad", "integrated-gradients", "grad-cam") and not callable(
                getattr(clf, "gradient", None)):
            skipped[m] = "the model has no .gradient"
        else:
            ok.append(m)
    return ok, skipped


def run_perturbation(profile: Profile, *, cache_root: str, images_dir: str | None = None,
                     executor=None) -> PerturbationResults:
    """Compute (or read from the caches) every map and score of ``profile.perturbation``."""
    from leg.harness.inputs import load_image_folder, zoo_images

    executor = executor or SequentialExecutor()
    res = PerturbationResults(profile=profile)
    jobs, index = [], {}
    t0 = time.perf_counter()
    plans = {}
    for plan in profile.perturbation:
        if images_dir is None and plan.n_images == 0:  # a generic plan for a zoo model
            why = (f"no images: the {profile.name!r} profile has no perturbation plan for "
                   f"{plan.spec!r}, and the generic plan compares the methods on the "
                   "--leg-images folder; pass --leg-images DIR or use a profile with a plan "
                   "for it (standard and paper have Lite0's)")
            res.skipped.update({(plan.spec, m): why for m in profile.perturbation_methods})
            continue
        clf = load_model_once(plan.spec)
        shape = model_input_shape(clf)
        fp = res.fingerprints[plan.spec] = model_fingerprint(clf)
        images = (load_image_folder(images_dir, shape)[:plan.n_images or None] if images_dir
                  else zoo_images(plan.spec, plan.n_images))
        probs = np.asarray(clf(np.stack([img for _, img in images])))
        methods, skipped = _available(profile.perturbation_methods, clf)
        res.skipped.update({(plan.spec, m): r for m, r in skipped.items()})
        res.budgets[plan.spec] = plan.budget
        plans[plan.spec] = (plan, methods)
        for (img_id, img), p in zip(images, probs, strict=True):
            items = []  # one job per image, so that workers share a model's images
            res.images[(plan.spec, img_id)] = img
            res.targets[(plan.spec, img_id)] = int(np.argmax(p))
            res.probabilities[(plan.spec, img_id)] = float(np.max(p))
            for method in methods:
                opts = method_options(plan, method, shape, profile.black_box)
                key = explanation_key(model=fp, state={"stage": "original"},
                                      image=array_hash(img), method=method, options=opts,
                                      seed=profile.seed, target=int(np.argmax(p)))
                index[(plan.spec, img_id, method)] = key
                items.append(ExplainItem(key, img_id, img, method, opts, profile.seed,
                                         int(np.argmax(p))))
            jobs.append(ExplainJob(plan.spec, "original", (), 0, tuple(items),
                                   str(cache_root)))
    res.timings["plan"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    status = compute_explanations(jobs, executor)
    res.timings["explain"] = time.perf_counter() - t0
    cache = ExplanationCache(cache_root)
    for (model, img_id, method), key in index.items():
        st, secs = status.get(key, ("cached", 0.0))
        entry = cache.get(key)
        res.cache_stats[f"maps_{st.split(':')[0]}"] = res.cache_stats.get(
            f"maps_{st.split(':')[0]}", 0) + 1
        if entry is None:
            res.errors[(model, img_id, method)] = (
                st if st.startswith("error") else "missing from the cache after computing it")
            continue
        res.maps[(model, img_id, method)] = entry["saliency"]
        meta = entry["meta"]
        res.explanations.append({
            "model": model, "image": img_id, "method": method,
            "budget": res.budgets[model] if method in res.profile.black_box else None,
            "n_evaluations": meta.get("n_evaluations"), "seconds": meta.get("seconds")})

    # scores
    t0 = time.perf_counter()
    score_jobs, sindex = [], {}
    for spec, (plan, _) in plans.items():
        by_image: dict[str, list[ScoreItem]] = {}  # one job per image, as for the maps
        for (model, img_id, method), sal in res.maps.items():
            if model != spec:
                continue
            items = by_image.setdefault(img_id, [])
            for bg in plan.backgrounds:
                curves = bg in plan.curve_backgrounds
                key = score_key(explanation=index[(model, img_id, method)], background=bg,
                                curves=curves, alpha_steps=plan.alpha_steps,
                                curve_steps=plan.curve_steps, k=plan.k, seed=profile.seed)
                sindex[(model, img_id, method, bg)] = key
                items.append(ScoreItem(key, res.images[(model, img_id)], sal,
                                       res.targets[(model, img_id)], bg, curves,
                                       plan.alpha_steps, plan.curve_steps, plan.k,
                                       profile.seed))
        score_jobs += [ScoreJob(spec, tuple(its), str(cache_root)) for its in by_image.values()]
    sstatus = {k: st for k, (st, _) in run_jobs(score_jobs, score_job, executor,
                                                 desc="scores").items()}
    rcache = ResultCache(cache_root)
    res.timings["score"] = time.perf_counter() - t0
    for (model, img_id, method, bg), key in sindex.items():
        st = sstatus.get(key, "cached")
        res.cache_stats[f"scores_{st.split(':')[0]}"] = res.cache_stats.get(
            f"scores_{st.split(':')[0]}", 0) + 1
        entry = rcache.get(key)
        if entry is None:
            res.errors[(model, img_id, method, bg)] = (
                st if st.startswith("error") else "missing from the cache after computing it")
            continue
        ks = entry["key_size"]
        ks = float("nan") if ks is None else float(ks)
        res.keysize.append({"model": model, "image": img_id, "method": method,
                            "background": bg, "key_size": ks,
                            "deletion_auc": entry.get("deletion_auc"),
                            "insertion_auc": entry.get("insertion_auc"),
                            "evaluations": entry.get("evaluations")})
        res.scores.append(_score_row("keysize", model, img_id, method, bg, "key_size", ks))
        plan = plans[model][0]
        for kind in ("deletion", "insertion"):
            if kind not in entry:
                continue
            alphas = np.linspace(0.0, 1.0, plan.curve_steps + 1)
            res.curves += [{"model": model, "image": img_id, "method": method,
                            "background": bg, "kind": kind, "alpha": float(a),
                            "probability": float(p)}
                           for a, p in zip(alphas, entry[kind], strict=True)]
            res.scores.append(_score_row(kind, model, img_id, method, bg, f"{kind}_auc",
                                         entry[f"{kind}_auc"]))
    return res


def _score_row(check, model, image, method, bg, metric, value) -> dict:
    return {"check": check, "model": model, "image": image, "method": method, "stage": bg,
            "metric": metric, "value": float(value),
            "higher_is_better": PERTURBATION_METRICS[metric].higher_is_better}


# ---------------------------------------------------------------------------- statistics
def _nan_last(values) -> np.ndarray:
    """Key sizes with NaN (no change found) counted as 1 + 1e-9: worse than any found."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(v), 1.0 + 1e-9, v)


def median_key_size(rows, **match) -> float:
    vals = [r["key_size"] for r in rows if all(r[k] == v for k, v in match.items())]
    return float(np.median(_nan_last(vals))) if vals else float("nan")


def keysize_statistics(res: PerturbationResults) -> list[dict]:
    """Per model, background and method: count, NaN count, mean, std, quartiles (finite)."""
    out = []
    keys = sorted({(r["model"], r["background"], r["method"]) for r in res.keysize},
                  key=lambda k: (k[0], k[1], _method_order(res, k[2])))
    for model, bg, method in keys:
        vals = np.array([r["key_size"] for r in res.keysize if r["model"] == model
                         and r["background"] == bg and r["method"] == method])
        fin = vals[np.isfinite(vals)]
        q = np.quantile(fin, [0.25, 0.5, 0.75]) if len(fin) else [np.nan] * 3
        out.append({"model": model, "background": bg, "method": method,
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
    """Per model, background and method: median deletion/insertion AUC and key size."""
    out = []
    keys = sorted({(r["model"], r["background"], r["method"]) for r in res.keysize
                   if r["deletion_auc"] is not None},
                  key=lambda k: (k[0], k[1], _method_order(res, k[2])))
    for model, bg, method in keys:
        rows = [r for r in res.keysize if (r["model"], r["background"], r["method"]) == (
            model, bg, method)]
        out.append({"model": model, "background": bg, "method": method, "images": len(rows),
                    "deletion_auc": float(np.median([r["deletion_auc"] for r in rows])),
                    "insertion_auc": float(np.median([r["insertion_auc"] for r in rows])),
                    "key_size_median": median_key_size(rows)})
    return out


def budget_summary(res: PerturbationResults) -> list[dict]:
    """Per model and method: the budget and the recorded model evaluations (min, max)."""
    out = []
    for model, method in sorted({(r["model"], r["method"]) for r in res.explanations},
                                key=lambda k: (k[0], _method_order(res, k[1]))):
        rows = [r for r in res.explanations if (r["model"], r["method"]) == (model, method)]
        ev = [r["n_evaluations"] for r in rows if r["n_evaluations"] is not None]
        out.append({"model": model, "method": method, "budget": rows[0]["budget"],
                    "n_evaluations_min": min(ev) if ev else None,
                    "n_evaluations_max": max(ev) if ev else None,
                    "seconds_per_map": float(np.mean([r["seconds"] or 0.0 for r in rows]))})
    return out


# ------------------------------------------------------------------------------ verdicts
FLOOR = "random-cells"  # the random map at LEG's granularity (leg.harness.suites.test_perturbation)


def _shown(key_size: float) -> float:
    """A median key size for display: NaN where the median image found no key set."""
    return key_size if key_size <= 1.0 else float("nan")


def _median_score(res: PerturbationResults, check: str, model: str, method: str) -> float:
    """Median key size (NaN counted as worst) or deletion area of a method over images and
    backgrounds (curve backgrounds for the area)."""
    if check == "key-size":
        return median_key_size(res.keysize, model=model, method=method)
    vals = [r["deletion_auc"] for r in res.keysize if r["model"] == model
            and r["method"] == method and r["deletion_auc"] is not None]
    return float(np.median(vals)) if vals else float("nan")


#: Matrix check -> the methods whose comparison with the floor a test asserts.
_FLOOR_CHECKS = {"key-size": ("leg-tv",), "deletion": ("leg", "leg-tv")}


def planned_cells(profile: Profile) -> list[tuple[str, str, str]]:
    """``(model, method, check)`` of every matrix cell this suite would fill for ``profile``
    (shown as "not run" when the suite did not run)."""
    return [(plan.spec, method, check) for plan in profile.perturbation
            for method in profile.perturbation_methods for check in _FLOOR_CHECKS]


def matrix_verdicts(res: PerturbationResults) -> list[Verdict]:
    """Per model and method: key size and deletion area against ``random-cells``, judged as
    :mod:`leg.harness.suites.test_perturbation` judges LEG-TV's key size and LEG's and LEG-TV's
    deletion area (asserted there; the other methods by the same rule, reported)."""
    out = []
    methods = res.profile.perturbation_methods
    for plan in res.profile.perturbation:
        model = plan.spec
        if not any(m == model for m, _ in res.images):
            continue
        scored = {r["method"] for r in res.keysize if r["model"] == model}
        for check, asserted in _FLOOR_CHECKS.items():
            def shown(v, check=check):
                return _shown(v) if check == "key-size" else v

            floor = _median_score(res, check, model, FLOOR)
            for method in methods:
                is_asserted = method in asserted
                if method not in scored or FLOOR not in scored:
                    why = res.skipped.get((model, method)) or (
                        f"{FLOOR} was not scored" if FLOOR not in scored
                        else "no score (see the failures)")
                    out.append(Verdict(model, method, check, "not-run", asserted=is_asserted,
                                       detail=why))
                    continue
                value = _median_score(res, check, model, method)
                if method == FLOOR:
                    out.append(Verdict(model, method, check, "reference", shown(value),
                                       detail="the random map at LEG's granularity: the floor"))
                    continue
                verdict_ = "pass" if value < floor else (
                    "expected-failure" if is_asserted and not plan.beats_floor else "fail")
                out.append(Verdict(model, method, check, verdict_, shown(value), shown(floor),
                                   False, is_asserted, f"median {shown(value):.3f} against "
                                   f"{FLOOR}'s {shown(floor):.3f} (lower is better)"))
    return out


def leaderboards(res: PerturbationResults) -> list[Leaderboard]:
    """Per model: the methods ranked by median key size on each background, and by median
    deletion and insertion areas on each curve background."""
    out = []
    for model, bg in dict.fromkeys((r["model"], r["background"]) for r in res.keysize):
        values = {}
        for method in dict.fromkeys(r["method"] for r in res.keysize):
            rows = [r for r in res.keysize if (r["model"], r["background"], r["method"]) == (
                model, bg, method)]
            if rows:
                found = sum(bool(np.isfinite(r["key_size"])) for r in rows)
                values[method] = (_shown(median_key_size(rows)), f"{found}/{len(rows)} found")
        out.append(rank(f"{model}: key size (lower is better)", bg, "key_size", False, values))
    auc = auc_summary(res)
    for kind, higher in (("deletion", False), ("insertion", True)):
        for model, bg in dict.fromkeys((r["model"], r["background"]) for r in auc):
            values = {r["method"]: r[f"{kind}_auc"] for r in auc
                      if (r["model"], r["background"]) == (model, bg)}
            out.append(rank(f"{model}: {kind} area ({'higher' if higher else 'lower'} is "
                            "better)", bg, f"{kind}_auc", higher, values))
    return out


# ------------------------------------------------------------------------------ report
def _curves_figure(res: PerturbationResults, model: str, bg: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    methods = sorted({r["method"] for r in res.curves if r["model"] == model},
                     key=lambda m: _method_order(res, m))
    for ax, kind in zip(axes, ("deletion", "insertion"), strict=True):
        for i, method in enumerate(methods):
            rows = [r for r in res.curves if r["model"] == model and r["method"] == method
                    and r["kind"] == kind and r["background"] == bg]
            if not rows:
                continue
            alphas = sorted({r["alpha"] for r in rows})
            mean = [np.mean([r["probability"] for r in rows if r["alpha"] == a])
                    for a in alphas]
            style = "-" if method in ("leg", "leg-tv") else "--" if method == "random" else ":"
            ax.plot(alphas, mean, style, color=f"C{i % 10}", label=method,
                    lw=2 if method.startswith("leg") else 1)
        ax.set_xlabel("fraction of top-|saliency| pixels " + (
            "removed" if kind == "deletion" else "revealed"))
        ax.set_title(f"{kind} ({'lower' if kind == 'deletion' else 'higher'} area is better)",
                     fontsize=9)
    axes[0].set_ylabel("probability of the top-1 class (mean over images)")
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{model}: deletion and insertion curves, {bg} background", fontsize=9)
    fig.tight_layout()
    return fig


def _masked_figure(res: PerturbationResults, model: str, alphas=(0.01, 0.05, 0.2)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from leg.harness.perturbation import masked_images

    img_id = sorted(i for (m, i) in res.images if m == model)[0]
    img = res.images[(model, img_id)]
    methods = [m for m in ("leg-tv", "leg", "lime", "occlusion", "random")
               if (model, img_id, m) in res.maps]
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


def add_to_report(report, res: PerturbationResults, comparison: list[dict] | None = None
                  ) -> None:
    """Tables, sections and figures of the perturbation suites in ``report``."""
    report.add_table("keysize", res.keysize,
                     columns=["model", "image", "method", "background", "key_size"])
    report.add_table("curves", res.curves, columns=["model", "image", "method", "background",
                                                    "kind", "alpha", "probability"])
    report.add_table("perturbation_scores", res.scores)
    stats = keysize_statistics(res)
    report.add_table("keysize_statistics", stats)
    report.add_table("perturbation_auc", auc_summary(res))
    report.add_table("perturbation_budgets", budget_summary(res))
    report.add_verdicts(matrix_verdicts(res))
    report.add_leaderboards(leaderboards(res))
    budgets = ", ".join(f"{m}: {b}" for m, b in res.budgets.items())
    text = (
        "Key size: the smallest fraction alpha of the top-|saliency| pixels whose "
        "replacement by the background changes the top-1 class (lower is better; "
        "`not_found`: no alpha on the grid changed it, excluded from the statistics and "
        "counted as worst in medians). One table row per model, background and method, "
        "over the images. Black-box methods (leg, leg-tv, lime, kernel-shap, occlusion, "
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
                       "Deletion area: lower is better; insertion area: higher is better.",
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
                              f"{plan.spec}: deletion/insertion, {bg} background")
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
    if comparison is not None:
        from leg.harness.runs import add_comparison_section

        add_comparison_section(report, "perturbation_vs_baseline",
                               "Perturbation: comparison with the baseline", comparison, 25)
