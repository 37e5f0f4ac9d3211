"""examples/first_explanation.py runs (with a tiny budget), so that it cannot rot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_first_explanation_runs_and_saves_its_figure(tmp_path):
    pytest.importorskip("tensorflow")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "first_explanation.py"),
                           "--samples", "8", "--out", str(tmp_path / "figs")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "coffee: top class 967 (espresso), probability 0.941"
    assert lines[1].startswith("map: 14x14 cells, 224x224 pixels")
    assert len([line for line in lines if line.startswith("  (")]) == 5
    assert "9 model evaluations" in lines[-2]
    figure = tmp_path / "figs" / "coffee_leg.png"
    assert lines[-1] == f"figure: {figure}" and figure.stat().st_size > 10_000
