"""Cost of a LEG explanation against the model's own cost (the physical floor).

Prints, in one run on the shipped EfficientNet-Lite0 classifier:
- seconds for one LEG and one LEG-TV (4 λ) explanation with n model evaluations at a
  28x28 grid, the seconds of n bare model evaluations at the same batch size, and the
  ratios (targets: LEG <= 1.05, LEG-TV <= 1.20);
- the estimation share at 28x28, joint mode, 2000 model evaluations: seconds of each
  estimator (ridge, least squares, moment; LEG-TV on the ridge with 4 λ) on one set of
  samples against the seconds the model took to produce them (target: ridge < 5 %);
- a 112x112 grid (cell size 2): seconds and peak traced memory (tracemalloc) of LEG and
  LEG-TV, against the size a dense q x q matrix would take.

Usage: python benchmarks/bench_cost.py [--samples 200] [--repeats 3] [--batch-size 64]
                                        [--model lite0|lite0-torch]
(``lite0-torch``: the same network in PyTorch, on the CPU unless ``--device cuda``.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import leg  # noqa: E402
from leg.zoo import load_model  # noqa: E402
from leg.zoo.photos import load_photo  # noqa: E402

LAMBDAS = [0.05, 0.075, 0.1, 0.3]


def bare_model_seconds(classifier, image, n: int, batch_size: int) -> float:
    # in the dtype the model computes in (float32 for the Keras and torch adapters), so the
    # floor holds no conversion LEG does not do either
    dtype = getattr(classifier, "input_dtype", np.float64)
    batch = np.repeat(image[None].astype(dtype), batch_size, axis=0)
    t0 = time.perf_counter()
    done = 0
    while done < n:
        count = min(batch_size, n - done)
        classifier(batch[:count])
        done += count
    return time.perf_counter() - t0


def estimation_share(classifier, image, batch_size: int, n: int = 2000) -> None:
    """Seconds of each estimator on one set of ``n`` joint samples vs the model's seconds."""
    responses = leg.LEG(classifier, cell_size=8, n_samples=n, mode="joint",
                        batch_size=batch_size, progress=False).sample(image, seed=0)
    model = responses.timings["model"]
    print(f"\nEstimation share: 28x28 grid, joint, n = {n}; the model took {model:.1f} s")
    # responses.head(n): the same samples without the factorisation cached by the last run
    runs = [(f"LEG {name}", lambda name=name: leg.estimate_leg(responses.head(n),
                                                               estimator=name))
            for name in ("ridge", "ols", "moment")]
    runs.append(("LEG-TV ridge, 4 lambdas",
                 lambda: leg.estimate_leg_tv(responses.head(n), lambdas=LAMBDAS)))
    for name, run in runs:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        target = "  target < 5 %: " + ("MET" if t / model < 0.05 else "NOT MET") \
            if name == "LEG ridge" else ""
        print(f"  {name:26s}{t:7.2f} s  {100 * t / model:5.1f} % of the model time{target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="per channel (3 channels)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-large", action="store_true", help="skip the 112x112 grid")
    parser.add_argument("--model", choices=("lite0", "lite0-torch"), default="lite0")
    parser.add_argument("--device", default="cpu", help="for lite0-torch (default cpu)")
    args = parser.parse_args()

    classifier = load_model(args.model, device=args.device)
    classifier.batch_size = args.batch_size
    image = load_photo("chelsea")
    options = dict(cell_size=8, n_samples=args.samples, mode="per_channel",
                   batch_size=args.batch_size, progress=False)
    leg_explainer = leg.LEG(classifier, **options)
    tv_explainer = leg.LEGTV(classifier, **options)
    n = leg_explainer.evaluations_per_image
    # warm up: compile the model call and the LP machinery
    bare_model_seconds(classifier, image, args.batch_size * 2, args.batch_size)
    tv_explainer.explain_path(image, LAMBDAS, seed=0)

    bare, t_leg, t_tv = [], [], []
    for r in range(args.repeats):  # interleaved so drifts in machine load hit all three
        bare.append(bare_model_seconds(classifier, image, n, args.batch_size))
        t0 = time.perf_counter()
        leg_explainer.explain(image, seed=r)
        t_leg.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tv_explainer.explain_path(image, LAMBDAS, seed=r)
        t_tv.append(time.perf_counter() - t0)
    b, lg, tv = (statistics.median(x) for x in (bare, t_leg, t_tv))
    print(f"{args.model}, 224x224 photo, 28x28 grid, per-channel, n = {n} model evaluations, "
          f"batch size {args.batch_size}, median of {args.repeats}")
    print(f"{'':28s}{'seconds':>10s}{'ratio':>8s}{'target':>8s}")
    print(f"{'bare model evaluations':28s}{b:10.2f}{1.0:8.3f}")
    print(f"{'LEG':28s}{lg:10.2f}{lg / b:8.3f}{'1.05':>8s}  "
          f"{'MET' if lg / b <= 1.05 else 'NOT MET'}")
    print(f"{'LEG-TV, 4 lambdas':28s}{tv:10.2f}{tv / b:8.3f}{'1.20':>8s}  "
          f"{'MET' if tv / b <= 1.20 else 'NOT MET'}")
    print(f"  all runs (s): bare {np.round(bare, 2).tolist()}, LEG {np.round(t_leg, 2).tolist()}, "
          f"LEG-TV {np.round(t_tv, 2).tolist()}")

    estimation_share(classifier, image, args.batch_size)
    if args.skip_large:
        return
    q = 112 * 112
    print(f"\n112x112 grid (cell 2 px), q = {q}; a dense q x q float64 matrix would be "
          f"{q * q * 8 / 2**30:.2f} GiB")
    for name, explainer in [
        ("LEG, n=100", leg.LEG(classifier, cell_size=2, n_samples=100, mode="joint",
                               progress=False)),
        ("LEG-TV, n=100", leg.LEGTV(classifier, cell_size=2, n_samples=100, mode="joint",
                                    progress=False)),
        ("LEG, n=1000", leg.LEG(classifier, cell_size=2, n_samples=1000, mode="joint",
                                progress=False)),
    ]:
        leg.get_covariance.cache_clear()
        tracemalloc.start()
        t0 = time.perf_counter()
        res = explainer.explain(image, seed=0)
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{name:14s} {seconds:7.2f} s  peak traced memory {peak / 2**20:8.1f} MiB  "
              f"(model {res.timings['model']:.2f} s, estimate {res.timings['estimate']:.2f} s)")


if __name__ == "__main__":
    main()
