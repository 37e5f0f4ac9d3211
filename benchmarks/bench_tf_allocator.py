"""TensorFlow's CPU allocator: malloc (TensorFlow's default) against BFC (what the harness and
the CLI ask for, :mod:`leg._tf_allocator`), on a zoo Keras model, each in a fresh process.

Prints per image: the model call and the gradient (ms), the page faults and the system time
per model call, the ratio BFC / malloc, and whether the two give the same scores. The model
calls are timed first, as in a key-size scan. (glibc raises its mmap threshold after large
frees, so malloc's cost depends on what the process allocated before: the harness's own
numbers are in docs/performance.md.)

    python benchmarks/bench_tf_allocator.py                  # lite0, batches of 16
    python benchmarks/bench_tf_allocator.py --model digits --batch 256
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
import numpy as np
from leg.harness.engine.inputs import load_model_once
spec, batch, repeats, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
clf = load_model_once(spec)
shape = tuple(clf.input_shape)
x = np.random.default_rng(0).random((batch, *shape)).astype(np.float32)
scores = clf(x)  # warm-up (graph tracing, oneDNN primitives)
for _ in range(3):
    clf(x)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range(repeats):
    clf(x)
t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
clf.gradient(x, 0)  # warm-up (tracing the gradient), outside both timings
g0 = time.perf_counter()
for _ in range(max(1, repeats // 2)):
    clf.gradient(x, 0)
g1 = time.perf_counter()
n = repeats * batch
np.save(out, scores)
print(json.dumps({"call_ms": (t1 - t0) / n * 1e3,
                  "gradient_ms": (g1 - g0) / (max(1, repeats // 2) * batch) * 1e3,
                  "faults": (r1.ru_minflt - r0.ru_minflt) / n,
                  "sys_ms": (r1.ru_stime - r0.ru_stime) / n * 1e3}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite0", help="a zoo Keras model (default lite0)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()

    import numpy as np

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, value in (("malloc", "false"), ("bfc", "true")):
            env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": value,
                   "TF_CPP_MIN_LOG_LEVEL": "2"}
            out = os.path.join(tmp, f"{name}.npy")
            proc = subprocess.run([sys.executable, "-c", CHILD, args.model, str(args.batch),
                                   str(args.repeats), out], env=env, capture_output=True,
                                  text=True, check=True)
            runs[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[name]["scores"] = np.load(out)
    print(f"{args.model}, batches of {args.batch}, load {os.getloadavg()[0]:.1f}")
    print(f"{'allocator':10s} {'call ms/img':>12s} {'gradient ms/img':>16s} "
          f"{'faults/img':>11s} {'sys ms/img':>11s}")
    for name, r in runs.items():
        print(f"{name:10s} {r['call_ms']:12.2f} {r['gradient_ms']:16.2f} {r['faults']:11.0f} "
              f"{r['sys_ms']:11.2f}")
    m, b = runs["malloc"], runs["bfc"]
    print(f"bfc / malloc: model call {b['call_ms'] / m['call_ms']:.2f}x, gradient "
          f"{b['gradient_ms'] / m['gradient_ms']:.2f}x; same scores: "
          f"{bool(np.array_equal(m['scores'], b['scores']))}")


if __name__ == "__main__":
    main()
