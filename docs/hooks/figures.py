"""MkDocs hook: the figures the pages show, rendered by this build from this checkout's code.

Nothing here is a committed picture that could drift from what the code draws: every build
(``.ci/run`` builds the site in strict mode) explains the images again and draws them with
:mod:`leg.plotting`, so each colour bar is labelled with what its values are, signed maps
are drawn in a diverging colour map centred on zero and magnitudes in a sequential one.

``figures/first_explanation.png``
    LEG on the shipped photo ``coffee`` with the shipped Lite0 at 400 samples (the settings
    of ``examples/first_explanation.py``): the photo, the signed map over it, ``|map|``.
``figures/cascading_digits.png``
    The sanity check of Adebayo et al. (2018) on the digits CNN: LEG's maps of three test
    digits under the original model, under another seed, and with the layers randomized
    from the output down (cascading randomization, as the harness does it).

About 30 s on 2 cores (TensorFlow's start-up and 401 + 18 x 201 model evaluations). The
figures are rendered once per process (``mkdocs serve`` keeps them across rebuilds).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_RENDERED: dict[str, bytes] = {}


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def first_explanation() -> bytes:
    import matplotlib.pyplot as plt

    import leg
    from leg.plotting import color_overlay, heatmap, leg_label
    from leg.zoo.lite0 import load_lite0
    from leg.zoo.photos import load_photo

    model = load_lite0()
    image = load_photo("coffee")
    result = leg.LEG(model, n_samples=400, progress=False).explain(image, seed=0)
    label = leg_label(result, model.class_names)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    axes[0].imshow(image)
    axes[0].set_axis_off()
    axes[0].set_title(f"coffee: {model.class_names[result.target]} "
                      f"(P = {result.score:.2f})", fontsize=9)
    color_overlay(image, result.saliency, ax=axes[1], label=label,
                  title=f"signed map over the photo ({result.n_evaluations} evaluations)")
    heatmap(result.cell_map, ax=axes[2], sign="absolute_value", label=label,
            title=f"|map|, {result.cell_map.shape[0]}x{result.cell_map.shape[1]} cells")
    fig.tight_layout()
    return _png(fig)


def cascading_digits() -> bytes:
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import Normalize

    import leg
    from leg.harness.checks.randomization.layers import layer_groups, randomized
    from leg.plotting import DIVERGING
    from leg.zoo.digits import digits_data, load_digits_cnn

    model = load_digits_cnn()
    data = digits_data()
    picks = [int(np.flatnonzero(data["y_test"] == d)[0]) for d in (2, 5, 7)]
    images = [data["x_test"][i] for i in picks]
    explainer = leg.LEG(model, cell_size=4, n_samples=200, progress=False)
    groups = [name for name, _ in layer_groups(model)]  # from the output down
    columns = ["original", "another seed", *[f"→ {g}" for g in groups]]
    maps = [[explainer.explain(im, seed=0).cell_map, explainer.explain(im, seed=1).cell_map]
            for im in images]
    for k in range(1, len(groups) + 1):
        with randomized(model, groups[:k], seed=0):
            for row, im in zip(maps, images, strict=True):
                row.append(explainer.explain(im, seed=0).cell_map)

    norm = Normalize(-1.0, 1.0)
    fig, axes = plt.subplots(len(images), len(columns) + 1,
                             figsize=(1.55 * (len(columns) + 1) + 1.2, 1.65 * len(images)),
                             squeeze=False)
    for i, (im, row) in enumerate(zip(images, maps, strict=True)):
        axes[i, 0].imshow(im[..., 0], cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_ylabel(f"digit {data['y_test'][picks[i]]}", fontsize=9)
        for j, cells in enumerate(row, start=1):
            scale = np.max(np.abs(cells)) or 1.0
            shown = axes[i, j].imshow(cells / scale, cmap=DIVERGING, norm=norm,
                                      interpolation="nearest")
            if i == 0:
                axes[i, j].set_title(columns[j - 1], fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(shown, ax=axes, fraction=0.025, pad=0.02)
    bar.set_label("LEG: d P(digit) / d cell intensity,\neach map divided by its max |value|",
                  fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle("LEG on the digits CNN: original model, another seed, then cascading "
                 "randomization from the output down", fontsize=10)
    return _png(fig)


FIGURES = {"figures/first_explanation.png": first_explanation,
           "figures/cascading_digits.png": cascading_digits}


def render(name: str) -> bytes:
    if name not in _RENDERED:
        _RENDERED[name] = FIGURES[name]()
    return _RENDERED[name]


def on_config(config):
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    from leg._quiet import quiet_tensorflow
    from leg._tf_allocator import use_bfc_cpu_allocator

    use_bfc_cpu_allocator()  # as leg explain does before TensorFlow starts
    quiet_tensorflow()
    for name in FIGURES:
        files.append(File.generated(config, name, content=render(name)))
    return files
