"""Run against run: the verdicts that flipped and the metrics that moved beyond their
tolerance between two harness runs.

``leg report compare RUN_A RUN_B`` writes ``comparison.html`` and ``comparison.md`` (and
the full lists as ``comparison_verdicts.csv`` and ``comparison_metrics.csv``); in
regression mode (``--leg-baseline``) the conftest writes the same files into the new run's
folder. Metrics are compared row by row with :func:`leg.harness.report.baseline.compare` on
every suite's metric table (:func:`leg.harness.report.baseline.metric_tables`; a move in
the bad direction beyond the tolerance regresses); verdicts (``verdicts.csv``) by
:func:`leg.harness.checks.verdicts.flip_status`. Something regressed when a verdict got worse or a
metric regressed: the command then exits with status 1.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

from leg._files import write_text
from leg.harness.checks.verdicts import SEVERITY, flip_status
from leg.harness.report import (
    csv_text,
    html_table,
    markdown_table,
    page,
)
from leg.harness.report.baseline import (
    Baseline,
    IncompatibleBaseline,
    check_compatible,
    compare,
    load_baseline,
    metric_tables,
)

__all__ = ["NotARun", "RunComparison", "compare_runs", "load_run", "write_comparison"]

#: Rows shown per table on the page (the CSVs hold them all).
SHOWN = 300
FLIP_COLUMNS = ["model", "method", "check", "before", "after", "before_value", "after_value",
                "status"]


class NotARun(ValueError):
    """The path is not a run folder written by the harness."""


def load_run(path: str | Path, label: str = "run") -> Baseline:
    """A run folder (or its ``run.json``, or ``reports/latest``) with its tables."""
    p = Path(path)
    hint = ("Pass a folder written by `leg evaluate` (or `pytest evaluation`): "
            "reports/<run-id>, or "
            "reports/latest for the newest.")
    if not p.exists():
        raise NotARun(f"{label} {str(path)!r} does not exist. {hint}")
    try:
        return load_baseline(p)
    except IncompatibleBaseline:
        folder = p if p.is_dir() else p.parent
        found = sorted(x.name for x in folder.iterdir())[:8] if folder.is_dir() else []
        raise NotARun(f"{label} {str(path)!r} is not a harness run: it holds no run.json"
                      + (f" (found: {', '.join(found)})" if found else "")
                      + f". {hint}") from None


@dataclass
class RunComparison:
    """What changed from ``before`` to ``after``: verdict flips and metric moves."""

    before: Baseline
    after: Baseline
    tolerance: float
    flips: list[dict] = field(default_factory=list)
    moved: list[dict] = field(default_factory=list)
    compared: dict = field(default_factory=dict)  # what was compared -> number of rows
    notes: list[str] = field(default_factory=list)  # what could not be compared

    @property
    def regressions(self) -> list[dict]:
        return [r for r in self.flips + self.moved if r["status"] == "regressed"]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def summary(self) -> str:
        """One sentence: how many verdicts and metrics got worse or better."""
        n = {(k, s): 0 for k in ("flips", "moved") for s in ("regressed", "improved")}
        for kind in ("flips", "moved"):
            for r in getattr(self, kind):
                n[(kind, r["status"])] += 1
        return (f"{'Regressed' if self.regressed else 'No regression'}: verdicts "
                f"{n[('flips', 'regressed')]} worse, {n[('flips', 'improved')]} better; "
                f"metrics beyond the tolerance {self.tolerance:g}: "
                f"{n[('moved', 'regressed')]} regressed, {n[('moved', 'improved')]} improved")


def _num(v) -> float | None:
    return None if v is None or v == "" else float(v)


def _how_far(before, after) -> float:
    """``|after - before|``; a value that appeared, vanished or turned NaN is infinitely far."""
    x, y = _num(before), _num(after)
    if x is None or y is None:
        return math.inf
    if math.isnan(x) or math.isnan(y):
        return 0.0 if math.isnan(x) and math.isnan(y) else math.inf
    return abs(y - x)


def _flips(before: list[dict], after: list[dict]) -> list[dict]:
    """Verdicts that changed, on the checks both runs made (a run of a subset of the suites,
    ``-m sanity``, is not a run where the other checks stopped)."""
    both = {r["check"] for r in before} & {r["check"] for r in after}
    old = {(r["model"], r["method"], r["check"]): r for r in before if r["check"] in both}
    new = {(r["model"], r["method"], r["check"]): r for r in after if r["check"] in both}
    out = []
    for key in list(old) + [k for k in new if k not in old]:
        a, b = old.get(key), new.get(key)
        va, vb = (a or {}).get("verdict", "not-run"), (b or {}).get("verdict", "not-run")
        status = flip_status(va, vb)
        if status != "same":
            out.append({"model": key[0], "method": key[1], "check": key[2], "before": va,
                        "after": vb, "before_value": _num((a or {}).get("value")),
                        "after_value": _num((b or {}).get("value")), "status": status})

    def severity(v: str) -> int:
        return SEVERITY.get(v, max(SEVERITY.values()) + 1)  # not-run counts as worst

    out.sort(key=lambda r: (r["status"] != "regressed",
                            -abs(severity(r["after"]) - severity(r["before"])),
                            -_how_far(r["before_value"], r["after_value"])))
    return out


def compare_runs(before: Baseline, after: Baseline, *,
                 tolerance: float | None = None) -> RunComparison:
    """Compare two runs of the same profile and parameters (refused otherwise, with
    :class:`leg.harness.report.baseline.IncompatibleBaseline`). ``tolerance``: absolute move of
    a metric in its bad direction that counts as a regression (default: the later run's
    profile's ``regression_tolerance``)."""
    check_compatible(before, after.run.get("identity") or {})
    if tolerance is None:
        conf = after.run.get("configuration") or {}
        tolerance = float(conf.get("regression_tolerance", 0.1))
    res = RunComparison(before, after, tolerance)
    if "verdicts" in before.tables and "verdicts" in after.tables:
        res.flips = _flips(before.tables["verdicts"], after.tables["verdicts"])
        res.compared["verdicts"] = len(after.tables["verdicts"])
        checks = [{r["check"] for r in run.tables["verdicts"]} for run in (before, after)]
        if checks[0] ^ checks[1]:
            res.notes.append("Checks made in one run only, not compared: "
                             + ", ".join(sorted(checks[0] ^ checks[1])) + ".")
    else:
        which = "the earlier run" if "verdicts" not in before.tables else "the later run"
        res.notes.append(f"Verdicts not compared: {which} has no verdicts.csv (written by "
                         "the harness since the verdict matrix was added).")
    for table, key in metric_tables().items():
        if table not in before.tables and table not in after.tables:
            continue
        if table not in before.tables or table not in after.tables:
            res.notes.append(f"{table}.csv is in one run only: not compared.")
            continue
        rows = compare(after.tables[table], before.tables[table], tolerance=tolerance,
                       key=key)
        res.compared[table] = len(rows)
        for r in rows:
            if r["status"] in ("regressed", "improved"):
                what = " / ".join(str(r[c]) for c in key if r.get(c) not in (None, ""))
                res.moved.append({"table": table, "what": what, "before": r["baseline"],
                                  "after": r["current"], "delta": r["delta"],
                                  "status": r["status"]})
    res.moved.sort(key=lambda r: (r["status"] != "regressed", -_how_far(r["before"],
                                                                          r["after"])))
    return res


def _run_label(run: Baseline) -> str:
    info = run.run
    return (f"{info.get('run_id', run.path.name)} (profile {info.get('profile', '?')}, "
            f"started {str(info.get('started', '?'))[:16]}, {run.path})")


def _verdict_text(rows: list[dict]) -> list[dict]:
    return [{**r, "before": f"{r['before']} ({_fmt(r['before_value'])})",
             "after": f"{r['after']} ({_fmt(r['after_value'])})"} for r in rows]


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


_FLIP_SHOWN = ["model", "method", "check", "before", "after", "status"]
_MOVED_SHOWN = ["table", "what", "before", "after", "delta", "status"]


def comparison_markdown(c: RunComparison) -> str:
    """The comparison as Markdown (pastable into a pull-request comment)."""
    out = [f"# What changed: {c.after.run.get('run_id', c.after.path.name)}", "",
           f"Earlier run: {_run_label(c.before)}  ", f"Later run: {_run_label(c.after)}", "",
           f"**{c.summary()}.**", ""]
    out += [f"_{n}_" for n in c.notes] + ([""] if c.notes else [])
    out += ["## Verdicts that flipped", "",
            markdown_table(_verdict_text(c.flips), _FLIP_SHOWN, limit=SHOWN)
            if c.flips else "None.", ""]
    out += ["## Metrics that moved beyond the tolerance", "",
            markdown_table(c.moved, _MOVED_SHOWN, limit=SHOWN) if c.moved else "None.", ""]
    compared = ", ".join(f"{k} {v}" for k, v in c.compared.items())
    out.append(f"Rows compared: {compared or 'none'}.")
    return "\n".join(out) + "\n"


def comparison_html(c: RunComparison) -> str:
    """The comparison as a page in the report's style."""
    compared = ", ".join(f"{k} {v}" for k, v in c.compared.items())
    parts = [f"<h1>What changed: {html.escape(str(c.after.run.get('run_id', '')))}</h1>",
             f'<p class="runline">Earlier run: {html.escape(_run_label(c.before))}<br>'
             f"Later run: {html.escape(_run_label(c.after))}</p>",
             f'<p class="notice" id="verdict"><strong>{html.escape(c.summary())}.</strong>'
             "</p>"]
    parts += [f"<p><em>{html.escape(n)}</em></p>" for n in c.notes]
    parts += ['<h2>Verdicts that flipped</h2><div id="flips">',
              html_table(_verdict_text(c.flips), _FLIP_SHOWN, limit=SHOWN) if c.flips
              else "<p>None.</p>", "</div>",
              '<h2>Metrics that moved beyond the tolerance</h2><div id="moved">',
              html_table(c.moved, _MOVED_SHOWN, limit=SHOWN) if c.moved else "<p>None.</p>",
              "</div>", f"<p>Rows compared: {html.escape(compared or 'none')}. Sorted by how "
              "far they moved, regressions first; all rows in comparison_verdicts.csv and "
              "comparison_metrics.csv.</p>"]
    body = "".join(parts).replace("<td>regressed</td>", '<td class="v-fail">regressed</td>'
                                  ).replace("<td>improved</td>", '<td class="v-pass">improved</td>')
    return page(f"comparison {c.after.run.get('run_id', '')}", body)


def write_comparison(c: RunComparison, out_dir: str | Path) -> Path:
    """Write ``comparison.html``, ``comparison.md`` and the two CSVs into ``out_dir``;
    return the HTML page's path."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_text(d / "comparison_verdicts.csv", csv_text(c.flips, FLIP_COLUMNS))
    write_text(d / "comparison_metrics.csv", csv_text(c.moved, _MOVED_SHOWN))
    write_text(d / "comparison.md", comparison_markdown(c))
    return write_text(d / "comparison.html", comparison_html(c))
