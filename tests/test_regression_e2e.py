"""Regression mode end to end: a run compared with itself passes; the same run compared with
a stored baseline degraded on purpose (LEG's similarities made far better than they are)
fails with the regression named; a baseline from another profile is refused."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leg.harness.report.baseline import KEY

pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[1]
ARGS = ["-m", "pytest", "evaluation", "-m", "sanity", "--leg-profile", "smoke",
        "--leg-model", "digits", "--leg-methods", "leg,edge", "--leg-n-images", "3",
        "--leg-stages", "2", "-q", "-p", "no:cacheprovider"]


def _harness(report_dir, *extra):
    return subprocess.run([sys.executable, *ARGS, "--leg-report-dir", str(report_dir), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def _degrade(run_dir: Path, out: Path) -> None:
    shutil.copytree(run_dir, out)
    table = out / "sanity.csv"
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:  # lower similarity after randomization is better: make the baseline's
        if row["method"] == "leg" and row["check"] in ("cascading", "label"):
            row["value"] = "-1.0"
    with open(table, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.slow  # three harness runs: about 45 s on 2 cores
def test_baseline_passes_against_itself_and_fails_when_degraded(tmp_path):
    reports = tmp_path / "reports"
    first = _harness(reports)
    assert first.returncode == 0, first.stdout[-2000:]
    run_dir = (reports / "latest").resolve()
    assert (run_dir / "run.json").is_file()

    again = _harness(reports, "--leg-baseline", str(run_dir))
    assert again.returncode == 0, again.stdout[-2000:]

    degraded = tmp_path / "degraded"
    _degrade(run_dir, degraded)
    worse = _harness(reports, "--leg-baseline", str(degraded))
    assert worse.returncode == 1, worse.stdout[-2000:]
    assert "Regressed against the baseline" in worse.stdout
    # the comparison page next to the run names exactly the degraded rows, no verdict flip
    with open(degraded / "sanity.csv", newline="") as fh:
        changed = {" / ".join(r[c] for c in KEY) for r in csv.DictReader(fh)
                   if r["value"] == "-1.0"}
    page = (reports / "latest").resolve()
    with open(page / "comparison_metrics.csv", newline="") as fh:
        moved = list(csv.DictReader(fh))
    assert {r["what"] for r in moved} == changed and {r["status"] for r in moved} == {
        "regressed"}
    assert (page / "comparison_verdicts.csv").read_text().count("\n") == 1  # header only
    assert "verdicts 0 worse" in (page / "comparison.html").read_text()

    other = _harness(reports, "--leg-baseline", str(run_dir), "--leg-seed", "5")
    assert other.returncode != 0
    assert "parameters: baseline" in other.stdout + other.stderr  # refused, not compared
