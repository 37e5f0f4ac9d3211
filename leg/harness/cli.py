"""The harness's commands: ``leg evaluate`` and ``leg report compare`` (entry points in the
group ``leg.commands``, run by :func:`leg.cli.main`).

``leg evaluate [pytest arguments]`` runs the installed suites (:mod:`leg.harness.evaluation`) from
whatever folder it is called in, with this folder as pytest's root and on the import path
(for ``--leg-methods NAME=module:attribute``). A project's own pytest configuration does not
apply to the suites: they run with the harness's ``pytest.ini``. Exit status: pytest's.

``leg report compare RUN_A RUN_B [--fail EXPR]``: 0 when nothing regressed, 1 when something
did, 2 on bad usage (a folder that is not a run, runs that cannot be compared, a bad fail
expression). Two runs of other weights of the same model are compared as versions
(:mod:`leg.harness.report.versions`; ``--fail`` takes ``--leg-compare-fail``'s expressions).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from leg.cli import _float_in

__all__ = ["evaluate", "pytest_arguments", "report"]

SUITES_PACKAGE = "leg.harness.evaluation"
INI = Path(__file__).with_name("pytest.ini")


class _Usage(Exception):
    """Bad usage of ``leg report`` (exit status 2)."""


def pytest_arguments(argv: list[str], cwd: str | os.PathLike | None = None) -> list[str]:
    """The pytest command line of ``leg evaluate ARGV`` run in ``cwd``."""
    cwd = Path(cwd or os.getcwd()).resolve()
    args = ["--pyargs", SUITES_PACKAGE, "-c", str(INI), f"--rootdir={cwd}",
            "-p", "no:cacheprovider"]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "leg.harness.plugin"]
    return [*args, *argv]


def evaluate(argv: list[str]) -> int:
    """``leg evaluate [pytest arguments]``: the installed suites, from this folder."""
    if argv[:1] in (["-h"], ["--help"]):
        print("usage: leg evaluate [pytest arguments]\n\n"
              "Run the evaluation harness's suites from this folder, e.g.\n"
              "  leg evaluate --leg-profile smoke -m sanity\n"
              "  leg evaluate -m sanity --leg-model my.keras --leg-images imgs/ "
              "--leg-methods leg,mine=mymod:factory\n"
              "The harness's options (--leg-*) are listed by 'leg evaluate --help-pytest'.")
        return 0
    if argv[:1] == ["--help-pytest"]:
        argv = ["--help", *argv[1:]]
    # a fresh interpreter: nothing of leg imported before pytest (its assertion rewriting
    # and plugin loading see a clean start), and `python -m` puts this folder on the path
    # so the user's modules import
    import subprocess

    return subprocess.call([sys.executable, "-m", "pytest", *pytest_arguments(argv)])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leg report",
                                     description="work with evaluation reports")
    rsub = parser.add_subparsers(dest="report_command", required=True)
    cmp = rsub.add_parser(
        "compare", help="what changed between two runs of the evaluation harness",
        description="List the verdicts that flipped and the metrics that moved beyond their "
                    "tolerance from RUN_A to RUN_B, sorted by how far they moved; write "
                    "comparison.html and comparison.md. Exit status 1 when something "
                    "regressed.")
    cmp.add_argument("run_a", metavar="RUN_A", help="the earlier run: a run folder "
                     "(reports/<run-id>), its run.json, or reports/latest")
    cmp.add_argument("run_b", metavar="RUN_B", help="the later run")
    cmp.add_argument("--out", default=None,
                     help="folder for the comparison files (default: RUN_B's folder)")
    cmp.add_argument("--tolerance", type=_float_in(0, None), default=None,
                     help="absolute move of a metric in its bad direction that regresses "
                          "(default: the profile's regression_tolerance)")
    cmp.add_argument("--fail", default=None, metavar="EXPR",
                     help="how much worse each check may get, as --leg-compare-fail: "
                          "NAME:LIMIT[,...], e.g. relevance-mass:0.05,key-size:10%%,drift:0.3")
    cmp.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def report(argv: list[str]) -> int:
    """``leg report compare RUN_A RUN_B``."""
    args = _parser().parse_args(argv)  # exits 2 with a message on bad usage
    try:
        return run_report_compare(args)
    except _Usage as exc:
        print(f"leg: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one line unless --debug
        print(f"leg: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return 1


def run_report_compare(args) -> int:
    """``leg report compare RUN_A RUN_B``: write the comparison, print its summary."""
    from leg.harness.report.baseline import IncompatibleBaseline
    from leg.harness.report.compare import NotARun, compare_runs, load_run, write_comparison
    from leg.harness.report.versions import compare_fail_option

    try:
        fail = compare_fail_option(args.fail)
        before = load_run(args.run_a, "RUN_A")
        after = load_run(args.run_b, "RUN_B")
        comparison = compare_runs(before, after, tolerance=args.tolerance, fail=fail)
    except (NotARun, IncompatibleBaseline, ValueError) as exc:
        raise _Usage(str(exc).replace("--leg-compare-fail", "--fail")) from None
    page = write_comparison(comparison, args.out or after.path)
    print(f"{comparison.summary()}.")
    for line in comparison.environment:
        print(f"  warning: {line}")
    for row in comparison.regressions[:10]:
        if "table" in row:
            print(f"  {row['table']} {row['what']}: {row['before']:.4g} -> {row['after']:.4g}")
        elif "drift" in row:
            print(f"  drift {row['model']}/{row['method']}: {row['drift']:.3g} beyond "
                  f"{row['limit_text']}")
        else:
            print(f"  verdict {row['model']}/{row['method']}/{row['check']}: "
                  f"{row['before']} -> {row['after']}")
    if len(comparison.regressions) > 10:
        print(f"  ... {len(comparison.regressions) - 10} more")
    print(f"Written: {page} and {page.with_suffix('.md')}")
    return 1 if comparison.regressed else 0
