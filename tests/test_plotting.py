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
