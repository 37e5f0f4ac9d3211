"""Localisation metrics (leg.harness.checks.localisation) and the shipped photo masks:
definitions on tiny arrays, ties, invariances, mask validation, and the centred-blob
control on the photos."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from leg.harness.checks.localisation import (
    LOCALISATION_METRICS,
    check_mask,
    pointing_game,
    relevance_mass,
    relevance_rank,
)
from leg.zoo.photos import load_mask, load_photo, photo_names

MASK = np.array([[1, 0], [0, 0]], dtype=bool)


def test_metric_records():
    assert all(m.higher_is_better for m in LOCALISATION_METRICS.values())
    assert "Zhang" in LOCALISATION_METRICS["pointing_game"].description
    assert "Arras" in LOCALISATION_METRICS["relevance_mass"].description


def test_pointing_game_hits_when_the_maximum_is_on_the_object():
    assert pointing_game(np.array([[5.0, 1.0], [2.0, 3.0]]), MASK) == 1.0
    assert pointing_game(np.array([[1.0, 5.0], [2.0, 3.0]]), MASK) == 0.0
    # signed by default: the most negative pixel is not the maximum
    assert pointing_game(np.array([[1.0, -9.0], [0.0, 0.0]]), MASK) == 1.0
    assert pointing_game(np.array([[1.0, -9.0], [0.0, 0.0]]), MASK, part="absolute") == 0.0


def test_pointing_game_shares_ties_and_grows_the_mask_by_the_tolerance():
    assert pointing_game(np.ones((2, 2)), MASK) == pytest.approx(0.25)  # Quantus: 1
    assert pointing_game(np.array([[2.0, 2.0], [0.0, 0.0]]), MASK) == pytest.approx(0.5)
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    m = np.zeros((9, 9))
    m[4, 6] = 1.0  # two pixels right of the object
    assert pointing_game(m, mask) == 0.0
    assert pointing_game(m, mask, tolerance=1) == 0.0
    assert pointing_game(m, mask, tolerance=2) == 1.0


def test_relevance_mass_uses_the_positive_part_by_default():
    m = np.array([[1.0, 2.0], [3.0, -4.0]])
    assert relevance_mass(m, MASK) == pytest.approx(1 / 6)
    assert relevance_mass(m, MASK, part="signed") == pytest.approx(1 / 2)  # Quantus 0.6
    assert relevance_mass(m, MASK, part="absolute") == pytest.approx(1 / 10)
    assert np.isnan(relevance_mass(-np.abs(m), MASK))  # no positive mass
    assert relevance_mass(np.array([[2.0, 1.0], [-2.0, 0.0]]), MASK,
                          part="signed") == pytest.approx(2.0)  # outside [0, 1]
    assert np.isnan(relevance_mass(np.array([[1.0, 3.0], [-4.0, 0.0]]), MASK, part="signed"))


def test_relevance_rank_counts_the_top_k_inside_and_shares_ties():
    mask = np.array([[1, 0], [1, 0]], dtype=bool)  # K = 2
    assert relevance_rank(np.array([[4.0, 3.0], [2.0, 1.0]]), mask) == pytest.approx(0.5)
    assert relevance_rank(np.array([[4.0, 1.0], [3.0, 2.0]]), mask) == pytest.approx(1.0)
    assert relevance_rank(np.ones((2, 2)), mask) == pytest.approx(0.5)  # K / n
    # 4 is in; the 2nd place is a tie between 1 pixel inside and 1 outside
    assert relevance_rank(np.array([[4.0, 1.0], [1.0, 0.0]]), mask) == pytest.approx(0.75)
    # positive part: the negative pixels tie at 0
    m = np.array([[5.0, -1.0], [-3.0, -2.0]])
    assert relevance_rank(m, mask) == pytest.approx((1 + 1 / 3) / 2)
    assert relevance_rank(m, mask, part="signed") == pytest.approx(0.5)


@pytest.mark.parametrize("scale", [1e-4, 3.0, 1e5])
def test_scaling_the_map_changes_no_localisation_score(scale):
    rng = np.random.default_rng(0)
    m = rng.normal(size=(12, 10))
    mask = rng.uniform(size=(12, 10)) < 0.3
    for f in (pointing_game, relevance_mass, relevance_rank):
        assert f(scale * m, mask) == pytest.approx(f(m, mask))


@pytest.mark.parametrize("mask, match", [
    (np.zeros((3, 2), bool), "shape"),
    (np.zeros((2, 2), bool), "empty"),
    (np.ones((2, 2), bool), "whole image"),
    (np.array([[255, 0], [0, 0]]), "binary"),
    (np.array([["a", "b"], ["c", "d"]]), "binary"),
])
def test_bad_masks_are_refused_with_one_line(mask, match):
    for f in (pointing_game, relevance_mass, relevance_rank):
        with pytest.raises(ValueError, match=match) as info:
            f(np.ones((2, 2)), mask)
        assert "\n" not in str(info.value)


def test_check_mask_accepts_bool_and_0_1():
    assert check_mask(np.array([[1, 0], [0, 0]]), (2, 2)).dtype == bool
    assert check_mask(np.array([[1.0, 0.0], [0.0, 0.0]]), (2, 2))[0, 0]


def _mask_script():
    path = Path(__file__).resolve().parents[1] / "docs" / "make_photo_masks.py"
    spec = importlib.util.spec_from_file_location("make_photo_masks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_photo_has_its_mask_and_the_script_regenerates_it():
    script = _mask_script()
    assert set(script.SHAPES) == set(photo_names()) == set(script.WHAT)
    for name in photo_names():
        mask = load_mask(name)
        assert mask.shape == (224, 224) and mask.dtype == bool
        assert 0.01 < mask.mean() < 0.9, name
        assert np.array_equal(mask, script.draw(script.SHAPES[name])), name
        check_mask(mask, load_photo(name).shape[:2])
    with pytest.raises(ValueError, match="Unknown photo"):
        load_mask("moon")


def test_a_centred_blob_wins_localisation_on_centred_objects():
    """The control: a Gaussian blob at the image centre ignores image and model, yet hits
    the pointing game on every photo whose object covers the centre (6 of 8) and puts more
    of its mass on those objects than their area, well above a random map."""
    yy, xx = np.mgrid[:224, :224]
    blob = np.exp(-((yy - 111.5) ** 2 + (xx - 111.5) ** 2) / (2 * 40.0 ** 2))
    rand = np.random.default_rng(0).uniform(size=(224, 224))
    centred = 0
    for name in photo_names():
        mask = load_mask(name)
        hit = pointing_game(blob, mask)
        assert hit == float(mask[112, 112]), name
        if hit:
            centred += 1
            assert relevance_mass(blob, mask) > max(relevance_mass(rand, mask) + 0.08,
                                                    1.3 * mask.mean()), name
            assert relevance_rank(blob, mask) > relevance_rank(rand, mask) + 0.08, name
    assert centred == 6
