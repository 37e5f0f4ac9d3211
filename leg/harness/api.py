"""The harness from Python: run it on your model and method, then assert on its verdicts.

In a test file of your own repository (the plugin also offers it as the ``leg_evaluate``
fixture)::

    from leg.harness.api import evaluate

    def test_my_explanations_pass_the_sanity_checks():
        run = evaluate(model="mypkg.model:classifier", images="tests/images",
                       methods={"mine": "mypkg.saliency:factory"}, suites=("sanity",),
                       profile="smoke", report_dir="reports")
        assert run.verdict("cascading", method="mine") == "pass", run.explain("cascading")

It runs ``leg evaluate`` in a fresh process (the harness's own pytest session, its cache and
report, nothing shared with the calling test), then reads the run's ``verdicts.csv``. With
``baseline=`` the run is also compared with a stored run (commit one in your repository to
catch regressions in CI), of the same model weights or of another version of the model
(``compare_fail=``: how much worse each check may get, ``--leg-compare-fail``'s syntax):
:attr:`Evaluation.regressions` lists what got worse.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Evaluation", "EvaluationError", "evaluate"]



def _markers() -> dict[str, str]:
    """Suite -> the pytest marker that selects it (the ground-truth suite runs under
    ``perturbation``)."""
    from leg.harness.engine.suite import suites

    return {s.name: s.marker for s in suites()}


class EvaluationError(RuntimeError):
    """The harness could not run (bad usage, an internal error): its message says why."""


@dataclass
class Evaluation:
    """One run of the harness: its folder, pytest's exit status and the verdict matrix
    (``verdicts.csv`` rows: model, method, check, verdict, value, threshold, ...)."""

    run_dir: Path
    exit_status: int
    verdicts: list[dict]
    output: str = field(repr=False)
    regressions: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every collected test of the run passed (pytest's exit status 0)."""
        return self.exit_status == 0

    def rows(self, check: str | None = None, *, method: str | None = None,
             model: str | None = None) -> list[dict]:
        return [r for r in self.verdicts if (check is None or r["check"] == check)
                and (method is None or r["method"] == method)
                and (model is None or r["model"] == model)]

    def verdict(self, check: str, *, method: str | None = None, model: str | None = None
                ) -> str:
        """The verdict (``"pass"``, ``"fail"``, ``"uninformative"``, ``"degenerate"``, ...)
        of one cell of the matrix; ``method``/``model`` may be left out when only one has
        that check. ``LookupError`` when no cell or several cells match."""
        found = self.rows(check, method=method, model=model)
        if len(found) == 1:
            return found[0]["verdict"]
        cells = sorted({(r["model"], r["method"], r["check"]) for r in self.verdicts})
        what = f"check={check!r}, method={method!r}, model={model!r}"
        if not found:
            raise LookupError(f"No verdict for {what} in {self.run_dir / 'verdicts.csv'}; "
                              f"the run has {len(cells)}: "
                              + ", ".join("/".join(c) for c in cells[:40]))
        raise LookupError(f"{len(found)} verdicts match {what}; name the method and model: "
                          + ", ".join(f"{r['model']}/{r['method']}" for r in found))

    def explain(self, check: str, *, method: str | None = None, model: str | None = None
                ) -> str:
        """A line per matching cell: the verdict and what decided it (for assert messages)."""
        return "; ".join(f"{r['model']}/{r['method']}/{r['check']}: {r['verdict']} "
                         f"({r.get('detail', '')})"
                         for r in self.rows(check, method=method, model=model))


def _methods_option(methods) -> str | None:
    if methods is None:
        return None
    if isinstance(methods, str):
        return methods
    if isinstance(methods, Mapping):
        return ",".join(name if target is None else f"{name}={target}"
                        for name, target in methods.items())
    return ",".join(methods)


def evaluate(*, model: str | None = None, images: str | os.PathLike | None = None,
             methods: Mapping[str, str | None] | Sequence[str] | str | None = None,
             suites: Iterable[str] = ("sanity",), profile: str = "smoke",
             report_dir: str | os.PathLike = "reports",
             baseline: str | os.PathLike | None = None, seed: int | None = None,
             args: Sequence[str] = (), cwd: str | os.PathLike | None = None,
             timeout: float | None = None, compare_fail: str | None = None) -> Evaluation:
    """Run the harness's ``suites`` (``sanity``, ``perturbation``, ``groundtruth``,
    ``estimand``) on ``model`` (any ``--leg-model`` spec) and ``images`` (a folder).

    ``methods``: built-in names, ``{"name": "package.module:attribute"}`` for your own (a
    ``None`` target: a built-in or an installed ``leg.explainers`` entry point), or the
    ``--leg-methods`` text. ``args``: further ``leg evaluate`` (pytest) arguments. ``cwd``: the
    folder it runs in (default: this one; your modules must import from there).
    ``compare_fail``: with ``baseline``, the ``--leg-compare-fail`` expressions (e.g.
    ``"relevance-mass:0.05,key-size:10%,drift:0.5"``). Raises
    :class:`EvaluationError` when the harness could not run (exit status 2 and above);
    failing checks are not an error: read them from the result.
    """
    suites = tuple(suites)
    markers = _markers()
    unknown = [s for s in suites if s not in markers]
    if unknown or not suites:
        raise ValueError(f"Unknown suites {unknown}; choose from {', '.join(markers)}.")
    cwd = Path(cwd or os.getcwd())
    report_dir = Path(report_dir)
    if not report_dir.is_absolute():
        report_dir = cwd / report_dir
    cmd = [sys.executable, "-m", "leg", "evaluate", "-q",
           "-m", " or ".join(sorted({markers[s] for s in suites})),
           "--leg-profile", profile, "--leg-report-dir", str(report_dir)]
    for option, value in (("--leg-model", model), ("--leg-images", images),
                          ("--leg-methods", _methods_option(methods)),
                          ("--leg-baseline", baseline), ("--leg-seed", seed),
                          ("--leg-compare-fail", compare_fail)):
        if value is not None:
            cmd += [option, str(value)]
    cmd += list(args)
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output = done.stdout + done.stderr
    if done.returncode >= 2:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise EvaluationError(f"leg evaluate exited with status {done.returncode}:\n{tail}")
    from leg.harness.report.baseline import IncompatibleBaseline, load_baseline

    latest = report_dir / "latest"
    try:  # the run's folder and its tables, as regression mode reads a stored run
        run = load_baseline(latest)
        run_dir, tables = Path(run.path).resolve(), run.tables
    except IncompatibleBaseline:  # no report was written
        run_dir, tables = latest.resolve(), {}
    # across versions (comparison_drift.csv is written) a verdict flip regresses only for
    # an asserted check that passed before, as leg.harness.report.compare counts it
    versions = "comparison_drift" in tables
    flips = [r for r in tables.get("comparison_verdicts", []) if not versions or (
        r.get("before") == "pass" and str(r.get("asserted")).lower() == "true")]
    regressions = [r for r in tables.get("comparison_metrics", []) + flips
                   + tables.get("comparison_drift", []) if r.get("status") == "regressed"]
    return Evaluation(run_dir, done.returncode, tables.get("verdicts", []), output,
                      regressions)
