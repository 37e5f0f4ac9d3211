"""Estimand accuracy: LEG's estimators against LEG's exact target on differentiable models.

Run ``pytest evaluation -m estimand --leg-profile smoke``. One case per model of the
profile's estimand plans; the estimands and estimates are computed once per session by the
``estimand_results`` fixture (cached). What is measured: :mod:`leg.harness.checks.estimand`.

Asserted per model: LEG's default estimator reaches the plan's median correlation with the
estimand at the largest budget, its error falls with n, and it is not worse than the
published moment estimator at any budget. The other variants are reported.
"""

from __future__ import annotations

import pytest

from leg.harness.checks.estimand import (
    check_accuracy,
    check_beats_moment,
    check_design,
    check_error_falls,
    design_budgets,
)
from leg.harness.plugin import results_fixture

pytestmark = pytest.mark.estimand
estimand_results = results_fixture("estimand")


def pytest_generate_tests(metafunc):
    from leg.harness.plugin import leg_session, parametrize_or_skip

    if "estimand_plan" in metafunc.fixturenames:
        profile = leg_session(metafunc.config).profile
        parametrize_or_skip(metafunc, "estimand_plan", list(profile.estimand),
                            [p.spec for p in profile.estimand], profile.unplanned("estimand"))


def _measured(res, plan):
    if plan.spec in res.skipped:
        pytest.skip(res.skipped[plan.spec])
    failed = [f"{img}: {err}" for (spec, img), err in res.errors.items() if spec == plan.spec]
    if failed:
        pytest.fail("The estimand run failed: " + "; ".join(failed))


def test_default_estimator_is_accurate(estimand_plan, estimand_results):
    _measured(estimand_results, estimand_plan)
    bad = check_accuracy(estimand_results, estimand_plan)
    assert not bad, "; ".join(bad)


def test_error_falls_with_evaluations(estimand_plan, estimand_results):
    _measured(estimand_results, estimand_plan)
    bad = check_error_falls(estimand_results, estimand_plan)
    assert not bad, "; ".join(bad)


def test_default_estimator_not_worse_than_moment(estimand_plan, estimand_results):
    _measured(estimand_results, estimand_plan)
    bad = check_beats_moment(estimand_results, estimand_plan)
    assert not bad, "; ".join(bad)


def test_default_design_is_at_least_as_accurate(estimand_plan, estimand_results):
    """LEG's default perturbation design (orthogonal blocks) against the plan's others
    (i.i.d., scrambled Sobol') at the same budgets, by the default estimator's median
    correlation with the estimand (within 0.02), where there are more antithetic pairs than
    cells (below that every design's numbers are reported in ``estimand.csv``)."""
    _measured(estimand_results, estimand_plan)
    if not design_budgets(estimand_results, estimand_plan):
        pytest.skip("no budget with more antithetic pairs than cells: designs reported only")
    bad = check_design(estimand_results, estimand_plan)
    assert not bad, "; ".join(bad)


def test_no_regression(estimand_plan, estimand_results, leg):
    _measured(estimand_results, estimand_plan)
    if leg.baseline is None or leg.comparison("estimand") is None:
        pytest.skip("no --leg-baseline")
    from leg.harness.report.baseline import regressions

    bad = regressions(leg.comparison("estimand"), model=estimand_plan.spec)
    assert not bad, "Regressed against the baseline: " + "; ".join(
        f"{r['metric']}: {r['baseline']:.3f} -> {r['current']:.3f}" for r in bad)
