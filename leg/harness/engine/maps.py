"""The maps every comparison scores, computed once: each method's explanation of each image
of the profile's comparison plans (:attr:`leg.harness.profiles.Profile.perturbation`: its
models, images, methods and budgets), keyed so that every suite that scores them shares one
cache entry per map; and :class:`MapCheck`, a suite that scores each map with one number
and judges each method against a reference over the images.

A new check that scores maps is one module under :mod:`leg.harness.checks` with a
:class:`MapCheck` subclass (its :class:`~leg.harness.checks.metrics.Metric`, its
:class:`~leg.harness.engine.suite.Check` and :meth:`MapCheck.score`) exposed as ``SUITE``;
the engine does the rest (the maps, paired statistics, verdicts, a leaderboard, the
regression table and a report section).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from leg.harness.engine.cache import explanation_key
from leg.harness.engine.inputs import array_hash
from leg.harness.engine.jobs import ExplainItem, ExplainJob
from leg.harness.engine.pipeline import Pipeline, image_ids, input_shape
from leg.harness.engine.suite import Cell, Suite, SuiteResult

__all__ = ["MapCheck", "MapResults", "MapScores", "explain_plans", "method_options"]


@dataclass
class MapResults(SuiteResult):
    """The maps of the comparison plans and what they were explained for."""

    maps: dict = field(default_factory=dict)  # (model, image, method) -> (H, W) map
    images: dict = field(default_factory=dict)  # (model, image) -> (H, W, C) image
    targets: dict = field(default_factory=dict)  # (model, image) -> class explained
    probabilities: dict = field(default_factory=dict)  # (model, image) -> its probability
    budgets: dict = field(default_factory=dict)  # model -> budget of the black-box methods
    explanations: list[dict] = field(default_factory=list)  # n_evaluations, seconds per map


def method_options(plan, method: str, shape, black_box: tuple[str, ...] = ()) -> dict:
    """The explainer options of ``method`` on a comparison ``plan``: the plan's, with
    ``cell_size`` resolved for images of ``shape``, and ``budget`` for the black-box ones."""
    from leg.harness.profiles import cell_size_for

    opts = dict(plan.options.get(method, {}))
    if isinstance(opts.get("cell_size"), str):
        opts["cell_size"] = cell_size_for(opts["cell_size"], shape)
    if method in black_box:
        opts["budget"] = int(plan.budget)
    return opts


def _no_images(profile, plan) -> str:
    return (f"no images: the {profile.name!r} profile has no perturbation plan for "
            f"{plan.spec!r}, and the generic plan compares the methods on the --leg-images "
            "folder; pass --leg-images DIR or use a profile with a plan for it (standard and "
            "paper have Lite0's)")


def explain_plans(pipe: Pipeline, plans=None) -> tuple[dict, dict]:
    """Every method's map of every image of ``plans`` (default: the profile's comparison
    plans), through ``pipe``, into its :class:`MapResults`: ``(spec -> (plan, methods that
    ran, image shape), (model, image, method) -> explanation key)``. A method that cannot
    explain a model is skipped with its reason (``result.skipped[(model, method)]``)."""
    from leg.harness.methods import available

    res, profile = pipe.result, pipe.profile
    jobs, index, ran = [], {}, {}
    t0 = time.perf_counter()
    for plan in profile.perturbation if plans is None else plans:
        if pipe.images_dir is None and plan.n_images == 0:  # a generic plan for a zoo model
            res.skipped.update({(plan.spec, m): _no_images(profile, plan)
                                for m in profile.perturbation_methods})
            continue
        clf = pipe.model(plan.spec)
        shape = input_shape(clf)
        fp = res.fingerprints[plan.spec]
        images = pipe.images(plan.spec, plan.n_images, clf)
        targets, probabilities = pipe.top1(clf, images)
        methods, skipped = available(profile.perturbation_methods, clf, profile.user_methods)
        res.skipped.update({(plan.spec, m): r for m, r in skipped.items()})
        res.budgets[plan.spec] = plan.budget
        ran[plan.spec] = (plan, methods, shape)
        for (img_id, img), target, p in zip(images, targets, probabilities, strict=True):
            items = []  # one job per image, so that workers share a model's images
            res.images[(plan.spec, img_id)] = img
            res.targets[(plan.spec, img_id)] = target
            res.probabilities[(plan.spec, img_id)] = p
            for method in methods:
                opts = method_options(plan, method, shape, profile.black_box)
                key = explanation_key(model=fp, state={"stage": "original"},
                                      image=array_hash(img), method=method, options=opts,
                                      seed=profile.seed, target=target)
                index[(plan.spec, img_id, method)] = key
                items.append(ExplainItem(key, img_id, img, method, opts, profile.seed, target))
            jobs.append(ExplainJob(plan.spec, "original", (), 0, tuple(items),
                                   pipe.cache_root))
    res.timings["plan"] = time.perf_counter() - t0
    entries = pipe.run(jobs, index, stats="maps", timing="explain")
    for (model, img_id, method), entry in entries.items():
        res.maps[(model, img_id, method)] = entry["saliency"]
        meta = entry["meta"]
        res.explanations.append({
            "model": model, "image": img_id, "method": method,
            "budget": res.budgets[model] if method in profile.black_box else None,
            "n_evaluations": meta.get("n_evaluations"), "seconds": meta.get("seconds")})
    return ran, index


def price_maps(profile, images_dir: str | None, models: dict, suite: str) -> list:
    """The work of explaining every image of the comparison plans with every method (a
    suite that shares these maps with another pays them once: the cache)."""
    from leg.harness.engine.plan import Work, overhead
    from leg.harness.methods import record

    out = []
    methods = profile.perturbation_methods
    for plan in profile.perturbation:
        shape = input_shape(models[plan.spec])
        n_img = len(image_ids(plan.spec, plan.n_images, images_dir))
        evals = grads = 0
        for method in methods:
            opts = method_options(plan, method, shape, profile.black_box)
            e, g = record(method, profile.user_methods).cost(opts, shape[2], opts.get("budget"))
            evals, grads = evals + e, grads + g
        out.append(Work(suite, plan.spec, f"maps ({n_img} images x {len(methods)} methods)",
                        n_img * len(methods), n_img * evals, n_img * grads,
                        n_img * overhead(methods)))
    return out


@dataclass
class MapScores(MapResults):
    """A :class:`MapCheck`'s result: the maps and one score row per map."""

    rows: list[dict] = field(default_factory=list)


class MapCheck(Suite):
    """A suite of one check that scores every map of the comparison plans with one number
    (:meth:`score`) and judges each method against ``reference`` over the images: a paired
    comparison (:func:`leg.harness.checks.statistics.compare_paired`, one-sided Wilcoxon,
    p < 0.05; fewer than 5 images are never significant), pass when the method is
    significantly better. Set ``name``, ``title``, ``checks`` (one
    :class:`~leg.harness.engine.suite.Check`), ``metric`` (its
    :class:`~leg.harness.checks.metrics.Metric`: name and direction) and implement
    :meth:`score`. A method's verdict is asserted when its record lists the check among its
    ``asserted`` ones (:meth:`asserted`)."""

    metric = None
    #: The method every other one is paired with (default: the comparisons' floor, the
    #: random map at LEG's granularity).
    reference: str | None = None
    result_type = MapScores
    key = ("check", "model", "image", "method", "metric")
    order = 60

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.metric is not None:
            from leg.harness.checks.metrics import register

            register(cls.metric)

    # ------------------------------------------------------------------- the one end
    def score(self, image: np.ndarray, saliency: np.ndarray, *, model: str, image_id: str,
              target: int) -> float:
        """The score of one ``(H, W)`` map of ``image`` ``(H, W, C)`` in ``[0, 1]``."""
        raise NotImplementedError(f"The check {self.name!r} does not implement score().")

    # --------------------------------------------------------------- everything else
    @property
    def table(self) -> str:
        """Its metric table (``<name>.csv``), compared with a stored run."""
        return self.name

    @property
    def check(self):
        return self.checks[0]

    def floor(self) -> str:
        from leg.harness.methods import METHODS

        return self.reference or next(n for n, m in METHODS.items() if m.floor)

    def asserted(self, method: str, users=()) -> bool:
        from leg.harness.methods import record

        return self.check.name in record(method, users).asserted

    def models(self, profile) -> list[str]:
        return [p.spec for p in profile.perturbation]

    def unplanned(self, profile) -> str | None:
        if not profile.perturbation:
            return f"the {profile.name!r} profile plans no comparison (perturbation) models"
        return None

    def price(self, profile, images_dir, models) -> list:
        return price_maps(profile, images_dir, models, self.name)

    def run(self, pipeline: Pipeline) -> MapScores:
        explain_plans(pipeline)
        res = pipeline.result
        t0 = time.perf_counter()
        for (model, img_id, method), saliency in res.maps.items():
            value = float(self.score(res.images[(model, img_id)], saliency, model=model,
                                     image_id=img_id, target=res.targets[(model, img_id)]))
            res.rows.append({"check": self.check.name, "model": model, "image": img_id,
                             "method": method, "metric": self.metric.name, "value": value,
                             "higher_is_better": self.metric.higher_is_better})
        res.timings["score"] = time.perf_counter() - t0
        return res

    def metric_rows(self, result) -> list[dict]:
        return result.rows

    def _values(self, result, model: str, method: str) -> dict[str, float]:
        return {r["image"]: r["value"] for r in result.rows
                if (r["model"], r["method"]) == (model, method)}

    def verdicts(self, result) -> list:
        from leg.harness.checks.statistics import compare_paired
        from leg.harness.checks.verdicts import Verdict

        out = []
        floor = self.floor()
        users = result.profile.user_methods
        higher = self.metric.higher_is_better
        for plan in result.profile.perturbation:
            model = plan.spec
            ref = self._values(result, model, floor)
            for method in result.profile.perturbation_methods:
                asserted = self.asserted(method, users)
                mine = self._values(result, model, method)
                common = [i for i in mine if i in ref]
                if not common:
                    why = result.skipped.get((model, method)) or (
                        f"{floor} was not scored" if not ref else "no score (see the errors)")
                    out.append(Verdict(model, method, self.check.name, "not-run",
                                       asserted=asserted, detail=why))
                    continue
                cmp = compare_paired([mine[i] for i in common], [ref[i] for i in common],
                                     higher_is_better=higher, rule="compare",
                                     seed=result.profile.seed)
                if method == floor:
                    out.append(Verdict(model, method, self.check.name, "reference",
                                       cmp.reference_median, higher_is_better=higher,
                                       n_images=cmp.n_images, detail="the reference"))
                    continue
                verdict = {"pass": "pass", "fail": "fail"}.get(cmp.verdict, "not-significant")
                out.append(Verdict(
                    model, method, self.check.name, verdict, cmp.method_median,
                    cmp.reference_median, higher, asserted,
                    f"{self.metric.name}: median {cmp.method_median:.3g} against {floor}'s "
                    f"{cmp.reference_median:.3g}; {cmp.summary()}", **cmp.row()))
        return out

    def leaderboards(self, result) -> list:
        from leg.harness.checks.statistics import median_ci
        from leg.harness.checks.verdicts import rank
        from leg.harness.methods import ours

        out = []
        for model in dict.fromkeys(r["model"] for r in result.rows):
            values = {}
            for method in dict.fromkeys(r["method"] for r in result.rows):
                vals = list(self._values(result, model, method).values())
                if vals:
                    med, lo, hi = median_ci(vals, result.profile.seed)
                    values[method] = (med, f"n={len(vals)}", lo, hi)
            better = "higher" if self.metric.higher_is_better else "lower"
            out.append(rank(f"{model}: {self.check.header} ({better} is better)", model,
                            self.metric.name, self.metric.higher_is_better, values,
                            marked=ours(result.profile.user_methods)))
        return out

    def planned_cells(self, profile, images_dir=None) -> list[Cell]:
        return [Cell(plan.spec, method, self.check.name,
                     self.asserted(method, profile.user_methods))
                for plan in profile.perturbation for method in profile.perturbation_methods]

    def report(self, report, result, comparison=None) -> None:
        report.add_table(self.name, result.rows, columns=list(self.key[:-1]) + [
            "metric", "value", "higher_is_better"])
        text = (f"{self.check.rule}. {self.metric.description} Reference: {self.floor()}. "
                + (f"What could game it: {self.check.gamed_by}. " if self.check.gamed_by
                   else "") + (f"Paper: {self.check.reference}. " if self.check.reference
                               else "") + f"Errors: {len(result.errors)}.")
        report.add_section(self.title, text, order=self.order, tables=[(self.name, 40)])
        if comparison is not None:
            from leg.harness.report.baseline import add_comparison_section

            add_comparison_section(report, f"{self.name}_vs_baseline",
                                   f"{self.title}: comparison with the baseline", comparison,
                                   self.order + 1)
