"""Regenerate the object masks of the shipped photos, ``leg/data/masks/<name>.png``.

Each mask marks the object of the class Lite0 assigns to the photo (:mod:`leg.zoo.photos`)
on the 224x224 centre crop that :func:`leg.zoo.photos.load_photo` returns. The shapes
below were placed by hand, for this project, by looking at each crop with a 16-pixel grid
over it; coordinates are ``(x, y)`` = (column, row) in pixels of that crop. A shape is a
polygon (its vertices), an ellipse (centre and semi-axes) or a thick line segment (a
tripod leg). The masks are the union of a photo's shapes, drawn with
:func:`skimage.draw.polygon` / :func:`skimage.draw.ellipse`; nothing is learned or
downloaded, so the script reproduces the PNGs bit for bit.

Usage (from the repository root)::

    python docs/make_photo_masks.py            # writes leg/data/masks/*.png
    python docs/make_photo_masks.py --overlay /tmp/masks   # also each mask over its photo
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SIZE = 224
OUT = Path(__file__).resolve().parents[1] / "leg" / "data" / "masks"

# What each mask covers, and why (SOURCE.md repeats this).
WHAT = {
    "chelsea": "the cat's face (eyes, nose bridge, nose, muzzle): the crop is all cat, so "
               "the mask marks the face, where the features of the class are",
    "coffee": "the espresso cup with its handle and the coffee (not the saucer or spoon)",
    "camera": "the tripod (legs, column, head) and the camera on it",
    "motorcycle": "the motorcycle",
    "rocket": "the rocket (not the launch towers or the lights)",
    "china": "the temple building (not the trees, lake or sky)",
    "flower": "the dahlia flower heads (the large one and the one cut by the bottom edge)",
    "grace_hopper": "the uniform: the officer's cap and the jacket with shirt and tie "
                    "(not the face, hair, flag or background)",
}

SHAPES = {
    "chelsea": [
        ("polygon", [(40, 70), (70, 55), (105, 60), (150, 68), (190, 76), (212, 95),
                     (214, 125), (198, 142), (178, 160), (172, 195), (155, 214),
                     (128, 218), (110, 202), (104, 176), (88, 150), (58, 136), (40, 115)]),
    ],
    "coffee": [
        ("ellipse", (106, 62), (66, 52)),
        ("polygon", [(41, 62), (172, 62), (168, 98), (160, 115), (148, 128), (132, 140),
                     (118, 150), (100, 158), (82, 155), (68, 142), (56, 122), (46, 100)]),
        ("polygon", [(92, 126), (62, 124), (54, 140), (55, 160), (63, 172), (80, 173),
                     (93, 160), (99, 142)]),
    ],
    "camera": [
        ("polygon", [(111, 61), (144, 57), (144, 81), (111, 81)]),   # camera
        ("polygon", [(121, 80), (138, 80), (138, 100), (121, 100)]),  # mount
        ("line", (128, 100), (129, 206), 5),                           # column
        ("line", (126, 144), (103, 222), 6),                           # left leg
        ("line", (131, 144), (176, 222), 6),                           # right leg
        ("polygon", [(117, 134), (140, 131), (151, 126), (152, 134), (139, 148),
                     (119, 150)]),                                     # head and handle
    ],
    "motorcycle": [
        ("polygon", [(0, 108), (10, 96), (15, 80), (30, 68), (60, 72), (90, 78), (115, 72),
                     (140, 66), (160, 60), (170, 52), (176, 48), (186, 54), (198, 58),
                     (208, 66), (212, 80), (205, 92), (195, 95), (200, 115), (210, 122),
                     (224, 125), (224, 210), (212, 203), (198, 196), (186, 185), (178, 170),
                     (172, 160), (150, 162), (130, 164), (110, 164), (100, 168), (96, 178),
                     (97, 192), (90, 193), (86, 178), (80, 172), (70, 174), (55, 180),
                     (40, 182), (25, 179), (10, 171), (0, 160)]),
    ],
    "rocket": [
        ("polygon", [(113, 63), (117, 63), (120, 70), (122, 80), (122, 208), (106, 208),
                     (106, 80), (108, 70)]),
    ],
    "china": [
        ("polygon", [(0, 65), (10, 62), (30, 50), (44, 30), (44, 17), (55, 17), (56, 32),
                     (75, 45), (95, 55), (110, 62), (118, 64), (110, 72), (100, 74),
                     (100, 88), (118, 92), (120, 100), (112, 104), (112, 124), (106, 130),
                     (120, 132), (130, 140), (120, 150), (120, 165), (112, 172), (130, 180),
                     (138, 188), (125, 195), (110, 205), (100, 215), (60, 212), (40, 200),
                     (15, 185), (0, 180)]),
    ],
    "flower": [
        ("ellipse", (105, 116), (73, 72)),
        ("polygon", [(95, 224), (100, 210), (115, 200), (135, 196), (155, 200), (170, 210),
                     (180, 224)]),
    ],
    "grace_hopper": [
        ("polygon", [(10, 224), (15, 180), (22, 160), (40, 148), (70, 140), (85, 135),
                     (100, 148), (118, 152), (135, 145), (160, 138), (185, 140), (200, 155),
                     (210, 175), (222, 195), (224, 224)]),
        ("polygon", [(66, 48), (68, 30), (75, 18), (85, 8), (95, 0), (150, 0), (158, 10),
                     (165, 25), (165, 45), (150, 48), (120, 44), (95, 44), (75, 50)]),
    ],
}


def _line(p0, p1, width) -> list[tuple[float, float]]:
    """The rectangle of half-width ``width / 2`` around the segment ``p0 -> p1``."""
    (x0, y0), (x1, y1) = p0, p1
    d = np.array([x1 - x0, y1 - y0], dtype=float)
    n = np.array([-d[1], d[0]]) / np.hypot(*d) * width / 2
    return [(x0 + n[0], y0 + n[1]), (x1 + n[0], y1 + n[1]),
            (x1 - n[0], y1 - n[1]), (x0 - n[0], y0 - n[1])]


def draw(shapes, size: int = SIZE) -> np.ndarray:
    """The ``(size, size)`` bool union of ``shapes``."""
    from skimage.draw import ellipse, polygon

    mask = np.zeros((size, size), bool)
    for shape in shapes:
        if shape[0] == "ellipse":
            (cx, cy), (rx, ry) = shape[1], shape[2]
            rr, cc = ellipse(cy, cx, ry, rx, shape=mask.shape)
        else:
            pts = shape[1] if shape[0] == "polygon" else _line(*shape[1:])
            xs, ys = zip(*pts, strict=True)
            rr, cc = polygon(np.array(ys, float), np.array(xs, float), shape=mask.shape)
        mask[rr, cc] = True
    return mask


def main(argv=None) -> None:
    from skimage.io import imsave

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--overlay", type=Path, default=None,
                   help="also write <name>.png: the photo with the mask's outside darkened")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, shapes in SHAPES.items():
        mask = draw(shapes)
        imsave(args.out / f"{name}.png", (mask * 255).astype(np.uint8), check_contrast=False)
        print(f"{name:13s} {mask.mean():6.1%} of the pixels: {WHAT[name]}")
        if args.overlay is not None:
            from skimage.segmentation import find_boundaries

            from leg.zoo.photos import load_photo

            args.overlay.mkdir(parents=True, exist_ok=True)
            img = load_photo(name)
            shown = np.where(mask[..., None], img, 0.35 * img)
            shown[find_boundaries(mask)] = (1.0, 1.0, 0.0)
            imsave(args.overlay / f"{name}.png", (shown * 255).astype(np.uint8))


if __name__ == "__main__":
    main()
