"""The synthetic ground-truth classifiers: exact gradients, valid outputs, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from leg.zoo.groundtruth import (
    GroundTruthModel,
    ground_truth_suite,
    linear_region,
    smooth_region_means,
    two_object_contrast,
)

SUITE = ground_truth_suite()
IDS = [m.name for m in SUITE]


def test_suite_covers_families_and_shapes():
    names = {m.name for m in SUITE}
    assert len(names) == len(SUITE) >= 15
    for family in ("linear_region", "smooth_region_means", "two_object_contrast"):
        shapes = {m.image_shape for m in SUITE if m.name.startswith(family)}
        assert shapes >= {(28, 28, 3), (32, 48, 3), (56, 56, 3), (28, 28, 1), (30, 30, 3)}


def test_suite_is_deterministic():
    again = ground_truth_suite()
    for a, b in zip(SUITE, again, strict=True):
        assert a.name == b.name
        np.testing.assert_array_equal(a.base_image(3), b.base_image(3))
        np.testing.assert_array_equal(a.true_gradient(a.base_image()),
                                      b.true_gradient(b.base_image()))


@pytest.mark.parametrize("model", SUITE, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_true_gradient_matches_finite_differences(model, seed):
    x0 = model.base_image(seed)
    grad = model.true_gradient(x0)
    assert grad.shape == model.image_shape
    rng = np.random.default_rng(seed)
    # A random subset of entries, plus some inside each region where the gradient is non-zero.
    flat = rng.choice(x0.size, size=20, replace=False)
    inside = np.flatnonzero(grad.ravel() != 0)
    flat = np.concatenate([flat, rng.choice(inside, size=10, replace=False)])
    step = 1e-4
    plus = np.repeat(x0[None], len(flat), axis=0).reshape(len(flat), -1)
    minus = plus.copy()
    plus[np.arange(len(flat)), flat] += step
    minus[np.arange(len(flat)), flat] -= step
    shape = (len(flat), *model.image_shape)
    fd = (model(plus.reshape(shape))[:, model.target]
          - model(minus.reshape(shape))[:, model.target]) / (2 * step)
    scale = np.abs(grad).max()
    assert scale > 0
    np.testing.assert_allclose(grad.ravel()[flat], fd, rtol=0, atol=1e-4 * scale)


@pytest.mark.parametrize("model", SUITE, ids=IDS)
def test_true_map_is_channel_sum(model):
    x0 = model.base_image()
    np.testing.assert_allclose(model.true_map(x0), model.true_gradient(x0).sum(axis=2))
    assert model.true_map(x0).shape == model.image_shape[:2]


@pytest.mark.parametrize("model", SUITE, ids=IDS)
def test_base_image_in_range_and_not_saturated(model):
    for seed in (0, 1, 2):
        x0 = model.base_image(seed)
        assert x0.shape == model.image_shape
        assert x0.min() > 0.2 and x0.max() < 0.8
        assert x0.std() > 0.005  # a texture, not flat grey
        p = model(x0[None])[0, model.target]
        assert 0.3 < p < 0.7
    np.testing.assert_array_equal(model.base_image(5), model.base_image(5))
    assert not np.array_equal(model.base_image(0), model.base_image(1))


@pytest.mark.parametrize("model", SUITE, ids=IDS)
def test_outputs_are_probabilities(model):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, size=(7, *model.image_shape))
    out = model(images)
    assert out.shape == (7, 2) and out.dtype == np.float64
    assert np.all((out >= 0) & (out <= 1))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    score = model.score(images)
    assert score.shape == (7,)
    np.testing.assert_allclose(out[:, 0], 1 / (1 + np.exp(-score)))


@settings(max_examples=30, deadline=None)
@given(
    index=st.integers(0, len(SUITE) - 1),
    data=st.data(),
)
def test_probabilities_sum_to_one_property(index, data):
    model = SUITE[index]
    images = data.draw(arrays(np.float64, (2, *model.image_shape),
                              elements=st.floats(0.0, 1.0)))
    out = model(images)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_single_image_is_a_batch_of_one():
    model = SUITE[0]
    x0 = model.base_image()
    np.testing.assert_array_equal(model(x0), model(x0[None]))


def test_grayscale_accepts_2d_image_for_gradient():
    model = linear_region(28, 28, 1)
    x0 = model.base_image()
    np.testing.assert_array_equal(model.true_gradient(x0[:, :, 0]), model.true_gradient(x0))


def test_linear_region_truth_is_piecewise_constant():
    model = linear_region(30, 30, 3)
    x0 = model.base_image()
    truth = model.true_map(x0)
    p = model(x0)[0, 0]
    pos, neg = model.regions["positive"], model.regions["negative"]
    np.testing.assert_allclose(truth[pos], p * (1 - p) * 10 / pos.sum())
    np.testing.assert_allclose(truth[neg], -p * (1 - p) * 5 / neg.sum())
    assert np.all(truth[~(pos | neg)] == 0)


def test_two_object_contrast_signs():
    model = two_object_contrast(32, 48, 3)
    truth = model.true_map(model.base_image())
    assert np.all(truth[model.regions["A"]] > 0)
    assert np.all(truth[model.regions["B"]] < 0)


def test_smooth_region_means_gradient_depends_on_image():
    model = smooth_region_means()
    a = model.true_map(model.base_image(0))
    b = model.true_map(model.base_image(1))
    assert not np.allclose(a, b)


def test_target_one_flips_gradient():
    base = linear_region()
    flipped = GroundTruthModel("flipped", base.image_shape, base.regions, base._link,
                               base._link_grad, target=1)
    x0 = base.base_image()
    np.testing.assert_allclose(flipped.true_gradient(x0), -base.true_gradient(x0))


@pytest.mark.parametrize("shape", [(28, 28), (1, 28, 28), (2, 28, 28, 1), (2, 3, 28, 28),
                                   (2, 28, 28, 3, 1)])
def test_bad_batch_shape_raises(shape):
    model = linear_region(28, 28, 3)
    with pytest.raises(ValueError, match=r"'images' parameter must have shape \(N, 28, 28, 3\)"):
        model(np.zeros(shape))
    with pytest.raises(ValueError, match="'images' parameter"):
        model.score(np.zeros(shape))


@pytest.mark.parametrize("shape", [(28, 28), (1, 28, 28, 3), (28, 28, 1), (27, 28, 3)])
def test_bad_image_shape_raises(shape):
    model = linear_region(28, 28, 3)
    with pytest.raises(ValueError, match=r"'image' parameter must have shape \(28, 28, 3\)"):
        model.true_gradient(np.zeros(shape))
    with pytest.raises(ValueError, match="'image' parameter"):
        model.true_map(np.zeros(shape))


def test_non_numeric_input_raises_type_error():
    model = linear_region()
    with pytest.raises(TypeError, match="'images' parameter must be a numeric array"):
        model("not an image")


def test_bad_factory_arguments():
    with pytest.raises(ValueError, match="'height' parameter"):
        linear_region(4, 28, 3)
    with pytest.raises(TypeError, match="'channels' parameter"):
        smooth_region_means(28, 28, 3.0)
    with pytest.raises(ValueError, match="'seed' parameter"):
        linear_region().base_image(-1)


@pytest.mark.parametrize("model", [SUITE[0], SUITE[6], SUITE[13]], ids=lambda m: m.name)
@pytest.mark.parametrize("target", [0, 1])
@pytest.mark.parametrize("score", ["probability", "logit"])
def test_batched_gradient_matches_finite_differences(model, target, score):
    """``gradient`` (the classifier protocol of the gradient baselines) against central
    differences of the probability / log-odds, per image of a batch."""
    rng = np.random.default_rng(3)
    images = np.stack([model.base_image(s) for s in (0, 1)])
    grad = model.gradient(images, target, score=score)
    assert grad.shape == images.shape
    eps = 1e-5

    def f(x):
        p = model(x)[:, target]
        return p if score == "probability" else np.log(p / (1.0 - p))

    for n in range(len(images)):
        for _ in range(6):
            i, j, c = (int(rng.integers(d)) for d in model.image_shape)
            up, down = images[n].copy(), images[n].copy()
            up[i, j, c] += eps
            down[i, j, c] -= eps
            fd = (f(up[None])[0] - f(down[None])[0]) / (2 * eps)
            assert grad[n, i, j, c] == pytest.approx(fd, rel=1e-5, abs=1e-9)
    if score == "probability":
        np.testing.assert_allclose(grad[0], model.true_gradient(images[0]) * (
            1 if target == model.target else -1), rtol=1e-12, atol=1e-15)


def test_gradient_refuses_bad_arguments():
    model = SUITE[0]
    img = model.base_image(0)[None]
    with pytest.raises(ValueError, match="target"):
        model.gradient(img, 2)
    with pytest.raises(ValueError, match="score"):
        model.gradient(img, 0, score="softmax")
