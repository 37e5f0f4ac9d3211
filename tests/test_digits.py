"""The digits CNNs: accuracy on true labels, memorisation of permuted labels, caching."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from leg.zoo import digits
from leg.zoo.digits import clear_memory_cache, digits_data, load_digits_cnn, train_digits_cnn


def test_digits_data_shapes_and_range():
    data = digits_data(size=16, seed=0)
    assert data["x_train"].shape == (1347, 16, 16, 1)
    assert data["x_test"].shape == (450, 16, 16, 1)
    assert data["x_train"].dtype == np.float32
    assert data["x_train"].min() >= 0 and data["x_train"].max() <= 1
    assert data["x_train"].max() > 0.9
    # Stratified: every digit is in both parts in about the same proportion.
    np.testing.assert_allclose(np.bincount(data["y_test"]) / 450,
                               np.bincount(data["y_train"]) / 1347, atol=0.01)
    again = digits_data(size=16, seed=0)
    np.testing.assert_array_equal(data["x_test"], again["x_test"])
    other = digits_data(size=16, seed=1)
    assert not np.array_equal(data["y_test"], other["y_test"])


def test_digits_data_size_8_is_original():
    from sklearn.datasets import load_digits

    data = digits_data(size=8)
    originals = {img.tobytes() for img in (load_digits().images / 16.0).astype(np.float32)}
    assert data["x_test"][0, :, :, 0].tobytes() in originals


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="'labels' parameter must be one of"):
        load_digits_cnn("shuffled")
    with pytest.raises(ValueError, match="'labels' parameter must be one of"):
        train_digits_cnn("random")
    with pytest.raises(ValueError, match="'size' parameter"):
        digits_data(size=4)
    with pytest.raises(TypeError, match="'seed' parameter"):
        digits_data(seed=0.5)


# -- trained models (TensorFlow needed) -------------------------------------------------------
# The full-size models come from the user's cache (trained there on first use, as the harness
# does, and shared with the evaluation suites of the same run); the cache's own behaviour is
# tested on small one-epoch models in temporary folders.
@pytest.fixture(scope="module")
def true_model():
    pytest.importorskip("tensorflow")
    return load_digits_cnn("true")


@pytest.fixture(scope="module")
def permuted_model():
    pytest.importorskip("tensorflow")
    return load_digits_cnn("permuted")


@pytest.fixture(scope="module")
def test_images():
    return digits_data()["x_test"][:50]


def test_true_model_is_accurate(true_model):
    m = true_model.metrics
    assert m["labels"] == "true" and m["seed"] == 0 and m["size"] == 32
    assert m["test_accuracy"] >= 0.95
    assert m["train_accuracy"] >= 0.95
    assert m["seconds"] > 0 and m["epochs"] >= 1
    data = digits_data()
    probs = true_model(data["x_test"])
    assert probs.shape == (450, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(probs.argmax(axis=1) == data["y_test"]) >= 0.95


def test_classifier_attributes(true_model):
    assert true_model.input_size == (32, 32)
    assert true_model.class_names == [str(d) for d in range(10)]
    assert true_model.preprocessing == "none" and not true_model.apply_softmax
    names = [layer.name for layer in true_model.model.layers]
    assert len(names) == len(set(names))
    for name in ("conv1", "conv2", "dense1", "logits", "probabilities"):
        assert name in names


@pytest.mark.slow
def test_permuted_model_memorises(permuted_model):
    m = permuted_model.metrics
    assert m["labels"] == "permuted"
    assert m["train_accuracy"] >= 0.95
    assert m["test_accuracy"] <= 0.25
    data = digits_data()
    acc = np.mean(permuted_model(data["x_test"]).argmax(axis=1) == data["y_test"])
    assert acc <= 0.25


def test_loading_twice_gives_identical_predictions(true_model, test_images):
    again = load_digits_cnn("true")
    assert again is true_model  # the in-process cache
    np.testing.assert_array_equal(true_model(test_images), again(test_images))


def test_cache_is_written_and_reused(tmp_path, test_images, monkeypatch):
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("LEG_CACHE_DIR", str(tmp_path))
    calls = _fast_training(monkeypatch)
    clear_memory_cache()
    try:
        first = load_digits_cnn("true", size=16, seed=4)
        assert calls == ["true"]
        model_file = tmp_path / f"digits_true_16_4_{digits.TRAINING_SCHEME}.keras"
        sidecar = tmp_path / f"digits_true_16_4_{digits.TRAINING_SCHEME}.json"
        assert model_file.is_file() and sidecar.is_file()
        assert json.loads(sidecar.read_text()) == first.metrics
        assert not list(tmp_path.glob("*.tmp*"))

        def no_training(*args, **kwargs):
            raise AssertionError("load_digits_cnn retrained instead of using the cache")

        monkeypatch.setattr(digits, "train_digits_cnn", no_training)
        clear_memory_cache()
        loaded = load_digits_cnn("true", size=16, seed=4)
        assert loaded is not first
        assert loaded.metrics == first.metrics
        small = test_images[:, ::2, ::2]
        np.testing.assert_array_equal(loaded(small), first(small))
    finally:
        clear_memory_cache()


def _fast_training(monkeypatch):
    real = digits.train_digits_cnn
    calls = []

    def one_epoch(labels="true", **kwargs):
        calls.append(labels)
        kwargs["epochs"] = 1
        return real(labels, **kwargs)

    monkeypatch.setattr(digits, "train_digits_cnn", one_epoch)
    return calls


def test_unwritable_cache_still_returns_a_model(tmp_path, monkeypatch, test_images):
    pytest.importorskip("tensorflow")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("LEG_CACHE_DIR", str(blocker / "cache"))
    calls = _fast_training(monkeypatch)
    with pytest.warns(RuntimeWarning, match="Could not write the cache file"):
        clf = load_digits_cnn("true", size=16, seed=1)
    assert calls == ["true"]
    assert clf(test_images[:, ::2, ::2]).shape == (50, 10)
    assert clf.input_size == (16, 16) and clf.metrics["size"] == 16
    # Kept in memory: a second call neither retrains nor warns again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_digits_cnn("true", size=16, seed=1) is clf
    assert calls == ["true"]


def test_corrupt_cache_is_retrained(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("LEG_CACHE_DIR", str(tmp_path))
    stem = f"digits_true_16_2_{digits.TRAINING_SCHEME}"
    (tmp_path / f"{stem}.keras").write_bytes(b"not a keras file")
    (tmp_path / f"{stem}.json").write_text("{}")
    calls = _fast_training(monkeypatch)
    with pytest.warns(RuntimeWarning, match="Could not read the cached model"):
        clf = load_digits_cnn("true", size=16, seed=2)
    assert calls == ["true"]
    assert clf.metrics["seed"] == 2
    assert json.loads((tmp_path / f"{stem}.json").read_text())["seed"] == 2


@pytest.mark.slow  # trains the CNN in two fresh processes: about 20 s
def test_training_is_deterministic_across_processes():
    """Two isolated trainings (each its own process, one thread, oneDNN off) are identical."""
    pytest.importorskip("tensorflow")
    a, ma = train_digits_cnn("true", size=16, seed=3, epochs=1)
    b, mb = train_digits_cnn("true", size=16, seed=3, epochs=1)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert ma["weights_sha256"] == mb["weights_sha256"] == digits.weights_sha256(a)
    assert ma["isolated"] and ma["environment"] == digits.DETERMINISTIC_ENV
    assert ma["test_accuracy"] == mb["test_accuracy"]
    c, mc = train_digits_cnn("true", size=16, seed=3, epochs=1, isolated=False)
    assert not mc["isolated"] and mc["weights_sha256"] == digits.weights_sha256(c)


def test_a_failing_training_process_raises_one_line(monkeypatch):
    monkeypatch.setattr(digits.sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match=r"in a child process failed \(exit 1\): no output"):
        train_digits_cnn("true", size=16, seed=3, epochs=1)


def _scaled(model, factor):
    """A copy of the digits CNN whose logits are ``factor`` times larger (saturating)."""
    import keras

    clone = keras.models.clone_model(model)
    weights = model.get_weights()
    weights[-2], weights[-1] = weights[-2] * factor, weights[-1] * factor
    clone.set_weights(weights)
    return clone


def test_choose_test_digits_skips_saturated_images(true_model):
    from leg.zoo.digits import choose_test_digits, digit_logits

    data = digits_data()
    chosen, degenerate = choose_test_digits({"digits": true_model}, 10)
    assert [c[0] for c in chosen][:1] == ["digit0"] and len(chosen) == 10
    first = [int(np.flatnonzero(data["y_test"] == d)[0]) for d in range(10)]
    kept = {c[0]: c[1] for c in chosen}
    for d in range(10):  # an image kept under its own id is the digit's first test image
        if f"digit{d}" in kept:
            assert kept[f"digit{d}"] == first[d]
    np.testing.assert_array_equal(chosen[0][2], data["x_test"][chosen[0][1]])
    hot = _scaled(true_model.model, 40.0)
    chosen2, degenerate2 = choose_test_digits({"digits": true_model, "hot": hot}, 3)
    assert degenerate2 and all(r["model"] in ("digits", "hot") for r in degenerate2)
    for r in degenerate2:
        assert r["one_minus_top1"] < 1e-6 and r["top1_probability"] > 1 - 1e-6
    for image_id, idx, _ in chosen2:
        for clf in (true_model, hot):
            z = digit_logits(clf, data["x_test"][idx:idx + 1])[0]
            p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            assert 1 - p.max() >= 1e-6, image_id
    with pytest.raises(ValueError, match="at least one classifier"):
        choose_test_digits({})
