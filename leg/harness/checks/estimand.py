"""Estimand accuracy: LEG's estimators against LEG's exact target on differentiable models.

LEG estimates ``γ* = E[∇_ε f(x0 + ε)]`` (Stein's identity; :mod:`leg.estimand`). For any
model with a ``.gradient`` (the Keras adapter, the digits CNNs, Lite0, the ground-truth
models) ``γ*`` is computed by autodiff over ``gradients`` draws at the run's σ, grid and
mode, and each LEG variant is scored against it at several budgets — the ground-truth check
on real networks.

Variants (:data:`VARIANTS`; one sampling run per image at the largest budget, each budget
uses its first n samples, so the curves are nested like a growing run):
``ridge`` (LEG's default), ``ols``, ``moment`` (the paper's estimator), ``leg-tv`` (on
the ridge) and ``leg-tv-moment`` (the paper's LEG-TV), at LEG-TV's ``lam``.

Metrics per (model, image, variant, budget): ``pearson`` (correlation of the cell maps)
and ``rel_error`` (``‖γ̂ − γ*‖ / ‖γ*‖``); the report fits the slope of log(error) against
log(n) per model and variant (consistency: about −1/2 until the noise floor of ``γ*``
itself) and draws the log-log curves. The estimand's own precision (correlation of its two
halves) is reported next to it.

Estimands and the variants' maps are cached (:class:`leg.harness.engine.cache.ExplanationCache`),
so a re-run recomputes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from leg.harness.checks.metrics import Metric, register
from leg.harness.checks.metrics import metric as metric_of
from leg.harness.checks.statistics import median_ci, pearson
from leg.harness.checks.verdicts import SYNTHETIC, Leaderboard, Verdict, rank
from leg.harness.engine.cache import ExplanationCache, explanation_key
from leg.harness.engine.inputs import array_hash, load_model_once
from leg.harness.engine.pipeline import Pipeline
from leg.harness.engine.suite import Cell, Check, Suite, SuiteResult
from leg.harness.profiles import EstimandPlan, Profile, cell_size_for

__all__ = ["VARIANTS", "EstimandResults", "add_to_report",
           "check_accuracy", "check_beats_moment", "check_design", "check_error_falls",
           "error_slopes",
           "leaderboards", "matrix_verdicts", "run_estimand"]

register(Metric("pearson", True, "Pearson correlation of the cell map with LEG's exact "
                "estimand.", "estimand", -1.0, 1.0, "Luo et al., ICCV 2021"))


def _leg(estimator: str):
    def variant(responses, target, lam):
        from leg.estimator import estimate_leg

        return estimate_leg(responses, target, estimator=estimator).channel_maps
    return variant


def _leg_tv(estimator: str):
    def variant(responses, target, lam):
        from leg.estimator import estimate_leg_tv

        return estimate_leg_tv(responses, target, lambdas=[lam], estimator=estimator,
                               reliability=None)[0].channel_maps
    return variant


#: name -> ``f(responses, target, lam) -> (S, ph, pw)`` maps (ValueError: not applicable)
VARIANTS = {
    "ridge": _leg("ridge"),
    "ols": _leg("ols"),
    "moment": _leg("moment"),
    "leg-tv": _leg_tv("ridge"),
    "leg-tv-moment": _leg_tv("moment"),
}
DEFAULT_VARIANT = "ridge"
#: LEG's default perturbation design (:mod:`leg.designs`); the plan's ``designs`` are each
#: scored with the default estimator at the same budgets, as variants ``ridge-<design>``.
DEFAULT_DESIGN = "orthogonal"


def design_variant(design: str) -> str:
    return f"{DEFAULT_VARIANT}-{design}"


@dataclass
class EstimandResults(SuiteResult):
    rows: list[dict] = field(default_factory=list)  # model, image, variant, budget, metric, value
    precision: list[dict] = field(default_factory=list)  # model, image, half_correlation
    maps: dict = field(default_factory=dict)  # (model, image) -> estimand (S, ph, pw)

    def values(self, model: str, variant: str, budget: int, metric: str) -> list[float]:
        return [r["value"] for r in self.rows if (r["model"], r["variant"], r["budget"],
                                                  r["metric"]) == (model, variant, budget, metric)]

    def median(self, model: str, variant: str, budget: int, metric: str) -> float | None:
        v = self.values(model, variant, budget, metric)
        return float(np.median(v)) if v else None


def _leg_options(plan: EstimandPlan, shape) -> dict:
    import leg

    cell = cell_size_for(plan.cell_size, shape)
    sigma = plan.sigma if plan.sigma is not None else leg.LEG.DEFAULT_SIGMA
    return {"cell_size": int(cell), "sigma": float(sigma), "mode": plan.mode}


def _estimate_all(responses, target, budgets, lam, variants=VARIANTS) -> np.ndarray:
    """Maps ``(V, B, S, ph, pw)`` of every one of ``variants`` at every budget (NaN where a
    variant does not apply, e.g. least squares with fewer pairs than cells)."""
    sets = responses.eps.shape[0]
    out = np.full((len(variants), len(budgets), *responses.eps.shape[:1],
                   *responses.grid.shape), np.nan)
    for j, n in enumerate(budgets):
        per_set = max(2, (n - 1) // sets)
        sub = responses.head(min(per_set - per_set % 2, responses.n_samples))
        for i, variant in enumerate(variants.values()):
            try:
                out[i, j] = variant(sub, target, lam)
            except ValueError:
                continue
    return out


@dataclass(frozen=True)
class EstimandItem:
    """One cached array of the suite: the estimand of an image (``kind="estimand"``) or
    every variant's maps at every budget (``kind="variants"``)."""

    key: str
    kind: str
    image_id: str
    image: np.ndarray = field(repr=False, compare=False)
    target: int
    options: dict = field(compare=False)


@dataclass(frozen=True)
class EstimandJob:
    """The estimand items of one model (a job of :func:`leg.harness.engine.jobs.run_jobs`)."""

    model_spec: str
    plan: EstimandPlan
    seed: int
    items: tuple[EstimandItem, ...]
    cache_root: str

    @property
    def label(self) -> str:
        return f"{self.model_spec}:estimand"

    @property
    def cache(self) -> ExplanationCache:
        return ExplanationCache(self.cache_root)


def estimand_job(job: EstimandJob, done: frozenset[str] = frozenset()):
    """Compute the job's items not in ``done``, wherever the job runs: yields
    ``(key, status, seconds, encoded entry)`` per item (see :mod:`leg.harness.engine.executors`)."""
    import leg

    todo = [it for it in job.items if it.key not in done]
    if not todo:
        return
    model = load_model_once(job.model_spec)
    budgets = sorted(job.plan.budgets)
    for it in todo:
        t0 = time.perf_counter()
        try:
            if it.kind == "estimand":
                grid = leg.Grid.from_cell_size(*it.image.shape[:2], it.options["cell_size"])
                array, value = _estimand(model, it.image, grid, it.target, it.options,
                                         job.plan, job.seed)
            elif it.kind == "design":  # the default estimator on another design's samples
                array, value = _variants(model, it.image, it.target, it.options, job.plan,
                                         budgets, job.seed,
                                         {DEFAULT_VARIANT: VARIANTS[DEFAULT_VARIANT]})
            else:
                array, value = _variants(model, it.image, it.target, it.options, job.plan,
                                         budgets, job.seed)
        except Exception as exc:  # one failing image must not sink the others
            yield it.key, f"error: {type(exc).__name__}: {exc}", 0.0, None
            continue
        secs = time.perf_counter() - t0
        yield it.key, "computed", secs, ExplanationCache.encode(it.key, array, {"value": value})


def run_estimand(profile: Profile, *, cache_root: str, images_dir: str | None = None,
                 executor=None) -> EstimandResults:
    """Plan every estimand and estimate of ``profile``, compute the missing ones through
    ``executor`` (default: in this process), read them back and score them."""
    res = EstimandResults(profile=profile)
    return SUITE.run(Pipeline(profile, res, cache_root=cache_root, images_dir=images_dir,
                              executor=executor))


def _run(pipe: Pipeline) -> EstimandResults:
    import leg

    res, profile = pipe.result, pipe.profile
    t_start = time.perf_counter()
    jobs, planned, index = [], [], {}
    for plan in profile.estimand:
        model = pipe.model(plan.spec)
        if not callable(getattr(model, "gradient", None)):
            res.skipped[plan.spec] = ("the model has no .gradient(images, target) method, so "
                                      "its estimand cannot be computed")
            continue
        fp = res.fingerprints[plan.spec]
        budgets = sorted(plan.budgets)
        items = []
        for name, image in pipe.images(plan.spec, plan.n_images, model):
            opts = _leg_options(plan, image.shape)
            grid = leg.Grid.from_cell_size(*image.shape[:2], opts["cell_size"])
            try:
                target = int(np.argmax(model(image[None])[0]))
            except Exception as exc:  # one failing image must not sink the others
                res.errors[(plan.spec, name)] = f"{type(exc).__name__}: {exc}"
                continue
            common = dict(model=fp, state={"stage": "original"}, image=array_hash(image),
                          seed=profile.seed, target=target)
            truth = explanation_key(**common, method="estimand",
                                    options={**opts, "gradients": plan.gradients})
            variants = explanation_key(**common, method="estimand-variants",
                                       options={**opts, "budgets": budgets,
                                                "variants": list(VARIANTS), "lam": plan.lam})
            items += [EstimandItem(truth, "estimand", name, image, target, opts),
                      EstimandItem(variants, "variants", name, image, target, opts)]
            index[(plan.spec, name)] = truth
            index[(plan.spec, f"{name}:variants")] = variants
            designs = {d: explanation_key(**common, method="estimand-design",
                                          options={**opts, "budgets": budgets, "design": d})
                       for d in plan.designs}
            items += [EstimandItem(k, "design", name, image, target, {**opts, "design": d})
                      for d, k in designs.items()]
            index.update({(plan.spec, f"{name}:{d}"): k for d, k in designs.items()})
            planned.append((plan, name, opts, grid, designs))
        if items:
            jobs.append(EstimandJob(plan.spec, plan, profile.seed, tuple(items),
                                    pipe.cache_root))
    entries = pipe.run(jobs, index, produce=estimand_job, desc="estimands")
    for plan, name, opts, grid, designs in planned:
        truth, variants = (entries.get((plan.spec, name)),
                           entries.get((plan.spec, f"{name}:variants")))
        if truth is None or variants is None:
            continue
        estimand, precision = truth["saliency"], truth["meta"].get("value")
        maps = variants["saliency"]
        budgets = sorted(plan.budgets)
        res.maps[(plan.spec, name)] = estimand
        res.precision.append({"model": plan.spec, "image": name,
                              "half_correlation": precision, "gradients": plan.gradients,
                              "grid": "x".join(map(str, grid.shape)), **opts})
        scored = [(variant, maps[i]) for i, variant in enumerate(VARIANTS)]
        for design in designs:
            entry = entries.get((plan.spec, f"{name}:{design}"))
            if entry is not None:
                scored.append((design_variant(design), entry["saliency"][0]))
        for variant, by_budget in scored:
            for j, n in enumerate(budgets):
                est = by_budget[j]
                if not np.all(np.isfinite(est)):
                    continue
                for metric, value in (
                        ("pearson", pearson(est, estimand)),
                        ("rel_error", float(np.linalg.norm(est - estimand)
                                            / np.linalg.norm(estimand)))):
                    res.rows.append({
                        "model": plan.spec, "image": name, "variant": variant,
                        "budget": n, "metric": metric, "value": value,
                        "higher_is_better": metric_of(metric).higher_is_better})
    res.timings["total"] = time.perf_counter() - t_start
    return res


def _estimand(model, image, grid, target, opts, plan, seed):
    import leg

    est = leg.leg_estimand(model, image, grid, target, sigma=opts["sigma"], mode=opts["mode"],
                           n_draws=plan.gradients, batch_size=32, seed=seed + 7919)
    return est.channel_maps, est.half_correlation


def _variants(model, image, target, opts, plan, budgets, seed, variants=VARIANTS):
    """``variants``' maps ``(V, B, S, ph, pw)`` at every budget, from one set of samples
    drawn with ``opts`` (``opts["design"]``: another design than LEG's default)."""
    import leg

    sets = image.shape[2] if opts["mode"] == "per_channel" else 1
    per_set = max(2, (budgets[-1] - 1) // sets)
    explainer = leg.LEG(model, n_samples=per_set - per_set % 2, batch_size=32, **opts)
    responses = explainer.sample(image, seed=seed)
    return _estimate_all(responses, target, budgets, plan.lam, variants), None


def _cells(res: EstimandResults, plan: EstimandPlan) -> int | None:
    grids = {r["grid"] for r in res.precision if r["model"] == plan.spec}
    if len(grids) != 1:
        return None
    rows, cols = (int(v) for v in grids.pop().split("x"))
    return rows * cols


def design_budgets(res: EstimandResults, plan: EstimandPlan) -> list[int]:
    """The budgets at which the designs are compared: those with more antithetic pairs per
    sample set than cells. Below that the ridge map is the prior's as much as the data's
    (and the reliability prediction is not trusted either), so the designs are reported
    there, not judged."""
    cells = _cells(res, plan)
    maps = [m for (spec, _), m in res.maps.items() if spec == plan.spec]
    if cells is None or not maps:
        return []
    sets = maps[0].shape[0]  # sample sets: channels (per-channel mode) or 1 (joint)
    return [n for n in plan.budgets if (n - 1) // sets // 2 > cells]


def check_design(res: EstimandResults, plan: EstimandPlan, *, tolerance: float = 0.02
                 ) -> list[str]:
    """The default design must be at least as accurate as each of the plan's others (median
    correlation with the estimand over images, within ``tolerance``) at every budget of
    :func:`design_budgets`: the failures, as text."""
    bad = []
    for design in plan.designs:
        for n in design_budgets(res, plan):
            ours = res.median(plan.spec, DEFAULT_VARIANT, n, "pearson")
            other = res.median(plan.spec, design_variant(design), n, "pearson")
            if ours is not None and other is not None and ours < other - tolerance:
                bad.append(f"n={n}: {DEFAULT_DESIGN} {ours:.3f} < {design} {other:.3f}")
    return bad


# ---------------------------------------------------------------------------- checks

def error_slopes(res: EstimandResults) -> list[dict]:
    """Slope of log(median relative error) against log(n), per model and variant."""
    out = []
    for model in dict.fromkeys(r["model"] for r in res.rows):
        for variant in VARIANTS:
            pts = [(b, res.median(model, variant, b, "rel_error"))
                   for b in sorted({r["budget"] for r in res.rows if r["model"] == model})]
            pts = [(b, e) for b, e in pts if e is not None and e > 0]
            if len(pts) >= 2:
                n, e = np.log(np.array(pts)).T
                out.append({"model": model, "variant": variant,
                            "slope": float(np.polyfit(n, e, 1)[0])})
    return out


def check_accuracy(res: EstimandResults, plan: EstimandPlan,
                   variant: str = DEFAULT_VARIANT) -> list[str]:
    """Failures: the variant's median correlation at the largest budget is below the plan's
    ``min_corr``."""
    b = max(plan.budgets)
    v = res.median(plan.spec, variant, b, "pearson")
    if v is None:
        return [f"{variant} has no result at n={b} on {plan.spec}"]
    return [] if v >= plan.min_corr else [
        f"{variant}: median correlation with the estimand at n={b} is {v:.3f} < "
        f"{plan.min_corr}"]


def check_error_falls(res: EstimandResults, plan: EstimandPlan,
                      variant: str = DEFAULT_VARIANT) -> list[str]:
    """Failures: the variant's relative error does not fall with n (slope >= 0)."""
    slopes = {(s["model"], s["variant"]): s["slope"] for s in error_slopes(res)}
    slope = slopes.get((plan.spec, variant))
    if slope is None:
        return [f"{variant} is not measured at two budgets on {plan.spec}"]
    return [] if slope < 0 else [f"{variant}: the relative error does not fall with n "
                                 f"(log-log slope {slope:+.2f})"]


def check_beats_moment(res: EstimandResults, plan: EstimandPlan,
                       variant: str = DEFAULT_VARIANT) -> list[str]:
    """Failures: budgets where the variant's median correlation is below the moment
    estimator's (the published LEG) by more than 0.02."""
    bad = []
    for b in sorted(plan.budgets):
        v, m = (res.median(plan.spec, x, b, "pearson") for x in (variant, "moment"))
        if v is not None and m is not None and v < m - 0.02:
            bad.append(f"n={b}: {variant} {v:.3f} < moment {m:.3f}")
    return bad


# ---------------------------------------------------------------------------- report

def summary_rows(res: EstimandResults, metric: str = "pearson") -> list[dict]:
    """Per model and variant: the metric's median over images at each budget."""
    out = []
    for model in dict.fromkeys(r["model"] for r in res.rows):
        budgets = sorted({r["budget"] for r in res.rows if r["model"] == model})
        for variant in VARIANTS:
            row = {"model": model, "variant": variant}
            for b in budgets:
                row[f"n={b}"] = res.median(model, variant, b, metric)
            out.append(row)
    return out


#: Matrix method -> the variant that stands for it (LEG's default estimator, LEG-TV on it).
MATRIX_VARIANTS = {"leg": DEFAULT_VARIANT, "leg-tv": "leg-tv"}


def _plan_verdict(res: EstimandResults, plan: EstimandPlan, method: str) -> Verdict:
    variant = MATRIX_VARIANTS[method]
    asserted = variant == DEFAULT_VARIANT
    top = max(plan.budgets)
    value = res.median(plan.spec, variant, top, "pearson")
    why = res.skipped.get(plan.spec) or "; ".join(
        f"{img}: {err}" for (spec, img), err in res.errors.items() if spec == plan.spec)
    if why or value is None:
        return Verdict(plan.spec, method, "estimand", "not-run", asserted=asserted,
                       detail=why or f"{variant} has no result at n={top}")
    bad = (check_accuracy(res, plan) + check_error_falls(res, plan)
           + check_beats_moment(res, plan)) if asserted else (
        [] if value >= plan.min_corr else ["below the minimum"])
    # a precision threshold, not a comparison between methods: n and the CI of the median
    # correlation's distance to the minimum are shown, with no p-value
    per_image = res.values(plan.spec, variant, top, "pearson")
    _, lo, hi = median_ci(per_image, seed=res.profile.seed)
    n = len(per_image)
    return Verdict(plan.spec, method, "estimand", "fail" if bad else "pass", value,
                   plan.min_corr, True, asserted,
                   f"{plan.spec}, {variant}: median correlation at n={top} {value:.3f} over "
                   f"{n} image(s), 95% CI [{lo:.3f}, {hi:.3f}], must reach {plan.min_corr}"
                   + (f"; {'; '.join(bad)}" if bad else ""),
                   n_images=n, ci_low=lo - plan.min_corr, ci_high=hi - plan.min_corr)


def planned_cells(profile: Profile) -> list[tuple[str, str, str]]:
    """``(model, method, check)`` of every matrix cell this suite would fill for ``profile``
    (shown as "not run" when the suite did not run)."""
    models = dict.fromkeys(SYNTHETIC if p.spec.startswith("groundtruth:") else p.spec
                           for p in profile.estimand)
    return [(model, method, "estimand") for model in models for method in MATRIX_VARIANTS]


def matrix_verdicts(res: EstimandResults) -> list[Verdict]:
    """Per model: LEG (its default estimator; the three asserted checks of
    :mod:`leg.harness.evaluation.test_estimand`) and LEG-TV (reported: the same correlation rule).
    The
    synthetic models' verdicts are folded into one, under the ground-truth suite's name
    (:data:`leg.harness.checks.verdicts.SYNTHETIC`): the worst of them decides."""
    groups: dict = {}
    for plan in res.profile.estimand:
        model = SYNTHETIC if plan.spec.startswith("groundtruth:") else plan.spec
        for method in MATRIX_VARIANTS:
            groups.setdefault((model, method), []).append(_plan_verdict(res, plan, method))
    order = ("fail", "not-run", "pass")
    out = []
    for (model, _), verdicts in groups.items():
        worst = min(verdicts, key=lambda v: (order.index(v.verdict), v.value or 0.0))
        out.append(replace(worst, model=model, detail="; ".join(v.detail for v in verdicts)))
    return out


def leaderboards(res: EstimandResults) -> list[Leaderboard]:
    """Per model: the variants ranked by their median correlation with the estimand at the
    largest budget (LEG's default and LEG-TV marked)."""
    out = []
    for model in dict.fromkeys(r["model"] for r in res.rows):
        top = max(r["budget"] for r in res.rows if r["model"] == model)
        values = {v: res.median(model, v, top, "pearson") for v in VARIANTS}
        out.append(rank("estimand: correlation with LEG's exact target at the largest budget "
                        "(higher is better)", f"{model} n={top}", "pearson", True,
                        {v: x for v, x in values.items() if x is not None},
                        marked=tuple(MATRIX_VARIANTS.values())))
    return out


def _error_figure(res: EstimandResults, slopes: list[dict]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in res.rows))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    slope = {(s["model"], s["variant"]): s["slope"] for s in slopes}
    for ax, model in zip(axes[0], models, strict=True):
        budgets = sorted({r["budget"] for r in res.rows if r["model"] == model})
        for i, variant in enumerate(VARIANTS):
            pts = [(b, res.median(model, variant, b, "rel_error")) for b in budgets]
            pts = [(b, e) for b, e in pts if e is not None]
            if pts:
                n, e = zip(*pts, strict=True)
                ax.loglog(n, e, "o-" if variant == DEFAULT_VARIANT else "o:", ms=3,
                          color=f"C{i}", lw=2 if variant == DEFAULT_VARIANT else 1,
                          label=f"{variant} ({slope.get((model, variant), float('nan')):+.2f})")
        if budgets:
            n0 = np.array([budgets[0], budgets[-1]], dtype=float)
            e0 = res.median(model, "moment", budgets[0], "rel_error")
            if e0:
                ax.loglog(n0, e0 * (n0 / n0[0]) ** -0.5, "k--", lw=0.8, label="slope -1/2")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("model evaluations n")
        ax.set_ylabel("relative error vs the estimand")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def add_to_report(report, res: EstimandResults) -> None:
    report.add_table("estimand", res.rows, columns=[
        "model", "image", "variant", "budget", "metric", "value", "higher_is_better"])
    report.add_table("estimand_summary", summary_rows(res, "pearson"))
    report.add_table("estimand_error_summary", summary_rows(res, "rel_error"))
    report.add_table("estimand_precision", res.precision)
    slopes = error_slopes(res)
    report.add_table("estimand_slopes", slopes)
    plans = "; ".join(f"{p.spec}: {p.n_images} image(s), {p.gradients} gradients, budgets "
                      f"{list(p.budgets)}" for p in res.profile.estimand)
    text = (
        "Each LEG variant against LEG's exact estimand E[grad f(x0 + eps)] (autodiff over "
        f"many draws at the run's sigma, grid and mode). {plans}. Median Pearson correlation "
        "over images; 'ridge' is LEG's default, 'moment' the published estimator, 'leg-tv' "
        "LEG-TV on the ridge, 'leg-tv-moment' the published LEG-TV. The estimand's own "
        "precision (half-vs-half correlation) is in estimand_precision.csv."
        + (f" Skipped: {res.skipped}." if res.skipped else "")
        + (f" Errors: {res.errors}." if res.errors else "")
        + f" Cache: {res.cache_stats}.")
    report.add_figure("estimand_error", _error_figure(res, slopes),
                      "relative error against the estimand vs n (log-log)")
    report.add_section("Estimand accuracy: LEG variants against the exact target", text,
                       order=35, figures=["estimand_error"],
                       tables=[("estimand_summary", None), ("estimand_error_summary", None),
                               ("estimand_slopes", None), ("estimand_precision", None)])


def price(profile: Profile, images_dir: str | None, models: dict) -> list:
    """The estimand suite's work: per image the estimand's gradients and every design's
    samples at the largest budget."""
    from leg.harness.engine.plan import Work, plural

    out = []
    for plan in profile.estimand:
        clf = models.get(plan.spec)
        if clf is None or not callable(getattr(clf, "gradient", None)):
            continue
        n_img = plan.n_images
        if images_dir and not plan.spec.startswith("groundtruth:"):
            from leg.harness.engine.inputs import image_folder_names

            n_img = min(n_img, len(image_folder_names(images_dir)))
        sets = 1 + len(plan.designs)  # the default design's samples, then each other's
        out.append(Work("estimand", plan.spec, f"estimands and variants ({plural(n_img, 'image')}, "
                        f"{plural(sets, 'design')})", (1 + sets) * n_img,
                        n_img * sets * max(plan.budgets), n_img * plan.gradients))
    return out


class EstimandSuite(Suite):
    """LEG's estimators against their exact estimand (see the module docstring)."""

    name = "estimand"
    title = "Estimand accuracy"
    order = 35
    description = ("LEG's estimators against their exact estimand (autodiff) on "
                   "differentiable models")
    result_type = EstimandResults
    checks = (Check("estimand", "estimand",
                    "median correlation with LEG's exact estimand at the largest budget, above "
                    "the plan's minimum (LEG: its error must also fall with n and it must not "
                    "be worse than the published estimator)",
                    "Luo et al., ICCV 2021 (Stein's identity)", "estimand"),)
    table = "estimand"
    key = ("model", "image", "variant", "budget", "metric")
    tests = "test_estimand"

    def unplanned(self, profile) -> str | None:
        if not profile.estimand:
            return f"The profile {profile.name!r} has no estimand plan."
        return None

    def models(self, profile) -> list[str]:
        return [p.spec for p in profile.estimand]

    def price(self, profile, images_dir, models) -> list:
        return price(profile, images_dir, models)

    def run(self, pipeline: Pipeline) -> EstimandResults:
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


SUITE = EstimandSuite()
