"""Make the documentation's screenshot of a report's first screen from a real run.

Usage::

    python docs/make_report_screenshot.py                      # a fresh smoke run, then the shot
    python docs/make_report_screenshot.py --run reports/latest # the shot of a run you have
    python docs/make_report_screenshot.py --out shot.png --height 1400
    python docs/make_report_screenshot.py --report-dir reports # keep the fresh run

Without ``--run`` it runs ``leg evaluate --leg-profile smoke --leg-model digits`` (every
suite on the digits CNN and the synthetic ground-truth models: the verdict matrix has a
column of every family; the plan it prints says how long it takes) into a temporary folder
(``--report-dir`` to keep it), then photographs the run's ``index.html`` with headless
Chromium at 1280 px wide (``--height``: 900 by default, a laptop's first screen) into
``docs/report_first_screen.png``. Chromium: ``apt-get install -y chromium`` on Debian.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
#: The run photographed: small, and with a column of every family.
SMOKE = ["--leg-profile", "smoke", "--leg-model", "digits", "-q"]


def chromium() -> str:
    """The Chromium executable (``SystemExit`` naming the package when there is none)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("Chromium is not installed (Debian: apt-get install -y chromium).")


def smoke_run(folder: Path) -> Path:
    """Run the smoke evaluation into ``folder``; the run's folder (``SystemExit`` when the
    run wrote no report)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "leg", "evaluate", *SMOKE,
                           "--leg-report-dir", str(folder)], cwd=folder,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    print(f"leg evaluate {' '.join(SMOKE)}: exit {done.returncode}, "
          f"{time.perf_counter() - t0:.0f} s")
    run = (folder / "latest").resolve()
    if not (run / "index.html").is_file():
        raise SystemExit(f"The run wrote no report (exit {done.returncode}).")
    return run


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 900) -> None:
    """Photograph ``page`` at ``width`` x ``height`` with headless Chromium into ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={width},{height}", f"--screenshot={out.resolve()}",
           page.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")})
    if done.returncode != 0 or not out.is_file():
        raise SystemExit(f"Chromium failed (exit {done.returncode}): {done.stderr[-500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=None,
                        help="a run folder (reports/<run-id> or reports/latest); default: a "
                             "fresh smoke run")
    parser.add_argument("--report-dir", type=Path, default=None,
                        help="where the fresh run goes (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=DOCS / "report_first_screen.png")
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="leg-screenshot-") as tmp:
        if args.run is not None:
            run = args.run.resolve()
        else:
            folder = (args.report_dir or Path(tmp)).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            run = smoke_run(folder)
        screenshot(run / "index.html", args.out, height=args.height)
    print(f"Written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
