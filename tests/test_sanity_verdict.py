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

from leg.harness.checks.randomization.suite import RESEEDED, informativeness, summary_rows

SPEC = "tests.test_sanity_verdict:tiny_classifier"


def test_informativeness_on_numbers():
    ref = [0.0, 0.1, 0.2, 0.3]  # q0.95 = 0.285, + margin 0.1 -> threshold 0.385
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
    # the noise map's reproducibility is the unrelated level: no position is defined, and
    # the rows that are read "uninformative" instead of passing
    verdicts = [r["verdict"] for r in res.rows if r["method"] == "noise" and r["test"]]
    assert set(verdicts) <= {"uninformative", "fail", "undefined"}
    summary = [r for r in summary_rows(res) if r["method"] == "noise"]
    assert "pass" not in {r["verdict"] for r in summary}


def test_deterministic_model_dependent_explainer_passes(results):
    res = results
    assert _verdicts(res, "fingerprint", "reproducibility") == {"informative"}
    # a map drawn from the model's scores moves all the way as soon as the model changes
    rows = [r for r in res.rows if r["method"] == "fingerprint" and r["check"] == "cascading"
            and r["test"]]
    assert rows and {r["verdict"] for r in rows} <= {"pass", "fail"}
    assert [r["verdict"] for r in rows].count("pass") > 0.8 * len(rows)
    summary = [r for r in summary_rows(res) if r["method"] == "fingerprint"
               and r["check"] == "cascading" and r["test"]
               and r["metric"] in res.profile.thresholds.decisive]
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
    cascade = cells[("edge", "cascading")]  # it did not move at all: 0 against 0.5
    assert cascade.value == pytest.approx(0.0) and cascade.threshold == 0.5
    assert "moved" in cascade.detail and "median 0.000" in cascade.detail
    # every verdict over images carries its statistics (6 images: a significant drop,
    # p = 1/64, or none at all, p = 1)
    for check in ("cascading", "smprt", "emprt"):
        for method in ("fingerprint", "edge"):
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
