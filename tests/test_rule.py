"""The randomization rule (leg.harness.checks.randomization.rule): positions between the
original map and an unrelated one, and the tests over images that judge them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leg.harness.checks.randomization.rule import (
    MIN_SPAN,
    Judgement,
    combine,
    moved,
    position,
    reached,
)


def test_position_is_one_at_the_original_and_zero_at_the_unrelated_level():
    assert position(0.9, 0.1, 0.9) == pytest.approx(1.0)
    assert position(0.1, 0.1, 0.9) == pytest.approx(0.0)
    assert position(0.5, 0.1, 0.9) == pytest.approx(0.5)
    assert position(-0.3, 0.1, 0.9) == pytest.approx(-0.5)  # further than unrelated maps


def test_position_is_undefined_where_the_original_maps_do_not_stand_out():
    assert math.isnan(position(0.5, 0.3, 0.3 + MIN_SPAN / 2))
    assert math.isnan(position(0.5, 0.3, 0.2))  # reproducibility below the unrelated level
    assert position(0.0, 0.0, MIN_SPAN) == pytest.approx(0.0)  # a span of MIN_SPAN is enough
    for bad in (float("nan"), float("inf")):
        assert math.isnan(position(bad, 0.1, 0.9))
        assert math.isnan(position(0.5, bad, 0.9))
        assert math.isnan(position(0.5, 0.1, bad))


def test_moved_passes_maps_that_left_their_original_and_fails_maps_that_stayed():
    gone = moved(np.zeros(6), 0.5)
    assert gone.verdict == "pass" and gone.p_value == pytest.approx(1 / 64)
    assert gone.comparison.method_median == pytest.approx(1.0)  # moved all the way
    stayed = moved(np.ones(6), 0.5)
    assert stayed.verdict == "fail" and stayed.p_value == 1.0
    halfway = moved(np.full(6, 0.5), 0.5)  # exactly tau: not shown above it
    assert halfway.verdict == "fail"
    assert moved([0.45, 0.4, 0.3, 0.45, 0.49, 0.2], 0.5).verdict == "pass"


def test_reached_is_one_sided_further_than_unrelated_is_unrelated_too():
    assert reached(np.zeros(6), 0.25).verdict == "pass"
    assert reached(np.full(6, -0.6), 0.25).verdict == "pass"
    assert reached(np.full(6, 0.6), 0.25).verdict == "fail"
    at = reached(np.full(6, 0.25), 0.25)  # at the bound: not shown below it
    assert at.verdict == "fail"


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_fewer_than_five_images_never_decide(n):
    assert moved(np.zeros(n), 0.5).verdict == "undecided"
    assert moved(np.ones(n), 0.5).verdict == "undecided"
    assert reached(np.zeros(n), 0.25).verdict == "undecided"
    assert moved(np.zeros(n), 0.5).n_images == n


def test_an_undefined_position_makes_the_test_undefined():
    j = moved([0.0, np.nan, 0.0, 0.0, 0.0], 0.5)
    assert j.verdict == "undefined" and j.comparison is None and j.p_value == 1.0
    assert reached([], 0.25).verdict == "undefined"


def test_combine_takes_the_worst_test_and_the_largest_p():
    passes = [moved(np.zeros(6), 0.5), moved([0.0, 0.0, 0.0, 0.0, 0.0, 0.6], 0.5)]
    verdict, worst = combine(passes)
    assert verdict == "pass" and worst is passes[1]  # the larger p decides
    assert worst.p_value > passes[0].p_value
    fail = moved(np.ones(6), 0.5)
    assert combine([*passes, fail]) == ("fail", fail)
    undecided = moved(np.zeros(3), 0.5)
    assert combine([passes[0], undecided])[0] == "undecided"
    assert combine([fail, undecided])[0] == "fail"
    undefined = Judgement("moved", "undefined", None, 6)
    assert combine([fail, undefined]) == ("uninformative", undefined)
    with pytest.raises(ValueError, match="at least one test"):
        combine([])


def test_five_images_decide_and_each_judgement_says_what_it_tested():
    """The smallest decisive sample (5 images, every one moved: p = 1/32) is decided, and
    the judgement carries its test, its statistics and its image count."""
    j = moved([0.0] * 5, 0.5)
    assert j.verdict == "pass" and j.n_images == 5
    assert j.what == "moved >= 0.5" and j.comparison is not None
    assert j.comparison.n_images == 5 and j.p_value == pytest.approx(1 / 32)
    r = reached([0.0] * 5, 0.25)
    assert r.verdict == "pass" and r.what == "position < 0.25" and r.n_images == 5
    four = reached([0.0] * 4, 0.25)
    assert four.verdict == "undecided" and four.what == "position < 0.25"
    assert four.comparison is not None and four.n_images == 4


def test_undefined_judgements_keep_their_test_and_image_count():
    for j, what in ((moved([0.2, float("nan"), 0.1], 0.5), "moved >= 0.5"),
                    (reached([float("nan")] * 3, 0.25), "position < 0.25")):
        assert (j.what, j.verdict, j.n_images, j.p_value) == (what, "undefined", 3, 1.0)


def test_the_seed_reaches_the_confidence_interval():
    """The default seed is 0 (the profile's): the same interval as seed=0, and the seed is
    passed on (another seed may draw another bootstrap interval, never another verdict)."""
    pos = [0.1, 0.3, 0.05, 0.2, 0.4, 0.15, 0.35]
    a, b = moved(pos, 0.5), moved(pos, 0.5, seed=0)
    assert (a.comparison.ci_low, a.comparison.ci_high) == (b.comparison.ci_low,
                                                           b.comparison.ci_high)
    a, b = reached(pos, 0.5), reached(pos, 0.5, seed=0)
    assert (a.comparison.ci_low, a.comparison.ci_high) == (b.comparison.ci_low,
                                                           b.comparison.ci_high)
    assert moved(pos, 0.5, seed=3).verdict == a.verdict


def test_combine_needs_a_test():
    with pytest.raises(ValueError, match="^A check needs at least one test"):
        combine([])
