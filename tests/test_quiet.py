"""TensorFlow's C++ start-up lines stay off the terminal of ``leg explain`` and of the
harness, and come back with ``--debug`` / ``--leg-debug``; the fd-holding helper."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leg._quiet import TF_LOG_ENV, hold_fd

REPO = Path(__file__).resolve().parents[1]
#: absl's pre-initialisation warning, TensorFlow's C++ log lines (I/W/E + date), oneDNN.
TF_LINES = re.compile(r"absl::InitializeLog|cpu_feature_guard|oneDNN|^[IWE]\d{4} ", re.M)


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != TF_LOG_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _run_pair(quiet: list[str], debug: list[str], cwd) -> tuple[str, str]:
    """stderr of both commands, run side by side."""
    procs = [subprocess.Popen([sys.executable, *cmd], cwd=cwd, env=_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for cmd in (quiet, debug)]
    errs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out[-2000:] + err[-2000:]
        errs.append(err)
    return errs[0], errs[1]


def _check(quiet: str, debug: str) -> None:
    if not TF_LINES.search(debug):
        pytest.skip("this TensorFlow prints no C++ start-up lines here, even with --debug")
    assert not TF_LINES.search(quiet), quiet


def test_hold_fd_keeps_c_level_output_and_replays_it_on_error(capfd):
    os.write(2, b"before\n")
    with hold_fd(2):
        os.write(2, b"held back\n")
    with pytest.raises(RuntimeError), hold_fd(2):
        os.write(2, b"the reason\n")
        raise RuntimeError("boom")
    assert capfd.readouterr().err == "before\nthe reason\n"


@pytest.mark.slow
def test_leg_explain_hides_tensorflow_start_up_unless_debug(tmp_path):
    keras = pytest.importorskip("keras")
    from PIL import Image

    inp = keras.Input((16, 16, 3))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inp))
    keras.Model(inp, out).save(tmp_path / "tiny.keras")
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
                    ).save(tmp_path / "im.png")
    cmd = ["-m", "leg.cli", "explain", str(tmp_path / "im.png"), "--model",
           str(tmp_path / "tiny.keras"), "--method", "leg", "--samples", "4", "--cell-size",
           "8", "--format", "json", "--quiet"]
    quiet, debug = _run_pair(cmd + ["--out", str(tmp_path / "a")],
                             cmd + ["--out", str(tmp_path / "b"), "--debug"], REPO)
    _check(quiet, debug)


@pytest.mark.slow
def test_harness_hides_tensorflow_start_up_unless_leg_debug(tmp_path):
    """The harness loads its Keras model (here for the plan, which probes it) with
    TensorFlow's start-up lines held back."""
    pytest.importorskip("tensorflow")
    cmd = ["-m", "pytest", "evaluation", "-s", "-q", "-p", "no:cacheprovider", "-m", "sanity",
           "--leg-profile", "smoke", "--leg-model", "digits", "--leg-plan",
           "--leg-report-dir", str(tmp_path)]  # -s: no output captured
    quiet, debug = _run_pair(cmd, cmd + ["--leg-debug"], REPO)
    _check(quiet, debug)


def test_bfc_cpu_allocator_is_asked_for_unless_the_user_chose(monkeypatch):
    from leg._tf_allocator import BFC_ENV, use_bfc_cpu_allocator

    monkeypatch.delenv(BFC_ENV, raising=False)
    use_bfc_cpu_allocator()
    assert os.environ[BFC_ENV] == "true"
    monkeypatch.setenv(BFC_ENV, "false")
    use_bfc_cpu_allocator()
    assert os.environ[BFC_ENV] == "false"
