"""Perturbation designs, predicted reliability and ``n_samples="auto"``."""

import numpy as np
import pytest
from scipy import stats

import leg
from leg.designs import DESIGNS, draw_streams, whitened
from leg.reliability import from_halves, from_stderr, spearman_from_pearson
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
