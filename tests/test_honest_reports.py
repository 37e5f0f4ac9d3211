"""Reports that say what happened: an interrupted run says so on its first line and shows
the suites it never reached as "not run"; an unreadable image is skipped with one warning
and listed, and the run goes on with the others."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leg.harness.engine.cache import INTERRUPT_ENV

pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[1]


def _harness(report_dir: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "evaluation", "--leg-profile", "smoke",
           "--leg-model", "digits", "--leg-methods", "leg", "-q", "-p", "no:cacheprovider",
           "--leg-report-dir", str(report_dir), *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def _verdicts(run_dir: Path) -> dict[tuple[str, str, str], str]:
    with open(run_dir / "verdicts.csv", newline="") as fh:
        return {(r["model"], r["method"], r["check"]): r["verdict"] for r in csv.DictReader(fh)}


def test_an_interrupted_run_says_so_and_shows_what_did_not_run(tmp_path):
    # Ctrl-C at the estimand suite's first entry: it and the sanity suite never finish
    done = _harness(tmp_path, "-m", "estimand or sanity", env={INTERRUPT_ENV: "1"})
    assert done.returncode == 2, done.stdout[-2000:]  # pytest's "interrupted"
    run = (tmp_path / "latest").resolve()
    summary = (run / "summary.md").read_text().splitlines()
    assert "(INTERRUPTED)" in summary[0]
    assert summary[2].startswith("INTERRUPTED: stopped (Ctrl-C) after")
    verdicts = _verdicts(run)
    for check in ("estimand", "cascading", "independent", "label", "informativeness"):
        assert verdicts[("digits", "leg", check)] == "not-run", check
    html = (run / "index.html").read_text()
    assert "(INTERRUPTED)" in html and "the run stopped before the sanity suite finished" in html
    assert json.loads((run / "run.json").read_text())["interrupted"].startswith("stopped")


def test_an_unreadable_image_is_skipped_with_one_warning(tmp_path):
    from PIL import Image

    from leg.zoo.digits import digits_data

    images = tmp_path / "images"
    images.mkdir()
    digit = (digits_data(size=32, seed=0)["x_test"][0, ..., 0] * 255).astype(np.uint8)
    Image.fromarray(digit).save(images / "good.png")
    Image.fromarray(digit).resize((64, 64)).save(images / "bad.jpg")
    data = (images / "bad.jpg").read_bytes()
    (images / "bad.jpg").write_bytes(data[: len(data) // 2])  # truncated
    done = _harness(tmp_path / "reports", "-m", "estimand", "--leg-images", str(images))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-2000:]
    assert out.count("Skipped the image") == 1 and "bad.jpg" in out
    run = (tmp_path / "reports" / "latest").resolve()
    assert _verdicts(run)[("digits", "leg", "estimand")] == "pass"
    with open(run / "estimand.csv", newline="") as fh:
        assert {r["image"] for r in csv.DictReader(fh)} == {"good"}
    summary = (run / "summary.md").read_text()
    assert "Skipped images" in summary and "`bad.jpg`" in summary


def test_a_folder_with_nothing_readable_is_a_usage_error(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "empty.png").write_bytes(b"")
    done = _harness(tmp_path / "reports", "-m", "estimand", "--co", "--leg-images",
                    str(images))
    assert done.returncode == 4, done.stdout[-2000:]
    assert "No image in" in done.stderr and "empty.png" in done.stderr
    assert "Traceback" not in done.stderr
