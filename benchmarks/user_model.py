"""Does the harness decide on a user's own model? The issue's scenario, end to end.

    python benchmarks/user_model.py [--images 12] [--keep DIR]

A team's small PyTorch classifier (``benchmarks/user_digits.py``, handed over as
``user_digits:build``) and a folder of 12 of its images, run as a user would: ``leg evaluate
-m "sanity or perturbation" --leg-profile smoke --leg-model user_digits:build --leg-images
DIR --leg-methods leg,gradient,edge`` from a project folder. Checks that LEG and the
gradient get decided verdicts (pass or fail) on cascading randomization and key size and
that the edge control fails cascading randomization; prints the verdicts and the wall time;
exits with 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--keep", default=None, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    work = Path(args.keep or tempfile.mkdtemp(prefix="leg-user-model-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "user_digits.py", work / "user_digits.py")
    sys.path.insert(0, str(work))
    import numpy as np
    import user_digits
    from PIL import Image

    folder = work / "images"
    folder.mkdir(exist_ok=True)
    x, y = user_digits.digits("test")
    for i in range(args.images):
        Image.fromarray((255 * x[i, ..., 0]).astype(np.uint8)).save(folder / f"d{i:02d}.png")
    env = {**os.environ, "MPLBACKEND": "Agg", "USER_DIGITS_WEIGHTS": str(work / "weights.pt")}
    cmd = [sys.executable, "-m", "leg", "evaluate", "-m", "sanity or perturbation",
           "--leg-profile", "smoke", "--leg-model", "user_digits:build", "--leg-images",
           str(folder), "--leg-methods", "leg,gradient,edge", "-q", "--leg-report-dir",
           "reports"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    print("\n".join(done.stdout.splitlines()[-40:]))
    with open(work / "reports" / "latest" / "verdicts.csv", newline="") as fh:
        cells = {(r["method"], r["check"]): r for r in csv.DictReader(fh)}
    problems = []
    for method in ("leg", "gradient"):
        for check in ("cascading", "key-size"):
            v = cells.get((method, check), {}).get("verdict", "missing")
            print(f"{method} / {check}: {v} (n = {cells.get((method, check), {}).get('n_images')})")
            if v not in ("pass", "fail"):
                problems.append(f"{method} / {check} is {v}, not decided")
    edge = cells.get(("edge", "cascading"), {}).get("verdict", "missing")
    print(f"edge / cascading: {edge}")
    if edge != "fail":
        problems.append(f"the edge control's cascading verdict is {edge}, not fail")
    print(f"wall time {seconds:.0f} s (exit status {done.returncode})")
    for p in problems:
        print(f"user model: {p}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
