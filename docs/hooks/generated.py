"""MkDocs hook: the parts of the pages that the code knows better than any prose.

A page asks for them with an HTML comment on a line of its own, replaced at build time:

``<!-- leg:help explain -->``, ``<!-- leg:help evaluate -->``, ``<!-- leg:help report -->``
    the ``--help`` of ``leg explain``, the ``--leg-*`` options of ``leg evaluate`` (its
    pytest plugin's group, as ``leg evaluate --help-pytest`` prints it) and ``leg report
    compare``, at 88 columns;
``<!-- leg:checks -->``
    every registered check (built in, or installed through the ``leg.checks`` entry point):
    its suite, rule, paper and what can game it, from its :class:`Check` record;
``<!-- leg:markers -->``
    the ``-m`` markers that select each suite;
``<!-- leg:profiles -->``, ``<!-- leg:generic -->``
    the profiles and their one-line descriptions; the sizes each gives a model it has no
    plan for (``leg.harness.profiles.GENERIC``);
``<!-- leg:defaults -->``
    the defaults the CLI and the API share (:mod:`leg.defaults`, with its ``#:`` comments).

So an option, a check or a default that changes changes the documentation with it.

The docstrings that mkdocstrings renders are written for Sphinx (``:func:`name```): their
roles are dropped from the HTML, leaving the name as code.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = "88"
_PLACEHOLDER = re.compile(r"^<!-- leg:(\w+)(?: ([\w-]+))? -->$", re.M)


@contextlib.contextmanager
def _columns():
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before


def _fenced(text: str) -> str:
    return f"```text\n{text.rstrip()}\n```"


def _subparser(parser, name: str):
    for action in parser._actions:  # argparse keeps its subparsers here
        if getattr(action, "choices", None) and name in action.choices:
            return action.choices[name]
    raise KeyError(name)


def help_explain() -> str:
    from leg.cli import build_parser

    with _columns():
        return _fenced(_subparser(build_parser(), "explain").format_help())


def help_report() -> str:
    from leg.harness.cli import _parser

    with _columns():
        return _fenced(_subparser(_parser(), "compare").format_help())


def help_evaluate() -> str:
    """The plugin's option group, as ``leg evaluate --help-pytest`` prints it."""
    env = {**os.environ, "COLUMNS": COLUMNS, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "leg", "evaluate", "--help-pytest"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
                         check=True).stdout
    lines = out.splitlines()
    start = lines.index("leg evaluation harness:")
    end = next(i for i in range(start + 1, len(lines))
               if not lines[i].strip() or not lines[i].startswith(" "))
    return _fenced("\n".join(lines[start:end]))


def _cell(text: str) -> str:
    return (text or "–").replace("|", "\\|").replace("\n", " ")


def checks() -> str:
    from leg.harness.engine.suite import suites

    rows = ["| check | suite (`-m`) | rule | paper | what can game it |",
            "|---|---|---|---|---|"]
    for s in suites():
        for c in s.checks:
            rows.append(f"| `{c.name}` | {s.marker} | {_cell(c.rule)} | "
                        f"{_cell(c.reference)} | {_cell(c.gamed_by)} |")
    return "\n".join(rows)


def markers() -> str:
    from leg.harness.engine.suite import suites

    rows = ["| marker | suite | what it runs |", "|---|---|---|"]
    for s in suites():
        rows.append(f"| `-m {s.marker}` | {_cell(s.title)} | {_cell(s.description)} |")
    return "\n".join(rows)


def profiles() -> str:
    from leg.harness.profiles import PROFILES

    rows = ["| profile | what it is |", "|---|---|"]
    rows += [f"| `{name}` | {_cell(p.description)} |" for name, p in PROFILES.items()]
    return "\n".join(rows)


def generic() -> str:
    from leg.harness.profiles import GENERIC

    rows = ["| profile | images (at most) | cascading stages | LEG: samples until reliability, "
            "at most | grid | black-box budget | key-size backgrounds | α steps | "
            "estimand budgets, gradients |", "|---|---|---|---|---|---|---|---|---|"]
    for name, g in GENERIC.items():
        rows.append(
            f"| `{name}` | {g.n_images or 'all'} | {g.cascade_stages or 'every group'} | "
            f"{g.reliability:g}, {g.samples} | {g.grid}x{g.grid} | {g.budget} | "
            f"{', '.join(g.backgrounds)} | {g.alpha_steps} | "
            f"{', '.join(map(str, g.estimand_budgets))}; {g.gradients} |")
    return "\n".join(rows)


def defaults() -> str:
    """``NAME = value`` of leg/defaults.py with the ``#:`` comment above each."""
    source = (ROOT / "leg" / "defaults.py").read_text(encoding="utf-8")
    lines = source.splitlines()
    rows = ["| `leg.defaults` | value | meaning |", "|---|---|---|"]
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        comment, i = [], node.lineno - 2
        while i >= 0 and lines[i].lstrip().startswith("#:"):
            comment.insert(0, lines[i].lstrip()[2:].strip())
            i -= 1
        value = ast.literal_eval(node.value)
        rows.append(f"| `{node.targets[0].id}` | `{value!r}` | {_cell(' '.join(comment))} |")
    return "\n".join(rows)


_RENDER = {("help", "explain"): help_explain, ("help", "evaluate"): help_evaluate,
           ("help", "report"): help_report, ("checks", None): checks,
           ("markers", None): markers, ("profiles", None): profiles, ("generic", None): generic,
           ("defaults", None): defaults}
_CACHE: dict = {}


def render(kind: str, arg: str | None) -> str:
    key = (kind, arg)
    if key not in _RENDER:
        raise ValueError(f"unknown placeholder <!-- leg:{kind} {arg or ''} -->")
    if key not in _CACHE:
        _CACHE[key] = _RENDER[key]()
    return _CACHE[key]


def on_config(config):
    sys.path.insert(0, str(ROOT))  # this checkout's leg, whatever is installed
    _CACHE.clear()  # `mkdocs serve` rebuilds: the code may have changed
    return config


def on_page_markdown(markdown: str, page, config, files) -> str:
    return _PLACEHOLDER.sub(lambda m: render(m.group(1), m.group(2)), markdown)


_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):(?=<code>)")


def on_page_content(html: str, page, config, files) -> str:
    return _ROLE.sub("", html)
