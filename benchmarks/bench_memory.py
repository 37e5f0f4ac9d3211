"""Peak memory (RSS) of LEG's exact estimand and of one LEG explanation on Lite0.

Each case runs in a fresh child process (``--child CASE``), so its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the high-water mark of the whole process:
interpreter, framework, model and the work) is its own. Cases, on one shipped photo, a
28x28 grid (8 px cells), joint mode, σ = 0.0025:

- ``floor``: the model loaded, one batch of scores (the model's own batch size) and one
  of ``--gradient-batch-size`` gradients (the estimand's gradient batch);
- ``estimand-N``: :func:`leg.leg_estimand` with ``N`` gradients (``--draws``, default 256
  and 1024: the peak must not grow with the number of draws);
- ``leg``: one LEG explanation with ``--samples`` model evaluations (default 1000).

Prints one line per case (peak RSS in MiB, seconds) and the estimand's peak against the
2 GiB target.

Usage: python benchmarks/bench_memory.py [--model lite0|lite0-torch] [--photo chelsea]
       [--draws 256,1024] [--samples 1000] [--batch-size 64] [--gradient-batch-size 16]
       [--model-batch-size N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGET_MIB = 2048


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def child(case: str, args) -> dict:
    import numpy as np

    import leg
    from leg.sampling import DEFAULT_SIGMA
    from leg.zoo import load_model
    from leg.zoo.photos import load_photo

    model = load_model(args.model, device="cpu" if args.model.endswith("-torch") else None)
    if args.model_batch_size:
        model.batch_size = args.model_batch_size
    image = load_photo(args.photo)
    grid = leg.Grid.from_cell_size(*image.shape[:2], 8)
    target = int(np.argmax(model(image[None])[0]))
    loaded = peak_rss_mib()
    start = time.perf_counter()
    if case == "floor":
        model(np.repeat(image[None], model.batch_size, axis=0))
        model.gradient(np.repeat(image[None], args.gradient_batch_size, axis=0), target)
    elif case.startswith("estimand-"):
        truth = leg.leg_estimand(model, image, grid, target, sigma=DEFAULT_SIGMA,
                                 mode="joint", n_draws=int(case.partition("-")[2]),
                                 batch_size=args.batch_size,
                                 gradient_batch_size=args.gradient_batch_size, seed=0)
        assert np.all(np.isfinite(truth.channel_maps))
    elif case == "leg":
        result = leg.LEG(model, grid=grid.shape, mode="joint", n_samples=args.samples,
                         batch_size=args.batch_size, progress=False).explain(image, seed=0)
        assert np.all(np.isfinite(result.saliency))
    else:
        raise SystemExit(f"unknown case {case!r}")
    return {"case": case, "peak_mib": peak_rss_mib(), "loaded_mib": loaded,
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite0")
    parser.add_argument("--photo", default="chelsea")
    parser.add_argument("--draws", default="256,1024",
                        help="comma list of estimand draws (multiples of 4)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64,
                        help="batch_size of leg_estimand and LEG (default 64)")
    parser.add_argument("--gradient-batch-size", type=int, default=16,
                        help="gradient_batch_size of leg_estimand (default 16)")
    parser.add_argument("--model-batch-size", type=int, default=0,
                        help="the classifier's own batch size (default: the model's; Lite0 32)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    cases = ["floor", *(f"estimand-{int(n)}" for n in args.draws.split(",")), "leg"]
    print(f"Peak RSS, {args.model} on {args.photo}, 28x28 grid, joint, batch "
          f"{args.batch_size}, gradient batch {args.gradient_batch_size} (model batch "
          f"{args.model_batch_size or 'its own'}); one child "
          f"process per case (load average {os.getloadavg()[0]:.1f} at start)")
    results = {}
    for case in cases:
        out = subprocess.run(
            [sys.executable, __file__, "--child", case, "--model", args.model, "--photo",
             args.photo, "--samples", str(args.samples), "--batch-size",
             str(args.batch_size), "--model-batch-size", str(args.model_batch_size),
             "--gradient-batch-size", str(args.gradient_batch_size)],
            capture_output=True, text=True, check=False)
        if out.returncode:
            print(f"{case}: failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results[case] = r
        what = (f"{args.samples} model evaluations" if case == "leg"
                else f"{case.partition('-')[2]} gradients" if case != "floor"
                else "one batch of scores, one of gradients")
        print(f"  {case:14s} peak {r['peak_mib']:7.0f} MiB (model loaded: "
              f"{r['loaded_mib']:.0f} MiB)  {r['seconds']:7.1f} s  [{what}]")
    estimands = [r["peak_mib"] for c, r in results.items() if c.startswith("estimand-")]
    if estimands:
        worst = max(estimands)
        print(f"Estimand peak {worst:.0f} MiB: {'within' if worst < TARGET_MIB else 'OVER'} "
              f"the {TARGET_MIB} MiB target; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
