"""Checks that score each map with a number and judge each method over the images:
:class:`MapCheck`.

A new check of this kind is one module under :mod:`leg.harness.checks` (or in another
package, through the entry-point group ``leg.checks``) with a :class:`MapCheck` subclass —
its checks and metrics (``metrics``: :class:`~leg.harness.engine.suite.Check` and
:class:`~leg.harness.checks.metrics.Metric` pairs) and :meth:`MapCheck.score` — exposed as
``SUITE``. The engine does the rest: the maps of the comparison plans (shared with every
other suite that scores them, :func:`leg.harness.engine.maps.explain_plans`), paired
statistics, verdicts, a leaderboard per check, the regression table and a report section.

How a check is judged (paired over images, one-sided Wilcoxon, p < 0.05; fewer than 5
images: undecided):

* against the floor (default): a method passes when its values are significantly better
  than the random map's at LEG's granularity on the same images (an asserted method fails
  when not shown better; a reported one when shown worse, else "not significant");
* against a bound (``bounds[check]``): a method passes when its values are significantly
  better than the bound (a tolerance: input invariance, completeness).

**What games a map metric.** A map that ignores the model can look sparse, robust, well
localised or invariant. So a pass also needs model dependence (``gated``): where the
sanity suite ran on the model, the method must have passed cascading randomization (maps
that move when the model does); elsewhere the methods whose record says they are controls
(the edge detector, the random map) cannot pass. A would-be pass of a method that fails the
gate reads "uninformative", with the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from leg.harness.engine.maps import MapResults, explain_plans, price_maps
from leg.harness.engine.pipeline import Pipeline, image_ids
from leg.harness.engine.suite import Cell, Suite

__all__ = ["GATE", "MapCheck", "MapScores", "model_dependence", "price_variants"]

#: How the model-dependence gate keeps a control from passing (the checks' ``gamed_by``).
GATE = ("the model-dependence gate: a pass needs the method to pass cascading randomization "
        "where it ran, and controls never pass")


@dataclass
class MapScores(MapResults):
    """A :class:`MapCheck`'s result: the maps and one row per map and check
    (``check, model, image, method, metric, value, higher_is_better``); ``gates``:
    ``(model, method) -> (passes, why)`` of the model-dependence gate."""

    rows: list[dict] = field(default_factory=list)
    gates: dict = field(default_factory=dict)
    #: What a suite's :meth:`MapCheck.prepare` computed beside the maps (more maps, model
    #: calls, regions), by its own keys.
    extra: dict = field(default_factory=dict)
    #: One line per problem that left an image or a method unscored (a bad mask, ...).
    notes: list[str] = field(default_factory=list)


def model_dependence(needed: dict, profile, model: str, method: str) -> tuple[bool, str]:
    """``(whether method's maps depend on model, why)``: its cascading verdict where the
    sanity suite ran on ``model`` (in ``needed``), else whether its record is a control (or
    the floor, a random map)."""
    from leg.harness.methods import record

    sanity = needed.get("sanity")
    if sanity is not None:
        v = sanity.verdict(model, method, "cascading")
        if v is not None and v.verdict not in ("not-run", "undecided"):
            return (v.verdict == "pass",
                    f"cascading randomization on {model}: {v.verdict}")
    rec = record(method, profile.user_methods)
    if rec.role == "control" or rec.floor:
        return False, "a control: its maps ignore the model"
    return True, "model dependence not measured on this model (no sanity check ran on it)"


class MapCheck(Suite):
    """A suite of checks that score every map of the comparison plans (see the module
    docstring). Set ``name``, ``title``, ``metrics`` (``(Check, Metric)`` pairs: the checks
    follow) and implement :meth:`score`; ``bounds``: check -> the tolerance it is judged
    against instead of the floor; ``gated``: a pass needs model dependence; a method is
    asserted on a check when its record lists it among its ``asserted`` checks
    (:meth:`asserted`)."""

    metrics: tuple = ()
    bounds: dict = {}
    gated: bool = True
    #: The method every other one is paired with (default: the comparisons' floor, the
    #: random map at LEG's granularity).
    reference: str | None = None
    result_type = MapScores
    key = ("check", "model", "image", "method", "metric")
    order = 60
    needs = ("sanity",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.metrics:
            from leg.harness.checks.metrics import register

            cls.checks = tuple(c for c, _ in cls.metrics)
            for _, m in cls.metrics:
                register(m)

    # ------------------------------------------------------------------- the two ends
    def score(self, check: str, image: np.ndarray, saliency: np.ndarray, *, model: str,
              image_id: str, target: int, method: str, result: MapScores) -> float:
        """The ``check``'s value of one ``(H, W)`` map of ``image`` ``(H, W, C)`` (NaN: not
        scored; ``result.extra``: what :meth:`prepare` computed)."""
        raise NotImplementedError(f"The suite {self.name!r} does not implement score().")

    def prepare(self, pipeline: Pipeline, ran: dict) -> None:
        """Anything the scores need beyond the maps, into ``pipeline.result.extra``
        (``ran``: spec -> (plan, methods explained, image shape), from
        :func:`~leg.harness.engine.maps.explain_plans`). Default: nothing."""

    # --------------------------------------------------------------- everything else
    @property
    def table(self) -> str:
        """Its metric table (``<name>.csv``), compared with a stored run."""
        return self.name

    def metric_of(self, check: str):
        return dict((c.name, m) for c, m in self.metrics)[check]

    def floor(self) -> str:
        from leg.harness.methods import METHODS

        return self.reference or next(n for n, m in METHODS.items() if m.floor)

    def asserted(self, check: str, method: str, users=()) -> bool:
        from leg.harness.methods import record

        return check in record(method, users).asserted

    def applies(self, check: str, method: str, users=()) -> str | None:
        """Why ``check`` does not apply to ``method`` (``None``: it does)."""
        return None

    def models(self, profile) -> list[str]:
        return [p.spec for p in profile.perturbation]

    def unplanned(self, profile) -> str | None:
        if not profile.perturbation:
            return f"the {profile.name!r} profile plans no comparison (perturbation) models"
        return None

    def price(self, profile, images_dir, models) -> list:
        return price_maps(profile, images_dir, models, self.name)

    def run(self, pipeline: Pipeline) -> MapScores:
        ran, _ = explain_plans(pipeline)
        res = pipeline.result
        t0 = time.perf_counter()
        self.prepare(pipeline, ran)
        res.timings["prepare"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for (model, img_id, method), saliency in res.maps.items():
            for check, _metric in self.metrics:
                if self.applies(check.name, method, res.profile.user_methods):
                    continue
                value = self.score(check.name, res.images[(model, img_id)], saliency,
                                   model=model, image_id=img_id, method=method,
                                   target=res.targets[(model, img_id)], result=res)
                if value is not None:
                    self.add_row(res, check.name, model, img_id, method, value)
        res.timings["score"] = time.perf_counter() - t0
        self.judge_gates(pipeline)
        return res

    def add_row(self, res: MapScores, check: str, model: str, image: str, method: str,
                value) -> None:
        """One row; ``value``: a number, or ``(judged value, raw metric value)`` for a check
        judged on a relative form of its metric (robustness, infidelity)."""
        metric = self.metric_of(check)
        judged, raw = value if isinstance(value, tuple) else (value, value)
        res.rows.append({"check": check, "model": model, "image": image, "method": method,
                         "metric": metric.name, "value": float(judged), "raw": float(raw),
                         "higher_is_better": metric.higher_is_better})

    def judge_gates(self, pipeline: Pipeline) -> None:
        """The model-dependence gate of every (model, method) scored."""
        res = pipeline.result
        for model, method in {(r["model"], r["method"]) for r in res.rows}:
            res.gates[(model, method)] = model_dependence(pipeline.needed, res.profile,
                                                          model, method)

    def metric_rows(self, result) -> list[dict]:
        return result.rows

    def _values(self, result, model: str, method: str, check: str) -> dict[str, float]:
        return {r["image"]: r["value"] for r in result.rows
                if (r["model"], r["method"], r["check"]) == (model, method, check)
                and np.isfinite(r["value"])}

    def verdicts(self, result) -> list:
        from leg.harness.checks.statistics import compare_paired, min_images_for
        from leg.harness.checks.verdicts import Verdict

        out = []
        floor = self.floor()
        users = result.profile.user_methods
        for plan in result.profile.perturbation:
            model = plan.spec
            for check, metric in self.metrics:
                higher = metric.higher_is_better
                bound = self.bounds.get(check.name)
                ref = ({} if bound is not None
                       else self._values(result, model, floor, check.name))
                for method in result.profile.perturbation_methods:
                    asserted = self.asserted(check.name, method, users)
                    why_not = self.applies(check.name, method, users)
                    mine = self._values(result, model, method, check.name)
                    common = list(mine) if bound is not None else [i for i in mine if i in ref]
                    if why_not or not common:
                        why = why_not or result.skipped.get((model, method)) or (
                            f"{floor} was not scored" if bound is None and not ref
                            else "no score (see the errors)")
                        out.append(Verdict(model, method, check.name, "not-run",
                                           asserted=asserted, detail=why))
                        continue
                    reference = (bound if bound is not None else [ref[i] for i in common])
                    rule = "require" if asserted or bound is not None else "compare"
                    cmp = compare_paired([mine[i] for i in common], reference,
                                         higher_is_better=higher, rule=rule,
                                         seed=result.profile.seed)
                    if method == floor and bound is None:
                        out.append(Verdict(model, method, check.name, "reference",
                                           cmp.reference_median, higher_is_better=higher,
                                           n_images=cmp.n_images, detail="the reference"))
                        continue
                    verdict = ("undecided" if cmp.n_images < min_images_for() else
                               {"pass": "pass", "fail": "fail"}.get(cmp.verdict,
                                                                     "not-significant"))
                    against = f"the bound {bound:g}" if bound is not None else (
                        f"{floor}'s {cmp.reference_median:.3g}")
                    detail = (f"{metric.name}: median {cmp.method_median:.3g} against "
                              f"{against}; {cmp.summary()}")
                    if self.gated:
                        ok, why = result.gates.get((model, method), (True, ""))
                        if not ok and verdict == "pass":
                            verdict = "uninformative"
                        detail += f"; model dependence: {why}"
                    out.append(Verdict(model, method, check.name, verdict, cmp.method_median,
                                       bound if bound is not None else cmp.reference_median,
                                       higher, asserted, detail, **cmp.row()))
        return out

    def leaderboards(self, result) -> list:
        from leg.harness.checks.statistics import median_ci
        from leg.harness.checks.verdicts import rank
        from leg.harness.methods import ours

        out = []
        for check, metric in self.metrics:
            for model in dict.fromkeys(r["model"] for r in result.rows
                                       if r["check"] == check.name):
                values = {}
                for method in dict.fromkeys(r["method"] for r in result.rows):
                    vals = list(self._values(result, model, method, check.name).values())
                    if vals:
                        med, lo, hi = median_ci(vals, result.profile.seed)
                        values[method] = (med, f"n={len(vals)}", lo, hi)
                better = "higher" if metric.higher_is_better else "lower"
                out.append(rank(f"{model}: {self.title} ({better} is better)", check.header,
                                metric.name, metric.higher_is_better, values,
                                marked=ours(result.profile.user_methods)))
        return out

    def planned_cells(self, profile, images_dir=None) -> list[Cell]:
        users = profile.user_methods
        return [Cell(plan.spec, method, c.name, self.asserted(c.name, method, users))
                for plan in profile.perturbation for c, _ in self.metrics
                for method in profile.perturbation_methods]

    def image_counts(self, profile, images_dir=None) -> dict[str, int]:
        return {p.spec: len(image_ids(p.spec, p.n_images, images_dir))
                for p in profile.perturbation}

    def report(self, report, result) -> None:
        report.add_table(self.name, result.rows, columns=list(self.key[:-1]) + [
            "metric", "value", "raw", "higher_is_better"])
        lines = []
        for check, metric in self.metrics:
            against = (f"the bound {self.bounds[check.name]:g}" if check.name in self.bounds
                       else self.floor())
            lines.append(f"- **{check.header}**: {check.rule} {metric.description} Judged "
                         f"against {against}." + (f" What could game it: {check.gamed_by}."
                                                   if check.gamed_by else "")
                         + (f" Paper: {check.reference}." if check.reference else ""))
        gate = ("A pass also needs the method's maps to depend on the model (cascading "
                "randomization passed where it ran; controls never pass)." if self.gated
                else "")
        notes = [f"- {n}" for n in result.notes]
        report.add_section(self.title, "\n".join(lines + ["", gate, *notes,
                                                          f"Errors: {len(result.errors)}."]),
                           order=self.order, tables=[(self.name, 40)])


def price_variants(suite: str, profile, images_dir, models, per_image, what: str) -> list:
    """The work of the comparison plans' maps (shared) and ``per_image(plan)`` more maps
    per image and method (noisy or shifted copies of the images)."""
    from dataclasses import replace

    out = []
    for work, plan in zip(price_maps(profile, images_dir, models, suite),
                          profile.perturbation, strict=True):
        out.append(work)
        k = per_image(plan)
        if k:
            out.append(replace(work, what=f"{what} ({k} per image and method)",
                               items=work.items * k, evaluations=work.evaluations * k,
                               gradients=work.gradients * k, overhead=work.overhead * k))
    return out
