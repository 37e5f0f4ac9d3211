"""The one registry of evaluation metrics: every number a check computes, with its name, its
direction, its family, its range and the paper it comes from.

Each check module registers its metrics when it is imported (:func:`register`); the
report labels numbers from here, the statistics and the regression comparison read the
direction from here (a stored row carries it too: ``higher_is_better``), and the docs list
them (:func:`rows`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["METRICS", "Metric", "metric", "register", "rows"]


@dataclass(frozen=True)
class Metric:
    """Metadata of one evaluation metric.

    ``name``: its column and row name (``"key_size"``); ``higher_is_better``: whether a
    larger value means a better map; ``description``: one sentence; ``family``: what it
    measures (randomization, faithfulness, robustness, complexity, localisation, axiomatic,
    ground truth, estimand); ``low``/``high``: its range (``-inf``/``inf`` when unbounded);
    ``reference``: the paper.
    """

    name: str
    higher_is_better: bool
    description: str
    family: str = ""
    low: float = -math.inf
    high: float = math.inf
    reference: str = ""


#: Every registered metric, by name.
METRICS: dict[str, Metric] = {}


def register(m: Metric) -> Metric:
    """Add ``m`` to :data:`METRICS` (again: a no-op; another metric of the same name is a
    ``ValueError``) and return it."""
    old = METRICS.get(m.name)
    if old is not None and old != m:
        raise ValueError(f"Two metrics are named {m.name!r}: {old} and {m}.")
    METRICS[m.name] = m
    return m


def metric(name: str) -> Metric:
    """The registered metric ``name``; ``KeyError`` naming the known ones otherwise."""
    if name not in METRICS:
        raise KeyError(f"No metric {name!r}; registered: {', '.join(sorted(METRICS))}.")
    return METRICS[name]


def rows() -> list[dict]:
    """Every metric as a table row (for the report and the docs), by family then name: the
    metrics of every suite (loading them registers their metrics)."""
    from leg.harness.engine.suite import suites

    suites()
    return [asdict(m) for m in sorted(METRICS.values(), key=lambda m: (m.family, m.name))]


#: LEG's relative error against its target, shared by the ground-truth and estimand suites.
REL_ERROR = register(Metric(
    "rel_error", False, "Relative L2 error of LEG's estimate against its target: the true map "
    "summed over each cell (ground truth) or LEG's exact estimand.", "estimand", 0.0,
    reference="Luo et al., ICCV 2021"))
