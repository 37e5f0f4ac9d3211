"""leg.harness.checks.faithfulness.imputation: ROAD's noisy linear imputation, MoRF/LeRF curves,
cell removal."""

import numpy as np
import pytest

from leg.grid import Grid
from leg.harness.checks.faithfulness.imputation import (
    NEIGHBOUR_WEIGHTS,
    NoisyLinearImputer,
    key_size_removal,
    noisy_linear_imputation,
    pool_to_cells,
    removal_curves,
    removal_masks,
    unit_ranks,
)
from leg.harness.checks.faithfulness.removal import key_size, ranking


def _dense_reference(image, mask):
    """Independent dense solve: one equation per removed pixel, loops over neighbours."""
    h, w, c = image.shape
    removed = [(i, j) for i in range(h) for j in range(w) if mask[i, j]]
    var = {p: k for k, p in enumerate(removed)}
    a = np.zeros((len(removed), len(removed)))
    b = np.zeros((len(removed), c))
    for k, (i, j) in enumerate(removed):
        for dy, dx, wt in NEIGHBOUR_WEIGHTS:
            y, x = i + dy, j + dx
            if 0 <= y < h and 0 <= x < w:
                a[k, k] += wt
                if mask[y, x]:
                    a[k, var[(y, x)]] -= wt
                else:
                    b[k] += wt * image[y, x]
    out = image.copy()
    sol = np.linalg.solve(a, b)
    for k, p in enumerate(removed):
        out[p] = sol[k]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_dense_solve(seed):
    rng = np.random.default_rng(seed)
    img = rng.uniform(size=(9, 11, 3))
    mask = rng.uniform(size=(9, 11)) < 0.6
    mask[0, 0] = False  # at least one kept pixel
    got = noisy_linear_imputation(img, mask, noise_std=0.0, clip=False)
    np.testing.assert_allclose(got, _dense_reference(img, mask), atol=1e-12)


def test_removed_pixel_is_weighted_average_of_neighbours():
    rng = np.random.default_rng(3)
    img = rng.uniform(size=(12, 12, 1))
    mask = np.zeros((12, 12), bool)
    mask[5, 6] = True  # a single interior pixel: its value is the 8-neighbour average
    got = noisy_linear_imputation(img, mask, noise_std=0.0)
    nb = sum(wt * img[5 + dy, 6 + dx, 0] for dy, dx, wt in NEIGHBOUR_WEIGHTS)
    assert got[5, 6, 0] == pytest.approx(nb)
    assert sum(wt for *_, wt in NEIGHBOUR_WEIGHTS) == pytest.approx(1.0)
    # Rong et al.: 1/6 for the 4 direct neighbours, 1/12 for the 4 diagonal ones
    assert {(dy, dx): wt for dy, dx, wt in NEIGHBOUR_WEIGHTS} == {
        **{d: 1 / 6 for d in [(0, 1), (0, -1), (1, 0), (-1, 0)]},
        **{d: 1 / 12 for d in [(1, 1), (1, -1), (-1, 1), (-1, -1)]}}


def test_constant_image_is_imputed_to_the_constant():
    img = np.full((20, 16, 3), [0.2, 0.5, 0.7])
    mask = np.random.default_rng(0).uniform(size=(20, 16)) < 0.8
    got = noisy_linear_imputation(img, mask, noise_std=0.0)
    np.testing.assert_allclose(got, img, atol=1e-12)


def test_linear_ramp_is_reproduced_in_the_interior():
    h, w = 24, 30
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = (0.1 + 0.02 * yy + 0.015 * xx) / 1.2
    img = np.stack([ramp, 1.0 - ramp], axis=-1)[..., :1].repeat(3, axis=-1)
    mask = np.zeros((h, w), bool)
    mask[4:19, 5:23] = True  # a block away from the border
    got = noisy_linear_imputation(img, mask, noise_std=0.0)
    np.testing.assert_allclose(got, img, atol=1e-10)
    # at the border the missing neighbours break the symmetry: not a ramp there
    border = np.zeros((h, w), bool)
    border[:, :6] = True
    assert np.abs(noisy_linear_imputation(img, border, noise_std=0.0) - img).max() > 1e-3


def test_only_masked_pixels_change_and_noise_is_seeded():
    rng = np.random.default_rng(4)
    img = rng.uniform(size=(16, 16, 3))
    mask = rng.uniform(size=(16, 16)) < 0.4
    a = noisy_linear_imputation(img, mask, noise_std=0.05, seed=7)
    b = noisy_linear_imputation(img, mask, noise_std=0.05, seed=7)
    c = noisy_linear_imputation(img, mask, noise_std=0.05, seed=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[~mask], img[~mask])
    assert np.all(a[mask] != c[mask])
    plain = noisy_linear_imputation(img, mask, noise_std=0.0)
    noise = (a - plain)[mask]
    assert 0.03 < noise.std() < 0.07  # the noise has the requested size
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert NoisyLinearImputer(0.05, 7)(img, mask).tobytes() == a.tobytes()


def test_all_removed_and_none_removed():
    rng = np.random.default_rng(5)
    img = rng.uniform(size=(8, 8, 3))
    full = noisy_linear_imputation(img, np.ones((8, 8), bool), noise_std=0.0)
    np.testing.assert_allclose(full, np.broadcast_to(img.mean(axis=(0, 1)), img.shape))
    none = noisy_linear_imputation(img, np.zeros((8, 8), bool))
    np.testing.assert_array_equal(none, img)
    assert none is not img


def test_bad_input():
    img = np.zeros((8, 8, 3))
    with pytest.raises(ValueError, match=r"mask.*\(8, 8\)"):
        noisy_linear_imputation(img, np.zeros((8, 9), bool))
    with pytest.raises(TypeError, match="boolean"):
        noisy_linear_imputation(img, np.zeros((8, 8)))
    with pytest.raises(ValueError, match="noise_std"):
        noisy_linear_imputation(img, np.zeros((8, 8), bool), noise_std=-1.0)
    with pytest.raises(ValueError, match="image"):
        noisy_linear_imputation(np.zeros((2, 8, 8, 3)), np.zeros((8, 8), bool))


# -- cells -------------------------------------------------------------------------------------

def test_pool_to_cells_sums_abs():
    sal = np.arange(-32, 32, dtype=float).reshape(8, 8)
    cells = pool_to_cells(sal, 4)
    assert cells.shape == (2, 2)
    assert cells[0, 0] == pytest.approx(np.abs(sal[:4, :4]).sum())
    np.testing.assert_allclose(pool_to_cells(sal, (2, 2)), cells)
    np.testing.assert_allclose(pool_to_cells(sal, Grid.from_cell_size(8, 8, 4)), cells)
    assert pool_to_cells(sal, 3).shape == (2, 2)  # the last cells absorb the remainder
    with pytest.raises(ValueError, match="grid"):
        pool_to_cells(sal, Grid.from_cell_size(9, 9, 3))
    with pytest.raises(TypeError, match="grid"):
        pool_to_cells(sal, "4")


def test_cell_masks_remove_whole_cells_in_pooled_order():
    rng = np.random.default_rng(6)
    sal = rng.normal(size=(12, 12))
    grid = Grid.from_cell_size(12, 12, 4)
    order = np.argsort(-pool_to_cells(sal, grid).ravel(), kind="stable")
    masks = removal_masks(sal, np.linspace(0, 1, 10), grid=grid)
    cells = grid.pixel_cells()
    for m in masks:
        removed = np.unique(cells[m])
        kept = np.unique(cells[~m])
        assert not set(removed) & set(kept)  # every cell whole
        np.testing.assert_array_equal(np.sort(removed), np.sort(order[:removed.size]))
    assert not masks[0].any() and masks[-1].all()
    assert masks[1].sum() == 16  # ceil(1/9 * 9) = 1 cell of 16 px


def test_pixel_ranks_match_perturbation_ranking_and_lerf_reverses():
    rng = np.random.default_rng(7)
    sal = rng.normal(size=(6, 7))
    morf = unit_ranks(sal)
    np.testing.assert_array_equal(np.argsort(morf.ravel()), ranking(sal))
    lerf = unit_ranks(sal, order="lerf")
    np.testing.assert_array_equal(lerf.ravel(), sal.size - 1 - morf.ravel())
    const = np.ones((4, 4))  # ties: row-major in both orders
    np.testing.assert_array_equal(unit_ranks(const), unit_ranks(const, order="lerf"))


# -- curves ------------------------------------------------------------------------------------

H = W = 16


def _linear_model():
    """A two-class logistic model whose evidence is a few bright pixels with positive weights
    on a dark textured image; returns (classifier, image, weights)."""
    rng = np.random.default_rng(8)
    img = rng.uniform(0.05, 0.2, size=(H, W, 1))
    weights = np.zeros((H, W))
    spots = [(i, j) for i in range(2, H - 2, 4) for j in range(2, W - 2, 4)]
    for k, (i, j) in enumerate(spots):
        img[i, j] = 0.95
        weights[i, j] = 1.0 + k
    bias = -0.5 * float((weights * img[..., 0]).sum())
    scale = 8.0 / float((weights * img[..., 0]).sum())

    def classifier(x):
        z = scale * ((x[..., 0] * weights).sum(axis=(1, 2)) + bias)
        p = 1.0 / (1.0 + np.exp(-z))
        return np.stack([1 - p, p], axis=1)

    return classifier, img, weights


def test_true_map_has_a_large_gap_and_random_maps_about_none():
    clf, img, weights = _linear_model()
    true = removal_curves(clf, img, weights, steps=16, impute=NoisyLinearImputer(0.01, 0))
    assert true.target == 1
    assert true.morf[0] == true.lerf[0] and true.morf[-1] == true.lerf[-1]
    assert true.gap > 0.5
    assert true.morf_auc < true.lerf_auc
    rng = np.random.default_rng(9)
    gaps = [removal_curves(clf, img, rng.normal(size=(H, W)), steps=16).gap
            for _ in range(12)]
    assert abs(np.mean(gaps)) < 0.1 * true.gap
    assert np.median(np.abs(gaps)) < 0.5 * true.gap
    # a constant map orders both ways alike: exactly no gap
    assert removal_curves(clf, img, np.ones((H, W)), steps=16).gap == 0.0


def test_cell_curves_and_deduplicated_calls():
    clf, img, weights = _linear_model()
    calls = []

    def counting(x):
        calls.append(len(x))
        return clf(x)

    cell = removal_curves(counting, img, weights, steps=32, grid=4, batch_size=100)
    # 16 cells: counts 0..16 appear; 0 and 16 shared by both orders: 1 + 15 * 2 + 2 images
    assert sum(calls) == 1 + 2 + 2 * 15
    assert cell.gap > 0.3
    assert len(cell.fractions) == 33


def test_key_size_removal_matches_key_size_with_a_fixed_fill():
    clf, img, weights = _linear_model()
    mean_fill = np.broadcast_to(img.mean(axis=(0, 1)), img.shape).copy()

    def fill(image, mask):
        return np.where(mask[..., None], mean_fill, image)

    alphas = np.linspace(0.01, 1, 100)
    assert key_size_removal(clf, img, weights, impute=fill, alphas=alphas, batch_size=7) == \
        key_size(clf, img, weights, background=mean_fill, alphas=alphas)
    ks_true = key_size_removal(clf, img, weights, alphas=alphas)
    ks_rand = key_size_removal(clf, img, np.random.default_rng(1).normal(size=(H, W)),
                               alphas=alphas)
    assert ks_true < ks_rand
    assert key_size_removal(clf, img, weights, alphas=alphas, grid=4) <= 0.5


def test_curve_bad_target():
    clf, img, weights = _linear_model()
    with pytest.raises(ValueError, match="target"):
        removal_curves(clf, img, weights, target=2)
