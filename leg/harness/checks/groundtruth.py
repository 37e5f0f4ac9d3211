"""Accuracy against known truth: every method on :func:`leg.zoo.groundtruth.ground_truth_suite`.

Each ground-truth model (``p = sigmoid(g(region means))``) is explained at
``base_image(0)`` for its target class by every applicable method at several budgets
(model evaluations for the black-box methods; gradient evaluations for smoothgrad and
integrated-gradients; gradient and random ignore the budget), with ``repeats`` seeds.

Metrics (registered in :mod:`leg.harness.checks.metrics`; averaged over seeds)
    ``pearson_cell``: Pearson correlation between the method's map and the true map
    (:meth:`GroundTruthModel.true_map`), both *pooled to LEG's grid* (cells of 2 px, 4 px
    from 56 px up; means over each cell). This is the fair comparison for every method:
    LEG estimates one number per cell, and a pixel-level method pooled to the same grid
    loses nothing it could have been credited for at that resolution.
    ``pearson_pixel``: the same at pixel resolution (LEG's map is piecewise constant on
    its cells, so it cannot reach 1 where region borders cut cells).
    ``rel_error`` (LEG only): ``||cell_map - T|| / ||T||`` where ``T`` is what LEG
    estimates — d score / d (cell intensity), i.e. the true map *summed* over each cell's
    pixels (pooled mean x pixels per cell). Consistency means it falls like
    ``n^(-1/2)`` in the number of model evaluations: the report fits the slope on
    log-log axes (:func:`error_slopes`).

Two targets, and each method judged against its own (what its record estimates, the
``target`` column):
    ``gradient``: the local gradient of the target probability at the base image — what LEG
    (``E[grad f(x0 + eps)]``, the gradient for these smooth models), LEG-TV, the gradient,
    SmoothGrad and the random floor are compared with (``pearson_cell``).
    ``removal``: the exact effect of removing image parts relative to the method's own fill,
    at its own granularity, in closed form from the model's parameters
    (:func:`removal_target`): occlusion — each of its patches (its size, stride and fill at
    that budget) filled, the drop spread and averaged exactly as occlusion does (exact);
    KernelSHAP — the Shapley values of its superpixels with its fill (exact enumeration of
    the coalitions of the superpixels that touch a region, the others being null players;
    beyond 22 such players, the mean over 40 000 random orders of the closed-form game, with
    its standard error); LIME — each superpixel's removal effect under LIME's fill (the
    weight of a model linear in the superpixels; ``p = sigmoid(g)`` makes it only nearly
    so); integrated gradients and RISE — the path attribution
    ``(x - b) * integral grad p(b + t(x - b)) dt`` from their fill ``b`` (IG's completeness
    makes it a removal effect; for RISE, whose estimand depends on its random masks, it is
    the nearest closed-form removal target). For the gradient-target methods the removal
    column uses the path attribution from the image's mean colour.
``pearson_removal`` is the cell-level correlation with the removal target and
``pearson_own`` the one with the method's own target; the ground-truth verdict and the
leaderboards' ``own target`` column use ``pearson_own``.

The gradient baselines use :meth:`GroundTruthModel.gradient` (exact): the ``gradient``
map *is* the truth (its correlation is 1 by construction, shown as a check of the
plumbing, not as a finding). ``grad-cam`` needs a convolutional layer and is not
applicable (skipped with that reason).

Maps are cached through :mod:`leg.harness.engine.cache` (model spec ``groundtruth:<name>``), so an
interrupted run resumes; the correlations are recomputed from the maps (cheap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from leg.harness.checks.metrics import Metric, register
from leg.harness.checks.metrics import metric as metric_of
from leg.harness.checks.statistics import pearson
from leg.harness.checks.verdicts import SYNTHETIC, Leaderboard, Verdict, rank
from leg.harness.engine.cache import explanation_key
from leg.harness.engine.inputs import array_hash, model_fingerprint
from leg.harness.engine.jobs import ExplainItem, ExplainJob
from leg.harness.engine.pipeline import Pipeline
from leg.harness.engine.suite import Cell, Check, Suite, SuiteResult
from leg.harness.methods import ours, record
from leg.harness.profiles import GroundTruthPlan, Profile

__all__ = [
    "GroundTruthResults",
    "add_to_report",
    "cell_size_for",
    "error_slopes",
    "leaderboards",
    "matrix_verdicts",
    "run_groundtruth",
]

for _m in (
    Metric("pearson_cell", True, "Pearson correlation with the true map, both pooled to LEG's "
           "grid.", "ground truth", -1.0, 1.0),
    Metric("pearson_pixel", True, "Pearson correlation with the true map at pixel "
           "resolution.", "ground truth", -1.0, 1.0),
    Metric("pearson_removal", True, "Pearson correlation with the exact removal target, both "
           "pooled to LEG's grid.", "ground truth", -1.0, 1.0),
    Metric("pearson_own", True, "Pearson correlation with the method's own target (gradient "
           "or removal), both pooled to LEG's grid.", "ground truth", -1.0, 1.0),
):
    register(_m)


def target_kind(method: str, users=()) -> str:
    """``"gradient"`` or ``"removal"``: the target ``method`` is judged against (what its
    record says it estimates)."""
    return record(method, users).estimates


def _segment_means(image: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Each superpixel's own mean colour (LIME's ``hide_color=None``), ``(H, W, C)``."""
    from scipy.ndimage import mean as label_mean

    labels = np.arange(int(segments.max()) + 1)
    means = np.stack([label_mean(image[..., c], segments, labels)
                      for c in range(image.shape[2])], axis=1)  # (M, C)
    return means[segments]


def _occlusion_target(model, opts: dict, image: np.ndarray) -> np.ndarray:
    """Each of occlusion's patches filled, the drop spread and averaged as occlusion does."""
    from leg.harness.methods._base import fill_image
    from leg.harness.methods.occlusion import Occlusion, patch_starts

    h, w = image.shape[:2]
    occ = Occlusion(model, **opts)
    patch, stride = occ.geometry((h, w))
    ph, pw = min(patch, h), min(patch, w)
    corners = [(i, j) for i in patch_starts(h, ph, stride) for j in patch_starts(w, pw, stride)]
    masks = np.zeros((len(corners), h, w), dtype=bool)
    for k, (i, j) in enumerate(corners):
        masks[k, i:i + ph, j:j + pw] = True
    drops = model.removal_effects(image, fill_image(image, occ.fill), masks)
    total = np.tensordot(drops / (ph * pw), masks.astype(np.float64), axes=1)
    return total / np.maximum(masks.sum(axis=0), 1)


def _superpixel_fill(explainer, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(segments, fill image)`` of a superpixel explainer (KernelSHAP, LIME)."""
    from leg.harness.methods._base import fill_image
    from leg.harness.methods._superpixels import superpixels

    segments = superpixels(image, explainer.segmentation, n_segments=explainer.n_segments)
    if explainer.fill == "superpixel-mean":
        return segments, _segment_means(image, segments)
    return segments, fill_image(image, explainer.fill)


def _shapley_target(model, opts: dict, image: np.ndarray) -> np.ndarray:
    """The Shapley values of KernelSHAP's superpixels with its fill."""
    from leg.harness.methods.kernel_shap import KernelSHAP

    segments, fill = _superpixel_fill(KernelSHAP(model, **opts), image)
    return model.shapley_values(image, fill, segments)[0][segments]


def _lime_target(model, opts: dict, image: np.ndarray) -> np.ndarray:
    """Each of LIME's superpixels' removal effect under LIME's fill."""
    from leg.harness.methods.lime import LIME

    segments, fill = _superpixel_fill(LIME(model, **opts), image)
    one_hot = segments[None] == np.arange(int(segments.max()) + 1)[:, None, None]
    return model.removal_effects(image, fill, one_hot)[segments]


def _path_target(fill_of):
    """The path attribution from the fill ``fill_of(model, opts)`` names."""
    def target(model, opts: dict, image: np.ndarray) -> np.ndarray:
        from leg.harness.methods._base import fill_image

        return model.path_attribution(image, fill_image(image, fill_of(model, opts)))

    return target


def _ig_baseline(model, opts):
    from leg.harness.methods.integrated_gradients import IntegratedGradients

    return IntegratedGradients(model, **opts).baseline


def _rise_fill(model, opts):
    from leg.harness.methods.rise import RISE

    return RISE(model, **opts).fill


#: The closed-form removal target of each removal method on a ground-truth model (any
#: other method: the path attribution from the image's mean colour).
_REMOVAL_TARGETS = {"occlusion": _occlusion_target, "kernel-shap": _shapley_target,
                    "lime": _lime_target, "integrated-gradients": _path_target(_ig_baseline),
                    "rise": _path_target(_rise_fill)}


def removal_target(model, method: str, options: dict, image: np.ndarray) -> np.ndarray:
    """The exact removal effect ``method`` estimates on a ground-truth ``model``, ``(H, W)``.

    ``options`` are the method's options in the suite (its budget included): the patches,
    superpixels and fill are read from the method's own class, so the target follows them.
    Occlusion, KernelSHAP, LIME, integrated gradients and RISE have their own (see the
    module docstring); any other method gets the path attribution from the image's mean
    colour.
    """
    image = np.asarray(image, dtype=np.float64)
    target = _REMOVAL_TARGETS.get(method, _path_target(lambda model, opts: "mean"))
    return target(model, dict(options), image)


def score_map(saliency: np.ndarray, truth: np.ndarray, removal: np.ndarray, kind: str,
              cell_size: int) -> dict[str, float]:
    """The correlations of one ``(H, W)`` map with the gradient ``truth`` and the
    ``removal`` target (cell level, and the gradient's at pixel level), and with its own
    (``kind``): ``{"pearson_cell", "pearson_pixel", "pearson_removal", "pearson_own"}``,
    each in ``[-1, 1]``."""
    import leg

    if kind not in ("gradient", "removal"):
        raise ValueError(f"The 'kind' parameter must be 'gradient' or 'removal'; got {kind!r}.")
    grid = leg.Grid.from_cell_size(*np.shape(truth), cell_size)
    cells = grid.pool(saliency)
    out = {"pearson_cell": pearson(cells, grid.pool(truth)),
           "pearson_pixel": pearson(saliency, truth),
           "pearson_removal": pearson(cells, grid.pool(removal))}
    out["pearson_own"] = out["pearson_cell" if kind == "gradient" else "pearson_removal"]
    return out


def cell_size_for(shape) -> int:
    """LEG's cell size on a ground-truth model: 2 px, 4 px from 56 px up (as the unit tests)."""
    return 2 if min(shape[:2]) <= 32 else 4


def _models(plan: GroundTruthPlan):
    from leg.zoo.groundtruth import ground_truth_suite

    suite = ground_truth_suite()
    if not plan.models:
        return suite
    by_name = {m.name: m for m in suite}
    unknown = [n for n in plan.models if n not in by_name]
    if unknown:
        raise ValueError(f"Unknown ground-truth models {unknown}; choose from {list(by_name)}.")
    return [by_name[n] for n in plan.models]


def model_names(profile: Profile) -> list[str]:
    return [m.name for m in _models(profile.groundtruth)] if profile.groundtruth else []


def _options(method: str, budget: int, shape, plan: GroundTruthPlan, users=()) -> dict:
    m = record(method, users)
    if method in plan.options:  # the user's own method: its factory, at the budget if it has one
        return {**plan.options[method], **({"budget": budget} if m.black_box else {})}
    if m.sampled:  # LEG, LEG-TV: on their grid, joint
        opts = {"cell_size": cell_size_for(shape), "mode": "joint", "budget": budget}
        if method == "leg-tv":
            opts["lam"] = plan.lam
        return opts
    if m.budget is None:
        return {}
    return {"budget": budget}


@dataclass
class GroundTruthResults(SuiteResult):
    rows: list[dict] = field(default_factory=list)  # model, method, budget, metric, value
    n_evaluations: dict = field(default_factory=dict)  # (model, method, budget) -> mean
    maps: dict = field(default_factory=dict)  # (model, method, budget, seed) -> map
    truths: dict = field(default_factory=dict)  # model -> (image, true map)
    removals: dict = field(default_factory=dict)  # (model, method, budget) -> removal target

    def value(self, model: str, method: str, budget: int, metric: str) -> float | None:
        for r in self.rows:
            if (r["model"], r["method"], r["budget"], r["metric"]) == (
                    model, method, budget, metric):
                return r["value"]
        return None


def run_groundtruth(profile: Profile, *, cache_root: str, images_dir: str | None = None,
                    executor=None) -> GroundTruthResults:
    """Compute (or read from the cache) every ground-truth map of ``profile``, then score
    (``images_dir`` is not used: the ground-truth models make their own images)."""
    res = GroundTruthResults(profile=profile)
    return SUITE.run(Pipeline(profile, res, cache_root=cache_root, executor=executor))


def _run(pipe: Pipeline) -> GroundTruthResults:
    import leg
    from leg.harness.methods import available

    res, profile = pipe.result, pipe.profile
    plan = profile.groundtruth
    users = profile.user_methods
    models = _models(plan)
    methods, skipped = (available(plan.methods, models[0], users) if models else ([], {}))
    res.skipped.update(skipped)
    jobs, index = [], {}
    for model in models:
        image = model.base_image(0)
        res.truths[model.name] = (image, model.true_map(image))
        fp = res.fingerprints[f"groundtruth:{model.name}"] = model_fingerprint(model)
        groups: dict[tuple, list[ExplainItem]] = {}  # one job per budget and seed (the
        seen: set[str] = set()  # workers share them; LEG and LEG-TV still share samples)
        for method in methods:
            for budget in plan.budgets:
                for r in range(plan.repeats):
                    opts = _options(method, budget, model.image_shape, plan, users)
                    seed = profile.seed + r
                    key = explanation_key(model=fp, state={"stage": "original"},
                                          image=array_hash(image), method=method,
                                          options=opts, seed=seed, target=model.target)
                    index[(model.name, method, budget, r)] = key
                    if key not in seen:
                        seen.add(key)
                        groups.setdefault((budget, r), []).append(ExplainItem(
                            key, "base0", image, method, opts, seed, model.target))
        jobs += [ExplainJob(f"groundtruth:{model.name}", "original", (), 0, tuple(items),
                            pipe.cache_root) for items in groups.values()]
    entries = pipe.run(jobs, index, timing="explain")
    res.errors = {(m, method, str(b)): why for (m, method, b, _), why in res.errors.items()}
    t0 = time.perf_counter()
    for model in models:
        image, truth = res.truths[model.name]
        h, w, _ = model.image_shape
        grid = leg.Grid.from_cell_size(h, w, cell_size_for(model.image_shape))
        truth_sum = grid.cell_sums(truth)
        for method in methods:
            kind = target_kind(method, users)
            for budget in plan.budgets:
                opts = _options(method, budget, model.image_shape, plan, users)
                removal = removal_target(model, method, opts, image)
                res.removals[(model.name, method, budget)] = removal
                vals: dict[str, list[float]] = {}
                evals = []
                for r in range(plan.repeats):
                    entry = entries.get((model.name, method, budget, r))
                    if entry is None:
                        break
                    sal = entry["saliency"]
                    res.maps[(model.name, method, budget, r)] = sal
                    evals.append(entry["meta"].get("n_evaluations"))
                    for metric, v in score_map(sal, truth, removal, kind,
                                               cell_size_for(model.image_shape)).items():
                        vals.setdefault(metric, []).append(v)
                    if method == "leg":
                        cells = grid.pool(sal)
                        vals.setdefault("rel_error", []).append(float(
                            np.linalg.norm(cells - truth_sum) / np.linalg.norm(truth_sum)))
                else:
                    ev = [e for e in evals if e is not None]
                    res.n_evaluations[(model.name, method, budget)] = (
                        float(np.mean(ev)) if ev else None)
                    for metric, v in vals.items():
                        res.rows.append({
                            "model": model.name, "method": method, "budget": budget,
                            "metric": metric, "value": float(np.mean(v)), "target": kind,
                            "n_evaluations": res.n_evaluations[(model.name, method, budget)],
                            "higher_is_better": metric_of(metric).higher_is_better})
    res.timings["score"] = time.perf_counter() - t0
    return res


def error_slopes(res: GroundTruthResults) -> dict[str, float]:
    """Fitted slope of log(LEG's relative error) against log(model evaluations), per model
    and ``"all"`` (the geometric mean over models at each budget)."""
    out = {}
    per_budget: dict[int, list[float]] = {}
    evals: dict[int, list[float]] = {}
    for model in sorted({r["model"] for r in res.rows}):
        pts = [(res.n_evaluations[(model, "leg", r["budget"])], r["value"], r["budget"])
               for r in res.rows if r["model"] == model and r["method"] == "leg"
               and r["metric"] == "rel_error"]
        if len(pts) >= 2:
            n, e, _ = map(np.asarray, zip(*sorted(pts), strict=True))
            out[model] = float(np.polyfit(np.log(n), np.log(e), 1)[0])
        for n, e, b in pts:
            per_budget.setdefault(b, []).append(np.log(e))
            evals.setdefault(b, []).append(n)
    if len(per_budget) >= 2:
        bs = sorted(per_budget)
        out["all"] = float(np.polyfit(np.log([np.mean(evals[b]) for b in bs]),
                                      [np.mean(per_budget[b]) for b in bs], 1)[0])
    return out


def _order(res, method) -> int:
    order = list(res.profile.groundtruth.methods)
    return order.index(method) if method in order else len(order)


def summary_rows(res: GroundTruthResults, metric: str = "pearson_cell") -> list[dict]:
    """Per method: the metric's median over models at each budget (wide table)."""
    budgets = sorted({r["budget"] for r in res.rows})
    out = []
    for method in sorted({r["method"] for r in res.rows}, key=lambda m: _order(res, m)):
        row = {"method": method}
        for b in budgets:
            v = [r["value"] for r in res.rows if r["method"] == method and r["budget"] == b
                 and r["metric"] == metric]
            row[f"n={b}"] = float(np.median(v)) if v else None
            row[f"min n={b}"] = float(np.min(v)) if v else None
        out.append(row)
    return out




def _beats_random(res: GroundTruthResults, model: str, method: str, budget: int) -> bool:
    v, rnd = (res.value(model, m, budget, "pearson_cell") for m in (method, "random"))
    return v is None or rnd is None or v > rnd


def planned_cells(profile: Profile) -> list[tuple[str, str, str]]:
    """``(model, method, check)`` of every matrix cell this suite would fill for ``profile``
    (shown as "not run" when the suite did not run)."""
    plan = profile.groundtruth
    return [(SYNTHETIC, method, "ground-truth") for method in (plan.methods if plan else ())]


def own_threshold(plan: GroundTruthPlan, method: str) -> float:
    """The correlation with its own target ``method`` must exceed at the largest budget."""
    return plan.min_leg_tv_corr if method == "leg-tv" else plan.min_own_corr


def matrix_verdicts(res: GroundTruthResults) -> list[Verdict]:
    """Per method: the lowest cell-level correlation with *its own target*
    (:func:`target_kind`) over the models at the largest budget, above
    :func:`own_threshold`. Asserted for the methods whose record lists ``ground-truth``
    among its asserted checks (LEG, LEG-TV, occlusion, KernelSHAP; LEG-TV must also beat
    the random map against the gradient at every budget, as
    :mod:`leg.harness.evaluation.test_groundtruth` does); a method in the plan's
    ``expected_failures`` that does not pass reads "expected-failure" with the reason."""
    plan = res.profile.groundtruth
    users = res.profile.user_methods
    top = max(plan.budgets)
    models = sorted({r["model"] for r in res.rows})
    out = []
    for method in plan.methods:
        asserted = "ground-truth" in record(method, users).asserted
        kind = target_kind(method, users)
        threshold = own_threshold(plan, method)
        vals = [(res.value(m, method, top, "pearson_own"), m) for m in models]
        vals = [(v, m) for v, m in vals if v is not None]
        if not vals:
            why = res.skipped.get(method) or next(
                (e for k, e in res.errors.items() if k[1] == method), "not run")
            out.append(Verdict(SYNTHETIC, method, "ground-truth", "not-run", asserted=asserted,
                               detail=why))
            continue
        low, where = min(vals)
        ok = low > threshold
        if method == "leg-tv":
            ok = ok and all(_beats_random(res, m, method, b) for m in models
                            for b in plan.budgets)
        verdict = "pass" if ok else "fail"
        detail = (f"lowest correlation with its own target ({kind}) over {len(vals)} models "
                  f"at n={top}: {low:.3f} ({where}), must exceed {threshold}")
        if not ok and method in plan.expected_failures:
            verdict = "expected-failure"
            detail += f"; expected: {plan.expected_failures[method]}"
        out.append(Verdict(SYNTHETIC, method, "ground-truth", verdict, low, threshold, True,
                           asserted, detail, n_images=len(vals)))
    return out


def leaderboards(res: GroundTruthResults) -> list[Leaderboard]:
    """The methods ranked by their median cell-level correlation over the models, per
    budget: against their own target (``own target``) and against the gradient
    (``gradient``)."""
    users = res.profile.user_methods
    out = []
    for b in sorted({r["budget"] for r in res.rows}):
        for metric, column in (("pearson_own", "its own target"),
                               ("pearson_cell", "the gradient")):
            values = {}
            for method in sorted({r["method"] for r in res.rows},
                                 key=lambda m: _order(res, m)):
                v = [r["value"] for r in res.rows if r["method"] == method
                     and r["budget"] == b and r["metric"] == metric]
                if v:
                    note = f"min {min(v):.2f}" + (
                        f"; own target: {target_kind(method, users)}"
                        if metric == "pearson_own"
                        else "")
                    values[method] = (float(np.median(v)), note)
            out.append(rank(f"ground truth: correlation with {column} (higher is better)",
                            f"n={b}", metric, True, values, marked=ours(users)))
    return out


def target_rows(res: GroundTruthResults) -> list[dict]:
    """Per method at the largest budget: its target and its median (and lowest) correlation
    over the models with its own target and with the gradient."""
    top = max(res.profile.groundtruth.budgets)
    users = res.profile.user_methods
    out = []
    for method in sorted({r["method"] for r in res.rows}, key=lambda m: _order(res, m)):
        row = {"method": method, "target": target_kind(method, users), "budget": top}
        for metric, col in (("pearson_own", "own target"), ("pearson_cell", "gradient"),
                            ("pearson_removal", "removal")):
            v = [r["value"] for r in res.rows if r["method"] == method and r["budget"] == top
                 and r["metric"] == metric]
            row[col] = float(np.median(v)) if v else None
            row[f"min {col}"] = float(np.min(v)) if v else None
        out.append(row)
    return out


def _corr_figure(res: GroundTruthResults):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("pearson_cell", "pearson_pixel"), strict=True):
        for i, method in enumerate(sorted({r["method"] for r in res.rows},
                                          key=lambda m: _order(res, m))):
            bs = sorted({r["budget"] for r in res.rows if r["method"] == method
                         and r["metric"] == metric})
            med = [np.median([r["value"] for r in res.rows if r["method"] == method
                              and r["budget"] == b and r["metric"] == metric]) for b in bs]
            if not bs:
                continue
            ax.plot(bs, med, "o-" if method.startswith("leg") else "o:", color=f"C{i % 10}",
                    label=method, lw=2 if method.startswith("leg") else 1, ms=3)
        ax.set_xscale("log")
        ax.set_xlabel("budget (model evaluations; gradient evaluations for gradient methods)")
        ax.set_title(f"{metric} (median over models)", fontsize=9)
        ax.set_ylim(-0.3, 1.02)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _error_figure(res: GroundTruthResults, slopes: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, model in enumerate(sorted({r["model"] for r in res.rows})):
        pts = sorted((res.n_evaluations[(model, "leg", r["budget"])], r["value"])
                     for r in res.rows if r["model"] == model and r["method"] == "leg"
                     and r["metric"] == "rel_error")
        if pts:
            n, e = zip(*pts, strict=True)
            ax.loglog(n, e, "o-", color=f"C{i % 10}", ms=3, lw=0.8,
                      label=f"{model} ({slopes.get(model, float('nan')):+.2f})")
    if pts:
        n0 = np.array([min(p[0] for p in pts), max(p[0] for p in pts)])
        e0 = np.median([r["value"] for r in res.rows if r["metric"] == "rel_error"
                        and r["budget"] == min(r2["budget"] for r2 in res.rows)])
        ax.loglog(n0, e0 * (n0 / n0[0]) ** -0.5, "k--", lw=1, label="slope -1/2")
    ax.set_xlabel("model evaluations n")
    ax.set_ylabel("relative L2 error of LEG")
    ax.set_title(f"LEG consistency: fitted slope {slopes.get('all', float('nan')):+.2f} "
                 "(all models)", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def add_to_report(report, res: GroundTruthResults) -> None:
    report.add_table("groundtruth", res.rows, columns=[
        "model", "method", "budget", "metric", "value", "target", "n_evaluations",
        "higher_is_better"])
    report.add_table("groundtruth_targets", target_rows(res))
    report.add_table("groundtruth_summary_own", summary_rows(res, "pearson_own"))
    report.add_table("groundtruth_summary", summary_rows(res, "pearson_cell"))
    report.add_table("groundtruth_summary_pixel", summary_rows(res, "pearson_pixel"))
    slopes = error_slopes(res)
    report.add_table("groundtruth_slopes", [{"model": k, "slope": v} for k, v in slopes.items()])
    plan = res.profile.groundtruth
    text = (
        f"{len({r['model'] for r in res.rows})} ground-truth models, budgets {plan.budgets}, "
        f"{plan.repeats} seed(s) each, explained at base_image(0). Correlation with the true "
        "map pooled to LEG's grid (2 px cells; 4 px from 56 px up) — median over models "
        "(and the minimum). LEG/LEG-TV in joint mode; LEG-TV lambda "
        f"{plan.lam}. Each method is judged against its own target: the local gradient "
        "(LEG, LEG-TV, gradient, SmoothGrad, random) or the exact removal effect relative "
        "to the method's own fill and granularity, in closed form (occlusion: its patches; "
        "KernelSHAP: the Shapley values of its superpixels; LIME: each superpixel's removal "
        "effect; integrated gradients and RISE: the path attribution from their fill). The "
        "gradient map is the exact analytic gradient and occlusion is deterministic, so both "
        "equal their own target (1 by construction: a check of the plumbing). Not "
        "applicable: " + "; ".join(f"{k}: {v}" for k, v in res.skipped.items())
        + f". Cache: {res.cache_stats}. Errors: {len(res.errors)}.")
    report.add_section("Ground truth: each method against its own target", text,
                       order=30, tables=[("groundtruth_targets", None),
                                         ("groundtruth_summary_own", None)])
    report.add_section("Ground truth: correlation with the gradient (cell level)", "",
                       order=30, tables=[("groundtruth_summary", None)])
    report.add_section("Ground truth: correlation at pixel level", "", order=31,
                       tables=[("groundtruth_summary_pixel", None)])
    report.add_figure("groundtruth_correlation", _corr_figure(res),
                      "correlation with the truth vs budget")
    report.add_figure("groundtruth_leg_error", _error_figure(res, slopes),
                      "LEG relative error vs n (log-log)")
    report.add_section(
        "Ground truth: LEG consistency",
        "Relative L2 error of LEG against the true map summed over each cell (what LEG "
        "estimates: d score / d cell intensity), against the recorded model evaluations; "
        "slope of the log-log fit per model and over all models (consistency: about -1/2 "
        "until the smoothing bias of sigma dominates).", order=32,
        figures=["groundtruth_correlation", "groundtruth_leg_error"],
        tables=[("groundtruth_slopes", None)])
    if res.errors:
        report.add_table("groundtruth_errors", [{"case": "/".join(k), "error": v}
                                                for k, v in sorted(res.errors.items())])
        report.add_section("Ground truth: failures", "", order=33,
                           tables=[("groundtruth_errors", 40)], open=True)


def price(profile: Profile) -> list:
    """The ground-truth suite's work: every map of every synthetic model."""
    plan = profile.groundtruth
    if plan is None:
        return []
    from leg.harness.engine.plan import Work, overhead, plural

    models = _models(plan)
    maps = len(models) * len(plan.methods) * len(plan.budgets) * plan.repeats
    evals = len(models) * len(plan.methods) * sum(plan.budgets) * plan.repeats
    cost = len(models) * len(plan.budgets) * plan.repeats * overhead(plan.methods)
    return [Work("groundtruth", SYNTHETIC, f"maps ({plural(len(models), 'synthetic model')})",
                 maps, evals, 0, cost)]


class GroundTruthSuite(Suite):
    """Every method against its own exact target on the synthetic models."""

    name = "groundtruth"
    title = "Ground truth"
    order = 30
    description = "ground-truth accuracy on synthetic models with known saliency"
    result_type = GroundTruthResults
    checks = (Check("ground-truth", "ground truth",
                    "the lowest correlation with the method's own target (the local gradient, "
                    "or the exact removal effect for removal methods) over the synthetic "
                    "models at the largest budget, above the plan's minimum", "",
                    "ground truth"),)
    table = "groundtruth"
    key = ("model", "method", "budget", "metric")
    uses_keras = False
    tests = "test_groundtruth"
    marker = "perturbation"

    def unplanned(self, profile) -> str | None:
        if profile.groundtruth is None:
            return f"The profile {profile.name!r} has no ground-truth plan."
        return None

    def price(self, profile, images_dir, models) -> list:
        return price(profile)

    def probe(self, model: str):
        if model != SYNTHETIC:  # priced by a probe of the first
            return None
        from leg.harness.engine.plan import probe_model
        from leg.zoo.groundtruth import ground_truth_suite

        first = ground_truth_suite()[0]
        return probe_model(first, first.base_image(0))

    def run(self, pipeline: Pipeline) -> GroundTruthResults:
        return _run(pipeline)

    def verdicts(self, result) -> list[Verdict]:
        return matrix_verdicts(result)

    def leaderboards(self, result) -> list[Leaderboard]:
        return leaderboards(result)

    def metric_rows(self, result) -> list[dict]:
        return result.rows

    def planned_cells(self, profile, images_dir=None) -> list[Cell]:
        return [Cell(*c) for c in planned_cells(profile)]

    def report(self, report, result) -> None:
        add_to_report(report, result)


SUITE = GroundTruthSuite()
