"""The engine's plug-ins: a suite added as one module and its record (here installed as a
separate package would be, through the entry-point group ``leg.checks``) is collected,
priced, judged, ranked, reported and compared with a stored run like the built-in ones; and
no list of method names lives outside the method records."""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leg.harness.engine.suite import ENTRY_POINT_GROUP, Check, Suite, _checked, suites
from leg.harness.methods import METHODS

REPO = Path(__file__).resolve().parents[1]
TOY = Path(__file__).with_name("toy") / "leg_toy.py"
GT = "groundtruth:linear_region_28x28x3"


def test_the_built_in_suites_are_found_in_their_folder():
    names = [s.name for s in suites()]
    assert names == ["sanity", "perturbation", "groundtruth", "estimand", "complexity",
                     "localisation", "robustness", "axiomatic", "infidelity"]
    checks = [c.name for s in suites() for c in s.checks]
    assert len(checks) == len(set(checks)) and "cascading" in checks and "key-size" in checks


def test_the_plugin_registers_each_built_in_suites_marker_without_loading_them():
    from leg.harness.plugin import MARKERS

    assert set(MARKERS) == {s.marker for s in suites()}


def test_a_suite_must_be_a_suite_with_a_name_and_checks():
    with pytest.raises(TypeError, match="not a leg.harness.engine.suite.Suite"):
        _checked(object(), "entry point 'x'")

    class NoName(Suite):
        checks = (Check("c", "c", "rule"),)

    with pytest.raises(ValueError, match="must be a lower-case identifier"):
        _checked(NoName(), "x")

    class NoChecks(Suite):
        name = "x"

    with pytest.raises(ValueError, match="declares no checks"):
        _checked(NoChecks(), "x")


def _install_toy(root: Path, shift: float = 0.0) -> dict:
    """``leg_toy`` with a ``.dist-info`` whose entry point is in ``leg.checks``, on the path
    of the processes the returned environment starts."""
    site = root / "site"
    site.mkdir(exist_ok=True)
    shutil.copy(TOY, site / "leg_toy.py")
    dist = site / "leg_toy-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: leg-toy\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntoy = leg_toy:SUITE\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "LEG_TOY_SHIFT": str(shift),
            "MPLBACKEND": "Agg"}


def _evaluate(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "leg", "evaluate", "-m", "toy", "--leg-profile", "smoke",
           "--leg-model", GT, "--leg-methods", "true-map,random", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _rows(run: Path, table: str) -> list[dict]:
    with open(run / f"{table}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_a_suite_from_another_package_goes_through_the_whole_harness(tmp_path):
    env = _install_toy(tmp_path)
    first = _evaluate(tmp_path, env, "--leg-report-dir", "base")
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-3000:]
    assert "toy" in out and "maps (6 images x 3 methods)" in out  # the plan priced it
    run = (tmp_path / "base" / "latest").resolve()
    cells = {(r["method"], r["check"]): r for r in _rows(run, "verdicts")}
    assert cells[("true-map", "centre-mass")]["verdict"] == "pass"
    assert cells[("true-map", "centre-mass")]["asserted"] == "True"
    assert cells[("random-cells", "centre-mass")]["verdict"] == "reference"
    assert cells[("random", "centre-mass")]["asserted"] == "False"
    assert float(cells[("true-map", "centre-mass")]["p_value"]) < 0.05
    boards = _rows(run, "leaderboards")
    assert {r["method"] for r in boards if r["metric"] == "centre_mass"} == {
        "true-map", "random", "random-cells"}
    assert len(_rows(run, "toy")) == 18  # one row per map
    summary = (run / "summary.md").read_text()
    assert "centre mass" in summary and "Toy: mass at the centre" in summary
    tests = {r["test"]: r["outcome"] for r in _rows(run, "tests")}
    assert any("test_asserted_verdict_passes" in t and "true-map" in t and o == "passed"
               for t, o in tests.items())
    assert json.loads((run / "run.json").read_text())["toy"]["cache"]["maps_computed"] == 18

    # the same run against itself: nothing regressed; a worse one regresses
    same = _evaluate(tmp_path, env, "--leg-report-dir", "same", "--leg-baseline", str(run))
    assert same.returncode == 0, (same.stdout + same.stderr)[-3000:]
    again = (tmp_path / "same" / "latest").resolve()
    compared = _rows(again, "comparison_metrics") if (again / "comparison_metrics.csv").exists() \
        else []
    assert not [r for r in compared if r["status"] == "regressed"]
    worse = _evaluate(tmp_path, _install_toy(tmp_path, shift=0.2), "--leg-report-dir", "worse",
                      "--leg-baseline", str(run))
    assert worse.returncode == 1, (worse.stdout + worse.stderr)[-3000:]
    moved = _rows((tmp_path / "worse" / "latest").resolve(), "comparison_metrics")
    assert {r["table"] for r in moved if r["status"] == "regressed"} == {"toy"}
    assert "test_no_regression[toy]" in worse.stdout + worse.stderr


def test_leg_checks_refuses_an_unknown_check_in_one_line(pytester):
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess("--leg-checks", "cascading,nope", "--co")
    assert result.ret == 4
    assert "--leg-checks: unknown checks ['nope']; choose from cascading," in result.stderr.str()


# ---------------------------------------------------------------- method name lists
def _names_in(node) -> list[str]:
    return [e.value for e in getattr(node, "elts", ())
            if isinstance(e, ast.Constant) and e.value in METHODS]


def test_no_list_of_method_names_outside_the_method_records():
    """What the harness knows about a method lives in its record
    (:mod:`leg.harness.methods`): no tuple, list or set of two or more method names appears
    anywhere else in the harness or its pytest modules (a dict of per-method options is a
    plan's data, not a list)."""
    roots = [REPO / "leg" / "harness", REPO / "evaluation"]
    found = []
    for path in (p for root in roots for p in root.rglob("*.py")):
        if "methods" in path.relative_to(REPO / "leg" / "harness").parts \
                if path.is_relative_to(REPO / "leg" / "harness") else False:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(_names_in(node)) >= 2:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {_names_in(node)}")
    assert not found, "method name lists outside the records: " + "; ".join(found)


def test_the_name_list_check_can_fail(tmp_path):
    bad = ast.parse('ASSERTED = ("leg", "leg-tv")\nOK = {"leg": {}, "leg-tv": {}}\n')
    lists = [n for n in ast.walk(bad) if isinstance(n, (ast.Tuple, ast.List, ast.Set))
             and len(_names_in(n)) >= 2]
    assert len(lists) == 1 and _names_in(lists[0]) == ["leg", "leg-tv"]
