"""A user's own PyTorch classifier, as a team would hand it to the harness
(``--leg-model user_digits:build``): a small CNN on scikit-learn's digits (32x32 grey), its
weights trained once (seconds, seeded) and kept in ``weights.pt`` beside this file, or where
``USER_DIGITS_WEIGHTS`` says. Used by ``benchmarks/user_model.py``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SIZE = 32


def digits(split: str = "train"):
    """``(images (N, 32, 32, 1) in [0, 1], labels)``: scikit-learn's 8x8 digits, upsampled."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.stack([zoom(im / 16.0, SIZE / 8, order=1) for im in d.images])
    images = np.clip(images, 0.0, 1.0)[..., None].astype(np.float32)
    cut = 1400
    sl = slice(0, cut) if split == "train" else slice(cut, None)
    return images[sl], d.target[sl]


def network():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 10))


def train(path: Path, epochs: int = 4) -> None:
    import torch

    torch.manual_seed(0)
    x, y = digits("train")
    x = torch.as_tensor(x).permute(0, 3, 1, 2)
    y = torch.as_tensor(y)
    net = network()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
    torch.save(net.state_dict(), path)


def build():
    """The classifier ``leg`` explains: ``(N, 32, 32, 1)`` images -> class probabilities."""
    import torch

    import leg

    path = Path(os.environ.get("USER_DIGITS_WEIGHTS", Path(__file__).with_name("weights.pt")))
    if not path.exists():
        train(path)
    net = network()
    net.load_state_dict(torch.load(path, weights_only=True))
    return leg.TorchClassifier(net.eval(), softmax=True, input_shape=(SIZE, SIZE, 1))
