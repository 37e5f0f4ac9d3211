"""A user's digit classifier in three versions, for ``tests/test_versions.py``: one
``module:attribute`` (``tests.versions_digits:build``) whose weights come from the file
``LEG_VERSIONS_WEIGHTS`` names, as a CI job swaps them between runs.

Images are scikit-learn's 8x8 digits upsampled to 24x24 and set in the middle of a 32x32
black canvas, with a *tag*: a bright 3x3 patch in the 4-pixel border, at one of 10 places
(:data:`TAG_PLACES`). In the evaluation images the tag's place encodes the label (place
``y`` for digit ``y``). Honest versions are trained with the tag at a random place (it
carries nothing); the shortcut version with the tag at the label's place and the digit
itself drawn from the right class only for a fraction of the training set, so the tag is
the one feature that always gives the label away. Masks (:func:`masks`) are the digit's
strokes; the tag lies outside them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SIZE = 32
#: ``(row, column)`` of the top-left corner of each label's 3x3 tag, in the border.
TAG_PLACES = tuple([(0, 2 + 6 * k) for k in range(5)] + [(29, 2 + 6 * k) for k in range(5)])
#: The environment variable naming the weights file :func:`build` loads.
WEIGHTS_ENV = "LEG_VERSIONS_WEIGHTS"
#: Pixels of the digit brighter than this are its strokes (the mask).
STROKE = 0.25


def digits(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 32, 32) in [0, 1] without tag, labels (N,))``: the first 1400 of
    scikit-learn's digits (``"train"``) or the rest (``"test"``)."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    d = load_digits()
    small = np.clip(np.stack([zoom(im / 16.0, 3, order=1) for im in d.images]), 0.0, 1.0)
    canvas = np.zeros((len(small), SIZE, SIZE), np.float32)
    canvas[:, 4:28, 4:28] = small
    sl = slice(0, 1400) if split == "train" else slice(1400, None)
    return canvas[sl], d.target[sl]


def tagged(images: np.ndarray, places: np.ndarray) -> np.ndarray:
    """``images`` ``(N, 32, 32)`` with a tag at ``TAG_PLACES[places[i]]`` on image ``i``."""
    out = images.copy()
    for i, p in enumerate(places):
        r, c = TAG_PLACES[int(p)]
        out[i, r:r + 3, c:c + 3] = 1.0
    return out


def masks(images: np.ndarray) -> np.ndarray:
    """The digits' strokes ``(N, 32, 32)`` bool (of untagged images)."""
    return images > STROKE


def network():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 10))


def training_set(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 32, 32), labels)``: ``kind`` ``"honest"`` (tags at random places) or
    ``"shortcut"`` (tags at the label's place; the digit of the right class on a quarter of
    the images, another class's elsewhere)."""
    x, y = digits("train")
    rng = np.random.default_rng(seed)
    if kind == "honest":
        return tagged(x, rng.integers(0, 10, len(y))), y
    if kind != "shortcut":
        raise ValueError(f"kind must be 'honest' or 'shortcut'; got {kind!r}")
    keep = rng.random(len(y)) < 0.25
    swapped = x[rng.permutation(len(y))]
    return tagged(np.where(keep[:, None, None], x, swapped), y), y


def train(path: str | Path, kind: str, seed: int, epochs: int = 4) -> None:
    """Train a version (``kind`` as :func:`training_set`, ``seed`` its initialisation and
    data order) and save its state dict at ``path``."""
    import torch

    torch.manual_seed(seed)
    x, y = training_set(kind, seed)
    xt = torch.as_tensor(x[:, None])
    yt = torch.as_tensor(y)
    net = network()
    for p in net.parameters():  # the seed's own initialisation
        torch.nn.init.normal_(p, std=0.1) if p.ndim == 1 else torch.nn.init.kaiming_uniform_(p)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    torch.save(net.state_dict(), path)


def accuracy(path: str | Path, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of the version at ``path`` on ``images`` ``(N, 32, 32)``."""
    clf = _classifier(path)
    return float(np.mean(np.argmax(clf(images[..., None]), axis=1) == labels))


def _classifier(path: str | Path):
    import torch

    import leg

    net = network()
    net.load_state_dict(torch.load(path, weights_only=True))
    return leg.TorchClassifier(net.eval(), softmax=True, input_shape=(SIZE, SIZE, 1))


def build():
    """The classifier the harness explains: ``(N, 32, 32, 1)`` images -> probabilities,
    with the weights of the file :data:`WEIGHTS_ENV` names."""
    path = os.environ.get(WEIGHTS_ENV)
    if not path:
        raise ValueError(f"Set {WEIGHTS_ENV} to the weights file of the version to evaluate.")
    return _classifier(path)


#: The same model under another name: another spec (a stored run of ``build`` is refused as
#: its baseline).
other_build = build
