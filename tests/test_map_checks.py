"""The metric-family suites on the engine (leg.harness.checks.map_scores and the family
modules): user masks with one line per bad file, the model-dependence gate that keeps the
controls from passing, bounds, and the shifted model of input invariance."""

from types import SimpleNamespace

import numpy as np
import pytest
from skimage.io import imsave

from leg.harness.checks.axiomatic import SUITE as AXIOMATIC
from leg.harness.checks.axiomatic import ShiftedClassifier
from leg.harness.checks.complexity import SUITE as COMPLEXITY
from leg.harness.checks.localisation import SUITE as LOCALISATION
from leg.harness.checks.localisation import fit_mask, read_masks
from leg.harness.checks.map_scores import MapScores
from leg.harness.checks.robustness import relative
from leg.harness.profiles import get_profile


def _png(path, array):
    imsave(path, np.asarray(array, dtype=np.uint8), check_contrast=False)


@pytest.fixture
def folders(tmp_path):
    """Six 16x16 images; masks: two good, one missing, one unreadable, one of the wrong
    size, one empty."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        _png(images / f"img{i}.png", rng.integers(0, 255, (16, 16, 3)))
    good = np.zeros((16, 16), np.uint8)
    good[4:12, 4:12] = 255
    _png(masks / "img0.png", good)
    _png(masks / "img1.png", good)
    (masks / "img3.png").write_bytes(b"not a png")
    _png(masks / "img4.png", good[:8])
    _png(masks / "img5.png", np.zeros((16, 16), np.uint8))
    return str(images), str(masks)


def test_each_bad_mask_is_one_line_and_the_others_are_kept(folders):
    images, masks_dir = folders
    masks, problems = read_masks(masks_dir, images)
    assert sorted(masks) == ["img0", "img1"]
    assert masks["img0"].sum() == 64
    assert sorted(problems) == ["img2", "img3", "img4", "img5"]
    assert "missing" in problems["img2"] and "img2.png" in problems["img2"]
    assert "unreadable" in problems["img3"]
    assert "8x16 pixels, but img4.png is 16x16" in problems["img4"]
    assert "empty" in problems["img5"]
    assert all("\n" not in line for line in problems.values())


def test_the_localisation_suite_judges_the_images_with_masks(folders):
    images, masks_dir = folders
    profile = get_profile("smoke")
    res = MapScores(profile=profile)
    ids = [f"img{i}" for i in range(6)]
    res.images.update({("mymodel", i): np.zeros((16, 16, 3)) for i in ids})
    pipe = SimpleNamespace(result=res, images_dir=images, masks_dir=masks_dir,
                           model=lambda spec: None)
    LOCALISATION.prepare(pipe, {"mymodel": (None, ["gradient"], (16, 16, 3))})
    assert sorted(i for (_, i) in res.extra) == ["img0", "img1"]
    assert len(res.notes) == 4 and all("is not localised" in n for n in res.notes)
    on_object = np.zeros((16, 16))
    on_object[6, 6] = 1.0
    kw = dict(model="mymodel", target=0, method="gradient", result=res)
    assert LOCALISATION.score("pointing-game", None, on_object, image_id="img0", **kw) == 1.0
    assert LOCALISATION.score("pointing-game", None, on_object, image_id="img2", **kw) is None


def test_masks_follow_their_images_crop_and_resize():
    mask = np.zeros((20, 40), bool)
    mask[:, 10:30] = True  # the centre square of a wide image
    fitted = fit_mask(mask, (10, 10))
    assert fitted.shape == (10, 10) and fitted.all()


def _scores(values: dict, model="digits"):
    """A MapScores of the complexity suite with ``values``: method -> per-image values."""
    profile = get_profile("smoke")
    res = MapScores(profile=profile)
    for method, vals in values.items():
        for i, v in enumerate(vals):
            for check in ("sparseness", "complexity"):
                COMPLEXITY.add_row(res, check, model, f"digit{i}", method, v if check ==
                                   "sparseness" else -v)
    return res


def _verdict(verdicts, method, check="sparseness", model="digits"):
    return next(v for v in verdicts if (v.model, v.method, v.check) == (model, method, check))


def test_a_control_that_beats_the_floor_is_uninformative_never_a_pass():
    floor = [0.30, 0.31, 0.32, 0.33, 0.29, 0.30]
    res = _scores({"random-cells": floor, "edge": [0.6] * 6, "gradient": [0.6] * 6,
                   "random": [0.7] * 6})
    COMPLEXITY.judge_gates(SimpleNamespace(result=res, needed={}))
    verdicts = COMPLEXITY.verdicts(res)
    assert _verdict(verdicts, "gradient").verdict == "pass"
    for control in ("edge", "random"):
        v = _verdict(verdicts, control)
        assert v.verdict == "uninformative" and "a control" in v.detail
    assert _verdict(verdicts, "random-cells").verdict == "reference"


def test_a_method_that_fails_cascading_randomization_cannot_pass():
    res = _scores({"random-cells": [0.3] * 6, "gradient": [0.6] * 6})
    sanity = SimpleNamespace(verdict=lambda model, method, check: SimpleNamespace(
        verdict="fail"))
    COMPLEXITY.judge_gates(SimpleNamespace(result=res, needed={"sanity": sanity}))
    v = _verdict(COMPLEXITY.verdicts(res), "gradient")
    assert v.verdict == "uninformative"
    assert "cascading randomization on digits: fail" in v.detail


def test_fewer_than_five_images_is_undecided():
    res = _scores({"random-cells": [0.3] * 4, "gradient": [0.6] * 4})
    COMPLEXITY.judge_gates(SimpleNamespace(result=res, needed={}))
    assert _verdict(COMPLEXITY.verdicts(res), "gradient").verdict == "undecided"


def test_bounded_checks_pass_only_below_the_bound_and_apply_to_their_claimants():
    res = MapScores(profile=get_profile("smoke"))
    for i in range(6):
        AXIOMATIC.add_row(res, "completeness", "digits", f"d{i}", "integrated-gradients",
                          0.01)
        AXIOMATIC.add_row(res, "input-invariance", "digits", f"d{i}", "gradient", 0.0)
        AXIOMATIC.add_row(res, "input-invariance", "digits", f"d{i}",
                          "integrated-gradients", 0.4 + i / 100)
    AXIOMATIC.judge_gates(SimpleNamespace(result=res, needed={}))
    verdicts = AXIOMATIC.verdicts(res)
    assert _verdict(verdicts, "integrated-gradients", "completeness").verdict == "pass"
    assert _verdict(verdicts, "gradient", "input-invariance").verdict == "pass"
    assert _verdict(verdicts, "integrated-gradients", "input-invariance").verdict == "fail"
    v = _verdict(verdicts, "gradient", "completeness")
    assert v.verdict == "not-run" and "does not claim completeness" in v.detail


def test_robustness_is_relative_to_the_spread_between_images():
    assert relative(0.1, 0.4) == pytest.approx(0.25)
    assert relative(0.0, 0.0) == 1.0  # a map that moves with nothing is not robust
    assert relative(0.2, 0.0) > 1e5


def test_the_shifted_and_scaled_classifier_gives_the_same_scores_and_scaled_gradients():
    w = np.linspace(-1, 1, 12).reshape(2, 2, 3)

    class Linear:
        def __call__(self, x):
            s = (np.asarray(x) * w).sum(axis=(1, 2, 3))
            return np.stack([s, -s], axis=1)

        def gradient(self, x, target):
            return np.broadcast_to(w if target == 0 else -w, np.shape(x)).copy()

    x = np.random.default_rng(1).uniform(size=(1, 2, 2, 3))
    wrapped = ShiftedClassifier(Linear(), 0.1, scale=0.9)
    np.testing.assert_allclose(wrapped(0.9 * x + 0.1), Linear()(x))
    np.testing.assert_allclose(wrapped.gradient(0.9 * x + 0.1, 0), w[None] / 0.9)
    with pytest.raises(ValueError, match="scale"):
        ShiftedClassifier(Linear(), 0.1, scale=0.0)
