"""pytest options and session machinery shared by the evaluation suites.

Options (``pytest evaluation -m sanity --leg-profile smoke``):

``--leg-profile smoke|standard|paper``  profile of :mod:`evaluation.config` (default standard)
``--leg-report-dir DIR``   where reports and the explanation cache go (default ``reports/``)
``--leg-model SPEC``       run on one model: ``lite0``, ``lite0-torch`` (PyTorch, on the GPU
                           when there is one), ``digits``, a ``.keras``/``.h5`` or PyTorch
                           ``.pt2``/``.pt`` file, or ``module:attribute`` (see
                           :mod:`evaluation.inputs`)
``--leg-images DIR``       the model's images: every JPEG/PNG in DIR, converted to RGB (grey
                           for one-channel models) float [0, 1], centre-cropped to the
                           model's aspect ratio and resized to its input size
``--leg-methods a,b``      subset of the sanity methods (leg, leg-tv, gradient, random, edge)
``--leg-seed N``           base seed of the explanations
``--leg-baseline PATH``    a stored run to compare with (see :mod:`evaluation.regression`)
``--leg-workers N``        explanations in N processes (0 = in this process)
``--leg-executor KIND``    ``sequential``, ``process`` or ``ray`` (default: sequential for 0
                           workers, else process; see :mod:`evaluation.executor`)
``--leg-ray-address A``    ray only: ``local`` (default; a Ray instance with N CPUs, stopped
                           at the end), ``auto`` (the cluster of ``ray start``) or an address
``--leg-debug``            show TensorFlow's C++ start-up lines (hidden by default:
                           ``TF_CPP_MIN_LOG_LEVEL=1`` unless set, and the C-level stderr
                           held while TensorFlow is imported; :mod:`leg._quiet`)

Markers: ``sanity`` (:mod:`evaluation.test_sanity`), ``perturbation`` (key sizes and
curves, :mod:`evaluation.test_perturbation`; ground-truth accuracy,
:mod:`evaluation.test_groundtruth`), ``estimand`` (LEG's estimators against their exact
target on differentiable models, :mod:`evaluation.test_estimand`). The explanations (and
the perturbation scores) are computed once per session (session fixtures), cached under
``<report dir>/.cache/`` and the report is written in ``pytest_sessionfinish`` — also
when tests fail — whenever tests marked ``sanity``, ``perturbation`` or ``estimand`` ran.
With ``--leg-baseline``, the run against the baseline is also written next to it
(``comparison.html``, ``comparison.md``: :mod:`evaluation.compare`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def pytest_addoption(parser):
    g = parser.getgroup("leg", "leg evaluation harness")
    g.addoption("--leg-profile", default="standard", choices=("smoke", "standard", "paper"),
                help="evaluation profile (default: standard)")
    g.addoption("--leg-report-dir", default="reports", help="report folder (default: reports/)")
    g.addoption("--leg-model", default=None,
                help="model: lite0, lite0-torch, digits, a .keras/.h5 or .pt2/.pt file, "
                     "or module:attribute")
    g.addoption("--leg-images", default=None, help="folder of JPEG/PNG images for the model")
    g.addoption("--leg-methods", default=None, help="comma-separated methods")
    g.addoption("--leg-seed", default=None, type=int, help="base seed of the explanations")
    g.addoption("--leg-baseline", default=None, help="stored run folder to compare with")
    g.addoption("--leg-workers", default=0, type=int,
                help="processes computing explanations (default 0: in this process)")
    g.addoption("--leg-debug", action="store_true",
                help="show TensorFlow's C++ start-up log lines (hidden by default)")
    g.addoption("--leg-executor", default=None, choices=("sequential", "process", "ray"),
                help="where jobs run (default: sequential for 0 workers, else process)")
    g.addoption("--leg-ray-address", default=None,
                help="ray executor: local (default), auto, or a cluster address")


@dataclass
class LegSession:
    """Per-session state of the harness (on ``config.stash``)."""

    profile: object
    report_dir: Path
    images_dir: str | None
    workers: int
    debug: bool = False
    executor_kind: str = "sequential"
    ray_address: str | None = None
    executor: object = None  # the run's executor, made on first use (_session_executor)
    capture: object = None  # pytest's capture manager (progress bars go around it)
    baseline: object = None
    report: object = None
    active: bool = False
    sanity: object = None
    sanity_error: str | None = None
    comparison: list | None = None
    baseline_error: str | None = None
    timings: dict = field(default_factory=dict)
    perturbation: object = None
    perturbation_error: str | None = None
    perturbation_comparison: list | None = None
    groundtruth: object = None
    groundtruth_error: str | None = None
    groundtruth_comparison: list | None = None
    estimand: object = None
    estimand_error: str | None = None
    estimand_comparison: list | None = None

    @property
    def cache_root(self) -> Path:
        return self.report_dir / ".cache"

    def identity(self, fingerprints: dict | None = None) -> dict:
        ident = {"profile": self.profile.name,
                 "parameters_hash": self.profile.parameters_hash(),
                 "models": [p.spec for p in self.profile.models],
                 "images": self.images_dir}
        if fingerprints:
            ident["fingerprints"] = dict(fingerprints)
        return ident


LEG_KEY = pytest.StashKey[LegSession]()


def leg_session(config) -> LegSession:
    return config.stash[LEG_KEY]


def parametrize_or_skip(metafunc, name: str, values: list, ids: list, reason: str) -> None:
    """Parametrize ``name`` over ``values``; no values: one case skipped with ``reason``
    (clearer than pytest's "got empty parameter set")."""
    if values:
        metafunc.parametrize(name, values, ids=ids)
    else:
        metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                             ids=["none"])


def pytest_configure(config):
    from evaluation.config import get_profile
    from evaluation.report import Report, package_versions

    opt = config.getoption
    if not opt("--leg-debug"):
        from leg._quiet import quiet_tensorflow

        quiet_tensorflow(load=False)  # TF_CPP_MIN_LOG_LEVEL, inherited by worker processes
    methods = opt("--leg-methods")
    try:
        profile = get_profile(opt("--leg-profile")).with_overrides(
            model=opt("--leg-model"),
            methods=[m.strip() for m in methods.split(",") if m.strip()] if methods else None,
            seed=opt("--leg-seed"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    if opt("--leg-workers") < 0:
        raise pytest.UsageError("--leg-workers must be >= 0.")
    from evaluation.executor import resolve_executor

    try:
        kind = resolve_executor(opt("--leg-executor"), opt("--leg-workers"),
                                opt("--leg-ray-address"))
    except ValueError as exc:
        raise pytest.UsageError(f"{exc} (--leg-executor, --leg-workers, --leg-ray-address)"
                                ) from exc
    if kind == "ray":
        import importlib.util

        from evaluation.ray_executor import INSTALL_HINT

        if importlib.util.find_spec("ray") is None:
            raise pytest.UsageError(f"--leg-executor ray needs {INSTALL_HINT}")
    images = opt("--leg-images")
    if images is not None and not Path(images).is_dir():
        raise pytest.UsageError(f"--leg-images {images!r} is not a folder.")
    sess = LegSession(profile=profile, report_dir=Path(opt("--leg-report-dir")),
                      images_dir=images, workers=opt("--leg-workers"), executor_kind=kind,
                      ray_address=opt("--leg-ray-address"), debug=opt("--leg-debug"),
                      capture=config.pluginmanager.getplugin("capturemanager"))
    sess.report = Report(sess.report_dir, info={"profile": profile.name})
    sess.report.set_info("configuration", profile.identity())
    sess.report.set_info("options", {k: opt(k) for k in (
        "--leg-profile", "--leg-report-dir", "--leg-model", "--leg-images", "--leg-methods",
        "--leg-seed", "--leg-baseline", "--leg-workers", "--leg-executor",
        "--leg-ray-address")})
    sess.report.set_info("versions", package_versions())
    sess.report.set_info("seeds", {"explanations": profile.seed, "repeats": profile.repeats,
                                   "randomization": profile.randomization_seed})
    if opt("--leg-baseline"):
        from evaluation.regression import IncompatibleBaseline, check_compatible, load_baseline

        try:
            sess.baseline = load_baseline(opt("--leg-baseline"))
            check_compatible(sess.baseline, sess.identity())
        except IncompatibleBaseline as exc:
            raise pytest.UsageError(str(exc)) from exc
    config.stash[LEG_KEY] = sess


def pytest_collection_finish(session):
    if LEG_KEY not in session.config.stash:
        return
    sess = leg_session(session.config)
    sess.active = not session.config.option.collectonly and any(
        item.get_closest_marker(m) for item in session.items
        for m in ("sanity", "perturbation", "estimand"))


_CURRENT: list[LegSession] = []  # the running session, for hooks without a config


def pytest_runtest_logreport(report):
    """Record each test's outcome (call phase; setup errors and skips) in the report."""
    sess = _CURRENT[-1] if _CURRENT else None
    if sess is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = report.outcome if report.when == "call" else (
            "skipped" if report.skipped else "error")
        if hasattr(report, "wasxfail"):  # pytest reports xfail as skipped, xpass as passed
            outcome = "xfailed" if report.skipped else "xpassed"
        msg = ""
        if report.failed:
            msg = str(report.longrepr.reprcrash.message
                      if hasattr(report.longrepr, "reprcrash") else report.longrepr)
        elif report.skipped and isinstance(report.longrepr, tuple):
            msg = str(report.longrepr[2])
        elif hasattr(report, "wasxfail"):
            msg = str(report.wasxfail)
        sess.report.record_test(report.nodeid, outcome, report.duration, msg)


def pytest_sessionstart(session):
    if LEG_KEY in session.config.stash:
        _CURRENT.append(leg_session(session.config))


def pytest_sessionfinish(session, exitstatus):
    if LEG_KEY not in session.config.stash:
        return
    sess = leg_session(session.config)
    if _CURRENT:
        _CURRENT.pop()
    executor, sess.executor = sess.executor, None
    if executor is not None:
        sess.report.set_info("executor", executor.describe())
        executor.shutdown()
    if not sess.active:
        return
    rep = sess.report
    rep.set_info("exit_status", int(exitstatus))
    rep.set_info("timings", sess.timings)
    _add_perturbation_sections(sess, rep)
    if sess.sanity is not None:
        from evaluation.sanity import add_to_report

        res = sess.sanity
        rep.set_info("identity", sess.identity(res.fingerprints))
        rep.set_info("sanity", {"timings": res.timings, "cache": res.cache_stats,
                                "skipped": res.skipped, "models": res.model_info,
                                "errors": {"/".join(k): v for k, v in res.errors.items()}})
        try:
            add_to_report(rep, res, sess.comparison)
        except Exception as exc:  # the report must still be written
            rep.add_section("Report errors", f"Could not render the sanity section: {exc!r}",
                            order=90, open=True)
    else:
        fps = sess.perturbation.fingerprints if sess.perturbation is not None else None
        rep.set_info("identity", sess.identity(fps))
        if sess.sanity_error:
            rep.add_section("Sanity checks", f"Not computed: {sess.sanity_error}", order=10,
                            open=True)
    comparison = _compare_runs(sess, rep) if sess.baseline is not None else None
    path = rep.write()
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(f"leg report: {path}")
    if comparison is not None:
        from evaluation.compare import write_comparison

        page = write_comparison(comparison, path)
        if tr is not None:
            tr.write_line(f"leg comparison: {page} ({comparison.summary()})")


def _compare_runs(sess: LegSession, rep):
    """Regression mode: this run against the baseline (announced on the report's first
    screen; the page is written next to the run)."""
    from evaluation.compare import compare_runs

    try:
        comparison = compare_runs(sess.baseline, rep.as_run())
    except Exception as exc:  # the report must still be written
        rep.notice = (f"Not compared with the baseline {sess.baseline.path}: {exc}", None)
        return None
    rep.notice = (f"Against the baseline {sess.baseline.path}: {comparison.summary()}.",
                  "comparison.html")
    return comparison


def _add_perturbation_sections(sess: LegSession, rep) -> None:
    """The perturbation and ground-truth parts of the report (also when a test failed)."""
    parts = (("perturbation", "Perturbation size", 20, "evaluation.perturbation_suite"),
             ("groundtruth", "Ground truth", 30, "evaluation.groundtruth_suite"),
             ("estimand", "Estimand accuracy", 35, "evaluation.estimand_suite"))
    for attr, title, order, module in parts:
        res, err = getattr(sess, attr), getattr(sess, f"{attr}_error")
        if res is None:
            if err:
                rep.add_section(title, f"Not computed: {err}", order=order, open=True)
            continue
        import importlib

        rep.set_info(attr, {"timings": res.timings, "cache": res.cache_stats,
                            "skipped": {"/".join(k) if isinstance(k, tuple) else k: v
                                        for k, v in res.skipped.items()},
                            "errors": {"/".join(k): v for k, v in res.errors.items()}})
        try:
            importlib.import_module(module).add_to_report(
                rep, res, getattr(sess, f"{attr}_comparison"))
        except Exception as exc:  # the report must still be written
            rep.add_section("Report errors", f"Could not render the {attr} section: {exc!r}",
                            order=90, open=True)


def _compare_with_baseline(sess: LegSession, attr: str, rows: list[dict], table: str) -> None:
    if sess.baseline is None:
        return
    from evaluation.regression import METRIC_TABLES, compare

    setattr(sess, f"{attr}_comparison",
            compare(rows, sess.baseline.tables.get(table, []),
                    tolerance=sess.profile.regression_tolerance, key=METRIC_TABLES[table]))


def _session_executor(sess: LegSession):
    """The run's executor, made on first use and shut down in ``pytest_sessionfinish`` (a
    process pool or Ray instance is started once and keeps its workers' models loaded)."""
    from evaluation.executor import make_executor

    if sess.executor is None:
        sess.executor = make_executor(sess.workers, sess.executor_kind, sess.ray_address)
        if sess.capture is not None:
            sess.executor.progress = _TerminalStream(sess.capture)
    return sess.executor


class _TerminalStream:
    """A file writing to the terminal around pytest's output capture: the progress bars of
    :func:`evaluation.cache.run_jobs` show as jobs finish (on a terminal only)."""

    def __init__(self, capture):
        self._capture = capture

    def write(self, text: str) -> None:
        with self._capture.global_and_fixture_disabled():
            sys.stderr.write(text)
            sys.stderr.flush()

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        with self._capture.global_and_fixture_disabled():
            return sys.stderr.isatty()


def _compute_once(sess: LegSession, part: str, run) -> tuple[object, bool]:
    """``(sess.<part>, computed now)``: computed with ``run(executor)`` on first use (timed;
    a failure is remembered so later tests fail fast with the same message)."""
    import time

    if getattr(sess, part) is None:
        error = getattr(sess, f"{part}_error")
        if error:
            pytest.fail(f"The {part} computation failed earlier: {error}")
        from leg._quiet import quiet_tensorflow

        # the suites' zoo models are Keras ones (the ground-truth models are NumPy)
        quiet_tensorflow(debug=sess.debug, load=part != "groundtruth")
        t0 = time.perf_counter()
        try:
            setattr(sess, part, run(_session_executor(sess)))
        except Exception as exc:
            setattr(sess, f"{part}_error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            sess.timings[f"{part}_total"] = time.perf_counter() - t0
        return getattr(sess, part), True
    return getattr(sess, part), False


@pytest.fixture(scope="session")
def perturbation_results(leg):
    """Every perturbation-size map and score of the profile, computed once (cached)."""
    from evaluation.perturbation_suite import run_perturbation

    result, fresh = _compute_once(leg, "perturbation", lambda ex: run_perturbation(
        leg.profile, cache_root=str(leg.cache_root), images_dir=leg.images_dir, executor=ex))
    if fresh:
        _compare_with_baseline(leg, "perturbation", result.scores, "perturbation_scores")
    return result


@pytest.fixture(scope="session")
def groundtruth_results(leg):
    """Every ground-truth map and correlation of the profile, computed once (cached)."""
    from evaluation.groundtruth_suite import run_groundtruth

    if leg.profile.groundtruth is None:
        pytest.skip(f"The profile {leg.profile.name!r} has no ground-truth plan.")
    result, fresh = _compute_once(leg, "groundtruth", lambda ex: run_groundtruth(
        leg.profile, cache_root=str(leg.cache_root), executor=ex))
    if fresh:
        _compare_with_baseline(leg, "groundtruth", result.rows, "groundtruth")
    return result


@pytest.fixture(scope="session")
def estimand_results(leg):
    """Every estimand and LEG variant of the profile's estimand plans, computed once (cached)."""
    from evaluation.estimand_suite import run_estimand

    if not leg.profile.estimand:
        pytest.skip(f"The profile {leg.profile.name!r} has no estimand plan.")
    result, fresh = _compute_once(leg, "estimand", lambda ex: run_estimand(
        leg.profile, cache_root=str(leg.cache_root), images_dir=leg.images_dir))
    if fresh:
        _compare_with_baseline(leg, "estimand", result.rows, "estimand")
    return result


@pytest.fixture(scope="session")
def leg(request) -> LegSession:
    """The harness's session state (profile, report, baseline)."""
    return leg_session(request.config)


@pytest.fixture(scope="session")
def leg_report(leg):
    """The run's :class:`evaluation.report.Report` (suites add tables and sections)."""
    return leg.report


@pytest.fixture(scope="session")
def sanity_results(leg):
    """Every sanity explanation and similarity of the profile, computed once (cached)."""
    from evaluation.sanity import run_sanity

    result, fresh = _compute_once(leg, "sanity", lambda ex: run_sanity(
        leg.profile, cache_root=str(leg.cache_root), images_dir=leg.images_dir, executor=ex))
    if fresh and leg.baseline is not None:
        from evaluation.regression import IncompatibleBaseline, check_compatible, compare

        try:
            check_compatible(leg.baseline, leg.identity(result.fingerprints))
            leg.comparison = compare(result.rows, leg.baseline.tables.get("sanity", []),
                                     tolerance=leg.profile.regression_tolerance)
        except IncompatibleBaseline as exc:
            leg.baseline_error = str(exc)
    return result
