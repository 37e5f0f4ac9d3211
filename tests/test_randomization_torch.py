"""Parameter randomization of PyTorch models through the harness's one interface
(:mod:`leg.harness.checks.randomization.layers`): groups, seeding, batch-norm re-estimation,
restoring."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import leg  # noqa: E402
from leg.harness.checks.randomization.layers import (  # noqa: E402
    layer_groups,
    randomization_scheme,
    randomize_groups,
    randomized,
)
from tests.torch_nets import TinyBN  # noqa: E402

GROUPS = ["logits", "block.2", "block.0", "conv1"]


@pytest.fixture
def net():
    return TinyBN().eval()


@pytest.fixture
def images():
    return np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _nchw(images):
    return torch.as_tensor(images).permute(0, 3, 1, 2)


def test_groups_from_output_down_with_containers_opened(net):
    groups = layer_groups(net)
    assert [g for g, _ in groups] == GROUPS
    assert dict(groups)["block.0"] == [net.block[0]]
    clf = leg.TorchClassifier(net)
    assert [g for g, _ in layer_groups(clf)] == GROUPS  # a TorchClassifier: its module
    assert randomization_scheme(clf) == "reset-parameters+bn-recalibration/v1"


def test_lite0_torch_has_the_keras_lite0_groups():
    from leg.harness.checks.randomization.suite import ZOO_GROUPS
    from leg.zoo.lite0_torch import build_lite0_torch

    lite0 = build_lite0_torch(weights=None)
    groups = dict(layer_groups(lite0))
    assert list(groups) == list(ZOO_GROUPS["lite0"])
    assert groups["head"] == [lite0._conv_head, lite0._bn1]
    assert groups["stem"] == [lite0._conv_stem, lite0._bn0]
    assert groups["logits"] == [lite0._fc]
    assert groups["block3"] == [m for m in lite0._blocks[3].modules()
                                if list(m.parameters(recurse=False))]


def test_restored_exactly_and_in_place_after_the_block(net, images):
    before, params = _state(net), list(net.parameters())
    x = _nchw(images)
    with torch.no_grad():
        out0 = net(x)
    with randomized(net, GROUPS, seed=3, calibration=x):
        assert not _same(before, _state(net))
        with torch.no_grad():
            changed = net(x)
    assert not torch.allclose(changed, out0)  # cascading randomization changes the outputs
    assert _same(before, _state(net))
    assert all(a is b for a, b in zip(params, net.parameters(), strict=True))
    assert not any(m.training for m in net.modules())
    with torch.no_grad():
        torch.testing.assert_close(net(x), out0, rtol=0, atol=0)


def test_restored_when_the_body_raises(net):
    before = _state(net)
    with pytest.raises(RuntimeError, match="boom"), randomized(net, ["logits"], seed=0):
        raise RuntimeError("boom")
    assert _same(before, _state(net))


def test_unknown_group_is_refused_and_nothing_changes(net):
    before = _state(net)
    with pytest.raises(ValueError, match=r"Unknown layer groups \['nope'\]; the model has"), \
            randomized(net, ["nope"]):
        pass
    assert _same(before, _state(net))


def test_same_seed_same_weights_whatever_else_is_randomized(net):
    rng_before = torch.random.get_rng_state()
    with randomized(net, ["logits", "conv1"], seed=5):
        a = _state(net)
    with randomized(net, ["logits", "conv1"], seed=5):
        b = _state(net)
    with randomized(net, ["logits", "conv1"], seed=6):
        c = _state(net)
    with randomized(net, ["logits"], seed=5):
        alone = _state(net)
    assert _same(a, b) and not torch.equal(a["logits.weight"], c["logits.weight"])
    assert torch.equal(a["logits.weight"], alone["logits.weight"])
    assert torch.equal(a["logits.bias"], alone["logits.bias"])
    # each parameter has its own seed: weight and bias are not one stream cut in two
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # global RNG untouched


def test_draws_are_each_modules_own_initialisation(net):
    with randomized(net, ["logits"], seed=0):
        w = net.logits.weight.detach().clone()
    bound = 1 / np.sqrt(net.logits.in_features)  # nn.Linear: U(-1/sqrt(fan_in), ...)
    assert w.abs().max() <= bound and w.std() > bound / 3


def test_each_group_only_touches_its_modules(net):
    before = _state(net)
    with randomized(net, ["block.2"], seed=0):
        after = _state(net)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"block.2.weight", "block.2.bias"}


def test_batchnorm_back_to_its_initial_state_without_calibration(net):
    bn = net.block[0]
    with torch.no_grad():
        bn.running_mean.fill_(3.0)
        bn.weight.fill_(2.0)
    with randomized(net, ["block.0"], seed=0):
        np.testing.assert_array_equal(bn.weight.detach(), 1.0)
        np.testing.assert_array_equal(bn.bias.detach(), 0.0)
        np.testing.assert_array_equal(bn.running_mean, 0.0)
        np.testing.assert_array_equal(bn.running_var, 1.0)
    assert float(bn.running_mean[0]) == 3.0


def test_batchnorm_statistics_reestimated_on_calibration_images(net, images):
    bn = net.block[0]
    seen = {}
    hook = bn.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0].detach()))
    x = _nchw(images)
    with randomized(net, ["block.0", "conv1"], seed=0, calibration=x):
        with torch.no_grad():
            z = torch.relu(net.conv1(x))  # the randomized conv1's output: the BN's input
        torch.testing.assert_close(bn.running_mean, z.mean(dim=(0, 2, 3)))
        torch.testing.assert_close(bn.running_var, z.var(dim=(0, 2, 3), unbiased=True))
        assert torch.equal(seen["x"], z)  # one pass, on every calibration image
        with torch.no_grad():
            out = bn(z)
        torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5,
                                   rtol=0)
        assert not bn.training and bn.momentum == 0.1  # flags restored inside the block too
    hook.remove()


def test_calibration_goes_through_the_classifiers_preprocessing(net, images):
    clf = leg.TorchClassifier(net, preprocessing="tf", input_shape=(16, 16, 3))
    with randomized(clf, ["conv1"], seed=0), torch.no_grad():
        z = torch.relu(net.conv1(_nchw(images) * 2 - 1))  # "tf": x * 2 - 1
    with randomized(clf, ["block.0", "conv1"], seed=0, calibration=images):
        torch.testing.assert_close(net.block[0].running_mean, z.mean(dim=(0, 2, 3)))
        assert clf(images).shape == (4, 3)  # the classifier runs: its module is in eval mode


def test_calibration_leaves_other_batchnorm_modules_alone(net, images):
    before = _state(net.block[0])
    with randomized(net, ["logits", "conv1"], seed=0, calibration=_nchw(images)):
        assert _same(before, _state(net.block[0]))


def test_calibration_images_are_checked(net):
    with pytest.raises(ValueError, match="calibration"), \
            randomized(net, ["block.0"], calibration=np.zeros((3, 16, 16))):
        pass


def test_a_module_without_reset_parameters_gets_a_seeded_truncated_normal():
    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(64, 100))

        def forward(self, x):
            return x @ self.w.T

    model = torch.nn.Sequential(Scale())
    with randomized(model, ["0"], seed=1):
        a = model[0].w.detach().clone()
    with randomized(model, ["0"], seed=1):
        b = model[0].w.detach().clone()
    assert torch.equal(a, b) and float(a.abs().max()) <= 0.2 + 1e-6  # 2 std, std 1/sqrt(100)
    assert 0.06 < float(a.std()) < 0.1
    assert torch.count_nonzero(model[0].w) == 0  # restored


def test_randomize_groups_without_context_changes_weights(net):
    before = _state(net)
    randomize_groups(net, ["logits"], seed=1)
    assert not torch.equal(before["logits.weight"], net.logits.weight)


def test_bottom_up_cascade_starts_at_the_input_module(net, images):
    from leg.harness.checks.randomization.layers import cascading_stages

    assert [g for g, _ in layer_groups(net, order="bottom-up")] == GROUPS[::-1]
    first = cascading_stages(GROUPS, order="bottom-up")[0]
    assert (first.name, first.groups) == ("bottom-up-conv1", ("conv1",))
    before = _state(net)
    with randomized(net, first.groups, seed=0, calibration=_nchw(images)):
        after = _state(net)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("conv1.") for k in changed)
    assert _same(before, _state(net))
