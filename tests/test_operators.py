"""Property tests of the grid, the difference operator ``D`` and the covariances ``Σ``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leg.covariance import SCHEMES, Covariance, get_covariance
from leg.grid import Grid, difference_operator

FAST = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- D


def _expected_m(ph: int, pw: int) -> int:
    return ph * (pw - 1) + (ph - 1) * pw + 2 * (ph + pw)


@FAST
@given(ph=st.integers(1, 12), pw=st.integers(1, 12))
def test_difference_operator_shape_and_rank(ph, pw):
    D = difference_operator(ph, pw)
    assert D.shape == (_expected_m(ph, pw), ph * pw)
    assert np.linalg.matrix_rank(D.toarray()) == ph * pw


@FAST
@given(ph=st.integers(1, 12), pw=st.integers(1, 12))
def test_difference_operator_rows(ph, pw):
    D = difference_operator(ph, pw).tocsr()
    D.sum_duplicates()
    n_diff = ph * (pw - 1) + (ph - 1) * pw
    pairs, border_counts = [], np.zeros(ph * pw, dtype=int)
    for r in range(D.shape[0]):
        cols = D.indices[D.indptr[r]:D.indptr[r + 1]]
        vals = D.data[D.indptr[r]:D.indptr[r + 1]]
        nz = vals != 0
        cols, vals = cols[nz], vals[nz]
        if len(cols) == 2:  # a difference row: one +1, one -1, on adjacent cells
            assert sorted(vals.tolist()) == [-1.0, 1.0]
            (i1, j1), (i2, j2) = divmod(int(cols[0]), pw), divmod(int(cols[1]), pw)
            assert abs(i1 - i2) + abs(j1 - j2) == 1
            pairs.append(tuple(sorted(int(c) for c in cols)))
        else:  # a boundary row: a single +1 on a border cell
            assert len(cols) == 1 and vals[0] == 1.0
            i, j = divmod(int(cols[0]), pw)
            assert i in (0, ph - 1) or j in (0, pw - 1)
            border_counts[cols[0]] += 1
    # every adjacent pair exactly once
    assert len(pairs) == n_diff == len(set(pairs))
    # every border cell once per side it touches (corners twice; 1-wide grids more)
    i, j = np.divmod(np.arange(ph * pw), pw)
    sides = (i == 0).astype(int) + (i == ph - 1) + (j == 0) + (j == pw - 1)
    np.testing.assert_array_equal(border_counts, sides)
    assert border_counts.sum() == 2 * (ph + pw)


def test_grid_difference_operator_matches_function():
    grid = Grid.from_cell_size(30, 45, 8)
    assert (grid.difference_operator != difference_operator(*grid.shape)).nnz == 0


# --------------------------------------------------------------------------- Σ


@FAST
@given(scheme=st.sampled_from(SCHEMES), ph=st.integers(1, 9), pw=st.integers(1, 9), seed=seeds)
def test_covariance_spd_and_solve_inverts_matvec(scheme, ph, pw, seed):
    cov = Covariance((ph, pw), scheme)
    S = cov.dense()
    assert S.shape == (cov.q, cov.q)
    np.testing.assert_allclose(S, S.T, rtol=0, atol=1e-10 * np.abs(S).max())
    assert np.linalg.eigvalsh(S).min() > 0
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(cov.q)
    np.testing.assert_allclose(cov.solve(cov.matvec(x)), x, rtol=1e-8, atol=1e-8)
    X = rng.standard_normal((cov.q, 3))  # the (q, k) form too
    np.testing.assert_allclose(cov.matvec(X), S @ X, rtol=1e-9, atol=1e-9 * np.abs(S).max())
    np.testing.assert_allclose(cov.solve(cov.matvec(X)), X, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (4, 4)])
def test_sample_covariance_matches_dense(scheme, shape):
    cov = Covariance(shape, scheme)
    draws = cov.sample(np.random.default_rng(12345), 100_000)
    assert draws.shape == (100_000, cov.q)
    S = cov.dense()
    emp = draws.T @ draws / len(draws)  # zero-mean noise
    np.testing.assert_allclose(emp, S, rtol=0, atol=0.04 * np.abs(S).max())
    np.testing.assert_allclose(draws.mean(axis=0), 0, atol=0.02 * np.sqrt(np.diag(S).max()))


def test_get_covariance_is_cached():
    assert get_covariance((5, 6), "laplacian") is get_covariance((5, 6), "laplacian")
    assert get_covariance((5, 6), "smooth") is not get_covariance((5, 6), "laplacian")


# --------------------------------------------------------------------------- Grid


@st.composite
def grids(draw):
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    if draw(st.booleans()):
        return Grid.from_cell_size(height, width, draw(st.integers(1, min(height, width))))
    return Grid.from_shape(height, width, (draw(st.integers(1, height)),
                                           draw(st.integers(1, width))))


@FAST
@given(grid=grids(), seed=seeds)
def test_pool_after_nearest_upsample_is_identity(grid, seed):
    cells = np.random.default_rng(seed).standard_normal((2, *grid.shape))
    pixels = grid.upsample(cells, method="nearest")
    assert pixels.shape == (2, grid.height, grid.width)  # nothing cropped
    np.testing.assert_allclose(grid.pool(pixels), cells, rtol=1e-12, atol=1e-12)


def test_pool_upsample_non_dividing_example():
    grid = Grid.from_cell_size(30, 30, 8)  # 30 px, cell 8: the last cells absorb 6 px
    assert grid.shape == (3, 3)
    np.testing.assert_array_equal(grid.row_counts, [8, 8, 14])
    cells = np.arange(9.0).reshape(3, 3)
    pixels = grid.upsample(cells)
    assert pixels.shape == (30, 30)
    assert pixels[29, 29] == 8.0 and pixels[16, 0] == 6.0 and pixels[15, 0] == 3.0
    np.testing.assert_array_equal(grid.pool(pixels), cells)


@FAST
@given(grid=grids(), value=st.floats(-1e3, 1e3, allow_nan=False))
def test_bilinear_upsample_of_constant_is_constant(grid, value):
    out = grid.upsample(np.full(grid.shape, value), method="bilinear")
    assert out.shape == (grid.height, grid.width)
    np.testing.assert_allclose(out, value, rtol=1e-12, atol=1e-12)


@FAST
@given(grid=grids(), seed=seeds)
def test_bilinear_upsample_shape_and_range(grid, seed):
    cells = np.random.default_rng(seed).uniform(-1, 1, (3, *grid.shape))
    out = grid.upsample(cells, method="bilinear")
    assert out.shape == (3, grid.height, grid.width)
    # interpolation never leaves the range of the cell values
    assert np.all(out <= cells.max(axis=(1, 2))[:, None, None] + 1e-12)
    assert np.all(out >= cells.min(axis=(1, 2))[:, None, None] - 1e-12)


def test_upsample_rejects_bad_method_and_shape():
    grid = Grid.from_cell_size(16, 16, 4)
    with pytest.raises(ValueError, match="method"):
        grid.upsample(np.zeros((4, 4)), method="cubic")
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        grid.upsample(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(16, 16\)"):
        grid.pool(np.zeros((16, 15)))


@FAST
@given(height=st.integers(1, 60), width=st.integers(1, 60), s=st.integers(1, 30))
def test_from_cell_size_sizes(height, width, s):
    if s > min(height, width):
        with pytest.raises(ValueError, match=rf"{height}x{width}"):
            Grid.from_cell_size(height, width, s)
        return
    grid = Grid.from_cell_size(height, width, s)
    assert grid.shape == (height // s, width // s)
    assert grid.size == (height // s) * (width // s)
    for counts, total in ((grid.row_counts, height), (grid.col_counts, width)):
        assert counts.sum() == total
        assert np.all(counts[:-1] == s)
        assert s <= counts[-1] < 2 * s


def test_from_cell_size_too_large_message():
    with pytest.raises(ValueError, match="cell_size") as info:
        Grid.from_cell_size(20, 30, 24)
    assert "20x30" in str(info.value)


@FAST
@given(height=st.integers(1, 60), width=st.integers(1, 60), ph=st.integers(1, 60),
       pw=st.integers(1, 60))
def test_from_shape_sizes(height, width, ph, pw):
    if ph > height or pw > width:
        with pytest.raises(ValueError, match=rf"{height}x{width}"):
            Grid.from_shape(height, width, (ph, pw))
        return
    grid = Grid.from_shape(height, width, (ph, pw))
    assert grid.shape == (ph, pw)
    for counts, total in ((grid.row_counts, height), (grid.col_counts, width)):
        assert counts.sum() == total
        assert counts.min() >= 1
        assert counts.max() - counts.min() <= 1  # near-equal cells


def test_from_shape_rejects_non_pair():
    with pytest.raises(TypeError, match="grid"):
        Grid.from_shape(10, 10, 5)
