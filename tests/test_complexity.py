"""Complexity metrics (leg.harness.checks.complexity): the Gini index and the entropy on
tiny arrays, invariances, validation, and the controls that win alone."""

import numpy as np
import pytest
from scipy.stats import entropy

from leg.harness.checks.complexity import COMPLEXITY_METRICS, complexity, sparseness
from leg.harness.checks.randomization.mprt import complexity as mprt_complexity
from tests.models import block_weights, smooth_image


def test_metric_records():
    assert COMPLEXITY_METRICS["sparseness"].higher_is_better
    assert not COMPLEXITY_METRICS["complexity"].higher_is_better
    assert "Chalasani" in COMPLEXITY_METRICS["sparseness"].description
    assert "Bhatt" in COMPLEXITY_METRICS["complexity"].description


def test_sparseness_is_the_gini_index_of_the_absolute_map():
    assert sparseness(np.array([[0.0, 0.0], [0.0, 1.0]])) == pytest.approx(0.75)  # 1 - 1/n
    assert sparseness(np.full((3, 5), 2.0)) == pytest.approx(0.0)
    # sorted 1, 2, 3, 4: sum (2i - n - 1) a_i = -3 - 2 + 3 + 12 = 10, over n * sum = 40
    assert sparseness(np.array([[4.0, -1.0], [3.0, 2.0]])) == pytest.approx(0.25)


def test_complexity_is_the_entropy_of_the_absolute_map_as_a_distribution():
    assert complexity(np.array([[1.0, -1.0], [0.0, 0.0]])) == pytest.approx(np.log(2))
    assert complexity(np.full((2, 2), 3.0)) == pytest.approx(np.log(4))
    assert complexity(np.array([[0.0, 5.0], [0.0, 0.0]])) == 0.0
    assert complexity(np.array([[1.0, 3.0]])) == pytest.approx(entropy([0.25, 0.75]))
    m = np.random.default_rng(0).normal(size=(7, 9))
    assert complexity(m) == pytest.approx(mprt_complexity(m, kind="shannon"))


@pytest.mark.parametrize("scale", [1e-6, -3.0, 250.0])
def test_scaling_or_flipping_the_map_changes_neither(scale):
    m = np.random.default_rng(1).normal(size=(8, 6))
    assert sparseness(scale * m) == pytest.approx(sparseness(m))
    assert complexity(scale * m) == pytest.approx(complexity(m))


def test_an_all_zero_map_scores_nan_and_bad_maps_are_refused():
    assert np.isnan(sparseness(np.zeros((3, 3)))) and np.isnan(complexity(np.zeros((3, 3))))
    with pytest.raises(ValueError, match=r"\(H, W\) map"):
        sparseness(np.ones((2, 2, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        complexity(np.array([[1.0, np.inf]]))
    with pytest.raises(TypeError, match="numeric"):
        sparseness([["a", "b"]])


def test_the_edge_control_and_a_single_pixel_win_complexity_alone():
    """The controls: one non-zero pixel is the sparsest, least complex map there is; the
    Sobel edge map of an object on a plain background beats a dense model-based map (a
    logistic model's gradient, proportional to its weights) and a random map."""
    from skimage.filters import sobel

    h = w = 32
    yy, xx = np.mgrid[:h, :w]
    disk = ((yy - 16) ** 2 + (xx - 15) ** 2 < 60).astype(float)  # a digit-like blob
    edge = sobel(disk)
    gradient = 0.2 * block_weights(h, w) + 0.01 * smooth_image(h, w, 1)[..., 0]
    rand = np.random.default_rng(0).uniform(size=(h, w))
    dot = np.zeros((h, w))
    dot[3, 4] = 1.0
    assert sparseness(dot) == pytest.approx(1 - 1 / (h * w)) and complexity(dot) == 0
    assert sparseness(dot) > sparseness(edge) > sparseness(gradient) > sparseness(rand)
    assert complexity(dot) < complexity(edge) < complexity(gradient) < complexity(rand)
