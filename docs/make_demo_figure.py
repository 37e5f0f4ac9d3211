"""Compose the README's demo figure from a ``leg explain`` output folder.

Usage: ``leg explain --out leg-output && python docs/make_demo_figure.py leg-output docs/demo.png``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from leg.plotting import grid
from leg.zoo.photos import load_photo


def main(out_dir: str = "leg-output", figure: str = "docs/demo.png") -> None:
    root = Path(out_dir)
    doc = json.loads((root / "results.json").read_text())
    images, maps, labels = [], [], []
    for record in doc["images"]:
        if record["status"] != "ok":
            continue
        entry = record["maps"][0]
        images.append(load_photo(record["name"]))
        saliency = np.load(root / entry["npy"])
        maps.append([saliency, saliency])
        labels.append(f"{record['name']}: {record['class_name'].split(',')[0]} "
                      f"({record['score']:.2f})")
    fig, axes = grid(images, maps, row_labels=labels,
                     col_labels=["photo", f"{doc['method']} map", "overlay"])
    for i in range(len(images)):  # second map column as a colour overlay
        axes[i, 2].clear()
        from leg.plotting import color_overlay

        color_overlay(images[i], maps[i][1], ax=axes[i, 2], colorbar=False,
                      title="overlay" if i == 0 else None)
    fig.savefig(figure, dpi=90, bbox_inches="tight")
    print(f"wrote {figure}")


if __name__ == "__main__":
    main(*sys.argv[1:])
