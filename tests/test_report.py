"""Report writer and baseline comparison."""

import csv
import json
import os
import textwrap
from pathlib import Path

import pytest

from leg._files import write_text
from leg.harness import report as report_mod
from leg.harness.report import Report
from leg.harness.report.baseline import (
    IncompatibleBaseline,
    check_compatible,
    compare,
    load_baseline,
    regressions,
)

REPO = Path(__file__).resolve().parents[1]


def _leftovers(folder: Path):
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


def test_atomic_write_leaves_old_file_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "a.csv"
    write_text(target, "old\n")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report_mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_text(target, "new and longer\n")
    with pytest.raises(OSError):
        write_text(tmp_path / "b.csv", "x\n")
    assert target.read_text() == "old\n"
    assert not (tmp_path / "b.csv").exists()
    assert not _leftovers(tmp_path)


def test_failure_while_rendering_leaves_no_partial_files(tmp_path, monkeypatch):
    rep = Report(tmp_path, run_id="r1", info={"profile": "smoke"})
    rep.add_table("t", [{"a": 1}])
    rep.write()
    before = (tmp_path / "r1" / "index.html").read_text()
    rep.add_table("t", [{"a": 2}])
    monkeypatch.setattr(Report, "_index_html", lambda self, *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        rep.write()
    assert (tmp_path / "r1" / "index.html").read_text() == before  # untouched, complete
    assert not _leftovers(tmp_path)


def _run_dir(tmp_path, name, *, profile="smoke", value=0.1, params="p1"):
    rep = Report(tmp_path, run_id=name, info={"profile": profile})
    rep.set_info("identity", {"profile": profile, "parameters_hash": params,
                              "models": ["digits"], "fingerprints": {"digits": "f1"}})
    rows = [{"check": "cascading", "model": "digits", "image": "digit0", "method": "leg",
             "stage": "cascade-conv1", "depth": 4, "metric": m, "value": value,
             "threshold": 0.3, "verdict": "pass", "higher_is_better": False}
            for m in ("spearman_abs", "ssim")]
    rep.add_table("sanity", rows)
    rep.add_section("S", "text", tables=[("sanity", 1)])
    return rep.write(), rows


def test_report_layout(tmp_path):
    path, _ = _run_dir(tmp_path, "run1")
    for name in ("run.json", "sanity.csv", "tests.csv", "summary.md", "index.html"):
        assert (path / name).is_file()
    with open(path / "sanity.csv") as f:
        assert next(csv.reader(f))[:7] == ["check", "model", "image", "method", "stage",
                                            "depth", "metric"]
    latest = tmp_path / "latest"
    assert latest.is_symlink() and latest.resolve() == path.resolve()
    assert "<table>" in (path / "index.html").read_text()
    assert json.loads((path / "run.json").read_text())["profile"] == "smoke"


def test_regression_against_itself_and_a_degraded_baseline(tmp_path):
    path, rows = _run_dir(tmp_path, "base")
    base = load_baseline(path)
    ident = {"profile": "smoke", "parameters_hash": "p1", "models": ["digits"],
             "fingerprints": {"digits": "f1"}}
    check_compatible(base, ident)
    same = compare(rows, base.tables["sanity"], tolerance=0.1)
    assert {r["status"] for r in same} == {"same"}
    # a baseline degraded on purpose: it had much lower similarity than this run
    path2, _ = _run_dir(tmp_path, "better-base", value=-0.5)
    cmp = compare(rows, load_baseline(path2).tables["sanity"], tolerance=0.1)
    assert {r["status"] for r in cmp} == {"regressed"}
    assert len(regressions(cmp, method="leg", image="digit0")) == 2
    # within tolerance is fine; improvements are labelled
    assert {r["status"] for r in compare([{**r, "value": 0.15} for r in rows],
                                         base.tables["sanity"], tolerance=0.1)} == {"same"}
    assert {r["status"] for r in compare([{**r, "value": -0.5} for r in rows],
                                         base.tables["sanity"], tolerance=0.1)} == {"improved"}


@pytest.mark.parametrize("change,match", [
    ({"profile": "standard"}, "profile"),
    ({"parameters_hash": "p2"}, "parameters"),
    ({"models": ["lite0"]}, "models"),
])
def test_incompatible_baseline_is_refused(tmp_path, change, match):
    path, _ = _run_dir(tmp_path, "base")
    ident = {"profile": "smoke", "parameters_hash": "p1", "models": ["digits"],
             "fingerprints": {"digits": "f1"}, **change}
    with pytest.raises(IncompatibleBaseline, match=match):
        check_compatible(load_baseline(path), ident)


def test_other_weights_are_another_version_not_a_refusal(tmp_path):
    path, _ = _run_dir(tmp_path, "base")
    ident = {"profile": "smoke", "parameters_hash": "p1", "models": ["digits"]}
    assert check_compatible(load_baseline(path), {**ident, "fingerprints": {"digits": "f1"}}
                            ) == {}
    assert check_compatible(load_baseline(path), {**ident, "fingerprints": {
        "digits": "other"}}) == {"digits": ("f1", "other")}


def test_baseline_without_run_json_is_refused(tmp_path):
    with pytest.raises(IncompatibleBaseline, match="run.json"):
        load_baseline(tmp_path)


FAILING = textwrap.dedent("""
    import pytest

    @pytest.mark.sanity
    def test_fails():
        assert 1 == 2, "on purpose"

    @pytest.mark.sanity
    def test_passes(leg_report):
        leg_report.add_table("extra", [{"x": 1}])
""")


def test_report_written_when_tests_fail(pytester):
    pytester.makeconftest((REPO / "conftest.py").read_text())
    pytester.makepyfile(test_x=FAILING)
    result = pytester.runpytest_subprocess("--leg-profile", "smoke", "--leg-report-dir", "out",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    latest = pytester.path / "out" / "latest"
    run = json.loads((latest / "run.json").read_text())
    assert {t["outcome"] for t in run["tests"]} == {"failed", "passed"}
    assert "on purpose" in (latest / "summary.md").read_text()
    assert (latest / "extra.csv").is_file()


def test_pytest_refuses_a_baseline_from_another_profile(pytester):
    path, _ = _run_dir(pytester.path / "runs", "paper-run", profile="paper")
    pytester.makeconftest((REPO / "conftest.py").read_text())
    pytester.makepyfile(test_x="def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--leg-profile", "smoke", f"--leg-baseline={path}",
                                           "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*not comparable*profile*paper*smoke*"])
    assert os.path.isdir(path)
