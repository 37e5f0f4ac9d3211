"""Layer randomization: grouping, seeding, and the weights always restored."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from leg.harness.checks.randomization.layers import (  # noqa: E402
    cascading_stages,
    independent_stages,
    layer_groups,
    randomize_groups,
    randomized,
)


@pytest.fixture(scope="module")
def model():
    from keras import layers

    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.BatchNormalization(name="block0_bn")(x)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="block0_conv")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(3, name="logits")(x)
    return keras.Model(inp, x)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_groups_from_output_down(model):
    assert [g for g, _ in layer_groups(model)] == ["logits", "block0", "conv1"]
    assert [s.name for s in cascading_stages(["logits", "block0", "conv1"])] == [
        "cascade-logits", "cascade-block0", "cascade-conv1"]
    last = cascading_stages(["logits", "block0", "conv1"], at=["logits"])
    assert [s.groups for s in last] == [("logits",), ("logits", "block0", "conv1")]
    assert independent_stages(["logits", "block0", "conv1"], ["block0"])[0].groups == ("block0",)


def test_restored_after_the_block(model, images):
    before, out0 = _weights(model), model(images).numpy()
    with randomized(model, ["logits", "block0", "conv1"], seed=3):
        assert not _same(before, _weights(model))
        changed = model(images).numpy()
    assert not np.allclose(changed, out0)  # cascading randomization changes the outputs
    assert _same(before, _weights(model))
    np.testing.assert_array_equal(model(images).numpy(), out0)


def test_restored_when_the_body_raises(model):
    before = _weights(model)
    with pytest.raises(RuntimeError, match="boom"), randomized(model, ["logits"], seed=0):
        raise RuntimeError("boom")
    assert _same(before, _weights(model))


def test_unknown_group_is_refused_and_nothing_changes(model):
    before = _weights(model)
    with pytest.raises(ValueError, match="Unknown layer groups"), \
            randomized(model, ["nope"]):
        pass
    assert _same(before, _weights(model))


def test_same_seed_same_weights_other_seed_other_weights(model):
    before = _weights(model)
    with randomized(model, ["logits", "conv1"], seed=5):
        a = _weights(model)
    with randomized(model, ["logits", "conv1"], seed=5):
        b = _weights(model)
    with randomized(model, ["logits", "conv1"], seed=6):
        c = _weights(model)
    assert _same(a, b) and not _same(a, c)
    assert _same(before, _weights(model))


def test_each_group_only_touches_its_layers(model):
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    with randomized(model, ["logits"], seed=0):
        for layer in model.layers:
            same = _same(before[layer.name], layer.get_weights())
            assert same == (layer.name != "logits")


def test_batchnorm_back_to_its_initial_state_without_calibration(model):
    bn = model.get_layer("block0_bn")
    with randomized(model, ["block0"], seed=0):
        gamma, beta, mean, var = bn.get_weights()
        np.testing.assert_array_equal(gamma, 1.0)
        np.testing.assert_array_equal(beta, 0.0)
        np.testing.assert_array_equal(mean, 0.0)
        np.testing.assert_array_equal(var, 1.0)


def test_randomize_groups_without_context_changes_weights(model):
    before = _weights(model)
    try:
        randomize_groups(model, ["logits"], seed=1)
        assert not _same(before, _weights(model))
    finally:
        model.set_weights(before)


def test_batchnorm_statistics_reestimated_on_calibration_images(model, images):
    bn = model.get_layer("block0_bn")
    before = _weights(model)
    probe = keras.Model(model.input, bn.input)
    with randomized(model, ["block0", "conv1"], seed=0, calibration=images):
        gamma, beta, mean, var = bn.get_weights()
        np.testing.assert_array_equal(gamma, 1.0)
        np.testing.assert_array_equal(beta, 0.0)
        z = probe(images).numpy()  # the randomized conv1's output, the BN's input
        np.testing.assert_allclose(mean, z.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(var, z.var(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)
        out = keras.Model(model.input, bn.output)(images).numpy()
        np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    assert _same(before, _weights(model))
    assert bn.momentum == 0.99 and bn.trainable  # flags restored


def test_calibration_leaves_other_batchnorm_layers_alone(model, images):
    bn = model.get_layer("block0_bn")
    before = [w.copy() for w in bn.get_weights()]
    with randomized(model, ["logits"], seed=0, calibration=images):
        assert _same(before, bn.get_weights())


def test_calibration_images_are_checked(model):
    with pytest.raises(ValueError, match="calibration"), \
            randomized(model, ["block0"], calibration=np.zeros((8, 8, 1))):
        pass


def test_deep_batchnorm_network_keeps_responding_after_full_randomization():
    """Without re-estimated statistics a deep BN network's output collapses to a constant."""
    from keras import layers

    keras.utils.set_random_seed(2)
    inp = keras.Input((16, 16, 3))
    x = inp
    for i in range(12):
        x = layers.Conv2D(16, 1, use_bias=False, name=f"block{i}_expand")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.ReLU(6.0)(x)
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"block{i}_dw")(x)
        x = layers.BatchNormalization(name=f"block{i}_dwbn")(x)
    x = layers.GlobalAveragePooling2D()(x)
    deep = keras.Model(inp, layers.Dense(5, name="logits")(x))
    imgs = np.random.default_rng(1).random((6, 16, 16, 3)).astype("float32")
    groups = [g for g, _ in layer_groups(deep)]
    with randomized(deep, groups, seed=0):
        flat = deep(imgs).numpy()
    with randomized(deep, groups, seed=0, calibration=imgs):
        alive = deep(imgs).numpy()
    assert np.ptp(flat, axis=0).max() < 1e-6
    assert np.ptp(alive, axis=0).max() > 1e-2


def test_bottom_up_cascade_starts_at_the_input(model, images):
    groups = [g for g, _ in layer_groups(model)]
    assert [g for g, _ in layer_groups(model, order="bottom-up")] == groups[::-1]
    stages = cascading_stages(groups, order="bottom-up")
    assert [(s.name, s.kind, s.groups, s.depth) for s in stages] == [
        ("bottom-up-conv1", "bottom-up", ("conv1",), 1),
        ("bottom-up-block0", "bottom-up", ("conv1", "block0"), 2),
        ("bottom-up-logits", "bottom-up", ("conv1", "block0", "logits"), 3)]
    # ``at`` picks stages; the full randomization (the output group, reached last) stays
    assert [s.name for s in cascading_stages(groups, at=["conv1"], order="bottom-up")] == [
        "bottom-up-conv1", "bottom-up-logits"]
    assert set(stages[-1].groups) == set(cascading_stages(groups)[-1].groups)
    # the first bottom-up stage re-initialises the input group and nothing else
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    with randomized(model, stages[0].groups, seed=0, calibration=images):
        changed = {layer.name for layer in model.layers
                   if not _same(before[layer.name], layer.get_weights())}
    assert changed == {"conv1"}


def test_unknown_cascade_order_is_refused(model):
    with pytest.raises(ValueError, match="Unknown cascade order 'sideways'"):
        cascading_stages(["logits", "conv1"], order="sideways")
    with pytest.raises(ValueError, match="Unknown cascade order"):
        layer_groups(model, order="up")
