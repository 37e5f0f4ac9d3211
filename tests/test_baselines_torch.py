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
