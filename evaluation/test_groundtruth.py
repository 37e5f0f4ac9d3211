"""Ground-truth accuracy: every method's map against the known true saliency.

Run ``pytest evaluation -m perturbation --leg-profile smoke``. Cases are
``model x method x budget`` on :func:`leg.zoo.groundtruth.ground_truth_suite` models; the
maps are computed once per session by the ``groundtruth_results`` fixture (cached) and
these tests only read and assert. What is measured: :mod:`leg.harness.groundtruth_suite`.

Asserted: LEG-TV's cell-level correlation with the truth beats the random map's on every
model and budget; at the largest budget it exceeds the plan's ``min_leg_tv_corr`` (0.9) on
every model; LEG's relative error falls with the number of evaluations (negative fitted
slope on every model). Other methods are reported.
"""

from __future__ import annotations

import numpy as np
import pytest

from leg.harness.groundtruth_suite import NOT_APPLICABLE, error_slopes, model_names

pytestmark = pytest.mark.perturbation


def pytest_generate_tests(metafunc):
    from leg.harness.plugin import leg_session

    sess = leg_session(metafunc.config)
    plan = sess.profile.groundtruth
    names = model_names(sess.profile)
    if "gt_case" in metafunc.fixturenames:
        cases = [(m, meth, b) for m in names for meth in (plan.methods if plan else ())
                 for b in plan.budgets]
        metafunc.parametrize("gt_case", cases, ids=[f"{m}-{meth}-n{b}" for m, meth, b in cases])
    if "gt_model" in metafunc.fixturenames:
        metafunc.parametrize("gt_model", names, ids=names)


def test_groundtruth(gt_case, groundtruth_results, leg):
    """One method at one budget on one model: finite correlations (and no regression)."""
    model, method, budget = gt_case
    res = groundtruth_results
    if method in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[method])
    err = res.errors.get((model, method, str(budget)))
    if err:
        if method in ("leg", "leg-tv"):
            pytest.fail(f"{method} failed: {err}")
        pytest.skip(f"The method failed (reported only): {err}")
    for metric in ("pearson_cell", "pearson_pixel"):
        v = res.value(model, method, budget, metric)
        assert v is not None and np.isfinite(v) and -1.0 <= v <= 1.0 + 1e-9
    if leg.baseline is not None and leg.comparison("groundtruth") is not None:
        from leg.harness.runs import regressions

        bad = regressions(leg.comparison("groundtruth"), model=model, method=method,
                          budget=budget)
        assert not bad, "Regressed against the baseline: " + "; ".join(
            f"{r['metric']}: {r['baseline']:.3f} -> {r['current']:.3f}" for r in bad)


def test_leg_tv_beats_random_everywhere(gt_model, groundtruth_results):
    res = groundtruth_results
    worse = []
    for b in res.profile.groundtruth.budgets:
        tv = res.value(gt_model, "leg-tv", b, "pearson_cell")
        rnd = res.value(gt_model, "random", b, "pearson_cell")
        if tv is None or rnd is None:
            pytest.skip("leg-tv or random not run (--leg-methods)")
        if not tv > rnd:
            worse.append(f"n={b}: {tv:.3f} <= {rnd:.3f}")
    assert not worse, "LEG-TV's correlation does not beat random's: " + ", ".join(worse)


def test_leg_tv_correlation_at_the_largest_budget(gt_model, groundtruth_results):
    res = groundtruth_results
    plan = res.profile.groundtruth
    b = max(plan.budgets)
    v = res.value(gt_model, "leg-tv", b, "pearson_cell")
    if v is None:
        pytest.skip("leg-tv not run (--leg-methods)")
    assert v > plan.min_leg_tv_corr, (
        f"LEG-TV's correlation with the truth at {b} joint evaluations is {v:.3f} "
        f"<= {plan.min_leg_tv_corr}.")


def test_leg_error_falls_with_evaluations(gt_model, groundtruth_results):
    res = groundtruth_results
    slopes = error_slopes(res)
    if gt_model not in slopes:
        pytest.skip("leg not run at two budgets or more")
    assert slopes[gt_model] < 0, f"LEG's relative error does not fall: slope {slopes[gt_model]}"
