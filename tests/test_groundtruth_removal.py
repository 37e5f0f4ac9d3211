"""The closed-form removal targets of the ground-truth models equal the brute-force removal
effects computed by calling the model, and the own-target verdict can fail."""

from __future__ import annotations

import itertools
from dataclasses import replace
from math import factorial

import numpy as np
import pytest

from leg.harness.checks.groundtruth import (
    GroundTruthResults,
    matrix_verdicts,
    removal_target,
    score_map,
    target_kind,
)
from leg.harness.methods._base import fill_image
from leg.harness.methods.occlusion import Occlusion
from leg.harness.profiles import GroundTruthPlan, get_profile
from leg.zoo.groundtruth import linear_region, smooth_region_means, two_object_contrast

FAMILIES = [linear_region, smooth_region_means, two_object_contrast]
BLOCKS = (np.arange(12)[:, None] // 4) * 3 + (np.arange(12)[None, :] // 4)  # 9 players


def _small(family, channels=3):
    model = family(12, 12, channels)
    image = model.base_image(0)
    return model, image, fill_image(image, "mean")


def _brute_shapley(model, image, fill, segments) -> np.ndarray:
    """Shapley values from the model's own outputs over every coalition (2**M calls)."""
    n = int(segments.max()) + 1
    value = {}
    for size in range(n + 1):
        for coalition in itertools.combinations(range(n), size):
            keep = np.isin(segments, coalition)[..., None]
            value[coalition] = model(np.where(keep, image, fill))[0, model.target]
    phi = np.zeros(n)
    for k in range(n):
        for coalition, v in value.items():
            if k not in coalition:
                weight = factorial(len(coalition)) * factorial(n - len(coalition) - 1)
                phi[k] += weight / factorial(n) * (
                    value[tuple(sorted((*coalition, k)))] - v)
    return phi


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_removal_effects_equal_model_calls(family):
    model, image, fill = _small(family)
    rng = np.random.default_rng(0)
    masks = rng.random((5, 12, 12)) < 0.4
    brute = [model(image)[0, 0] - model(np.where(m[..., None], fill, image))[0, 0]
             for m in masks]
    np.testing.assert_allclose(model.removal_effects(image, fill, masks), brute, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_shapley_values_equal_brute_force(family):
    model, image, fill = _small(family)
    brute = _brute_shapley(model, image, fill, BLOCKS)
    exact, errors = model.shapley_values(image, fill, BLOCKS)
    np.testing.assert_allclose(exact, brute, atol=1e-12)
    assert np.all(errors == 0)
    # Efficiency: the values add up to p(x) - p(fill).
    assert exact.sum() == pytest.approx(model(image)[0, 0] - model(fill)[0, 0], abs=1e-12)
    # Beyond exact_limit the values are sampled over orders: close, with honest errors.
    sampled, errors = model.shapley_values(image, fill, BLOCKS, exact_limit=0,
                                           n_permutations=4000, seed=1)
    assert np.all(np.abs(sampled - brute) <= 6 * errors + 1e-12)
    assert np.abs(sampled - brute).max() < 0.02 * np.abs(brute).max()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_path_attribution_is_complete(family):
    model, image, _ = _small(family, channels=1)
    black = np.zeros_like(image)
    ig = model.path_attribution(image, black)
    assert ig.shape == (12, 12)
    assert ig.sum() == pytest.approx(model(image)[0, 0] - model(black)[0, 0], abs=1e-10)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_occlusion_target_is_occlusion_by_model_calls(family):
    """Occlusion is deterministic: its map from model calls equals the closed form."""
    model, image, _ = _small(family)
    for budget in (10, 40, 400):
        target = removal_target(model, "occlusion", {"budget": budget}, image)
        brute = Occlusion(model, budget=budget).explain(image, 0).saliency
        np.testing.assert_allclose(target, brute, atol=1e-12)


@pytest.mark.parametrize("method", ["lime", "kernel-shap"])
def test_superpixel_targets_equal_model_calls(method):
    """LIME's target is each superpixel's removal effect under its own fill (each
    superpixel's mean colour); KernelSHAP's the Shapley values with the image mean."""
    from leg.harness.methods._superpixels import superpixels

    model = smooth_region_means(12, 12, 3)
    image = model.base_image(0)
    options = {"budget": 100, "n_segments": 6}
    target = removal_target(model, method, options, image)
    segments = superpixels(image, "slic", n_segments=6)
    if method == "kernel-shap":
        brute = _brute_shapley(model, image, fill_image(image, "mean"), segments)
    else:
        brute = []
        for k in range(int(segments.max()) + 1):
            inside = segments == k
            filled = image.copy()
            filled[inside] = image[inside].mean(axis=0)
            brute.append(model(image)[0, 0] - model(filled)[0, 0])
    np.testing.assert_allclose(target, np.asarray(brute)[segments], atol=1e-12)


def test_bad_masks_and_segments_are_refused():
    model, image, fill = _small(linear_region)
    with pytest.raises(ValueError, match="masks"):
        model.removal_effects(image, fill, np.ones((12, 12), dtype=bool))
    with pytest.raises(ValueError, match="segments"):
        model.shapley_values(image, fill, np.zeros((12, 12)))
    with pytest.raises(ValueError, match="kind"):
        score_map(image[..., 0], image[..., 0], image[..., 0], "other", 2)


def _results(maps_for: dict) -> GroundTruthResults:
    """Results of two small models scored by :func:`score_map`, with the given maps."""
    plan = GroundTruthPlan(models=(), budgets=(100,), methods=tuple(maps_for))
    res = GroundTruthResults(profile=replace(get_profile("smoke"), groundtruth=plan))
    for family in (linear_region, two_object_contrast):
        model = family(16, 16, 3)
        image = model.base_image(0)
        truth = model.true_map(image)
        for method, make in maps_for.items():
            removal = removal_target(model, method, {"budget": 100}, image)
            for metric, v in score_map(make(truth, removal), truth, removal,
                                       target_kind(method), 2).items():
                res.rows.append({"model": model.name, "method": method, "budget": 100,
                                 "metric": metric, "value": v})
    return res


def test_own_target_verdict_passes_the_target_and_fails_its_negation():
    res = _results({"occlusion": lambda truth, removal: removal,
                    "kernel-shap": lambda truth, removal: -removal,
                    "leg": lambda truth, removal: truth,
                    "gradient": lambda truth, removal: -truth})
    verdicts = {v.method: v for v in matrix_verdicts(res)}
    assert verdicts["occlusion"].verdict == "pass"
    assert verdicts["occlusion"].value == pytest.approx(1.0)
    assert verdicts["leg"].verdict == "pass"
    assert verdicts["kernel-shap"].verdict == "fail"
    assert verdicts["kernel-shap"].value == pytest.approx(-1.0)
    assert verdicts["kernel-shap"].asserted
    assert verdicts["gradient"].verdict == "fail"


def test_a_removal_method_is_not_judged_against_the_gradient():
    """A map equal to the removal target fails against the gradient on these textured
    images, yet passes its own-target verdict: the verdict uses the method's own target."""
    res = _results({"occlusion": lambda truth, removal: removal})
    assert min(r["value"] for r in res.rows if r["metric"] == "pearson_cell") < 0.9
    assert matrix_verdicts(res)[0].verdict == "pass"
