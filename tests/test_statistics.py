"""leg.harness.checks.statistics: paired comparisons over images, their CIs, p-values and
verdicts."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, wilcoxon

from leg.harness.checks.statistics import (
    EXACT_MAX,
    STATISTICS_VERDICTS,
    compare_paired,
    detectable,
    images_for_power,
    median_ci,
    min_images_for,
    min_p_value,
    pearson,
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


# --- boundaries: each test below fails on a specific mutant of statistics.py -----------------

def test_ci_contains_the_median_in_floating_point():
    # the bootstrap medians are -997.9999999999999 (most) and 0; SciPy's quantile put the low
    # end at (1 - g) * x + g * x = -997.9999999999998, one float step above the median x
    x = 997.9999999999999
    res = compare_paired([0.0, 0.0, 0.0], [0.0, x, x], higher_is_better=False, n_resamples=499)
    assert res.median == -x
    assert res.ci_low == -x and res.ci_high == 0.0


def test_two_differing_images_get_a_bootstrap_interval():
    # only one image, or identical differences, make the bootstrap a single point
    res = compare_paired([1.0, 3.0], [0.0, 0.0], higher_is_better=True)
    assert (res.ci_low, res.median, res.ci_high) == (1.0, 2.0, 3.0)


def test_p_exactly_alpha_is_not_significant():
    # alpha = 1/32 needs 6 images; 6 untied differences with only the smallest on the wrong
    # side give exactly p = 2/64 = alpha (W+ = 20 or 21 of 21): "p < alpha" does not hold
    d = np.array([-1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    alpha = 1 / 32
    assert min_images_for(alpha) == 6
    better = compare_paired(d, 0.0, higher_is_better=True, alpha=alpha)
    assert better.p_value == alpha and better.verdict == "not significant"
    worse = compare_paired(-d, 0.0, higher_is_better=True, alpha=alpha)
    assert worse.p_worse == alpha and worse.verdict == "not significant"
    # just above the attainable p: a pass and a fail
    assert compare_paired(d, 0.0, higher_is_better=True, alpha=alpha * 1.01).verdict == "pass"
    assert compare_paired(-d, 0.0, higher_is_better=True, alpha=alpha * 1.01).verdict == "fail"
    # the same with tied |d| (the exact convolution): ranks 1, 2, 3, 4, 5.5, 5.5, W+ = 20
    tied = np.array([-1.0, 2.0, 3.0, 4.0, 6.0, 6.0])
    res = compare_paired(tied, 0.0, higher_is_better=True, alpha=alpha)
    assert res.p_value == alpha and res.verdict == "not significant"
    # and the sign test: 6 wins of 7 give p = 8/128 = 1/16
    sign = compare_paired(np.r_[-1.0, d[1:], 7.0], 0.0, higher_is_better=True, alpha=1 / 16,
                          test="sign")
    assert sign.p_value == 1 / 16 and sign.verdict == "not significant"


def test_at_min_images_the_verdict_is_decided():
    # n == min_images_for(alpha): all better passes, all worse fails (compare and require)
    d = np.arange(1.0, 6.0)
    assert compare_paired(d, 0.0, higher_is_better=True).verdict == "pass"
    assert compare_paired(-d, 0.0, higher_is_better=True).verdict == "fail"
    assert compare_paired(-d, 0.0, higher_is_better=True, rule="require").verdict == "fail"
    # one image fewer: the same data cannot decide
    assert compare_paired(-d[:4], 0.0, higher_is_better=True).verdict == "not significant"


@pytest.mark.parametrize("n, exact", [(50, True), (51, False)])
def test_untied_switch_from_exact_to_normal_approximation(n, exact):
    d = np.arange(1.0, n + 1)
    d[[0, 2, 5, 9, 14]] *= -1  # no ties, a few losses: the exact and normal p-values differ
    p = compare_paired(d, 0.0, higher_is_better=True, n_resamples=9).p_value
    p_exact = wilcoxon(d, alternative="greater", method="exact").pvalue
    p_normal = wilcoxon(d, alternative="greater", method="asymptotic").pvalue
    assert p_normal > 100 * p_exact  # far apart at these n
    assert p == pytest.approx(p_exact if exact else p_normal, rel=1e-9)
    worse = compare_paired(-d, 0.0, higher_is_better=True, n_resamples=9).p_worse
    assert worse == pytest.approx(p, rel=1e-9)  # the other side, the same switch


@pytest.mark.parametrize("n, exact", [(EXACT_MAX, True), (EXACT_MAX + 1, False)])
def test_tied_switch_from_exact_to_normal_approximation(n, exact):
    d = np.ceil(np.arange(1.0, n + 1) / 2)  # every |d| twice
    d[[0, 3, 6, 10, 20, 30, 40, 50]] *= -1
    p = compare_paired(d, 0.0, higher_is_better=True, n_resamples=9).p_value
    p_normal = wilcoxon(d, alternative="greater", method="asymptotic").pvalue
    if exact:  # the exact tail is far below the normal one here
        assert p < 1e-12 * p_normal
    else:
        assert p == pytest.approx(p_normal, rel=1e-9)


def test_ties_count_as_neither_better_nor_worse():
    d = np.array([-2.0, -1.0, 0.0, 0.0, 3.0])
    low = compare_paired(d, 0.0, higher_is_better=False, n_resamples=9)
    assert (low.n_better, low.n_worse, low.n_tied) == (2, 1, 2)
    high = compare_paired(d, 0.0, higher_is_better=True, n_resamples=9)
    assert (high.n_better, high.n_worse, high.n_tied) == (1, 2, 2)
    assert low.n_images == high.n_images == 5
    # zero differences are dropped by both tests: p over the 3 non-zero ones
    assert high.p_value == pytest.approx(wilcoxon([-2.0, -1.0, 3.0],
                                                  alternative="greater").pvalue)


def test_sign_test_both_sides_and_direction():
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, -5.0, 0.0])
    up = compare_paired(d, 0.0, higher_is_better=True, test="sign", n_resamples=9)
    assert up.p_value == pytest.approx(binomtest(6, 7, alternative="greater").pvalue)
    assert up.p_worse == pytest.approx(binomtest(6, 7, alternative="less").pvalue)
    down = compare_paired(d, 0.0, higher_is_better=False, test="sign", n_resamples=9)
    assert (down.p_value, down.p_worse) == (up.p_worse, up.p_value)
    assert down.test == "sign" and down.n_tied == 1


def test_wilcoxon_lower_is_better_uses_the_lower_tail():
    d = np.array([-0.5, 0.2, -1.3, -0.8, -2.1, 0.1, -0.9])
    res = compare_paired(d, 0.0, higher_is_better=False)
    assert res.p_value == pytest.approx(wilcoxon(d, alternative="less").pvalue)
    assert res.p_worse == pytest.approx(wilcoxon(d, alternative="greater").pvalue)
    tied = np.array([-1.0, -1.0, 1.0, -2.0, -2.0, -3.0])
    t = compare_paired(tied, 0.0, higher_is_better=False)
    # midranks 2, 2, 2, 4.5, 4.5, 6; W+ = 2 (the one positive difference). Of the 2**6 sign
    # patterns, W+ <= 2 for none positive or one of the three rank-2 ones: 4; W+ >= 2 for all
    # but none positive: 63
    assert t.p_value == pytest.approx(4 / 64)
    assert t.p_worse == pytest.approx(63 / 64)


@pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning")  # 1 resample: no SE
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_result_fields_and_summary():
    v = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    r = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    res = compare_paired(v, r, higher_is_better=np.True_, alpha=0.1, rule="require",
                         confidence_level=0.9, n_resamples=1, seed=0)
    assert res.higher_is_better is True and res.rule == "require" and res.test == "wilcoxon"
    assert (res.alpha, res.confidence_level, res.n_images) == (0.1, 0.9, 5)
    assert (res.method_median, res.reference_median, res.median) == (4.0, 1.0, 3.0)
    assert res.p_value == 1 / 32 and res.p_worse == 1.0 and res.verdict == "pass"
    assert res.as_dict()["p_value"] == res.p_value and len(res.as_dict()) == 17
    assert res.row() == {"n_images": 5, "ci_low": res.ci_low, "ci_high": res.ci_high,
                         "p_value": 1 / 32}
    one = compare_paired([0.25], 0.0, higher_is_better=False)
    assert one.summary() == ("median diff 0.25 [95% CI 0.25, 0.25], p = 1 (wilcoxon, n = 1): "
                             "not significant")


def test_bootstrap_settings_reach_the_ci():
    rng = np.random.default_rng(7)
    d = rng.normal(size=12)
    wide = compare_paired(d, 0.0, higher_is_better=True, confidence_level=0.99, n_resamples=999)
    narrow = compare_paired(d, 0.0, higher_is_better=True, confidence_level=0.5, n_resamples=999)
    assert wide.ci_low < narrow.ci_low <= narrow.median <= narrow.ci_high < wide.ci_high
    a = compare_paired(d, 0.0, higher_is_better=True, n_resamples=9)
    b = compare_paired(d, 0.0, higher_is_better=True)
    assert (a.ci_low, a.ci_high) != (b.ci_low, b.ci_high)


def test_median_ci():
    from scipy.stats import bootstrap

    v = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    med, lo, hi = median_ci(v, seed=3)
    ref = bootstrap((v,), np.median, rng=np.random.default_rng(3), n_resamples=9999,
                    method="percentile", confidence_level=0.95).confidence_interval
    assert med == 3.5
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert median_ci(v, seed=3) == (med, lo, hi)
    # the seed shows where the level cuts the bootstrap distribution between two of its
    # values: of [1, 2, 3], P(median 1) = P(median 3) = 7/27
    level = 1 - 14 / 27
    assert median_ci([1.0, 2.0, 3.0], seed=0, confidence_level=level) != median_ci(
        [1.0, 2.0, 3.0], seed=1, confidence_level=level)
    _, lo50, hi50 = median_ci(v, seed=3, confidence_level=0.5)
    assert lo < lo50 <= med <= hi50 < hi
    from fractions import Fraction

    as_float = median_ci([0.5, 1.0, 4.0, 2.5], seed=2)
    assert median_ci([Fraction(1, 2), 1, 4, Fraction(5, 2)], seed=2) == as_float
    assert median_ci([2.5]) == (2.5, 2.5, 2.5)
    assert median_ci([7.0, 7.0, 7.0]) == (7.0, 7.0, 7.0)
    for bad in ([], [[1.0, 2.0]], [1.0, np.nan], [np.inf]):
        with pytest.raises(ValueError, match="non-empty finite 1-D"):
            median_ci(bad)


def test_validation_edges():
    assert compare_paired([1.0] * 5, 0.0, higher_is_better=True, alpha=1.0).verdict == "pass"
    with pytest.raises(ValueError, match="'n_resamples'"):
        compare_paired([1.0], 0.0, higher_is_better=True, n_resamples=0)
    with pytest.raises(ValueError, match="'seed'"):
        compare_paired([1.0], 0.0, higher_is_better=True, seed=-1)
    with pytest.raises(ValueError, match="'alpha'"):
        compare_paired([1.0], 0.0, higher_is_better=True, alpha=1.5)
    with pytest.raises(ValueError, match="'confidence_level'"):
        compare_paired([1.0], 0.0, higher_is_better=True, confidence_level=0.0)
    with pytest.raises(ValueError, match=r"^The 'confidence_level' must be below 1; got 1.0.$"):
        compare_paired([1.0], 0.0, higher_is_better=True, confidence_level=1.0)
    with pytest.raises(ValueError, match=r"reference.*\(2,\).*got \(3,\)"):
        compare_paired([1.0, 2.0], [1.0, 2.0, 3.0], higher_is_better=True)
    with pytest.raises(ValueError, match=r"^The 'values' must be a non-empty 1-D"):
        compare_paired([[1.0, 2.0]], 0.0, higher_is_better=True)
    with pytest.raises(ValueError, match=r"^The 'reference' contain non-finite"):
        compare_paired([1.0], [np.nan], higher_is_better=True)
    with pytest.raises(TypeError, match=r"^The 'higher_is_better' must be a bool; got 1.$"):
        compare_paired([1.0], 0.0, higher_is_better=1)


def test_min_images_and_p_edges():
    assert min_images_for(1.0) == 1 and min_images_for(0.5) == 2
    assert min_images_for() == 5
    assert min_p_value(0) == 1.0 and min_p_value(3) == 0.125
    # exactly attainable alphas: 2**-k is not below 2**-k
    assert sign_test_power(6, 1.0, alpha=1 / 64) == 0.0
    assert sign_test_power(7, 1.0, alpha=1 / 64) == 1.0
    assert sign_test_power(5, 0.5) == pytest.approx(1 / 32)
    assert images_for_power(1.0, power=1.0) == 5
    assert images_for_power(1.0, alpha=0.75) == 1
    assert images_for_power(1.0, max_images=5) == 5
    with pytest.raises(ValueError, match=r"^No number of images up to 4 gives power 0.8 at "
                                         r"p_better=1.0, alpha=0.05.$"):
        images_for_power(1.0, max_images=4)


# of [1, 2, 3], seed 0 and 9999 resamples draw 2539 bootstrap medians of 1: at this level the
# low end interpolates between the last 1 and the first 2, where any other draw shows
_LEVEL = 0.4922


@pytest.mark.parametrize("call, message", [
    (lambda: min_p_value(-1), "The 'n_images' parameter must be an integer >= 0; got -1."),
    (lambda: min_images_for(0.0),
     "The 'alpha' parameter must be a finite number in the range (0, 1]; got 0.0."),
    (lambda: min_images_for(1.5),
     "The 'alpha' parameter must be a finite number in the range (0, 1]; got 1.5."),
    (lambda: sign_test_power(0, 0.5), "The 'n_images' parameter must be an integer >= 1; got 0."),
    (lambda: sign_test_power(5, -0.1),
     "The 'p_better' parameter must be a finite number in the range [0, 1]; got -0.1."),
    (lambda: sign_test_power(5, 1.5),
     "The 'p_better' parameter must be a finite number in the range [0, 1]; got 1.5."),
    (lambda: sign_test_power(5, 0.5, alpha=0.0),
     "The 'alpha' parameter must be a finite number in the range (0, 1]; got 0.0."),
    (lambda: sign_test_power(5, 0.5, alpha=1.5),
     "The 'alpha' parameter must be a finite number in the range (0, 1]; got 1.5."),
    (lambda: images_for_power(0.9, power=0.0),
     "The 'power' parameter must be a finite number in the range (0, 1]; got 0.0."),
    (lambda: images_for_power(0.9, power=1.5),
     "The 'power' parameter must be a finite number in the range (0, 1]; got 1.5."),
    (lambda: images_for_power(0.9, max_images=0),
     "The 'max_images' parameter must be an integer >= 1; got 0."),
    (lambda: compare_paired([1.0], 0.0, higher_is_better=True, alpha=0.0),
     "The 'alpha' parameter must be a finite number in the range (0, 1]; got 0.0."),
    (lambda: compare_paired([1.0], 0.0, higher_is_better=True, alpha=1.5),
     "The 'alpha' parameter must be a finite number in the range (0, 1]; got 1.5."),
    (lambda: compare_paired([1.0], 0.0, higher_is_better=True, confidence_level=0.0),
     "The 'confidence_level' parameter must be a finite number in the range (0, 1]; got 0.0."),
    (lambda: compare_paired([1.0], 0.0, higher_is_better=True, confidence_level=1.5),
     "The 'confidence_level' parameter must be a finite number in the range (0, 1]; got 1.5."),
    (lambda: compare_paired([1.0], 0.0, higher_is_better=True, n_resamples=0),
     "The 'n_resamples' parameter must be an integer >= 1; got 0."),
    (lambda: compare_paired([1.0], 0.0, higher_is_better=True, seed=-1),
     "The 'seed' parameter must be an integer >= 0; got -1."),
    (lambda: compare_paired([1.0], 0.0, higher_is_better=True, rule="x"),
     "The 'rule' parameter must be one of ['compare', 'require']; got 'x'."),
    (lambda: compare_paired([1.0], 0.0, higher_is_better=True, test="x"),
     "The 'test' parameter must be one of ['sign', 'wilcoxon']; got 'x'."),
    (lambda: compare_paired([np.inf], 0.0, higher_is_better=True),
     "The 'values' contain non-finite values; map a missing result to a finite worst value "
     "before comparing."),
])
def test_refusals_name_the_parameter_and_its_range(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_defaults_are_9999_resamples_seed_0_and_95_percent():
    v = [1.0, 2.0, 3.0]
    default = compare_paired(v, 0.0, higher_is_better=True, confidence_level=_LEVEL)
    assert default == compare_paired(v, 0.0, higher_is_better=True, confidence_level=_LEVEL,
                                     n_resamples=9999, seed=0)
    assert default != compare_paired(v, 0.0, higher_is_better=True, confidence_level=_LEVEL,
                                      n_resamples=10000)
    assert default != compare_paired(v, 0.0, higher_is_better=True, confidence_level=_LEVEL,
                                      seed=1)
    # median_ci: the same bootstrap (9999 resamples, seed 0)
    assert median_ci(v, confidence_level=_LEVEL) == (2.0, default.ci_low, default.ci_high)
    w = np.random.default_rng(1).normal(size=10)
    assert median_ci(w) == median_ci(w, seed=0, confidence_level=0.95)
    d = compare_paired(w, 0.0, higher_is_better=True)
    assert median_ci(w)[1:] == (d.ci_low, d.ci_high) and d.confidence_level == 0.95


def test_any_real_numbers_are_compared_as_floats():
    from fractions import Fraction

    # ints and Fractions: read as float64 (an int array would truncate a 0.5 reference)
    res = compare_paired([1, 2, 3], 0.5, higher_is_better=True, n_resamples=9)
    assert (res.median, res.reference_median) == (1.5, 0.5)
    frac = compare_paired([Fraction(3, 2), Fraction(5, 2)], [Fraction(1, 2), Fraction(1, 4)],
                          higher_is_better=True, n_resamples=9)
    assert (frac.method_median, frac.reference_median, frac.median) == (2.0, 0.375, 1.625)


def test_detectable_is_the_smallest_share_a_sample_shows_with_the_power():
    """5 images need every one better (p = 1/32), so the share is 0.8 ** (1/5) = 0.956 -> 0.96;
    fewer images show nothing; on the 0.01 grid the answer is the first share that reaches
    the power."""
    assert detectable(4) is None
    assert detectable(5) == pytest.approx(0.96)
    assert detectable(5) == detectable(5, 0.8, 0.05)
    for n in (8, 20):
        share = detectable(n)
        assert sign_test_power(n, share) >= 0.8 > sign_test_power(n, share - 0.01)
    assert detectable(20) < detectable(8) < 1.0
    assert detectable(20, power=0.95) > detectable(20)
    assert detectable(20, alpha=0.01) > detectable(20)  # alpha is passed on
    assert detectable(1) is None  # one image is a valid (hopeless) sample, not an error
    with pytest.raises(ValueError, match="'n_images'"):
        detectable(0)


def test_detectable_searches_shares_above_one_half_and_reaches_the_power_exactly():
    """A share of 0.5 or less is no evidence of being better, however low the power asked
    (5 images: 0.4 ** 5 > 0.01 already); enough images show 0.51, the grid's first share;
    a power of exactly 1 is reached by a share of 1."""
    assert detectable(5, power=0.01) == pytest.approx(0.51)
    assert detectable(20000) == pytest.approx(0.51)
    assert detectable(5, power=1.0) == 1.0


def test_images_for_power_gives_up_at_its_limit():
    with pytest.raises(ValueError, match="up to 1000 gives power"):
        images_for_power(0.5)


def test_pearson_flattens_and_reads_a_constant_as_no_correlation():
    a = np.arange(6.0).reshape(2, 3)
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert pearson(a, -a) == pytest.approx(-1.0)
    assert pearson([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert pearson(a, np.ones((2, 3))) == 0.0 and pearson(np.ones(6), a) == 0.0
