"""leg.harness.checks.statistics: paired comparisons over images, their CIs, p-values and
verdicts."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, wilcoxon

from leg.harness.checks.statistics import (
    STATISTICS_VERDICTS,
    compare_paired,
    images_for_power,
    min_images_for,
    min_p_value,
    sign_test_power,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=12), st.booleans(),
       st.sampled_from(["compare", "require"]), st.sampled_from(["wilcoxon", "sign"]))
# SciPy's percentile interpolated between two equal bootstrap medians one float step off them:
# the CI missed the median it should contain (test_ci_contains_the_median_in_floating_point)
@example(pairs=[(0.0, 0.0), (0.0, 997.9999999999999), (0.0, 997.9999999999999)], higher=False,
         rule="compare", test="wilcoxon")
@example(pairs=[(0.0, 0.0), (931.0, 0.0), (931.0, 0.0)], higher=False, rule="compare",
         test="wilcoxon")
def test_properties(pairs, higher, rule, test):
    v, r = np.array(pairs).T
    res = compare_paired(v, r, higher_is_better=higher, rule=rule, test=test, n_resamples=499)
    assert res.ci_low <= res.median <= res.ci_high
    assert 0.0 <= res.p_value <= 1.0 and 0.0 <= res.p_worse <= 1.0
    assert res.verdict in STATISTICS_VERDICTS
    assert res.n_better + res.n_worse + res.n_tied == res.n_images == len(pairs)
    if len(pairs) < min_images_for(0.05):
        assert res.verdict == "not significant"


@settings(max_examples=30, deadline=None)
@given(finite, finite, st.booleans(), st.sampled_from(["compare", "require"]))
def test_one_image_is_never_pass_or_fail(v, r, higher, rule):
    res = compare_paired([v], [r], higher_is_better=higher, rule=rule)
    assert res.verdict == "not significant"
    assert res.ci_low == res.ci_high == res.median == v - r


def test_clearly_better_over_8_images_passes():
    rng = np.random.default_rng(1)
    ref = rng.uniform(0.3, 0.5, 8)
    better = ref - rng.uniform(0.1, 0.2, 8)  # lower is better: every image lower
    res = compare_paired(better, ref, higher_is_better=False)
    assert res.verdict == "pass"
    assert res.p_value == pytest.approx(1 / 256)  # exact: all 8 signs favour the method
    assert res.ci_high < 0 and res.n_better == 8
    up = compare_paired(-better, -ref, higher_is_better=True)  # same data, other direction
    assert up.verdict == "pass" and up.p_value == pytest.approx(res.p_value)


def test_clearly_worse_fails_under_both_rules():
    rng = np.random.default_rng(2)
    ref = rng.uniform(0.3, 0.5, 8)
    worse = ref + rng.uniform(0.1, 0.2, 8)
    for rule in ("compare", "require"):
        res = compare_paired(worse, ref, higher_is_better=False, rule=rule)
        assert res.verdict == "fail" and res.p_worse == pytest.approx(1 / 256)
        assert res.ci_low > 0


def test_identical_values_are_not_significant():
    v = np.linspace(0.1, 0.9, 8)
    res = compare_paired(v, v.copy(), higher_is_better=False)
    assert res.verdict == "not significant" and res.test == "none"
    assert res.p_value == res.p_worse == 1.0
    assert res.median == res.ci_low == res.ci_high == 0.0
    # under "require" the drop was not shown on enough images: a failure
    assert compare_paired(v, v, higher_is_better=False, rule="require").verdict == "fail"


def test_mixed_evidence_is_not_significant_but_require_fails():
    d = np.array([0.1, -0.1, 0.2, -0.2, 0.05, -0.05, 0.3, -0.3])
    assert compare_paired(d, 0.0, higher_is_better=True).verdict == "not significant"
    assert compare_paired(d, 0.0, higher_is_better=True, rule="require").verdict == "fail"


def test_require_below_min_images_is_not_significant():
    res = compare_paired([0.1, 0.2, 0.3, 0.4], 1.0, higher_is_better=False, rule="require")
    assert res.verdict == "not significant" and res.p_value == pytest.approx(1 / 16)


def test_same_seed_same_ci_and_seed_matters():
    rng = np.random.default_rng(3)
    v, r = rng.normal(size=(2, 15))
    a = compare_paired(v, r, higher_is_better=True, seed=5)
    b = compare_paired(v, r, higher_is_better=True, seed=5)
    c = compare_paired(v, r, higher_is_better=True, seed=6)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert a == b
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)


def test_p_values_match_scipy_without_and_with_ties():
    d = np.array([0.5, -0.2, 1.3, 0.8, 2.1, -0.1, 0.9])
    res = compare_paired(d, np.zeros(7), higher_is_better=True)
    assert res.p_value == pytest.approx(wilcoxon(d, alternative="greater").pvalue)
    # ties in |d| and a zero: exact enumeration over the 6 non-zero differences
    d = np.array([1.0, 1.0, -1.0, 2.0, 2.0, 3.0, 0.0])
    res = compare_paired(d, 0.0, higher_is_better=True)
    nz = d[d != 0]
    signs = np.array(np.meshgrid(*[[-1, 1]] * nz.size)).reshape(nz.size, -1).T
    from scipy.stats import rankdata

    ranks = rankdata(np.abs(nz))
    w_plus = (ranks * (signs > 0)).sum(axis=1)
    observed = ranks[nz > 0].sum()
    assert res.p_value == pytest.approx(np.mean(w_plus >= observed - 1e-12))
    assert res.n_tied == 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tied_exact_p_value_matches_scipy_permutation(seed):
    from scipy.stats import PermutationMethod

    d = np.random.default_rng(seed).integers(-3, 6, size=9).astype(float)
    d[d == 0] = 1.0
    assert np.unique(np.abs(d)).size < d.size  # ties
    for alt, higher in (("greater", True), ("less", False)):
        ref = wilcoxon(d, alternative=alt, method=PermutationMethod(n_resamples=2 ** 9)).pvalue
        assert compare_paired(d, 0.0, higher_is_better=higher).p_value == pytest.approx(ref)


def test_large_samples_use_the_normal_approximation():
    rng = np.random.default_rng(4)
    d = rng.normal(0.3, 1.0, 80)
    res = compare_paired(d, 0.0, higher_is_better=True)
    assert res.p_value == pytest.approx(wilcoxon(d, alternative="greater").pvalue)
    tied = np.round(rng.normal(0.3, 1.0, 300), 1)
    res = compare_paired(tied, 0.0, higher_is_better=True, n_resamples=99)
    nz = tied[tied != 0]
    assert res.p_value == pytest.approx(
        wilcoxon(nz, alternative="greater", method="asymptotic").pvalue)
    mid = np.round(rng.normal(0.3, 1.0, 120), 1)  # ties, below EXACT_MAX: exact, near normal
    exact = compare_paired(mid, 0.0, higher_is_better=True, n_resamples=99).p_value
    nz = mid[mid != 0]
    assert exact == pytest.approx(
        wilcoxon(nz, alternative="greater", method="asymptotic").pvalue, rel=0.1, abs=1e-4)


def test_sign_test():
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, -5.0])  # one big loss: Wilcoxon is hurt more
    s = compare_paired(d, 0.0, higher_is_better=True, test="sign")
    assert s.test == "sign"
    assert s.p_value == pytest.approx(binomtest(6, 7, alternative="greater").pvalue)
    w = compare_paired(d, 0.0, higher_is_better=True)
    assert w.p_value > s.p_value


def test_scalar_reference_and_sides():
    res = compare_paired([0.2, 0.4, 0.6], 0.5, higher_is_better=True)
    assert res.reference_median == 0.5 and res.method_median == pytest.approx(0.4)
    assert res.median == pytest.approx(-0.1)
    assert res.summary().startswith("median diff -0.1 [95% CI ")
    assert res.summary().endswith("(wilcoxon, n = 3): not significant")
    assert res.row() == {"n_images": 3, "ci_low": res.ci_low, "ci_high": res.ci_high,
                         "p_value": res.p_value}


def test_min_images():
    assert min_images_for(0.05) == 5 and min_p_value(5) == 1 / 32
    assert min_images_for(0.0625) == 5  # 2**-4 is not below 0.0625
    assert min_images_for(0.01) == 7
    for alpha in (0.2, 0.05, 0.01, 0.001):
        n = min_images_for(alpha)
        assert min_p_value(n) < alpha <= min_p_value(n - 1)
        below = compare_paired(np.ones(n - 1), 0.0, higher_is_better=True, alpha=alpha)
        at = compare_paired(np.arange(1.0, n + 1), 0.0, higher_is_better=True, alpha=alpha)
        assert below.verdict == "not significant" and at.verdict == "pass"


@pytest.mark.parametrize("kwargs, match", [
    (dict(values=[], reference=[]), "non-empty"),
    (dict(values=[1.0, 2.0], reference=[1.0]), "match"),
    (dict(values=[1.0, np.nan], reference=0.0), "non-finite"),
    (dict(values=[1.0], reference=[np.inf]), "non-finite"),
    (dict(values=[1.0], reference=0.0, alpha=0.0), "alpha"),
    (dict(values=[1.0], reference=0.0, rule="strict"), "rule"),
    (dict(values=[1.0], reference=0.0, test="t"), "test"),
    (dict(values=[1.0], reference=0.0, confidence_level=1.0), "confidence_level"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_paired(higher_is_better=True, **kwargs)


def test_direction_must_be_bool():
    with pytest.raises(TypeError, match="higher_is_better"):
        compare_paired([1.0], 0.0, higher_is_better="yes")


def test_sign_test_power():
    # certain wins: power 1 from min_images_for on, 0 below
    assert sign_test_power(4, 1.0) == 0.0 and sign_test_power(5, 1.0) == 1.0
    # n = 8, alpha 0.05: 7 or 8 wins are needed (p(7 of 8) = 9/256)
    assert sign_test_power(8, 0.9) == pytest.approx(0.9 ** 8 + 8 * 0.9 ** 7 * 0.1)
    assert sign_test_power(20, 0.5) < 0.05  # no effect: at most alpha
    assert images_for_power(1.0) == 5
    n = images_for_power(0.9, power=0.8)
    assert sign_test_power(n, 0.9) >= 0.8 > max(sign_test_power(k, 0.9) for k in range(1, n))
    with pytest.raises(ValueError, match="No number"):
        images_for_power(0.5, max_images=50)


def test_ci_contains_the_median_in_floating_point():
    # the bootstrap medians are -997.9999999999999 (most) and 0; SciPy's quantile put the low
    # end at (1 - g) * x + g * x = -997.9999999999998, one float step above the median x
    x = 997.9999999999999
    res = compare_paired([0.0, 0.0, 0.0], [0.0, x, x], higher_is_better=False, n_resamples=499)
    assert res.median == -x
    assert res.ci_low == -x and res.ci_high == 0.0
