import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from leg import plotting  # noqa: E402


@pytest.fixture
def image():
    return np.random.default_rng(0).random((12, 10, 3))


@pytest.mark.parametrize("fn", [plotting.gray_overlay, plotting.color_overlay])
def test_overlays_return_figure_and_axes(fn, image):
    fig, ax = fn(image, np.linspace(-1, 1, 120).reshape(12, 10), title="t")
    assert ax.get_title() == "t" and fig.axes[0] is ax
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_heatmap_and_grey_images(image):
    fig, ax = plotting.heatmap(np.ones((4, 4)), colorbar=False)
    assert len(fig.axes) == 1
    fig, ax = plotting.color_overlay(image[..., :1], np.ones((12, 10)))
    assert ax.images[0].get_array().shape == (12, 10)


def test_grid_layout_and_labels(image):
    maps = [[np.ones((12, 10)), np.zeros((12, 10))], [np.ones((12, 10))]]
    fig, axes = plotting.grid([image, image], maps, row_labels=["a", "b"],
                              col_labels=["img", "m1", "m2"], style="overlay")
    assert axes.shape == (2, 3)
    assert axes[0, 1].get_title() == "m1" and axes[1, 0].get_ylabel() == "b"
    assert not axes[1, 2].axison  # the missing map leaves an empty cell


def test_to_gray_and_bad_style(image):
    g = plotting.to_gray(image)
    assert g.shape == (12, 10) and 0 <= g.min() and g.max() <= 1
    with pytest.raises(ValueError, match="'style'"):
        plotting.show_style(image, np.ones((12, 10)), "jet")


SIGNED = np.linspace(-0.8, 0.45, 120).reshape(12, 10)  # the range users saw, zero inside


def _scale(ax):
    im = ax.images[-1]  # the map (overlays draw the image first)
    return im.get_cmap().name, im.norm.vmin, im.norm.vmax


@pytest.mark.parametrize("style", sorted(plotting.STYLES))
def test_a_signed_map_is_diverging_and_centred_on_zero(style, image):
    fig, ax = plotting.show_style(image, SIGNED, style)
    cmap, vmin, vmax = _scale(ax)
    assert cmap == plotting.DIVERGING == "RdBu_r"
    assert vmin == -vmax == -0.8  # symmetric: zero is the colour map's centre (white)
    assert fig.axes[-1].get_ylabel() == plotting.LEG_LABEL  # the colour bar says what it is


@pytest.mark.parametrize("style, expected", [("heatmap_only", "inferno"),
                                             ("overlay", "inferno"), ("gray", "gist_gray")])
def test_a_non_negative_map_is_sequential_from_zero(style, expected, image):
    fig, ax = plotting.show_style(image, np.abs(SIGNED), style, label="|map|")
    assert _scale(ax) == (expected, 0.0, 0.8)
    assert fig.axes[-1].get_ylabel() == "|map|"


def test_sign_modes_as_captum(image):
    assert np.all(plotting.apply_sign(SIGNED, "absolute_value") == np.abs(SIGNED))
    neg = plotting.apply_sign(SIGNED, "negative")
    assert neg.max() == 0.8 and neg.min() == 0.0
    fig, ax = plotting.heatmap(SIGNED, sign="positive")
    assert _scale(ax) == ("inferno", 0.0, 0.45)
    assert fig.axes[-1].get_ylabel() == "LEG saliency: positive part of d P(class) / d cell " \
                                        "intensity"
    with pytest.raises(ValueError, match="'sign'"):
        plotting.apply_sign(SIGNED, "both")
    fig, ax = plotting.heatmap(np.zeros((4, 4)))  # no range: still drawable
    assert _scale(ax) == ("inferno", 0.0, 1.0)


def test_leg_label_says_what_the_values_are():
    import leg
    from tests.models import LinearSigmoid, block_weights, smooth_image

    model = LinearSigmoid(block_weights(8, 8))
    image = smooth_image(8, 8)
    joint = leg.LEG(model, cell_size=2, n_samples=4).explain(image, seed=0, target=1)
    assert plotting.leg_label(joint, ["a", "b"]) == "LEG: d P(b) / d cell intensity"
    per = leg.LEGTV(model, cell_size=2, n_samples=4, mode="per_channel").explain(
        image, seed=0, target=(1, 0))
    assert plotting.leg_label(per) == ("LEG-TV (λ=0.075): mean over channels of "
                                       "|d (P(class 1) − P(class 0)) / d cell intensity|")


@pytest.mark.parametrize("direction, cmap, limits", [
    ("all", "RdBu_r", (-0.8, 0.8)), ("positive", "inferno", (0.0, 0.45)),
    ("negative", "inferno", (0.0, 0.8))])
def test_compat_heatmap_only_keeps_the_directions(tmp_path, monkeypatch, direction, cmap,
                                                  limits):
    from leg import compat

    drawn = {}

    def spy(image, values, style, **kwargs):
        drawn["values"] = values
        drawn["fig"], drawn["ax"] = plotting.show_style(image, values, style, **kwargs)
        return drawn["fig"], drawn["ax"]

    monkeypatch.setattr(compat, "show_style", spy)
    compat.generateHeatmap(np.full((12, 10, 3), 128.0), SIGNED, str(tmp_path), "h.png",
                           showOption=False, direction=direction)
    expected = plotting.apply_direction(SIGNED, direction)
    np.testing.assert_array_equal(drawn["values"], expected)  # zeroed as the original did
    assert _scale(drawn["ax"]) == (cmap, *limits)
    assert drawn["fig"].axes[-1].get_ylabel()  # labelled
