"""Perturbation-size suites: key sizes, deletion and insertion curves, LEG against baselines.

Run ``pytest evaluation -m perturbation --leg-profile smoke``. The tests are per model;
the maps and their scores (``model x image x method x background x granularity``) are
computed once per session by the ``perturbation_results`` fixture (cached on disk,
resumable) and these tests only read and assert. What is computed:
:mod:`leg.harness.checks.faithfulness.suite`.

Asserted
    * Every score exists and is in range; LEG and LEG-TV explanations exist, and per model
      they find a finite key size at the matched granularity on at least as many (image,
      background) pairs as the random map at their granularity.
    * LEG's and LEG-TV's key size and deletion area against ``random-cells`` at the model's
      matched granularity (every map pooled to the plan's ``matched_cell`` cells, removed
      whole): the paired comparison over images of the matrix verdict
      (:func:`leg.harness.checks.faithfulness.suite.matrix_verdicts`, one-sided Wilcoxon, p < 0.05).
      "fail" fails (``xfail`` where the plan expects it, ``expected_failures``, with the
      measured reason); "undecided" (fewer than 5 images) skips with the number needed, and
      fails under ``--leg-strict``.
    * The oracle passes and the random pixel map does not: on a ground-truth model the
      exact gradient (``true-map``) beats ``random-cells`` on key size and deletion at pixel
      and at matched granularity with p < 0.05; on every model the
      pixel-level ``random`` map passes no matched-granularity comparison (at pixel
      granularity it can: scattered single pixels flip a CNN's class whatever their order).
    * Every black-box method saw at most LEG's budget of model evaluations (occlusion's
      budget is a maximum number of patches; the others use at least half of it).
Every other number is reported, whichever method wins.
"""

from __future__ import annotations

import numpy as np
import pytest

from leg.harness.checks.faithfulness.suite import (
    CHECK_METRICS,
    FLOOR,
    PerturbationCase,
    curve_kinds,
    matrix_verdicts,
    paired_comparison,
    plan_cases,
)
from leg.harness.methods import METHODS
from leg.harness.plugin import results_fixture

pytestmark = pytest.mark.perturbation
perturbation_results = results_fixture("perturbation")

#: The methods whose key size and deletion are asserted (their records say so).
ASSERTED = tuple(name for name, m in METHODS.items() if "key-size" in m.asserted)


def pytest_generate_tests(metafunc):
    from leg.harness.plugin import leg_session, parametrize_or_skip

    sess = leg_session(metafunc.config)
    unplanned = sess.profile.unplanned("perturbation")
    if "pmodel" in metafunc.fixturenames:
        models = [p.spec for p in sess.profile.perturbation]
        parametrize_or_skip(metafunc, "pmodel", models, models, unplanned)


def _require(res, model: str, method: str) -> None:
    if (model, method) in res.skipped:
        pytest.skip(f"{method}: {res.skipped[(model, method)]}")
    if method not in res.profile.perturbation_methods:
        pytest.skip(f"{method} not in --leg-methods")


def _case_problem(res, case: PerturbationCase) -> str | None:
    """What is wrong with one case's scores (``None``: nothing; a reported method's own
    failure is not a problem of the suite, LEG's and LEG-TV's are)."""
    if (case.model, case.method) in res.skipped or case.method not in (
            res.profile.perturbation_methods):
        return None
    error = (res.errors.get((case.model, case.image, case.method))
             or res.errors.get((case.model, case.image, case.method, case.background)))
    if error:
        return f"{case.id}: {case.method} failed: {error}" if case.method in ASSERTED else None
    plan = next(p for p in res.profile.perturbation if p.spec == case.model)
    grans = [res.matched.get(case.model)] + (["pixel"] if case.background in
                                             plan.pixel_scored() else [])
    for gran in grans:
        row = res.case(case, gran)
        if row is None:
            return f"{case.id}: no {gran} score was computed"
        ks = row["key_size"]
        if case.key_size and (ks is None or not (np.isnan(ks) or 0.0 < ks <= 1.0)):
            return f"{case.id} ({gran}): key size {ks} outside (0, 1]"
        if not case.curves:
            continue
        areas = [f"{kind}_auc" for kind in curve_kinds(case.background)]
        if not all(row[a] is not None and 0.0 <= row[a] <= 1.0 for a in areas):
            return (f"{case.id} ({gran}): curve areas {', '.join(areas)} missing or outside "
                    f"[0, 1]: {[row[a] for a in areas]}")
        curve = [r for r in res.curves if r["model"] == case.model
                 and r["image"] == case.image and r["method"] == case.method
                 and r["background"] == case.background and r["kind"] == "deletion"
                 and r["granularity"] == gran]
        p0 = res.probabilities[(case.model, case.image)]
        if curve[0]["probability"] != pytest.approx(p0, rel=1e-4, abs=1e-6):
            return (f"{case.id} ({gran}): the deletion curve starts at "
                    f"{curve[0]['probability']}, not at the unperturbed image's "
                    f"probability {p0}")
    return None


def test_every_score_is_computed_and_in_range(pmodel, perturbation_results, leg):
    """Every (image, method, background) of the model has, on the key-size backgrounds, its
    key size (in (0, 1], or NaN when no alpha flips the class) and, on the curve backgrounds,
    curve areas in [0, 1] (deletion and insertion; on ROAD deletion and LeRF), the deletion
    curve starting at the unperturbed probability; LEG and LEG-TV did not
    fail. The numbers themselves are reported (``keysize.csv``, ``curves.csv``)."""
    res = perturbation_results
    cases = [c for c in plan_cases(res.profile, leg.images_dir) if c.model == pmodel]
    problems = [p for p in (_case_problem(res, c) for c in cases) if p]
    assert not problems, f"{len(problems)} of {len(cases)} cases: " + "; ".join(problems[:10])


def test_no_regression(pmodel, perturbation_results, leg):
    """Regression mode (``--leg-baseline``): no score moved the wrong way beyond the
    tolerance (across versions of the model: no check got significantly worse beyond its
    limit), and no asserted verdict that passed in the baseline stopped passing."""
    if leg.baseline is None:
        pytest.skip("no --leg-baseline")
    bad = leg.regressed("perturbation", model=pmodel)
    assert not bad, "Regressed against the baseline: " + "; ".join(bad[:20])


@pytest.mark.parametrize("method", ASSERTED)
def test_leg_finds_key_sets_as_often_as_random(pmodel, method, perturbation_results):
    """Finite key sizes over (image, background): LEG/LEG-TV >= random-cells."""
    res = perturbation_results
    for m in (method, FLOOR):
        _require(res, pmodel, m)

    def found(m):
        return sum(np.isfinite(r["key_size"]) for r in res.key_size_rows()
                   if r["model"] == pmodel and r["method"] == m
                   and r["granularity"] == res.matched[pmodel])

    assert found(method) >= found(FLOOR), (
        f"{method} found a class-changing set on {found(method)} (image, background) pairs, "
        f"{FLOOR} on {found(FLOOR)} ({res.matched[pmodel]}).")


def _verdict(res, pmodel: str, method: str, check: str):
    for v in matrix_verdicts(res):
        if (v.model, v.method, v.check) == (pmodel, method, check):
            return v
    return None


@pytest.mark.parametrize("check", ("key-size", "deletion"))
@pytest.mark.parametrize("method", ASSERTED)
def test_beats_random_cells_over_images(pmodel, method, check, perturbation_results, leg):
    """LEG/LEG-TV against random-cells at the matched granularity, paired over images: the
    matrix verdict. "fail" fails (xfail where the plan expects it), "undecided" skips with
    the number of images needed (a failure under --leg-strict)."""
    res = perturbation_results
    for m in (method, FLOOR):
        _require(res, pmodel, m)
    v = _verdict(res, pmodel, method, check)
    if v is None or v.verdict == "not-run":
        pytest.skip(f"{method}/{check}: not run ({v.detail if v else 'no verdict'})")
    if v.verdict == "undecided":
        leg.undecided(f"{method} / {check} on {pmodel}: {v.n_images} images, at least 5 are "
                      f"needed ({v.detail})")
    if v.verdict == "expected-failure":
        pytest.xfail(f"expected on {pmodel}: {v.detail}")
    assert v.verdict == "pass", f"{method}/{check} against {FLOOR}: {v.detail}"


def test_true_map_beats_random_cells_at_every_granularity(pmodel, perturbation_results):
    """The oracle (a ground-truth model's exact gradient) beats random-cells on key size and
    deletion at pixel and at matched granularity, p < 0.05 over images. (Not insertion: on
    the plan's dist-k background the start image depends on the map's signs, the true map's
    being the most adverse one, so its insertion curve starts lower by construction.)"""
    res = perturbation_results
    for m in ("true-map", FLOOR):
        _require(res, pmodel, m)
    bad, done = [], 0
    for gran in ("pixel", res.matched[pmodel]):
        for check in ("key-size", "deletion"):
            cmp = paired_comparison(res, pmodel, "true-map", check, gran)
            if cmp is None:
                bad.append(f"{check} at {gran}: not scored")
                continue
            done += 1
            if not (cmp.verdict == "pass" and cmp.p_value < 0.05):
                bad.append(f"{check} at {gran}: {cmp.summary()}")
    assert done and not bad, "true-map does not beat random-cells: " + "; ".join(bad)


def test_random_pixel_map_passes_no_matched_comparison(pmodel, perturbation_results):
    """The pixel-level random map, pooled to the matched cells, is a random cell ranking:
    it must not pass any matched-granularity comparison with random-cells."""
    res = perturbation_results
    for m in ("random", FLOOR):
        _require(res, pmodel, m)
    verdicts = [v for c in CHECK_METRICS if (v := _verdict(res, pmodel, "random", c))
                and v.verdict != "not-run"]
    assert verdicts, "no matched-granularity verdict for the random map"
    passed = [f"{v.check}: {v.detail}" for v in verdicts if v.verdict == "pass"]
    assert not passed, "The random pixel map passes: " + "; ".join(passed)


def test_black_box_methods_use_legs_budget(pmodel, perturbation_results):
    """Every black-box explanation saw at most the budget (+2: the unperturbed image and
    KernelSHAP's two anchor evaluations) and, except occlusion (whose budget caps its
    number of patches; a 32 px image has fewer), at least half of it."""
    res = perturbation_results
    if pmodel not in res.budgets:  # not computed: every method is skipped, with the reason
        pytest.skip(next(r for (m, _), r in res.skipped.items() if m == pmodel))
    black_box = res.profile.black_box
    if not set(black_box) & set(res.profile.perturbation_methods):
        pytest.skip(f"no black-box method ({', '.join(black_box)}) in --leg-methods")
    budget = res.budgets[pmodel]
    rows = [r for r in res.explanations if r["model"] == pmodel and r["method"] in black_box]
    assert rows, "No black-box explanation was computed."
    low = {m: (0 if m == "occlusion" else budget / 2) for m in black_box}
    bad = [f"{r['method']}/{r['image']}: {r['n_evaluations']}" for r in rows
           if r["n_evaluations"] is None
           or not low[r["method"]] <= r["n_evaluations"] <= budget + 2]
    assert not bad, f"Not at the budget {budget}: " + ", ".join(bad)
