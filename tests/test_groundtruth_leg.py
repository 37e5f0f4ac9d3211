"""LEG and LEG-TV against the zoo's ground-truth classifiers (the truth is known exactly).

Stated budget: joint mode, 1600 model evaluations, cells of 2 px (4 px from 56 px up):
LEG-TV (λ = 0.075) correlates > 0.9 with the cell-pooled true gradient on every model.
"""

import numpy as np
import pytest

import leg
from leg.zoo.groundtruth import ground_truth_suite

SUITE = ground_truth_suite()


def _correlations(model, n_samples, seed=0):
    image = model.base_image(0)
    h, w, _ = model.image_shape
    cell = 2 if min(h, w) <= 32 else 4
    truth = leg.Grid.from_cell_size(h, w, cell).pool(model.true_map(image))
    responses = leg.LEG(model, cell_size=cell, n_samples=n_samples, mode="joint").sample(
        image, seed=seed)
    plain = leg.estimate_leg(responses, model.target)
    tv = leg.estimate_leg_tv(responses, model.target, lambdas=0.075)[0]

    def corr(result):
        return float(np.corrcoef(result.cell_map.ravel(), truth.ravel())[0, 1])

    return corr(plain), corr(tv)


@pytest.mark.parametrize("model", SUITE, ids=[m.name for m in SUITE])
def test_correlation_with_truth_rises_with_n_and_leg_tv_exceeds_090(model):
    small_leg, small_tv = _correlations(model, 100)
    large_leg, large_tv = _correlations(model, 1600)
    assert large_leg > small_leg and large_tv > small_tv
    assert large_tv > 0.9
    assert large_tv >= large_leg - 0.01  # TV never worse on piecewise-constant truths


def _relative_errors(model, estimator, budgets=(200, 800, 3200)):
    image = model.base_image(0)
    # LEG estimates d score / d (cell intensity): the true map summed over each 2x2 cell
    truth = leg.Grid.from_cell_size(28, 28, 2).pool(model.true_map(image)) * 4
    errors = []
    for n in budgets:
        # i.i.d. draws: the Monte Carlo rate (orthogonal blocks beat 1/sqrt(n) on these
        # nearly linear models, since each complete block has EᵀE = σ²Σ·(its chi² lengths))
        maps = [leg.LEG(model, cell_size=2, n_samples=n, mode="joint", estimator=estimator,
                        design="iid").explain(image, model.target, seed=s).cell_map
                for s in range(3)]
        errors.append(np.mean([np.linalg.norm(m - truth) / np.linalg.norm(truth)
                               for m in maps]))
    return np.array(errors)


def test_moment_error_falls_like_one_over_root_n():
    errors = _relative_errors(SUITE[0], "moment")
    slope = np.polyfit(np.log([200, 800, 3200]), np.log(errors), 1)[0]
    assert -0.65 < slope < -0.35, (errors, slope)


def test_regression_error_is_below_the_moment_error_and_falls():
    moment = _relative_errors(SUITE[0], "moment")
    ridge = _relative_errors(SUITE[0], "ridge")
    assert np.all(ridge < moment), (ridge, moment)
    # with more pairs (400) than cells (196) the regression reaches the smoothing floor
    assert ridge[1] < ridge[0] / 100, ridge
    assert ridge[2] <= ridge[1] * 1.05, ridge
