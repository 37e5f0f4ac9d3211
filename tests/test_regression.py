"""The regression estimators (leg.regression) and the exact estimand (leg.estimand)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import leg
from leg.covariance import get_covariance
from leg.estimator import estimate_leg, estimate_leg_all_classes, estimate_leg_tv
from leg.regression import RidgeFit, design, fit
from tests.models import LinearSigmoid, block_weights, smooth_image


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


class Quadratic:
    """Three scores, each a quadratic in the pixels: ``f_k = a_kᵀx + ½ xᵀ B_k x`` with a
    diagonal ``B_k`` per pixel and channel. Its gradient is linear in ``x``, so the average
    gradient over zero-mean noise is the gradient at ``x0`` exactly, and antithetic
    half-differences are exactly linear in the perturbation."""

    def __init__(self, shape, seed=0):
        rng = np.random.default_rng(seed)
        self.a = rng.standard_normal((3, *shape))
        self.b = rng.standard_normal((3, *shape))

    def __call__(self, images):
        x = np.asarray(images, dtype=np.float64)
        return (np.einsum("khwc,nhwc->nk", self.a, x)
                + 0.5 * np.einsum("khwc,nhwc->nk", self.b, x**2))

    def gradient(self, images, target, *, score="probability"):
        x = np.asarray(images, dtype=np.float64)
        return self.a[target] + self.b[target] * x


def _cell_gradient(model, image, grid, target, mode):
    """Gradient at ``image`` with respect to the cell intensities: ``(S, ph, pw)``."""
    g = model.gradient(image[None], target)[0]
    if mode == "joint":
        return grid.cell_sums(g.sum(-1))[None]
    return np.stack([grid.cell_sums(g[..., c]) for c in range(g.shape[-1])])


def _random_design(m, q, seed=0):
    rng = np.random.default_rng(seed)
    cov = get_covariance((1, q), "laplacian")
    X = cov.sample(rng, m) * 0.1
    Y = X @ rng.standard_normal((q, 2)) + 0.05 * rng.standard_normal((m, 2))
    return X, Y, cov


@pytest.mark.parametrize("m,q", [(40, 12), (12, 40)])  # primal and kernel forms
@pytest.mark.parametrize("penalty", ["identity", "covariance"])
def test_ridge_equals_the_normal_equations(m, q, penalty):
    X, Y, cov = _random_design(m, q)
    P = np.eye(q) if penalty == "identity" else cov.dense()
    for alpha in (1e-4, 0.01, 1.0):
        _, _, gamma, _ = fit(X, Y, m, cov, estimator="ridge", alpha=alpha, penalty=penalty)
        direct = np.linalg.solve(X.T @ X + alpha * P, X.T @ Y)
        np.testing.assert_allclose(gamma, direct, rtol=1e-7, atol=1e-9)


def test_ols_equals_lstsq():
    X, Y, cov = _random_design(60, 15, seed=3)
    _, _, gamma, alphas = fit(X, Y, 60, cov, estimator="ols")
    np.testing.assert_allclose(gamma, np.linalg.lstsq(X, Y, rcond=None)[0], rtol=1e-8)
    assert np.all(alphas == 0)


def test_gcv_picks_the_minimiser_of_the_explicit_criterion():
    X, Y, cov = _random_design(30, 20, seed=1)
    (fitted,), _, _, chosen = fit(X, Y, 30, cov, estimator="ridge", penalty="identity")
    for k in range(Y.shape[1]):
        scores = {}
        for alpha in fitted.alpha_grid(allow_zero=False):
            H = X @ np.linalg.solve(X.T @ X + alpha * np.eye(20), X.T)
            rss = np.sum((Y[:, k] - H @ Y[:, k]) ** 2)
            scores[alpha] = 30 * rss / (30 - np.trace(H)) ** 2
        assert chosen[k] == pytest.approx(min(scores, key=scores.get), rel=1e-9)


def test_stderr_is_the_hc2_sandwich():
    X, Y, cov = _random_design(50, 10, seed=2)
    y = Y[:, 0]
    fitted = RidgeFit.from_design(X, 50, cov)
    alpha = 0.01
    M = np.linalg.solve(X.T @ X + alpha * np.eye(10), X.T)
    H = X @ M
    e = y - H @ y
    direct = np.sqrt((M**2) @ (e**2 / (1 - np.diag(H))))
    np.testing.assert_allclose(fitted.stderr(y, alpha), direct, rtol=1e-8)


def test_design_uses_half_differences_or_centring():
    eps = np.arange(12.0).reshape(4, 3)
    eps[1], eps[3] = -eps[0], -eps[2]
    delta = np.array([[1.0], [3.0], [2.0], [-2.0]])
    X, Y, dof = design(eps, delta, antithetic=True)
    np.testing.assert_allclose(X, eps[[0, 2]])
    np.testing.assert_allclose(Y, [[-1.0], [2.0]])
    assert dof == 2
    X, Y, dof = design(eps, delta, antithetic=False)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    assert dof == 3


@pytest.mark.parametrize("mode", ["joint", "per_channel"])
@pytest.mark.parametrize("estimator", ["ols", "ridge"])
def test_regression_recovers_the_gradient_of_a_quadratic_to_rounding(mode, estimator):
    image = smooth_image(12, 12)
    model = Quadratic(image.shape)
    explainer = leg.LEG(model, cell_size=3, n_samples=64, mode=mode, estimator=estimator,
                        sigma=0.05)
    responses = explainer.sample(image, seed=0)
    grid = responses.grid
    for target in (0, 2, (1, 2)):
        res = estimate_leg(responses, target, estimator=estimator, combine="mean")
        if isinstance(target, tuple):
            truth = (_cell_gradient(model, image, grid, target[0], mode)
                     - _cell_gradient(model, image, grid, target[1], mode))
        else:
            truth = _cell_gradient(model, image, grid, target, mode)
        np.testing.assert_allclose(res.channel_maps, truth, rtol=1e-8, atol=1e-8)
        assert np.all(res.stderr < 1e-8)
    every = estimate_leg_all_classes(responses, estimator=estimator)
    for k in range(3):
        np.testing.assert_allclose(every[k], _cell_gradient(model, image, grid, k, mode),
                                   rtol=1e-8, atol=1e-8)


def test_moment_estimator_is_not_exact_where_the_regression_is():
    image = smooth_image(12, 12)
    model = Quadratic(image.shape)
    responses = leg.LEG(model, cell_size=3, n_samples=64, mode="joint").sample(image, seed=0)
    truth = _cell_gradient(model, image, responses.grid, 0, "joint")
    moment = estimate_leg(responses, 0, estimator="moment").channel_maps
    assert np.abs(moment - truth).max() > 1e-2 * np.abs(truth).max()


def test_regression_beats_the_moment_estimator_on_a_nonlinear_model():
    weights = block_weights(24, 24)
    image = smooth_image(24, 24)
    model = _centred(LinearSigmoid(weights, scale=4.0), image)  # far from linear at this σ
    # i.i.d. draws: orthogonal blocks make EᵀE ≈ nσ²Σ, and so the moment estimator nearly as
    # good as the regression (0.98 vs 0.99 here)
    explainer = leg.LEG(model, cell_size=3, n_samples=300, mode="joint", sigma=0.02,
                        design="iid")
    truth = leg.leg_estimand(_Differentiable(model), image, explainer.grid_for(image), 0,
                             sigma=0.02, n_draws=2048).channel_maps
    scores = {name: [] for name in ("moment", "ridge")}
    for seed in range(3):
        responses = explainer.sample(image, seed=seed)
        for name in scores:
            scores[name].append(_corr(estimate_leg(responses, 0, estimator=name).cell_map,
                                      truth))
    assert np.median(scores["ridge"]) > np.median(scores["moment"]) + 0.05


def _centred(model, image, logit=0.3):
    """Shift ``model``'s offset so that its logit at ``image`` is ``logit``."""
    model.offset += logit - model.logit(image[None])[0]
    return model


class _Differentiable:
    """LinearSigmoid with its closed-form gradient (for the estimand)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, images):
        return self.model(images)

    def gradient(self, images, target, *, score="probability"):
        p = self.model(images)[:, 0]
        d = (p * (1 - p) * self.model.scale)[:, None, None, None]
        g = d * self.model.weights[None, :, :, None] / images.shape[-1]
        return np.broadcast_to(g if target == 0 else -g, images.shape)


def test_ridge_standard_errors_match_the_spread_over_seeds():
    image = smooth_image(16, 16)
    model = _Differentiable(_centred(LinearSigmoid(block_weights(16, 16), scale=4.0), image))
    explainer = leg.LEG(model, cell_size=4, n_samples=200, mode="joint", sigma=0.03,
                        alpha=1e-3)
    runs = [explainer.explain(image, target=0, seed=s) for s in range(40)]
    spread = np.std([r.cell_map for r in runs], axis=0, ddof=1).mean()
    assert np.mean([r.stderr for r in runs]) == pytest.approx(spread, rel=0.25)


def test_kernel_form_runs_where_cells_outnumber_pairs():
    image = smooth_image(40, 40)
    model = _centred(LinearSigmoid(block_weights(40, 40), scale=0.5), image)
    res = leg.LEG(model, cell_size=1, n_samples=400, mode="joint").explain(image, 0, seed=0)
    assert res.cell_map.shape == (40, 40) and np.all(np.isfinite(res.cell_map))
    assert res.alpha[0] > 0
    assert _corr(res.cell_map, block_weights(40, 40)) > 0.2  # ~ sqrt(200 pairs / 1600 cells)


def test_leg_tv_on_the_regression_is_the_regression_at_lambda_zero():
    image = smooth_image(16, 16)
    model = _centred(LinearSigmoid(block_weights(16, 16), scale=2.0), image)
    responses = leg.LEG(model, cell_size=2, n_samples=200, mode="joint").sample(image, seed=0)
    ridge = estimate_leg(responses, 0)
    zero, mid, one = estimate_leg_tv(responses, 0, lambdas=[0.0, 0.1, 1.0])
    np.testing.assert_allclose(zero.cell_map, ridge.cell_map, rtol=1e-8, atol=1e-12)
    assert np.all(one.cell_map == 0)
    assert mid.estimator == "ridge" and mid.alpha == ridge.alpha
    tv = np.abs(np.diff(mid.cell_map, axis=0)).sum() + np.abs(np.diff(mid.cell_map, axis=1)).sum()
    tv0 = (np.abs(np.diff(ridge.cell_map, axis=0)).sum()
           + np.abs(np.diff(ridge.cell_map, axis=1)).sum())
    assert tv < tv0


@settings(max_examples=15, deadline=None)
@given(m=st.integers(6, 40), q=st.integers(2, 30), seed=st.integers(0, 1000),
       log_alpha=st.floats(-4, 1))
def test_ridge_matches_normal_equations_for_any_shape(m, q, seed, log_alpha):
    X, Y, cov = _random_design(m, q, seed)
    alpha = 10.0**log_alpha
    _, _, gamma, _ = fit(X, Y, m, cov, estimator="ridge", alpha=alpha, penalty="identity")
    direct = np.linalg.solve(X.T @ X + alpha * np.eye(q), X.T @ Y)
    np.testing.assert_allclose(gamma, direct, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("options,match", [
    (dict(estimator="lasso"), "'estimator'"),
    (dict(alpha="loo"), "'alpha'"),
    (dict(alpha=-1.0), "'alpha'"),
    (dict(penalty="tv"), "'penalty'"),
])
def test_bad_estimator_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        leg.LEG(LinearSigmoid(block_weights(8, 8)), **options)


def test_ols_with_too_few_samples_says_what_to_do():
    explainer = leg.LEG(LinearSigmoid(block_weights(16, 16)), cell_size=2, n_samples=40,
                        estimator="ols")
    with pytest.raises(ValueError, match="estimator='ridge'"):
        explainer.explain(smooth_image(16, 16), seed=0)


@pytest.mark.parametrize("mode", ["joint", "per_channel"])
def test_estimand_of_a_quadratic_is_the_gradient_at_x0(mode):
    image = smooth_image(12, 12)
    model = Quadratic(image.shape, seed=4)
    grid = leg.Grid.from_cell_size(12, 12, 3)
    est = leg.leg_estimand(model, image, grid, (0, 1), sigma=0.05, mode=mode, n_draws=8)
    truth = (_cell_gradient(model, image, grid, 0, mode)
             - _cell_gradient(model, image, grid, 1, mode))
    np.testing.assert_allclose(est.channel_maps, truth, rtol=1e-10, atol=1e-10)


def test_estimand_is_what_the_moment_estimator_converges_to():
    image = smooth_image(12, 12)
    model = _Differentiable(_centred(LinearSigmoid(block_weights(12, 12), scale=4.0), image))
    grid = leg.Grid.from_cell_size(12, 12, 3)
    est = leg.leg_estimand(model, image, grid, 0, sigma=0.05, n_draws=4096)
    assert est.half_correlation > 0.99
    responses = leg.LEG(model, cell_size=3, n_samples=20000, mode="joint",
                        sigma=0.05).sample(image, seed=1)
    moment = estimate_leg(responses, 0, estimator="moment").cell_map
    assert _corr(moment, est.channel_maps[0]) > 0.98


def test_estimand_refuses_models_without_gradients():
    with pytest.raises(TypeError, match="gradient"):
        leg.leg_estimand(LinearSigmoid(block_weights(8, 8)), smooth_image(8, 8),
                         leg.Grid.from_cell_size(8, 8, 2), 0, sigma=0.02)
    with pytest.raises(ValueError, match="multiple of 4"):
        leg.leg_estimand(Quadratic((8, 8, 3)), smooth_image(8, 8),
                         leg.Grid.from_cell_size(8, 8, 2), 0, sigma=0.02, n_draws=10)


def test_head_is_a_prefix_of_whole_pairs():
    responses = leg.LEG(LinearSigmoid(block_weights(8, 8)), cell_size=2,
                        n_samples=20).sample(smooth_image(8, 8), seed=0)
    sub = responses.head(8)
    assert sub.n_samples == 8 and np.array_equal(sub.eps, responses.eps[:, :8])
    with pytest.raises(ValueError, match="even"):
        responses.head(7)
