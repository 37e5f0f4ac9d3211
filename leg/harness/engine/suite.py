"""One engine for every suite: the list of suites, and how each is run, compared and reported.

A suite is a module with ``run(profile, *, cache_root, images_dir, executor)`` (plan the
jobs, run them through the executor, read the results back from the cache, score them) and
``add_to_report(report, result, comparison)``. Its :class:`Suite` record says which of the
result's tables is compared with a stored run (``--leg-baseline``) and when the profile has
nothing to run. The plugin (:mod:`leg.harness.plugin`) loops over :data:`SUITES`: a new suite
is one record here and its test module.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SUITES", "Suite", "SuiteState", "suite"]


@dataclass(frozen=True)
class Suite:
    """``name``: its pytest marker and the prefix of its results fixture
    (``<name>_results``); ``module`` and ``run``: where its work is; ``rows``: the result's
    attribute holding the rows of the metric table ``table`` (compared with a baseline);
    ``unplanned(profile)``: why the profile runs nothing of it, or ``None``;
    ``uses_keras``: whether its models may import TensorFlow (start-up log hidden);
    ``fingerprinted``: the baseline must have been made with the same model weights."""

    name: str
    title: str
    order: int
    module: str
    run: str
    table: str
    rows: str
    unplanned: Callable = field(default=lambda profile: None, compare=False)
    uses_keras: bool = True
    fingerprinted: bool = False

    def implementation(self):
        return importlib.import_module(self.module)

    def compute(self, profile, *, cache_root: str, images_dir: str | None, executor):
        """The suite's result object (its rows, maps, errors, timings)."""
        return getattr(self.implementation(), self.run)(
            profile, cache_root=cache_root, images_dir=images_dir, executor=executor)


@dataclass
class SuiteState:
    """One suite's outcome in a session: its ``result`` (or the ``error`` that stopped it),
    its ``comparison`` rows against the baseline, and why the baseline could not be used."""

    result: object = None
    error: str | None = None
    comparison: list | None = None
    baseline_error: str | None = None
    seconds: float | None = None

    def timed(self, compute):
        t0 = time.perf_counter()
        try:
            self.result = compute()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.seconds = time.perf_counter() - t0
        return self.result


def _no_groundtruth(profile) -> str | None:
    if profile.groundtruth is None:
        return f"The profile {profile.name!r} has no ground-truth plan."
    return None


def _no_estimand(profile) -> str | None:
    if not profile.estimand:
        return f"The profile {profile.name!r} has no estimand plan."
    return None


#: The suites, in the order their results go into the report (and the verdict matrix).
SUITES: tuple[Suite, ...] = (
    Suite("perturbation", "Perturbation size", 20, "leg.harness.checks.faithfulness.suite",
          "run_perturbation", "perturbation_scores", "scores"),
    Suite("groundtruth", "Ground truth", 30, "leg.harness.checks.groundtruth",
          "run_groundtruth", "groundtruth", "rows", _no_groundtruth, uses_keras=False),
    Suite("estimand", "Estimand accuracy", 35, "leg.harness.checks.estimand", "run_estimand",
          "estimand", "rows", _no_estimand),
    Suite("sanity", "Sanity checks", 10, "leg.harness.checks.randomization.suite", "run_sanity",
          "sanity", "rows", fingerprinted=True),
)


def suite(name: str) -> Suite:
    for s in SUITES:
        if s.name == name:
            return s
    raise KeyError(f"No suite {name!r}; the suites are {', '.join(s.name for s in SUITES)}.")
