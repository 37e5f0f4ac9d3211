"""Axiomatic metrics (leg.harness.checks.axiomatic): completeness and input invariance on
tiny arrays and an analytic model, the shifted classifier, and the controls."""

import numpy as np
import pytest

from leg.harness.checks.axiomatic import (
    AXIOMATIC_METRICS,
    ShiftedClassifier,
    completeness,
    input_invariance,
)
from tests.models import smooth_image


class Quadratic:
    """``f(x) = sum_hw w * mean_c(x)^2`` (one score), with its exact gradient."""

    def __init__(self, weights):
        self.weights = np.asarray(weights, dtype=np.float64)

    def __call__(self, images):
        return np.einsum("nhw,hw->n", np.asarray(images).mean(-1) ** 2, self.weights)[:, None]

    def gradient(self, images, target=0):
        images = np.asarray(images)
        g = 2 * self.weights * images.mean(-1) / images.shape[-1]
        return np.repeat(g[..., None], images.shape[-1], axis=-1)


def test_metric_records():
    assert not any(m.higher_is_better for m in AXIOMATIC_METRICS.values())
    assert "Sundararajan" in AXIOMATIC_METRICS["completeness"].description
    assert "Kindermans" in AXIOMATIC_METRICS["input_invariance"].description


def test_completeness_is_the_gap_between_the_sum_and_the_score_difference():
    m = np.array([[0.2, 0.5], [0.0, 0.0]])  # sums to 0.7
    assert completeness(m, 0.9, 0.1) == pytest.approx(0.1)
    assert completeness(m, 0.9, 0.1, relative=True) == pytest.approx(0.125)
    assert completeness(np.zeros((2, 2)), 0.5, 0.5, relative=True) == 0.0
    assert completeness(m, 0.5, 0.5, relative=True) == np.inf
    with pytest.raises(ValueError, match="score"):
        completeness(m, np.nan, 0.0)


def test_integrated_gradients_is_complete_and_the_gradient_is_not():
    x = smooth_image(10, 8, 3)
    model = Quadratic(np.random.default_rng(0).normal(size=(10, 8)))
    f, f0 = model(x[None])[0, 0], model(np.zeros((1, *x.shape)))[0, 0]
    # IG from the zero baseline, exact for a quadratic: x * mean of the gradient on the path
    ig = (x * model.gradient(0.5 * x[None])[0]).sum(-1)
    grad = model.gradient(x[None])[0].sum(-1)
    assert completeness(ig, f, f0) == pytest.approx(0.0, abs=1e-12)
    assert completeness(grad, f, f0, relative=True) > 0.1
    # the control: the uniform map with the right total is exactly complete
    uniform = np.full(x.shape[:2], (f - f0) / x[..., 0].size)
    assert completeness(uniform, f, f0) == pytest.approx(0.0, abs=1e-12)


def test_input_invariance_is_the_relative_change_of_the_map():
    m = np.array([[3.0, 0.0], [0.0, 4.0]])
    assert input_invariance(m, m) == 0.0
    assert input_invariance(m, 2 * m) == pytest.approx(1.0)
    assert input_invariance(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0
    assert input_invariance(np.zeros((2, 2)), m) == np.inf
    with pytest.raises(ValueError, match="different shapes"):
        input_invariance(m, np.ones((2, 3)))


def test_the_shifted_classifier_absorbs_the_shift():
    x = smooth_image(6, 6, 3)
    c = -0.3
    model = Quadratic(np.random.default_rng(1).normal(size=(6, 6)))
    shifted = ShiftedClassifier(model, c)
    assert np.allclose(shifted((x + c)[None]), model(x[None]))
    assert np.allclose(shifted.gradient((x + c)[None], 0), model.gradient(x[None], 0))
    assert not hasattr(ShiftedClassifier(lambda z: z, 1.0), "gradient")
    with pytest.raises(TypeError, match="callable"):
        ShiftedClassifier(3, 1.0)


def test_the_gradient_and_fixed_maps_are_invariant_gradient_times_input_is_not():
    """Controls: a map that ignores the input is invariant for free; the gradient is
    invariant (the shift leaves it unchanged); gradient x input is not."""
    x = smooth_image(8, 8, 3)
    c = -0.5
    model = Quadratic(np.random.default_rng(2).normal(size=(8, 8)))
    shifted = ShiftedClassifier(model, c)
    g = model.gradient(x[None])[0]
    gs = shifted.gradient((x + c)[None], 0)[0]
    assert input_invariance(g.sum(-1), gs.sum(-1)) == pytest.approx(0.0, abs=1e-12)
    assert input_invariance((x * g).sum(-1), ((x + c) * gs).sum(-1)) > 0.5
    blob = np.outer(np.hanning(8), np.hanning(8))
    assert input_invariance(blob, blob) == 0.0
