"""The harness as a pytest plugin (entry point ``pytest11``: ``leg``), loaded by every pytest
run of an environment where leg is installed.

It costs nothing where the harness is not used: importing it imports pytest and the standard
library only; options are registered, and the session state (profile, report, executor) is
made the first time a suite asks for it. No report, no output and no TensorFlow unless a
suite's tests were collected. Disable it with ``-p no:leg``.

Options (``leg evaluate -m sanity --leg-profile smoke``, or ``pytest evaluation ...`` in a
clone):

``--leg-profile smoke|standard|paper``  profile of :mod:`leg.harness.profiles` (default standard)
``--leg-report-dir DIR``   where reports and the explanation cache go (default ``reports/``)
``--leg-model SPEC``       run on one model (see :mod:`leg.harness.engine.inputs`)
``--leg-images DIR``       the model's images
``--leg-methods a,b``      methods: built-in names, ``NAME=package.module:attribute`` (your
                           own, :mod:`leg.harness.methods.user`) or ``leg.explainers`` entry points
``--leg-seed N``           base seed of the explanations
``--leg-baseline PATH``    a stored run to compare with (see :mod:`leg.harness.report.baseline`):
                           of the same weights row by row, of another version of the model
                           per check with paired statistics (:mod:`leg.harness.report.versions`)
``--leg-compare-fail EXPR`` how much worse each check may get against the baseline, e.g.
                           ``relevance-mass:0.05,key-size:10%,drift:0.3``
``--leg-workers N``, ``--leg-executor KIND``, ``--leg-ray-address A``  where jobs run
                           (:mod:`leg.harness.engine.executors`)
``--leg-debug``            show TensorFlow's C++ start-up lines

``--leg-checks a,b``       run only these checks (and the suites they belong to)

Markers: one per suite (:func:`leg.harness.engine.suite.suites`: ``sanity``, ``perturbation``
— key sizes, curves and ground truth — ``estimand``, and those of installed suites). Each
suite is computed once per session (its ``<name>_results`` fixture), cached under
``<report dir>/.cache/``, and the report is written in ``pytest_sessionfinish`` — also when
tests fail — whenever a suite's tests ran.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: The built-in suites' markers (registered at start-up without loading any suite; an
#: installed suite's marker is registered when the harness is used).
MARKERS = {
    "sanity": "sanity-check suites (model and label randomization)",
    "perturbation": "perturbation-size and ground-truth suites",
    "estimand": "LEG's estimators against their exact estimand (autodiff) on differentiable "
                "models",
    "complexity": "sparseness and complexity of the maps",
    "localisation": "pointing game, relevance mass and rank inside the objects' regions",
    "robustness": "sensitivity and local Lipschitz estimate of the maps under small noise",
    "axiomatic": "completeness and input invariance",
    "infidelity": "how well the maps predict the score drops of random removals",
}
OPTIONS = ("--leg-profile", "--leg-report-dir", "--leg-model", "--leg-images",
           "--leg-masks", "--leg-methods", "--leg-seed", "--leg-baseline", "--leg-workers",
           "--leg-executor",
           "--leg-ray-address", "--leg-n-images", "--leg-stages", "--leg-budget",
           "--leg-backgrounds", "--leg-input-size", "--leg-preprocessing", "--leg-softmax",
           "--leg-grad-cam-layer", "--leg-cascade-order", "--leg-checks", "--leg-strict",
           "--leg-compare-fail")


def _suites():
    from leg.harness.engine.suite import suites

    return suites()


def _suite(name: str):
    from leg.harness.engine.suite import suite

    return suite(name)


@dataclass
class SuiteState:
    """One suite's outcome in a session: its ``result`` (or the ``error`` that stopped it),
    its verdicts and leaderboards, its ``comparison`` rows against the baseline, and why the
    baseline could not be used."""

    result: object = None
    error: str | None = None
    verdicts: list = field(default_factory=list)
    leaderboards: list = field(default_factory=list)
    comparison: list | None = None
    baseline_error: str | None = None
    seconds: float | None = None
    changed: dict = field(default_factory=dict)  # spec -> (baseline fingerprint, this run's)
    drift: list = field(default_factory=list)  # per model and method (versions.drift)
    flips: list = field(default_factory=list)  # asserted cells that passed in the baseline

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


def pytest_addoption(parser):
    g = parser.getgroup("leg", "leg evaluation harness")
    # choices and whole numbers are checked by the harness (_option_values), not argparse:
    # a wrong value is then one line (pytest's own is a four-line usage message)
    g.addoption("--leg-profile", default="standard",
                help="evaluation profile: smoke, standard or paper (default: standard)")
    g.addoption("--leg-report-dir", default="reports", help="report folder (default: reports/)")
    g.addoption("--leg-model", default=None,
                help="model: lite0, lite0-torch, digits, a .keras/.h5 or .pt2/.pt file, "
                     "or module:attribute")
    g.addoption("--leg-images", default=None, help="folder of JPEG/PNG images for the model")
    g.addoption("--leg-masks", default=None,
                help="folder of binary PNG masks of the objects in --leg-images (one per "
                     "image, the same file stem and size): the localisation checks")
    g.addoption("--leg-methods", default=None,
                help="comma-separated methods: built-in names, NAME=package.module:attribute "
                     "for your own, or installed leg.explainers entry points")
    g.addoption("--leg-seed", default=None, help="base seed of the explanations")
    g.addoption("--leg-baseline", default=None,
                help="stored run folder to compare with: of the same model weights (row by "
                     "row), or of another version of the model (per check, paired over the "
                     "images)")
    g.addoption("--leg-compare-fail", default=None, metavar="EXPR",
                help="how much worse a check may get against --leg-baseline before the run "
                     "fails: NAME:LIMIT[,...], NAME a check or metric, 'all' or 'drift', "
                     "LIMIT a number, N%% of the baseline or 'off'; e.g. "
                     "relevance-mass:0.05,key-size:10%%,drift:0.3 (default: the profile's "
                     "regression tolerance; verdict flips always fail)")
    g.addoption("--leg-workers", default=0,
                help="processes computing explanations (default 0: in this process)")
    g.addoption("--leg-debug", action="store_true",
                help="show TensorFlow's C++ start-up log lines (hidden by default)")
    g.addoption("--leg-executor", default=None,
                help="where jobs run: sequential, process or ray (default: sequential for 0 "
                     "workers, else process)")
    g.addoption("--leg-ray-address", default=None,
                help="ray executor: local (default), auto, or a cluster address")
    g.addoption("--leg-plan", action="store_true",
                help="print the run's plan and estimated time, then stop")
    g.addoption("--leg-n-images", default=None,
                help="images per model (default: the profile's; 0: every image of the folder)")
    g.addoption("--leg-stages", default=None,
                help="evenly spaced cascading-randomization stages (full randomization "
                     "included)")
    g.addoption("--leg-budget", default=None,
                help="model evaluations of every black-box method in the perturbation suite")
    g.addoption("--leg-backgrounds", default=None,
                help="key-size backgrounds, comma list of mean,black,white,noise,dist-k,road "
                     "(curves on the first)")
    g.addoption("--leg-input-size", default=None,
                help="HxW: the input size of --leg-model when it declares none")
    g.addoption("--leg-preprocessing", default=None,
                help="preprocessing leg wraps a bare keras.Model / torch.nn.Module with: "
                     "caffe, tf, torch, lite0 or none")
    g.addoption("--leg-softmax", action="store_true", default=None,
                help="apply a softmax to the outputs of a bare keras.Model / torch.nn.Module")
    g.addoption("--leg-cascade-order", default=None,
                help="sanity cascading randomization: top-down (default, asserted); "
                     "bottom-up or both also randomize from the input up (reported)")
    g.addoption("--leg-grad-cam-layer", default=None,
                help="the layer Grad-CAM explains (default: the last one with an output "
                     "larger than 1x1)")
    g.addoption("--leg-strict", action="store_true",
                help="an asserted check that cannot decide (too few images) fails the run "
                     "instead of being skipped")
    g.addoption("--leg-checks", default=None,
                help="comma-separated checks to run (default: every check of the collected "
                     "suites; an installed suite's checks by their names too)")


#: The values each of these options takes (checked by :func:`_option_values`).
CHOICES = {"--leg-profile": ("smoke", "standard", "paper"),
           "--leg-executor": ("sequential", "process", "ray"),
           "--leg-preprocessing": ("caffe", "tf", "torch", "lite0", "none"),
           "--leg-cascade-order": ("top-down", "bottom-up", "both")}
#: The options that take a whole number, and the smallest they take (``None``: any).
INTEGERS = {"--leg-seed": None, "--leg-workers": 0, "--leg-n-images": 0, "--leg-stages": 1,
            "--leg-budget": 2}


def _option_values(config) -> dict:
    """Every ``--leg-*`` option's value, checked: a choice among :data:`CHOICES`, a whole
    number of :data:`INTEGERS` (converted) at least its smallest. ``ValueError`` with one
    line naming the option and what it takes."""
    values = {name: config.getoption(name) for name in (*OPTIONS, "--leg-debug", "--leg-plan")}
    for name, allowed in CHOICES.items():
        if values.get(name) is not None and values[name] not in allowed:
            raise ValueError(f"{name} {values[name]!r} is not one of "
                             f"{', '.join(allowed[:-1])} or {allowed[-1]}.")
    for name, low in INTEGERS.items():
        value = values.get(name)
        if value is None:
            continue
        try:
            values[name] = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} takes a whole number; got {value!r}.") from None
        if low is not None and values[name] < low:
            raise ValueError(f"{name} must be at least {low}; got {values[name]}.")
    return values


@dataclass
class LegSession:
    """Per-session state of the harness (made on first use: :func:`leg_session`)."""

    profile: object
    report_dir: Path
    images_dir: str | None
    workers: int
    masks_dir: str | None = None
    debug: bool = False
    executor_kind: str = "sequential"
    ray_address: str | None = None
    executor: object = None  # the run's executor, made on first use (:meth:`executor_now`)
    capture: object = None  # pytest's capture manager (progress bars go around it)
    plugins: object = None  # pytest's plugin manager (the terminal reporter, once there)
    baseline: object = None
    report: object = None
    active: bool = False
    suites: dict = field(default_factory=dict)  # suite name -> engine.SuiteState
    collected: int = 0  # the harness's tests collected
    planned: tuple = ()  # the suites whose tests were collected
    plan: object = None  # leg.harness.engine.plan.Plan of the run
    checks: frozenset | None = None  # --leg-checks (None: every check)
    strict: bool = False  # --leg-strict: an undecided asserted check fails
    compare_fail: object = None  # --leg-compare-fail (leg.harness.report.versions.CompareFail)
    images_hash: str | None = None  # the --leg-images files' hash (identity)
    masks_hash: str | None = None  # the --leg-masks files' hash (identity)
    undecided_checks: list = field(default_factory=list)  # why each one could not decide
    report_written: bool = False
    plan_only: bool = False  # --leg-plan: the plan is printed, no test runs
    ctrl_c: bool = False  # a KeyboardInterrupt stopped the run (not pytest's own stops)
    stopped_by: str | None = None  # pytest.exit's message, when a test called it
    ending: list = field(default_factory=list)  # lines for the terminal's summary

    @property
    def cache_root(self) -> Path:
        return self.report_dir / ".cache"

    def identity(self, fingerprints: dict | None = None) -> dict:
        ident = {"profile": self.profile.name,
                 "parameters_hash": self.profile.parameters_hash(),
                 "models": [p.spec for p in self.profile.models],
                 "images": self.images_dir, "images_hash": self.images_hash}
        if self.masks_hash is not None:
            ident["masks_hash"] = self.masks_hash
        if fingerprints:
            ident["fingerprints"] = dict(fingerprints)
        return ident

    def state(self, name: str):
        return self.suites.setdefault(name, SuiteState())

    def comparison(self, name: str) -> list | None:
        """The suite's rows compared with the baseline (``None``: no baseline, or not yet)."""
        return self.state(name).comparison

    def executor_now(self):
        """The run's executor, made on first use and shut down at the session's end (a
        process pool or Ray instance is started once and keeps its workers' models)."""
        from leg.harness.engine.executors import make_executor

        if self.executor is None:
            self.executor = make_executor(self.workers, self.executor_kind, self.ray_address)
            if self.capture is not None:
                self.executor.progress = _TerminalStream(
                    self.capture, self.plugins and self.plugins.get_plugin("terminalreporter"))
        return self.executor

    def results(self, name: str):
        """The suite's result, computed on first use (a failure is remembered, so later tests
        fail fast with the same message)."""
        from leg._quiet import quiet_tensorflow
        from leg.harness.engine.pipeline import Pipeline

        spec = _suite(name)
        reason = self.unplanned(spec)
        if reason:
            pytest.skip(reason)
        st = self.state(name)
        if st.result is not None:
            return st.result
        if st.error:
            pytest.fail(f"The {name} computation failed earlier: {st.error}")
        needed = {n: self.results(n) for n in spec.needs
                  if n in self.planned and not self.unplanned(_suite(n))}
        quiet_tensorflow(debug=self.debug, load=spec.uses_keras)
        st.timed(lambda: spec.run(Pipeline(
            self.profile, spec.result_type(profile=self.profile), cache_root=self.cache_root,
            images_dir=self.images_dir, masks_dir=self.masks_dir,
            executor=self.executor_now(), needed=needed)))
        st.verdicts = [v for v in _checked_verdicts(spec, spec.verdicts(st.result))
                       if self.selected(v.check)]
        st.leaderboards = list(spec.leaderboards(st.result))
        self._compare(spec, st)
        return st.result

    def unplanned(self, spec) -> str | None:
        """Why ``spec`` runs nothing in this session (its tests are skipped)."""
        if self.checks is not None and not any(c.name in self.checks for c in spec.checks):
            return f"none of the {spec.name} suite's checks is among --leg-checks"
        return spec.unplanned(self.profile)

    def undecided(self, reason: str) -> None:
        """An asserted check could not decide: a skip that says why, or under
        ``--leg-strict`` a failure."""
        self.undecided_checks.append(reason)
        if self.strict:
            pytest.fail(f"undecided (--leg-strict): {reason}", pytrace=False)
        pytest.skip(reason)

    def selected(self, check: str) -> bool:
        """Whether ``check`` is among ``--leg-checks`` (every check without the option)."""
        return self.checks is None or check in self.checks

    def verdicts(self, name: str) -> list:
        """The suite's verdicts (computing its results first)."""
        self.results(name)
        return self.state(name).verdicts

    def _compare(self, spec, st) -> None:
        """The suite's metric table against the baseline's (row by row for the same weights,
        per unit across versions), the drift of its kept maps, and the asserted cells that
        passed in the baseline and no longer do."""
        if self.baseline is None or not spec.table:
            return
        from leg.harness.report.baseline import (
            IncompatibleBaseline,
            check_compatible,
            compare_rows,
        )

        try:
            st.changed = check_compatible(self.baseline,
                                          self.identity(getattr(st.result, "fingerprints",
                                                                None)))
        except IncompatibleBaseline as exc:
            st.baseline_error = str(exc)
            return
        st.comparison = compare_rows(spec.metric_rows(st.result),
                                     self.baseline.tables.get(spec.table, []), key=spec.key,
                                     tolerance=self.profile.regression_tolerance,
                                     changed=st.changed, fail=self.compare_fail,
                                     seed=self.profile.seed)
        st.flips = _asserted_flips(spec, st.verdicts, self.baseline.tables.get("verdicts"))
        old = self.baseline.maps(spec.name) if st.changed else None
        if old:
            from leg.harness.report.versions import drift

            agree = [spec.seed_agreement(rows) for rows in (
                self.baseline.tables.get(spec.table, []), spec.metric_rows(st.result))]
            agreement = {k: (v + agree[0][k]) / 2 if k in agree[0] else v
                         for k, v in agree[1].items()}
            maps = {k: m for k, m in spec.original_maps(st.result).items()
                    if k[0] in st.changed}
            st.drift = drift(maps, old, agreement, seed=self.profile.seed,
                             limit=self.compare_fail.drift if self.compare_fail else None)[0]

    def regressed(self, name: str, **match) -> list[str]:
        """What regressed against the baseline in the suite ``name``, one line each (rows
        whose columns equal ``match``): metric rows or units beyond their limit, asserted
        verdicts that passed in the baseline and no longer do, maps that drifted beyond
        ``drift:LIMIT``. Fails the calling test when the baseline could not be used."""
        st = self.state(name)
        if st.baseline_error:
            pytest.fail(st.baseline_error, pytrace=False)
        from leg.harness.report.baseline import regression_lines, regressions

        def matches(r):
            return all(str(r.get(k)) == str(v) for k, v in match.items())

        lines = regression_lines(regressions(st.comparison or [], **match))
        lines += [f"{f['model']}/{f['method']} {f['check']}: the verdict went from pass "
                  f"to {f['after']} (an asserted check)" for f in st.flips if matches(f)]
        lines += [f"{d['model']}/{d['method']} maps drifted: median drift "
                  f"{d['drift']:.3g} (agreement {d['agreement']:.3g} - similarity "
                  f"{d['similarity']:.3g}) beyond the limit {d['limit_text']} over "
                  f"{d['n_images']} images, p = {d['p_holm']:.2g} (Holm)"
                  for d in st.drift if d["status"] == "regressed" and matches(d)]
        return lines


def _asserted_flips(spec, verdicts: list, stored: list[dict] | None) -> list[dict]:
    """The asserted cells of ``spec`` that passed in the baseline's ``verdicts.csv`` rows
    and now have a worse verdict (:func:`leg.harness.checks.verdicts.flip_status`)."""
    if not stored:
        return []
    from leg.harness.checks.verdicts import flip_status

    names = {c.name for c in spec.checks}
    before = {(r["model"], r["method"], r["check"]): r["verdict"] for r in stored
              if r.get("check") in names}
    out = []
    for v in verdicts:
        was = before.get((v.model, v.method, v.check))
        if v.asserted and was == "pass" and flip_status(was, v.verdict) == "regressed":
            out.append({"model": v.model, "method": v.method, "check": v.check,
                        "before": was, "after": v.verdict})
    return out


LEG_KEY = pytest.StashKey[LegSession]()


def leg_session(config) -> LegSession:
    """The harness's session state, made (and the options checked) on first use."""
    if LEG_KEY not in config.stash:
        config.stash[LEG_KEY] = _make_session(config)
    return config.stash[LEG_KEY]


def parametrize_or_skip(metafunc, name: str, values: list, ids: list, reason: str) -> None:
    """Parametrize ``name`` over ``values``; no values: one case skipped with ``reason``
    (clearer than pytest's "got empty parameter set")."""
    if values:
        metafunc.parametrize(name, values, ids=ids)
    else:
        metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                             ids=["none"])


def _checked_verdicts(spec, verdicts) -> list:
    """``verdicts`` of ``spec``, each on one of its declared checks (a suite that reports
    another check is a bug of that suite, said in one line)."""
    declared = {c.name for c in spec.checks}
    out = list(verdicts)
    stray = sorted({v.check for v in out} - declared)
    if stray:
        raise RuntimeError(f"The {spec.name} suite gave verdicts on checks it does not "
                           f"declare: {stray} (declared: {sorted(declared)}).")
    return out


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.addinivalue_line("markers", f"{SUITE_MARKER}(name): a generic test of the suite "
                            "name (leg.harness.evaluation.test_checks)")
    if any(str(a).startswith("--leg-") for a in config.invocation_params.args):
        leg_session(config)  # the harness is asked for: check its options now (usage errors)


def _make_session(config) -> LegSession:
    from leg._tf_allocator import use_bfc_cpu_allocator
    from leg.harness.engine.executors import resolve_executor
    from leg.harness.profiles import get_profile
    from leg.harness.report import Report, package_versions

    try:
        opt = _option_values(config).__getitem__
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    use_bfc_cpu_allocator()  # before TensorFlow computes; inherited by worker processes
    if not opt("--leg-debug"):
        from leg._quiet import quiet_tensorflow

        quiet_tensorflow(load=False)  # TF_CPP_MIN_LOG_LEVEL, inherited by worker processes
    methods, users = opt("--leg-methods"), []
    try:
        if methods:
            from leg.harness.methods import METHODS
            from leg.harness.methods.user import parse_methods

            methods, users = parse_methods(methods, set(METHODS))
        backgrounds = opt("--leg-backgrounds")
        profile = get_profile(opt("--leg-profile")).with_overrides(
            model=opt("--leg-model"), methods=methods or None, seed=opt("--leg-seed"),
            user_methods=users, n_images=opt("--leg-n-images"), stages=opt("--leg-stages"),
            budget=opt("--leg-budget"), grad_cam_layer=opt("--leg-grad-cam-layer"),
            cascade_order=opt("--leg-cascade-order"),
            backgrounds=None if backgrounds is None else tuple(
                b.strip() for b in backgrounds.split(",") if b.strip()))
        checks = _parse_checks(opt("--leg-checks"))
        from leg.harness.report.versions import compare_fail_option

        compare_fail = compare_fail_option(opt("--leg-compare-fail"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    try:
        kind = resolve_executor(opt("--leg-executor"), opt("--leg-workers"),
                                opt("--leg-ray-address"))
    except ValueError as exc:
        raise pytest.UsageError(f"{exc} (--leg-executor, --leg-workers, --leg-ray-address)"
                                ) from exc
    if kind == "ray":
        import importlib.util

        from leg.harness.engine.executors.ray import INSTALL_HINT

        if importlib.util.find_spec("ray") is None:
            raise pytest.UsageError(f"--leg-executor ray needs {INSTALL_HINT}")
    images = opt("--leg-images")
    if images is not None:
        if not Path(images).is_dir():
            raise pytest.UsageError(f"--leg-images {images!r} is not a folder.")
        from leg.harness.engine.inputs import image_folder_names

        try:  # reads every file once: an unreadable one is skipped with one warning
            image_folder_names(images)
        except ValueError as exc:
            raise pytest.UsageError(f"--leg-images: {exc}") from exc
    if compare_fail is not None and not opt("--leg-baseline"):
        raise pytest.UsageError("--leg-compare-fail needs --leg-baseline: it says how much "
                                "worse than the baseline each check may get.")
    masks = opt("--leg-masks")
    if masks is not None:
        if images is None:
            raise pytest.UsageError("--leg-masks names the objects of the --leg-images files; "
                                    "pass --leg-images DIR too.")
        if not Path(masks).is_dir():
            raise pytest.UsageError(f"--leg-masks {masks!r} is not a folder.")
    sess = LegSession(profile=profile, report_dir=Path(opt("--leg-report-dir")),
                      images_dir=images, masks_dir=masks, workers=opt("--leg-workers"),
                      executor_kind=kind,
                      ray_address=opt("--leg-ray-address"), debug=opt("--leg-debug"),
                      capture=config.pluginmanager.getplugin("capturemanager"),
                      plugins=config.pluginmanager, checks=checks,
                      strict=opt("--leg-strict"), compare_fail=compare_fail)
    if images is not None:
        from leg.harness.engine.inputs import files_fingerprint, images_fingerprint

        sess.images_hash = images_fingerprint(images)
        if masks is not None:
            sess.masks_hash = files_fingerprint(masks)
    for s in _suites():  # an installed suite's marker
        config.addinivalue_line("markers", f"{s.marker}: {s.description or s.title}")
    sess.report = Report(sess.report_dir, info={"profile": profile.name})
    sess.report.set_info("configuration", profile.identity())
    sess.report.set_info("options", {k: opt(k) for k in OPTIONS})
    sess.report.set_info("versions", package_versions())
    sess.report.set_info("seeds", {"explanations": profile.seed, "repeats": profile.repeats,
                                   "randomization": profile.randomization_seed})
    if opt("--leg-baseline"):
        from leg.harness.report.baseline import (
            IncompatibleBaseline,
            check_compatible,
            load_baseline,
        )

        try:
            sess.baseline = load_baseline(opt("--leg-baseline"))
            check_compatible(sess.baseline, sess.identity())
        except IncompatibleBaseline as exc:
            raise pytest.UsageError(str(exc)) from exc
    # the checks above need no model, so a wrong option is refused before TensorFlow loads
    if not opt("--leg-debug") and _uses_keras(profile):
        # planning a zoo model's images (its unsaturated digits) already loads it: import
        # TensorFlow now, with its start-up lines held back
        quiet_tensorflow(load=True)
    try:
        _model_options(opt)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return sess


def _parse_checks(text: str | None) -> frozenset | None:
    """``--leg-checks`` as a set of check names (``None``: every check); ``ValueError``
    naming the known checks for an unknown one."""
    if text is None:
        return None
    from leg.harness.engine.suite import checks

    chosen = [c.strip() for c in text.split(",") if c.strip()]
    known = checks()
    unknown = [c for c in chosen if c not in known]
    if unknown or not chosen:
        raise ValueError(f"--leg-checks: unknown checks {unknown}; choose from "
                         f"{', '.join(known)}.")
    return frozenset(chosen)


def _uses_keras(profile) -> bool:
    from leg.zoo import uses_tensorflow

    specs = {spec for s in _suites() if s.uses_keras for spec in s.models(profile)}
    specs |= {p.label_twin for p in profile.models if p.label_twin}
    return any(uses_tensorflow(s) for s in specs)


def _model_options(opt) -> None:
    """``--leg-model`` and its ``--leg-input-size``, ``--leg-preprocessing``,
    ``--leg-softmax``: checked now, by loading the model with them (a module that does not
    import, a missing file or a refused option is a usage error of one line, before any
    test is collected), and carried to every process that loads it. A zoo model without
    options is known good and loads when a suite needs it."""
    from leg.harness.engine.inputs import load_model_once, set_model_options
    from leg.zoo import ZOO_MODELS

    spec = opt("--leg-model")
    given = {"input_size": opt("--leg-input-size"), "preprocessing": opt("--leg-preprocessing"),
             "softmax": opt("--leg-softmax")}
    if spec is None and any(v is not None for v in given.values()):
        names = ", ".join(f"--leg-{k.replace('_', '-')}" for k, v in given.items()
                          if v is not None)
        raise ValueError(f"{names} apply to your model: give it with --leg-model.")
    if any(v is not None for v in given.values()):
        set_model_options(spec, **given)
    elif spec is None or spec in ZOO_MODELS:
        return
    load_model_once(spec)  # ValueError: one line saying what would work


#: The marker of the generic tests of a suite without a pytest module of its own
#: (``leg.harness.evaluation.test_checks``): its argument is the suite's name.
SUITE_MARKER = "leg_suite"


def _harness_items(items) -> bool:
    return any(item.get_closest_marker(m) for item in items
               for m in (*MARKERS, SUITE_MARKER))


def _planned(items) -> tuple[str, ...]:
    """The suites whose tests were collected: their results fixture is asked for, or the
    generic tests name them."""
    names = set()
    for item in items:
        names |= {f.removesuffix("_results") for f in getattr(item, "fixturenames", ())
                  if f.endswith("_results")}
        marker = item.get_closest_marker(SUITE_MARKER)
        if marker is not None:
            names.add(marker.args[0])
    return tuple(s.name for s in _suites() if s.name in names)


def pytest_collection_finish(session):
    if session.config.option.collectonly or not _harness_items(session.items):
        return
    sess = leg_session(session.config)
    sess.active = True
    sess.collected = len(session.items)
    sess.planned = _planned(session.items)
    _print_plan(session, sess)
    if session.config.getoption("--leg-plan"):
        sess.active = False  # no report
        sess.plan_only = True
        return
    _CURRENT.append(sess)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """``--leg-plan``: the plan was printed at collection; no test runs and the run ends
    like ``--collect-only`` (exit status 0, no banner). Collection errors are left to
    pytest."""
    sess = session.config.stash.get(LEG_KEY, None)
    if sess is None or not sess.plan_only or session.testsfailed:
        return None
    from leg.harness.engine.plan import plural

    sess.ending.append(f"leg: --leg-plan: the plan only; none of the "
                       f"{plural(session.testscollected, 'test')} collected was run.")
    return True


def pytest_keyboard_interrupt(excinfo):
    """Tell Ctrl-C (a ``KeyboardInterrupt``) from pytest's own stops, which reach this hook
    too: collection errors and ``session.shouldstop`` (``Session.Interrupted``) and
    ``pytest.exit``."""
    sess = _CURRENT[-1] if _CURRENT else None
    if sess is None:
        return
    exc = excinfo.value
    if isinstance(exc, pytest.exit.Exception):
        sess.stopped_by = f"pytest.exit: {exc.msg}"
    elif not isinstance(exc, pytest.Session.Interrupted):
        sess.ctrl_c = True


def _print_plan(session, sess: LegSession) -> None:
    """Price the run (:mod:`leg.harness.engine.plan`), print it, and keep it for the report."""
    from leg._quiet import quiet_tensorflow
    from leg.harness.engine.plan import make_plan

    planned = [_suite(s) for s in sess.planned if not sess.unplanned(_suite(s))]
    quiet_tensorflow(debug=sess.debug, load=any(s.uses_keras for s in planned))
    try:
        sess.plan = make_plan(sess.profile, sess.images_dir, planned)
    except Exception as exc:  # never a reason not to run
        lines = [f"leg plan: could not be made ({type(exc).__name__}: {exc})"]
    else:
        lines = sess.plan.lines()
        sess.report.set_info("plan", sess.plan.as_dict())
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        for line in lines:
            tr.write_line(line)


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


def pytest_report_header(config) -> list[str]:
    """One line per image of ``--leg-images`` that ``--leg-masks`` gives no usable mask
    (missing, unreadable, wrong size, empty): the other images are still localised."""
    sess = config.stash.get(LEG_KEY, None)
    if sess is None or not sess.masks_dir:
        return []
    from leg.harness.checks.localisation import read_masks

    masks, problems = read_masks(sess.masks_dir, sess.images_dir)
    return ([f"leg: --leg-masks: {line}; that image is not localised"
             for line in problems.values()]
            + ([] if masks else ["leg: --leg-masks: no usable mask: the localisation checks "
                                 "cannot run"]))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The run ends with its verdicts: per model, each method's verdict on each check
    (asserted ones starred), then the asserted checks that could not decide and how many
    images they need; then where the report is (each on a line of its own, after pytest's
    progress)."""
    sess = config.stash.get(LEG_KEY, None)
    if sess is None:
        return
    if sess.report_written:
        from leg.harness.report.overview import verdicts_text

        for line in verdicts_text(sess.report.verdicts):
            terminalreporter.write_line(line)
    for line in sess.ending:
        terminalreporter.write_line(line)


def _strict(session, sess: LegSession) -> None:
    """``--leg-strict``: an asserted check that could not decide fails the run, one line
    each (the tests that met it failed already; this covers the rest)."""
    undecided = [v for v in sess.report.verdicts if v.asserted and v.verdict == "undecided"]
    if not (sess.strict and undecided):
        return
    from leg.harness.engine.plan import plural

    sess.ending += [f"leg: --leg-strict: {v.model} / {v.method} / {v.check} is undecided: "
                    f"{plural(v.n_images, 'image')}, at least 5 are needed (--leg-n-images)"
                    for v in undecided]
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_sessionfinish(session, exitstatus):
    sess = session.config.stash.get(LEG_KEY, None)
    if sess is None:
        return
    if sess in _CURRENT:
        _CURRENT.remove(sess)
    executor, sess.executor = sess.executor, None
    if executor is not None:
        sess.report.set_info("executor", executor.describe())
        executor.shutdown()
    if not sess.active:
        return
    from leg.harness.engine.plan import plural

    ran = len(sess.report.tests)
    of = f"{ran} of {plural(sess.collected, 'test')}"
    if sess.ctrl_c:
        sess.report.interrupted = f"stopped (Ctrl-C) after {of}"
    elif session.shouldstop or session.shouldfail:
        sess.report.stopped = f"after {of} ({session.shouldstop or session.shouldfail})"
    elif sess.stopped_by:
        sess.report.stopped = f"after {of} ({sess.stopped_by})"
    elif exitstatus == pytest.ExitCode.INTERRUPTED and session.testsfailed and not ran:
        # collection errors: pytest ran nothing, and says why
        sess.ending.append(f"leg: no report: {plural(session.testsfailed, 'error')} during "
                           "collection, no test was run.")
        return
    path, comparison = write_report(sess, int(exitstatus))
    sess.report_written = True
    _strict(session, sess)
    sess.ending.append(f"leg report: {path}")
    if comparison is not None:
        from leg.harness.report.compare import write_comparison

        page = write_comparison(comparison, path)
        sess.ending.append(f"leg comparison: {page} ({comparison.summary()})")
        sess.ending += [f"leg comparison: warning: {line}" for line in comparison.environment]


def write_report(sess: LegSession, exit_status: int):
    """Write the run's report (every suite's section, also when tests failed):
    ``(run folder, comparison with the baseline or None)``."""
    rep = sess.report
    rep.set_info("exit_status", exit_status)
    rep.set_info("timings", {f"{name}_total": st.seconds for name, st in sess.suites.items()
                             if st.seconds is not None})
    fingerprints = None
    for spec in _suites():
        st = sess.suites.get(spec.name)
        if st is None:
            continue
        res = st.result
        if res is None:
            if st.error:
                rep.add_section(spec.title, f"Not computed: {st.error}", order=spec.order,
                                open=True)
            continue
        fingerprints = {**(fingerprints or {}), **(getattr(res, "fingerprints", None) or {})}
        kept = spec.original_maps(res)
        if kept:
            from leg.harness.report.versions import maps_bytes

            rep.add_file(f"maps-{spec.name}.npz", maps_bytes(kept))
        rep.set_info(spec.name, spec.info(res))
        rep.add_verdicts(st.verdicts)
        rep.add_leaderboards(st.leaderboards)
        if st.comparison is not None:
            from leg.harness.report.baseline import add_comparison_section

            add_comparison_section(rep, f"{spec.name}_vs_baseline",
                                   f"{spec.title}: comparison with the baseline",
                                   st.comparison, spec.order + 5)
        try:
            spec.report(rep, res)
        except Exception as exc:  # the report must still be written
            rep.add_section("Report errors",
                            f"Could not render the {spec.name} section: {exc!r}",
                            order=90, open=True)
    _not_run_cells(sess, rep)
    _retries_section(rep)
    if sess.plan is not None and sess.plan.work:
        _plan_section(sess, rep)
    if sess.images_dir is not None:
        _skipped_images_section(sess, rep)
    rep.set_info("interrupted", rep.interrupted)
    rep.set_info("stopped", rep.stopped)
    from leg.harness.engine.inputs import model_records, saturated_digits

    rep.set_info("model_inputs", model_records())
    rep.set_info("saturated_digits", saturated_digits())
    rep.set_info("identity", sess.identity(fingerprints))
    from leg.harness.report.environment import environment

    rep.set_info("environment", environment())
    comparison = _compare_runs(sess, rep) if sess.baseline is not None else None
    return rep.write(), comparison


def _not_run_cells(sess: LegSession, rep) -> None:
    """A "not run" cell in the verdict matrix for every cell of a collected suite that has no
    result (interrupted before it, or failed), saying why."""
    from leg.harness.checks.verdicts import Verdict

    have = {(v.model, v.method, v.check) for v in rep.verdicts}
    for spec in _suites():
        st = sess.suites.get(spec.name)
        if spec.name not in sess.planned or (st is not None and st.result is not None):
            continue
        if sess.unplanned(spec):
            continue
        why = (f"the {spec.name} suite failed: {st.error}" if st is not None and st.error
               else f"the run stopped before the {spec.name} suite finished"
               if rep.interrupted or rep.stopped
               else f"the {spec.name} suite did not run")
        rep.add_verdicts([Verdict(c.model, c.method, c.check, "not-run", detail=why)
                          for c in spec.planned_cells(sess.profile, sess.images_dir)
                          if (c.model, c.method, c.check) not in have
                          and sess.selected(c.check)])


def _retries_section(rep) -> None:
    """The workers that died during the run and what was retried (``run.json``'s
    ``executor`` says the same; no table, so a run that survived a death writes the same
    CSVs as an undisturbed one)."""
    info = rep.info.get("executor") or {}
    retries = info.get("retries") or []
    if not retries:
        return
    lines = [f"{info.get('worker_deaths', len(retries))} worker process(es) died during the "
             "run. The item each was computing was computed again on a new worker (an item "
             "whose worker died 3 times is that item's error instead); every other result "
             "was kept.", ""]
    lines += [f"- `{r['job']}`: item `{r['item'][:16]}`, worker {r['worker_exit']}, attempt "
              f"{r['attempt']}" for r in retries[:50]]
    rep.add_section("Workers that died", "\n".join(lines), order=4, open=True)


def _plan_section(sess: LegSession, rep) -> None:
    """The plan as printed, and its estimate against the time each suite took."""
    est = sess.plan.suite_seconds()
    rows = [{"suite": name, "estimated_s": round(est[name], 1),
             "took_s": None if sess.suites.get(name) is None or sess.suites[name].seconds is None
             else round(sess.suites[name].seconds, 1)} for name in est]
    rep.add_table("plan", rows, title="Plan: estimated and actual seconds per suite")
    text = "\n".join(["```", *sess.plan.lines(), "```"])
    rep.add_section("Plan and cost", text, order=3, tables=[("plan", None)])


def _skipped_images_section(sess: LegSession, rep) -> None:
    from leg.harness.engine.inputs import skipped_images

    try:
        skipped = skipped_images(sess.images_dir)
    except ValueError:
        return
    rep.set_info("skipped_images", skipped)
    if skipped:
        rep.add_section("Skipped images", "\n".join(
            [f"{len(skipped)} file(s) of {sess.images_dir} could not be read and were left "
             "out:", ""] + [f"- `{name}`: {why}" for name, why in skipped.items()]),
            order=5, open=True)


def _compare_runs(sess: LegSession, rep):
    """Regression mode: this run against the baseline (announced on the report's first
    screen; the page is written next to the run)."""
    from leg.harness.report.compare import compare_runs

    try:
        comparison = compare_runs(sess.baseline, rep.as_run(), fail=sess.compare_fail)
    except Exception as exc:  # the report must still be written
        rep.notice = (f"Not compared with the baseline {sess.baseline.path}: {exc}", None)
        return None
    rep.notice = (f"Against the baseline {sess.baseline.path}: {comparison.summary()}.",
                  "comparison.html")
    rep.warnings += comparison.environment
    from leg.harness.report.compare import add_versions_section

    add_versions_section(rep, comparison)
    return comparison


class _TerminalStream:
    """A file writing to the terminal around pytest's output capture: the progress of
    :func:`leg.harness.engine.jobs.run_jobs` shows as jobs finish (bars on a terminal, a
    line per job in a log), on a line of its own, never glued to pytest's progress dots."""

    def __init__(self, capture, terminal=None):
        self._capture = capture
        self._terminal = terminal  # pytest's terminal reporter (None: not there)

    def write(self, text: str) -> None:
        with self._capture.global_and_fixture_disabled():
            writer = getattr(self._terminal, "_tw", None)
            if getattr(writer, "width_of_current_line", 0):  # pytest is mid-line (dots)
                writer.line()
            sys.stderr.write(text)
            sys.stderr.flush()

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        with self._capture.global_and_fixture_disabled():
            return sys.stderr.isatty()


@pytest.fixture(scope="session")
def leg(request) -> LegSession:
    """The harness's session state (profile, report, baseline, suites)."""
    return leg_session(request.config)


@pytest.fixture(scope="session")
def leg_report(leg):
    """The run's :class:`leg.harness.report.Report` (suites add tables and sections)."""
    return leg.report


@pytest.fixture
def leg_evaluate():
    """:func:`leg.harness.api.evaluate`: run the harness on your model and method from a test
    of your own and assert on the verdicts (``run.verdict("cascading", method="mine")``)."""
    from leg.harness.api import evaluate

    return evaluate


def results_fixture(name: str):
    """A session fixture ``<name>_results``: the suite ``name``'s results, computed once per
    session (cached). A suite's pytest module declares its own:
    ``sanity_results = results_fixture("sanity")``."""

    @pytest.fixture(scope="session", name=f"{name}_results")
    def results(leg):
        return leg.results(name)

    results.__doc__ = f"The {name} suite's results, computed once per session (cached)."
    return results
