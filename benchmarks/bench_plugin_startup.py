"""What the installed harness plugin costs a pytest run that does not use it.

Runs an unrelated one-test suite in a temporary folder, alternately with the plugin (as every
pytest run of the environment loads it) and with ``-p no:leg`` (pytest then never imports
it: the same as leg not installed, but for reading leg's entry-point metadata), and prints
the median wall time of each and their difference. Also prints the import time of
``leg.harness.plugin`` alone and checks that the run imported no TensorFlow/torch/numpy
and wrote nothing.

    python benchmarks/bench_plugin_startup.py [--repeats 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = '''
import sys

def test_plain():
    assert not {"tensorflow", "torch", "numpy", "leg.harness.profiles"} & set(sys.modules)
'''


def _run(folder: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *extra], cwd=folder, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"the unrelated suite failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average) on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_plain.py").write_text(TEST)
        _run(folder), _run(folder, "-p", "no:leg")  # warm the OS caches
        with_plugin, without = [], []
        for _ in range(args.repeats):  # interleaved: drift in the load hits both alike
            with_plugin.append(_run(folder))
            without.append(_run(folder, "-p", "no:leg"))
        left = sorted(p.name for p in folder.iterdir() if p.name != "__pycache__")
    a, b = statistics.median(with_plugin), statistics.median(without)
    print(f"pytest run with the plugin:    {a * 1000:7.1f} ms (median of {args.repeats})")
    print(f"pytest run with -p no:leg:     {b * 1000:7.1f} ms")
    print(f"difference:                    {(a - b) * 1000:+7.1f} ms ({a / b:.3f}x)")
    print(f"files left in the folder:      {left} (expected: ['test_plain.py'])")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c",
                          "import pytest; import leg.harness.plugin"],
                         capture_output=True, text=True).stderr
    own = [line for line in out.splitlines() if line.rstrip().endswith("leg.harness.plugin")]
    if own:
        cumulative_us = int(own[-1].split("|")[1])
        print(f"import leg.harness.plugin:     {cumulative_us / 1000:7.1f} ms cumulative "
              "(with pytest imported first, as in a run)")


if __name__ == "__main__":
    main()
