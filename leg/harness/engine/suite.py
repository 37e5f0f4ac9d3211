"""A suite is a plug-in of the engine: a group of checks that share their work.

The engine (:mod:`leg.harness.engine.pipeline`) runs the chain every suite shares — load the
model, fingerprint it, load the images and their top-1 targets, key and run the jobs
through the executor, read the results back, record errors, cache statistics and timings.
A suite supplies only its ends, as a :class:`Suite`:

========================  =====================================================================
``unplanned(profile)``    why the profile runs nothing of it (``None``: it runs)
``models(profile)``       the model specs it loads (priced by a probe before the run)
``price(...)``            its :class:`~leg.harness.engine.plan.Work`: how its items are priced
``probe(model)``          a timing probe of a model it makes itself (optional)
``run(pipeline)``         its items, through the pipeline, scored: its result
``verdicts(result)``      one :class:`~leg.harness.checks.verdicts.Verdict` per model, method
                          and check (the report's first screen, ``verdicts.csv``, the tests)
``leaderboards(result)``  the methods ranked on each of its comparisons
``metric_rows(result)``   the rows of :attr:`table` compared with a stored run (regression)
``original_maps(result)`` the maps kept with the run for the drift across model versions
``seed_agreement(rows)``  each map's agreement with another seed's (the drift's reference)
``planned_cells(...)``    the (model, method, check) cells it would fill ("not run" otherwise)
``report(...)``           its tables, sections and figures
========================  =====================================================================

and its :class:`Check` records (the columns of the verdict matrix, each with its rule and
its paper). The plugin, the cost plan, the report, the regression comparison and the API
loop over :func:`suites`: the built-in ones are every module under
:mod:`leg.harness.checks` that defines ``SUITE``, and another package adds its own through
the entry-point group ``leg.checks`` (``name = "package.module:SUITE"``). A suite without
a pytest module of its own (:attr:`Suite.tests` ``None``) is tested by the harness's
generic module (``test_checks.py``): each asserted verdict must pass, and nothing may
regress against a baseline.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["ENTRY_POINT_GROUP", "Cell", "Check", "Suite", "SuiteResult", "check", "checks",
           "suite", "suites"]

#: The entry-point group through which other packages add suites.
ENTRY_POINT_GROUP = "leg.checks"


@dataclass(frozen=True)
class Check:
    """One column of the verdict matrix: ``name`` (``verdicts.csv``'s ``check``), its
    ``header``, the ``rule`` that decides it (one sentence, shown with every verdict), the
    paper it comes from (``reference``), its ``family`` and, where a control could win it
    alone, what games it and how the verdict prevents that (``gamed_by``)."""

    name: str
    header: str
    rule: str
    reference: str = ""
    family: str = ""
    gamed_by: str = ""


class Cell(NamedTuple):
    """A cell of the verdict matrix a suite plans to fill (``asserted``: a test asserts its
    verdict; the generic tests of :attr:`Suite.tests` ``None`` suites are these cells)."""

    model: str
    method: str
    check: str
    asserted: bool = False


@dataclass
class SuiteResult:
    """What every suite's result carries besides its own numbers: the ``profile`` it ran,
    the model ``fingerprints`` (spec -> hash), the methods it ``skipped`` (key -> reason),
    the items that failed (``errors``: key -> one line), ``timings`` (s) and
    ``cache_stats`` (status -> count)."""

    profile: Any
    fingerprints: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    cache_stats: dict = field(default_factory=dict)

    def info(self) -> dict:
        """What ``run.json`` records of this result."""
        def name(k):
            return "/".join(map(str, k)) if isinstance(k, tuple) else k

        return {"timings": self.timings, "cache": self.cache_stats,
                "skipped": {name(k): v for k, v in self.skipped.items()},
                "errors": {name(k): v for k, v in self.errors.items()}}


class Suite:
    """A plug-in of the engine (see the module docstring). Subclass it, set the class
    attributes, override the methods your suite needs, and expose one instance as
    ``SUITE``.

    ``name``: its results fixture (``<name>_results``) and its pytest marker (unless
    :attr:`marker` says otherwise); ``title``: its
    report heading; ``order``: its place among the suites (the order of their verdicts and
    leaderboards); ``description``: the marker's help; ``checks``: its :class:`Check`
    records; ``table`` / ``key``: the metric table compared with a stored run and the
    columns that identify a row; ``uses_keras``: its models may import TensorFlow;
    ``fingerprinted``: no longer read (a stored run of other weights is another version
    of the model, compared per model from every result's ``fingerprints``:
    :mod:`leg.harness.report.versions`); kept so that suites setting it still load;
    ``tests``: its own pytest module in :mod:`leg.harness.evaluation` (``None``: the
    generic one); ``result_type``: its result's class.
    """

    name: str = ""
    title: str = ""
    order: int = 100
    description: str = ""
    checks: tuple[Check, ...] = ()
    table: str | None = None
    key: tuple[str, ...] = ("check", "model", "image", "method", "stage", "metric")
    uses_keras: bool = True
    fingerprinted: bool = False
    tests: str | None = None
    #: The result's class (the pipeline makes one per run); a subclass of :class:`SuiteResult`.
    result_type: type = SuiteResult
    #: Suites whose results this one reads when they run in the same session (the pipeline's
    #: ``needed``; a suite not collected is not computed for it).
    needs: tuple[str, ...] = ()

    @property
    def marker(self) -> str:
        """The pytest marker that selects it (its name, unless a subclass says otherwise:
        the ground-truth suite runs under ``perturbation``)."""
        return self.name

    def unplanned(self, profile) -> str | None:
        """Why ``profile`` runs nothing of this suite (the reason its tests are skipped)."""
        return None

    def models(self, profile) -> list[str]:
        """The model specs this suite loads for ``profile`` (probed by the cost plan)."""
        return []

    def price(self, profile, images_dir: str | None, models: dict) -> list:
        """The :class:`~leg.harness.engine.plan.Work` of this suite (``models``: spec ->
        loaded model, for :meth:`models`)."""
        return []

    def probe(self, model: str):
        """A :class:`~leg.harness.engine.plan.Probe` of a model this suite makes itself (a
        :class:`~leg.harness.engine.plan.Work` whose ``model`` is no spec of
        :meth:`models`), or ``None``."""
        return None

    def run(self, pipeline) -> SuiteResult:
        """Plan the items, run them through ``pipeline``, read them back and score them."""
        raise NotImplementedError(f"The suite {self.name!r} does not implement run().")

    def verdicts(self, result) -> list:
        """One :class:`~leg.harness.checks.verdicts.Verdict` per model, method and check."""
        return []

    def leaderboards(self, result) -> list:
        """:class:`~leg.harness.checks.verdicts.Leaderboard` s of its comparisons."""
        return []

    def metric_rows(self, result) -> list[dict]:
        """The rows of :attr:`table` (each with the :attr:`key` columns, ``value`` and
        ``higher_is_better``), compared with a stored run's."""
        return []

    def planned_cells(self, profile, images_dir: str | None = None) -> list[Cell]:
        """Every cell of the verdict matrix this suite would fill for ``profile``."""
        return []

    def original_maps(self, result) -> dict:
        """``(model, image, method) -> (H, W)`` map of each model as given, at the
        profile's seed: kept with the run (``maps-<name>.npz``) so that a later version of
        the model can measure how far its maps drifted
        (:func:`leg.harness.report.versions.drift`). Only meaningful with
        :meth:`seed_agreement`; ``{}`` (the default): none kept."""
        return {}

    def seed_agreement(self, rows: list[dict]) -> dict:
        """``(model, image, method) -> `` the Spearman rank correlation of ``|map|``
        between the maps of :meth:`original_maps` and the same explanation under another
        seed, read from this suite's metric rows (``rows``: :meth:`metric_rows` or the
        stored CSV's): the method's own noise, the drift's reference. ``{}``: not
        measured."""
        return {}

    def image_counts(self, profile, images_dir: str | None = None) -> dict[str, int]:
        """Per model, the images its checks are judged over (what the plan's "decides"
        lines read); ``{}`` for a suite whose checks are not judged over images."""
        return {}

    def report(self, report, result) -> None:
        """Add its tables, sections and figures to ``report`` (the plugin adds its verdicts,
        leaderboards and comparison with a stored run)."""

    def info(self, result) -> dict:
        """What ``run.json`` records of ``result``."""
        return result.info() if hasattr(result, "info") else {}

    def __repr__(self) -> str:
        return f"<suite {self.name}: {', '.join(c.name for c in self.checks)}>"


_SUITE_LINE = re.compile(r"^SUITE\s*(:[^=]*)?=", re.M)


def _builtin() -> list[Suite]:
    """The ``SUITE`` of every module under :mod:`leg.harness.checks` (found by reading the
    files first, so that modules without one are not imported)."""
    import leg.harness.checks as package

    found = []
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.ispkg:
            continue
        spec = importlib.util.find_spec(info.name)
        if spec is None or not spec.origin or not _SUITE_LINE.search(
                Path(spec.origin).read_text(encoding="utf-8")):
            continue
        found.append(_checked(importlib.import_module(info.name).SUITE, info.name))
    return found


def _installed() -> list[Suite]:
    """The suites other packages add (entry points of :data:`ENTRY_POINT_GROUP`)."""
    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            raise RuntimeError(f"The '{ENTRY_POINT_GROUP}' entry point {ep.name!r} "
                               f"({ep.value}) could not be loaded: {type(exc).__name__}: "
                               f"{exc}") from exc
        if isinstance(obj, type) and issubclass(obj, Suite):
            obj = obj()
        out.append(_checked(obj, f"entry point {ep.name!r} ({ep.value})"))
    return out


def _checked(obj, where: str) -> Suite:
    if not isinstance(obj, Suite):
        raise TypeError(f"{where} gives a {type(obj).__name__}, not a "
                        "leg.harness.engine.suite.Suite.")
    if not re.match(r"^[a-z][a-z0-9_]*$", obj.name or ""):
        raise ValueError(f"{where}: the suite's name {obj.name!r} must be a lower-case "
                         "identifier (it is a pytest marker).")
    if not obj.checks:
        raise ValueError(f"{where}: the suite {obj.name!r} declares no checks.")
    return obj


@functools.cache
def suites() -> tuple[Suite, ...]:
    """Every suite, built-in and installed, in their :attr:`Suite.order` (then by name).
    Two suites of one name, or two checks of one name, are refused."""
    found = sorted(_builtin() + _installed(), key=lambda s: (s.order, s.name))
    names, seen = set(), {}
    for s in found:
        if s.name in names:
            raise ValueError(f"Two suites are named {s.name!r}.")
        names.add(s.name)
        for c in s.checks:
            if c.name in seen:
                raise ValueError(f"The check {c.name!r} is declared by the suites "
                                 f"{seen[c.name]!r} and {s.name!r}.")
            seen[c.name] = s.name
    return tuple(found)


def suite(name: str) -> Suite:
    """The suite called ``name``; ``KeyError`` naming the suites otherwise."""
    for s in suites():
        if s.name == name:
            return s
    raise KeyError(f"No suite {name!r}; the suites are {', '.join(s.name for s in suites())}.")


def checks() -> dict[str, Check]:
    """Every check of every suite, in the matrix's column order."""
    return {c.name: c for s in suites() for c in s.checks}


def check(name: str) -> Check | None:
    """The :class:`Check` called ``name`` (``None`` when no suite declares it)."""
    return checks().get(name)
