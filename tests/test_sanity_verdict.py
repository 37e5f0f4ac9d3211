"""The sanity verdict's informativeness rule: noise maps never pass, and the check can fail.

A method whose maps are noise passes a randomization check trivially (its maps are
unrelated to anything). The harness explains the original model a second time with another
seed and requires the two maps to be more similar than unrelated maps
(:mod:`leg.harness.checks.randomization.suite`, "Informativeness"). Here, end to end on a tiny
Keras CNN:

``noise``        pure estimation noise (like LEG with far too few samples): a different
                 uniform map per image, seed and model state, carrying no information. It
                 falls to the unrelated level under randomization, but it does not
                 reproduce under another seed: "uninformative", never "pass";
``fingerprint``  a deterministic map drawn from the model's scores on the image: it
                 reproduces exactly and changes completely when the model does: "pass";
``edge``         deterministic and model-independent: informative, and the randomization
                 check catches it: "fail";
``random``       the shipped baseline (one seed for every image, so its unrelated-map
                 reference is 1 and the randomization rule alone would pass it).
"""

from __future__ import annotations

import hashlib
import types

import numpy as np
import pytest

from leg.harness.checks.randomization.suite import RESEEDED, informativeness, summary_rows, verdict

SPEC = "tests.test_sanity_verdict:tiny_classifier"


def test_rule_on_numbers():
    ref = [0.0, 0.1, 0.2, 0.3]  # q0.95 = 0.285, + margin 0.1 -> threshold 0.385
    assert verdict(0.1, ref) == "pass"
    assert verdict(0.1, ref, informative=False) == "uninformative"
    assert verdict(0.9, ref, informative=False) == "fail"
    assert verdict(0.1, ref, degenerate=True, informative=False) == "degenerate"
    assert informativeness(0.9, ref) == "informative"
    assert informativeness([0.9, 0.1, 0.2], ref) == "uninformative"  # median judged
    assert informativeness(0.385, ref) == "uninformative"  # strictly above the threshold
    assert informativeness(0.9, ref, degenerate=True) == "degenerate"


_CLF = {}


def tiny_classifier():
    """A small random CNN on 16x16 grey images (groups ``logits``, ``conv1``)."""
    if "clf" not in _CLF:
        keras = pytest.importorskip("keras")
        from keras import layers

        from leg.models import KerasClassifier

        keras.utils.set_random_seed(3)
        inp = keras.Input((16, 16, 1))
        x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
        x = layers.Flatten()(x)
        out = layers.Dense(3, name="logits")(x)
        _CLF["clf"] = KerasClassifier(keras.Model(inp, out))
    return _CLF["clf"]


def _result(saliency):
    return types.SimpleNamespace(saliency=saliency, n_evaluations=1)


class Noise:
    """Uniform noise seeded by (image, seed, model scores): no information, but it changes
    with the model (the suites use one seed in every state, so noise that ignored the model
    would be the same map everywhere and fail the randomization check by itself)."""

    def __init__(self, classifier, **options):
        self.classifier = classifier

    def explain(self, image, target=None, *, seed=None):
        scores = np.round(np.asarray(self.classifier(image[None]), dtype=np.float64), 4)
        h = hashlib.sha256(np.ascontiguousarray(image).tobytes() + scores.tobytes()
                           + str(seed).encode())
        rng = np.random.default_rng(int.from_bytes(h.digest()[:8], "little"))
        return _result(rng.uniform(size=image.shape[:2]))


class Fingerprint:
    """A deterministic map drawn from the model's (rounded) scores on the image."""

    def __init__(self, classifier, **options):
        self.classifier = classifier

    def explain(self, image, target=None, *, seed=None):
        scores = np.round(np.asarray(self.classifier(image[None]), dtype=np.float64), 4)
        h = hashlib.sha256(scores.tobytes())
        rng = np.random.default_rng(int.from_bytes(h.digest()[:8], "little"))
        return _result(rng.uniform(size=image.shape[:2]))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    pytest.importorskip("keras")
    from PIL import Image

    import leg.harness.methods  # noqa: F401  (registers edge and random)
    from leg.explainers import EXPLAINERS
    from leg.harness.checks.randomization.suite import run_sanity
    from leg.harness.profiles import ModelPlan, Profile

    images = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]
    for i in range(6):  # a blob at a different place on a noisy background
        cy, cx = rng.integers(4, 12, size=2)
        img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0) + 0.2 * rng.random((16, 16))
        Image.fromarray((255 * img / img.max()).astype(np.uint8)).save(images / f"im{i}.png")
    profile = Profile(name="test", description="",
                      models=(ModelPlan(SPEC, n_images=0, cascade_at=None, smprt_copies=3),),
                      methods=("noise", "fingerprint", "edge", "random"))
    mp = pytest.MonkeyPatch()
    mp.setitem(EXPLAINERS, "noise", Noise)
    mp.setitem(EXPLAINERS, "fingerprint", Fingerprint)
    try:
        yield run_sanity(profile, cache_root=str(tmp_path_factory.mktemp("cache")),
                         images_dir=str(images))
    finally:
        mp.undo()


def _verdicts(res, method, check):
    return {r["verdict"] for r in res.rows if r["method"] == method and r["check"] == check
            and r["metric"] in res.profile.thresholds.informative}


def _randomization(res, method):
    return {r["verdict"] for r in res.rows if r["method"] == method
            and r["check"] in ("cascading", "independent", "label")}


def test_reseeded_maps_are_computed_with_another_seed(results):
    res = results
    assert not res.errors
    for img in ("im0", "im1"):
        a = res.maps[(SPEC, img, "noise", "original", 0)]
        b = res.maps[(SPEC, img, "noise", RESEEDED, 0)]
        assert not np.allclose(a, b)
        np.testing.assert_array_equal(res.maps[(SPEC, img, "fingerprint", "original", 0)],
                                      res.maps[(SPEC, img, "fingerprint", RESEEDED, 0)])
    rows = [r for r in res.rows if r["check"] == "reproducibility"]
    assert {r["stage"] for r in rows} == {RESEEDED}
    assert all(r["higher_is_better"] is True for r in rows)


def test_noise_explainer_is_uninformative_never_a_pass(results):
    res = results
    for method in ("noise", "random"):
        assert _verdicts(res, method, "reproducibility") == {"uninformative"}, method
        assert "pass" not in _randomization(res, method), method
        assert not any(res.informative[(SPEC, method, i)] for i in ("im0", "im1", "im2"))
    # the noise map did fall to the unrelated level (each image against its own reference,
    # but for the odd image by chance): only the informativeness rule stops it
    verdicts = [r["verdict"] for r in res.rows if r["method"] == "noise"
                and r["check"] in ("cascading", "independent", "label")]
    assert set(verdicts) <= {"uninformative", "fail"}
    assert verdicts.count("uninformative") > 0.8 * len(verdicts)
    summary = [r for r in summary_rows(res) if r["method"] == "noise"]
    assert "pass" not in {r["verdict"] for r in summary}
    cascade = [r for r in summary if r["check"] == "cascading"
               and r["metric"] in res.profile.thresholds.decisive]
    assert "uninformative" in {r["verdict"] for r in cascade}
    assert all(r["n_images"] == 6 and r["ci_low"] <= r["ci_high"] for r in cascade)
    assert not any(r["informative"] for r in summary)


def test_deterministic_model_dependent_explainer_passes(results):
    res = results
    assert _verdicts(res, "fingerprint", "reproducibility") == {"informative"}
    # image by image against its own reference (5 unrelated maps) the odd one fails by
    # chance; over the images the drop is significant on every decisive metric
    verdicts = [r["verdict"] for r in res.rows if r["method"] == "fingerprint"
                and r["check"] == "cascading"]
    assert set(verdicts) <= {"pass", "fail"}
    assert verdicts.count("pass") > 0.8 * len(verdicts)
    summary = [r for r in summary_rows(res) if r["method"] == "fingerprint"
               and r["check"] == "cascading"]
    assert {r["verdict"] for r in summary} == {"pass"}
    assert all(r["p_value"] < 0.05 and r["n_images"] == 6 for r in summary)


def test_edge_control_is_informative_and_still_fails(results):
    res = results
    assert _verdicts(res, "edge", "reproducibility") == {"informative"}
    assert _randomization(res, "edge") == {"fail"}


def test_matrix_verdicts_judge_as_the_tests_do(results):
    """One matrix cell per model, method and check: the noise explainer is uninformative
    everywhere, the fingerprint passes, the edge control fails the randomization checks but
    is informative; each cell carries the number that decided it."""
    from leg.harness.checks.randomization.suite import matrix_verdicts

    cells = {(v.method, v.check): v for v in matrix_verdicts(results)}
    checks = {c for _, c in cells}
    # no independent stage, no label twin; eMPRT and sMPRT beside informativeness
    assert checks == {"cascading", "informativeness", "emprt", "smprt"}
    for check in ("cascading", "informativeness"):
        assert cells[("noise", check)].verdict == "uninformative"
        assert cells[("fingerprint", check)].verdict == "pass"
    # eMPRT: neither noise (already at full complexity) nor the edge map (unchanged) rises
    assert cells[("noise", "emprt")].verdict == "fail"
    assert cells[("edge", "emprt")].verdict == "fail"
    assert cells[("edge", "cascading")].verdict == "fail"
    assert cells[("edge", "informativeness")].verdict == "pass"
    cascade = cells[("edge", "cascading")]
    assert cascade.value > cascade.threshold and "median" in cascade.detail
    # every verdict over images carries its statistics (6 images: a significant drop,
    # p = 1/64, or none at all, p = 1)
    for check in ("cascading", "smprt", "emprt"):
        for method in ("noise", "fingerprint", "edge", "random"):
            v = cells[(method, check)]
            assert v.n_images == 6 and v.ci_low <= v.ci_high and 0 < v.p_value <= 1
    assert cells[("fingerprint", "cascading")].p_value < 0.05
    assert cells[("edge", "cascading")].p_value > 0.5
    info = cells[("noise", "informativeness")]
    assert info.higher_is_better and info.value <= info.threshold
    assert not any(v.asserted for v in cells.values())  # none of these methods is asserted


def test_smprt_fails_a_model_independent_map_and_passes_a_model_dependent_one(results):
    """sMPRT on the tiny CNN (6 images, 3 copies: 2 noisy and the image itself): the edge
    map does not change with the model, smoothed or not, and fails; the fingerprint map,
    which changes completely with the model, passes; the noise map falls but is
    uninformative. The noisy copies were explained under both states, the clean copy is
    the ordinary map."""
    from leg.harness.checks.randomization.suite import matrix_verdicts

    res = results
    assert not res.errors
    cells = {(v.method, v.check): v for v in matrix_verdicts(res)}
    assert cells[("edge", "smprt")].verdict == "fail"
    assert cells[("fingerprint", "smprt")].verdict == "pass"
    assert cells[("noise", "smprt")].verdict == "uninformative"
    rows = [r for r in res.smprt_rows if r["method"] == "edge"]
    assert {r["stage"] for r in rows} == {"cascade-conv1"}
    assert len(rows) == 6 * 4 and all(r["value"] > 0.99 for r in rows)
    # the smoothed map is the mean of the two noisy copies' maps and the ordinary map
    m = [res.maps[(SPEC, "im0", "fingerprint", st, 0)]
         for st in ("smprt0:original", "smprt1:original", "original")]
    np.testing.assert_allclose(res.smoothed[(SPEC, "im0", "fingerprint", "original")],
                               np.mean(m, axis=0))
    assert not np.allclose(m[0], m[2])  # a noisy copy is another image


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_few_images_are_never_significant(n):
    """With 1-4 images no paired test reaches p < 0.05: neither pass nor fail."""
    from leg.harness.checks.randomization.suite import not_significant_reason, paired_verdict

    dropped = paired_verdict(np.zeros(n), np.full(n, 0.5))
    unchanged = paired_verdict(np.ones(n), np.full(n, 0.5))
    assert dropped[0] == unchanged[0] == "not-significant"
    assert dropped[1].n_images == n
    assert "at least 5 are needed" in not_significant_reason(n)


def test_statistics_fail_an_unchanged_map_and_pass_a_clear_drop():
    """Six images: a model-independent map (similarity 1 after randomization, references
    ~0.3) fails; six clear drops pass (p = 1/64), unless the original maps are
    uninformative; a constant map is degenerate; eMPRT's direction is "higher"."""
    from leg.harness.checks.randomization.suite import paired_verdict

    refs = np.array([0.3, 0.25, 0.35, 0.28, 0.32, 0.3])
    fail, comp = paired_verdict(np.ones(6), refs)
    assert fail == "fail" and comp.p_value > 0.5
    drop = np.array([0.05, -0.02, 0.1, 0.0, 0.03, 0.07])
    ok, comp = paired_verdict(drop, refs)
    assert ok == "pass" and comp.p_value == pytest.approx(1 / 64)
    assert comp.ci_high < 0 < comp.n_images
    assert paired_verdict(drop, refs, informative=False)[0] == "uninformative"
    assert paired_verdict(drop, refs, degenerate=True) == ("degenerate", None)
    assert paired_verdict(drop, refs, higher_is_better=True)[0] == "fail"
