"""The plan of a run: what it counts, what it costs, and how it is printed."""

from __future__ import annotations

import numpy as np
import pytest

from leg.harness.engine.plan import Plan, Probe, Work, _price, make_plan, probe_model
from leg.harness.profiles import get_profile


class _Slow:
    """A classifier that takes a known time per image (and per gradient)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, images):
        self.calls += len(images)
        return np.tile([0.2, 0.8], (len(images), 1))

    def gradient(self, images, target):
        return np.zeros_like(images)


def test_probe_times_a_batch_and_gradients():
    model = _Slow()
    probe = probe_model(model, np.zeros((8, 8, 3)), batch=16)
    assert model.calls == 32  # a warm-up batch, then the timed one
    assert probe.batch == 16 and probe.seconds_per_evaluation >= 0
    assert probe.seconds_per_gradient is not None


def test_work_is_priced_by_the_probe():
    work = Work("sanity", "m", "maps", items=10, evaluations=1000, gradients=100, overhead=2.0)
    priced = _price(work, Probe(0.01, 0.03, 16))
    assert priced.seconds == pytest.approx(2.0 + 10.0 + 3.0)
    assert _price(work, None).seconds is None  # no probe, no time


def test_the_ground_truth_plan_counts_every_map():
    profile = get_profile("smoke")
    plan = make_plan(profile, None, ["groundtruth"], probe=False)
    gt = profile.groundtruth
    (work,) = plan.work
    n_models = 3 if not gt.models else len(gt.models)
    assert work.items == n_models * len(gt.methods) * len(gt.budgets) * gt.repeats
    assert work.evaluations == n_models * len(gt.methods) * sum(gt.budgets) * gt.repeats


def test_the_plan_prints_a_line_per_work_and_a_total():
    plan = Plan("smoke", [Work("sanity", "digits", "maps", 3, 300, 0, 0.0, 61.0),
                          Work("estimand", "digits", "estimands", 2, 100, 50, 0.0, 4.0)])
    lines = plan.lines()
    assert lines[0].startswith("leg plan: profile smoke, estimated 1 min 05 s")
    assert sum("digits" in line for line in lines) == 2
    assert plan.as_dict()["suites"] == {"sanity": 61.0, "estimand": 4.0}


def test_the_perturbation_plan_prices_roads_imputations():
    """ROAD's masked images cost a sparse solve each: its key-size scans and curves add
    overhead seconds; a plan without ROAD adds none."""
    from dataclasses import replace

    from leg.harness.checks.faithfulness.suite import price as _perturbation
    from leg.zoo.groundtruth import linear_region

    spec = "groundtruth:linear_region_28x28x3"
    base = replace(get_profile("smoke"), perturbation=(), models=())
    models = {spec: linear_region()}

    def scans(**plan):
        from leg.harness.profiles import PerturbationPlan

        prof = replace(base, perturbation=(PerturbationPlan(spec, 2, 100, matched_cell=4,
                                                            **plan),))
        return [w for w in _perturbation(prof, None, models) if "scans" in w.what][0]

    plain = scans(backgrounds=("mean",), curve_backgrounds=("mean",))
    curves = scans(backgrounds=("mean",), curve_backgrounds=("mean", "road"))
    both = scans(backgrounds=("mean", "road"), curve_backgrounds=("mean", "road"))
    assert plain.overhead == 0.0 and 0.0 < curves.overhead
    assert curves.evaluations < both.evaluations
    assert curves.items == plain.items + 2 * len(base.perturbation_methods)  # + road items
