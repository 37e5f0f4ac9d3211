"""CI's Hypothesis profile (registered in conftest.py, chosen by HYPOTHESIS_PROFILE=ci in
.ci/run): the property tests draw the same cases on every CI run."""

from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
ROOT = Path(__file__).resolve().parents[1]


def test_ci_profile_is_derandomized_and_ci_selects_it():
    ci = hypothesis.settings.get_profile("ci")
    assert ci.derandomize and ci.database is None and ci.print_blob and ci.deadline is None
    assert "export HYPOTHESIS_PROFILE=ci" in (ROOT / ".ci" / "run").read_text()


def test_the_ci_profile_draws_the_same_cases_twice():
    from hypothesis import given
    from hypothesis import strategies as st

    def draws():
        seen = []

        @hypothesis.settings(hypothesis.settings.get_profile("ci"), max_examples=30)
        @given(st.integers(), st.floats(allow_nan=False))
        def prop(i, x):
            seen.append((i, x))

        prop()
        return seen

    first = draws()
    assert first == draws() and len(first) > 10
