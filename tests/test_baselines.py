"""Contract and known-answer tests of the baseline saliency methods (leg.harness.methods)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

import leg.harness.methods  # noqa: F401  (registers the baselines)
from leg.explainers import EXPLAINERS, Explanation, make_explainer
from leg.harness.methods import BASELINES

H = W = 16
GRADIENT_METHODS = ("gradient", "smoothgrad", "integrated-gradients", "grad-cam",
                    "guided-backprop", "guided-grad-cam")
BLACK_BOX = ("lime", "kernel-shap", "occlusion", "rise")
# Small budgets keep the contract suite fast; every method still runs its real algorithm.
SMALL = {"lime": 40, "kernel-shap": 40, "occlusion": 30, "rise": 40, "smoothgrad": 4,
         "integrated-gradients": 4}


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def smooth_weights() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.cos(2 * np.pi * yy / H) + np.sin(2 * np.pi * xx / W)


class LinearSigmoid:
    """A numpy two-class classifier ``[p, 1 - p]``, ``p = sigmoid(sum(w * x))``; no gradient."""

    def __init__(self, w: np.ndarray):
        self.w = w

    def __call__(self, images):
        p = expit((np.asarray(images) * self.w).sum(axis=(1, 2, 3)))
        return np.stack([p, 1.0 - p], axis=1)


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    import keras

    return keras


@pytest.fixture(scope="module")
def cnn(keras):
    from leg.models import KerasClassifier

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((H, W, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])
    return KerasClassifier(model, softmax=True)


@pytest.fixture(scope="module")
def linear_keras(keras):
    """Flatten + Dense, no softmax: every class score is linear in the pixels."""
    from leg.models import KerasClassifier

    weights = np.random.default_rng(1).normal(size=(H * W * 3, 3))
    model = keras.Sequential([keras.Input((H, W, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    model.layers[-1].set_weights([weights.astype(np.float32), np.zeros(3, np.float32)])
    return KerasClassifier(model, softmax=False), weights


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(size=(H, W, 3))


def test_every_baseline_is_registered():
    for name in BASELINES:
        assert name in EXPLAINERS
        assert EXPLAINERS[name].name == name


@pytest.mark.filterwarnings("ignore:Linear regression equation is singular")
@pytest.mark.parametrize("name", BASELINES, ids=BASELINES)
def test_contract_on_a_keras_cnn(name, cnn, image):
    explainer = make_explainer(name, cnn, budget=SMALL.get(name))
    first = explainer.explain(image, seed=3)
    again = explainer.explain(image, seed=3)
    assert isinstance(first, Explanation)
    assert first.method == name
    assert first.saliency.shape == (H, W) and first.saliency.dtype == np.float64
    assert np.all(np.isfinite(first.saliency))
    assert first.target == int(np.argmax(cnn(image[None])[0]))
    assert first.seed == 3 and first.n_evaluations >= 0
    assert set(first.timings) == {"total", "model"}
    np.testing.assert_array_equal(first.saliency, again.saliency)


@pytest.mark.parametrize("name", [n for n in BASELINES if n not in GRADIENT_METHODS])
def test_black_box_contract_on_a_numpy_classifier(name, image):
    model = LinearSigmoid(smooth_weights()[..., None] * 0.05)
    explainer = make_explainer(name, model, budget=SMALL.get(name))
    first = explainer.explain(image, target=1, seed=5)
    assert first.saliency.shape == (H, W) and np.all(np.isfinite(first.saliency))
    assert first.target == 1
    np.testing.assert_array_equal(first.saliency, explainer.explain(image, 1, seed=5).saliency)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_gradient_methods_refuse_models_without_gradients(name):
    with pytest.raises(TypeError, match=f"{name} needs a classifier with gradients"):
        make_explainer(name, LinearSigmoid(np.ones((H, W, 1))))


def test_gradient_methods_accept_any_object_with_a_gradient_method(image):
    w = smooth_weights()[..., None] * np.ones(3)

    class Linear:
        def __call__(self, images):
            s = (np.asarray(images) * w).sum(axis=(1, 2, 3))
            return np.stack([s, -s], axis=1)

        def gradient(self, images, target):
            return np.broadcast_to(w if target == 0 else -w, np.shape(images)).copy()

    truths = {"gradient": w.sum(axis=2), "smoothgrad": w.sum(axis=2),
              "integrated-gradients": (w * image).sum(axis=2)}  # exact for a linear score
    for name, truth in truths.items():
        explanation = make_explainer(name, Linear(), budget=3).explain(image, target=0, seed=0)
        np.testing.assert_allclose(explanation.saliency, truth, atol=1e-10)


@pytest.mark.parametrize("name,options", [
    ("gradient", {}),
    ("integrated-gradients", {"budget": 8}),
    ("smoothgrad", {"budget": 4}),
    ("occlusion", {"budget": H * W, "fill": "black"}),
], ids=["gradient", "integrated-gradients", "smoothgrad", "occlusion"])
def test_linear_keras_model_recovers_its_weights(name, options, linear_keras):
    classifier, weights = linear_keras
    truth = weights[:, 1].reshape(H, W, 3).sum(axis=2)
    image = np.full((H, W, 3), 0.5)  # a constant image: x * w and x - fill are multiples of w
    explanation = make_explainer(name, classifier, **options).explain(image, target=1, seed=0)
    assert corr(explanation.saliency, truth) > 0.9


def test_integrated_gradients_completeness(cnn, image):
    explanation = make_explainer("integrated-gradients", cnn, steps=64).explain(image, target=2)
    expected = cnn(image[None])[0, 2] - cnn(np.zeros((1, H, W, 3)))[0, 2]
    assert explanation.saliency.sum() == pytest.approx(expected, rel=0.05, abs=1e-4)
    assert explanation.n_evaluations == 64


@pytest.mark.parametrize("name", BLACK_BOX)
def test_black_box_methods_find_a_linear_models_weights(name):
    truth = smooth_weights()
    model = LinearSigmoid(truth[..., None] * np.full(3, 0.05))
    options = {"budget": 120}
    if name != "rise":  # a constant image: removing pixels must move them away from 0.5
        options["fill"] = "black"
    if name in ("lime", "kernel-shap"):  # fewer superpixels than samples (SHAP needs it)
        options["n_segments"] = 25
    image = np.full((H, W, 3), 0.5)
    explanation = make_explainer(name, model, **options).explain(image, target=0, seed=0)
    assert corr(explanation.saliency, truth) > 0.5


def test_budgets_set_the_number_of_evaluations(image):
    model = LinearSigmoid(smooth_weights()[..., None] * 0.05)
    counts = {name: make_explainer(name, model, budget=50).explain(image, target=0, seed=0)
              .n_evaluations for name in BLACK_BOX}
    assert counts["lime"] == 50 and counts["rise"] == 50
    assert counts["kernel-shap"] == 52  # + the background and the image
    assert counts["occlusion"] <= 51
    resolved = make_explainer("rise", model, budget=50).explain(image, seed=0)
    assert resolved.n_evaluations == 51 and resolved.target == 0


def test_occlusion_patch_size_fits_the_budget():
    from leg.harness.methods.occlusion import Occlusion, n_patches

    for budget in (1, 10, 50, 256, 1000):
        patch, stride = Occlusion(lambda x: x, budget=budget).geometry((H, W))
        assert n_patches((H, W), patch, stride) <= budget
    assert Occlusion(lambda x: x, budget=H * W).geometry((H, W)) == (1, 1)


def test_edge_ignores_the_model(image):
    a = make_explainer("edge", LinearSigmoid(np.ones((H, W, 1)))).explain(image, target=0)
    b = make_explainer("edge", LinearSigmoid(-smooth_weights()[..., None])).explain(image, 0)
    np.testing.assert_array_equal(a.saliency, b.saliency)
    assert a.saliency.max() > 0 and a.n_evaluations == 0


def test_random_map_depends_on_the_seed_only(image):
    explainer = make_explainer("random", LinearSigmoid(np.ones((H, W, 1))))
    a, b = explainer.explain(image, 0, seed=1), explainer.explain(image, 0, seed=2)
    assert not np.array_equal(a.saliency, b.saliency)
    np.testing.assert_array_equal(a.saliency, explainer.explain(image, 0, seed=1).saliency)


def test_grad_cam_options_and_refusals(cnn, image):
    by_name = make_explainer("grad-cam", cnn, layer="conv").explain(image, target=0)
    default = make_explainer("grad-cam", cnn).explain(image, target=0)
    np.testing.assert_array_equal(by_name.saliency, default.saliency)
    assert np.all(default.saliency >= 0) and default.n_evaluations == 1
    with pytest.raises(TypeError, match="grad-cam needs a classifier with gradients"):
        make_explainer("grad-cam", LinearSigmoid(np.ones((H, W, 1))))
    with pytest.raises(ValueError, match="4-D"):
        make_explainer("grad-cam", cnn, layer=cnn.model.layers[-1].name)
    with pytest.raises(ValueError, match=r"no layer 'nope'; its layers with a 4-D output larger "
                                         r"than 1x1 are \['conv'\]"):
        make_explainer("grad-cam", cnn, layer="nope")


def test_grad_cam_skips_a_keras_1x1_pooling_and_flags_a_constant_map(keras, image):
    from leg.harness.methods.grad_cam import DegenerateMapWarning
    from leg.models import KerasClassifier

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((H, W, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool"),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])
    clf = KerasClassifier(model, softmax=True)
    explainer = make_explainer("grad-cam", clf)
    assert explainer.layer_name == "conv"  # not the 1x1 pooling, the last 4-D output
    default = explainer.explain(image, target=0)
    assert default.degenerate is None and default.saliency.std() > 1e-3 * default.saliency.max()
    with pytest.warns(DegenerateMapWarning, match="layer 'pool' is constant"):
        pooled = make_explainer("grad-cam", clf, layer="pool").explain(image, target=0)
    assert "'pool'" in pooled.degenerate


def test_bad_arguments_fail_clearly(image):
    model = LinearSigmoid(np.ones((H, W, 1)))
    with pytest.raises(ValueError, match="'budget' parameter must be an integer >= 1"):
        make_explainer("rise", model, budget=0)
    with pytest.raises(ValueError, match="'fill' parameter"):
        make_explainer("occlusion", model, fill="grey")
    with pytest.raises(ValueError, match="class index in \\[0, 1\\]"):
        make_explainer("occlusion", model, budget=4).explain(image, target=5)
    with pytest.raises(ValueError, match="shape"):
        make_explainer("rise", model).explain(np.zeros((2, H, W, 3)))


# ---------------------------------------------------------------------------- guided backprop
#: One hidden layer of 6 units on a 4x4x1 image: biases put units below 0 (unit 0), in
#: (0, 4) (units 1, 4, 5), in (4, 6) (unit 2) and above 6 (unit 3), whatever the pixels in
#: [0, 1] (|W1 . x| < 0.6); the read-out of class 0 has both signs on active units, so
#: guided backprop and the gradient differ under every clip.
GB_SIZE, GB_HIDDEN = 4, 6
GB_BIAS = np.array([-3.0, 1.0, 5.0, 9.0, 2.0, 0.5])
GB_READOUT = np.array([[1.0, -1.0, 2.0, 1.5, -0.5, 1.0],
                       [-1.0, 0.5, 1.0, -2.0, 1.0, 0.3],
                       [0.2, 0.2, -0.3, 0.1, 0.4, -1.0]]).T  # (hidden, classes)


def gb_weights() -> np.ndarray:
    w = np.random.default_rng(7).uniform(-1.0, 1.0, size=(GB_SIZE * GB_SIZE, GB_HIDDEN))
    return w * 0.6 / np.abs(w).sum(axis=0)  # |W1 . x| < 0.6 for x in [0, 1]


def gb_image() -> np.ndarray:
    return np.random.default_rng(8).uniform(size=(GB_SIZE, GB_SIZE, 1))


def hand_maps(image, target: int, high: float) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and the guided backprop of logit ``target`` of the one-hidden-layer
    network with activation ``clip(h, 0, high)``, by hand: ``W1 (mask * r)`` with ``r`` the
    read-out (the gradient) or its positive part (guided)."""
    w1 = gb_weights()
    h = image.reshape(-1) @ w1 + GB_BIAS
    mask = (h > 0) & (h < high)
    r = GB_READOUT[:, target]
    shape = image.shape[:2]
    return (w1 @ (mask * r)).reshape(shape), (w1 @ (mask * np.maximum(r, 0.0))).reshape(shape)


def one_hidden_keras(keras, activation: str):
    """The one-hidden-layer network with its activation written in one of the Keras ways."""
    import tensorflow as tf

    from leg.models import KerasClassifier

    layers = keras.layers
    act = {
        "dense-relu": [],
        "activation-relu": [layers.Activation("relu")],
        "relu-layer": [layers.ReLU()],
        "relu6-layer": [layers.ReLU(max_value=6.0)],
        "clipped-4": [layers.ReLU(max_value=4.0)],
        "activation-tf-relu6": [layers.Activation(tf.nn.relu6)],
        "lambda-tf-relu6": [layers.Lambda(tf.nn.relu6, output_shape=(GB_HIDDEN,))],
        "tanh": [layers.Activation("tanh")],
    }[activation]
    hidden = layers.Dense(GB_HIDDEN, activation="relu" if activation == "dense-relu" else None,
                          name="hidden")
    model = keras.Sequential([keras.Input((GB_SIZE, GB_SIZE, 1)), layers.Flatten(), hidden,
                              *act, layers.Dense(3, name="logits")], name=f"gb_{activation}")
    hidden.set_weights([gb_weights().astype(np.float32), GB_BIAS.astype(np.float32)])
    model.get_layer("logits").set_weights([GB_READOUT.astype(np.float32),
                                           np.zeros(3, np.float32)])
    return KerasClassifier(model, softmax=False)


KERAS_CLIPS = {"dense-relu": np.inf, "activation-relu": np.inf, "relu-layer": np.inf,
               "relu6-layer": 6.0, "clipped-4": 4.0, "activation-tf-relu6": 6.0,
               "lambda-tf-relu6": 6.0}


@pytest.mark.parametrize("activation", list(KERAS_CLIPS))
def test_guided_backprop_is_the_hand_computed_map_on_a_keras_network(keras, activation):
    clf = one_hidden_keras(keras, activation)
    image = gb_image()
    gradient, guided = hand_maps(image, 0, KERAS_CLIPS[activation])
    assert np.abs(gradient - guided).max() > 0.05  # the clamp matters for this network
    explainer = make_explainer("guided-backprop", clf)
    result = explainer.explain(image, target=0)
    np.testing.assert_allclose(result.saliency, guided, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(make_explainer("gradient", clf).explain(image, 0).saliency,
                               gradient, rtol=1e-5, atol=1e-7)
    assert result.degenerate is None and explainer.n_modified >= 1
    assert result.n_evaluations == 1 and result.method == "guided-backprop"


def test_guided_backprop_without_relu_is_the_gradient_and_flagged(keras):
    from leg.harness.methods import NoReLUWarning

    clf = one_hidden_keras(keras, "tanh")
    image = gb_image()
    with pytest.warns(NoReLUWarning, match="no ReLU-family activation to modify in 'gb_tanh'"):
        result = make_explainer("guided-backprop", clf).explain(image, target=0)
    assert result.degenerate.startswith(
        "guided backprop found no ReLU-family activation to modify in 'gb_tanh'")
    plain = make_explainer("gradient", clf).explain(image, target=0).saliency
    np.testing.assert_allclose(result.saliency, plain, rtol=1e-6, atol=1e-9)


def test_guided_backprop_leaves_the_keras_model_as_it_was(keras, cnn, image):
    model = cnn.model
    weights = [w.copy() for w in model.get_weights()]
    nodes = [len(layer._inbound_nodes) for layer in model.layers]
    plain = cnn.gradient(image[None], 1)
    for name in ("guided-backprop", "guided-grad-cam"):
        make_explainer(name, cnn).explain(image, target=1)
    for a, b in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [len(layer._inbound_nodes) for layer in model.layers] == nodes
    assert model.get_layer("conv").output is not None  # Grad-CAM's layer lookup still works
    np.testing.assert_array_equal(cnn.gradient(image[None], 1), plain)


def test_keras_guided_backprop_follows_the_current_weights(keras):
    from leg.harness.checks.randomization.layers import randomized

    clf = one_hidden_keras(keras, "relu6-layer")
    image = gb_image()
    explainer = make_explainer("guided-backprop", clf)
    before = explainer.explain(image, target=0).saliency
    with randomized(clf, ["hidden"], seed=3):
        w1, b1 = clf.model.get_layer("hidden").get_weights()
        inside = explainer.explain(image, target=0).saliency
        h = image.reshape(-1) @ w1 + b1
        r = np.maximum(GB_READOUT[:, 0], 0.0) * ((h > 0) & (h < 6))
        np.testing.assert_allclose(inside, (w1 @ r).reshape(GB_SIZE, GB_SIZE), rtol=1e-5,
                                   atol=1e-7)
    assert np.abs(inside - before).max() > 0.01
    np.testing.assert_allclose(explainer.explain(image, target=0).saliency, before, rtol=1e-6)


def test_guided_grad_cam_is_guided_backprop_times_grad_cam(cnn, image):
    guided = make_explainer("guided-backprop", cnn).explain(image, target=2)
    cam = make_explainer("grad-cam", cnn).explain(image, target=2)
    explainer = make_explainer("guided-grad-cam", cnn)
    result = explainer.explain(image, target=2)
    assert explainer.layer_name == "conv" and result.n_evaluations == 2
    np.testing.assert_allclose(result.saliency, guided.saliency * cam.saliency, rtol=1e-6,
                               atol=1e-12)
    resolved = explainer.explain(image)  # Grad-CAM's pass resolves the target
    assert resolved.target == int(np.argmax(cnn(image[None])[0])) and resolved.n_evaluations == 2


def test_guided_backprop_refuses_other_classifiers_and_scores(cnn):
    with pytest.raises(TypeError, match="guided-backprop needs a classifier with gradients"):
        make_explainer("guided-backprop", LinearSigmoid(np.ones((H, W, 1))))
    with pytest.raises(ValueError, match="'score' parameter"):
        make_explainer("guided-backprop", cnn, score="margin")
