"""Mutation testing of the code that decides verdicts: how many small faults planted in
``leg/harness/checks/statistics.py``, ``leg/harness/checks/verdicts.py``,
``leg/reliability.py`` and the randomization rule (``leg/harness/checks/randomization/rule.py``)
their unit tests catch.

How to run (2 min 15 s for the four modules on 2 cores at load 1; 1296 mutants)::

    python3 -m venv /tmp/mutvenv    # a separate venv: never install mutmut into the project's
    /tmp/mutvenv/bin/pip install mutmut==3.8.1 numpy scipy hypothesis pytest tqdm \\
        matplotlib pillow highspy     # what the tested modules and their tests import
    python benchmarks/mutation.py --venv /tmp/mutvenv        # or LEG_MUTATION_VENV=/tmp/mutvenv
    python benchmarks/mutation.py --venv /tmp/mutvenv --module statistics   # one module

Options: ``--module`` (repeatable: statistics, verdicts, reliability, rule; default all),
``--source DIR`` (the checkout whose modules and tests are used; default this repository),
``--jobs N`` (mutmut's ``--max-children``; default the number of CPUs), ``--workdir DIR``
(default a temporary folder, removed afterwards unless ``--keep``), ``--fail-under PCT``
(exit 1 when a module scores below it), ``--json FILE`` (the counts and survivors),
``--report-only DIR`` (score a kept work folder again, e.g. after editing the equivalents).

What it does: copies ``leg/``, ``tests/`` and ``conftest.py`` of the source checkout into the
work folder (nothing in the checkout is touched), writes mutmut's configuration there and runs
``mutmut run`` (mutmut 3: each mutant of a function is run against the tests that call that
function, chosen from the module's own test files only:
:data:`MODULES`). Hypothesis is derandomized and its example database off in the copy, so a
rerun gives the same verdicts. Then it prints, per module: mutants, equivalent (listed in
``benchmarks/mutation_equivalent.tsv``: module, line, mutation, reason), killed, timeouts
(counted as caught: the tests did not pass), survived (no test failed, or no test ran the
mutated function), and the score: caught over non-equivalent mutants. Every survivor is
listed by line and mutation (the original line ``==>`` the mutated one), in the format of the
equivalents file, so an equivalent one can be copied there with a reason. An entry of the file
that matches no mutant (the code moved or changed) or a mutant that was killed is reported:
the file is then out of date.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENTS = Path(__file__).resolve().with_name("mutation_equivalent.tsv")

#: Module -> (its file, its unit-test files). Test files missing from the source are skipped.
MODULES = {
    "statistics": ("leg/harness/checks/statistics.py", ["tests/test_statistics.py"]),
    "verdicts": ("leg/harness/checks/verdicts.py",
                 ["tests/test_verdicts.py", "tests/test_report_pages.py"]),
    "reliability": ("leg/reliability.py", ["tests/test_reliability.py"]),
    "rule": ("leg/harness/checks/randomization/rule.py", ["tests/test_rule.py"]),
}
#: Tests of those files that cannot run in the mutation venv: they call the ``leg`` command,
#: whose subcommands are entry points of the installed package (the copy is not installed).
#: They test the command line, not the verdict logic (which the other tests of the file cover).
DESELECT = [
    "tests/test_report_pages.py::test_cli_compare_exit_status_and_output",
    "tests/test_report_pages.py::test_cli_compare_says_what_is_not_a_run",
    "tests/test_report_pages.py::test_runs_of_different_profiles_are_not_compared",
    "tests/test_report_pages.py::test_regression_mode_writes_the_comparison_next_to_the_run",
]
#: Appended to the copy's conftest.py: the same examples in every run, none carried over from
#: one mutant to the next.
HYPOTHESIS_PROFILE = """

from hypothesis import settings as _mutation_settings

_mutation_settings.register_profile("leg-mutation", derandomize=True, database=None)
_mutation_settings.load_profile("leg-mutation")
"""

#: mutmut's exit codes (mutmut/stats.py) -> the columns printed here.
CAUGHT = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout",
          152: "timeout", 255: "timeout"}
NOT_RUN = {5: "no tests", 33: "no tests"}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(s) for s in items) + "]"


def prepare(source: Path, work: Path, modules: list[str]) -> list[str]:
    """Copy the sources and tests into ``work`` and write mutmut's configuration; returns the
    test files used."""
    for name in ("leg", "tests"):
        shutil.copytree(source / name, work / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    conftest = (source / "conftest.py").read_text() if (source / "conftest.py").exists() else ""
    (work / "conftest.py").write_text(conftest + HYPOTHESIS_PROFILE)
    tests = []
    for m in modules:
        for t in MODULES[m][1]:
            if (source / t).exists() and t not in tests:
                tests.append(t)
            elif not (source / t).exists():
                print(f"note: {t} is not in {source}; {m} is tested without it")
    deselect = [d for d in DESELECT if d.split("::")[0] in tests]
    args = ["-p", "no:cacheprovider"] + [f"--deselect={d}" for d in deselect]
    (work / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["leg"]\n'
        f"only_mutate = {_toml_list([MODULES[m][0] for m in modules])}\n"
        f"pytest_add_cli_args = {_toml_list(args)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        "use_git_change_detection = false\n")
    return tests


def _functions(path: Path) -> dict[str, list[str]]:
    """The mutmut copies (``x_name__mutmut_k``, ``..._orig``) in a mutated file -> lines."""
    text = path.read_text()
    lines = text.splitlines()
    out = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            out[node.name] = lines[node.lineno - 1:node.end_lineno]
    return out


def _def_lines(path: Path) -> dict[str, int]:
    """mutmut's mangled name (``x_f`` or ``xǁClassǁmethod``) -> the ``def`` line of the
    original function."""
    tree = ast.parse(path.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out[f"x_{node.name}"] = node.lineno
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                    out[f"x\u01c1{node.name}\u01c1{sub.name}"] = sub.lineno
    return out


def describe(source_file: Path, mutated_file: Path, keys: list[str]) -> dict[str, tuple]:
    """Mutant key -> (line in the original file, "original ==> mutated")."""
    funcs = _functions(mutated_file)
    defs = _def_lines(source_file)
    out = {}
    for key in keys:
        name = key.rsplit(".", 1)[1]
        base = name.partition("__mutmut_")[0]
        orig = funcs[f"{base}__mutmut_orig"][:]
        mut = funcs[name][:]
        orig[0] = orig[0].replace(f"{base}__mutmut_orig", base)
        mut[0] = mut[0].replace(name, base)
        ops = [op for op in difflib.SequenceMatcher(a=orig, b=mut, autojunk=False).get_opcodes()
               if op[0] != "equal"]
        if not ops:
            out[key] = (defs.get(base, 0), "(no textual change)")
            continue
        _, i1, i2, j1, j2 = ops[0]
        a = " ".join(s.strip() for s in orig[i1:i2])
        b = " ".join(s.strip() for s in mut[j1:j2])
        out[key] = (defs.get(base, 0) + i1, f"{a} ==> {b}")
    return out


def load_equivalents(path: Path) -> list[dict]:
    """The entries of the equivalents file: tab-separated module, line, mutation, reason (a
    header line, and ``#`` comments)."""
    if not path.exists():
        return []
    rows = []
    for text in path.read_text().splitlines():
        if not text.strip() or text.startswith("#") or text.startswith("module\t"):
            continue
        module, line, mutation, reason = text.split("\t", 3)
        rows.append({"module": module, "line": int(line), "mutation": mutation,
                     "reason": reason})
    return rows


def match_equivalents(module: str, described: dict[str, tuple], rows: list[dict]
                      ) -> tuple[dict[str, dict], list[dict]]:
    """Mutant key -> its equivalents entry (same module and mutation, the same line or, when
    the code moved, the only mutant with that mutation); the entries that match none."""
    matched, stale = {}, []
    for r in (r for r in rows if r["module"] == module):
        same = [k for k, (line, text) in described.items() if text == r["mutation"]]
        exact = [k for k in same if described[k][0] == r["line"]]
        hits = exact or (same if len(same) == 1 else [])
        if not hits:
            stale.append(r)
        for k in hits:
            matched[k] = r
    return matched, stale


def report(work: Path, modules: list[str], equivalents: list[dict]) -> dict:
    """Counts and survivors per module from mutmut's results in ``work`` (line numbers from
    the unmutated copy there)."""
    summary = {}
    for m in modules:
        rel = MODULES[m][0]
        meta = json.loads((work / "mutants" / (rel + ".meta")).read_text())["exit_code_by_key"]
        described = describe(work / rel, work / "mutants" / rel, list(meta))
        eq, stale = match_equivalents(m, described, equivalents)
        counts = {"mutants": len(meta), "equivalent": 0, "killed": 0, "timeout": 0,
                  "survived": 0, "no tests": 0, "other": 0}
        survivors, killed_eq, other = [], [], []
        for key, code in meta.items():
            status = CAUGHT.get(code) or NOT_RUN.get(code) or (
                "survived" if code == 0 else "other")
            if key in eq and status in ("killed", "timeout"):
                killed_eq.append((key, *described[key]))
            elif key in eq:
                counts["equivalent"] += 1
                continue
            counts[status] += 1
            if status in ("survived", "no tests"):
                survivors.append((key, *described[key], status))
            elif status == "other":
                other.append((key, *described[key], code))
        counted = counts["mutants"] - counts["equivalent"]
        caught = counts["killed"] + counts["timeout"]
        counts["score"] = round(100.0 * caught / counted, 1) if counted else 100.0
        summary[m] = {"counts": counts, "survivors": survivors, "killed_equivalents": killed_eq,
                      "stale_equivalents": stale, "other": other}
    return summary


def print_summary(summary: dict) -> None:
    cols = ["mutants", "equivalent", "killed", "timeout", "survived", "no tests", "other"]
    print(f"\n{'module':<12}" + "".join(f"{c:>11}" for c in cols) + f"{'score':>9}")
    for m, s in summary.items():
        c = s["counts"]
        print(f"{m:<12}" + "".join(f"{c[k]:>11}" for k in cols) + f"{c['score']:>8.1f}%")
    print("score: (killed + timeout) / (mutants - equivalent)")
    for m, s in summary.items():
        if s["survivors"]:
            print(f"\n{m}: surviving non-equivalent mutants (module, line, mutation):")
            for key, line, text, status in sorted(s["survivors"], key=lambda t: t[1]):
                print(f"{m}\t{line}\t{text}\t[{status}: {key.rsplit('.', 1)[1]}]")
        for key, line, text, code in s["other"]:
            print(f"{m}: line {line}: {text}: mutmut exit code {code} ({key})")
        for _key, line, text in s["killed_equivalents"]:
            print(f"{m}: listed as equivalent but killed (remove it from the list): "
                  f"line {line}: {text}")
        for r in s["stale_equivalents"]:
            print(f"{m}: equivalents entry matches no mutant (out of date): line {r['line']}: "
                  f"{r['mutation']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", default=os.environ.get("LEG_MUTATION_VENV"),
                    help="venv with mutmut and the test dependencies (or LEG_MUTATION_VENV)")
    ap.add_argument("--module", action="append", choices=list(MODULES),
                    help="module to mutate (repeatable; default: all)")
    ap.add_argument("--source", type=Path, default=REPO,
                    help="checkout whose modules and tests are used (default: this one)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--equivalents", type=Path, default=EQUIVALENTS)
    ap.add_argument("--fail-under", type=float, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    ap.add_argument("--report-only", type=Path, default=None, metavar="DIR",
                    help="only score the results kept in this work folder")
    args = ap.parse_args(argv)
    modules = args.module or list(MODULES)
    if args.report_only:
        modules = [m for m in modules
                   if (args.report_only / "mutants" / (MODULES[m][0] + ".meta")).exists()]
        return finish(args, report(args.report_only, modules,
                                   load_equivalents(args.equivalents)))
    if not args.venv:
        ap.error("give the mutation venv: --venv DIR or LEG_MUTATION_VENV=DIR")
    mutmut = Path(args.venv) / "bin" / "mutmut"
    if not mutmut.exists():
        ap.error(f"{mutmut} not found: install mutmut into that venv (see the docstring)")
    source = args.source.resolve()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="leg-mutation-"))
    if args.workdir and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        tests = prepare(source, work, modules)
        print(f"mutating {', '.join(MODULES[m][0] for m in modules)} against {' '.join(tests)}"
              f" in {work}", flush=True)
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
                   PATH=f"{Path(args.venv) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        env.pop("PYTHONPATH", None)
        with (work / "mutmut.log").open("w") as log:
            rc = subprocess.run([str(mutmut), "run", "--max-children", str(args.jobs)],
                                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
        if rc != 0 or not all((work / "mutants" / (MODULES[m][0] + ".meta")).exists()
                              for m in modules):
            tail = (work / "mutmut.log").read_text(errors="replace")[-3000:]
            print(f"mutmut run failed (exit {rc}); the end of its log:\n{tail}")
            return 2
        summary = report(work, modules, load_equivalents(args.equivalents))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            print(f"work folder kept: {work}")
    return finish(args, summary)


def finish(args, summary: dict) -> int:
    print_summary(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1, default=str))
    if args.fail_under is not None and any(
            s["counts"]["score"] < args.fail_under for s in summary.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
