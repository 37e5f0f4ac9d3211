"""Sanity-check suites (Adebayo et al., 2018): model and label randomization.

Run ``pytest evaluation -m sanity --leg-profile smoke``. Every case is
``model x image x method x stage``; the explanations are computed once per session by the
``sanity_results`` fixture (cached on disk) and these tests only read and assert. What is
asserted and how the thresholds are calibrated: :mod:`evaluation.sanity`.
"""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.config import METHODS
from evaluation.sanity import SanityCase, plan_cases, verdict

pytestmark = pytest.mark.sanity


def pytest_generate_tests(metafunc):
    from conftest import leg_session

    sess = leg_session(metafunc.config)
    if "case" in metafunc.fixturenames:
        try:
            cases = plan_cases(sess.profile, sess.images_dir)
        except (ValueError, OSError) as exc:
            raise pytest.UsageError(f"Cannot plan the sanity checks: {exc}") from exc
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])
    if "model" in metafunc.fixturenames:
        models = [p.spec for p in sess.profile.models]
        metafunc.parametrize("model", models, ids=models)


def _baseline_check(leg, case: SanityCase) -> None:
    if leg.baseline is None:
        return
    if leg.baseline_error:
        pytest.fail(leg.baseline_error)
    from evaluation.regression import regressions

    bad = regressions(leg.comparison or [], model=case.model, image=case.image,
                      method=case.method, stage=case.stage)
    if bad:
        lines = [f"{r['metric']}: {r['baseline']:.3f} -> {r['current']:.3f} "
                 f"(tolerance {r['tolerance']})" for r in bad]
        pytest.fail("Regressed against the baseline: " + "; ".join(lines))


def test_sanity(case: SanityCase, sanity_results, leg):
    """Similarity of the randomized explanation to the original, judged per image."""
    res = sanity_results
    role = METHODS.get(case.method, "reported")
    if case.method in res.skipped:
        pytest.skip(f"{case.method}: {res.skipped[case.method]}")
    error = res.errors.get((case.model, case.image, case.method, case.stage)) or res.errors.get(
        (case.model, case.image, case.method, "original"))
    if error:
        if role == "asserted":
            pytest.fail(f"The explanation failed: {error}")
        pytest.skip(f"The explanation failed (method only reported): {error}")
    rows = res.case_rows(case)
    assert rows, f"No similarities were computed for {case.id}."
    assert all(np.isfinite(r["value"]) for r in rows)
    _baseline_check(leg, case)
    if role == "asserted" and case.decisive:
        decisive = set(res.profile.thresholds.decisive)
        failed = [r for r in rows if r["metric"] in decisive and r["verdict"] != "pass"]
        flat = [r for r in failed if r["verdict"] == "degenerate"]
        assert not flat, (
            f"{case.method}'s map at {case.stage} (or the original) is constant: a degenerate "
            "case, not a pass (the randomized model's output no longer depends on the image).")
        assert not failed, (
            f"{case.method} did not fall to the level of unrelated maps at {case.stage}: "
            + "; ".join(f"{r['metric']} {r['value']:.3f} > threshold {r['threshold']:.3f}"
                        for r in failed))


def test_check_catches_model_independent_explainer(model, sanity_results):
    """The model-independent edge control must FAIL the check: the check can fail."""
    res = sanity_results
    if "edge" in res.skipped or "edge" not in res.profile.methods:
        pytest.skip(f"edge control not run: {res.skipped.get('edge', 'not in --leg-methods')}")
    th = res.profile.thresholds
    stages = res.stages[model]
    decisive = [s.name for s in stages if s.kind == "label"]
    decisive.append([s.name for s in stages if s.kind == "cascading"][-1])
    for stage in decisive:
        for metric in th.decisive:
            vals = [r["value"] for r in res.rows if r["check"] != "reference"
                    and r["model"] == model and r["method"] == "edge"
                    and r["stage"] == stage and r["metric"] == metric]
            ref = res.references[(model, "edge", metric)]
            assert verdict(vals, ref, quantile=th.quantile,
                           margin=th.margin[metric]) == "fail", (
                f"The check did not catch the model-independent edge map at {stage} "
                f"({metric}: median {np.median(vals):.3f}, reference "
                f"q{th.quantile} {np.quantile(ref, th.quantile):.3f}).")
