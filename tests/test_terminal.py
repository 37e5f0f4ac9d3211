"""The harness's terminal speaks plainly: ``--leg-plan`` prints the plan and ends like
``--collect-only`` (exit 0, no banner, no report); the plan prints names whole, with
plurals that agree; a usage error is one line, exit 4, no traceback and no report; a run
says "interrupted" only when Ctrl-C stopped it; the report's path is a line of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from leg.harness.engine.plan import Decides, Plan, Probe, Work, plural

REPO = Path(__file__).resolve().parents[1]
#: A synthetic model: no framework loads (a run here takes seconds, not TensorFlow's start).
MODEL = ("--leg-model", "groundtruth:linear_region_28x28x3")

#: A harness test that asks for the ground-truth suite (cheap to plan: synthetic models, no
#: framework), and a plain one.
HARNESS = textwrap.dedent("""
    import pytest

    pytestmark = pytest.mark.perturbation

    def test_ground_truth(groundtruth_results):
        pass

    def test_plain(leg):
        pass
""")


def _nonblank(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def test_plural_agrees_with_its_number():
    assert plural(1, "image") == "1 image" and plural(6, "image") == "6 images"
    assert plural(0, "background") == "0 backgrounds"
    assert plural(1, "noisy copy", "noisy copies") == "1 noisy copy"
    assert plural(3, "noisy copy", "noisy copies") == "3 noisy copies"


def test_the_plan_prints_model_names_whole_and_one_image_as_one():
    long = "groundtruth:smooth_region_means_28x28x3"
    plan = Plan("smoke", work=[
        Work("estimand", long, "estimands and variants (1 image, 3 designs)", 4, 4800, 512,
             seconds=1.0),
        Work("perturbation", "digits", "maps (6 images x 13 methods)", 78, 7242, 612,
             seconds=7.0)],
        probes={long: Probe(1e-5, None, 1)},
        decides=[Decides("perturbation", long, ("key-size",), 1, 5, None)])
    text = "\n".join(plan.lines())
    assert f"  estimand      {long}  estimands" in text  # whole, then two spaces
    assert "(probe of 1 image)" in text
    assert "undecided: perturbation on " + long + " (key-size): 1 image, at least 5" in text
    rows = [ln for ln in plan.lines() if "maps (" in ln or "estimands" in ln]
    # the columns line up whatever the names' lengths
    assert len({ln.index("estimands") if "estimands" in ln else ln.index("maps") for ln in rows}
               ) == 1


def test_the_suites_plans_agree_in_number():
    """The suites' own work descriptions, priced on one image: "1 image", never "1 images"
    (the ground-truth and estimand suites plan without a framework)."""
    from leg.harness.engine.plan import make_plan
    from leg.harness.profiles import get_profile

    profile = get_profile("smoke").with_overrides(
        model="groundtruth:linear_region_28x28x3", n_images=1, methods=["leg", "gradient"])
    plan = make_plan(profile, None, ["estimand", "groundtruth", "perturbation"], probe=False)
    whats = [w.what for w in plan.work]
    assert whats and not [w for w in whats if "1 images" in w or "1 backgrounds" in w], whats
    assert any("(1 image" in w for w in whats), whats


def _evaluate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "leg", "evaluate", *args,
           "--leg-report-dir", str(tmp_path / "reports")]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"})


@pytest.mark.parametrize("args, message", [
    (["--leg-model", "nosuchmodule:build"], "Could not import 'nosuchmodule:build'"),
    (["--leg-model", "groundtruth:nosuch"], "Unknown ground-truth model 'nosuch'"),
    (["--leg-n-images", "-3"], "--leg-n-images must be at least 0; got -3."),
    (["--leg-n-images", "x"], "--leg-n-images takes a whole number; got 'x'."),
    (["--leg-profile", "nosuch"], "--leg-profile 'nosuch' is not one of smoke, standard or "
                                  "paper."),
])
def test_a_usage_error_is_one_line_exit_4_and_no_report(tmp_path, args, message):
    done = _evaluate(tmp_path, "--leg-profile", "smoke", "-m", "sanity", *args)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert _nonblank(done.stderr) == [f"ERROR: {_nonblank(done.stderr)[0][7:]}"]
    assert message in done.stderr
    out = done.stdout + done.stderr
    assert "Traceback" not in out and "Interrupted" not in out and "error during" not in out
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("quiet", [False, True])
def test_plan_only_ends_cleanly_without_a_report(pytester, quiet):
    pytester.makepyfile(test_x=HARNESS)
    result = pytester.runpytest_subprocess(
        "--leg-plan", "--leg-profile", "smoke", *MODEL, "--leg-report-dir", "out", "-p",
        "no:cacheprovider", *(["-q"] if quiet else []))
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str() + result.stderr.str()
    assert "leg plan: profile smoke" in out and "ground-truth models" in out
    assert "leg: --leg-plan: the plan only; none of the 2 tests collected was run." in (
        result.stdout.lines)
    assert "!!!" not in out and "Exit" not in out and "Traceback" not in out
    result.assert_outcomes()  # nothing passed, failed or errored
    assert not (pytester.path / "out").exists()


def test_a_collection_error_is_not_called_an_interrupt_and_writes_no_report(pytester):
    pytester.makepyfile(test_x=HARNESS, test_broken="import no_such_module_anywhere\n")
    result = pytester.runpytest_subprocess("--leg-profile", "smoke", *MODEL,
                                           "--leg-report-dir", "out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's code for collection errors
    assert ("leg: no report: 1 error during collection, no test was run."
            in result.stdout.lines)
    assert "Ctrl-C" not in result.stdout.str()
    assert not (pytester.path / "out").exists()


STOPS = textwrap.dedent("""
    import pytest

    pytestmark = pytest.mark.sanity

    def test_one(leg):
        pass

    def test_two(leg):
        {two}

    def test_three(leg):
        pass
""")


def _run_json(pytester) -> dict:
    return json.loads((pytester.path / "out" / "latest" / "run.json").read_text())


def test_ctrl_c_is_an_interrupt(pytester):
    pytester.makepyfile(test_x=STOPS.format(two="raise KeyboardInterrupt"))
    result = pytester.runpytest_subprocess("--leg-profile", "smoke", *MODEL,
                                           "--leg-report-dir", "out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    run = _run_json(pytester)
    assert run["interrupted"] == "stopped (Ctrl-C) after 1 of 3 tests" and not run["stopped"]
    summary = (pytester.path / "out" / "latest" / "summary.md").read_text().splitlines()
    assert summary[0].endswith("(INTERRUPTED)")


def test_a_stop_after_a_failure_is_not_called_an_interrupt(pytester):
    pytester.makepyfile(test_x=STOPS.format(two="assert False, 'on purpose'"))
    result = pytester.runpytest_subprocess("-x", "-q", "--leg-profile", "smoke", *MODEL,
                                           "--leg-report-dir", "out", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    run = _run_json(pytester)
    assert run["interrupted"] is None
    assert run["stopped"].startswith("after 2 of 3 tests (")
    summary = (pytester.path / "out" / "latest" / "summary.md").read_text()
    assert "INTERRUPTED" not in summary and "Ctrl-C" not in summary
    assert summary.splitlines()[0].endswith("(STOPPED EARLY)")
    assert "STOPPED EARLY: after 2 of 3 tests" in summary
    # -q: the report's path is a line of its own, not glued to the progress dots
    report_lines = [ln for ln in result.stdout.lines if "leg report:" in ln]
    assert len(report_lines) == 1 and report_lines[0].startswith("leg report: ")
