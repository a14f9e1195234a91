"""Markdown of the leaderboards: escaping names, file names, tables and the fixed formats of numbers."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from serbench.reports.stats import Summary


def escape_md(text: str) -> str:
    """Text shown literally in markdown, also inside table cells and link texts (names come from users)."""
    return re.sub(r"([\\`*_{}\[\]<>#|~])", r"\\\1", str(text))


def slug(text: str) -> str:
    """A file-name-safe form of a method, protocol or task name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "unnamed"


def percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def p_value(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def number(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> list[str]:
    """The lines of a markdown table; `align`: "l" or "r" per column (default: the first left, the rest right)."""
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(cells) + " |" for cells in [list(header), rule, *map(list, rows)]]


def score_cell(summary: Summary, bold: bool) -> str:
    """A score over seeds in percent: `mean ± std (seeds)`, the mean in bold where it is the column's best."""
    if summary.n == 0:
        return "-"
    mean = f"**{percent(summary.mean)}**" if bold else percent(summary.mean)
    spread = f" ± {percent(summary.std)}" if summary.n > 1 else ""
    return f"{mean}{spread} ({summary.n})"
