"""Ground-truth accuracy: every method's map against the known true saliency.

Run ``pytest evaluation -m perturbation --leg-profile smoke``. The maps
(``model x method x budget`` on :func:`leg.zoo.groundtruth.ground_truth_suite` models) are
computed once per session by the ``groundtruth_results`` fixture (cached) and these tests
only read and assert. What is measured: :mod:`leg.harness.checks.groundtruth`.

Each method is judged against its own target (``gradient`` or the closed-form
``removal`` effect of its own fill and granularity). Asserted: LEG-TV's cell-level
correlation with the gradient beats the random map's on every model and budget; at the
largest budget it exceeds the plan's ``min_leg_tv_corr`` (0.9) on every model; LEG,
occlusion and KernelSHAP (their records assert ``ground-truth``) exceed ``min_own_corr`` (0.9)
against their own target at the largest budget on every model (an expected failure, with
its reason, where the plan lists one); LEG's relative error falls with the number of
evaluations (negative fitted slope on every model). Other methods are reported.
"""

from __future__ import annotations

import numpy as np
import pytest

from leg.harness.checks.groundtruth import (
    error_slopes,
    model_names,
    own_threshold,
    target_kind,
)
from leg.harness.methods import METHODS
from leg.harness.plugin import results_fixture

pytestmark = pytest.mark.perturbation
groundtruth_results = results_fixture("groundtruth")


def pytest_generate_tests(metafunc):
    from leg.harness.plugin import leg_session

    sess = leg_session(metafunc.config)
    names = model_names(sess.profile)
    if "gt_model" in metafunc.fixturenames:
        metafunc.parametrize("gt_model", names, ids=names)


def test_every_correlation_is_computed(groundtruth_results):
    """Every (model, method, budget) of the plan has its cell and pixel correlations with the
    truth, or its method failed and says why (LEG and LEG-TV must not fail). The numbers
    are reported (``groundtruth.csv``); what is asserted on them is below."""
    res = groundtruth_results
    plan = res.profile.groundtruth
    problems = []
    for model in model_names(res.profile):
        for method in plan.methods:
            if method in res.skipped:
                continue
            for budget in plan.budgets:
                err = res.errors.get((model, method, str(budget)))
                if err:
                    if METHODS[method].ours:
                        problems.append(f"{model}/{method}/n={budget} failed: {err}")
                    continue
                for metric in ("pearson_cell", "pearson_pixel", "pearson_removal",
                               "pearson_own"):
                    v = res.value(model, method, budget, metric)
                    if v is None or not np.isfinite(v):
                        problems.append(f"{model}/{method}/n={budget}: no {metric}")
    assert not problems, "; ".join(problems[:10])


def test_no_regression(groundtruth_results, leg):
    """Regression mode (``--leg-baseline``): no correlation fell beyond the tolerance."""
    if leg.baseline is None:
        pytest.skip("no --leg-baseline")
    bad = leg.regressed("groundtruth")
    assert not bad, "Regressed against the baseline: " + "; ".join(bad[:20])


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


@pytest.mark.parametrize("method", [m for m, r in METHODS.items() if "ground-truth" in r.asserted])
def test_correlation_with_own_target_at_the_largest_budget(method, gt_model,
                                                          groundtruth_results):
    """LEG against the gradient; occlusion and KernelSHAP against their exact removal
    effect (their own fill, patches or superpixels), at the largest budget."""
    res = groundtruth_results
    plan = res.profile.groundtruth
    if method not in plan.methods:
        pytest.skip(f"{method} is not run (--leg-methods)")
    b = max(plan.budgets)
    v = res.value(gt_model, method, b, "pearson_own")
    if v is None:
        pytest.skip(f"{method} not run (--leg-methods)")
    threshold = own_threshold(plan, method)
    if v <= threshold and method in plan.expected_failures:
        pytest.xfail(f"{method}: {v:.3f} <= {threshold}: {plan.expected_failures[method]}")
    assert v > threshold, (
        f"{method}'s correlation with its own target ({target_kind(method)}) at n={b} is "
        f"{v:.3f} <= {threshold}.")
