"""Our model, as the team hands it to leg: ``--leg-model mymodel:build`` loads the weights of
this commit (``model/mymodel.keras``, or the file ``MYMODEL_WEIGHTS`` names). Each commit
that retrains the model is a new *version*: CI compares its explanations with the main
branch's (``.github/workflows/versions.yml``).

Stand-ins for what a real project has (its training script, its images with the objects'
masks)::

    python mymodel.py train SEED    # a version: leg's digits CNN trained from SEED
    python mymodel.py data DIR      # DIR/images (12 test digits) and DIR/masks (their strokes)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
N_IMAGES = 12


def weights_path() -> Path:
    return Path(os.environ.get("MYMODEL_WEIGHTS", HERE / "model" / "mymodel.keras"))


def build():
    """The classifier: ``(N, 32, 32, 1)`` images in ``[0, 1]`` -> ``(N, 10)`` probabilities."""
    import keras

    import leg

    path = weights_path()
    if not path.is_file():
        raise FileNotFoundError(f"No weights at {path}: run `python mymodel.py train 0` (or "
                                "set MYMODEL_WEIGHTS).")
    clf = leg.KerasClassifier(keras.models.load_model(path, compile=False),
                              preprocessing="none")
    clf.input_size = (32, 32)
    return clf


def train(seed: int) -> Path:
    """Train a version from ``seed`` and save it where :func:`build` reads it."""
    from leg.zoo.digits import train_digits_cnn

    model, metrics = train_digits_cnn("true", seed=seed)
    path = weights_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    print(f"trained from seed {seed}: test accuracy {metrics.get('test_accuracy')}, {path}")
    return path


def data(folder: str | Path) -> None:
    """The first test digits as PNGs in ``folder/images`` and their strokes (pixels above a
    quarter of the range) as binary PNGs of the same name in ``folder/masks``."""
    import numpy as np
    from PIL import Image

    from leg.zoo.digits import digits_data

    test = digits_data(32)["x_test"][:N_IMAGES, ..., 0]
    for sub, arrays in (("images", test), ("masks", test > 0.25)):
        (Path(folder) / sub).mkdir(parents=True, exist_ok=True)
        for i, a in enumerate(arrays):
            Image.fromarray((255 * np.asarray(a, float)).astype(np.uint8)).save(
                Path(folder) / sub / f"digit{i:02d}.png")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("train", "data"):
        sys.exit("usage: python mymodel.py train SEED | python mymodel.py data DIR")
    train(int(sys.argv[2])) if sys.argv[1] == "train" else data(sys.argv[2])
