"""The harness's model fingerprint (the explanation cache's model key) on PyTorch models:
it covers every weight and buffer, the preprocessing and the softmax flag."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import leg  # noqa: E402
from leg.harness.engine.inputs import model_fingerprint, zoo_images  # noqa: E402
from tests.torch_nets import TinyBN  # noqa: E402


def _clf(net=None, **kwargs):
    return leg.TorchClassifier(net if net is not None else TinyBN().eval(), **kwargs)


def test_same_weights_same_fingerprint_other_options_other_fingerprint():
    fp = model_fingerprint(_clf())
    assert fp == model_fingerprint(_clf()) and len(fp) == 16
    assert model_fingerprint(_clf(softmax=True)) != fp
    assert model_fingerprint(_clf(preprocessing="tf")) != fp
    assert model_fingerprint(_clf(batch_size=3)) == fp  # batching does not change scores


@pytest.mark.parametrize("tensor", ["logits.weight", "conv1.bias", "block.0.running_var"])
def test_fingerprint_changes_when_one_weight_or_buffer_changes(tensor):
    net = TinyBN().eval()
    clf = _clf(net)
    before = model_fingerprint(clf)
    with torch.no_grad():
        net.state_dict()[tensor].view(-1)[0] += 1e-6
    assert model_fingerprint(clf) != before


def test_lite0_torch_explains_the_lite0_photos():
    ours, keras = zoo_images("lite0-torch", 2), zoo_images("lite0", 2)
    assert [i for i, _ in ours] == [i for i, _ in keras] == ["chelsea", "coffee"]
    for (_, a), (_, b) in zip(ours, keras, strict=True):
        np.testing.assert_array_equal(a, b)
