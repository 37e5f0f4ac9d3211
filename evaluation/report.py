"""The run report: tables, sections and figures, written atomically into ``<dir>/<run-id>/``.

A :class:`Report` collects what the suites produce and :meth:`Report.write` lays it out::

    reports/<run-id>/run.json      configuration, package versions, seeds, timings, tests
    reports/<run-id>/<table>.csv   one CSV per table (e.g. sanity.csv, tests.csv)
    reports/<run-id>/summary.md    the human summary (sections in order)
    reports/<run-id>/index.html    the same, self-contained (figures embedded as base64 PNG)
    reports/<run-id>/figures/*.png
    reports/latest                 symlink to the newest run (a text file with its path
                                   where symlinks are not available)

Suites add content with :meth:`Report.add_table`, :meth:`Report.add_section`,
:meth:`Report.add_figure` and :meth:`Report.set_info`; the perturbation suites use the same
calls. Every file is written to a temporary file in its folder and moved into place with
``os.replace``, so a failure while writing leaves the previous version or nothing — never
a partial file. The conftest writes the report in ``pytest_sessionfinish``, so it exists
even when tests fail.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from leg._files import write_bytes, write_text

__all__ = ["Report", "write_atomic", "write_text_atomic", "update_latest"]

def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :mod:`leg._files`)."""
    return write_bytes(path, data)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_text(path, text)


def update_latest(root: Path, run_dir: Path) -> Path:
    """Point ``root/latest`` at ``run_dir``: a relative symlink, else a text file."""
    latest = root / "latest"
    tmp = root / f".latest.{os.getpid()}.tmp"
    try:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        os.symlink(run_dir.name, tmp, target_is_directory=True)
        if latest.is_dir() and not latest.is_symlink():
            raise OSError("reports/latest is a real folder")
        os.replace(tmp, latest)
    except OSError:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        if latest.is_symlink():
            latest.unlink()
        write_text_atomic(latest, str(run_dir.resolve()) + "\n")
    return latest


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _csv_text(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: _cell(r.get(c)) for c in columns})
    return buf.getvalue()


def markdown_table(rows: list[dict], columns: list[str], *, limit: int | None = None) -> str:
    shown = rows if limit is None else rows[:limit]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in shown]
    if limit is not None and len(rows) > limit:
        lines.append(f"\n({len(rows) - limit} more rows in the CSV)")
    return "\n".join(lines)


def html_table(rows: list[dict], columns: list[str], *, limit: int | None = None) -> str:
    shown = rows if limit is None else rows[:limit]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in shown)
    more = (f"<p>({len(rows) - limit} more rows in the CSV)</p>"
            if limit is not None and len(rows) > limit else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


@dataclass
class _Section:
    title: str
    markdown: str
    html: str | None
    order: int
    figures: list[str] = field(default_factory=list)
    tables: list[tuple[str, int | None]] = field(default_factory=list)


class Report:
    """Collects a run's tables, sections, figures and metadata; :meth:`write` lays them out.

    Parameters
    ----------
    root : path
        The report folder (``--leg-report-dir``); the run goes to ``root/<run_id>``.
    run_id : str, optional
        Default: ``YYYYmmdd-HHMMSS-<profile>`` (profile from ``info["profile"]``) plus the
        process id.
    """

    def __init__(self, root: str | os.PathLike, run_id: str | None = None, *, info=None):
        self.root = Path(root)
        self.started = _dt.datetime.now()
        self.info: dict = dict(info or {})
        self.run_id = run_id or (f"{self.started:%Y%m%d-%H%M%S}-"
                                 f"{self.info.get('profile', 'run')}-{os.getpid()}")
        self.tables: dict[str, tuple[list[dict], list[str], str | None]] = {}
        self.sections: list[_Section] = []
        self.figures: dict[str, tuple[bytes, str]] = {}
        self.tests: list[dict] = []

    @property
    def run_dir(self) -> Path:
        return self.root / self.run_id

    # ------------------------------------------------------------------ content
    def set_info(self, key: str, value) -> None:
        """Add ``key: value`` to ``run.json`` (JSON-ready values)."""
        self.info[key] = value

    def add_table(self, name: str, rows: list[dict], *, columns: list[str] | None = None,
                  title: str | None = None) -> None:
        """A table written as ``<name>.csv`` (columns default to the keys, in order seen)."""
        if columns is None:
            columns = []
            for r in rows:
                columns += [k for k in r if k not in columns]
        self.tables[name] = (list(rows), list(columns), title)

    def add_section(self, title: str, markdown: str, *, html_text: str | None = None,
                    order: int = 50, figures=(), tables=()) -> None:
        """A section of summary.md / index.html. ``html_text`` defaults to the Markdown in a
        ``<pre>``; ``figures``: names added with :meth:`add_figure` shown below it;
        ``tables``: ``(name, row limit)`` pairs rendered below it."""
        self.sections.append(_Section(title, markdown, html_text, order, list(figures),
                                      [tuple(t) if isinstance(t, tuple | list) else (t, None)
                                       for t in tables]))

    def add_figure(self, name: str, figure, caption: str = "") -> None:
        """A matplotlib figure (saved as PNG and closed) or PNG bytes, as ``figures/<name>.png``."""
        if isinstance(figure, bytes | bytearray):
            png = bytes(figure)
        else:
            import matplotlib.pyplot as plt

            buf = io.BytesIO()
            figure.savefig(buf, format="png", dpi=90, bbox_inches="tight")
            plt.close(figure)
            png = buf.getvalue()
        self.figures[name] = (png, caption)

    def record_test(self, nodeid: str, outcome: str, duration: float, message: str = "") -> None:
        self.tests.append({"test": nodeid, "outcome": outcome, "seconds": round(duration, 3),
                           "message": message[:500]})

    # ------------------------------------------------------------------ output
    def _summary_md(self) -> str:
        counts = {}
        for t in self.tests:
            counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
        out = [f"# leg evaluation report — {self.run_id}", "",
               f"Profile: `{self.info.get('profile', '?')}`; tests: "
               + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none"), ""]
        for s in sorted(self.sections, key=lambda s: s.order):
            out += [f"## {s.title}", "", s.markdown, ""]
            for name, limit in s.tables:
                if name in self.tables:
                    rows, cols, _ = self.tables[name]
                    out += [markdown_table(rows, cols, limit=limit), ""]
            out += [f"![{self.figures[f][1]}](figures/{f}.png)" for f in s.figures
                    if f in self.figures]
            out.append("")
        failed = [t for t in self.tests if t["outcome"] == "failed"]
        if failed:
            out += ["## Failed tests", "", markdown_table(failed, ["test", "message"]), ""]
        return "\n".join(out)

    def _index_html(self) -> str:
        parts = [f"<h1>leg evaluation report — {html.escape(self.run_id)}</h1>",
                 f"<p>Profile: <code>{html.escape(str(self.info.get('profile', '?')))}</code>"
                 "</p>"]
        for s in sorted(self.sections, key=lambda s: s.order):
            parts.append(f"<h2>{html.escape(s.title)}</h2>")
            parts.append(s.html if s.html is not None
                         else f"<pre>{html.escape(s.markdown)}</pre>")
            for name, limit in s.tables:
                if name in self.tables:
                    rows, cols, _ = self.tables[name]
                    parts.append(html_table(rows, cols, limit=limit))
            for f in s.figures:
                if f in self.figures:
                    png, cap = self.figures[f]
                    b64 = base64.b64encode(png).decode("ascii")
                    parts.append(f'<figure><img src="data:image/png;base64,{b64}" '
                                 f'alt="{html.escape(cap)}"/><figcaption>{html.escape(cap)}'
                                 "</figcaption></figure>")
        if self.tests:
            parts.append("<h2>Tests</h2>")
            parts.append(html_table(self.tests, ["test", "outcome", "seconds", "message"]))
        style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}"
                 "table{border-collapse:collapse;font-size:12px}"
                 "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}")
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{self.run_id}"
                f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")

    def write(self) -> Path:
        """Write everything into ``root/<run_id>/`` (atomically, file by file), update
        ``root/latest`` and return the run folder."""
        d = self.run_dir
        d.mkdir(parents=True, exist_ok=True)
        for name, (rows, cols, _) in self.tables.items():
            write_text_atomic(d / f"{name}.csv", _csv_text(rows, cols))
        write_text_atomic(d / "tests.csv",
                          _csv_text(self.tests, ["test", "outcome", "seconds", "message"]))
        for name, (png, _) in self.figures.items():
            write_atomic(d / "figures" / f"{name}.png", png)
        write_text_atomic(d / "summary.md", self._summary_md())
        write_text_atomic(d / "index.html", self._index_html())
        info = {**self.info, "run_id": self.run_id, "started": self.started.isoformat(),
                "finished": _dt.datetime.now().isoformat(), "tables": sorted(self.tables),
                "tests": self.tests}
        write_text_atomic(d / "run.json", json.dumps(info, indent=2, sort_keys=True, default=str))
        update_latest(self.root, d)
        return d


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the numbers."""
    from importlib import metadata

    out = {}
    for name in ("leg", "numpy", "scipy", "scikit-image", "matplotlib", "tensorflow",
                 "tensorflow-cpu", "keras", "highspy", "pytest"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    import platform

    out["python"] = platform.python_version()
    return out
