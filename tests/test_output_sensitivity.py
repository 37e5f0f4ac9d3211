"""leg.harness.checks.randomization.output_sensitivity: logits, agreement, and a residual block
bypassed."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from leg.harness.checks.randomization.output_sensitivity import (  # noqa: E402
    logit_agreement,
    model_logits,
    output_change,
)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def residual():
    """conv1 -> (skip + 0.01 x block0 branch) -> logits -> softmax: block0 is bypassed."""
    from keras import layers

    keras.utils.set_random_seed(2)
    inp = keras.Input((8, 8, 1))
    h = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    branch = layers.Conv2D(4, 3, padding="same", name="block0_conv")(h)
    branch = layers.Rescaling(0.01, name="block0_scale")(branch)
    h = layers.Add(name="add")([h, branch])
    z = layers.Dense(5, name="logits")(layers.Flatten()(h))
    return keras.Model(inp, layers.Activation("softmax", name="probabilities")(z))


def test_logits_are_the_pre_softmax_scores(residual, images):
    z = model_logits(residual, images)
    assert z.shape == (6, 5) and z.dtype == np.float64
    p = residual(images).numpy()
    np.testing.assert_allclose(np.exp(z) / np.exp(z).sum(1, keepdims=True), p, rtol=1e-5)


def test_agreement_numbers():
    z = np.random.default_rng(1).standard_normal((4, 10))
    same = logit_agreement(z, z)
    assert same["pearson"] == pytest.approx(1) and same["spearman"] == pytest.approx(1)
    assert same["top1_agreement"] == 1 and same["relative_change"] == 0
    flipped = logit_agreement(z, -z)
    assert flipped["pearson"] == pytest.approx(-1) and flipped["top1_agreement"] == 0
    assert flipped["relative_change"] == pytest.approx(2)
    with pytest.raises(ValueError, match=r"\(N, K\) logit arrays"):
        logit_agreement(z, z[:, :3])


def test_independent_randomization_of_a_bypassed_block_barely_moves_the_output(
        residual, images):
    before = [w.copy() for w in residual.get_weights()]
    rows = {r["stage"]: r for r in output_change(residual, images, seed=0)}
    assert list(rows) == ["independent-logits", "independent-block0", "independent-conv1"]
    assert rows["independent-block0"]["pearson"] > 0.99  # the skip connection carries it
    assert rows["independent-block0"]["relative_change"] < 0.05
    assert rows["independent-logits"]["pearson"] < 0.9  # the read-out is not bypassed
    assert all(np.array_equal(a, b) for a, b in zip(before, residual.get_weights(),
                                                    strict=True))
    cascade = output_change(residual, images, kind="cascading", groups=["logits"])
    assert [r["groups"] for r in cascade] == [["logits"], ["logits", "block0", "conv1"]]
    bottom = output_change(residual, images, kind="bottom-up", groups=["conv1"])
    assert bottom[0]["groups"] == ["conv1"]


def test_bad_arguments(residual, images):
    with pytest.raises(ValueError, match="Unknown kind 'sideways'"):
        output_change(residual, images, kind="sideways")
    with pytest.raises(ValueError, match=r"Unknown layer groups \['nope'\]"):
        output_change(residual, images, groups=["nope"])
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        output_change(residual, images[0])
