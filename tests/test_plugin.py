"""The installed pytest plugin: inert in an unrelated test suite, and its user-facing pieces
(user methods, ``leg evaluate``'s command line, the Python API's verdict lookup)."""

from __future__ import annotations

import numpy as np
import pytest

from leg.harness.api import Evaluation
from leg.harness.cli import pytest_arguments
from leg.harness.methods.user import UserExplainer, load_factory, make_user_explainer, parse_methods

BUILTIN = {"leg", "leg-tv", "edge"}


def test_an_unrelated_suite_imports_nothing_and_writes_nothing(pytester):
    pytester.makepyfile(test_plain="""
        import sys

        def test_plain():
            heavy = {"tensorflow", "torch", "keras", "numpy", "leg.harness.profiles",
                     "leg.harness.report"}
            assert not heavy & set(sys.modules), heavy & set(sys.modules)
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
    assert "leg report" not in result.stdout.str()
    written = {p.name for p in pytester.path.iterdir()} - {"test_plain.py", "__pycache__"}
    pytesters_own = {"stdout", "stderr", "runpytest-0", "runpytest-current"}
    assert written <= pytesters_own, written - pytesters_own  # no report, no cache


def test_the_plugin_can_be_disabled_and_its_options_are_there(pytester):
    result = pytester.runpytest_subprocess("--help")
    assert "--leg-profile" in result.stdout.str()
    assert "--leg-cascade-order" in result.stdout.str()
    result = pytester.runpytest_subprocess("-p", "no:leg", "--help")
    assert "--leg-profile" not in result.stdout.str()


def test_an_unknown_method_is_one_usage_line(pytester):
    pytester.makepyfile(test_uses_leg="""
        import pytest

        pytestmark = pytest.mark.sanity

        def test_x(leg):
            pass
        """)
    result = pytester.runpytest_subprocess("--leg-methods", "leg,mine=no_such_module:make",
                                           "-p", "no:cacheprovider")
    assert result.ret != 0
    err = result.stderr.str() + result.stdout.str()
    assert "Cannot import 'no_such_module'" in err
    assert "Traceback" not in err


def _module(tmp_path, monkeypatch, source: str) -> str:
    name = f"user_methods_{tmp_path.name.replace('-', '_')}"  # one module per test
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_parse_methods_reads_builtins_user_methods_and_budgets(tmp_path, monkeypatch):
    mod = _module(tmp_path, monkeypatch, """
class WithBudget:
    def __init__(self, classifier, *, budget=100):
        self.budget = budget
    def explain(self, image, target=None, *, seed=None):
        return image[..., 0]

def no_budget(classifier, **options):
    return WithBudget(classifier)
""")
    names, users = parse_methods(f"leg, a={mod}:WithBudget ,b={mod}:no_budget", BUILTIN)
    assert names == ["leg", "a", "b"]
    assert [(u.name, u.black_box) for u in users] == [("a", True), ("b", False)]


@pytest.mark.parametrize(("text", "message"), [
    ("nope", "Unknown method 'nope'"),
    ("leg=x.y:z", "'leg' is a built-in method"),
    ("1bad=x:y", "Method name '1bad'"),
    ("mine=no-colon", "not of the form package.module:attribute"),
    ("mine=json:nothing_here", "has no attribute 'nothing_here'"),
    ("mine=json:__name__", "is a str, not a factory"),
])
def test_parse_methods_refuses_with_a_message(text, message):
    with pytest.raises(ValueError, match=message):
        parse_methods(text, BUILTIN)


def test_a_user_explainer_is_checked(tmp_path, monkeypatch):
    mod = _module(tmp_path, monkeypatch, """
import numpy as np

class Shapes:
    def __init__(self, classifier, shape=None, fill=0.0):
        self.shape, self.fill = shape, fill
    def explain(self, image, target=None, *, seed=None):
        return np.full(self.shape or image.shape[:2], self.fill)

def not_an_explainer(classifier):
    return 3
""")
    image = np.zeros((4, 5, 3))
    ok = make_user_explainer("mine", f"{mod}:Shapes", None)
    res = ok.explain(image, 1, seed=0)
    assert res.saliency.shape == (4, 5) and res.method == "mine" and res.target == 1
    with pytest.raises(ValueError, match=r"map of shape \(2, 2\); expected \(H, W\) = \(4, 5\)"):
        make_user_explainer("mine", f"{mod}:Shapes", None, shape=(2, 2)).explain(image)
    with pytest.raises(ValueError, match="20 non-finite values"):
        make_user_explainer("mine", f"{mod}:Shapes", None, fill=np.nan).explain(image)
    with pytest.raises(ValueError, match="without an .explain"):
        make_user_explainer("mine", f"{mod}:not_an_explainer", None)
    assert isinstance(ok, UserExplainer) and callable(load_factory(f"{mod}:Shapes"))


def test_leg_evaluate_runs_the_installed_suites_from_here(tmp_path):
    args = pytest_arguments(["-m", "sanity", "--leg-profile", "smoke"], tmp_path)
    assert args[:2] == ["--pyargs", "leg.harness.evaluation"]
    assert f"--rootdir={tmp_path.resolve()}" in args
    assert args[-3:] == ["sanity", "--leg-profile", "smoke"]
    import leg.harness.evaluation as suites

    assert {"test_sanity.py", "test_perturbation.py"} <= {
        p.name for p in __import__("pathlib").Path(suites.__file__).parent.iterdir()}


def test_evaluation_verdict_lookup(tmp_path):
    rows = [{"model": "digits", "method": "mine", "check": "cascading", "verdict": "pass",
             "detail": "median 0.1"},
            {"model": "digits", "method": "leg", "check": "cascading", "verdict": "fail",
             "detail": ""}]
    run = Evaluation(tmp_path, 1, rows, "")
    assert run.verdict("cascading", method="mine") == "pass"
    assert run.verdict("cascading", method="leg", model="digits") == "fail"
    with pytest.raises(LookupError, match="2 verdicts match"):
        run.verdict("cascading")
    with pytest.raises(LookupError, match="No verdict for check='label'"):
        run.verdict("label", method="mine")
    assert not run.passed and "median 0.1" in run.explain("cascading", method="mine")


@pytest.mark.slow  # two harness runs: about 30 s on 2 cores
def test_strict_fails_a_run_whose_asserted_check_cannot_decide(tmp_path):
    """Three digits cannot decide cascading or label randomization (at least 5 images are
    needed): without --leg-strict the test is skipped and the run passes, saying so in its
    verdict lines; with it the run fails, with one line per check naming it and the images
    needed."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "leg", "evaluate", "-m", "sanity", "--leg-profile", "smoke",
           "--leg-model", "digits", "--leg-methods", "leg", "--leg-n-images", "3",
           "--leg-stages", "2", "-k", "cascading", "--leg-report-dir", str(tmp_path / "r")]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    lenient = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env,
                             timeout=600)
    assert lenient.returncode == 0, lenient.stdout[-2000:] + lenient.stderr[-2000:]
    assert ("undecided: digits / leg / cascading: 3 images, at least 5 are needed"
            in lenient.stdout)
    strict = subprocess.run([*cmd, "--leg-strict"], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=600)
    assert strict.returncode == 1, strict.stdout[-2000:]
    lines = [ln for ln in strict.stdout.splitlines() if ln.startswith("leg: --leg-strict:")]
    assert lines == [f"leg: --leg-strict: digits / leg / {check} is undecided: 3 images, at "
                     "least 5 are needed (--leg-n-images)" for check in ("cascading", "label")]
    assert "FAILED" in strict.stdout and "undecided (--leg-strict)" in strict.stdout
