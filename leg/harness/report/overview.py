"""The first screen of a report, as HTML and as Markdown: the verdict matrix (methods x
checks, one column group per model) and the leaderboards (methods ranked on each
comparison, one rank table per group of comparisons). Built from
:class:`leg.harness.checks.verdicts.Verdict` and :class:`leg.harness.checks.verdicts.Leaderboard`
only."""

from __future__ import annotations

import html
import math

from leg.harness.checks.verdicts import VERDICTS, Leaderboard, Verdict
from leg.harness.engine.plan import plural

__all__ = ["columns", "columns_html", "columns_markdown", "fmt", "guide_html",
           "guide_markdown", "leaderboards_html", "leaderboards_markdown", "legend_html",
           "matrix_html", "matrix_markdown", "statistics_text"]


def fmt(v) -> str:
    """A number for a cell: 3 significant digits, ``n/a`` for None or NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.3g}"


def _check_order(verdicts: list[Verdict]) -> list[str]:
    """Every check of ``verdicts``: the suites' checks in their order, then any other (a
    stored run's check whose suite is not installed here)."""
    from leg.harness.engine.suite import checks

    known = list(checks())
    return known + list(dict.fromkeys(v.check for v in verdicts if v.check not in known))


def _header(check: str) -> tuple[str, str]:
    """``(column header, rule)`` of ``check``."""
    from leg.harness.engine.suite import check as check_record

    c = check_record(check)
    return (c.header, c.rule) if c else (check, "")


def _marked() -> tuple[str, ...]:
    """The methods the matrix and leaderboards list first and mark (LEG's own)."""
    from leg.harness.methods import METHODS

    return tuple(name for name, m in METHODS.items() if m.ours)


def _models(verdicts: list[Verdict]) -> list[str]:
    """Models in the order of their first check (sanity models first), then of appearance."""
    order = _check_order(verdicts)
    first = {}
    for v in verdicts:
        first[v.model] = min(first.get(v.model, len(order)), order.index(v.check))
    return sorted(first, key=lambda m: first[m])  # stable: appearance order within a tie


def _checks(verdicts: list[Verdict], model: str) -> list[str]:
    present = {v.check for v in verdicts if v.model == model}
    return [c for c in _check_order(verdicts) if c in present]


def _methods(verdicts: list[Verdict]) -> list[str]:
    seen = list(dict.fromkeys(v.method for v in verdicts))
    marked = _marked()
    return [m for m in marked if m in seen] + [m for m in seen if m not in marked]


def _role(method: str) -> str:
    from leg.harness.methods import METHODS

    m = METHODS.get(method)
    return " (control: must fail)" if m is not None and m.role == "control" else ""


def _cell_text(v: Verdict | None) -> str:
    if v is None:
        return VERDICTS["not-run"][0]
    sym = VERDICTS[v.verdict][0]
    text = sym if v.value is None else f"{sym} {fmt(v.value)}"
    return text if v.n_images is None else f"{text} n{v.n_images}"


def statistics_text(v: Verdict) -> str:
    """``"n = 8, 95% CI of the difference [-0.2, -0.05], p = 0.004"`` for a verdict over
    images, ``""`` for any other."""
    if v.n_images is None:
        return ""
    ci = ("" if v.ci_low is None else
          f", 95% CI of the median difference [{fmt(v.ci_low)}, {fmt(v.ci_high)}]")
    p = "" if v.p_value is None else f", p = {v.p_value:.2g}"
    return f"n = {v.n_images}{ci}{p}"


def _title(v: Verdict | None) -> str:
    if v is None:
        return "not run"
    text = f"{v.verdict.replace('-', ' ')}: {VERDICTS[v.verdict][1]}"
    stats = statistics_text(v)
    return (text + (f" — {v.detail}" if v.detail else "") + (f" ({stats})" if stats else "")
            + (" [asserted: the run fails unless it passes]" if v.asserted
               else " [reported: never fails the run]"))


#: Column headers that may break inside a word (soft hyphens), keeping the matrix narrow.
_HEADERS = {"cascading": "cas&shy;cading", "independent": "inde&shy;pendent",
            "informativeness": "infor&shy;mative", "deletion": "dele&shy;tion",
            "estimand": "esti&shy;mand"}


def _wrap_name(name: str) -> str:
    return html.escape(name).replace(":", ":<wbr>").replace("_", "_<wbr>")


def _guide() -> list[tuple[str, str]]:
    """How to read the matrix, in words: ``(term, explanation)`` pairs (Markdown's inline
    marks), the same on every page and in ``summary.md``."""
    from leg.harness.checks.statistics import min_images_for

    need = min_images_for(0.05)
    return [
        ("A cell", "the verdict's symbol, the number it was decided on and *nN*, the number "
                   "of images it was judged over (of models, for ground truth). For a "
                   "comparison over images the number is the method's median of the check's "
                   "metric over the images; each column's rule below says what it shows."),
        ("Asserted", "**bold** cells. A test asserts the verdict: the run fails unless it is "
                     "✓ (x: a failure the profile expects, an xfail; ? undecided: a skip, a "
                     "failure with `--leg-strict`)."),
        ("Reported", "plain cells: shown for comparison, they never fail the run."),
        ("The rule", "comparisons are paired over images: each image gives the method's value "
                     "and its reference's (random-cells' score for a faithfulness check, the "
                     "unrelated-map level for a randomization check), and a one-sided "
                     f"Wilcoxon signed-rank test over the images decides: ✓ when the method is "
                     f"better at p < 0.05. At least {need} images are needed (the smallest p "
                     f"of n images is 1/2ⁿ): with fewer the cell is ? undecided."),
        ("~ not significant", "a reported comparison that shows the method neither better "
                              "nor worse than its reference at p < 0.05: no evidence either "
                              "way."),
        ("≈ uninformative", "the cell would pass, but the maps do not depend on the model: "
                            "they do not reproduce under another seed of the original model "
                            "(noise falls to the unrelated level trivially), the method "
                            "failed cascading randomization, or it is a control made "
                            "without the model. Not a pass."),
    ]


def guide_markdown() -> str:
    """:func:`_guide` as a Markdown list."""
    return "\n".join(f"- **{term}**: {text}" for term, text in _guide())


def guide_html() -> str:
    """:func:`_guide` as short paragraphs, visible (not on hover, not folded)."""
    from leg.harness.report import prose_html

    return '<div class="guide">' + "".join(
        prose_html(f"**{term}**: {text}") for term, text in _guide()) + "</div>"


def columns(verdicts: list[Verdict]) -> list[dict]:
    """One row per column of the verdict matrix, from the suites'
    :class:`~leg.harness.engine.suite.Check` records (a new check is included by itself):
    its header, its rule, its paper, what could game it, and the methods on which a test
    asserts it in this run (``"reported"``: on none)."""
    from leg.harness.engine.suite import check as check_record

    rows = []
    for name in _check_order(verdicts):
        cells = [v for v in verdicts if v.check == name]
        if not cells:
            continue
        models = list(dict.fromkeys(v.model for v in cells))
        on: dict[str, list[str]] = {}
        for v in cells:
            if v.asserted:
                on.setdefault(v.method, []).append(v.model)
        asserted = ", ".join(m if len(ms) == len(models) else f"{m} ({', '.join(ms)})"
                             for m, ms in on.items())
        c = check_record(name)
        rows.append({"check": name, "header": c.header if c else name,
                     "rule": c.rule if c else "", "reference": c.reference if c else "",
                     "gamed_by": c.gamed_by if c else "",
                     "asserted": f"asserted on {asserted}" if asserted else "reported"})
    return rows


def columns_markdown(verdicts: list[Verdict]) -> str:
    """:func:`columns` as a Markdown table."""
    rows = columns(verdicts)
    if not rows:
        return ""
    out = ["| column | asserted or reported | what it checks (the rule) | paper |",
           "|---|---|---|---|"]
    for r in rows:
        rule = r["rule"] + (f" *Gamed by:* {r['gamed_by']}" if r["gamed_by"] else "")
        cells = [f"**{r['header']}**", r["asserted"], rule, r["reference"]]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def columns_html(verdicts: list[Verdict]) -> str:
    """:func:`columns` as a table under the matrix, visible (not on hover)."""
    rows = columns(verdicts)
    if not rows:
        return ""
    body = "".join(
        f"<tr><th>{html.escape(r['header'])}</th><td>{html.escape(r['asserted'])}</td>"
        f"<td>{html.escape(r['rule'])}"
        + (f" <em>Gamed by:</em> {html.escape(r['gamed_by'])}" if r["gamed_by"] else "")
        + f"</td><td>{html.escape(r['reference'])}</td></tr>" for r in rows)
    return ('<div class="scroll"><table class="columns" id="columns"><thead><tr>'
            "<th>column</th><th>asserted or reported</th><th>what it checks (the rule)</th>"
            f"<th>paper</th></tr></thead><tbody>{body}</tbody></table></div>")


def legend_html() -> str:
    items = "".join(f'<span class="v-{k}" title="{html.escape(m)}">{s} {k.replace("-", " ")}'
                    "</span>" for k, (s, m) in VERDICTS.items())
    return (f'<p class="legend">{items} <span class="asserted-key">bold</span>: asserted by a '
            "test (a failure fails the run); plain: reported. Hover a cell for its numbers."
            "</p>")


def matrix_html(verdicts: list[Verdict]) -> str:
    """The verdict matrix: rows are methods, one group of check columns per model."""
    if not verdicts:
        return "<p>No verdicts: no suite ran to completion.</p>"
    index = {(v.model, v.method, v.check): v for v in verdicts}
    models = _models(verdicts)
    cols = [(m, c) for m in models for c in _checks(verdicts, m)]
    top = "".join(f'<th colspan="{len(_checks(verdicts, m))}" class="model">{_wrap_name(m)}'
                  "</th>" for m in models)
    sub = "".join(f'<th title="{html.escape(_header(c)[1])}">'
                  f"{_HEADERS.get(c, html.escape(_header(c)[0]))}</th>" for _, c in cols)
    body = []
    for method in _methods(verdicts):
        cells = []
        for m, c in cols:
            v = index.get((m, method, c))
            cls = f"v-{v.verdict if v else 'not-run'}" + (" asserted" if v and v.asserted
                                                            else "")
            cells.append(f'<td class="{cls}" title="{html.escape(_title(v))}">'
                         f"{html.escape(_cell_text(v))}</td>")
        mark = ' class="marked"' if method in _marked() else ""
        body.append(f"<tr><th{mark}>{html.escape(method)}<small>{_role(method)}</small></th>"
                    + "".join(cells) + "</tr>")
    return ('<div class="scroll"><table class="matrix" id="verdict-matrix"><thead>'
            f'<tr><th rowspan="2">method</th>{top}</tr><tr>{sub}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def matrix_markdown(verdicts: list[Verdict]) -> str:
    """One Markdown table per model (methods x checks); asserted cells in bold."""
    if not verdicts:
        return "No verdicts: no suite ran to completion."
    index = {(v.model, v.method, v.check): v for v in verdicts}
    legend = ", ".join(f"{s} {k.replace('-', ' ')}" for k, (s, _) in VERDICTS.items())
    out = [f"Legend: {legend}; **bold**: asserted by a test."]
    for model in _models(verdicts):
        checks = _checks(verdicts, model)
        methods = [m for m in _methods(verdicts)
                   if any((model, m, c) in index for c in checks)]
        out += ["", f"**{model}**", "", "| method | " + " | ".join(_header(c)[0] for c in checks)
                + " |", "|---" * (len(checks) + 1) + "|"]
        for method in methods:
            cells = []
            for c in checks:
                v = index.get((model, method, c))
                text = _cell_text(v)
                cells.append(f"**{text}**" if v is not None and v.asserted else text)
            out.append(f"| {method}{_role(method)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _rank_tables(boards: list[Leaderboard]):
    """``(group, columns, rows)`` per group of leaderboards: ``rows[i]`` holds the entry
    ranked ``i + 1`` in each column (None where a column is shorter)."""
    groups: dict[str, list[Leaderboard]] = {}
    for b in boards:
        groups.setdefault(b.group, []).append(b)
    for group, cols in groups.items():
        depth = max(len(b.entries) for b in cols)
        yield group, cols, [[b.entries[i] if i < len(b.entries) else None for b in cols]
                            for i in range(depth)]


def _ci(e) -> str:
    """`` [lo, hi]`` for a standing with a confidence interval, else ``""``."""
    return "" if e.ci_low is None else f" [{fmt(e.ci_low)}, {fmt(e.ci_high)}]"


def leaderboards_html(boards: list[Leaderboard]) -> str:
    """One rank table per group: rows are ranks, columns the group's comparisons; LEG and
    LEG-TV (``Standing.marked``) highlighted."""
    def cell(e) -> str:
        if e is None:
            return "<td></td>"
        note = f" <small>{html.escape(e.note)}</small>" if e.note else ""
        return (f'<td{" class=marked" if e.marked else ""}>{html.escape(e.method)} '
                f'<span class="num">{fmt(e.value)}</span>{_ci(e)}{note}</td>')

    parts = []
    for group, cols, rows in _rank_tables(boards):
        head = "".join(f"<th>{html.escape(b.column)}</th>" for b in cols)
        body = "".join(f"<tr><th>{i}</th>{''.join(cell(e) for e in row)}</tr>"
                       for i, row in enumerate(rows, start=1))
        if any(b.reliability for b in cols):
            body += ('<tr class="reliability"><th title="how consistently the images rank '
                     'the methods">W</th>' + "".join(
                         f"<td><small>{html.escape(b.reliability)}</small></td>" for b in cols)
                     + "</tr>")
        parts.append(f'<div class="board"><h3>{html.escape(group)}</h3><div class="scroll">'
                     f'<table class="rank"><thead><tr><th>#</th>{head}</tr></thead><tbody>'
                     f"{body}</tbody></table></div></div>")
    return f'<div class="boards">{"".join(parts)}</div>' if parts else ""


def leaderboards_markdown(boards: list[Leaderboard]) -> str:
    """The same rank tables in Markdown (marked methods in bold)."""
    def cell(e) -> str:
        if e is None:
            return ""
        name = f"**{e.method}**" if e.marked else e.method
        return f"{name} {fmt(e.value)}{_ci(e)}" + (f" ({e.note})" if e.note else "")

    out = []
    for group, cols, rows in _rank_tables(boards):
        out += [f"**{group}**", "", "| # | " + " | ".join(b.column for b in cols) + " |",
                "|---" * (len(cols) + 1) + "|"]
        out += [f"| {i} | " + " | ".join(cell(e) for e in row) + " |"
                for i, row in enumerate(rows, start=1)]
        if any(b.reliability for b in cols):
            out.append("| W | " + " | ".join(b.reliability for b in cols) + " |")
        out.append("")
    return "\n".join(out).rstrip()


def verdicts_text(verdicts: list[Verdict]) -> list[str]:
    """The verdict matrix for a terminal: per model a block of methods x checks, each cell
    the verdict's symbol (``*``: asserted by a test), then the asserted checks that could
    not decide."""
    if not verdicts:
        return []
    index = {(v.model, v.method, v.check): v for v in verdicts}
    legend = ", ".join(f"{s} {k.replace('-', ' ')}" for k, (s, _) in VERDICTS.items())
    out = [f"leg verdicts ({legend}; * asserted: a failure fails the run; unstarred cells are "
           "reported only):"]
    for model in _models(verdicts):
        checks = _checks(verdicts, model)
        methods = [m for m in _methods(verdicts) if any((model, m, c) in index for c in checks)]
        width = max(len(m) for m in methods) + 2
        heads = [_header(c)[0] for c in checks]
        out.append(f"  {model}")
        out.append("    " + " " * width + "  ".join(f"{h:<{max(len(h), 2)}}" for h in heads))
        for m in methods:
            cells = []
            for c, h in zip(checks, heads, strict=True):
                v = index.get((model, m, c))
                sym = VERDICTS[v.verdict][0] + ("*" if v.asserted else "") if v else ""
                cells.append(f"{sym:<{max(len(h), 2)}}")
            out.append(f"    {m:<{width}}" + "  ".join(cells))
    undecided = [v for v in verdicts if v.asserted and v.verdict == "undecided"]
    out += [f"  undecided: {v.model} / {v.method} / {v.check}: {plural(v.n_images, 'image')}, "
            "at least 5 are needed (--leg-n-images; --leg-strict fails the run on it)"
            for v in undecided]
    return out
