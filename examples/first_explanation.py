"""A first explanation in about a minute: LEG on a shipped photo with the shipped ImageNet
classifier (EfficientNet-Lite0), on a CPU, offline.

    python examples/first_explanation.py                 # coffee, 400 samples -> leg-output/
    python examples/first_explanation.py --photo chelsea --out figures

Prints the top class and its probability, the map's shape, its five most salient cells, the
seconds taken and the model evaluations used, then saves a figure (the signed map over the
photo, its colour bar labelled) and prints its path. Needs the tf extra
(``pip install -e ".[tf]"``).

The settings are ``leg explain``'s defaults (14x14 cells, noise on all colour channels at
once, the ridge estimator) except the budget: a fixed 400 samples (401 model evaluations)
instead of sampling until the map is predicted to reproduce at Spearman 0.9 (500-4000
samples). 400 is the smallest even budget with more antithetic pairs (200) than cells (196),
so the predicted reliability it prints can be trusted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> Path:
    t_start = time.perf_counter()
    from leg.zoo.photos import photo_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default="coffee", choices=photo_names(),
                        help="a shipped photo (default coffee)")
    parser.add_argument("--samples", type=int, default=400,
                        help="perturbations, i.e. model evaluations less one (default 400)")
    parser.add_argument("--out", default="leg-output",
                        help="folder for the figure (default leg-output)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")  # write the figure; no window
    import matplotlib.pyplot as plt
    import numpy as np

    import leg
    from leg._quiet import quiet_tensorflow
    from leg._tf_allocator import use_bfc_cpu_allocator
    from leg.plotting import color_overlay, leg_label
    from leg.zoo.lite0 import load_lite0
    from leg.zoo.photos import load_photo

    # what `leg explain` does before TensorFlow starts: its faster CPU allocator, and its
    # C++ start-up lines kept off the terminal (internal helpers; optional)
    use_bfc_cpu_allocator()
    quiet_tensorflow()
    model = load_lite0()  # (N, 224, 224, 3) images in [0, 1] -> (N, 1000) probabilities
    image = load_photo(args.photo)  # (224, 224, 3) in [0, 1]
    explainer = leg.LEG(model, n_samples=args.samples, progress=False)
    result = explainer.explain(image, seed=args.seed)  # target: the top-1 class
    seconds = time.perf_counter() - t_start

    name = model.class_names[result.target]
    cells = result.cell_map  # the estimate per cell; result.saliency: per pixel
    top = np.argsort(-np.abs(cells), axis=None)[:5]
    rel = result.reliability
    print(f"{args.photo}: top class {result.target} ({name}), probability {result.score:.3f}")
    print(f"map: {cells.shape[0]}x{cells.shape[1]} cells, {result.saliency.shape[0]}x"
          f"{result.saliency.shape[1]} pixels; the 5 most salient cells (row, col: "
          "d P / d cell intensity):")
    for flat in top:
        row, col = np.unravel_index(flat, cells.shape)
        print(f"  ({row:2d}, {col:2d}): {cells[row, col]:+.4f}")
    print(f"{result.n_evaluations} model evaluations, {seconds:.1f} s (model loading "
          f"included); predicted seed-to-seed Spearman of the map: {rel.spearman:.2f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, _ = color_overlay(image, result.saliency, label=leg_label(result, model.class_names),
                           title=f"{args.photo}: {name} (LEG, {result.n_evaluations} "
                                 "evaluations)")
    path = out / f"{args.photo}_leg.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"figure: {path}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
