"""What the first screen of a report shows: one verdict per (model, method, check), and
leaderboards that rank the methods on each comparison.

Every suite builds these from its results
(:meth:`leg.harness.engine.suite.Suite.verdicts` and ``leaderboards``) and the plugin hands
them to :meth:`leg.harness.report.Report.add_verdicts` /
:meth:`~leg.harness.report.Report.add_leaderboards`.
The report writes them as ``verdicts.csv`` and ``leaderboards.csv`` (so that two runs can
be compared: :mod:`leg.harness.report.compare`) and renders them
(:mod:`leg.harness.report.overview`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["SEVERITY", "SYNTHETIC", "VERDICTS", "Standing", "Leaderboard", "Verdict",
           "flip_status", "leaderboard_rows", "rank", "verdict_rows", "verdicts_from_rows"]

#: Verdict -> (symbol shown in a cell, meaning).
VERDICTS = {
    "pass": ("✓", "passed"),
    "fail": ("✗", "failed"),
    "uninformative": ("≈", "would pass, but the maps do not depend on the model (they do not "
                           "reproduce under another seed, or the method failed cascading "
                           "randomization, or it is a control): not a pass"),
    "degenerate": ("∅", "a compared map is constant: not a pass"),
    "expected-failure": ("x", "did not pass, as the profile expects (xfail)"),
    "reference": ("·", "the floor the other methods are compared with"),
    "undecided": ("?", "too few images to decide (at least 5 are needed for p < 0.05): the "
                       "plan says how many"),
    "not-significant": ("~", "no significant difference from the reference (a reported "
                             "comparison: paired test, p >= 0.05)"),
    "not-run": ("–", "not run"),
}

#: The model column of the verdicts over the synthetic ground-truth models, taken together.
SYNTHETIC = "ground-truth models"

#: How bad a verdict is (flips between runs; higher is worse).
SEVERITY = {"pass": 0, "reference": 0, "expected-failure": 1, "not-significant": 1,
            "undecided": 1, "uninformative": 2, "degenerate": 3, "fail": 4}


@dataclass(frozen=True)
class Verdict:
    """The verdict of ``method`` on ``check`` for ``model`` and the number that decided it.

    ``value`` is compared with ``threshold`` (``higher_is_better`` says which way passes);
    ``asserted``: a test fails unless the verdict is a pass or an expected failure (an
    "undecided" one is skipped, or fails under ``--leg-strict``); ``detail``: one line for the reader (where the number comes from).
    A verdict over images also carries its statistics
    (:class:`leg.harness.checks.statistics.PairedComparison`): ``n_images``, the confidence interval
    ``ci_low``..``ci_high`` of the median paired difference from the reference (metric units)
    and the one-sided ``p_value`` of "better than the reference"; ``None`` where the verdict
    is not a comparison over images.
    """

    model: str
    method: str
    check: str
    verdict: str
    value: float | None = None
    threshold: float | None = None
    higher_is_better: bool = False
    asserted: bool = False
    detail: str = ""
    n_images: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"Unknown verdict {self.verdict!r}; choose from {list(VERDICTS)}.")


@dataclass(frozen=True)
class Standing:
    """One method's place on a leaderboard (``note``: e.g. on how many images it counted;
    ``ci_low``..``ci_high``: a confidence interval of ``value`` where one was computed)."""

    method: str
    value: float
    note: str = ""
    marked: bool = False
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class Leaderboard:
    """Methods ranked on one comparison, best first.

    ``group`` collects comparisons that are shown as one table (e.g. the key sizes of one
    model on every background), ``column`` names this one within it (the background).
    """

    group: str
    column: str
    metric: str
    higher_is_better: bool
    entries: tuple[Standing, ...]
    #: How far this ranking holds across images (e.g. Kendall's W), shown under the column.
    reliability: str = ""


def _finite(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def rank(group: str, column: str, metric: str, higher_is_better: bool,
         values: dict[str, float | tuple], *, marked=(), reliability: str = ""
         ) -> Leaderboard:
    """A :class:`Leaderboard` of ``values`` (method -> value, ``(value, note)`` or
    ``(value, note, ci_low, ci_high)``), best first; NaN and ``None`` last."""
    items = []
    for m, v in values.items():
        v = v if isinstance(v, tuple) else (v,)
        items.append((m, *v, *("", None, None)[len(v) - 1:]))
    sign = -1.0 if higher_is_better else 1.0
    items.sort(key=lambda t: (not _finite(t[1]), sign * t[1] if _finite(t[1]) else 0.0))
    return Leaderboard(group, column, metric, higher_is_better, tuple(
        Standing(m, float("nan") if v is None else float(v), note, m in marked, lo, hi)
        for m, v, note, lo, hi in items), reliability)


def verdict_rows(verdicts: list[Verdict]) -> list[dict]:
    """The rows of ``verdicts.csv``."""
    return [asdict(v) for v in verdicts]


def _num(v) -> float | None:
    return None if v is None or v == "" else float(v)


def verdicts_from_rows(rows: list[dict]) -> list[Verdict]:
    """Verdicts back from :func:`verdict_rows` (or the strings of ``verdicts.csv``)."""
    def flag(v) -> bool:
        return v is True or str(v).lower() == "true"

    return [Verdict(r["model"], r["method"], r["check"], r["verdict"], _num(r.get("value")),
                    _num(r.get("threshold")), flag(r.get("higher_is_better")),
                    flag(r.get("asserted")), r.get("detail") or "",
                    None if _num(r.get("n_images")) is None else int(_num(r["n_images"])),
                    _num(r.get("ci_low")), _num(r.get("ci_high")), _num(r.get("p_value")))
            for r in rows]


def leaderboard_rows(boards: list[Leaderboard]) -> list[dict]:
    """The rows of ``leaderboards.csv``: one per (board, rank)."""
    return [{"group": b.group, "column": b.column, "metric": b.metric,
             "higher_is_better": b.higher_is_better, "rank": i, "method": e.method,
             "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "note": e.note,
             "marked": e.marked, "reliability": b.reliability}
            for b in boards for i, e in enumerate(b.entries, start=1)]


def flip_status(before: str, after: str) -> str:
    """``"same"``, ``"regressed"`` or ``"improved"`` for a verdict that went from ``before``
    to ``after``. A check that stopped running has regressed; one that started running
    counts by its new verdict (a failure regressed, anything else improved)."""
    if before == after:
        return "same"
    if after == "not-run":
        return "regressed"
    if before == "not-run":
        return "regressed" if SEVERITY[after] >= SEVERITY["uninformative"] else "improved"
    return "regressed" if SEVERITY[after] > SEVERITY[before] else "improved"
