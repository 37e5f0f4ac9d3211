"""Cost of a LEG explanation on a GPU against the GPU-resident model (the physical floor).

Prints, in one run on one card, for the PyTorch EfficientNet-Lite0 (``lite0-torch``, the
shipped weights) on the chelsea photo at a 28x28 grid:

- the floor: n model evaluations on an image batch already on the device (preprocessing,
  forward pass and softmax; nothing copied), and the same from NumPy batches (copy in and
  out, as a plain callable would);
- LEG (joint, and per-channel at the same number of evaluations) and LEG-TV with 4 λ at n
  evaluations, with their ratios to the floor (targets on an H100/H200: LEG <= 1.3,
  LEG-TV <= 2) and where the time went (sampling, model, estimation);
- LEG with the perturbed images built on the host (``device_batches=False``): the path
  every callable took before the device path existed.

Usage (the device machine has PyTorch but not TensorFlow; leg runs from the working tree):
    benchmarks/gpu_wheels.sh            # here: the wheels that machine lacks, into .whl/
    # there, with .whl carried:
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \\
      && PYTHONPATH=/tmp/site:. python3 benchmarks/bench_gpu.py --json $OUT/bench_gpu.json
Options: [--samples 4096] [--batch-size 256] [--repeats 3] [--device cuda] [--autocast
bfloat16] [--json PATH]. On a CPU (``--device cpu`` and small ``--samples``) it is a dry
run of the same code.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

import leg
from leg.zoo.lite0_torch import load_lite0_torch
from leg.zoo.photos import load_photo

LAMBDAS = [0.05, 0.075, 0.1, 0.3]
TARGETS = {"LEG joint": 1.3, "LEG per-channel": 1.3, "LEG-TV 4 lambdas": 2.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def floor_seconds(clf, image: np.ndarray, n: int, batch_size: int) -> float:
    """n evaluations of a batch that is already on the device."""
    batch = torch.as_tensor(np.repeat(image[None], batch_size, 0), dtype=torch.float32,
                            device=clf.device)
    _sync(clf.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            clf._forward(batch[:min(batch_size, n - start)], probability=True)
    _sync(clf.device)
    return time.perf_counter() - t0


def numpy_seconds(clf, image: np.ndarray, n: int, batch_size: int) -> float:
    """n evaluations from NumPy batches (copied in, scores copied out)."""
    batch = np.repeat(image[None], batch_size, 0)
    t0 = time.perf_counter()
    for start in range(0, n, batch_size):
        clf(batch[:min(batch_size, n - start)])
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4096, help="model evaluations")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--autocast", choices=("float16", "bfloat16"), default=None)
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args()

    torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its kernels
    clf = load_lite0_torch(device=args.device, batch_size=args.batch_size,
                           autocast=args.autocast)
    image = load_photo("chelsea")
    n, bs = args.samples - args.samples % 2, args.batch_size
    per_channel_n = (n // 3) + (n // 3) % 2
    options = dict(cell_size=8, batch_size=bs, progress=False)
    runs = {
        "LEG joint": lambda seed: leg.LEG(clf, n_samples=n, mode="joint",
                                          **options).explain(image, seed=seed),
        "LEG per-channel": lambda seed: leg.LEG(clf, n_samples=per_channel_n,
                                                mode="per_channel",
                                                **options).explain(image, seed=seed),
        "LEG-TV 4 lambdas": lambda seed: leg.LEGTV(clf, n_samples=n, mode="joint",
                                                   **options).explain_path(image, LAMBDAS,
                                                                           seed=seed)[0],
    }

    def host_leg(seed):
        clf.device_batches = False
        try:
            return runs["LEG joint"](seed)
        finally:
            clf.device_batches = True

    runs["LEG joint, host-built batches"] = host_leg

    # warm up: cuDNN autotuning, the LP machinery, the covariance factorisations
    floor_seconds(clf, image, 2 * bs, bs)
    numpy_seconds(clf, image, bs, bs)
    runs["LEG joint"](0)
    runs["LEG-TV 4 lambdas"](0)

    times: dict[str, list[float]] = {"floor": [], "numpy": [], **{k: [] for k in runs}}
    parts: dict[str, dict] = {}
    for r in range(args.repeats):  # interleaved, so drifts hit every row alike
        times["floor"].append(floor_seconds(clf, image, n, bs))
        times["numpy"].append(numpy_seconds(clf, image, n, bs))
        for name, run in runs.items():
            t0 = time.perf_counter()
            result = run(r + 1)
            times[name].append(time.perf_counter() - t0)
            parts[name] = {k: round(v, 4) for k, v in result.timings.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    floor = median["floor"]

    card = (torch.cuda.get_device_name(clf.device) if clf.device.type == "cuda"
            else platform.processor() or "CPU")
    print(f"{card}; torch {torch.__version__}; Lite0 (PyTorch), 224x224 chelsea, 28x28 grid, "
          f"{n} evaluations (per-channel {3 * per_channel_n}), batch {bs}, autocast "
          f"{args.autocast or 'off'}, median of {args.repeats}")
    print(f"{'':34s}{'seconds':>9s}{'ratio':>8s}{'target':>8s}")
    print(f"{'model, batch on the device':34s}{floor:9.3f}{1.0:8.2f}")
    print(f"{'model, NumPy batches':34s}{median['numpy']:9.3f}{median['numpy'] / floor:8.2f}")
    for name in runs:
        ratio = median[name] / floor
        target = TARGETS.get(name)
        verdict = ("" if target is None
                   else f"{target:8.1f}  {'MET' if ratio <= target else 'NOT MET'}")
        print(f"{name:34s}{median[name]:9.3f}{ratio:8.2f}{verdict}")
    print("where the time went (last repeat, seconds):")
    for name, t in parts.items():
        print(f"  {name:32s} " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()))
    print("all runs (s): " + "; ".join(f"{k} {np.round(v, 3).tolist()}"
                                       for k, v in times.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"card": card, "torch": torch.__version__, "evaluations": n,
                       "batch_size": bs, "autocast": args.autocast, "times": times,
                       "median": median, "ratios": {k: v / floor for k, v in median.items()},
                       "parts": parts}, fh, indent=2)


if __name__ == "__main__":
    main()
