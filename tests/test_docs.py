"""What the README and the documentation show, run: so that no snippet or command rots.

* Every ```python block of README.md and docs/*.md runs on its own in a fresh folder, as a
  reader pasting it would run it, and is ruff-clean (pytest-examples).
* Every command of their ```bash blocks is accounted for. `leg explain` lines run, in this
  process, capped at 20 samples (the figures drawn by the lines of one or two images, each
  explanation once whatever its output folder); `python -c` lines and the scripts run;
  `leg evaluate` and `leg report` lines are parsed by the harness's own options (an unknown
  option, a bad value, a marker no suite has fail), and the README's `leg evaluate` lines
  run with `--leg-plan` (but the smoke profile, which the test command runs itself).
  Commands that cannot run here are named below with the reason.
* The README's "Checks and verdicts" table has a row for every built-in check.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
#: Modules of optional extras: a block that needs one is skipped where it is not installed.
OPTIONAL = {"tensorflow", "keras", "torch", "efficientnet_lite_pytorch", "ray"}
#: `leg explain` lines run at this budget (the lines' own, 400 to 4000 model evaluations a
#: photo, cost minutes on 2 cores); every other option runs as written.
EXPLAIN_SAMPLES = "20"

#: Commands the pages show that this test does not run, and why.
NOT_RUN = {
    "pip": "an install: .ci/run installs leg exactly this way, the wheel into a fresh venv",
    "wheel": "building leg's wheel: .ci/run builds and installs it",
    "pytest": "the test command itself (this test is part of it)",
    "ruff": "the linter: a step of .ci/run",
    "mkdocs": "the documentation build: a step of .ci/run, in strict mode",
    "ci": "CI itself",
    "ray": "starts a Ray cluster",
    "apt-get": "a system package (Chromium, for the report-layout test)",
    "benchmark": "a benchmark (minutes to hours): the test checks that the script exists",
}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- python blocks ---------------------------------------------------------------------------

try:
    from pytest_examples import CodeExample, EvalExample, find_examples
except ImportError:  # an install without the dev extra
    find_examples = None


def _python_blocks():
    if find_examples is None:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason="pytest-examples is not installed (the dev or docs extra)"))]
    return [pytest.param(example, id=f"{_rel(example.path)}:{example.start_line}")
            for page in PAGES for example in find_examples(str(page))]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield tmp_path
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("example", _python_blocks())
def test_python_block_runs(example: CodeExample, eval_example: EvalExample, in_tmp):
    # the blocks' imports are grouped as in the project (ruff outside it takes leg for a
    # third-party package: I001); matplotlib.use() comes before pyplot's import (E402)
    eval_example.set_config(line_length=100, target_version="py310", ruff_ignore=["E402", "I001"],
                            ruff_select=["E", "F", "W", "B", "UP"])
    eval_example.lint_ruff(example)
    try:
        eval_example.run(example)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in OPTIONAL:
            pytest.skip(f"needs {exc.name}, of an optional extra")
        raise


# -- bash blocks -----------------------------------------------------------------------------

def _bash_blocks() -> list[tuple[str, list[list[str]]]]:
    blocks = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"^```bash\n(.*?)^```", text, re.M | re.S):
            line = text[:m.start()].count("\n") + 1
            commands = [shlex.split(cmd, comments=True)
                        for cmd in m.group(1).replace("\\\n", " ").splitlines()]
            blocks.append((f"{_rel(page)}:{line}", [argv for argv in commands if argv]))
    return blocks


BASH = _bash_blocks()


def _kind(argv: list[str]) -> str:
    head = argv[0]
    if head == "leg":
        return f"leg {argv[1]}" if len(argv) > 1 else "leg"
    if head in ("cd", "pip", "ruff", "mkdocs", "ray", "apt-get"):
        return head
    if head == "bash" and argv[1:] == [".ci/run"]:
        return "ci"
    if head == "python":
        if argv[1:2] == ["-c"]:
            return "python -c"
        if argv[1:3] == ["-m", "pip"]:
            return "wheel" if argv[3:4] == ["wheel"] else "pip"
        if argv[1:3] == ["-m", "pytest"]:
            return "pytest"
        if argv[1].startswith("benchmarks/"):
            return "benchmark"
        if argv[1].endswith(".py"):
            return "script"
    raise AssertionError(f"{shlex.join(argv)!r}: a command tests/test_docs.py does not know; "
                         "run it there, or say in NOT_RUN why it cannot run")


def _known_markers() -> set[str]:
    from leg.harness.engine.suite import suites

    markers = {s.marker for s in suites()}
    # examples/project/leg_border's suite: the pages install it before selecting it
    spec = ROOT / "examples" / "project" / "leg_border" / "leg_border.py"
    markers.add(runpy.run_path(str(spec))["SUITE"].marker)
    return markers


def _evaluate_parser() -> argparse.ArgumentParser:
    """``leg evaluate``'s options: the plugin's own, through its ``pytest_addoption``, and
    the pytest options the pages use."""
    from leg.harness import plugin

    parser = argparse.ArgumentParser(prog="leg evaluate", add_help=False)

    class Group:
        def addoption(self, *names, **kwargs):
            parser.add_argument(*names, **kwargs)

    class Parser(Group):
        def getgroup(self, *args, **kwargs):
            return Group()

        def addini(self, *args, **kwargs):
            pass

    plugin.pytest_addoption(Parser())
    for flag in ("-m", "-k", "-p"):
        parser.add_argument(flag, action="append")
    for flag in ("-q", "-v"):
        parser.add_argument(flag, action="count")
    for flag in ("-x", "--help-pytest", "--collect-only"):
        parser.add_argument(flag, action="store_true")
    return parser


def _parse(parser: argparse.ArgumentParser, args: list[str], what: str) -> argparse.Namespace:
    try:
        namespace, extra = parser.parse_known_args(args)
    except SystemExit:
        pytest.fail(f"{what}: refused by its parser (see the message above)")
    assert not extra, f"{what}: unknown arguments {extra}"
    return namespace


@pytest.mark.parametrize("block", [pytest.param(c, id=i) for i, c in BASH])
def test_every_command_is_known_and_parses(block):
    from leg.cli import build_parser
    from leg.harness.cli import _parser as report_parser

    markers = None
    for argv in block:
        what, kind = shlex.join(argv), _kind(argv)
        if kind == "leg explain":
            _parse(build_parser(), argv[1:], what)
        elif kind == "leg evaluate":
            ns = _parse(_evaluate_parser(), argv[2:], what)
            markers = markers or _known_markers()
            for expression in ns.m or ():
                names = set(re.findall(r"[A-Za-z_][\w-]*", expression)) - {"and", "or", "not"}
                assert names <= markers, f"{what}: no suite has the marker(s) {names - markers}"
        elif kind == "leg report":
            _parse(report_parser(), argv[2:], what)
        elif kind == "cd":
            assert (ROOT / argv[1]).is_dir(), f"{what}: no such folder in the repository"
        elif kind in ("script", "benchmark"):
            assert (ROOT / argv[1]).is_file(), f"{what}: no such script"
        elif kind in ("python -c",):
            compile(argv[2], "<-c>", "exec")
        else:
            assert kind in NOT_RUN, kind


def _runnable(block) -> bool:
    return any(_kind(argv) in ("leg explain", "python -c", "script") for argv in block)


def _explain_argv(argv: list[str]) -> list[str]:
    """The line's arguments at :data:`EXPLAIN_SAMPLES`; a line of three images or more
    writes no figures (``--format npy,json``): the lines of one or two images draw them."""
    args, skip = [], False
    for a in argv[2:]:
        if skip:
            skip = False
        elif a in ("--samples", "--reliability", "--max-samples"):
            skip = True
        elif not a.startswith(("--samples=", "--reliability=", "--max-samples=")):
            args.append(a)
    images = _without_options(args)
    fmt = ["--format", "npy,json"] if len(images) >= 3 and "--format" not in args else []
    return ["explain", *args, "--samples", EXPLAIN_SAMPLES, *fmt]


def _without_options(args: list[str]) -> list[str]:
    """The positional arguments (images) of ``leg explain``'s arguments."""
    from leg.cli import build_parser

    explain = build_parser().parse_args(["explain", *args])
    return list(explain.inputs)


def _explanation(argv: list[str]) -> str:
    """What a line computes: its capped arguments but the output folder."""
    args = _explain_argv(argv)
    if "--out" in args:
        i = args.index("--out")
        del args[i:i + 2]
    return shlex.join(args)


_EXPLAINED: set[str] = set()


@contextlib.contextmanager
def _argv(argv):
    before = sys.argv
    sys.argv = list(argv)
    try:
        yield
    finally:
        sys.argv = before


@pytest.mark.parametrize("block", [pytest.param(c, id=i) for i, c in BASH if _runnable(c)])
def test_commands_run(block, in_tmp, capsys):
    """`leg explain` at 20 samples, `python -c` and the scripts, in a fresh folder (the
    parent folders of the paths a script writes to are made first, as in a clone). A
    `leg explain` line shown on several pages (output folder aside) runs in the first block
    that shows it, unless a later command of a block reads what it writes."""
    from leg.cli import main

    reads = any(_kind(argv) == "script" for argv in block)
    for argv in block:
        kind, what = _kind(argv), shlex.join(argv)
        try:
            if kind == "leg explain":
                if _explanation(argv) in _EXPLAINED and not reads:
                    continue
                _EXPLAINED.add(_explanation(argv))
                assert main(_explain_argv(argv)) == 0, f"{what}: {capsys.readouterr().err}"
            elif kind == "python -c":
                exec(compile(argv[2], "<-c>", "exec"), {"__name__": "__main__"})
            elif kind == "script":
                for a in argv[2:]:
                    if "/" in a:
                        (in_tmp / a).parent.mkdir(parents=True, exist_ok=True)
                with _argv(argv[1:]):
                    runpy.run_path(str(ROOT / argv[1]), run_name="__main__")
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in OPTIONAL:
                pytest.skip(f"{what} needs {exc.name}, of an optional extra")
            raise


#: The README's `leg evaluate` lines that do not run with `--leg-plan` here, and why.
COVERED = {
    "leg evaluate --leg-profile smoke": "the test command runs these suites at this profile "
                                        "(pytest evaluation --leg-profile smoke)",
    "leg evaluate -m 'sanity or localisation' --leg-model mymodel:build --leg-images imgs "
    "--leg-masks masks --leg-baseline main-run/ --leg-strict --leg-compare-fail "
    "relevance-mass:0.05,key-size:10%,drift:0.5": "the example project's CI across versions, "
    "which .ci/run runs from the built wheel (two versions) and tests/test_versions.py runs "
    "with three",
}


def _readme_evaluations() -> list[tuple[str, list[str]]]:
    """The README's `leg evaluate` lines, each with the folder it is run from."""
    runs = []
    for where, block in BASH:
        if not where.startswith("README.md"):
            continue
        folder = "."
        for argv in block:
            if argv[0] == "cd":
                folder = argv[1]
            elif _kind(argv) == "leg evaluate" and shlex.join(argv) not in COVERED:
                runs.append((folder, argv))
    return runs


@pytest.fixture(scope="module", autouse=True)
def readme_plans(request, tmp_path_factory):
    """Starts the README's `leg evaluate` lines with `--leg-plan` when the module starts, so
    that they run beside the other tests (each starts TensorFlow and probes its models);
    :func:`test_readme_evaluations_plan` reads them."""
    wanted = any(item.name == "test_readme_evaluations_plan" for item in request.session.items)
    runs = _readme_evaluations() if wanted and _has("tensorflow") else []
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = []
    for i, (folder, argv) in enumerate(runs):
        cwd = tmp_path_factory.mktemp(f"plan{i}")
        if folder != ".":
            shutil.copytree(ROOT / folder, cwd, dirs_exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-m", "leg", *argv[1:], "--leg-plan"],
                                cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        started.append((shlex.join(argv), proc))
    yield started
    for _, proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_readme_evaluations_plan(readme_plans):
    """The README's `leg evaluate` lines, as written but for `--leg-plan`, from the folder
    the README runs them in: the models load, the probes run, the plan prints and nothing
    else runs (the smoke profile itself is part of the test command)."""
    if not _has("tensorflow"):
        pytest.skip("needs tensorflow (the tf extra): the README's runs use the Keras models")
    assert readme_plans, "the README shows no `leg evaluate` line"
    for what, proc in readme_plans:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{what} --leg-plan:\n{out[-3000:]}"
        assert "leg plan:" in out, f"{what} --leg-plan printed no plan:\n{out[-3000:]}"


# -- the README's table of checks --------------------------------------------------------------

def test_readme_checks_table_has_a_row_per_built_in_check():
    from leg.harness.engine.suite import suites

    text = README.read_text(encoding="utf-8")
    section = text.split("## Checks and verdicts", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([\w-]+)` \|", section, re.M))
    built_in = {c.name for s in suites() if type(s).__module__.startswith("leg.harness.")
                for c in s.checks}
    assert rows <= built_in, f"README rows naming no check: {sorted(rows - built_in)}"
    assert built_in <= rows, (f"checks without a row in the README's 'Checks and verdicts' "
                              f"table: {sorted(built_in - rows)}")
