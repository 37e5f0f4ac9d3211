"""The report's first screen (verdict matrix, leaderboards, run line) and the run-against-run
comparison (``leg report compare``, and the page regression mode writes)."""

import json
import textwrap
from pathlib import Path

import pytest

from leg.cli import main
from leg.harness.checks.verdicts import Verdict, flip_status, rank, verdicts_from_rows
from leg.harness.methods import ours
from leg.harness.report.baseline import IncompatibleBaseline
from leg.harness.report.compare import NotARun, compare_runs, load_run, write_comparison
from tests.reports import IDENTITY, synthetic_report, synthetic_verdicts

REPO = Path(__file__).resolve().parents[1]


def test_first_screen_in_summary_and_index(tmp_path):
    d = synthetic_report(tmp_path).write()
    md = (d / "summary.md").read_text()
    head = md.split("## Sanity checks")[0]  # the first screen comes before every section
    assert "## Verdicts" in head and "## Leaderboards" in head
    assert "profile standard · tests: 1 failed, 39 passed" in head
    assert "| leg | **✓ 0.041** |" in head  # asserted cells in bold
    assert "| edge (control: must fail) | ✗ 1 |" in head
    assert "**digits: key size (lower is better)**" in head
    page = (d / "index.html").read_text()
    assert page.index('id="verdict-matrix"') < page.index('id="leaderboards"') < page.index(
        "<details")
    assert "<pre>" not in page  # prose wraps
    assert '<a href="figures/wide_figure.png">' in page
    assert page.count('<div class="scroll"><table') >= 3  # tables scroll in their box


def test_verdicts_and_leaderboards_are_written_and_read_back(tmp_path):
    d = synthetic_report(tmp_path).write()
    run = load_run(d)
    assert verdicts_from_rows(run.tables["verdicts"]) == synthetic_verdicts()
    board = [r for r in run.tables["leaderboards"] if r["group"].startswith("digits: key")
             and r["column"] == "black"]
    assert [int(r["rank"]) for r in board] == list(range(1, 13))
    values = [float(r["value"]) for r in board]
    assert values == sorted(values)  # lower is better: ascending


def test_rank_puts_missing_values_last_and_marks_leg():
    board = rank("g", "c", "m", True, {"a": 0.2, "leg": float("nan"), "b": (0.9, "note"),
                                       "leg-tv": 0.5}, marked=ours())
    assert [e.method for e in board.entries] == ["b", "leg-tv", "a", "leg"]
    assert [e.marked for e in board.entries] == [False, True, False, True]
    assert board.entries[0].note == "note"


def test_unknown_verdict_or_check_is_refused():
    from leg.harness.engine.suite import suite
    from leg.harness.plugin import _checked_verdicts

    with pytest.raises(ValueError, match="Unknown verdict 'passed'"):
        Verdict("m", "leg", "cascading", "passed")
    sanity = suite("sanity")  # a suite's verdicts must be on the checks it declares
    assert _checked_verdicts(sanity, [Verdict("m", "leg", "cascading", "pass")])
    with pytest.raises(RuntimeError, match=r"checks it does not declare: \['speed'\]"):
        _checked_verdicts(sanity, [Verdict("m", "leg", "speed", "pass")])


@pytest.mark.parametrize("before,after,status", [
    ("pass", "fail", "regressed"), ("fail", "pass", "improved"),
    ("pass", "expected-failure", "regressed"), ("pass", "not-run", "regressed"),
    ("not-run", "pass", "improved"), ("not-run", "fail", "regressed"),
    ("degenerate", "uninformative", "improved"), ("pass", "pass", "same")])
def test_flip_status(before, after, status):
    assert flip_status(before, after) == status


def _degraded_pair(tmp_path):
    """Run B is run A with two verdicts flipped (one worse, one better), one metric regressed
    far, one a little beyond the tolerance, one improved, and one moved within it."""
    a = synthetic_report(tmp_path, "run-a").write()
    verdicts = synthetic_verdicts()
    flipped = {("digits", "leg", "cascading"): "fail", ("lite0", "gradient", "key-size"): "pass"}
    verdicts = [Verdict(v.model, v.method, v.check, flipped[(v.model, v.method, v.check)],
                        v.value, v.threshold, v.higher_is_better, v.asserted, v.detail)
                if (v.model, v.method, v.check) in flipped else v for v in verdicts]
    shift = {("leg", "ssim"): 0.5,  # similarity up: worse (lower is better)
             ("leg-tv", 100): -0.15,  # correlation down beyond 0.1: worse
             ("lime", 1000): 0.2,  # correlation up: better
             ("leg", 1000): -0.05}  # within the tolerance: not listed
    b = synthetic_report(tmp_path, "run-b", verdicts=verdicts, shift=shift).write()
    return a, b


def test_comparison_names_exactly_what_changed(tmp_path):
    a, b = _degraded_pair(tmp_path)
    c = compare_runs(load_run(a), load_run(b))
    assert [(r["model"], r["method"], r["check"], r["before"], r["after"], r["status"])
            for r in c.flips] == [("digits", "leg", "cascading", "pass", "fail", "regressed"),
                                  ("lite0", "gradient", "key-size", "fail", "pass", "improved")]
    moved = [(r["table"], r["what"], r["status"]) for r in c.moved]
    ssim = [("sanity", f"cascading / digits / digit{i} / leg / cascade-conv1 / ssim",
             "regressed") for i in range(3)]
    assert sorted(moved[:3]) == ssim  # moved 0.5: first
    assert moved[3:] == [("groundtruth", "linear_region_28x28x3 / leg-tv / 100 / pearson_cell",
                          "regressed"),
                         ("groundtruth", "linear_region_28x28x3 / lime / 1000 / pearson_cell",
                          "improved")]
    assert c.regressed and len(c.regressions) == 5
    page = write_comparison(c, tmp_path / "out").read_text()
    md = (tmp_path / "out" / "comparison.md").read_text()
    for text in (page, md):
        assert "verdicts 1 worse, 1 better; metrics beyond the tolerance 0.1: 4 regressed" in text
        assert "digit0 / leg / cascade-conv1 / ssim" in text
        assert "linear_region_28x28x3 / leg / 1000" not in text  # within the tolerance
        assert "hog_pearson" not in text  # unchanged
    assert page.index("digits") < page.index("gradient")  # the regressed flip first


def test_a_run_against_itself_has_nothing_to_report(tmp_path):
    a = synthetic_report(tmp_path, "run-a").write()
    c = compare_runs(load_run(a), load_run(a))
    assert not c.flips and not c.moved and not c.regressed
    assert c.compared == {"verdicts": len(synthetic_verdicts()), "sanity": 12,
                          "groundtruth": 6}


def test_cli_compare_exit_status_and_output(tmp_path, capsys):
    a, b = _degraded_pair(tmp_path)
    assert main(["report", "compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Regressed: verdicts 1 worse")
    assert "verdict digits/leg/cascading: pass -> fail" in out
    assert (b / "comparison.html").is_file() and (b / "comparison.md").is_file()
    assert main(["report", "compare", str(a), str(a), "--out", str(tmp_path / "same")]) == 0
    assert capsys.readouterr().out.startswith("No regression")
    # a larger tolerance forgives the metric moves, not the flipped verdict
    assert main(["report", "compare", str(a), str(b), "--tolerance", "1",
                 "--out", str(tmp_path / "tol")]) == 1
    assert "tolerance 1: 0 regressed" in capsys.readouterr().out


def test_cli_compare_says_what_is_not_a_run(tmp_path, capsys):
    a = synthetic_report(tmp_path, "run-a").write()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    assert main(["report", "compare", str(a), str(tmp_path / "notes")]) == 2
    err = capsys.readouterr().err
    assert "RUN_B" in err and "no run.json" in err and "todo.txt" in err
    assert "reports/latest" in err and "Traceback" not in err
    assert main(["report", "compare", str(tmp_path / "nowhere"), str(a)]) == 2
    assert "RUN_A" in capsys.readouterr().err
    with pytest.raises(NotARun, match="does not exist"):
        load_run(tmp_path / "nowhere")


def test_runs_of_different_profiles_are_not_compared(tmp_path, capsys):
    a = synthetic_report(tmp_path, "run-a").write()
    b = synthetic_report(tmp_path, "run-b", identity={**IDENTITY, "profile": "smoke"}).write()
    with pytest.raises(IncompatibleBaseline, match="profile"):
        compare_runs(load_run(a), load_run(b))
    assert main(["report", "compare", str(a), str(b)]) == 2
    assert "not comparable" in capsys.readouterr().err


SUITE = textwrap.dedent("""
    import os

    import pytest

    from leg.harness.checks.verdicts import Verdict

    @pytest.mark.sanity
    def test_suite(leg_report):
        value = float(os.environ.get("LEG_TEST_VALUE", "0.1"))
        leg_report.add_table("sanity", [{
            "check": "cascading", "model": "digits", "image": "digit0", "method": "leg",
            "stage": "cascade-conv1", "metric": "ssim", "value": value,
            "higher_is_better": False}])
        leg_report.add_verdicts([Verdict("digits", "leg", "cascading",
                                         "pass" if value < 0.3 else "fail", value, 0.3)])
""")


def test_regression_mode_writes_the_comparison_next_to_the_run(pytester, monkeypatch):
    from leg.harness.profiles import get_profile
    from leg.harness.report import Report

    profile = get_profile("smoke")
    base = Report(pytester.path / "out", run_id="base", info={"profile": "smoke"})
    base.set_info("identity", {"profile": "smoke", "parameters_hash": profile.parameters_hash(),
                               "models": [p.spec for p in profile.models], "images": None})
    base.add_table("sanity", [{"check": "cascading", "model": "digits", "image": "digit0",
                               "method": "leg", "stage": "cascade-conv1", "metric": "ssim",
                               "value": 0.1, "higher_is_better": False}])
    base.add_verdicts([Verdict("digits", "leg", "cascading", "pass", 0.1, 0.3)])
    base = base.write()
    pytester.makeconftest((REPO / "conftest.py").read_text())
    pytester.makepyfile(test_x=SUITE)
    monkeypatch.setenv("LEG_TEST_VALUE", "0.9")
    result = pytester.runpytest_subprocess("--leg-profile", "smoke", "--leg-report-dir", "out",
                                           "-p", "no:cacheprovider", f"--leg-baseline={base}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*leg comparison: *comparison.html (Regressed: verdicts 1 worse*"])
    run = (pytester.path / "out" / "latest").resolve()
    assert run != base
    page = (run / "comparison.html").read_text()
    assert "digits / digit0 / leg / cascade-conv1 / ssim" in page
    index = (run / "index.html").read_text()
    assert 'href="comparison.html"' in index and "Regressed" in index
    assert json.loads((run / "run.json").read_text())["tables"] == ["sanity", "verdicts"]


def test_checks_made_in_one_run_only_are_noted_not_flipped(tmp_path):
    """A run of the sanity suites alone against a full run: the perturbation checks did not
    stop working, they were not asked for; a method that vanished from a check both runs
    made has regressed."""
    a = synthetic_report(tmp_path, "run-a").write()
    sanity_only = [v for v in synthetic_verdicts()
                   if v.check not in ("key-size", "deletion")
                   and (v.method, v.check) != ("gradient", "cascading")]
    b = synthetic_report(tmp_path, "run-b", verdicts=sanity_only).write()
    c = compare_runs(load_run(a), load_run(b))
    assert c.notes == ["Checks made in one run only, not compared: deletion, key-size."]
    assert [(r["model"], r["method"], r["check"], r["after"]) for r in c.flips] == [
        ("digits", "gradient", "cascading", "not-run"),
        ("lite0", "gradient", "cascading", "not-run")]


def _first_screen_html(page: str) -> str:
    """The page from the verdicts to the leaderboards, hover texts removed: what a reader
    sees without hovering or unfolding."""
    import html
    import re

    first = page[page.index('id="verdicts"'):page.index('id="leaderboards"')]
    assert "<details" not in first
    return html.unescape(re.sub(r' title="[^"]*"', "", first))


def test_the_first_screen_says_how_to_read_the_matrix(tmp_path):
    """Asserted against reported, what a cell's number is, the paired rule, "not
    significant", "undecided" and "uninformative": in words, on the first screen of both
    pages, not on hover or folded."""
    d = synthetic_report(tmp_path).write()
    head = (d / "summary.md").read_text().split("## Leaderboards")[0]
    seen = _first_screen_html((d / "index.html").read_text())
    for text in (head, seen):
        for words in ("Asserted", "the run fails unless it is ✓", "Reported",
                      "never fail the run", "median of the check's metric",
                      "the number of images", "one-sided Wilcoxon signed-rank test",
                      "p < 0.05", "At least 5 images are needed", "? undecided",
                      "~ not significant", "≈ uninformative"):
            assert words in text, words
    assert "on every image" not in head and "on every image" not in seen


def test_the_columns_are_defined_from_the_check_records(tmp_path):
    """One row per column of the matrix, from the suites' Check records: eMPRT and sMPRT
    spelled out, the paper, and on which methods a test asserts the check (or "reported")."""
    from leg.harness.engine.suite import check
    from leg.harness.report.overview import columns

    verdicts = synthetic_verdicts()
    verdicts += [Verdict("digits", m, c, "pass", 0.1, n_images=6, asserted=False)
                 for m in ("leg", "gradient") for c in ("emprt", "smprt")]
    rows = {r["check"]: r for r in columns(verdicts)}
    assert set(rows) == {v.check for v in verdicts}
    assert rows["emprt"]["header"] == "eMPRT" and "efficient MPRT" in rows["emprt"]["rule"]
    assert "smooth MPRT" in rows["smprt"]["rule"] and "Hedström" in rows["smprt"]["reference"]
    assert rows["cascading"]["asserted"] == "asserted on leg, leg-tv"
    assert rows["independent"]["asserted"] == "reported"
    assert rows["estimand"]["asserted"] == "asserted on leg"
    assert rows["key-size"]["rule"] == check("key-size").rule
    assert rows["key-size"]["gamed_by"] == check("key-size").gamed_by != ""
    rep = synthetic_report(tmp_path, verdicts=verdicts)
    d = rep.write()
    md = (d / "summary.md").read_text().split("## Leaderboards")[0]
    assert "| **eMPRT** | reported | efficient MPRT" in md
    seen = _first_screen_html((d / "index.html").read_text())
    assert '<table class="columns"' in seen and "efficient MPRT" in seen


def test_a_new_check_is_defined_without_touching_the_report(tmp_path, monkeypatch):
    from leg.harness.engine import suite
    from leg.harness.engine.suite import Check
    from leg.harness.report.overview import columns

    known = suite.checks()
    extra = Check("border-mass", "border", "the share of |map| on the image's border must "
                  "be below the floor's, paired over images", "Someone et al., 2031")
    monkeypatch.setattr(suite, "checks", lambda: {**known, extra.name: extra})
    verdicts = [Verdict("digits", "leg", "border-mass", "pass", 0.1, n_images=6,
                        asserted=True)]
    (row,) = columns(verdicts)
    assert (row["header"], row["rule"], row["reference"], row["asserted"]) == (
        "border", extra.rule, "Someone et al., 2031", "asserted on leg")
    md = (synthetic_report(tmp_path, verdicts=verdicts).write() / "summary.md").read_text()
    assert "the share of |map|" not in md  # a | inside a cell would split it
    assert "| **border** | asserted on leg | the share of \\|map\\| on the image's" in md


def test_hover_texts_say_asserted_or_reported(tmp_path):
    page = (synthetic_report(tmp_path).write() / "index.html").read_text()
    assert "[asserted: the run fails unless it passes]" in page
    assert "[reported: never fails the run]" in page
