"""Markdown of the leaderboards: escaping names, file names, tables and the fixed formats of numbers; a markdown
table's LaTeX (booktabs) and CSV forms, for pasting into a paper or reading by a program."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence

from serbench.metrics import Metric
from serbench.reports.stats import Summary


def escape_md(text: str) -> str:
    """Text shown literally in markdown, also inside table cells and link texts (names come from users)."""
    return re.sub(r"([\\`*_{}\[\]<>#|~])", r"\\\1", str(text))


def slug(text: str) -> str:
    """A file-name-safe form of a method, protocol or task name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "unnamed"


def percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def score_text(value: float | None, metric: Metric, sign: str = "") -> str:
    """A score of `metric` as the pages show it (Metric.shown, .digits): UA in per cent, 52.3; CCC as it is, 0.412;
    `sign` "+" for a difference of scores, +1.5 points of UA, -0.021 of CCC."""
    return "-" if value is None or math.isnan(value) else f"{metric.shown(value):{sign}.{metric.digits}f}"


def range_text(metric: Metric) -> str:
    """The values `metric` can take, as the pages show them: [0, 100] for UA, [-1, 1] for CCC."""
    low, high = (metric.shown(bound) for bound in metric.bounds)
    return f"[{low:g}, {high:g}]"


def p_value(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def csv_score(value: float | None, metric: Metric) -> str:
    """A score of `metric` (or a difference of two) as the pages show it, in per cent or as it is, with the digits
    a program wants, as the CSV tables give it; empty: no value."""
    return "" if value is None or math.isnan(value) else f"{metric.shown(value):.{metric.digits + 3}f}"


def number(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> list[str]:
    """The lines of a markdown table; `align`: "l" or "r" per column (default: the first left, the rest right)."""
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(cells) + " |" for cells in [list(header), rule, *map(list, rows)]]


def interval_shown(summary: Summary, collapsed: bool) -> bool:
    """Whether a mean over seeds gets its confidence interval: not where the seeds do not vary (one seed, a
    deterministic system: nothing to replicate) nor where a seed has a collapsed run (a mixture of working and
    collapsed runs is far from the normal model behind the interval)."""
    return summary.n > 1 and summary.std > 0 and not collapsed


def score_cell(summary: Summary, bold: bool, metric: Metric) -> str:
    """A score of `metric` over seeds as the pages show it (score_text): `mean ± std (seeds)`, the mean in bold
    where it is the column's best."""
    if summary.n == 0:
        return "-"
    mean = score_text(summary.mean, metric)
    mean = f"**{mean}**" if bold else mean
    spread = f" ± {score_text(summary.std, metric)}" if summary.n > 1 else ""
    return f"{mean}{spread} ({summary.n})"


# LaTeX for the characters that are special to it or outside ASCII in the pages' tables (amssymb: the triangles).
TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
       ">": r"\textgreater{}", "|": r"\textbar{}", "±": r"$\pm$", "†": r"\dag{}", "‡": r"\ddag{}",
       "▲": r"$\blacktriangle$", "▼": r"$\blacktriangledown$", "Δ": r"$\Delta$"}


def escape_tex(text: str) -> str:
    """Text shown literally in LaTeX (names come from users)."""
    return "".join(TEX.get(char, char) for char in str(text))


def tex_cell(markdown: str) -> str:
    """A markdown table cell (escape_md's escapes, **bold**) in LaTeX: the same text, bold as \\textbf."""
    parts, bold = [], False
    for escaped, star, char in re.findall(r"\\(.)|(\*\*)|(.)", markdown):
        if star:
            parts.append("}" if bold else r"\textbf{")
            bold = not bold
        else:
            parts.append(escape_tex(escaped or char))
    return "".join(parts)


def tex_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str], comment: str) -> str:
    """A markdown table (its cells, as table() takes them) as a booktabs tabular, `comment` above it."""
    lines = [f"% {line}" for line in comment.splitlines()]
    lines += [f"\\begin{{tabular}}{{{''.join(align)}}}", r"\toprule",
              " & ".join(map(tex_cell, header)) + r" \\", r"\midrule",
              *(" & ".join(map(tex_cell, row)) + r" \\" for row in rows), r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A CSV file's text: a header line, then the rows; Unix line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([header, *rows])
    return buffer.getvalue()
