"""leg.harness.checks.agreement: Kendall's W across images, agreement between metrics."""

import numpy as np
import pytest
from scipy.stats import friedmanchisquare, spearmanr

from leg.harness.checks.agreement import (
    agreement_matrix,
    kendalls_w,
    metric_agreement,
    reliability_rows,
)


def test_identical_rankings_give_one():
    row = np.array([0.3, 0.1, 0.7, 0.5])
    res = kendalls_w(np.tile(row, (6, 1)) * np.arange(1, 7)[:, None])  # same order, any scale
    assert res.w == pytest.approx(1.0)
    assert res.p_value < 0.01
    assert kendalls_w(-np.tile(row, (6, 1))).w == pytest.approx(1.0)  # direction irrelevant


def test_independent_random_rankings_give_about_zero():
    rng = np.random.default_rng(0)
    res = kendalls_w(rng.uniform(size=(400, 6)))
    assert res.w < 0.02  # E[W] = 1/m under H0
    assert res.p_value > 0.01


def test_textbook_example():
    # ProofWiki, "Kendall's Coefficient of Concordance/Examples/Arbitrary Example 1":
    # 4 judges rank 3 competitors X, Y, Z; W = 1/16.
    ranks = np.array([[1, 3, 2], [1, 2, 3], [2, 3, 1], [3, 1, 2]])
    res = kendalls_w(ranks)
    assert res.w == pytest.approx(1 / 16)
    assert (res.n_raters, res.n_items) == (4, 3)
    assert res.chi2 == pytest.approx(4 * 2 / 16)


def test_hand_computed_with_ties():
    # rater ranks: [1, 2, 3, 4], [1, 2, 3, 4], [1.5, 1.5, 3, 4] -> R = [3.5, 5.5, 9, 12]
    # S = 16 + 4 + 2.25 + 20.25 = 42.5; T = 2**3 - 2 = 6 for the third rater
    scores = np.array([[1, 2, 3, 4], [10, 20, 30, 40], [5, 5, 6, 7]], dtype=float)
    expected = 12 * 42.5 / (9 * 60 - 3 * 6)
    assert kendalls_w(scores).w == pytest.approx(expected)


def test_matches_friedman_and_mean_spearman():
    rng = np.random.default_rng(1)
    base = rng.normal(size=5)
    s = base + rng.normal(scale=0.8, size=(9, 5))
    s[2, :2] = s[2, 0]  # a tie
    res = kendalls_w(s)
    fr = friedmanchisquare(*s.T)
    assert res.chi2 == pytest.approx(fr.statistic)
    assert res.p_value == pytest.approx(fr.pvalue)
    u = base + rng.normal(scale=0.8, size=(9, 5))  # no ties: mean Spearman = (mW - 1)/(m - 1)
    w = kendalls_w(u).w
    rho = spearmanr(u.T).statistic
    pairs = rho[np.triu_indices(9, 1)]
    assert pairs.mean() == pytest.approx((9 * w - 1) / 8)


def test_all_tied_is_nan_and_bad_input():
    assert np.isnan(kendalls_w(np.ones((3, 4))).w)
    with pytest.raises(ValueError, match="2 methods"):
        kendalls_w(np.ones((3, 1)))
    with pytest.raises(ValueError, match="non-finite"):
        kendalls_w([[1.0, np.nan], [1.0, 2.0]])


def test_metric_agreement_orients_by_direction():
    rng = np.random.default_rng(2)
    merit = rng.normal(size=(7, 5))
    deletion = -merit + 0.01 * rng.normal(size=merit.shape)  # lower is better
    insertion = merit  # higher is better
    res = metric_agreement(deletion, insertion, a_higher_is_better=False,
                           b_higher_is_better=True)
    assert res.mean_per_image == pytest.approx(1.0) and res.of_medians == pytest.approx(1.0)
    assert res.n_images == 7
    flipped = metric_agreement(deletion, insertion, a_higher_is_better=True,
                               b_higher_is_better=True, method="spearman")
    assert flipped.mean_per_image == pytest.approx(-1.0)
    noise = metric_agreement(rng.normal(size=(300, 5)), rng.normal(size=(300, 5)),
                             a_higher_is_better=True, b_higher_is_better=True)
    assert abs(noise.mean_per_image) < 0.08  # independent metrics: about 0


def test_metric_agreement_skips_images_a_metric_cannot_order():
    a = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    res = metric_agreement(a, a, a_higher_is_better=True, b_higher_is_better=True)
    assert res.n_images == 1 and res.mean_per_image == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        metric_agreement(a, a[:, :2], a_higher_is_better=True, b_higher_is_better=True)
    with pytest.raises(ValueError, match="method"):
        metric_agreement(a, a, a_higher_is_better=True, b_higher_is_better=True, method="x")


def test_agreement_matrix_pairs():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 4))
    out = agreement_matrix({"a": (m, True), "b": (-m, False), "c": (m, False)})
    assert list(out) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert out[("a", "b")].of_medians == pytest.approx(1.0)
    assert out[("a", "c")].of_medians == pytest.approx(-1.0)


def test_reliability_rows_separate_a_consistent_metric_from_noise():
    rng = np.random.default_rng(1)
    merit = np.arange(5.0)  # method k is k-th best on the consistent metric (lower better)
    rows = []
    for i in range(8):
        for k in range(5):
            rows.append({"model": "m", "comparison": "consistent", "image": f"i{i}",
                         "method": f"k{k}", "value": merit[k] + 0.1 * rng.normal(),
                         "higher_is_better": False})
            rows.append({"model": "m", "comparison": "noise", "image": f"i{i}",
                         "method": f"k{k}", "value": rng.normal(), "higher_is_better": True})
    rows.append({"model": "m", "comparison": "noise", "image": "i9", "method": "k0",
                 "value": 1.0, "higher_is_better": True})  # an image not in every comparison
    conc, agree = reliability_rows(rows)
    by = {r["comparison"]: r for r in conc}
    assert by["consistent"]["kendalls_w"] > 0.9 and by["consistent"]["p_value"] < 1e-4
    assert by["noise"]["kendalls_w"] < 0.4 and by["noise"]["n_images"] == 8
    (pair,) = agree
    assert (pair["first"], pair["second"]) == ("consistent", "noise")
    assert abs(pair["per_image"]) < 0.4
