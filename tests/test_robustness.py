"""Robustness metrics (leg.harness.checks.robustness): definitions on tiny arrays, the
perturbation draw, invariances, validation, and the control that wins alone."""

import numpy as np
import pytest

from leg.harness.checks.robustness import (
    ROBUSTNESS_METRICS,
    avg_sensitivity,
    lipschitz_quotients,
    local_lipschitz,
    max_sensitivity,
    perturbed_inputs,
    sensitivities,
)
from tests.models import smooth_image


def _quadratic_gradient(images, weights):
    """Channel-summed gradient of ``f(x) = sum w * mean_c(x)^2``: ``2 w mean_c(x)``."""
    return 2 * weights * np.asarray(images).mean(axis=-1)


def test_metric_records_say_lower_is_better_and_cite_the_paper():
    assert set(ROBUSTNESS_METRICS) == {"avg_sensitivity", "max_sensitivity", "local_lipschitz"}
    assert not any(m.higher_is_better for m in ROBUSTNESS_METRICS.values())
    assert "Yeh" in ROBUSTNESS_METRICS["max_sensitivity"].description
    assert "Alvarez-Melis" in ROBUSTNESS_METRICS["local_lipschitz"].description


def test_sensitivity_is_the_relative_frobenius_change_of_the_map():
    m = np.array([[3.0, 0.0], [0.0, 4.0]])  # ||m|| = 5
    p = np.stack([m + [[0.0, 0.0], [0.0, 5.0]], m])  # changes 5 and 0
    assert sensitivities(m, p) == pytest.approx([1.0, 0.0])
    assert avg_sensitivity(m, p) == pytest.approx(0.5)
    assert max_sensitivity(m, p) == pytest.approx(1.0)
    assert avg_sensitivity(m, p, normalise=False) == pytest.approx(2.5)
    assert max_sensitivity(m, p, normalise=False) == pytest.approx(5.0)


def test_sensitivity_does_not_change_when_every_map_is_scaled():
    rng = np.random.default_rng(0)
    m, p = rng.normal(size=(6, 5)), rng.normal(size=(4, 6, 5))
    assert avg_sensitivity(7 * m, 7 * p) == pytest.approx(avg_sensitivity(m, p))
    assert max_sensitivity(0.01 * m, 0.01 * p) == pytest.approx(max_sensitivity(m, p))


def test_sensitivity_of_an_all_zero_map_is_nan():
    z = np.zeros((3, 3))
    assert np.isnan(avg_sensitivity(z, np.ones((2, 3, 3))))
    assert max_sensitivity(z, np.ones((2, 3, 3)), normalise=False) == pytest.approx(3.0)


def test_local_lipschitz_divides_the_map_change_by_the_input_change():
    x = np.zeros((1, 2, 1))
    xp = np.array([[[[0.3], [0.4]]], [[[0.0], [0.0]]]])  # distances 0.5 and 0
    m = np.array([[1.0, 0.0]])
    p = np.array([[[1.5, 0.0]], [[9.0, 9.0]]])
    q = lipschitz_quotients(m, p, x, xp, normalise=False)
    assert q[0] == pytest.approx(0.5 / 0.5) and np.isnan(q[1])  # x' = x is skipped
    assert local_lipschitz(m, p, x, xp, normalise=False) == pytest.approx(1.0)
    # max-normalised, [1.5, 0] is [1, 0]: no change
    assert local_lipschitz(m, p, x, xp) == pytest.approx(0.0)
    assert np.isnan(local_lipschitz(m, p[1:], x, xp[1:]))


def test_local_lipschitz_ignores_each_maps_scale():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(5, 5, 3))
    xp = perturbed_inputs(x, 4, "gaussian", seed=0)
    m, p = rng.normal(size=(5, 5)), rng.normal(size=(4, 5, 5))
    scales = np.array([1.0, 3.0, 0.2, 10.0])[:, None, None]
    assert local_lipschitz(2 * m, p * scales, x, xp) == pytest.approx(
        local_lipschitz(m, p, x, xp))


def test_perturbed_inputs_are_seeded_clipped_and_inside_the_ball():
    x = smooth_image(16, 12, 3)
    a = perturbed_inputs(x, 20, "uniform", 0.2, seed=3)
    assert a.shape == (20, 16, 12, 3) and a.min() >= 0 and a.max() <= 1
    assert np.abs(a - x).max() <= 0.2 + 1e-12
    assert np.array_equal(a, perturbed_inputs(x, 20, "uniform", 0.2, seed=3))
    assert not np.array_equal(a, perturbed_inputs(x, 20, "uniform", 0.2, seed=4))
    chunks = [perturbed_inputs(x, 8, "uniform", 0.2, seed=3, first=f) for f in (0, 8)]
    chunks.append(perturbed_inputs(x, 4, "uniform", 0.2, seed=3, first=16))
    assert np.array_equal(np.concatenate(chunks), a)
    g = perturbed_inputs(np.full((40, 40, 1), 0.5), 50, "gaussian", seed=0, clip=None)
    assert (g - 0.5).std() == pytest.approx(0.1, rel=0.02)  # Quantus' perturb_std
    u = perturbed_inputs(np.full((40, 40, 1), 0.5), 50, seed=0, clip=None)
    assert np.abs(u - 0.5).max() == pytest.approx(0.2, abs=1e-3)  # Quantus' lower_bound


@pytest.mark.parametrize("call, match", [
    (lambda: sensitivities(np.ones((3, 3)), np.ones((2, 3, 4))), "perturbed_maps"),
    (lambda: sensitivities(np.ones((3, 3, 1)), np.ones((2, 3, 3))), r"\(H, W\) map"),
    (lambda: sensitivities(np.ones((3, 3)), np.full((1, 3, 3), np.nan)), "non-finite"),
    (lambda: lipschitz_quotients(np.ones((2, 2)), np.ones((3, 2, 2)), np.ones((2, 2, 1)),
                                 np.ones((2, 2, 2, 1))), "3 perturbed maps"),
    (lambda: lipschitz_quotients(np.ones((2, 2)), np.ones((1, 2, 2)), np.ones((3, 3, 1)),
                                 np.ones((1, 3, 3, 1))), "3x3"),
    (lambda: perturbed_inputs(np.ones((4, 4, 1)), 2, "salt"), "kind"),
    (lambda: perturbed_inputs(np.ones((4, 4, 1)), 0), "'n'"),
    (lambda: perturbed_inputs(np.ones((4, 4, 1)), 2, radius=-0.1), "radius"),
])
def test_bad_inputs_fail_with_a_clear_message(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_map_that_ignores_the_input_wins_robustness_alone():
    """The control: a fixed map (constant, a centred blob, the harness's random map with a
    fixed seed) never changes, so it scores 0, better than the gradient of a model."""
    x = smooth_image(24, 24, 3)
    w = np.random.default_rng(0).normal(size=(24, 24))
    unif = perturbed_inputs(x, 30, "uniform", seed=0)
    gauss = perturbed_inputs(x, 30, "gaussian", seed=0)
    yy, xx = np.mgrid[:24, :24]
    blob = np.exp(-((yy - 12) ** 2 + (xx - 12) ** 2) / 50.0)
    fixed = np.repeat(blob[None], 30, axis=0)
    grad, grad_u, grad_g = (_quadratic_gradient(i, w) for i in (x, unif, gauss))
    assert avg_sensitivity(blob, fixed) == 0 == max_sensitivity(blob, fixed)
    assert local_lipschitz(blob, fixed, x, gauss) == 0
    assert avg_sensitivity(grad, grad_u) > 0.1
    assert max_sensitivity(grad, grad_u) > avg_sensitivity(grad, grad_u)
    assert local_lipschitz(grad, grad_g, x, gauss) > 0.01
    # the Sobel edge map is no such control: pixel noise is all edges
    from skimage.filters import sobel

    edge = sobel(x.mean(-1))
    edge_u = np.stack([sobel(i.mean(-1)) for i in unif])
    assert avg_sensitivity(edge, edge_u) > avg_sensitivity(grad, grad_u)
