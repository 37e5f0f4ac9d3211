"""Run against run: the verdicts that flipped and the metrics that moved beyond their
tolerance between two harness runs -- of the same model weights, or of two versions of the
model (:mod:`leg.harness.report.versions`: per check with paired statistics over the
images, the maps' drift, the machine and framework differences).

``leg report compare RUN_A RUN_B`` writes ``comparison.html`` and ``comparison.md`` (and
the full lists as ``comparison_verdicts.csv`` and ``comparison_metrics.csv``); in
regression mode (``--leg-baseline``) the conftest writes the same files into the new run's
folder. Metrics are compared row by row with :func:`leg.harness.report.baseline.compare` on
every suite's metric table (:func:`leg.harness.report.baseline.metric_tables`; a move in
the bad direction beyond the tolerance regresses); verdicts (``verdicts.csv``) by
:func:`leg.harness.checks.verdicts.flip_status`. Something regressed when a verdict got worse or a
metric regressed (or, under ``drift:LIMIT``, a method's maps drifted beyond the limit):
the command then exits with status 1.
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
    compare_rows,
    load_baseline,
    metric_tables,
)

__all__ = ["NotARun", "RunComparison", "add_versions_section", "compare_runs", "load_run",
           "write_comparison"]

#: Rows shown per table on the page (the CSVs hold them all).
SHOWN = 300
FLIP_COLUMNS = ["model", "method", "check", "before", "after", "before_value", "after_value",
                "status", "asserted"]


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
    #: Models whose weights differ: ``spec -> (earlier fingerprint, later)`` (empty: the
    #: same weights, compared row by row).
    changed: dict = field(default_factory=dict)
    #: Per model and method, how far the maps drifted (:func:`versions.drift`), and per image.
    drift: list[dict] = field(default_factory=list)
    drift_images: list[dict] = field(default_factory=list)
    #: What differs between the two runs' machines, leg and frameworks (one line each).
    environment: list[str] = field(default_factory=list)
    fail: object = None  # the versions.CompareFail applied

    @property
    def across_versions(self) -> bool:
        return bool(self.changed)

    @property
    def regressions(self) -> list[dict]:
        """What fails the comparison: verdicts that got worse (across versions only those
        of asserted checks that passed before: a reported method's verdict may move with
        the retraining), metrics or units beyond their limit, drift beyond ``drift:LIMIT``."""
        flips = [r for r in self.flips if not self.across_versions or _asserted_pass(r)]
        return [r for r in flips + self.moved + self.drift if r["status"] == "regressed"]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def summary(self) -> str:
        """One sentence: how many verdicts and metrics got worse or better (across
        versions: which checks regressed, and the drift)."""
        n = {(k, s): 0 for k in ("flips", "moved") for s in ("regressed", "improved", "worse")}
        for kind in ("flips", "moved"):
            for r in getattr(self, kind):
                n[(kind, r["status"])] = n.get((kind, r["status"]), 0) + 1
        if not self.across_versions:
            return (f"{'Regressed' if self.regressed else 'No regression'}: verdicts "
                    f"{n[('flips', 'regressed')]} worse, {n[('flips', 'improved')]} better; "
                    f"metrics beyond the tolerance {self.tolerance:g}: "
                    f"{n[('moved', 'regressed')]} regressed, {n[('moved', 'improved')]} "
                    "improved")
        bad = [r for r in self.moved if r["status"] == "regressed"]
        checks = list(dict.fromkeys(f"{r['table']} {r['check']} ({r['method']})"
                                    if r.get("check") else f"{r['table']} {r['what']}"
                                    for r in bad))
        flips = [r for r in self.flips if r["status"] == "regressed"]
        asserted = [f"{r['check']} ({r['method']})" for r in flips if _asserted_pass(r)]
        drifted = [f"{r['method']}" for r in self.drift if r["verdict"] == "drifted"]
        text = (f"{'Regressed' if self.regressed else 'No regression'} across versions "
                f"({self.versions_text()})")
        if checks:
            text += f": got worse beyond their limit: {', '.join(checks[:8])}" + (
                f" and {len(checks) - 8} more" if len(checks) > 8 else "")
        if asserted:
            text += f"; asserted checks that no longer pass: {', '.join(asserted[:8])}"
        text += (f"; verdicts {len(flips)} worse, {n[('flips', 'improved')]} better; units "
                 f"{n[('moved', 'regressed')]} regressed, {n[('moved', 'worse')]} worse "
                 f"within their limit, {n[('moved', 'improved')]} improved")
        if self.drift:
            fatal = [r["method"] for r in self.drift if r["status"] == "regressed"]
            text += (f"; maps drifted beyond seed noise: {', '.join(drifted) or 'none'}"
                     + (f" (beyond the drift limit: {', '.join(fatal)})" if fatal else ""))
        return text

    def versions_text(self) -> str:
        """``spec weights A -> B`` for each model that changed."""
        return "; ".join(f"{spec} weights {a} -> {b}" for spec, (a, b) in self.changed.items())


def _asserted_pass(flip: dict) -> bool:
    """A verdict flip of an asserted check that passed in the earlier run."""
    return flip.get("before") == "pass" and str(flip.get("asserted")).lower() == "true"


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
                        "after_value": _num((b or {}).get("value")), "status": status,
                        "asserted": str((b or a or {}).get("asserted", "")).lower() == "true"})

    def severity(v: str) -> int:
        return SEVERITY.get(v, max(SEVERITY.values()) + 1)  # not-run counts as worst

    out.sort(key=lambda r: (r["status"] != "regressed",
                            -abs(severity(r["after"]) - severity(r["before"])),
                            -_how_far(r["before_value"], r["after_value"])))
    return out


def compare_runs(before: Baseline, after: Baseline, *, tolerance: float | None = None,
                 fail=None) -> RunComparison:
    """Compare two runs of the same profile, parameters, models and images (refused
    otherwise, with :class:`leg.harness.report.baseline.IncompatibleBaseline`); of another
    version of a model (other weights) per check with paired statistics
    (:mod:`leg.harness.report.versions`). ``tolerance``: absolute move of a metric in its bad
    direction that counts as a regression (default: the later run's profile's
    ``regression_tolerance``); ``fail``: a
    :class:`leg.harness.report.versions.CompareFail` (per check limits, drift)."""
    from leg.harness.report.environment import differences
    from leg.harness.report.versions import CompareFail

    changed = check_compatible(before, after.run.get("identity") or {})
    conf = after.run.get("configuration") or {}
    if tolerance is None:
        tolerance = float(conf.get("regression_tolerance", 0.1))
    seed = int(conf.get("seed", 0) or 0)
    fail = fail or CompareFail()
    res = RunComparison(before, after, tolerance, changed=changed, fail=fail)
    res.environment = differences(before.run.get("environment"),
                                  after.run.get("environment"))
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
        rows = compare_rows(after.tables[table], before.tables[table], key=key,
                            tolerance=tolerance, changed=changed, fail=fail, seed=seed)
        res.compared[table] = len(rows)
        for r in rows:
            if r["status"] in ("regressed", "improved", "worse"):
                what = " / ".join(str(r[c]) for c in key if r.get(c) not in (None, ""))
                moved = {"table": table, "what": what, "before": r["baseline"],
                         "after": r["current"], "delta": r["delta"], "status": r["status"]}
                if r.get("mode") == "versions":
                    moved.update({c: r.get(c) for c in ("check", "model", "method",
                                                        "n_images", "ci_low", "ci_high",
                                                        "limit")})
                    # the Holm-adjusted p-value of the direction it moved in
                    moved["p_holm"] = r.get("p_holm_better" if r["status"] == "improved"
                                            else "p_holm")
                res.moved.append(moved)
    res.moved.sort(key=lambda r: (r["status"] != "regressed", -_how_far(r["before"],
                                                                          r["after"])))
    if changed:
        res.drift, res.drift_images = drift_between(before, after, changed, fail, seed)
    return res


def drift_between(before: Baseline, after: Baseline, changed: dict, fail, seed: int = 0
                  ) -> tuple[list[dict], list[dict]]:
    """:func:`leg.harness.report.versions.drift` of every suite that keeps its maps, on the
    models that changed: the later run's maps against the earlier's, the seed agreement the
    mean of both runs' where both measured it."""
    from leg.harness.engine.suite import suites
    from leg.harness.report.versions import drift

    summary, images = [], []
    for s in suites():
        old, new = before.maps(s.name), after.maps(s.name)
        if not old or not new or not s.table:
            continue
        agree = [s.seed_agreement(run.tables.get(s.table, [])) for run in (before, after)]
        agreement = {k: (v + agree[0][k]) / 2 if k in agree[0] else v
                     for k, v in agree[1].items()}
        keep = {k for k in new if k[0] in changed}
        rows, per_image = drift({k: new[k] for k in keep}, old, agreement,
                                limit=fail.drift if fail is not None else None, seed=seed)
        summary += [{"suite": s.name, **r} for r in rows]
        images += [{"suite": s.name, **r} for r in per_image]
    return summary, images


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
#: Across versions: the medians over the shared images, the CI of the median difference,
#: the limit and the Holm-adjusted p-value of "worse".
_UNITS_SHOWN = ["table", "what", "n_images", "before", "after", "delta", "ci", "limit",
                "p_holm", "status"]
_UNITS_CSV = ["table", "what", "check", "model", "method", "n_images", "before", "after",
              "delta", "ci_low", "ci_high", "limit", "p_holm", "status"]
_DRIFT_SHOWN = ["suite", "model", "method", "n_images", "similarity", "agreement", "drift",
                "ci", "p_holm", "verdict", "status"]
_DRIFT_CSV = ["suite", "model", "method", "n_images", "similarity", "agreement", "drift",
              "ci_low", "ci_high", "p_value", "p_holm", "limit", "verdict", "status"]


def _with_ci(rows: list[dict]) -> list[dict]:
    return [{**r, "ci": f"[{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]"
             if r.get("ci_low") is not None else ""} for r in rows]


def _versions_lines(c: RunComparison) -> list[str]:
    """The versions compared and what differs between the runs' environments."""
    out = []
    if c.across_versions:
        out.append("Across versions of the model: " + "; ".join(
            f"`{spec}` weights fingerprint {a} (earlier) -> {b} (later)"
            for spec, (a, b) in c.changed.items()) + ". Each check is compared over the "
            "images both runs scored (paired Wilcoxon, Holm across the units of a table); "
            "a unit regresses when significantly worse by more than its limit"
            + (f" (--leg-compare-fail {c.fail.text})" if c.fail is not None and c.fail.text
               else f" (the tolerance {c.tolerance:g})") + ".")
    out += [f"Warning: {w}." for w in c.environment]
    return out


def add_versions_section(report, c: RunComparison, order: int = 6) -> None:
    """Across versions: the units that moved and the drift per method as an open section
    of the new run's own report (so its ``summary.md``, posted on a pull request, carries
    them)."""
    if not c.across_versions:
        return
    report.add_table("versions_units", _with_ci(c.moved), columns=_UNITS_SHOWN)
    report.add_table("versions_drift", _with_ci(c.drift), columns=_DRIFT_SHOWN)
    text = "\n".join([*(f"- {line}" for line in _versions_lines(c)), "",
                      "**Checks that moved** (paired over images; all in comparison.md):"
                      if c.moved else "No check moved significantly.", ""])
    report.add_section("Across versions: what changed", text, order=order, open=True,
                       tables=[("versions_units", 40)] if c.moved else [])
    report.add_section("Across versions: drift of the maps", _DRIFT_TEXT if c.drift else
                       "Not measured: no suite kept maps in both runs (the sanity suite "
                       "keeps them).", order=order, open=True,
                       tables=[("versions_drift", 40)] if c.drift else [])


def comparison_markdown(c: RunComparison) -> str:
    """The comparison as Markdown (pastable into a pull-request comment)."""
    out = [f"# What changed: {c.after.run.get('run_id', c.after.path.name)}", "",
           f"Earlier run: {_run_label(c.before)}  ", f"Later run: {_run_label(c.after)}", "",
           f"**{c.summary()}.**", ""]
    out += [f"- {line}" for line in _versions_lines(c)] + ([""] if _versions_lines(c) else [])
    out += [f"_{n}_" for n in c.notes] + ([""] if c.notes else [])
    out += ["## Verdicts that flipped", "",
            markdown_table(_verdict_text(c.flips), _FLIP_SHOWN, limit=SHOWN)
            if c.flips else "None.", ""]
    if c.across_versions:
        out += ["## Checks that moved (paired over images)", "",
                markdown_table(_with_ci(c.moved), _UNITS_SHOWN, limit=SHOWN)
                if c.moved else "None.", ""]
        out += ["## Drift of the maps", "", _DRIFT_TEXT, "",
                markdown_table(_with_ci(c.drift), _DRIFT_SHOWN, limit=SHOWN)
                if c.drift else "Not measured: no suite kept maps in both runs (the sanity "
                "suite keeps them).", ""]
    else:
        out += ["## Metrics that moved beyond the tolerance", "",
                markdown_table(c.moved, _MOVED_SHOWN, limit=SHOWN) if c.moved else "None.",
                ""]
    compared = ", ".join(f"{k} {v}" for k, v in c.compared.items())
    out.append(f"Rows compared: {compared or 'none'}.")
    return "\n".join(out) + "\n"


_DRIFT_TEXT = ("Per method, the Spearman correlation of |map| between the two versions' maps "
               "of each image (similarity) against the method's own agreement between two "
               "seeds on one version (agreement); drift = agreement - similarity (median, "
               "95% CI). Drifted: the maps moved significantly more than seed noise "
               "(Wilcoxon, Holm across methods); fatal only under --leg-compare-fail "
               "drift:LIMIT.")


def comparison_html(c: RunComparison) -> str:
    """The comparison as a page in the report's style."""
    compared = ", ".join(f"{k} {v}" for k, v in c.compared.items())
    parts = [f"<h1>What changed: {html.escape(str(c.after.run.get('run_id', '')))}</h1>",
             f'<p class="runline">Earlier run: {html.escape(_run_label(c.before))}<br>'
             f"Later run: {html.escape(_run_label(c.after))}</p>",
             f'<p class="notice" id="verdict"><strong>{html.escape(c.summary())}.</strong>'
             "</p>"]
    if _versions_lines(c):
        parts.append('<ul class="warnings">' + "".join(
            f"<li>{html.escape(line)}</li>" for line in _versions_lines(c)) + "</ul>")
    parts += [f"<p><em>{html.escape(n)}</em></p>" for n in c.notes]
    parts += ['<h2>Verdicts that flipped</h2><div id="flips">',
              html_table(_verdict_text(c.flips), _FLIP_SHOWN, limit=SHOWN) if c.flips
              else "<p>None.</p>", "</div>"]
    if c.across_versions:
        parts += ['<h2>Checks that moved (paired over images)</h2><div id="moved">',
                  html_table(_with_ci(c.moved), _UNITS_SHOWN, limit=SHOWN) if c.moved
                  else "<p>None.</p>", "</div>",
                  f'<h2>Drift of the maps</h2><div id="drift"><p>{html.escape(_DRIFT_TEXT)}'
                  "</p>", html_table(_with_ci(c.drift), _DRIFT_SHOWN, limit=SHOWN)
                  if c.drift else "<p>Not measured: no suite kept maps in both runs.</p>",
                  "</div>"]
    else:
        parts += ['<h2>Metrics that moved beyond the tolerance</h2><div id="moved">',
                  html_table(c.moved, _MOVED_SHOWN, limit=SHOWN) if c.moved
                  else "<p>None.</p>", "</div>"]
    parts.append(f"<p>Rows compared: {html.escape(compared or 'none')}. Sorted by how "
                 "far they moved, regressions first; all rows in comparison_verdicts.csv and "
                 "comparison_metrics.csv.</p>")
    body = "".join(parts)
    for status, css in (("regressed", "v-fail"), ("improved", "v-pass"),
                        ("drifted", "v-uninformative")):
        body = body.replace(f"<td>{status}</td>", f'<td class="{css}">{status}</td>')
    return page(f"comparison {c.after.run.get('run_id', '')}", body)


def write_comparison(c: RunComparison, out_dir: str | Path) -> Path:
    """Write ``comparison.html``, ``comparison.md`` and the CSVs (verdicts, metrics and,
    across versions, the drift per method and per image) into ``out_dir``; return the HTML
    page's path."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_text(d / "comparison_verdicts.csv", csv_text(c.flips, FLIP_COLUMNS))
    write_text(d / "comparison_metrics.csv",
               csv_text(c.moved, _UNITS_CSV if c.across_versions else _MOVED_SHOWN))
    if c.across_versions:
        write_text(d / "comparison_drift.csv", csv_text(c.drift, _DRIFT_CSV))
        write_text(d / "comparison_drift_images.csv", csv_text(
            c.drift_images, ["suite", "model", "image", "method", "similarity", "agreement",
                             "drift"]))
    write_text(d / "comparison.md", comparison_markdown(c))
    return write_text(d / "comparison.html", comparison_html(c))
