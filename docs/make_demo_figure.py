"""Compose the README's demo figure from ``leg explain`` output folders.

Usage::

    leg explain --out leg-output                                  # the defaults (ridge)
    leg explain --estimator moment --out leg-output-moment        # the paper's estimator
    python docs/make_demo_figure.py leg-output leg-output-moment docs/demo.png

One row per photo: the photo, |map| of the paper's estimator, |map| of the default, and
the default's signed map over the photo (red: brighter there raises the class score). Every
colour bar says what its values are (leg.plotting's labels): the magnitudes in a sequential
map from zero, the signed map in a diverging one centred on zero.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from leg.plotting import color_overlay, heatmap  # noqa: E402
from leg.zoo.photos import load_photo  # noqa: E402


def _maps(out_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    doc = json.loads((out_dir / "results.json").read_text())
    return doc, {r["name"]: np.load(out_dir / r["maps"][0]["npy"])
                 for r in doc["images"] if r["status"] == "ok"}


#: What the values are: the derivative of the class probability (the row's class) with
#: respect to a cell's intensity; the heatmaps' bars say "magnitude of" it.
LABEL = "d P(class) / d cell"


def main(default_dir: str = "leg-output", moment_dir: str = "leg-output-moment",
         figure: str = "docs/demo.png") -> None:
    doc, default = _maps(Path(default_dir))
    _, moment = _maps(Path(moment_dir))
    records = [r for r in doc["images"] if r["status"] == "ok" and r["name"] in moment]
    fig, axes = plt.subplots(len(records), 4, figsize=(12.5, 2.5 * len(records)),
                             squeeze=False)
    for i, record in enumerate(records):
        name = record["name"]
        image = load_photo(name)
        axes[i, 0].imshow(image)
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
        axes[i, 0].set_ylabel(f"{name}: {record['class_name'].split(',')[0]}\n"
                              f"({record['score']:.2f})", fontsize=9)
        heatmap(moment[name], ax=axes[i, 1], sign="absolute_value",
                label=LABEL, title="|map|, paper's estimator" if i == 0 else None)
        heatmap(default[name], ax=axes[i, 2], sign="absolute_value",
                label=LABEL, title="|map|, ridge (default)" if i == 0 else None)
        color_overlay(image, default[name], ax=axes[i, 3], label=LABEL,
                      title="signed, over the photo" if i == 0 else None)
    fig.subplots_adjust(wspace=0.5, hspace=0.12)
    fig.savefig(figure, dpi=90, bbox_inches="tight")
    print(f"wrote {figure}")


if __name__ == "__main__":
    main(*sys.argv[1:])
