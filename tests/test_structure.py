"""The package's import structure: the library never imports the harness, and neither has an
import cycle (imports inside functions count: they run too)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = ("leg.harness", "evaluation")


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "evaluation":  # installed as leg.harness.evaluation
        parts = ["leg", "harness", "evaluation", *parts[1:]]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [*REPO.glob("leg/**/*.py"), *REPO.glob("evaluation/**/*.py")]
    return {_module_name(p): p for p in files}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``path`` imports anywhere (parent packages left out)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("evaluation"):  # the repository folder's old name
                out.add(t)
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and not name.startswith(t + "."):
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(path, name, set(mods)) for name, path in mods.items()}


def test_the_library_never_imports_the_harness():
    graph = _graph()
    bad = {m: sorted(t for t in deps if t.startswith(HARNESS))
           for m, deps in graph.items() if not m.startswith(HARNESS)}
    bad = {m: d for m, d in bad.items() if d}
    assert not bad, f"library modules import the harness: {bad}"


def test_no_module_imports_the_old_evaluation_package():
    graph = _graph()
    bad = {m: sorted(t for t in deps if t.startswith("evaluation")) for m, deps in graph.items()}
    assert not {m: d for m, d in bad.items() if d}


def test_no_import_cycles():
    try:
        tuple(TopologicalSorter(_graph()).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_cycle_check_can_fail(tmp_path):
    """The checker sees a cycle made of imports inside functions."""
    graph = {"a": {"b"}, "b": {"a"}}
    with pytest.raises(CycleError):
        tuple(TopologicalSorter(graph).static_order())
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from leg.harness import report\n")
    assert _imports(src, "leg.m", {"leg.m", "leg.harness", "leg.harness.report"}) == {
        "leg.harness.report"}


def test_every_package_folder_is_installed():
    """pyproject lists its packages by hand (evaluation/ is installed as leg.harness.evaluation):
    a new sub-package that is not listed would be missing from the wheel."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {_module_name(p.parent / "__init__.py") for p in
               [*REPO.glob("leg/**/*.py"), *REPO.glob("evaluation/**/*.py")]}
    folders |= {"leg.data", "leg.data.masks"}  # data only: packages for their files
    assert folders == listed
    assert config["package-dir"] == {"leg.harness.evaluation": "evaluation"}
