"""The evaluation harness end to end on a PyTorch model (``--leg-model module:attribute``
returning a leg.TorchClassifier): cascading randomization of its modules inside the sanity
suites, and the perturbation suites with Grad-CAM (forward hooks) on it.

A small test-only path: a 16x16 three-region CNN (:class:`tests.torch_nets.Quadrant`) on
three images, the methods that need no sampling budget (about 30 s of CPU) (the Lite0 run is
``pytest evaluation --leg-profile smoke --leg-model lite0-torch``, minutes on 2 cores)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
SPEC = "tests.torch_nets:quadrant_classifier"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from skimage.io import imsave

    from tests.torch_nets import quadrant_images

    root = tmp_path_factory.mktemp("torch-harness")
    images = root / "images"
    images.mkdir()
    for i, img in enumerate(quadrant_images(3)):
        imsave(images / f"q{i}.png", (img * 255).round().astype(np.uint8))
    args = [sys.executable, "-m", "pytest", "evaluation/test_sanity.py",
            "evaluation/test_perturbation.py", "--leg-profile", "smoke", "--leg-model", SPEC,
            "--leg-images", str(images), "--leg-methods", "gradient,edge,grad-cam",
            "--leg-n-images", "3", "--leg-backgrounds", "mean,black",
            "--leg-report-dir", str(root / "reports"), "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    return done, (root / "reports" / "latest").resolve()


def test_the_harness_runs_on_a_torch_model(run):
    done, report = run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    info = json.loads((report / "run.json").read_text())
    assert len(info["identity"]["fingerprints"][SPEC]) == 16
    assert not info["sanity"]["errors"] and not info["perturbation"]["errors"]


def test_cascading_randomization_of_the_modules_reaches_the_maps(run):
    _, report = run
    rows = [r for r in _rows(report / "sanity_summary.csv")
            if r["model"] == SPEC and r["metric"] == "spearman_abs"]
    stages = {r["stage"]: r for r in rows if r["method"] == "gradient"}
    # the generic plan's two decisive stages: the top layer, then everything
    assert {"cascade-logits", "cascade-conv"} <= set(stages)
    # the gradient reaches the unrelated-map level once randomized; the edge map stays at
    # its original (position 1): the control is not fooled
    full = stages["cascade-conv"]
    assert float(full["position_median"]) < 0.25
    edge = {r["stage"]: r for r in rows if r["method"] == "edge"}["cascade-conv"]
    assert float(edge["position_median"]) == pytest.approx(1.0)
    # three images: the paired statistics cannot decide (p >= 1/8), neither pass nor fail
    for r in (full, edge):
        assert r["verdict"] == "undecided" and int(r["n_images"]) == 3
    assert float(full["p_value"]) == pytest.approx(1 / 8) and float(edge["p_value"]) == 1.0


def test_grad_cam_and_the_gradient_are_scored_on_the_torch_model(run):
    _, report = run
    rows = [r for r in _rows(report / "keysize.csv") if r["model"] == SPEC]
    # random-cells, the floor of every verdict, comes whatever --leg-methods says; the edge
    # control is compared too
    assert {r["method"] for r in rows} == {"gradient", "grad-cam", "edge", "random-cells"}
    matched = [r for r in rows if r["granularity"].startswith("cells:")]
    pixel = [r for r in rows if r["granularity"] == "pixel"]
    # methods x images (--leg-n-images) x --leg-backgrounds at the matched granularity, and
    # at pixels on the first background only
    assert len(matched) == 4 * 3 * 2 and len(pixel) == 4 * 3
    assert all(0 < float(r["key_size"]) <= 1 for r in rows if r["key_size"] != "nan")
