"""eMPRT and sMPRT primitives (leg.harness.checks.randomization.mprt): definitions, verdicts, the
edge control."""

import numpy as np
import pytest
from scipy.stats import entropy

from leg.harness.checks.randomization.mprt import (
    complexity,
    emprt,
    emprt_threshold,
    emprt_verdict,
    noisy_copies,
    smooth_explanation,
    smprt,
)


def _blob(h=32, w=32, cy=16, cx=16, s=3.0):
    y, x = np.mgrid[:h, :w]
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))


def test_complexity_is_the_entropy_of_the_value_histogram():
    m = np.array([[0.0, 0.0, 1.0, 1.0], [1.0, 3.0, 3.0, 3.0]])
    # |m| over [0, 3] in 3 bins: counts 2, 3, 3 (the top edge belongs to the last bin)
    assert complexity(m, n_bins=3) == pytest.approx(entropy([2, 3, 3]))
    assert complexity(-m, n_bins=3) == complexity(m, n_bins=3)  # absolute by default
    signed = np.array([[-1.0, 1.0]])
    assert complexity(signed, n_bins=2) == 0.0  # |map| is constant
    assert complexity(signed, n_bins=2, absolute=False) == pytest.approx(np.log(2))
    rng = np.random.default_rng(0)
    noise = rng.uniform(size=(64, 64))
    assert complexity(noise) == pytest.approx(np.log(100), abs=0.02)
    assert complexity(7.5 * noise) == pytest.approx(complexity(noise))  # scale-free
    assert complexity(np.zeros((8, 8))) == 0.0
    assert complexity(_blob()) < complexity(noise) - 0.5  # concentrated < diffuse


def test_shannon_complexity_is_the_entropy_of_the_normalised_map():
    assert complexity(np.ones((4, 4)), kind="shannon") == pytest.approx(np.log(16))
    one_hot = np.zeros((4, 4))
    one_hot[1, 2] = -5.0
    assert complexity(one_hot, kind="shannon") == 0.0
    assert complexity(np.zeros((4, 4)), kind="shannon") == 0.0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"must be an \(H, W\) map"):
        complexity(np.zeros(5))
    with pytest.raises(ValueError, match="NaN or inf"):
        complexity(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="Unknown complexity kind 'gini'"):
        complexity(np.ones((2, 2)), kind="gini")
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        complexity(np.ones((2, 2)), n_bins=0)
    with pytest.raises(ValueError, match="as many original as randomized"):
        emprt([np.ones((2, 2))], [])
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        noisy_copies(np.ones((2, 2, 1)), 3, -0.1)


def test_emprt_rise_matches_quantus_formula_and_passes_a_model_dependent_map():
    rng = np.random.default_rng(1)
    orig = [_blob(cy=c, cx=c) + 0.01 * rng.uniform(size=(32, 32)) for c in (10, 16, 22)]
    rand = [rng.uniform(size=(32, 32)) for _ in orig]
    res = emprt(orig, rand)
    a = np.array([complexity(m) for m in orig])
    b = np.array([complexity(m) for m in rand])
    np.testing.assert_allclose(res.rise, (b - a) / a)
    np.testing.assert_allclose(res.fraction, b / a)
    assert not res.degenerate.any() and (res.rise > 0.2).all()
    assert emprt_verdict(res.rise) == "pass"
    rows = res.rows(["a", "b", "c"])
    assert rows[1]["image"] == "b" and rows[1]["rise"] == pytest.approx(res.rise[1])


def test_edge_control_fails_emprt():
    """The Sobel edge map ignores the model: its complexity cannot rise under randomization."""
    keras = pytest.importorskip("keras")
    import leg.harness.methods  # noqa: F401  (registers "edge")
    from leg.explainers import make_explainer
    from leg.harness.checks.randomization.layers import layer_groups, randomized
    from leg.models import KerasClassifier
    from leg.zoo.digits import _build_model, digits_data

    keras.utils.set_random_seed(0)
    clf = KerasClassifier(_build_model(16), preprocessing="none")
    images = digits_data(size=16)["x_test"][:4].astype(np.float64)
    edge = make_explainer("edge", clf)
    original = [edge.explain(x).saliency for x in images]
    with randomized(clf, [g for g, _ in layer_groups(clf)], seed=0, calibration=images):
        randomized_maps = [edge.explain(x).saliency for x in images]
    res = emprt(original, randomized_maps)
    assert not res.degenerate.any()
    np.testing.assert_array_equal(res.rise, 0.0)
    np.testing.assert_array_equal(res.fraction, 1.0)
    assert emprt_verdict(res.rise) == "fail"
    assert emprt_verdict(res.rise, margin=0.0) == "fail"  # a rise of 0 never passes


def test_noise_maps_fail_emprt_and_reseed_noise_raises_the_bar():
    rng = np.random.default_rng(2)
    orig = [rng.uniform(size=(32, 32)) for _ in range(5)]
    rand = [rng.uniform(size=(32, 32)) for _ in range(5)]
    res = emprt(orig, rand)
    assert np.abs(res.rise).max() < 0.05  # already maximally complex: nothing to rise
    assert emprt_verdict(res.rise) == "fail"
    assert emprt_threshold() == pytest.approx(0.01)
    assert emprt_threshold([0.1, -0.3, np.nan], quantile=1.0, margin=0.05) == pytest.approx(0.35)
    assert emprt_verdict([0.3, 0.3], [0.1, -0.3], quantile=1.0) == "fail"
    assert emprt_verdict([0.4, 0.4], [0.1, -0.3], quantile=1.0) == "pass"


def test_constant_maps_are_degenerate():
    res = emprt([np.zeros((8, 8)), _blob(8, 8, 4, 4)], [_blob(8, 8, 2, 2), np.ones((8, 8))])
    assert res.degenerate.tolist() == [True, True]
    assert np.isnan(res.rise).all()
    assert emprt_verdict(res.rise) == "degenerate"
    assert emprt_verdict([0.5], degenerate=True) == "degenerate"


def test_noisy_copies_follow_quantus_and_are_seeded():
    img = np.random.default_rng(3).uniform(0.2, 0.7, size=(16, 16, 3))
    c = noisy_copies(img, 200, 0.1, seed=4)
    assert c.shape == (200, 16, 16, 3)
    np.testing.assert_array_equal(c[-1], img)  # the last copy is noiseless
    noise = c[:-1] - img
    assert noise.std() == pytest.approx(0.1 * np.ptp(img), rel=0.02)
    np.testing.assert_array_equal(c, noisy_copies(img, 200, 0.1, seed=4))
    assert not np.array_equal(c, noisy_copies(img, 200, 0.1, seed=5))
    np.testing.assert_array_equal(noisy_copies(img, 3, 0.0), np.stack([img] * 3))


def test_smooth_explanation_averages_over_the_copies_and_reuses_the_clean_map():
    img = np.random.default_rng(5).uniform(size=(8, 8, 1))
    calls = []

    def explain(x, k=None):
        calls.append(k)
        return x[..., 0] ** 2

    copies = noisy_copies(img, 10, 0.2, seed=6)
    expected = np.mean(copies[..., 0] ** 2, axis=0)
    np.testing.assert_allclose(smooth_explanation(explain, img, n=10, sigma=0.2, seed=6),
                               expected)
    calls.clear()
    got = smooth_explanation(explain, img, n=10, sigma=0.2, seed=6, indexed=True,
                             clean_map=img[..., 0] ** 2)
    np.testing.assert_allclose(got, expected)
    assert calls == list(range(9))  # the noiseless copy's map was given, not recomputed


def test_smprt_scores_the_smoothed_maps():
    rng = np.random.default_rng(7)
    images = rng.uniform(size=(3, 12, 12, 1))
    w = rng.standard_normal((12, 12))

    def model_dependent(x):
        return w * x[..., 0]

    def model_independent(x):
        return x[..., 0]

    same = smprt(model_independent, model_independent, images, n=5, sigma=0.1)
    np.testing.assert_allclose(same["similarity"], 1.0)
    assert same["original"].shape == (3, 12, 12)
    other = smprt(model_dependent, lambda x: rng.standard_normal((12, 12)) * x[..., 0],
                  images, n=5, sigma=0.1)
    assert np.abs(other["similarity"]).max() < 0.5


def test_noisy_copies_can_be_clipped_to_the_image_range():
    img = np.random.default_rng(8).uniform(size=(8, 8, 1))
    raw = noisy_copies(img, 20, 0.5, seed=0)
    assert raw.min() < 0 and raw.max() > 1  # Quantus' copies leave the range
    c = noisy_copies(img, 20, 0.5, seed=0, clip=(0, 1))
    np.testing.assert_array_equal(c, np.clip(raw, 0, 1))
