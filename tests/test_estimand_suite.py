"""The estimand-accuracy suite: its estimand is right, its checks pass LEG and fail a method
that deserves to fail."""

import numpy as np
import pytest

import leg
from leg.harness.checks import estimand as estimand_suite
from leg.harness.checks.estimand import (
    check_accuracy,
    check_beats_moment,
    check_error_falls,
    run_estimand,
)
from leg.harness.profiles import EstimandPlan, Profile
from leg.zoo.groundtruth import linear_region, smooth_region_means

PLAN = EstimandPlan("groundtruth:smooth_region_means_28x28x3", n_images=1,
                    budgets=(100, 400, 1600), gradients=512, cell_size=2, sigma=0.02,
                    min_corr=0.9)


def _profile(plan=PLAN):
    return Profile(name="test", description="", models=(), estimand=(plan,))


def _keras_twin(model):
    """The ground-truth model rebuilt in Keras (region means, link, two-class softmax)."""
    import keras

    h, w, c = model.image_shape
    coef = np.array([10.0, -5.0])  # linear_region's link: g = (m - 0.5) @ coef
    inp = keras.Input((h, w, c))
    pixels = keras.layers.Reshape((h * w,))(keras.ops.mean(inp, axis=-1))
    means = keras.layers.Dense(2, use_bias=False, trainable=False)
    logit = keras.layers.Dense(1, trainable=False)
    g = logit(means(pixels))
    out = keras.layers.Softmax()(keras.ops.concatenate([g, keras.ops.zeros_like(g)], axis=-1))
    net = keras.Model(inp, out)
    means.set_weights([model._weights.T.astype(np.float32)])
    logit.set_weights([coef[:, None].astype(np.float32), np.array([-0.5 * coef.sum()],
                                                                  dtype=np.float32)])
    return leg.KerasClassifier(net)


def test_autodiff_estimand_equals_the_closed_form_on_a_ground_truth_model():
    model = linear_region(16, 16, 3)
    twin = _keras_twin(model)
    image = model.base_image(0)
    np.testing.assert_allclose(twin(image[None]), model(image[None]), atol=1e-5)
    grid = leg.Grid.from_cell_size(16, 16, 2)
    for mode in ("joint", "per_channel"):
        closed = leg.leg_estimand(model, image, grid, 0, sigma=0.05, mode=mode, n_draws=64)
        autodiff = leg.leg_estimand(twin, image, grid, 0, sigma=0.05, mode=mode, n_draws=64)
        np.testing.assert_allclose(autodiff.channel_maps, closed.channel_maps, rtol=2e-3,
                                   atol=1e-6 * np.abs(closed.channel_maps).max())


def test_logit_estimand_of_a_linear_logit_is_its_weights():
    model = linear_region(16, 16, 3)
    image = model.base_image(0)
    grid = leg.Grid.from_cell_size(16, 16, 4)
    est = leg.leg_estimand(model, image, grid, 0, sigma=0.1, score="logit", n_draws=8)
    weights = model.gradient(image[None], 0, score="logit")[0].sum(axis=-1)
    np.testing.assert_allclose(est.channel_maps[0], grid.cell_sums(weights), rtol=1e-10)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_estimand(_profile(), cache_root=str(tmp_path_factory.mktemp("cache")))


def test_suite_measures_every_variant_and_passes_leg(results):
    assert not results.errors and results.precision[0]["half_correlation"] > 0.95
    variants = {r["variant"] for r in results.rows}
    designs = {estimand_suite.design_variant(d) for d in PLAN.designs}
    assert variants == set(estimand_suite.VARIANTS) | designs
    assert check_accuracy(results, PLAN) == []
    # 14x14 cells: the designs are judged at 400 and 1600 evaluations (more pairs than cells)
    assert estimand_suite.design_budgets(results, PLAN) == [400, 1600]
    assert estimand_suite.check_design(results, PLAN) == []
    assert check_error_falls(results, PLAN) == []
    assert check_beats_moment(results, PLAN) == []
    # the published estimator is measured too, and is worse at the small budget
    assert results.median(PLAN.spec, "moment", 100, "pearson") < results.median(
        PLAN.spec, "ridge", 100, "pearson")


def test_suite_fails_a_method_that_deserves_to_fail(tmp_path, monkeypatch):
    """A variant whose map ignores the samples (a fixed random map) is inaccurate, does not
    improve with n, and loses to the moment estimator: every check says so."""

    def noise(responses, target, lam):
        rng = np.random.default_rng(0)
        return rng.standard_normal((responses.eps.shape[0], *responses.grid.shape))

    monkeypatch.setitem(estimand_suite.VARIANTS, "noise", noise)
    res = run_estimand(_profile(), cache_root=str(tmp_path))
    assert check_accuracy(res, PLAN, variant="noise")
    assert check_error_falls(res, PLAN, variant="noise")
    assert check_beats_moment(res, PLAN, variant="noise")


def test_suite_is_cached(results, tmp_path):
    first = run_estimand(_profile(), cache_root=str(tmp_path))
    again = run_estimand(_profile(), cache_root=str(tmp_path))
    n = 2 + len(PLAN.designs)  # the estimand, the variants, one sample set per other design
    assert first.cache_stats == {"computed": n} and again.cache_stats == {"cached": n}
    assert again.rows == first.rows


def test_models_without_gradients_are_skipped(tmp_path, monkeypatch):
    from leg.harness.engine import inputs

    plan = EstimandPlan("tests.models:cli_model", n_images=1, budgets=(10, 20))
    monkeypatch.setitem(inputs._MODELS, plan.spec, smooth_region_means().__call__)
    res = run_estimand(_profile(plan), cache_root=str(tmp_path))
    assert plan.spec in res.skipped and "gradient" in res.skipped[plan.spec]


def test_matrix_verdicts_fold_the_synthetic_models(results):
    from leg.harness.checks.verdicts import SYNTHETIC as SUITE

    cells = {v.method: v for v in estimand_suite.matrix_verdicts(results)}
    assert {v.model for v in cells.values()} == {SUITE}
    assert cells["leg"].verdict == "pass" and cells["leg"].asserted
    assert cells["leg"].value == pytest.approx(results.median(PLAN.spec, "ridge", 1600,
                                                              "pearson"))
    assert cells["leg-tv"].verdict in ("pass", "fail") and not cells["leg-tv"].asserted
    board = estimand_suite.leaderboards(results)[0]
    assert {e.method for e in board.entries} == set(estimand_suite.VARIANTS)
    assert [e.method for e in board.entries if e.marked] == sorted(
        ["ridge", "leg-tv"], key=[e.method for e in board.entries].index)


def test_the_design_check_fails_a_worse_default():
    res = estimand_suite.EstimandResults(profile=_profile())
    res.precision.append({"model": PLAN.spec, "grid": "14x14"})
    res.maps[(PLAN.spec, "base0")] = np.zeros((1, 14, 14))
    for variant, value in (("ridge", 0.80), ("ridge-iid", 0.90), ("ridge-sobol", 0.81)):
        for n in PLAN.budgets:
            res.rows.append({"model": PLAN.spec, "image": "base0", "variant": variant,
                             "budget": n, "metric": "pearson", "value": value})
    assert estimand_suite.check_design(res, PLAN) == [
        "n=400: orthogonal 0.800 < iid 0.900", "n=1600: orthogonal 0.800 < iid 0.900"]
