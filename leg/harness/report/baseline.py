"""Compare this run's numbers with a stored earlier run (``--leg-baseline PATH``).

A baseline is a run folder written by :class:`leg.harness.report.Report` (or its
``run.json``, or ``reports/latest``). Only a *compatible* baseline is compared: same
profile, same parameters hash (:meth:`leg.harness.profiles.Profile.parameters_hash`, which
covers models, images count, methods, budgets, stages, seeds and thresholds), same model
specs and the same images and masks (their files' hashes, ``images_hash``,
``masks_hash``). Anything else is refused
with :class:`IncompatibleBaseline` naming the difference; it is never silently compared.
Other model weights (another fingerprint) make the baseline another *version* of the model:
:func:`check_compatible` returns which models changed, and their rows are compared with
the statistics of :mod:`leg.harness.report.versions` instead of row by row.

Between runs of the same weights a row *regresses* when its metric moved in the bad
direction by more than the tolerance (absolute; a fail expression of
:mod:`leg.harness.report.versions` may set it per check): up for a metric with
``higher_is_better=False`` (the sanity similarities), down otherwise. Rows are matched on
the columns each suite names for its metric table
(:attr:`leg.harness.engine.suite.Suite.key`, :func:`metric_tables`; ``KEY`` by default).
A NaN value (a key size no alpha reached) counts as the worst value: NaN now and finite
before regresses, the reverse improves. Two whole runs, verdicts included, are compared by
:mod:`leg.harness.report.compare`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["KEY", "Baseline",
           "IncompatibleBaseline", "check_compatible", "compare", "compare_rows",
           "load_baseline", "metric_tables", "regression_lines", "regressions"]

KEY = ("check", "model", "image", "method", "stage", "metric")


def metric_tables() -> dict[str, tuple[str, ...]]:
    """Every suite's metric table (compared with a stored run) and the columns that identify
    its rows."""
    from leg.harness.engine.suite import suites

    return {s.table: s.key for s in suites() if s.table}


class IncompatibleBaseline(ValueError):
    """The stored run was made with another model, profile or parameters."""


@dataclass
class Baseline:
    """A stored run: its folder, ``run.json``, tables (``name -> rows``) and, for a run not
    yet written, its other files in memory (``name -> bytes``)."""

    path: Path
    run: dict
    tables: dict[str, list[dict]]
    files: dict[str, bytes] = field(default_factory=dict)

    def maps(self, suite: str) -> dict | None:
        """The maps the suite kept with the run (``maps-<suite>.npz``,
        :func:`leg.harness.report.versions.load_maps`), ``None`` when it kept none."""
        from leg.harness.report.versions import load_maps

        name = f"maps-{suite}.npz"
        if name in self.files:
            return load_maps(self.files[name])
        f = self.path / name
        if not f.is_file():
            return None
        try:
            return load_maps(f)
        except (OSError, ValueError, KeyError):
            return None

    @property
    def fingerprints(self) -> dict[str, str]:
        """``spec -> weights fingerprint`` of the models the run loaded."""
        return dict((self.run.get("identity") or {}).get("fingerprints") or {})


def load_baseline(path: str | Path) -> Baseline:
    """Read a stored run: its ``run.json`` and every ``*.csv`` beside it."""
    p = Path(path)
    if p.is_file() and p.name == "latest":  # text-file fallback of reports/latest
        p = Path(p.read_text().strip())
    if p.is_file():
        p = p.parent
    run_json = p / "run.json"
    if not run_json.is_file():
        raise IncompatibleBaseline(f"The baseline {str(path)!r} holds no run.json; pass a run "
                                   "folder written by the harness (e.g. reports/<run-id>).")
    run = json.loads(run_json.read_text())
    tables = {}
    for f in sorted(p.glob("*.csv")):
        with open(f, newline="") as fh:
            tables[f.stem] = list(csv.DictReader(fh))
    return Baseline(p, run, tables)


def check_compatible(baseline: Baseline, identity: dict) -> dict[str, tuple[str, str]]:
    """Raise :class:`IncompatibleBaseline` unless ``baseline.run["identity"]`` has the same
    profile, parameters, model specs and images; return the models whose weights differ
    (``spec -> (baseline fingerprint, this run's)``; empty: the same weights).

    ``identity`` keys: ``profile``, ``parameters_hash``, ``models`` (specs), optionally
    ``images_hash`` (compared when the baseline records one: runs stored before it are not
    refused for it), ``masks_hash`` (compared when both runs have masks; with masks in one
    run only, the localisation table is in one run only and not compared) and
    ``fingerprints`` (spec -> hash; compared for the specs both runs know).
    """
    stored = baseline.run.get("identity") or {}
    problems = []
    for key, label in (("profile", "profile"), ("parameters_hash", "parameters"),
                       ("models", "models")):
        if key in identity and stored.get(key) != identity[key]:
            problems.append(f"{label}: baseline {stored.get(key)!r}, this run {identity[key]!r}")
    if "images_hash" in stored and stored.get("images_hash") != identity.get("images_hash"):
        problems.append(f"images: baseline {_images(stored)}, this run {_images(identity)}")
    if stored.get("masks_hash") and identity.get("masks_hash") \
            and stored["masks_hash"] != identity["masks_hash"]:
        problems.append(f"masks (--leg-masks): baseline files hash {stored['masks_hash']}, "
                        f"this run {identity['masks_hash']}")
    if problems:
        raise IncompatibleBaseline(
            f"The baseline {str(baseline.path)!r} is not comparable with this run ("
            + "; ".join(problems) + "). Rerun the baseline with the same options, or drop "
            "--leg-baseline.")
    fp_now, fp_then = identity.get("fingerprints") or {}, stored.get("fingerprints") or {}
    return {spec: (fp_then[spec], fp_now[spec]) for spec in sorted(set(fp_now) & set(fp_then))
            if fp_now[spec] != fp_then[spec]}


def _images(identity: dict) -> str:
    h = identity.get("images_hash")
    if h is None:
        return "the model's own images (no --leg-images)"
    return f"{identity.get('images') or 'a folder'} (files hash {h})"


def _direction(row: dict) -> bool:
    v = row.get("higher_is_better")
    return v is True or str(v).lower() == "true"


def _float(v) -> float:
    return float("nan") if v is None or v == "" else float(v)


def compare(current: list[dict], stored: list[dict], *, tolerance: float,
            key: tuple[str, ...] = KEY, fail=None) -> list[dict]:
    """Side-by-side rows: ``key`` columns, ``baseline``, ``current``, ``delta``, ``status``.

    ``status``: ``"regressed"`` (moved the bad way by more than the row's tolerance),
    ``"improved"`` (the good way by more), ``"same"``, ``"new"`` or ``"missing"``. The
    tolerance is ``tolerance`` unless ``fail`` (a
    :class:`leg.harness.report.versions.CompareFail`) gives the row's check or metric one.
    """
    cols = key
    old = {tuple(str(r[c]) for c in cols): r for r in stored if r.get("check") != "reference"}
    out, seen = [], set()
    for r in current:
        if r.get("check") == "reference":
            continue
        k = tuple(str(r[c]) for c in cols)
        seen.add(k)
        row = dict(zip(cols, k, strict=True))
        cur = _float(r["value"])
        if k not in old:
            out.append({**row, "baseline": None, "current": cur, "delta": None,
                        "status": "new"})
            continue
        base = _float(old[k]["value"])
        delta = cur - base
        tol = tolerance
        if fail is not None:
            limit = fail.limit(r.get("check"), r.get("metric"))
            tol = tol if limit is None else limit.absolute(base if np.isfinite(base) else 0.0)
        if np.isnan(cur) or np.isnan(base):
            status = ("same" if np.isnan(cur) and np.isnan(base)
                      else "regressed" if np.isnan(cur) else "improved")
        else:
            bad = -delta if _direction(r) else delta
            status = ("regressed" if bad > tol else "improved" if -bad > tol else "same")
        out.append({**row, "baseline": base, "current": cur, "delta": delta,
                    "status": status, "tolerance": tol})
    for k, r in old.items():
        if k not in seen:
            out.append({**dict(zip(cols, k, strict=True)), "baseline": _float(r["value"]),
                        "current": None, "delta": None, "status": "missing"})
    return out


def compare_rows(current: list[dict], stored: list[dict], *, key: tuple[str, ...],
                 tolerance: float, changed: dict | None = None, fail=None,
                 seed: int = 0) -> list[dict]:
    """A metric table against the stored run's: the rows of the models whose weights
    ``changed`` (``spec -> (before, after)`` fingerprints, :func:`check_compatible`) per
    unit with paired statistics over images
    (:func:`leg.harness.report.versions.compare_versions`, ``mode`` ``"versions"``), every
    other row one by one (:func:`compare`, ``mode`` ``"exact"``). A table without ``model``
    and ``image`` columns is compared row by row."""
    changed = changed or {}
    if not changed or "model" not in key or "image" not in key:
        return [{**r, "mode": "exact"} for r in compare(current, stored, tolerance=tolerance,
                                                         key=key, fail=fail)]
    from leg.harness.report.versions import compare_versions

    def split(rows):
        return ([r for r in rows if str(r.get("model")) in changed],
                [r for r in rows if str(r.get("model")) not in changed])

    (cur_v, cur_e), (old_v, old_e) = split(current), split(stored)
    out = [{**r, "mode": "exact"} for r in compare(cur_e, old_e, tolerance=tolerance, key=key,
                                                   fail=fail)] if cur_e or old_e else []
    return out + [{**r, "mode": "versions"} for r in compare_versions(
        cur_v, old_v, key=key, tolerance=tolerance, fail=fail, seed=seed)]


def regressions(comparison: list[dict], **match) -> list[dict]:
    """The ``"regressed"`` rows of ``comparison`` whose columns equal ``match``."""
    return [r for r in comparison if r["status"] == "regressed"
            and all(str(r.get(k)) == str(v) for k, v in match.items())]


def _what(row: dict) -> str:
    skip = {"metric", "baseline", "current", "delta", "status", "tolerance", "mode"}
    cols = [c for c in ("check", "model", "image", "method", "stage", "variant", "budget")
            if c in row and c not in skip and row.get(c) not in (None, "")]
    return "/".join(str(row[c]) for c in cols)


def regression_lines(rows: list[dict]) -> list[str]:
    """One line per regressed row of :func:`compare_rows` (exact: the two values and the
    tolerance; across versions: the medians, the worsening with its CI, the limit and the
    Holm-adjusted p-value)."""
    out = []
    for r in rows:
        if r.get("status") != "regressed":
            continue
        what = f"{_what(r)} {r.get('metric', '')}".strip()
        if r.get("mode") == "versions":
            out.append(f"{what}: median {_g(r['baseline'])} -> {_g(r['current'])} over "
                       f"{r['n_images']} images, worse by {_g(r['worsening'])} (95% CI of the "
                       f"difference {_g(r['ci_low'])}..{_g(r['ci_high'])}; limit "
                       f"{r.get('limit_text') or _g(r['limit'])}), p = {r['p_holm']:.2g} "
                       "(Wilcoxon, Holm)")
        else:
            out.append(f"{what}: {_g(r['baseline'])} -> {_g(r['current'])} (tolerance "
                       f"{_g(r['tolerance'])})")
    return out


def _g(v) -> str:
    try:
        return f"{float(v):.3g}"
    except (TypeError, ValueError):
        return str(v)


def add_comparison_section(report, table: str, title: str, comparison: list[dict],
                           order: int) -> None:
    """The side-by-side comparison with the baseline as ``table`` and a report section."""
    report.add_table(table, comparison)
    bad = [r for r in comparison if r["status"] == "regressed"]
    units = [r for r in comparison if r.get("mode") == "versions"]
    text = f"{len(bad)} regressed rows of {len(comparison)}."
    if units:
        text = (f"Across versions: {len(units)} units (check, model, method, stage, metric) "
                "compared over the images both runs share (paired Wilcoxon, Holm across the "
                "units); a unit regresses when significantly worse by more than its limit. "
                + text)
    report.add_section(title, text, order=order, tables=[(table, 200)])
