"""Perturbation designs, predicted reliability and ``n_samples="auto"``."""

import numpy as np
import pytest
from scipy import stats

import leg
from leg.designs import DESIGNS, draw_streams, whitened
from leg.reliability import Reliability, from_halves, from_stderr, spearman_from_pearson
from leg.sampling import Sampler
from tests.models import IgnoresImage, Linear, NoisyLinear, block_weights, smooth_image


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("scheme", ["laplacian", "smooth"])
def test_designs_have_mean_zero_and_covariance_sigma(design, scheme):
    cov = leg.get_covariance((4, 5), scheme)
    n = 8000
    draws = np.concatenate([draw_streams(cov, design, np.random.default_rng(3), 1)[0].next(k)
                            for k in (n // 2, n // 2)]) if design == "iid" else \
        draw_streams(cov, design, np.random.default_rng(3), 1)[0].next(n)
    z = whitened(cov, draws)  # N(0, I) rows iff the draws are N(0, Σ)
    se = 1.0 / np.sqrt(n)
    assert np.abs(z.mean(axis=0)).max() < 4.5 * se
    c = np.cov(z, rowvar=False)
    assert np.abs(np.diag(c) - 1.0).max() < 4.5 * np.sqrt(2.0) * se
    assert np.abs(c - np.diag(np.diag(c))).max() < 4.5 * se
    # the raw draws' covariance is Σ (relative to its scale)
    assert np.abs(np.cov(draws, rowvar=False) - cov.dense()).max() < 0.1 * np.abs(
        cov.dense()).max()
    # marginally Gaussian: each whitened coordinate
    assert stats.kstest(z[:, 0], "norm").pvalue > 1e-4


def test_orthogonal_blocks_are_orthogonal_in_sigma_metric_with_chi_lengths():
    cov = leg.get_covariance((3, 4), "laplacian")
    q = cov.q
    stream = draw_streams(cov, "orthogonal", np.random.default_rng(0), 1)[0]
    blocks = [whitened(cov, stream.next(q)) for _ in range(300)]
    gram = blocks[0] @ blocks[0].T  # = ε_iᵀ Σ⁻¹ ε_j
    assert np.allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-9)
    lengths = np.concatenate([np.linalg.norm(b, axis=1) for b in blocks])
    assert stats.kstest(lengths, stats.chi(q).cdf).pvalue > 1e-3


@pytest.mark.parametrize("design", ["orthogonal", "sobol"])
def test_designs_are_prefix_consistent_and_seeded(design):
    model = Linear(block_weights(16, 16))
    image = smooth_image(16, 16)
    grid = leg.Grid.from_cell_size(16, 16, 4)
    one = Sampler(model, image, grid, design=design, seed=5, mode="per_channel").draw(40)
    rounds = Sampler(model, image, grid, design=design, seed=5, mode="per_channel")
    two = rounds.draw(16).concat(rounds.draw(24))
    assert np.array_equal(one.eps, two.eps)
    assert np.allclose(one.delta, two.delta)
    other = Sampler(model, image, grid, design=design, seed=6, mode="per_channel").draw(40)
    assert not np.allclose(one.eps, other.eps)
    assert not np.allclose(one.eps[0], one.eps[1])  # the colour channels' sets differ


def test_iid_design_keeps_the_numbers_it_always_drew():
    cov = leg.get_covariance((4, 4), "laplacian")
    model = Linear(block_weights(16, 16))
    res = leg.sample_responses(model, smooth_image(16, 16), leg.Grid.from_cell_size(16, 16, 4),
                               n_samples=20, seed=11, mode="joint")
    draws = cov.sample(np.random.default_rng(11), 10) * res.sigma
    assert np.array_equal(res.eps[0, 0::2], draws.astype(np.float32))
    assert np.array_equal(res.eps[0, 1::2], (-draws).astype(np.float32))


def test_spearman_from_pearson_matches_a_bivariate_normal():
    rng = np.random.default_rng(0)
    x = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=200_000)
    assert spearman_from_pearson(0.8) == pytest.approx(stats.spearmanr(*x.T)[0], abs=0.01)
    assert from_stderr(np.ones((3, 3)), np.ones((3, 3))).pearson == 0.0
    assert from_halves(np.arange(9.0), np.arange(9.0)).pearson == pytest.approx(1.0)


@pytest.mark.parametrize("design", ["iid", "orthogonal"])
def test_predicted_reliability_matches_reruns_on_a_noisy_linear_model(design):
    h = w = 24
    weights = block_weights(h, w) + 0.3 * smooth_image(h, w, 1)[..., 0]
    explainer = leg.LEG(NoisyLinear(weights, noise=2.0, seed=1), cell_size=4,
                        n_samples=200, mode="joint", design=design, sigma=0.01)
    runs = [explainer.explain(smooth_image(h, w), target=0, seed=s) for s in range(10)]
    measured = np.mean([np.corrcoef(a.cell_map.ravel(), b.cell_map.ravel())[0, 1]
                        for a, b in zip(runs[0::2], runs[1::2], strict=True)])
    predicted = np.mean([r.reliability.pearson for r in runs])
    assert 0.6 < measured < 0.92  # an informative regime, not a trivially reproducible map
    assert predicted == pytest.approx(measured, abs=0.05)
    assert runs[0].reliability.method == "stderr"
    assert runs[0].summary()["reliability"]["pearson"] == pytest.approx(
        runs[0].reliability.pearson, abs=1e-4)


def test_leg_tv_reliability_from_a_split_of_the_samples():
    h = w = 24
    weights = block_weights(h, w) + 0.3 * smooth_image(h, w, 1)[..., 0]
    explainer = leg.LEGTV(NoisyLinear(weights, noise=2.0, seed=2), cell_size=4,
                          n_samples=200, mode="joint", sigma=0.01)
    runs = [explainer.explain(smooth_image(h, w), target=0, seed=s) for s in range(8)]
    measured = np.mean([np.corrcoef(a.cell_map.ravel(), b.cell_map.ravel())[0, 1]
                        for a, b in zip(runs[0::2], runs[1::2], strict=True)])
    predicted = np.mean([r.reliability.pearson for r in runs])
    assert runs[0].reliability.method == "split-ratio"
    assert 0.6 < measured < 0.92
    assert predicted == pytest.approx(measured, abs=0.1)


def test_auto_reaches_its_target_on_an_exactly_linear_model_in_one_round():
    model = Linear(block_weights(16, 16))
    result = leg.LEG(model, cell_size=4, mode="joint", n_samples="auto",
                     target_reliability=0.95, round_samples=40, max_samples=400).explain(
        smooth_image(16, 16), target=0, seed=0)
    assert result.auto.reached and result.auto.rounds == 1
    assert result.n_samples == 40 and result.n_evaluations == 41
    assert result.reliability.spearman >= 0.95
    assert result.summary()["auto"]["reached"] is True


@pytest.mark.parametrize("cls", [leg.LEG, leg.LEGTV])
def test_auto_stops_at_its_cap_on_a_model_that_ignores_the_image(cls):
    model = IgnoresImage(seed=0)
    result = cls(model, cell_size=4, mode="joint", n_samples="auto", target_reliability=0.9,
                 round_samples=40, max_samples=200).explain(smooth_image(16, 16), target=0,
                                                            seed=0)
    assert not result.auto.reached
    assert result.n_samples == 200 and result.auto.n_samples == 200
    assert result.auto.rounds > 1
    assert model.calls == 201  # every round reused: cap + the unperturbed image
    assert result.reliability.spearman < 0.5
    assert result.summary()["auto"] == result.auto.summary()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(target_reliability=1.0), r"'target_reliability'.*\(0, 1\)"),
        (dict(target_reliability=0.0), r"'target_reliability'.*\(0, 1\)"),
        (dict(target_reliability=1.5), r"'target_reliability'.*\(0, 1\)"),
        (dict(max_samples=100, round_samples=200), r"'max_samples' cap \(100\) is below one "
                                                   r"round.*round_samples=200"),
        (dict(round_samples=1), "'round_samples'"),
    ],
)
def test_bad_auto_options_are_refused_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        leg.LEG(Linear(block_weights(8, 8)), n_samples="auto", **kwargs)


def test_bad_design_and_n_samples_are_refused_clearly():
    with pytest.raises(ValueError, match="'design'.*'orthogonal'"):
        leg.LEG(Linear(block_weights(8, 8)), design="latin")
    with pytest.raises(ValueError, match="'n_samples'.*'auto'"):
        leg.LEG(Linear(block_weights(8, 8)), n_samples="many")


def test_auto_does_not_trust_a_prediction_from_fewer_pairs_than_cells():
    model = Linear(block_weights(32, 32))  # exactly linear: every prediction is 1
    result = leg.LEG(model, cell_size=4, mode="joint", n_samples="auto", round_samples=40,
                     max_samples=400).explain(smooth_image(32, 32), target=0, seed=0)
    assert result.auto.reached and result.auto.rounds == 2
    assert result.n_samples // 2 > result.grid.size == 64  # stopped once pairs > cells
    capped = leg.LEG(model, cell_size=4, mode="joint", n_samples="auto", round_samples=40,
                     max_samples=100).explain(smooth_image(32, 32), target=0, seed=0)
    assert not capped.auto.reached and capped.n_samples == 100
    few = leg.LEG(model, cell_size=4, mode="joint", n_samples=40).explain(
        smooth_image(32, 32), target=0, seed=0)
    assert few.reliability.trusted is False and few.summary()["reliability"]["trusted"] is False


# --- leg.reliability on its own: maps with known noise, and its formulas ---------------------

def _noisy_estimates(noise: float, pairs: int, seed: int = 0):
    """A 20x20 map drawn from a normal prior (what the stderr prediction assumes), per-cell
    standard errors spread over 0.5-1.5 times ``noise``, and ``pairs`` pairs of independent
    estimates (map + N(0, se²) noise)."""
    rng = np.random.default_rng(seed)
    true = rng.standard_normal((20, 20))
    se = noise * (0.5 + rng.uniform(size=(20, 20)))
    runs = true + se * rng.standard_normal((pairs, 2, 20, 20))
    return se, runs


@pytest.mark.parametrize("noise", [0.3, 0.6, 1.0])
def test_predicted_spearman_matches_two_independent_estimates(noise):
    # measured: the Spearman (and Pearson) correlation of two independent estimates of the
    # same map; predicted: from_stderr of one estimate and its standard errors. Averaged over
    # 24 pairs (standard error of the measured mean <= 0.008), they agree within 0.03
    se, runs = _noisy_estimates(noise, 24)
    measured = np.mean([stats.spearmanr(a.ravel(), b.ravel())[0] for a, b in runs])
    measured_r = np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in runs])
    preds = [from_stderr(a, se) for a, _ in runs]
    assert 0.4 < measured < 0.95  # informative: neither noise nor a perfect copy
    assert np.mean([p.spearman for p in preds]) == pytest.approx(measured, abs=0.03)
    assert np.mean([p.pearson for p in preds]) == pytest.approx(measured_r, abs=0.03)
    assert all(p.method == "stderr" and p.trusted for p in preds)


def test_stderr_prediction_edges():
    # no error: reruns agree exactly; errors at rounding level count as none
    m = np.arange(12.0).reshape(3, 4)
    exact = from_stderr(m, np.zeros_like(m))
    assert (exact.pearson, exact.spearman) == (1.0, 1.0)
    rounding = from_stderr(m, np.full_like(m, 1e-12))
    assert (rounding.pearson, rounding.spearman) == (1.0, 1.0)
    # errors as large as the map's spread (total variance == noise): nothing reproducible
    flat = from_stderr([0.0, 1.0, 2.0], [1.0, 1.0, 1.0])
    assert (flat.pearson, flat.spearman, flat.method) == (0.0, 0.0, "stderr")
    assert from_stderr([5.0], [0.0]).pearson == 0.0  # one cell: no variance over cells
    assert from_stderr(np.ones(4), np.zeros(4)).spearman == 0.0  # constant map
    # Pearson 1 - mean(se²) / var(map): var([0, 1, 2, 3]) = 5/3, se² = 1/4 -> 0.85
    r = from_stderr([0.0, 1.0, 2.0, 3.0], [0.5, 0.5, 0.5, 0.5])
    assert r.pearson == pytest.approx(0.85)
    assert 0.0 < r.spearman < 1.0
    assert from_stderr([0.0, 1.0, 2.0, 3.0], [0.5] * 4) == r  # seeded: a function of the map
    few = from_stderr([0.0, 1.0, 2.0, 3.0], [0.5] * 4, draws=4)
    assert few.spearman != r.spearman and few.pearson == r.pearson


def test_spearman_from_pearson_values():
    assert spearman_from_pearson(0.0) == 0.0
    assert spearman_from_pearson(1.0) == pytest.approx(1.0)
    assert spearman_from_pearson(-1.0) == pytest.approx(-1.0)
    assert spearman_from_pearson(0.5) == pytest.approx(6 / np.pi * np.arcsin(0.25))
    assert spearman_from_pearson(1.7) == pytest.approx(1.0)  # clipped to [-1, 1]
    assert spearman_from_pearson(-1.7) == pytest.approx(-1.0)


def test_split_half_predictions():
    from leg.reliability import from_split_ratio, spearman_brown

    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(1.0) == 1.0 and spearman_brown(-0.4) == 0.0
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = np.array([2.0, 1.0, 4.0, 3.0, 6.0, 5.0])
    r_half = np.corrcoef(a, b)[0, 1]
    rho_half = stats.spearmanr(a, b)[0]
    half = from_halves(a.reshape(2, 3), b.reshape(2, 3))
    assert half.method == "split" and half.trusted
    assert half.pearson == pytest.approx(2 * r_half / (1 + r_half))
    assert half.spearman == pytest.approx(2 * rho_half / (1 + rho_half))
    assert from_halves(a, -a) == Reliability(0.0, 0.0, "split")  # clipped at 0
    assert from_halves(np.ones(6), a) == Reliability(0.0, 0.0, "split")
    assert from_halves(a, np.ones(6)) == Reliability(0.0, 0.0, "split")
    # split-ratio: the anchor times SB(halves) / SB(reference halves), clipped to [0, 1]
    anchor = Reliability(0.8, 0.6, "stderr", trusted=False)
    ref = (a, b)
    other = (a, np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0]))
    oh = from_halves(*other)
    ratio = from_split_ratio(anchor, other, ref)
    assert ratio.method == "split-ratio" and ratio.trusted is False
    assert ratio.pearson == pytest.approx(0.8 * oh.pearson / half.pearson)
    assert ratio.spearman == pytest.approx(0.6 * oh.spearman / half.spearman)
    assert from_split_ratio(Reliability(1.0, 1.0, "stderr"), (a, 2 * a), ref).pearson == 1.0
    # a reference whose halves do not correlate: the map's own split-half prediction
    flat = from_split_ratio(anchor, other, (a, -a))
    assert (flat.pearson, flat.spearman) == (oh.pearson, oh.spearman)


def test_reliability_summary_rounds():

    s = Reliability(0.123456, 0.654321, "stderr", trusted=False).summary()
    assert s == {"pearson": 0.1235, "spearman": 0.6543, "method": "stderr", "trusted": False}


def test_row_spearman_and_clip():
    from leg.reliability import _clip, _row_spearman

    a = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    b = np.array([[1.0, 3.0, 2.0, 4.0], [1.0, 2.0, 3.0, 5.0], [1.0, 2.0, 3.0, 4.0]])
    got = _row_spearman(a, b)
    assert got[0] == pytest.approx(stats.spearmanr(a[0], b[0])[0])
    assert got[1] == pytest.approx(-1.0)
    assert got[2] == 0.0  # a constant row has no ranks to correlate
    assert (_clip(float("nan")), _clip(-0.2), _clip(1.3), _clip(0.25)) == (0.0, 0.0, 1.0, 0.25)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the empty map's mean of nothing
def test_stderr_prediction_thresholds_and_pinned_value():
    # the simulated Spearman is a fixed function of the map and its errors (64 draws, seed 0):
    # pinned, since a change moves every report's predicted reliability
    v = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    se = np.array([0.2, 0.5, 0.3, 0.8, 0.4, 0.6])
    r = from_stderr(v, se)
    assert r.spearman == pytest.approx(0.9160714285714286, abs=1e-12)
    assert r.pearson == pytest.approx(1 - np.mean(se**2) / np.var(v, ddof=1))
    assert from_stderr(v, se, draws=64) == r
    # errors up to 1e-9 of the largest |value| are rounding: none. Exactly at it (max 1.0):
    # zero, so the 1e-12 gaps between neighbours keep their order
    close = np.r_[np.repeat(np.arange(9) / 9, 2) + np.tile([0.0, 1e-12], 9), 1.0]
    assert from_stderr(close, np.full(close.size, 1e-9)).spearman == 1.0
    # the threshold scales with the map: at 1e-3, errors of 1e-11 are not rounding
    small = (np.repeat(np.arange(10.0), 2) + np.tile([0.0, 1e-11], 10)) * 1e-3
    assert from_stderr(small, np.full(20, 1e-11)).spearman < 1.0
    # two cells and a spread below 1 are enough; an empty map predicts nothing
    assert from_stderr([0.0, 1.0], [0.0, 0.0]).pearson == 1.0
    assert from_stderr([0.0, 0.5, 1.0], [0.0, 0.0, 0.0]).spearman == 1.0
    assert from_stderr([], []) == Reliability(0.0, 0.0, "stderr")


def test_split_half_edges():
    from leg.reliability import _row_spearman

    # a standard deviation of exactly 1 is not 0
    assert from_halves([-1.0, 1.0], [-2.0, 2.0]).spearman == 1.0
    assert from_halves([-2.0, 2.0], [-1.0, 1.0]).spearman == 1.0
    # two cells: rank norms below 1
    assert _row_spearman(np.array([[1.0, 2.0]]), np.array([[1.0, 2.0]]))[0] == 1.0
