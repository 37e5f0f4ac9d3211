"""The image size a model runs at, and the options that apply to it: leg.zoo.resolve_model
and ``leg explain --input-size/--preprocessing/--softmax``."""

import json
import sys

import numpy as np
import pytest
from PIL import Image

from leg.cli import main
from leg.zoo import declared_input_size, parse_input_size, resolve_model

FAST = ["--samples", "4", "--cell-size", "8", "--quiet", "--seed", "1", "--format", "json"]


@pytest.fixture
def photo(tmp_path):
    """A 60x80 RGB photo: no model here takes that size."""
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((60, 80, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _run(tmp_path, photo, *argv):
    out = tmp_path / "out"
    code = main(["explain", str(photo), *FAST, "--out", str(out), *argv])
    doc = json.loads((out / "results.json").read_text()) if code != 2 else None
    return code, doc


def test_parse_input_size():
    assert parse_input_size("224x260") == (224, 260)
    assert parse_input_size((32, 32)) == (32, 32)
    for bad in ("224", "0x3", "axb", (1, 2, 3)):
        with pytest.raises(ValueError, match="HxW"):
            parse_input_size(bad)


def test_a_module_without_a_size_is_refused_and_input_size_runs_it(tmp_path, photo, capsys):
    pytest.importorskip("torch")
    code, _ = _run(tmp_path, photo, "--model", "tests.torch_nets:NoSize")
    assert code == 2
    err = capsys.readouterr().err
    assert "declares no input size" in err and "--input-size HxW" in err
    assert len(err.strip().splitlines()) == 1
    code, doc = _run(tmp_path, photo, "--model", "tests.torch_nets:NoSize", "--input-size",
                     "24x32", "--softmax", "--preprocessing", "torch")
    assert code == 0
    assert doc["images"][0]["size"] == [24, 32]
    assert "centre-cropped from 60x80 and resized to 24x32" in doc["images"][0]["conversion"]
    assert doc["model_inputs"] == {"input_size": [24, 32], "channels": 3,
                                   "input_size_from": "option", "declared_input_size": None,
                                   "preprocessing": "torch", "softmax": True, "wrapped": True}


def test_a_size_the_module_declares_is_used_and_can_be_replaced(tmp_path, photo):
    pytest.importorskip("torch")
    code, doc = _run(tmp_path, photo, "--model", "tests.torch_nets:DeclaresImageSize")
    assert code == 0 and doc["images"][0]["size"] == [24, 24]
    assert doc["model_inputs"]["input_size_from"] == "input_image_size"
    assert doc["model_inputs"]["preprocessing"] == "none"
    assert doc["model_inputs"]["softmax"] is False
    resolved = resolve_model("tests.torch_nets:DeclaresImageSize", input_size="16x16")
    assert resolved.input_size == (16, 16) and resolved.declared_size == (24, 24)
    assert resolved.classifier.input_shape == (16, 16, 3)  # the wrapper checks it


def test_the_reference_efficientnet_declares_its_size():
    pytest.importorskip("torch")
    ref = pytest.importorskip("efficientnet_lite_pytorch")
    module = ref.EfficientNet.from_name("efficientnet-lite2").eval()
    found = declared_input_size(module)
    assert found is not None and found[0] == (260, 260) and found[2] == "input_image_size"


def test_options_are_refused_for_a_ready_classifier(tmp_path, photo, capsys):
    pytest.importorskip("torch")
    for option in (["--softmax"], ["--preprocessing", "torch"], ["--preprocessing", "none"]):
        code, _ = _run(tmp_path, photo, "--model", "tests.torch_nets:ready_classifier",
                       *option)
        assert code == 2
        err = capsys.readouterr().err
        assert f"{option[0]} cannot apply" in err and "ready classifier" in err
    code, _ = _run(tmp_path, photo, "--model", "tests.torch_nets:ready_classifier",
                   "--input-size", "32x32")
    assert code == 2
    err = capsys.readouterr().err
    assert "--input-size 32x32 cannot apply" in err and "20x20 images only" in err
    code, doc = _run(tmp_path, photo, "--model", "tests.torch_nets:ready_classifier")
    assert code == 0 and doc["images"][0]["size"] == [20, 20]
    assert doc["model_inputs"]["preprocessing"] == "none"
    assert doc["model_inputs"]["softmax"] is True and doc["model_inputs"]["wrapped"] is False
    with pytest.raises(ValueError, match="--leg-softmax cannot apply: the zoo model 'digits'"):
        resolve_model("digits", softmax=True, option_prefix="--leg-")  # refused before loading
    with pytest.raises(ValueError, match="--leg-preprocessing cannot apply"):
        resolve_model("groundtruth:linear_region_28x28x3", preprocessing="tf",
                      option_prefix="--leg-")


def test_harness_spelling_of_the_options():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="--leg-input-size HxW"):
        resolve_model("tests.torch_nets:NoSize", require_size=True, option_prefix="--leg-")
    with pytest.raises(ValueError, match="input_size= HxW"):
        resolve_model("tests.torch_nets:NoSize", require_size=True)
    assert resolve_model("tests.torch_nets:NoSize").input_size is None


def test_a_ready_callable_runs_at_the_given_size(tmp_path, photo):
    code, doc = _run(tmp_path, photo, "--model", "tests.models:cli_model_without_size",
                     "--input-size", "16x16")
    assert code == 0 and doc["images"][0]["size"] == [16, 16]
    assert doc["model_inputs"]["preprocessing"] is None  # the classifier's own business
    assert doc["model_inputs"]["input_size_from"] == "option"


def test_pytorch_only_install_points_to_lite0_torch(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "keras", None)  # import keras: ImportError
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    code = main(["explain", "--quiet", "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "--model lite0-torch" in err and "tf extra" in err and "default model" in err
