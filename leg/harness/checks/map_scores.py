"""Checks that score each map with one number and judge each method against a reference over
the images: :class:`MapCheck`.

A new check of this kind is one module under :mod:`leg.harness.checks` (or in another
package, through the entry-point group ``leg.checks``) with a :class:`MapCheck` subclass —
its :class:`~leg.harness.checks.metrics.Metric`, its :class:`~leg.harness.engine.suite.Check`
and :meth:`MapCheck.score` — exposed as ``SUITE``. The engine does the rest: the maps of the
comparison plans (shared with every other suite that scores them,
:func:`leg.harness.engine.maps.explain_plans`), paired statistics, verdicts, a leaderboard,
the regression table and a report section.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from leg.harness.engine.maps import MapResults, explain_plans, price_maps
from leg.harness.engine.pipeline import Pipeline
from leg.harness.engine.suite import Cell, Suite

__all__ = ["MapCheck", "MapScores"]


@dataclass
class MapScores(MapResults):
    """A :class:`MapCheck`'s result: the maps and one score row per map."""

    rows: list[dict] = field(default_factory=list)


class MapCheck(Suite):
    """A suite of one check that scores every map of the comparison plans with one number
    (:meth:`score`) and judges each method against ``reference`` over the images: a paired
    comparison (:func:`leg.harness.checks.statistics.compare_paired`, one-sided Wilcoxon,
    p < 0.05): an asserted method passes when shown better, fails when not (at least 5
    images); a reported one passes when better, fails when worse, else not significant;
    fewer than 5 images: undecided. Set ``name``, ``title``, ``checks`` (one
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
        from leg.harness.checks.statistics import compare_paired, min_images_for
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
                                     higher_is_better=higher,
                                     rule="require" if asserted else "compare",
                                     seed=result.profile.seed)
                if method == floor:
                    out.append(Verdict(model, method, self.check.name, "reference",
                                       cmp.reference_median, higher_is_better=higher,
                                       n_images=cmp.n_images, detail="the reference"))
                    continue
                verdict = ("undecided" if cmp.n_images < min_images_for() else
                           {"pass": "pass", "fail": "fail"}.get(cmp.verdict, "not-significant"))
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

    def image_counts(self, profile, images_dir=None) -> dict[str, int]:
        from leg.harness.engine.pipeline import image_ids

        return {p.spec: len(image_ids(p.spec, p.n_images, images_dir))
                for p in profile.perturbation}

    def report(self, report, result) -> None:
        report.add_table(self.name, result.rows, columns=list(self.key[:-1]) + [
            "metric", "value", "higher_is_better"])
        text = (f"{self.check.rule}. {self.metric.description} Reference: {self.floor()}. "
                + (f"What could game it: {self.check.gamed_by}. " if self.check.gamed_by
                   else "") + (f"Paper: {self.check.reference}. " if self.check.reference
                               else "") + f"Errors: {len(result.errors)}.")
        report.add_section(self.title, text, order=self.order, tables=[(self.name, 40)])
