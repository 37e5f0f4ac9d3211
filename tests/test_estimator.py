import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import leg
from leg.estimator import estimate_leg, estimate_leg_all_classes, estimate_leg_tv
from tests.models import Linear, LinearSigmoid, block_weights, smooth_image


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_linear_model_moment_leg_is_unbiased_and_error_falls_with_n():
    h = w = 32
    weights = block_weights(h, w)
    model = Linear(weights)
    image = smooth_image(h, w)
    grid = leg.Grid.from_cell_size(h, w, 4)
    truth = grid.pool(weights) * 16 * 3  # d score / d cell intensity, all channels (joint)
    errors = {}
    for n in (100, 1600):
        maps = [leg.LEG(model, cell_size=4, n_samples=n, mode="joint",
                        estimator="moment").explain(
            image, target=0, seed=s).cell_map for s in range(8)]
        mean_map = np.mean(maps, axis=0)
        errors[n] = np.mean([np.linalg.norm(m - truth) for m in maps])
        # unbiased: the average over seeds approaches the truth faster than one draw
        assert np.linalg.norm(mean_map - truth) < errors[n]
    assert errors[1600] < errors[100] / 2.5  # ~1/sqrt(n): ratio 4 expected


def test_moment_standard_errors_cover_the_truth_on_a_linear_model():
    h = w = 24
    weights = block_weights(h, w)
    grid = leg.Grid.from_cell_size(h, w, 4)
    truth = grid.pool(weights) * 16 * 3
    # the moment estimator's standard errors assume independent draws
    explainer = leg.LEG(Linear(weights), cell_size=4, n_samples=400, mode="joint",
                        estimator="moment", design="iid")
    runs = [explainer.explain(smooth_image(h, w), target=0, seed=s) for s in range(12)]
    coverage = np.mean([np.abs((r.cell_map - truth) / r.stderr) < 1.96 for r in runs])
    assert 0.9 < coverage < 0.99
    spread = np.std([r.cell_map for r in runs], axis=0).mean()
    assert np.mean([r.stderr for r in runs]) == pytest.approx(spread, rel=0.2)


def test_same_seed_gives_bit_identical_maps_and_different_seeds_differ():
    model = LinearSigmoid(block_weights(16, 16))
    image = smooth_image(16, 16)
    e = leg.LEGTV(model, cell_size=4, n_samples=40)
    a, b, c = (e.explain(image, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.saliency, b.saliency)
    assert np.array_equal(a.channel_maps, b.channel_maps)
    assert not np.array_equal(a.saliency, c.saliency)


def test_result_fields_and_shapes():
    model = LinearSigmoid(block_weights(30, 20))
    res = leg.LEG(model, cell_size=8, n_samples=10, mode="per_channel").explain(
        smooth_image(30, 20), seed=0)
    assert res.saliency.shape == (30, 20)  # 30 and 20 are not multiples of 8: nothing cropped
    assert res.cell_map.shape == res.grid.shape == (3, 2)
    assert res.channel_maps.shape == (3, 3, 2)
    assert res.stderr.shape == (3, 2) and np.all(res.stderr >= 0)
    assert res.n_evaluations == 31 and res.target in (0, 1)
    assert res.upsampled("bilinear").shape == (30, 20)
    assert {"sampling", "model", "estimate"} <= set(res.timings)
    assert res.summary()["n_samples"] == 10


def test_targets_contrast_and_all_classes_from_one_sample_set():
    model = LinearSigmoid(block_weights(16, 16), offset=0.3)
    image = smooth_image(16, 16)
    responses = leg.LEG(model, cell_size=4, n_samples=20, mode="joint").sample(image, seed=0)
    top = estimate_leg(responses)
    assert top.target == 0  # offset makes class 0 the top-1
    other = estimate_leg(responses, 1)
    contrast = estimate_leg(responses, (0, 1))
    np.testing.assert_allclose(contrast.cell_map, top.cell_map - other.cell_map, atol=1e-12)
    allc = estimate_leg_all_classes(responses)
    assert allc.shape == (2, 1, 4, 4)
    np.testing.assert_allclose(allc[1, 0], other.cell_map, atol=1e-12)


def test_lambda_zero_is_leg_and_lambda_one_is_zero():
    model = LinearSigmoid(block_weights(16, 16))
    responses = leg.LEG(model, cell_size=4, n_samples=20).sample(smooth_image(16, 16), seed=0)
    plain = estimate_leg(responses, 0)
    zero, one = estimate_leg_tv(responses, 0, lambdas=[0.0, 1.0])
    np.testing.assert_allclose(zero.channel_maps, plain.channel_maps, rtol=1e-10, atol=1e-14)
    assert np.all(one.saliency == 0)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(4, 20), w=st.integers(4, 20), cell=st.integers(1, 4),
       c=st.sampled_from([1, 3]))
def test_any_image_size_gives_a_full_size_finite_map(h, w, c, cell):
    model = LinearSigmoid(np.ones((h, w)))
    res = leg.LEG(model, cell_size=cell, n_samples=4).explain(smooth_image(h, w, c), seed=0)
    assert res.saliency.shape == (h, w)
    assert np.all(np.isfinite(res.saliency))


def test_leg_tv_recovers_a_piecewise_constant_map_better_than_moment_leg():
    h = w = 28
    weights = block_weights(h, w)
    truth = leg.Grid.from_cell_size(h, w, 2).pool(weights)
    model = LinearSigmoid(weights, scale=0.05)
    # i.i.d. draws: orthogonal ones make the moment estimator near-exact here as well
    responses = leg.LEG(model, cell_size=2, n_samples=1000, mode="joint",
                        design="iid").sample(smooth_image(h, w), seed=0)
    plain = estimate_leg(responses, 0, estimator="moment")
    tv = estimate_leg_tv(responses, 0, lambdas=0.075, estimator="moment")[0]
    assert _corr(tv.cell_map, truth) > 0.95
    assert _corr(tv.cell_map, truth) > _corr(plain.cell_map, truth)
    # the regression is already near-exact on this almost linear model; TV keeps it so
    ridge_tv = estimate_leg_tv(responses, 0, lambdas=0.075)[0]
    assert _corr(ridge_tv.cell_map, truth) > _corr(tv.cell_map, truth)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sigma=-1), "'sigma'"),
        (dict(n_samples=1), "'n_samples'"),
        (dict(n_samples=5), "even"),
        (dict(scheme="gaussian"), "'scheme'"),
        (dict(mode="both"), "'mode'"),
        (dict(cell_size=0), "'cell_size'"),
        (dict(combine="max"), "'combine'"),
    ],
)
def test_bad_parameters_are_refused_clearly(kwargs, match):
    model = LinearSigmoid(np.ones((8, 8)))
    with pytest.raises(ValueError, match=match):
        leg.LEG(model, **kwargs).explain(smooth_image(8, 8), seed=0)


@pytest.mark.parametrize(
    "image, match",
    [
        (np.zeros((2, 8, 8, 3)), "shape"),
        (np.zeros((8, 8, 5)), "channels"),
        (np.full((8, 8, 3), np.nan), "non-finite"),
        (np.full((8, 8, 3), 200.0), "divide it by 255"),
    ],
)
def test_bad_images_are_refused_clearly(image, match):
    with pytest.raises(ValueError, match=match):
        leg.LEG(LinearSigmoid(np.ones((8, 8))), cell_size=2, n_samples=4).explain(image)


def test_grid_larger_than_image_and_bad_lambda_and_solver():
    model = LinearSigmoid(np.ones((8, 8)))
    with pytest.raises(ValueError, match="larger than the image"):
        leg.LEG(model, cell_size=16).explain(smooth_image(8, 8))
    with pytest.raises(ValueError, match="'lam'"):
        leg.LEGTV(model, lam=-0.1)
    with pytest.raises(leg.SolverError, match="highs"):
        leg.LEGTV(model, cell_size=2, n_samples=4, solver="no-such-solver").explain(
            smooth_image(8, 8), seed=0)


@pytest.mark.parametrize(
    "bad_model, match",
    [
        (lambda x: np.zeros((len(x),)), r"shape \(N, K\)"),
        (lambda x: np.zeros((len(x) + 1, 3)), r"shape \(N, K\)"),
        (lambda x: np.full((len(x), 3), np.nan), "non-finite"),
    ],
)
def test_bad_models_are_refused_clearly(bad_model, match):
    with pytest.raises(ValueError, match=match):
        leg.LEG(bad_model, cell_size=2, n_samples=4).explain(smooth_image(8, 8), seed=0)


def test_target_out_of_range_and_logit_without_logits():
    model = LinearSigmoid(np.ones((8, 8)))
    with pytest.raises(ValueError, match="class index"):
        leg.LEG(model, cell_size=2, n_samples=4).explain(smooth_image(8, 8), target=5)
    with pytest.raises(ValueError, match="logits"):
        leg.LEG(model, cell_size=2, n_samples=4, score="logit").explain(smooth_image(8, 8))


def test_large_sigma_warns_about_saturation():
    model = LinearSigmoid(np.ones((8, 8)))
    with pytest.warns(UserWarning, match="saturate"):
        leg.LEG(model, cell_size=2, n_samples=4, sigma=0.3).explain(smooth_image(8, 8), seed=0)


def test_batches_do_not_change_the_result():
    model = LinearSigmoid(block_weights(16, 16))
    image = smooth_image(16, 16)
    a = leg.LEG(model, cell_size=4, n_samples=40, batch_size=64).explain(image, seed=3)
    b = leg.LEG(model, cell_size=4, n_samples=40, batch_size=6).explain(image, seed=3)
    np.testing.assert_allclose(a.saliency, b.saliency, rtol=1e-12)


def test_defaults_are_the_command_lines():
    """LEG() takes leg explain's defaults (leg.defaults): 14x14 cells (fewer on a small
    image), joint mode, n_samples="auto"; LEGTV's lambda is the CLI's."""
    from leg import defaults

    model = LinearSigmoid(block_weights(30, 20))
    explainer = leg.LEG(model)
    assert explainer.auto["target"] == defaults.TARGET_RELIABILITY
    assert explainer.auto["max_samples"] == defaults.MAX_SAMPLES
    assert explainer.sampling["mode"] == "joint" and explainer.sampling["design"] == "orthogonal"
    assert explainer.grid_for(smooth_image(30, 20)).shape == (14, 14)
    assert explainer.grid_for(smooth_image(8, 20)).shape == (8, 14)
    assert leg.LEG(model, cell_size=8).grid_for(smooth_image(30, 20)).shape == (3, 2)
    assert leg.LEGTV(model).lam == defaults.LAMBDA
