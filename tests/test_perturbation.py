"""Tests of the perturbation-size metrics (leg.harness.checks.faithfulness.removal)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leg.harness.checks.faithfulness.removal import (
    BACKGROUNDS,
    DEFAULT_ALPHAS,
    area_under_curve,
    background,
    deletion_curve,
    insertion_curve,
    key_size,
    key_size_linear_scan,
    masked_images,
    pixel_counts,
    ranking,
)
from leg.harness.checks.metrics import Metric, metric, register


class RandomLinear:
    """``(N, H, W, C)`` -> ``(N, K)`` random linear scores; counts its calls."""

    def __init__(self, shape, n_classes: int, seed: int):
        rng = np.random.default_rng(seed)
        self.w = rng.normal(size=(int(np.prod(shape)), n_classes))
        self.b = rng.normal(size=n_classes) * 0.1
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        images = np.asarray(images)
        return images.reshape(len(images), -1) @ self.w + self.b


class Pixel00:
    """Class 0 while pixel (0, 0) of channel 0 is above 0.5, class 1 otherwise."""

    def __call__(self, images):
        x = np.asarray(images)[:, 0, 0, 0]
        return np.stack([x, np.full_like(x, 0.5)], axis=1)


def test_metric_metadata():
    key_size = metric("key_size")
    assert (key_size.name, key_size.higher_is_better, key_size.family) == (
        "key_size", False, "faithfulness")
    assert (key_size.low, key_size.high) == (0.0, 1.0) and key_size.reference
    assert not metric("deletion_auc").higher_is_better
    assert metric("insertion_auc").higher_is_better and metric("road_gap").higher_is_better
    for name in ("key_size", "deletion_auc", "insertion_auc", "lerf_auc", "road_gap"):
        assert metric(name).name == name and metric(name).description
    with pytest.raises(AttributeError):
        key_size.name = "other"


def test_the_metric_registry_refuses_two_metrics_of_one_name():
    with pytest.raises(ValueError, match="Two metrics are named 'key_size'"):
        register(Metric("key_size", True, "another"))
    assert register(metric("key_size")) is metric("key_size")  # the same again: a no-op
    with pytest.raises(KeyError, match="No metric 'nope'"):
        metric("nope")


def test_ranking_is_by_magnitude_with_stable_ties():
    sal = np.array([[1.0, -3.0], [3.0, 0.0], [-1.0, 2.0]])
    np.testing.assert_array_equal(ranking(sal), [1, 2, 5, 0, 4, 3])
    with pytest.raises(ValueError, match="non-finite"):
        ranking(np.array([[np.nan, 1.0]]))


def test_pixel_counts_round_off():
    np.testing.assert_array_equal(pixel_counts([0.0, 0.3, 0.31, 1.0], 10), [0, 3, 4, 10])


def test_backgrounds():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(4, 5, 3))
    sal = rng.normal(size=(4, 5))
    np.testing.assert_allclose(background(image, sal, "mean"),
                               np.broadcast_to(image.mean(axis=(0, 1)), image.shape))
    np.testing.assert_array_equal(background(image, sal, "black"), 0.0)
    np.testing.assert_array_equal(background(image, sal, "white"), 1.0)
    noise = background(image, sal, "noise", seed=1)
    np.testing.assert_array_equal(noise, background(image, None, "noise", seed=1))
    assert not np.array_equal(noise, background(image, None, "noise", seed=2))
    assert noise.shape == image.shape and 0 <= noise.min() and noise.max() < 1
    with pytest.raises(ValueError, match="'kind' parameter must be one of"):
        background(image, sal, "grey")
    with pytest.raises(ValueError, match="needs the saliency"):
        background(image, None, "dist-k")


def test_dist_k_moves_pixels_against_the_sign_of_their_saliency():
    image = np.array([[[0.5], [0.5], [0.5]], [[0.05], [0.98], [0.2]]])  # (2, 3, 1)
    sal = np.array([[2.0, -0.1, 0.0], [1.0, -1.0, -7.0]])
    out = background(image, sal, "dist-k", k=51)  # 51 / 255 = 0.2
    expected = np.array([[0.3, 0.7, 0.5], [0.0, 1.0, 0.4]])[..., None]  # clipped to [0, 1]
    np.testing.assert_allclose(out, expected)
    rgb = np.full((2, 2, 3), 0.5)
    out = background(rgb, np.array([[1.0, -1.0], [0.0, 1.0]]), "dist-k", k=10)
    np.testing.assert_allclose(out[0, 0], 0.5 - 10 / 255)  # every channel of the pixel
    np.testing.assert_allclose(out[0, 1], 0.5 + 10 / 255)


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(2, 7), w=st.integers(2, 7),
       c=st.sampled_from([1, 3]), ties=st.booleans())
def test_masks_replace_exactly_the_top_pixels(seed, h, w, c, ties):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.0, 0.5, size=(h, w, c))
    bg = rng.uniform(0.5, 1.0, size=(h, w, c))  # differs from the image everywhere
    sal = rng.integers(-2, 3, size=(h, w)).astype(float) if ties else rng.normal(size=(h, w))
    alphas = np.concatenate([[0.0, 1.0], rng.uniform(size=6)])
    out = masked_images(image, sal, bg, alphas)
    assert out.shape == (len(alphas), h, w, c)
    rank = np.empty(h * w, dtype=int)
    rank[ranking(sal)] = np.arange(h * w)
    rank = rank.reshape(h, w)
    for img, n in zip(out, pixel_counts(alphas, h * w), strict=True):
        top = rank < n
        assert top.sum() == n
        np.testing.assert_array_equal(img[~top], image[~top])  # untouched outside the fraction
        np.testing.assert_array_equal(img[top], bg[top])
    np.testing.assert_array_equal(out[0], image)
    np.testing.assert_array_equal(out[1], bg)


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(2, 6), w=st.integers(2, 6),
       c=st.sampled_from([1, 3]), kind=st.sampled_from(BACKGROUNDS),
       batch_size=st.integers(1, 80), grid=st.sampled_from(["default", "random", "coarse"]),
       ties=st.booleans())
def test_key_size_equals_the_linear_scan_with_fewer_calls(seed, h, w, c, kind, batch_size,
                                                          grid, ties):
    rng = np.random.default_rng(seed)
    image = rng.uniform(size=(h, w, c))
    sal = rng.integers(-2, 3, size=(h, w)).astype(float) if ties else rng.normal(size=(h, w))
    alphas = {"default": None, "random": rng.uniform(size=25),  # unsorted: scanned in order
              "coarse": np.linspace(0.05, 1.0, 20)}[grid]
    fast_model = RandomLinear((h, w, c), 3, seed)
    slow_model = RandomLinear((h, w, c), 3, seed)
    fast = key_size(fast_model, image, sal, background=kind, alphas=alphas,
                    batch_size=batch_size, k=40, seed=seed % 7)
    slow = key_size_linear_scan(slow_model, image, sal, background=kind, alphas=alphas, k=40,
                                seed=seed % 7)
    assert (np.isnan(fast) and np.isnan(slow)) or fast == slow
    assert fast_model.calls <= slow_model.calls
    if slow_model.calls > 2 and batch_size > 1:
        assert fast_model.calls < slow_model.calls


def test_key_size_known_answers():
    image = np.ones((4, 4, 1))
    first = np.zeros((4, 4))
    first[0, 0] = 1.0  # pixel (0, 0) ranked first: one black pixel flips the class
    assert key_size(Pixel00(), image, first, background="black") == DEFAULT_ALPHAS[0]
    last = np.ones((4, 4))
    last[0, 0] = 0.0  # ranked last: every pixel must go
    expected = DEFAULT_ALPHAS[np.argmax(pixel_counts(DEFAULT_ALPHAS, 16) == 16)]
    assert key_size(Pixel00(), image, last, background="black") == expected
    assert key_size_linear_scan(Pixel00(), image, last, background="black") == expected
    assert np.isnan(key_size(Pixel00(), image, first, background="white"))  # never flips
    custom = np.zeros((4, 4, 1))  # a background image may be given directly
    assert key_size(Pixel00(), image, first, background=custom) == DEFAULT_ALPHAS[0]


def test_key_size_is_not_fooled_by_non_monotone_changes():
    class FlipsAtTwo:  # class 1 only when exactly two pixels are black
        def __call__(self, images):
            n_black = (np.asarray(images)[..., 0] == 0).sum(axis=(1, 2))
            return np.stack([np.ones(len(n_black)), (n_black == 2) * 2.0], axis=1)

    image, sal = np.ones((3, 3, 1)), np.arange(9.0).reshape(3, 3)
    alphas = np.linspace(0.0, 1.0, 10)
    expected = key_size_linear_scan(FlipsAtTwo(), image, sal, background="black", alphas=alphas)
    assert 0 < expected < 1
    for batch_size in (1, 3, 64):
        assert key_size(FlipsAtTwo(), image, sal, background="black", alphas=alphas,
                        batch_size=batch_size) == expected


@pytest.mark.parametrize("kind", BACKGROUNDS)
def test_curve_endpoints(kind):
    rng = np.random.default_rng(3)
    image = rng.uniform(size=(5, 6, 3))
    sal = rng.normal(size=(5, 6))
    model = RandomLinear(image.shape, 4, 3)
    bg = background(image, sal, kind, seed=0)
    target = 2
    alphas, deletion = deletion_curve(model, image, sal, target, background=kind, steps=10)
    _, insertion = insertion_curve(model, image, sal, target, background=kind, steps=10)
    np.testing.assert_allclose(alphas, np.linspace(0, 1, 11))
    at_image, at_bg = model(image[None])[0, target], model(bg[None])[0, target]
    assert deletion[0] == pytest.approx(at_image) and deletion[-1] == pytest.approx(at_bg)
    assert insertion[0] == pytest.approx(at_bg) and insertion[-1] == pytest.approx(at_image)
    _, top1 = deletion_curve(model, image, sal, None, background=kind, steps=10)
    assert top1[0] == pytest.approx(model(image[None])[0].max())


def test_area_under_curve():
    assert area_under_curve([0.0, 1.0], [1.0, 1.0]) == pytest.approx(1.0)
    assert area_under_curve([0.0, 0.5, 1.0], [0.0, 1.0, 0.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="equal length"):
        area_under_curve([0.0, 1.0], [1.0])


def test_bad_inputs_fail_clearly():
    image = np.zeros((3, 3, 1))
    with pytest.raises(ValueError, match="'saliency' must have shape"):
        key_size(Pixel00(), image, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="fractions in \\[0, 1\\]"):
        key_size(Pixel00(), image, np.zeros((3, 3)), alphas=[0.5, 1.5])
    with pytest.raises(ValueError, match="class index"):
        deletion_curve(Pixel00(), image, np.zeros((3, 3)), 7)
