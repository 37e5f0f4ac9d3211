"""Is the permuted-label digits twin the same in every training? Train it twice, compare.

Trains the digits CNN on permuted labels ``--runs`` times with
:func:`leg.zoo.digits.train_digits_cnn` (each training in its own deterministic child
process), prints for each run the weights' SHA-256, the epochs, the training accuracy on
its permuted labels, the test accuracy on the true labels and the seconds (training, and
the whole child process); then whether all runs are bit-identical, and which test digits
:func:`leg.zoo.digits.choose_test_digits` keeps under the true-label model and the twin
(the skipped, saturated ones with their probabilities). ``--in-process`` also trains once
the old way (in this process, this machine's threads and oneDNN) for the time comparison.

Usage: python benchmarks/digits_twin_determinism.py [--runs 2] [--seed 0] [--in-process]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> None:
    from leg.zoo.digits import choose_test_digits, load_digits_cnn, train_digits_cnn

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--in-process", action="store_true")
    args = p.parse_args(argv)
    hashes, twin = [], None
    for r in range(args.runs):
        t0 = time.perf_counter()
        model, m = train_digits_cnn("permuted", seed=args.seed)
        print(f"run {r}: sha256 {m['weights_sha256'][:16]} epochs {m['epochs']} train acc "
              f"{m['train_accuracy']:.4f} test acc {m['test_accuracy']:.4f} training "
              f"{m['seconds']:.1f} s, process {m['process_seconds']:.1f} s, call "
              f"{time.perf_counter() - t0:.1f} s (TensorFlow {m['tensorflow']})")
        hashes.append(m["weights_sha256"])
        twin = twin or model
    print(f"bit-identical over {args.runs} processes: {len(set(hashes)) == 1}")
    if args.in_process:
        model, m = train_digits_cnn("permuted", seed=args.seed, isolated=False)
        print(f"in-process (this machine's threads and oneDNN): sha256 "
              f"{m['weights_sha256'][:16]} epochs {m['epochs']} training {m['seconds']:.1f} s")
    chosen, degenerate = choose_test_digits({"digits": load_digits_cnn("true", seed=args.seed),
                                             "digits-permuted": twin}, 10, seed=args.seed)
    print("test digits:", ", ".join(f"{i} (test index {k})" for i, k, _ in chosen))
    for d in degenerate:
        print(f"degenerate: {d['image']} (test index {d['index']}) under {d['model']}: "
              f"top-1 probability 1 - {d['one_minus_top1']:.3g}")


if __name__ == "__main__":
    main()
