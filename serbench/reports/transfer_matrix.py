"""The train x test transfer matrices: for each method and task, every training corpus (rows) against every test
corpus (columns), as nkululeko's multi-database heatmap and EmoBox's cross-corpus table show them.

Off the diagonal are the pages of a protocol family that trains on one corpus and tests on another
(`transfer[train=A,test=B]`, `transfer-dg[train=A,test=B]`: split "corpus", one training and one test corpus);
each family is a matrix of its own, so a setting that adapts to the unlabelled test audio never shares one with
a setting that does not. On the diagonal is the within-corpus protocol, `within[corpus=A]` (DIAGONAL), in every
family's matrices alike. A cell is its page's cell (the same seed cycles, flags and score), so every number here
can be found on the page it links to. Beside each matrix: per method the mean of its diagonal (self) and
off-diagonal (cross) cells, per seed then over seeds, and their gap.

A method's cells come from different protocols, so their runs must agree on what select_configuration checks
within one protocol: each corpus's data, the front-end configuration and the protocol settings that are not the
split's (normalisation, gain, model selection, labels). A method whose cells differ is not drawn, and the page
says what differs.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from serbench.errors import SerbenchError
from serbench.metrics import Metric
from serbench.protocols.protocol import OVERRIDES, split_keys, split_reference
from serbench.reports import stats
from serbench.reports.figures import figure_files, transfer_heatmap
from serbench.reports.markdown import (
    csv_score,
    csv_text,
    escape_md,
    interval_shown,
    range_text,
    score_text,
    slug,
    table,
    tex_table,
)
from serbench.reports.sections import cell_flags, difference_unit, setting_line, title_setting
from serbench.reports.tables import Page, cell_scores
from serbench.runs.record import RunRecord
from serbench.runs.scores import cycle_rows, degenerate

NAME = "transfer-matrix"  # the page's file name: no protocol page can have it, theirs end in a task's name
DIAGONAL = "within"  # the protocol family of the diagonal: speaker-grouped folds within one corpus
# A protocol's settings that its cells may differ in: which corpora train and test, how they are split, its name
# and tasks. Adaptation is compared among the off-diagonal cells only: the diagonal's protocol has none.
SPLIT_SETTINGS = frozenset({"name", "description", "tasks", "split", "test_corpora", "adaptation"})


@dataclass
class Matrix:
    """One protocol family's matrix on one task: its off-diagonal pages by (training, test corpus), the
    within-corpus pages of its corpora by corpus, and per method what its cells' runs differ in (conflicts)."""

    family: str
    task: str
    off: dict[tuple[str, str], Page] = field(default_factory=dict)
    diagonal: dict[str, Page] = field(default_factory=dict)
    within: tuple[tuple[str, str], ...] = ()  # the settings the diagonal's protocol names override, as the family's
    conflicts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def corpora(self) -> list[str]:
        """The rows and the columns, in one order, so that the diagonal is the diagonal."""
        return sorted({corpus for pair in self.off for corpus in pair})

    @property
    def methods(self) -> list[str]:
        return sorted({m for page in self.off.values() for m in page.methods})

    @property
    def drawn(self) -> list[str]:
        """The methods whose cells share one configuration."""
        return [m for m in self.methods if not self.conflicts.get(m)]

    @property
    def metric(self) -> Metric:
        return next(iter(self.off.values())).metric

    @property
    def setting(self) -> dict:
        return next(iter(self.off.values())).setting

    @property
    def name(self) -> str:
        return f"{NAME}-{slug(self.family)}-{slug(self.task)}"

    def page(self, train: str, test: str) -> Page | None:
        return self.diagonal.get(train) if train == test else self.off.get((train, test))

    def pairs(self, diagonal: bool) -> list[tuple[str, str]]:
        """The (training, test corpus) pairs on the diagonal or off it."""
        return [(a, b) for a in self.corpora for b in self.corpora if (a == b) == diagonal]

    def records(self, method: str) -> list[RunRecord]:
        pages = [*self.off.values(), *self.diagonal.values()]
        return [r for page in pages for r in page.records if r.method == method]

    def frontend(self, method: str) -> str:
        return next(p.frontend(method) for p in self.off.values() if method in p.methods)


def one_to_one(page: Page) -> tuple[str, str] | None:
    """(training, test corpus) of a page whose protocol trains on one corpus and tests on another, else None."""
    setting = page.setting
    train, test = setting.get("train", []), setting.get("test", [])
    if setting["split"] == "corpus" and len(train) == 1 and len(test) == 1 and train != test:
        return train[0], test[0]
    return None


def family_of(protocol: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A protocol's family, its name without the template's parameters but with the settings its name overrides
    (OVERRIDES), and those settings: `transfer[train=emodb,test=ravdess,normalisation=utterance]` ->
    (`transfer[normalisation=utterance]`, (("normalisation", "utterance"),))."""
    base, arguments = split_reference(protocol)
    overrides = tuple((key, value) for key, value in arguments.items() if key in OVERRIDES)
    return base + (f"[{','.join(f'{k}={v}' for k, v in overrides)}]" if overrides else ""), overrides


def transfer_matrices(pages: Sequence[Page]) -> list[Matrix]:
    """One matrix per (one-to-one protocol family, task) with runs, by family and task. On the diagonal, the
    within-corpus pages of its corpora whose names override the family's settings but adaptation: the diagonal
    never adapts."""
    found: dict[tuple[str, str], Matrix] = {}
    diagonal = {}
    for page in pages:
        base, arguments = split_reference(page.protocol)
        if base == DIAGONAL and len(page.setting["test_corpora"]) == 1:
            overrides = tuple(sorted((k, v) for k, v in arguments.items() if k in OVERRIDES))
            diagonal[(page.setting["test_corpora"][0], page.task, overrides)] = page
    for page in pages:
        pair = one_to_one(page)
        if pair is None:
            continue
        family, overrides = family_of(page.protocol)
        matrix = found.setdefault((family, page.task), Matrix(family, page.task))
        if pair in matrix.off:
            raise SerbenchError(f"protocols {matrix.off[pair].protocol} and {page.protocol} both train on {pair[0]} "
                                f"and test on {pair[1]}, so they would be one cell of the {family} transfer matrix",
                                hint="give the protocol files different names: a family is a protocol's name "
                                     "without its template's parameters")
        matrix.off[pair] = page
        matrix.within = tuple(sorted((k, v) for k, v in overrides if k != "adaptation"))
    for matrix in found.values():
        matrix.diagonal = {c: diagonal[key] for c in matrix.corpora if (key := (c, matrix.task, matrix.within))
                           in diagonal}
        matrix.conflicts = {m: conflicts(matrix, m) for m in matrix.methods}
    return [found[key] for key in sorted(found)]


# --- configurations -------------------------------------------------------------------------------------------------

def conflicts(matrix: Matrix, method: str) -> list[str]:
    """What the method's cells' runs differ in (select_configuration's checks, across protocols): each corpus's
    data fingerprint, the front-end configuration, the protocol settings that are not the split's, the adaptation
    of the off-diagonal cells, and the main score. Empty: one configuration."""
    values: dict[str, dict[str, set[str]]] = {}  # what -> value -> protocols

    def note(what: str, value: object, protocol: str) -> None:
        values.setdefault(what, {}).setdefault(str(value), set()).add(protocol)

    off = {p.protocol for p in matrix.off.values()}
    records = matrix.records(method)
    # a setting absent from older runs' protocols (`oracle`) differs from one that is present
    keys = sorted({key for r in records for key in r.identity["protocol"]} - SPLIT_SETTINGS - split_keys())
    for record in records:
        identity, protocol = record.identity, record.protocol
        for corpus, fingerprint in identity["data"].items():
            note(f"data fingerprint of {corpus}", fingerprint[:12], protocol)
        note("front-end configuration", identity["frontend"]["hash"], protocol)
        for key in [*keys, *(["adaptation"] if protocol in off else [])]:
            note(f"protocol setting {key}", identity["protocol"].get(key, "(absent)"), protocol)
    for page in [*matrix.off.values(), *matrix.diagonal.values()]:
        if method in page.methods:
            note("main score", page.metric.name, page.protocol)
    return [f"{what}: " + "; ".join(f"{value} ({', '.join(sorted(protocols))})"
                                    for value, protocols in sorted(by_value.items()))
            for what, by_value in sorted(values.items()) if len(by_value) > 1]


# --- cells and summaries --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One (method, training corpus, test corpus) of a matrix: its page's cell."""

    page: Page | None  # the page of its protocol and task; None: no protocol of the matrix ran the pair
    rows: pd.DataFrame  # its complete seed cycles, one per seed (tables.cell_scores)
    summary: stats.Summary  # of the main score over those seeds
    flags: str  # its page's flags, as the page's main table appends them (" †", " ‡")
    missing: str  # why it has no number ("no run", "no complete seed"), or ""

    @property
    def collapsed(self) -> bool:
        return bool(degenerate(self.rows).any())

    def text(self, metric: Metric) -> str:
        """`mean [low, high] (seeds)` as the pages show `metric` and the flags, or why there is no number."""
        return (self.missing or summary_text(self.summary, self.collapsed, metric)) + self.flags


def matrix_cell(matrix: Matrix, method: str, train: str, test: str) -> Cell:
    page = matrix.page(train, test)
    if page is None or method not in page.methods:
        return Cell(page, cycle_rows(()), stats.summarize([]), "", "no run")
    rows = cell_scores(page, method, test)
    return Cell(page, rows, stats.summarize(rows[matrix.metric.name].tolist(), bounds=matrix.metric.bounds),
                cell_flags(page, method, test), "" if len(rows) else "no complete seed")


def summary_text(summary: stats.Summary, collapsed: bool, metric: Metric) -> str:
    """`mean [low, high] (seeds)` as the pages show `metric`, the interval where interval_shown allows it; "-"
    without seeds."""
    if summary.n == 0:
        return "-"
    interval = (f" [{score_text(summary.ci_low, metric)}, {score_text(summary.ci_high, metric)}]"
                if interval_shown(summary, collapsed) else "")
    return f"{score_text(summary.mean, metric)}{interval} ({summary.n})"


def seed_means(cells: Sequence[Cell], score: str) -> dict[int, float]:
    """Per seed that every cell has, the mean of the cells' scores; nothing if a cell has no seed. A page's
    average over its test corpora is made the same way (tables.average_score)."""
    if not cells or any(cell.rows.empty for cell in cells):
        return {}
    seeds = set.intersection(*(set(cell.rows["seed"]) for cell in cells))
    return {s: float(np.mean([cell.rows.loc[cell.rows["seed"] == s, score].iloc[0] for cell in cells]))
            for s in sorted(seeds)}


@dataclass(frozen=True)
class Summaries:
    """A method's self (diagonal) and cross (off-diagonal) means over seeds, and the gap, self - cross; whether a
    seed of a cell behind each has a collapsed run (then it has no interval: interval_shown)."""

    own: stats.Summary
    cross: stats.Summary
    gap: stats.PairedTest
    own_collapsed: bool
    cross_collapsed: bool

    @property
    def gap_collapsed(self) -> bool:
        return self.own_collapsed or self.cross_collapsed

    @property
    def gap_shown(self) -> bool:
        """Whether the gap gets its interval: not where the differences do not vary (paired_test's exact
        fallback, whose interval is all or nothing, has no standard error) nor where a seed collapsed."""
        return not math.isnan(self.gap.standard_error) and not self.gap_collapsed

    def texts(self, metric: Metric) -> list[str]:
        """The self, cross and gap cells of the summary table as the pages show `metric`, the gap in points of a
        score in percent; † where a seed behind a number collapsed."""
        def flagged(text: str, collapsed: bool) -> str:
            return text + (" †" if collapsed and text != "-" else "")

        gap = "-"
        if self.gap.n:
            interval = (f" [{score_text(self.gap.ci_low, metric, '+')}, {score_text(self.gap.ci_high, metric, '+')}]"
                        if self.gap_shown else "")
            gap = f"{score_text(self.gap.difference, metric, '+')}{interval} ({self.gap.n})"
        return [flagged(summary_text(self.own, self.own_collapsed, metric), self.own_collapsed),
                flagged(summary_text(self.cross, self.cross_collapsed, metric), self.cross_collapsed),
                flagged(gap, self.gap_collapsed)]


def summaries(matrix: Matrix, method: str) -> Summaries:
    metric = matrix.metric
    low, high = metric.bounds
    own_cells, cross_cells = ([matrix_cell(matrix, method, a, b) for a, b in matrix.pairs(diagonal)]
                              for diagonal in (True, False))
    own, cross = seed_means(own_cells, metric.name), seed_means(cross_cells, metric.name)
    common = sorted(set(own) & set(cross))
    return Summaries(stats.summarize(list(own.values()), bounds=metric.bounds),
                     stats.summarize(list(cross.values()), bounds=metric.bounds),
                     stats.paired_test([cross[s] for s in common], [own[s] for s in common], width=high - low),
                     any(cell.collapsed for cell in own_cells), any(cell.collapsed for cell in cross_cells))


# --- one matrix -----------------------------------------------------------------------------------------------------

def matrix_rows(matrix: Matrix) -> list[list[str]]:
    """The matrix table's markdown rows: per method, one row per training corpus."""
    return [[escape_md(method), escape_md(matrix.frontend(method)), escape_md(train),
             *(matrix_cell(matrix, method, train, test).text(matrix.metric) for test in matrix.corpora)]
            for method in matrix.drawn for train in matrix.corpora]


def summary_rows(matrix: Matrix) -> list[list[str]]:
    return [[escape_md(method), escape_md(matrix.frontend(method)), *summaries(matrix, method).texts(matrix.metric)]
            for method in matrix.drawn]


def heatmap(matrix: Matrix) -> dict[str, bytes]:
    """The matrix's figure: one panel per method, colour the mean score, text the mean and flags."""
    metric, panels = matrix.metric, []
    for method in matrix.drawn:
        cells = [[matrix_cell(matrix, method, train, test) for test in matrix.corpora] for train in matrix.corpora]
        means = np.array([[metric.shown(c.summary.mean) if c.summary.n else np.nan for c in row] for row in cells])
        labels = [[(c.missing or score_text(c.summary.mean, metric)) + c.flags for c in row] for row in cells]
        panels.append((method, means, labels))
    title = f"{matrix.family} / {matrix.task}: {title_setting(matrix.setting)}"
    return figure_files(f"figures/{matrix.name}", transfer_heatmap(title, matrix.corpora, panels, metric))


def page_links(matrix: Matrix) -> str:
    """The pages behind the cells, off the diagonal and on it."""
    off = [f"[{escape_md(a)} → {escape_md(b)}]({page.name}.md)" for (a, b), page in sorted(matrix.off.items())]
    own = [f"[{escape_md(c)}]({page.name}.md)" for c, page in sorted(matrix.diagonal.items())]
    diagonal = f"on the diagonal {', '.join(own)}" if own else f"no {DIAGONAL} page on the diagonal"
    return f"The cells' pages: {', '.join(off)}; {diagonal}."


@dataclass
class Written:
    """The page's parts, gathered matrix by matrix."""

    lines: list[str] = field(default_factory=list)
    tex: list[str] = field(default_factory=list)
    csv: list[list[object]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


SUMMARY_HEADER = ["method", "front-end", "self (diagonal)", "cross (off the diagonal)", "gap (self - cross)"]
SUMMARY_ALIGN = ["l", "l", "r", "r", "r"]


def matrix_section(matrix: Matrix, out: Written) -> None:
    """One matrix's markdown, LaTeX, CSV rows and figure."""
    where, unit = f"{matrix.family} / {matrix.task}", matrix.metric.unit
    out.lines += [f"### {escape_md(where)}", ""]
    if matrix.drawn:
        header = ["method", "front-end", "train", *map(escape_md, matrix.corpora)]
        align = ["l", "l", "l", *["r"] * len(matrix.corpora)]
        rows, summary = matrix_rows(matrix), summary_rows(matrix)
        out.lines += [f"{unit}: rows train, columns test.", "", *table(header, rows, align), "",
                      *table(SUMMARY_HEADER, summary, SUMMARY_ALIGN), "",
                      f"![transfer matrices: {escape_md(where)}](figures/{matrix.name}.png)", ""]
        out.files.update(heatmap(matrix))
        needs = "Needs \\usepackage{booktabs}."
        out.tex += [tex_table(header, rows, align, f"{where}: {unit}, rows train, columns test; the legend is "
                                                   f"on {NAME}.md.\n{needs}"),
                    tex_table(SUMMARY_HEADER, summary, SUMMARY_ALIGN,
                              f"{where}: self, cross and their gap; the legend is on {NAME}.md.\n{needs}")]
        out.csv += csv_rows(matrix)
    out.lines += [page_links(matrix), ""]
    for method, lines in sorted(matrix.conflicts.items()):
        if lines:
            out.lines += [f"Not drawn: **{escape_md(method)}**: its cells' runs differ, and a matrix never mixes "
                          f"configurations; select one per protocol with `--config ID`, or keep each configuration's "
                          f"runs in its own results folder. They differ in:", "",
                          *(f"- {escape_md(line)}" for line in lines), ""]


# --- the CSV --------------------------------------------------------------------------------------------------------

CSV_HEADER = ["family", "adaptation", "task", "metric", "method", "frontend", "kind", "train", "test", "protocol",
              "mean", "std", "ci_low", "ci_high", "seeds", "flags"]


def summary_fields(summary: stats.Summary, shown: bool, metric: Metric) -> list[object]:
    """mean, std, ci_low, ci_high (where shown) and seeds of a summary of `metric`, in CSV_HEADER's order."""
    interval = [csv_score(summary.ci_low, metric), csv_score(summary.ci_high, metric)] if shown else ["", ""]
    return [csv_score(summary.mean, metric), csv_score(summary.std, metric), *interval, summary.n]


def csv_rows(matrix: Matrix) -> list[list[object]]:
    """Per drawn method: a row per cell (kind "self" on the diagonal, "cross" off it; flags "no run" or "no
    complete seed" where it has no number), then its "self mean", "cross mean" and "gap" (train and test empty)."""
    rows: list[list[object]] = []
    metric = matrix.metric
    for method in matrix.drawn:
        start = [matrix.family, matrix.setting["adaptation"], matrix.task, matrix.metric.name, method,
                 matrix.frontend(method)]
        for train, test in [(a, b) for a in matrix.corpora for b in matrix.corpora]:
            cell = matrix_cell(matrix, method, train, test)
            rows.append([*start, "self" if train == test else "cross", train, test,
                         cell.page.protocol if cell.page else "",
                         *summary_fields(cell.summary, interval_shown(cell.summary, cell.collapsed), metric),
                         (cell.missing + cell.flags).strip()])
        found = summaries(matrix, method)
        for kind, summary, collapsed in (("self mean", found.own, found.own_collapsed),
                                         ("cross mean", found.cross, found.cross_collapsed)):
            rows.append([*start, kind, "", "", "",
                         *summary_fields(summary, interval_shown(summary, collapsed), metric),
                         "†" if collapsed else ""])
        interval = ([csv_score(found.gap.ci_low, metric), csv_score(found.gap.ci_high, metric)] if found.gap_shown
                    else ["", ""])
        rows.append([*start, "gap", "", "", "", csv_score(found.gap.difference, metric), "", *interval, found.gap.n,
                     "†" if found.gap_collapsed else ""])
    return rows


# --- the page -------------------------------------------------------------------------------------------------------

def legend(metrics: Sequence[Metric]) -> str:
    """What the cells, the flags, the summaries and the figures say; `metrics`: the matrices' main scores."""
    def each(words: Callable[[Metric], str]) -> str:
        return ", ".join(words(m) + (f" for {m.title}" if len(metrics) > 1 else "") for m in metrics)

    collapsed = "a collapsed or near-collapsed run" if any(m.target == "classes" for m in metrics) else \
        "a collapsed run"
    return (f"Cells: {' or '.join(m.unit for m in metrics)} of the cell's page, mean over seeds [95% t-interval over "
            f"seeds, clipped to {each(range_text)}] (number of seeds): a seed's runs over all of its protocol's "
            "folds pooled per test corpus, complete seed cycles only, as on the pages. No interval where the seeds "
            "do not vary (one seed, or a deterministic system such as the scikit-learn ones) or where a seed has a "
            f"collapsed run. † a seed with {collapsed} (the cell's page counts them); ‡ the sweep lacks runs of the "
            "cell (its page lists them). **no run**: no run of the method trains on that row's corpus and tests on "
            "that column's; **no complete seed**: runs, but no seed with all of its protocol's folds. Self: per "
            "seed, the mean of the method's diagonal cells, then over seeds (seeds with every diagonal cell); "
            f"cross: the same over the off-diagonal cells; gap: self - cross {each(difference_unit)}, per seed over "
            "the seeds both have, with the paired t-interval of those differences (serbench/reports/stats.py). '-': a "
            "cell of that kind has no run, or no seed has them all. The runs of different cells are different "
            "trained models: their seeds are replications, not pairs of one model. Figures: colour the mean, grey no "
            "number, the diagonal framed by a dashed line.")


def family_intro(matrix: Matrix) -> list[str]:
    """The heading and setting of one protocol family's matrices."""
    within = f"{DIAGONAL}[{','.join(['corpus=A', *(f'{k}={v}' for k, v in matrix.within)])}]"
    example = min(page.protocol for page in matrix.off.values())
    return [f"## {escape_md(matrix.family)}: {title_setting(matrix.setting)}", "",
            f"Off the diagonal: `{example}` and the other pairs of {escape_md(matrix.family)}. "
            f"{setting_line(matrix.setting)} On the diagonal: `{within}`, speaker-grouped folds within the corpus, "
            f"adaptation **none**: the same runs in the matrices of every family with these settings.", ""]


def provenance(matrices: Sequence[Matrix], command: str) -> list[str]:
    """The footer: data, front-ends, versions, seeds and runs of every drawn cell, and the commands."""
    records = {r.run_id: r for m in matrices for method in m.drawn for r in m.records(method)}
    data = sorted({(c, f[:16]) for r in records.values() for c, f in r.identity["data"].items()})
    frontends = sorted({(r.frontend, r.identity["frontend"]["hash"]) for r in records.values()})
    sweeps = sorted({shlex.join(["serbench", *argv[1:]]) for r in records.values()
                     if (argv := r.provenance.get("argv"))})
    synthetic = any(r.synthetic for r in records.values())
    return ["## Provenance", "",
            f"- Data: {'**SYNTHETIC** stand-ins, not the real corpora' if synthetic else 'real corpora'}; content "
            f"fingerprints: {', '.join(f'{escape_md(c)} `{f}`' for c, f in data)}",
            f"- Front-ends: {', '.join(f'{escape_md(n)} (configuration `{h}`)' for n, h in frontends)}",
            f"- serbench {', '.join(sorted({r.identity['serbench'] for r in records.values()}))}; seeds: "
            f"{', '.join(map(str, sorted({r.seed for r in records.values()})))}; runs: {len(records)}", "",
            "The runs were produced by:", "", "```", *sweeps, "```", "",
            "This file was generated by:", "", "```", command, "```"]


def opening(matrices: Sequence[Matrix], banner: str) -> list[str]:
    """The banner where a run read synthetic data, the title, what the page holds and the legend."""
    synthetic = any(r.synthetic for m in matrices for method in m.methods for r in m.records(method))
    scores = sorted({m.metric.name: m.metric for m in matrices}.values(), key=lambda metric: metric.title)
    return [*([banner, ""] if synthetic else []), "# Transfer matrices: each training corpus against each test corpus",
            "", "For each method and task: rows are the training corpus, columns the test corpus. Off the diagonal, "
                "the runs of a protocol that trains on one corpus and tests on another; on the diagonal, the "
                f"within-corpus protocol `{DIAGONAL}[corpus=A]`. Each protocol family is its own section, so a "
                "setting that adapts to the unlabelled test audio and one that does not are never one matrix.", "",
            legend(scores), ""]


def matrix_files(matrices: Sequence[Matrix], command: str, banner: str) -> dict[str, bytes]:
    """The page (NAME.md), its tables as LaTeX and CSV, and its figures, by relative path; nothing without
    matrices. `banner` opens the page where a run read synthetic data."""
    if not matrices:
        return {}
    out = Written(lines=opening(matrices, banner))
    family = None
    for matrix in matrices:
        if matrix.family != family:
            family = matrix.family
            out.lines += family_intro(matrix)
        matrix_section(matrix, out)
    out.lines += provenance(matrices, command)
    out.files[f"{NAME}.md"] = ("\n".join(out.lines) + "\n").encode()
    out.files[f"{NAME}.tex"] = "\n".join(out.tex).encode()
    out.files[f"{NAME}.csv"] = csv_text(CSV_HEADER, out.csv).encode()
    return out.files


def matrix_link(matrices: Sequence[Matrix]) -> str:
    """The index's line that links the page; empty without matrices."""
    if not matrices:
        return ""
    families = ", ".join(escape_md(f) for f in sorted({m.family for m in matrices}))
    tasks = ", ".join(escape_md(t) for t in sorted({m.task for m in matrices}))
    return (f"Train x test: [transfer matrices]({NAME}.md), each training corpus against each test corpus "
            f"({families}; {tasks}), the within-corpus runs on the diagonal.")
