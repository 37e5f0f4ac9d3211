"""Infidelity (leg.harness.checks.infidelity): the perturbation draws, the definition on
tiny arrays, Quantus' grid and cumulative removals, validation, and the occlusion control."""

import numpy as np
import pytest

from leg.harness.checks.infidelity import (
    INFIDELITY_METRICS,
    grid_perturbations,
    infidelity,
    infidelity_perturbations,
    predicted_drops,
)
from tests.models import Linear, smooth_image


def _quadratic(images, w):
    return np.einsum("nhw,hw->n", np.asarray(images).mean(-1) ** 2, w)


def test_metric_record():
    m = INFIDELITY_METRICS["infidelity"]
    assert not m.higher_is_better and "Yeh" in m.description


def test_infidelity_is_the_mean_squared_error_of_the_predicted_drops():
    m = np.array([[1.0, 2.0]])
    perturbations = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # (n, H, W): one channel
    assert predicted_drops(m, perturbations) == pytest.approx([1.0, 2.0])
    assert infidelity(m, perturbations, [1.0, 0.0]) == pytest.approx((0 + 4) / 2)
    # optimal scale: beta = mean(p d) / mean(p^2) = 0.5 / 2.5
    assert infidelity(m, perturbations, [1.0, 0.0], normalise=True) == pytest.approx(
        (0.8 ** 2 + 0.4 ** 2) / 2)
    # the (H, W) map weighs every channel
    three = np.repeat(perturbations[..., None], 3, axis=-1)
    assert predicted_drops(m, three) == pytest.approx([3.0, 6.0])


def test_normalised_infidelity_ignores_the_maps_scale():
    x = smooth_image(8, 8, 1)
    p = infidelity_perturbations(x, 20, "gaussian", seed=0)
    d = np.random.default_rng(0).normal(size=20)
    m = np.random.default_rng(1).normal(size=(8, 8))
    assert infidelity(50 * m, p, d, normalise=True) == pytest.approx(
        infidelity(m, p, d, normalise=True))
    assert infidelity(50 * m, p, d) != pytest.approx(infidelity(m, p, d))


def test_square_perturbations_remove_one_square_each_seeded():
    x = smooth_image(16, 12, 3)  # no pixel is 0
    p = infidelity_perturbations(x, 30, "square", seed=5, patch=4)
    assert p.shape == (30, 16, 12, 3)
    assert np.all((p != 0).sum(axis=(1, 2, 3)) == 4 * 4 * 3)
    moved = x - p
    assert np.all((moved == 0) | np.isclose(moved, x))  # black inside the square
    assert np.array_equal(p, infidelity_perturbations(x, 30, "square", seed=5, patch=4))
    grid = infidelity_perturbations(x, 30, "grid", seed=5, patch=4)
    for k in range(30):  # aligned to the 4-pixel grid
        r, c = np.nonzero(grid[k, ..., 0])
        assert r.min() % 4 == 0 and c.min() % 4 == 0 and r.max() - r.min() == 3
    g = infidelity_perturbations(x, 10, "gaussian", seed=0)
    assert np.all(x - g >= 0) and np.all(x - g <= 1)  # what the model sees is clipped


def test_grid_perturbations_one_block_at_a_time_or_cumulative():
    x = smooth_image(8, 12, 1)
    single = grid_perturbations(x, patch=4)
    assert single.shape == (6, 8, 12, 1)
    assert np.allclose(single.sum(0), x)  # the blocks tile the image
    rows, cols = np.nonzero(single[1, ..., 0])  # the second block: top row, columns 4-7
    assert set(rows) == {0, 1, 2, 3} and set(cols) == {4, 5, 6, 7}
    cumulative = grid_perturbations(x, patch=4, cumulative=True)
    assert np.allclose(cumulative, np.cumsum(single, axis=0))  # raster order, as Quantus


@pytest.mark.parametrize("call, match", [
    (lambda: infidelity(np.ones((2, 2)), np.ones((3, 2, 2, 1)), np.ones(2)), "score_drops"),
    (lambda: infidelity(np.ones((2, 2)), np.ones((3, 2, 3, 1)), np.ones(3)), "perturbations"),
    (lambda: infidelity(np.ones((2, 2)), np.ones((3, 2, 2, 1)), [1, np.nan, 1]), "non-finite"),
    (lambda: infidelity_perturbations(np.ones((4, 4, 1)), 2, "blur"), "kind"),
    (lambda: infidelity_perturbations(np.ones((4, 4, 1)), 2, patch=5), "larger than"),
    (lambda: grid_perturbations(np.ones((4, 4, 1)), patch=8), "larger than"),
])
def test_bad_inputs_fail_with_a_clear_message(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_gradient_of_a_linear_model_is_exact_for_every_kind():
    x = smooth_image(12, 12, 1)
    w = np.random.default_rng(0).normal(size=(12, 12))
    model = Linear(w)  # scores sum w x over channels
    for kind in ("square", "grid", "gaussian"):
        p = infidelity_perturbations(x, 40, kind, seed=1)
        drops = model(x[None])[0, 0] - model(x[None] - p)[:, 0]
        assert infidelity(w, p, drops) == pytest.approx(0.0, abs=1e-20)


def test_an_occlusion_map_with_the_evaluators_patches_wins_alone():
    """The control: the drop of removing each grid block, spread over the block in
    proportion to the pixels, predicts every grid perturbation exactly -- for a nonlinear
    model, whose gradient does not."""
    x = smooth_image(16, 16, 1)
    w = np.random.default_rng(2).normal(size=(16, 16))
    blocks = grid_perturbations(x, patch=4)
    drops = _quadratic(x[None], w) - _quadratic(x[None] - blocks, w)
    occlusion = np.zeros((16, 16))
    for b, d in zip(blocks, drops, strict=True):
        inside = b[..., 0] != 0
        occlusion[inside] = d / b[..., 0][inside].sum()
    p = infidelity_perturbations(x, 60, "grid", seed=0)
    pd = _quadratic(x[None], w) - _quadratic(x[None] - p, w)
    gradient = 2 * w * x[..., 0]
    assert infidelity(occlusion, p, pd) == pytest.approx(0.0, abs=1e-20)
    assert infidelity(gradient, p, pd) > 1e-4
