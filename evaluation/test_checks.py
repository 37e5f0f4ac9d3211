"""The tests of every suite that has no pytest module of its own: a suite another package
installs (entry-point group ``leg.checks``) or a new module under
:mod:`leg.harness.checks` with ``tests = None`` (:mod:`leg.harness.engine.suite`).

Per asserted cell of the suite's verdict matrix (:meth:`~leg.harness.engine.suite.Suite.
planned_cells`, ``asserted``): its verdict must pass ("expected-failure" is an xfail, "not
significant" a skip that says how many images were used, a failure under ``--leg-strict``);
per suite: nothing regressed
against a baseline (``--leg-baseline``). Each test carries its suite's marker, so ``-m NAME``
selects it.
"""

from __future__ import annotations

import pytest


def _generic(sess) -> list:
    from leg.harness.engine.suite import suites

    return [s for s in suites() if s.tests is None]


def _marks(suite) -> list:
    from leg.harness.plugin import SUITE_MARKER

    return [getattr(pytest.mark, suite.marker), getattr(pytest.mark, SUITE_MARKER)(suite.name)]


def pytest_generate_tests(metafunc):
    from leg.harness.plugin import leg_session

    sess = leg_session(metafunc.config)
    if "cell" in metafunc.fixturenames:
        params = []
        for s in _generic(sess):
            why = sess.unplanned(s)
            if why:
                params.append(pytest.param((s.name, None), id=f"{s.name}-none",
                                           marks=[*_marks(s), pytest.mark.skip(reason=why)]))
                continue
            params += [pytest.param((s.name, c), id=f"{s.name}-{c.model}-{c.method}-{c.check}",
                                    marks=_marks(s))
                       for c in s.planned_cells(sess.profile, sess.images_dir)
                       if c.asserted and sess.selected(c.check)]
        metafunc.parametrize("cell", params or [pytest.param(
            (None, None), marks=pytest.mark.skip(reason="no installed suite without a test "
                                                       "module of its own"))])
    if "suite_name" in metafunc.fixturenames:
        params = [pytest.param(s.name, id=s.name, marks=_marks(s)) for s in _generic(sess)]
        metafunc.parametrize("suite_name", params or [pytest.param(
            None, marks=pytest.mark.skip(reason="no installed suite without a test module of "
                                               "its own"))])


def test_asserted_verdict_passes(cell, leg):
    """An asserted cell of a generic suite passes."""
    name, c = cell
    verdict = next((v for v in leg.verdicts(name)
                    if (v.model, v.method, v.check) == (c.model, c.method, c.check)), None)
    if verdict is None or verdict.verdict == "not-run":
        pytest.fail(f"{c.method} / {c.check} on {c.model} was not run: "
                    f"{verdict.detail if verdict else 'no verdict'}")
    if verdict.verdict == "undecided":
        leg.undecided(f"{c.method} / {c.check} on {c.model}: {verdict.n_images} images, at "
                      f"least 5 are needed ({verdict.detail})")
    if verdict.verdict == "expected-failure":
        pytest.xfail(verdict.detail)
    assert verdict.verdict == "pass", (
        f"{c.method} / {c.check} on {c.model}: {verdict.verdict} ({verdict.detail})")


def test_no_regression(suite_name, leg):
    """Regression mode (``--leg-baseline``): no metric of the suite moved the wrong way beyond
    the tolerance (across versions of the model: no check got significantly worse beyond
    its limit), and no asserted verdict that passed in the baseline stopped passing."""
    leg.results(suite_name)
    if leg.baseline is None:
        pytest.skip("no --leg-baseline")
    bad = leg.regressed(suite_name)
    assert not bad, "Regressed against the baseline: " + "; ".join(bad[:20])
