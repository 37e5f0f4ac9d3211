"""Sanity-check suites (Adebayo et al., 2018): model and label randomization.

Run ``pytest evaluation -m sanity --leg-profile smoke``. One test per model, asserted method
(LEG, LEG-TV, yours) and asserted check: cascading randomization (the maps moved as soon as
the top layer was randomized and reached the unrelated level at full randomization),
label randomization where the model has a permuted-label twin, and informativeness (the
original maps reproduce under another seed). Each reads the verdict of the report's matrix
(:func:`leg.harness.checks.randomization.suite.matrix_verdicts`, the rule of
:mod:`leg.harness.checks.randomization.rule`): "undecided" (fewer than 5 images) is a skip
that says how many images are needed, a failure under ``--leg-strict``. Per model: every
similarity is computed, nothing regressed against a baseline, and the model-independent
edge control fails. The explanations are computed once per session by the
``sanity_results`` fixture (cached on disk) and these tests only read and assert.
"""

from __future__ import annotations

import numpy as np
import pytest

from leg.harness.checks.randomization.suite import (
    SUITE,
    SanityCase,
    plan_cases,
    undecided_reason,
)
from leg.harness.checks.statistics import min_images_for
from leg.harness.plugin import results_fixture

pytestmark = pytest.mark.sanity
sanity_results = results_fixture("sanity")


def pytest_generate_tests(metafunc):
    from leg.harness.plugin import leg_session, parametrize_or_skip

    sess = leg_session(metafunc.config)
    unplanned = sess.unplanned(SUITE)
    if "case" in metafunc.fixturenames:
        cases = [] if unplanned else [c for c in plan_cases(sess.profile, sess.images_dir)
                                      if sess.selected(c.check)]
        parametrize_or_skip(metafunc, "case", cases, [c.id for c in cases],
                            unplanned or "no asserted method among the methods")
    if "model" in metafunc.fixturenames:
        models = [] if unplanned else [p.spec for p in sess.profile.models]
        parametrize_or_skip(metafunc, "model", models, models, unplanned)


def test_sanity(case: SanityCase, sanity_results, leg):
    """An asserted method (LEG, LEG-TV, yours) passes an asserted check: its maps moved as
    soon as the top layer was randomized and reached the unrelated level at full
    randomization (cascading), moved under label randomization, and its original maps are
    informative."""
    res = sanity_results
    if case.method in res.skipped:
        pytest.skip(f"{case.method}: {res.skipped[case.method]}")
    v = res.verdict(case.model, case.method, case.check)
    assert v is not None, f"No verdict for {case.id}."
    if v.verdict == "not-run":
        pytest.fail(f"{case.id} was not run: {v.detail}")
    if v.verdict == "undecided":
        leg.undecided(f"{case.method} / {case.check} on {case.model}: {v.detail}")
    if v.verdict == "expected-failure":
        pytest.xfail(v.detail)
    assert v.verdict == "pass", f"{case.method} / {case.check} on {case.model}: {v.verdict} " \
                                f"({v.detail})"


def test_every_similarity_is_computed(model, sanity_results):
    """Every (image, method, stage) of the model has finite similarities, or its
    explanation failed and says why (an asserted method's failure fails here too). The
    numbers of the reported methods and stages are in ``sanity.csv``."""
    res = sanity_results
    images = [i for (m, i) in res.images if m == model]
    problems = []
    for method in res.profile.methods:
        if method in res.skipped:
            continue
        failed = [k for k in res.errors if k[0] == model and k[2] == method]
        if failed:
            if res.profile.role(method) == "asserted":
                problems.append(f"{method}: an explanation failed: {res.errors[failed[0]]}")
            continue
        for stage in res.stages[model][1:]:
            rows = [r for r in res.rows if (r["model"], r["method"], r["stage"])
                    == (model, method, stage.name)]
            if len(rows) != len(images) * 4 or not all(np.isfinite(r["value"]) for r in rows):
                problems.append(f"{method} at {stage.name}: no finite similarities")
    assert not problems, "; ".join(problems[:10])


def test_no_regression(model, sanity_results, leg):
    """Regression mode (``--leg-baseline``): no similarity moved the wrong way beyond the
    tolerance (across versions of the model: no check got significantly worse beyond its
    limit, and under ``--leg-compare-fail drift:LIMIT`` no method's maps drifted beyond
    it), and no asserted verdict that passed in the baseline stopped passing."""
    if leg.baseline is None:
        pytest.skip("no --leg-baseline")
    bad = leg.regressed("sanity", model=model)
    assert not bad, "Regressed against the baseline: " + "; ".join(bad[:20])


def test_check_catches_model_independent_explainer(model, sanity_results, leg):
    """The model-independent controls (the edge map, the random map) must be caught: the
    check can fail. Over the images, cascading and label randomization (and sMPRT and eMPRT
    where the model has them) give "fail", decided (at least 5 images; with fewer the test
    is undecided), or "uninformative" where the control's maps do not even tell the images
    apart (the random map with its fixed seed is the same map on every image)."""
    res = sanity_results
    controls = [m for m in res.profile.methods if res.profile.role(m) == "control"
                and m not in res.skipped]
    if not controls:
        pytest.skip("no control among the methods (--leg-methods)")
    n_images = len([i for (m, i) in res.images if m == model])
    if n_images < min_images_for():
        leg.undecided(f"the controls on {model}: {undecided_reason(n_images)}")
    checks = {"cascading", "label", "smprt", "emprt"}
    for control in controls:
        verdicts = [v for v in res.verdict_list() if v.model == model
                    and v.method == control and v.check in checks]
        assert verdicts, f"No verdict of {control} on {model}."
        wrong = [f"{v.check}: {v.verdict} ({v.detail})" for v in verdicts
                 if v.verdict not in ("fail", "uninformative")]
        assert not wrong, (f"The checks did not catch the model-independent {control} map: "
                           + "; ".join(wrong))
