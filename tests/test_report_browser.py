"""The report pages in a real browser: headless Chromium at 1280 x 800 takes screenshots
and measures the layout (nothing wider than the viewport, folded sections opened too; the
verdict matrix within the first screen). Skipped, saying why, where Chromium cannot run
(``apt-get install chromium`` on Debian; ``.ci/run`` installs it where it can)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from leg.harness.report.compare import compare_runs, load_run, write_comparison
from tests.reports import synthetic_report
from tests.test_report_pages import _degraded_pair

WIDTH, HEIGHT = 1280, 800
#: Injected into a copy of the page: measures the layout and writes it into the DOM, where
#: --dump-dom reads it. "#open" in the URL opens every folded section first.
MEASURE = """<script>
(() => {
  if (location.hash === '#open') document.querySelectorAll('details').forEach(d => d.open = true);
  const vw = window.innerWidth;
  const box = e => { const r = e.getBoundingClientRect();
                     return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const wide = [...document.querySelectorAll('body *')].filter(e =>
      e.getBoundingClientRect().right > vw + 0.5
      && !(e.parentElement && e.parentElement.closest('.scroll')))
    .map(e => e.tagName + '.' + e.className).slice(0, 10);
  const m = document.getElementById('verdict-matrix');
  const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw,
               innerHeight: window.innerHeight, wide, matrix: m && box(m),
               matrixScroll: m && m.parentElement.scrollWidth - m.parentElement.clientWidth};
  const pre = document.createElement('pre');
  pre.id = 'measure'; pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>"""


def _chromium() -> str:
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)
    if exe is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium); the "
                    "layout of the report pages is not checked in a browser")
    return exe


def _run(exe: str, *args: str) -> str:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={WIDTH},{HEIGHT}", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")})
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"Chromium could not run here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"Chromium could not run here (exit {done.returncode}): "
                    f"{done.stderr.strip()[-300:]}")
    return done.stdout


def _measure(exe: str, page: Path, *, open_all: bool = False) -> dict:
    probe = page.with_name(f".measure-{page.name}")
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = _run(exe, "--virtual-time-budget=3000", "--dump-dom",
               probe.as_uri() + ("#open" if open_all else ""))
    probe.unlink()
    found = re.search(r'<pre id="measure">([^<]*)</pre>', dom)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1))


def _screenshot(exe: str, page: Path, out: Path) -> None:
    _run(exe, f"--screenshot={out}", page.as_uri())
    assert out.is_file() and out.stat().st_size > 1000


def _fits(m: dict) -> None:
    assert m["innerWidth"] == WIDTH
    assert m["scrollWidth"] <= m["innerWidth"], f"the page scrolls sideways: {m}"
    assert not m["wide"], f"wider than the viewport: {m['wide']}"


def test_pages_fit_a_laptop_screen_and_the_matrix_is_on_the_first(tmp_path):
    exe = _chromium()
    index = synthetic_report(tmp_path, "run-a").write() / "index.html"
    a, b = _degraded_pair(tmp_path / "pair")
    comparison = write_comparison(compare_runs(load_run(a), load_run(b)), tmp_path / "cmp")
    for page in (index, comparison):
        _screenshot(exe, page, tmp_path / f"{page.parent.name}.png")
    folded = _measure(exe, index)
    _fits(folded)
    matrix = folded["matrix"]
    assert matrix is not None, "no verdict matrix on the page"
    assert 0 <= matrix["top"] and matrix["bottom"] <= folded["innerHeight"], (
        f"the verdict matrix is not within the first screen: {matrix}")
    assert matrix["right"] <= WIDTH and folded["matrixScroll"] == 0, (
        "the matrix needs a sideways scroll at 1280 px")
    _fits(_measure(exe, index, open_all=True))  # wide table, long prose and figure inside
    _fits(_measure(exe, comparison))


def test_the_docs_screenshot_script_photographs_a_run(tmp_path):
    """``docs/make_report_screenshot.py --run``: the first screen of a run, 1280 px wide."""
    import importlib.util
    import struct

    _chromium()
    path = Path(__file__).resolve().parents[1] / "docs" / "make_report_screenshot.py"
    spec = importlib.util.spec_from_file_location("make_report_screenshot", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    run = synthetic_report(tmp_path, "run-a").write()
    out = tmp_path / "shot.png"
    assert script.main(["--run", str(run), "--out", str(out), "--height", "700"]) == 0
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (1280, 700)
