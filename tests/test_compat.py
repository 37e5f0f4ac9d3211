"""The original README's API, through ``leg.compat``."""

import os

import numpy as np
import pytest

from leg.compat import LEG_est, LEG_Explain, generateHeatmap
from tests.models import LinearSigmoid, block_weights, smooth_image

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def small_keras_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(5, activation="softmax"),
    ])


def test_original_readme_toy_example_runs(tmp_path, small_keras_model):
    from keras.preprocessing import image
    from PIL import Image
    from skimage import data

    image_folder = tmp_path / "Image"
    image_folder.mkdir()
    for name, photo in [("shark", data.chelsea()), ("soccer", data.coffee())]:
        Image.fromarray(photo).save(image_folder / f"{name}.jpg")

    class Image_Obj:  # noqa: N801 - as in the original README
        def __init__(self, name, Noise, Lambda):  # noqa: N803
            self.name = name
            self.Noise = Noise
            self.Lambda = Lambda

    List = [Image_Obj("shark", 0.02, 0.075), Image_Obj("soccer", 0.02, 0.075)]  # noqa: N806
    vgg_model = small_keras_model
    result_dir = tmp_path / "Result"
    for val in List:
        image0 = image.load_img(os.path.join(image_folder, val.name + ".jpg"),
                                target_size=(32, 32))
        image0 = image.img_to_array(image0)
        image_input = np.expand_dims(image0.copy(), axis=0)
        image_input = keras.applications.vgg19.preprocess_input(image_input)
        preds = vgg_model.predict(image_input, verbose=0)
        chosen_class = np.argmax(preds)
        task = LEG_Explain(vgg_model, image0, val.name, np.array([val.Noise]),
                           np.array([val.Lambda]), sampling_size=20, conv=8,
                           chosen_class=chosen_class, seed=0)
        generateHeatmap(image0, task[0].sol, result_path=str(result_dir),
                        name=val.name + "_gray.jpg", style="gray", showOption=False,
                        direction="all")
        assert task[0].result.target == chosen_class
        assert (result_dir / f"{val.name}_gray.jpg").stat().st_size > 1000


def test_returns_one_result_per_pair_noise_major():
    model = LinearSigmoid(block_weights(16, 16))
    image0 = smooth_image(16, 16) * 255
    out = LEG_Explain(model, image0, "x", np.array([0.01, 0.02]), np.array([0.0, 0.1, 1.0]),
                      sampling_size=10, conv=4, chosen_class=0, seed=0)
    assert [type(r) for r in out] == [LEG_est] * 6
    assert [(r.sz, r.lbd) for r in out] == [(s, lam) for s in (0.01, 0.02)
                                            for lam in (0.0, 0.1, 1.0)]
    assert all(r.sol.shape == (16, 16) for r in out)
    assert np.all(out[2].sol == 0)  # lambda = 1 admits the zero map
    assert np.all(out[0].sol >= 0)  # channels combined as the sum of absolute values


def test_preprocessing_is_the_callers_choice(small_keras_model):
    seen = []

    def record(x):
        seen.append(float(np.max(x)))
        return x

    image0 = np.full((32, 32, 3), 255.0)
    LEG_Explain(small_keras_model, image0, "x", [0.02], [0.1], sampling_size=4, conv=8,
                preprocessing=record, seed=0)
    assert max(seen) <= 1.0  # the model saw [0, 1] images, not caffe-preprocessed ones


def test_original_noise_level_warns_about_saturation():
    model = LinearSigmoid(block_weights(16, 16))
    with pytest.warns(UserWarning, match="smooth"):
        LEG_Explain(model, smooth_image(16, 16) * 255, "x", [0.3], [0.075], sampling_size=4,
                    conv=4, seed=0)


@pytest.mark.parametrize("style", ["heatmap_only", "gray", "overlay"])
@pytest.mark.parametrize("direction", ["all", "positive", "negative"])
def test_generate_heatmap_styles_and_directions(tmp_path, style, direction):
    heat = np.linspace(-1, 1, 256).reshape(16, 16)
    path = generateHeatmap(smooth_image(16, 16) * 255, heat, str(tmp_path), f"{style}.png",
                           style=style, showOption=False, direction=direction)
    assert os.path.getsize(path) > 500


def test_generate_heatmap_rejects_bad_arguments(tmp_path):
    image0 = smooth_image(16, 16) * 255
    with pytest.raises(ValueError, match="'style'"):
        generateHeatmap(image0, np.zeros((16, 16)), str(tmp_path), "a.png", style="jet")
    with pytest.raises(ValueError, match="'direction'"):
        generateHeatmap(image0, np.zeros((16, 16)), str(tmp_path), "a.png", direction="up",
                        showOption=False)
    with pytest.raises(ValueError, match="shape"):
        generateHeatmap(image0, np.zeros((8, 8)), str(tmp_path), "a.png", showOption=False)


def test_direction_semantics():
    from leg.plotting import apply_direction

    x = np.array([[-2.0, 0.5]])
    assert apply_direction(x, "positive").tolist() == [[0.0, 0.5]]
    assert apply_direction(x, "negative").tolist() == [[2.0, 0.0]]
    assert apply_direction(x, "all").tolist() == x.tolist()


def test_bad_compat_input_gets_a_clear_message():
    model = LinearSigmoid(block_weights(16, 16))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        LEG_Explain(model, np.full((16, 16, 3), 300.0), "x", [0.02], [0.1], sampling_size=4,
                    conv=4)
    with pytest.raises(ValueError, match="at least one value"):
        LEG_Explain(model, smooth_image(16, 16) * 255, "x", [], [0.1], sampling_size=4, conv=4)
