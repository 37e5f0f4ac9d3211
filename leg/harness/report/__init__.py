"""The run report: tables, sections and figures, written atomically into ``<dir>/<run-id>/``.

A :class:`Report` collects what the suites produce and :meth:`Report.write` lays it out::

    reports/<run-id>/run.json      configuration, package versions, seeds, timings, tests
    reports/<run-id>/<table>.csv   one CSV per table (e.g. sanity.csv, tests.csv,
                                   verdicts.csv, leaderboards.csv)
    reports/<run-id>/summary.md    the first screen (verdict matrix, leaderboards, one line
                                   of run parameters), then the sections in order
    reports/<run-id>/index.html    the same, self-contained (figures embedded as base64 PNG
                                   and linked to their files), sections folded
    reports/<run-id>/figures/*.png
    reports/<run-id>/maps-<suite>.npz   maps kept for a later version's drift (the sanity
                                   suite's original maps)
    reports/latest                 symlink to the newest run (a text file with its path
                                   where symlinks are not available)

Suites add content with :meth:`Report.add_table`, :meth:`Report.add_section`,
:meth:`Report.add_figure` and :meth:`Report.set_info`, and the first screen's data with
:meth:`Report.add_verdicts` and :meth:`Report.add_leaderboards`
(:mod:`leg.harness.checks.verdicts`, rendered by :mod:`leg.harness.report.overview`). Every file is
written to a temporary file in its folder and moved into place with ``os.replace``, so a
failure while writing leaves the previous version or nothing — never a partial file. The
conftest writes the report in ``pytest_sessionfinish``, so it exists even when tests fail.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from leg._files import write_bytes, write_text
from leg.harness.checks.verdicts import Leaderboard, Verdict, leaderboard_rows, verdict_rows
from leg.harness.report import overview

__all__ = ["Report", "csv_text", "html_table", "markdown_table", "page", "prose_html",
           "update_latest"]

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
        write_text(latest, str(run_dir.resolve()) + "\n")
    return latest


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def csv_text(rows: list[dict], columns: list[str]) -> str:
    """``rows`` as CSV text with ``columns`` (floats to 6 significant digits)."""
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
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            f"</table></div>{more}")


@dataclass
class _Section:
    title: str
    markdown: str
    html: str | None
    order: int
    figures: list[str] = field(default_factory=list)
    tables: list[tuple[str, int | None]] = field(default_factory=list)
    open: bool = False


def prose_html(text: str) -> str:
    """Plain text with Markdown's inline marks as wrapping HTML: paragraphs at blank lines,
    ``code``, **bold** and *emphasis* (everything else escaped)."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        h = html.escape(para)
        h = re.sub(r"`([^`]+)`", r"<code>\1</code>", h)
        h = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", h)
        h = re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])", r"<em>\1</em>", h)
        out.append(f"<p>{h}</p>")
    return "".join(out) if text.strip() else ""


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
        self.verdicts: list[Verdict] = []
        self.leaderboards: list[Leaderboard] = []
        #: One line shown under the run line (e.g. the comparison with a baseline) and its
        #: link target, relative to the run folder.
        self.notice: tuple[str, str | None] | None = None
        #: How a run that Ctrl-C (a ``KeyboardInterrupt``) stopped ended, or ``None``: the
        #: title and the first line then say "INTERRUPTED".
        self.interrupted: str | None = None
        #: Lines shown under the notice (what differs from the baseline's machine, ...).
        self.warnings: list[str] = []
        #: Other files of the run folder (``name -> bytes``, e.g. ``maps-sanity.npz``).
        self.files: dict[str, bytes] = {}
        #: Why a run that pytest stopped early (``-x``, ``--maxfail``, ``pytest.exit``)
        #: did not finish, or ``None``: the title and the first line say "STOPPED EARLY".
        self.stopped: str | None = None

    @property
    def unfinished(self) -> str | None:
        """``" (INTERRUPTED)"`` or ``" (STOPPED EARLY)"`` for the title of a run that did
        not finish, ``None`` for one that did."""
        return (" (INTERRUPTED)" if self.interrupted
                else " (STOPPED EARLY)" if self.stopped else None)

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
                    order: int = 50, figures=(), tables=(), open: bool = False) -> None:
        """A section of summary.md / index.html (folded there unless ``open``).
        ``html_text`` defaults to the Markdown as wrapping paragraphs (:func:`prose_html`);
        ``figures``: names added with :meth:`add_figure` shown below it; ``tables``:
        ``(name, row limit)`` pairs rendered below it."""
        self.sections.append(_Section(title, markdown, html_text, order, list(figures),
                                      [tuple(t) if isinstance(t, tuple | list) else (t, None)
                                       for t in tables], open))

    def add_verdicts(self, verdicts: list[Verdict]) -> None:
        """Cells of the verdict matrix (first screen; ``verdicts.csv``)."""
        self.verdicts.extend(verdicts)

    def add_leaderboards(self, boards: list[Leaderboard]) -> None:
        """Leaderboards of the first screen (``leaderboards.csv``)."""
        self.leaderboards.extend(boards)

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

    def add_file(self, name: str, data: bytes) -> None:
        """A file of the run folder, written as is (a plain name: no folders)."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"A report file needs a plain name; got {name!r}.")
        self.files[name] = bytes(data)

    def record_test(self, nodeid: str, outcome: str, duration: float, message: str = "") -> None:
        self.tests.append({"test": nodeid, "outcome": outcome, "seconds": round(duration, 3),
                           "message": message[:500]})

    # ------------------------------------------------------------------ output
    def run_line(self, finished: _dt.datetime | None = None) -> str:
        """The run in one line: profile, test outcomes, duration, models, seed, versions."""
        finished = finished or _dt.datetime.now()
        counts: dict[str, int] = {}
        for t in self.tests:
            counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
        tests = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no tests recorded"
        minutes, secs = divmod(round((finished - self.started).total_seconds()), 60)
        conf = self.info.get("configuration") or {}
        models = ", ".join(m.get("spec", "?") for m in conf.get("models", []))
        versions = self.info.get("versions") or {}
        shown = ", ".join(f"{k} {versions[k]}" for k in (
            "leg", "tensorflow", "tensorflow-cpu", "keras", "numpy", "scipy", "python")
            if k in versions)
        parts = [f"INTERRUPTED: {self.interrupted}" if self.interrupted else "",
                 f"STOPPED EARLY: {self.stopped}" if self.stopped else "",
                 f"profile {self.info.get('profile', '?')}", f"tests: {tests}",
                 f"{minutes} min {secs:02d} s", f"models {models}" if models else "",
                 f"seed {conf['seed']}" if "seed" in conf else "", shown,
                 f"started {self.started:%Y-%m-%d %H:%M}"]
        return " · ".join(p for p in parts if p)

    def _failed_tests(self) -> list[dict]:
        return [t for t in self.tests if t["outcome"] in ("failed", "error")]

    def _summary_md(self, finished: _dt.datetime) -> str:
        title = f"# leg evaluation report — {self.run_id}{self.unfinished or ''}"
        out = [title, "", self.run_line(finished), ""]
        if self.notice:
            text, link = self.notice
            out += [f"**{text}**" + (f" ([{link}]({link}))" if link else ""), ""]
        if self.warnings:
            out += [f"- ⚠ {w}" for w in self.warnings] + [""]
        out += ["## Verdicts", ""]
        if self.verdicts:
            out += [overview.guide_markdown(), ""]
        out += [overview.matrix_markdown(self.verdicts), ""]
        if self.verdicts:
            out += ["### The columns", "", overview.columns_markdown(self.verdicts), ""]
        if self.leaderboards:
            out += ["## Leaderboards", "", overview.leaderboards_markdown(self.leaderboards),
                    ""]
        for s in sorted(self.sections, key=lambda s: s.order):
            out += [f"## {s.title}", "", s.markdown, ""]
            for name, limit in s.tables:
                if name in self.tables:
                    rows, cols, _ = self.tables[name]
                    out += [markdown_table(rows, cols, limit=limit), ""]
            out += [f"![{self.figures[f][1]}](figures/{f}.png)" for f in s.figures
                    if f in self.figures]
            out.append("")
        failed = self._failed_tests()
        if failed:
            out += ["## Failed tests", "", markdown_table(failed, ["test", "message"]), ""]
        return "\n".join(out)

    def _figure_html(self, name: str) -> str:
        png, cap = self.figures[name]
        b64 = base64.b64encode(png).decode("ascii")
        cap = cap or name
        return (f'<figure><a href="figures/{html.escape(name)}.png"><img src="data:image/png;'
                f'base64,{b64}" alt="{html.escape(cap)}"/></a><figcaption>{html.escape(cap)} '
                f'(<a href="figures/{html.escape(name)}.png">full size</a>)</figcaption></figure>')

    def _index_html(self, finished: _dt.datetime) -> str:
        head = [f"<h1>leg evaluation report — {html.escape(self.run_id)}"
                f"{self.unfinished or ''}</h1>",
                f'<p class="runline">{html.escape(self.run_line(finished))}</p>']
        if self.notice:
            text, link = self.notice
            head.append(f'<p class="notice">{html.escape(text)}'
                        + (f' — <a href="{html.escape(link)}">{html.escape(link)}</a>'
                           if link else "") + "</p>")
        if self.warnings:
            head.append('<ul class="warnings">' + "".join(
                f"<li>{html.escape(w)}</li>" for w in self.warnings) + "</ul>")
        first = ['<section id="verdicts"><h2>Verdicts</h2>', overview.legend_html()]
        if self.verdicts:
            first.append(overview.guide_html())
        first.append(overview.matrix_html(self.verdicts))
        if self.verdicts:
            first += ['<h3 id="the-columns">The columns</h3>',
                      overview.columns_html(self.verdicts)]
        first.append("</section>")
        if self.leaderboards:
            first += ['<section id="leaderboards"><h2>Leaderboards</h2>',
                      overview.leaderboards_html(self.leaderboards), "</section>"]
        details = ['<section id="details"><h2>Details</h2>']
        for s in sorted(self.sections, key=lambda s: s.order):
            body = [s.html if s.html is not None else prose_html(s.markdown)]
            for name, limit in s.tables:
                if name in self.tables:
                    rows, cols, _ = self.tables[name]
                    body.append(html_table(rows, cols, limit=limit))
            body += [self._figure_html(f) for f in s.figures if f in self.figures]
            details.append(_details(s.title, "".join(body), s.open))
        failed = self._failed_tests()
        if failed:
            details.append(_details(f"Failed tests ({len(failed)})",
                                    html_table(failed, ["test", "message"]), True))
        if self.tests:
            details.append(_details(f"Tests ({len(self.tests)})", html_table(
                self.tests, ["test", "outcome", "seconds", "message"]), False))
        details.append("</section>")
        return page(self.run_id, "".join(head + first + details))

    def as_run(self):
        """This run as :func:`leg.harness.report.baseline.load_baseline` would read it back
        (``run.json``'s keys and the tables, the verdicts included), for comparisons made
        before it is written."""
        from leg.harness.report.baseline import Baseline

        tables = {name: rows for name, (rows, _, _) in self.tables.items()}
        tables["verdicts"] = verdict_rows(self.verdicts)
        return Baseline(self.run_dir, {**self.info, "run_id": self.run_id,
                                       "started": self.started.isoformat()}, tables,
                        dict(self.files))

    def write(self) -> Path:
        """Write everything into ``root/<run_id>/`` (atomically, file by file), update
        ``root/latest`` and return the run folder."""
        d = self.run_dir
        d.mkdir(parents=True, exist_ok=True)
        finished = _dt.datetime.now()
        tables = dict(self.tables)
        if self.verdicts:
            rows = verdict_rows(self.verdicts)
            tables["verdicts"] = (rows, list(rows[0]), None)
        if self.leaderboards:
            rows = leaderboard_rows(self.leaderboards)
            tables["leaderboards"] = (rows, list(rows[0]), None)
        for name, (rows, cols, _) in tables.items():
            write_text(d / f"{name}.csv", csv_text(rows, cols))
        write_text(d / "tests.csv",
                          csv_text(self.tests, ["test", "outcome", "seconds", "message"]))
        for name, (png, _) in self.figures.items():
            write_bytes(d / "figures" / f"{name}.png", png)
        for name, data in self.files.items():
            write_bytes(d / name, data)
        write_text(d / "summary.md", self._summary_md(finished))
        write_text(d / "index.html", self._index_html(finished))
        info = {**self.info, "run_id": self.run_id, "started": self.started.isoformat(),
                "finished": finished.isoformat(), "tables": sorted(tables),
                "tests": self.tests}
        write_text(d / "run.json", json.dumps(info, indent=2, sort_keys=True, default=str))
        update_latest(self.root, d)
        return d


def _details(title: str, body: str, open_: bool) -> str:
    return (f"<details{' open' if open_ else ''}><summary>{html.escape(title)}</summary>"
            f"{body}</details>")


#: The page style: readable on a laptop, tables scroll inside their box (never the page),
#: folded sections open for printing.
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;
max-width:1240px;margin:0 auto;padding:0 16px 32px}
h1{font-size:19px;margin:10px 0 2px}h2{font-size:16px;margin:14px 0 6px}
h3{font-size:13px;margin:6px 0 4px}p{max-width:110ch;overflow-wrap:anywhere}
.runline{color:#57606a;font-size:12.5px;margin:0 0 6px}
.notice{background:#fff8c5;border:1px solid #d4a72c;padding:4px 8px;margin:4px 0}
.warnings{color:#7d4e00;font-size:12.5px;margin:2px 0 6px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:12px;margin:4px 0}
td,th{border:1px solid #d0d7de;padding:2px 6px;text-align:left;vertical-align:top}
td{overflow-wrap:break-word;max-width:42em}th{background:#f6f8fa}
.matrix td{text-align:center;white-space:nowrap;font-variant-numeric:tabular-nums;
padding:2px 5px}
.matrix th.model{text-align:center;max-width:14em;overflow-wrap:anywhere}
.matrix thead th{font-weight:600;font-size:11.5px}
.matrix tbody th{white-space:nowrap}.matrix small{color:#57606a;font-weight:400}
.v-pass{background:#d1f0d9}.v-fail{background:#ffcfc9}.v-uninformative{background:#fff0b3}
.v-degenerate{background:#e6d5fb}.v-expected-failure{background:#dbe9f6}
.v-reference{background:#fff}.v-not-significant{background:#eef1f4}.v-undecided{background:#fdf3d7}
.v-not-run{background:#f6f8fa;color:#8c959f}
.asserted{font-weight:700}.legend{font-size:12px;margin:2px 0 4px}
.guide{font-size:12px;color:#1f2328;columns:2 34em;column-gap:24px;margin:0 0 4px}
.guide p{margin:0 0 3px;break-inside:avoid}
.columns{width:100%}.columns td,.columns th{font-size:11.5px}.columns th{white-space:nowrap}
.columns td:nth-child(2){max-width:13em}.columns td:nth-child(4){max-width:17em}
.legend span{display:inline-block;padding:0 6px;margin:0 3px 2px 0;border:1px solid #d0d7de}
.legend .asserted-key{font-weight:700;border:none;padding:0}
.marked{font-weight:700;background:#fff3d6}
.boards{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:flex-start}
.board{max-width:100%}.rank td{white-space:nowrap}.rank small{color:#57606a}
.num{font-variant-numeric:tabular-nums}
details{border-top:1px solid #d0d7de;padding:3px 0}
summary{cursor:pointer;font-weight:600;padding:2px 0}
figure{margin:8px 0}figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{font-size:12px;color:#57606a}
code{font-size:12px;background:#f6f8fa;padding:0 3px;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere}
@media print{body{max-width:none;font-size:11px}.scroll{overflow:visible}
details::details-content{content-visibility:visible;display:block}
summary{list-style:none}td{max-width:none}a{color:inherit}}
"""

#: Opens every folded section before printing (for browsers without ::details-content).
_PRINT_SCRIPT = ("<script>addEventListener('beforeprint',()=>document.querySelectorAll("
                 "'details').forEach(d=>d.open=true))</script>")


def page(title: str, body: str) -> str:
    """A complete HTML page in the report's style."""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style>{_PRINT_SCRIPT}</head><body>{body}</body></html>")


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
