"""Similarity metrics of the sanity checks against hand-computed values."""

import numpy as np
import pytest

from leg.harness.checks.randomization.similarity import (
    SIMILARITIES,
    hog_pearson,
    normalize_abs,
    similarity,
    spearman_abs,
    spearman_signed,
    ssim,
)


@pytest.fixture
def smooth_map():
    y, x = np.mgrid[0:32, 0:32]
    return np.sin(x / 5.0) * np.cos(y / 7.0) + 0.1 * x / 32


@pytest.mark.parametrize("name", sorted(SIMILARITIES))
def test_identical_maps_score_one(name, smooth_map):
    assert similarity(name, smooth_map, smooth_map) == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(SIMILARITIES))
def test_metadata_says_lower_is_better(name):
    m = SIMILARITIES[name].metric
    assert m.name == name and m.higher_is_better is False and m.description


def test_map_against_its_negative(smooth_map):
    neg = -smooth_map
    assert spearman_signed(smooth_map, neg) == pytest.approx(-1.0)
    # the absolute-value metrics do not see the sign
    assert spearman_abs(smooth_map, neg) == pytest.approx(1.0)
    assert ssim(smooth_map, neg) == pytest.approx(1.0)
    assert hog_pearson(smooth_map, neg) == pytest.approx(1.0)


def test_spearman_known_small_arrays():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[1.0, 3.0], [2.0, 4.0]])  # ranks 1,3,2,4 vs 1,2,3,4: d^2 = 0,1,1,0
    assert spearman_signed(a, b) == pytest.approx(1 - 6 * 2 / (4 * (16 - 1)))  # 0.8
    c = np.array([[-4.0, 1.0], [2.0, 3.0]])  # |c| ranks 4,1,2,3
    assert spearman_abs(a, c) == pytest.approx(1 - 6 * (9 + 1 + 1 + 1) / 60)  # -0.2


def test_normalize_abs():
    m = np.array([[-2.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(normalize_abs(m), [[1.0, 0.5], [0.0, 0.5]])
    np.testing.assert_allclose(normalize_abs(np.full((2, 2), 3.0)), 0.0)


def test_ssim_of_unrelated_noise_is_small():
    rng = np.random.default_rng(0)
    a, b = rng.random((32, 32)), rng.random((32, 32))
    assert abs(ssim(a, b)) < 0.15
    assert abs(spearman_signed(a, b)) < 0.15


def test_constant_maps_are_degenerate_not_nan(smooth_map):
    z = np.zeros((32, 32))
    assert spearman_signed(z, smooth_map) == 0.0
    assert spearman_abs(z, z) == 1.0
    assert ssim(z, smooth_map) == 0.0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        spearman_abs(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="finite"):
        ssim(np.full((8, 8), np.nan), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="Unknown similarity"):
        similarity("nope", np.zeros((4, 4)), np.zeros((4, 4)))


def test_constant_map_is_degenerate(smooth_map):
    from leg.harness.checks.randomization.suite import is_degenerate

    assert is_degenerate(np.zeros((8, 8))) and is_degenerate(np.full((8, 8), 3.0))
    assert is_degenerate(np.full((4, 4), np.nan))
    assert not is_degenerate(smooth_map)
