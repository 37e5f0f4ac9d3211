"""Compare this run's numbers with a stored earlier run (``--leg-baseline PATH``).

A baseline is a run folder written by :class:`leg.harness.report.Report` (or its
``run.json``, or ``reports/latest``). Only a *compatible* baseline is compared: same
profile, same parameters hash (:meth:`leg.harness.profiles.Profile.parameters_hash`, which
covers models, images count, methods, budgets, stages, seeds and thresholds), same model
specs and — once the models are loaded — the same model fingerprints. Anything else is
refused with :class:`IncompatibleBaseline` naming the difference; it is never silently
compared.

A row *regresses* when its metric moved in the bad direction by more than the tolerance
(absolute): up for a metric with ``higher_is_better=False`` (the sanity similarities), down
otherwise. Rows are matched on the columns each suite names for its metric table
(:attr:`leg.harness.engine.suite.Suite.key`, :func:`metric_tables`; ``KEY`` by default).
A NaN value (a key size no alpha reached) counts as the worst value: NaN now and finite
before regresses, the reverse improves. Two whole runs, verdicts included, are compared by
:mod:`leg.harness.report.compare`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["KEY", "Baseline",
           "IncompatibleBaseline", "check_compatible", "compare", "load_baseline",
           "metric_tables", "regressions"]

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
    path: Path
    run: dict
    tables: dict[str, list[dict]]


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


def check_compatible(baseline: Baseline, identity: dict) -> None:
    """Raise :class:`IncompatibleBaseline` unless ``baseline.run["identity"]`` matches.

    ``identity`` keys: ``profile``, ``parameters_hash``, ``models`` (specs), optionally
    ``fingerprints`` (spec -> hash; compared for the specs both runs know).
    """
    stored = baseline.run.get("identity") or {}
    problems = []
    for key, label in (("profile", "profile"), ("parameters_hash", "parameters"),
                       ("models", "models")):
        if key in identity and stored.get(key) != identity[key]:
            problems.append(f"{label}: baseline {stored.get(key)!r}, this run {identity[key]!r}")
    fp_now, fp_then = identity.get("fingerprints") or {}, stored.get("fingerprints") or {}
    for spec in sorted(set(fp_now) & set(fp_then)):
        if fp_now[spec] != fp_then[spec]:
            problems.append(f"model {spec!r} weights: baseline fingerprint {fp_then[spec]}, "
                            f"this run {fp_now[spec]}")
    if problems:
        raise IncompatibleBaseline(
            f"The baseline {str(baseline.path)!r} is not comparable with this run ("
            + "; ".join(problems) + "). Rerun the baseline with the same options, or drop "
            "--leg-baseline.")


def _direction(row: dict) -> bool:
    v = row.get("higher_is_better")
    return v is True or str(v).lower() == "true"


def _float(v) -> float:
    return float("nan") if v is None or v == "" else float(v)


def compare(current: list[dict], stored: list[dict], *, tolerance: float,
            key: tuple[str, ...] = KEY) -> list[dict]:
    """Side-by-side rows: ``key`` columns, ``baseline``, ``current``, ``delta``, ``status``.

    ``status``: ``"regressed"`` (moved the bad way by more than ``tolerance``),
    ``"improved"`` (the good way by more), ``"same"``, ``"new"`` or ``"missing"``.
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
        if np.isnan(cur) or np.isnan(base):
            status = ("same" if np.isnan(cur) and np.isnan(base)
                      else "regressed" if np.isnan(cur) else "improved")
        else:
            bad = -delta if _direction(r) else delta
            status = ("regressed" if bad > tolerance else "improved" if -bad > tolerance
                      else "same")
        out.append({**row, "baseline": base, "current": cur, "delta": delta,
                    "status": status, "tolerance": tolerance})
    for k, r in old.items():
        if k not in seen:
            out.append({**dict(zip(cols, k, strict=True)), "baseline": _float(r["value"]),
                        "current": None, "delta": None, "status": "missing"})
    return out


def regressions(comparison: list[dict], **match) -> list[dict]:
    """The ``"regressed"`` rows of ``comparison`` whose columns equal ``match``."""
    return [r for r in comparison if r["status"] == "regressed"
            and all(str(r[k]) == str(v) for k, v in match.items())]


def add_comparison_section(report, table: str, title: str, comparison: list[dict],
                           order: int) -> None:
    """The side-by-side comparison with the baseline as ``table`` and a report section."""
    report.add_table(table, comparison)
    bad = [r for r in comparison if r["status"] == "regressed"]
    report.add_section(title, f"{len(bad)} regressed rows of {len(comparison)}.", order=order,
                       tables=[(table, 200)])
