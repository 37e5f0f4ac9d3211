"""Tests of your saliency method, in your own repository, run by your CI.

They call the installed harness (``leg.harness.api.evaluate``, also the ``leg_evaluate``
fixture) and assert on its verdicts. The model is the shipped digits CNN (``digits``), so
this example runs offline in a few minutes; give yours as ``model="mypkg.model:build"``
or a ``.keras``/``.pt2`` file, with ``images="your/images"``.
"""

import re
from pathlib import Path

import pytest

from leg.harness.api import evaluate

HERE = Path(__file__).resolve().parents[1]  # the project folder (my_saliency.py is there)
REPORTS = HERE / "reports"


@pytest.fixture(scope="module")
def run():
    return evaluate(model="digits", methods={"mine": "my_saliency:GradientMagnitude",
                                             "edges": "my_saliency:edges"},
                    suites=("sanity",), profile="smoke", report_dir=REPORTS, cwd=HERE)


def test_my_method_passes_the_randomization_checks(run):
    for check in ("cascading", "label", "informativeness"):
        assert run.verdict(check, method="mine") == "pass", run.explain(check, method="mine")


def test_a_method_that_ignores_the_model_is_caught(run):
    assert run.verdict("cascading", method="edges") == "fail", run.explain("cascading")
    assert not run.passed  # and the harness's own test of it failed


def test_the_run_is_compared_with_a_stored_baseline(run, leg_evaluate):
    """In CI, compare with a run committed to the repository: here, the run above. The
    explanations come from the cache, so the second run takes seconds."""
    again = leg_evaluate(model="digits", methods={"mine": "my_saliency:GradientMagnitude",
                                                  "edges": "my_saliency:edges"},
                         suites=("sanity",), profile="smoke", report_dir=REPORTS, cwd=HERE,
                         baseline=run.run_dir)
    assert again.regressions == []
    assert again.verdict("cascading", method="mine") == "pass"


def test_our_own_check_runs_in_the_harness_like_the_built_in_ones(leg_evaluate):
    """``leg_border`` (this project's package, entry point ``leg.checks``) adds the check
    ``border-mass``: it gets a verdict, a leaderboard and a regression comparison."""
    first = leg_evaluate(model="digits", methods={"mine": "my_saliency:GradientMagnitude"},
                         suites=("border",), profile="smoke", report_dir=REPORTS / "border",
                         cwd=HERE)
    assert first.verdict("border-mass", method="mine") == "pass", first.explain("border-mass")
    assert first.passed
    again = leg_evaluate(model="digits", methods={"mine": "my_saliency:GradientMagnitude"},
                         suites=("border",), profile="smoke", report_dir=REPORTS / "border",
                         cwd=HERE, baseline=first.run_dir)
    assert again.regressions == [] and again.passed
    compared = re.search(r"\bborder (\d+)\b", (again.run_dir / "comparison.md").read_text())
    assert compared and int(compared.group(1)) == 12  # mine's and the floor's, 6 digits each


def test_the_projects_own_evaluation_package_still_imports():
    import evaluation

    assert evaluation.OWNER == "example project"
