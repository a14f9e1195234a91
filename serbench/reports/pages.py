"""Leaderboards: a results store aggregated over seeds, tested against a reference and published as markdown.

`write_leaderboards(results, out)` writes into `out`:
    README.md                               the index: every page, and per protocol the ranking across test
                                            corpora and tasks (permutation test, critical-difference diagram)
    index.tex, index.csv                    the index's table of pages as LaTeX and CSV
    <protocol>-<task>.md                    one page per (protocol, task): rows = systems (a method on a
                                            front-end), columns = test corpora
    <protocol>-<task>.tex, .csv             its main table as a booktabs tabular, and per system and test corpus
                                            its numbers and paired test as CSV (sections.main_tex, main_csv)
    figures/<protocol>-cd.png               critical-difference diagram across test corpora and tasks
    figures/<protocol>-<task>-cd.png        the same across the page's test corpora
    figures/<protocol>-<task>-confusion-<method>.png   confusion matrices summed over seeds (tasks of classes)
    transfer-matrix.md, .tex, .csv          per one-corpus-to-another protocol family (transfer, transfer-dg) and
                                            task, each method's train x test matrix, the within-corpus runs on
                                            the diagonal (serbench.reports.transfer_matrix)
    figures/transfer-matrix-<family>-<task>.png   its heatmaps
    (each figure also as .svg and .pdf)
The unit of every number is a seed: a seed's runs over all of a protocol's folds, their confusion matrices (or, for
a dimensional task, their rating sums) summed per test corpus (serbench.runs.scores.cycle_rows). A page's main score
is its protocol's for the target of its task (metrics.main_metric: Protocol.score for classes, CCC for ratings), and
its reference methods its protocol's (Protocol.references; a dimensional task's page then tries
TARGET_REFERENCES); --reference overrides the protocol's references. The same store gives
byte-identical files: everything is sorted, floats have fixed formats, permutation draws are seeded from the names
they compare, and figures carry no software or date metadata.

A page shows every front-end its protocol's runs used: the systems are all scored on the same test utterances of
the same split (serbench.reports.records.select_configuration). The statistics are in serbench/reports/stats.py
and explained in docs/statistics.md.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from serbench.data.labels import DIMENSIONAL_TASKS, RATING_RANGE, task_target
from serbench.data.synth import SYNTHETIC_EXPLANATION, SYNTHETIC_LABEL
from serbench.errors import SerbenchError
from serbench.files import write_atomic
from serbench.metrics import MAIN_METRIC, METRICS, main_metric
from serbench.protocols.protocol import load_protocol
from serbench.reports import stats
from serbench.reports.comparisons import compare
from serbench.reports.figures import figure_files, page_confusions
from serbench.reports.markdown import csv_text, escape_md, slug, table, tex_table
from serbench.reports.records import configuration_id, load_records, select_configuration
from serbench.reports.sections import (
    frontends_line,
    gap_lines,
    in_unit,
    known_classes_section,
    main_csv,
    main_rows,
    main_table,
    main_tex,
    oracle_section,
    provenance,
    ranking_section,
    score_words,
    scores_section,
    setting_line,
    tests_section,
    title_setting,
)
from serbench.reports.tables import (
    Page,
    build_page,
    gaps,
    known_class_rows,
    missing_tasks,
    page_blocks,
    speaker_rows,
)
from serbench.reports.transfer_matrix import matrix_files, matrix_link, transfer_matrices
from serbench.runs.record import RunRecord
from serbench.runs.store import ResultsStore, name_variants

SYNTHETIC_BANNER = f"> **{SYNTHETIC_LABEL}**: {SYNTHETIC_EXPLANATION}."
# The references a page of a target tries after its protocol's (Protocol.references), which in the built-in
# protocols are classifiers: for the dimensional tasks, the AVEC challenges' baseline regressor.
TARGET_REFERENCES = {"ratings": ("egemaps_ridge",)}


def task_words(page: Page) -> str:
    """What the page's task predicts, for its opening: its classes, or the rating and its scale."""
    if page.target == "classes":
        return f"classes: {', '.join(map(escape_md, page.class_names))}"
    low, high = RATING_RANGE
    return (f"the {DIMENSIONAL_TASKS[page.task]} rating of each test utterance, each corpus's scale mapped onto "
            f"{low:g} .. {high:g}; docs/labels.md")


def page_markdown(page: Page, command: str) -> tuple[str, dict[str, bytes]]:
    """The markdown of one page and its other files by relative path: its figures, and its main table as LaTeX
    and CSV."""
    files: dict[str, bytes] = {}
    synthetic = any(r.synthetic for r in page.records)
    setting = page.setting
    lines = [SYNTHETIC_BANNER, ""] if synthetic else []
    missing = gap_lines(page)
    stamp = " (incomplete sweep)" if missing else ""
    reference = (f"Reference for the significance markers: **{escape_md(page.reference)}**." if page.reference else
                 "No reference for the significance markers: the protocol names none (name one with --reference).")
    lines += [f"# {escape_md(page.protocol)} / {escape_md(page.task)}: {title_setting(setting)}{stamp}", "",
              f"Protocol **{escape_md(page.protocol)}**: {escape_md(setting['description'])}. "
              f"{frontends_line(page)} (docs/frontends.md). Task "
              f"**{escape_md(page.task)}** ({task_words(page)}). "
              f"Metric: {score_words(page.metric).opening}{in_unit(page.metric)}; the unit is a seed, "
              f"its runs over all of the protocol's folds pooled per test corpus. {reference}", "",
              setting_line(setting), ""]
    if missing:
        lines += ["> **Incomplete sweep**, published with `--allow-incomplete`: its runs do not cover the protocol. "
                  "Seed cycles that lack a fold's run test only some of the speakers, so they are left out of every "
                  "number below; ‡ marks the cells concerned:", ">",
                  *(f"> - {line}" for line in missing), ""]
    ranking, ranking_figures, ranks = ranking_section(page_blocks(page), page.methods, page.metric,
                                                      f"figures/{page.name}-cd",
                                                      f"{page.protocol} / {page.task}: test corpora")
    files.update(ranking_figures)
    main = main_rows(page, ranks)  # the markdown and the LaTeX show the same cells
    lines += main_table(page, main) + known_classes_section(page)
    files[f"{page.name}.tex"] = main_tex(page, main).encode()
    files[f"{page.name}.csv"] = main_csv(page).encode()
    lines += ["", "## Paired tests against the reference", "", *tests_section(page)]
    lines += ["", "## Ranking across the test corpora", "", *ranking]
    lines += ["", "## Scores per test corpus", "", *scores_section(page)]
    lines += oracle_section(page)
    lines += confusion_section(page, files) if page.target == "classes" else [""]  # ratings have no confusion
    lines += provenance(page, command)
    return "\n".join(lines) + "\n", files


def confusion_section(page: Page, files: dict[str, bytes]) -> list[str]:
    """The confusion matrices of a page of classes, each system's figure added to `files`."""
    lines = ["", "## Confusion matrices", "",
             "Summed over seeds and folds; rows are the true classes, colours the share of each true class.", ""]
    for method in page.methods:
        images = page_confusions(page, method)
        if images is not None:
            stem = f"figures/{page.name}-confusion-{slug(method)}"
            files.update(figure_files(stem, images))
            lines += [f"![confusion matrices of {escape_md(method)}]({stem}.png)", ""]
    return lines


INDEX_HEADER = ["page", "front-ends", "adaptation", "normalisation", "methods", "test corpora", "seeds", "runs",
                "data", "configuration"]
INDEX_ALIGN = ["l", "l", "l", "l", "r", "l", "r", "r", "l", "l"]


def page_link(page: Page) -> str:
    incomplete = " (incomplete)" if gaps(page) else ""
    return f"[{escape_md(page.protocol)} / {escape_md(page.task)}]({page.name}.md){incomplete}"


def index_cells(page: Page, markdown: bool = True) -> list[str]:
    """A page's cells of the index's table after its link (INDEX_HEADER), in markdown or as plain text."""
    shown, code = (escape_md, "`") if markdown else (str, "")
    return [", ".join(map(shown, page.frontends)), shown(page.setting["adaptation"]),
            shown(page.setting["normalisation"]), str(len(page.methods)), ", ".join(map(shown, page.columns)),
            str(len(set(page.cycles["seed"]))), str(len(page.records)),
            "synthetic" if any(r.synthetic for r in page.records) else "real",
            ", ".join(f"{code}{configuration_id(r)}{code}" for r in page.frontends.values())]


def index_tables(pages: Sequence[Page]) -> dict[str, bytes]:
    """The index's table of pages as LaTeX (index.tex) and CSV (index.csv, a page as its protocol, task, file and
    whether its sweep is incomplete)."""
    plain = [[p.protocol, p.task, f"{p.name}.md", "yes" if gaps(p) else "no", *index_cells(p, markdown=False)]
             for p in pages]
    tex_rows = [[escape_md(f"{row[0]} / {row[1]}" + (" (incomplete)" if row[3] == "yes" else "")),
                 *map(escape_md, row[4:])] for row in plain]
    return {"index.tex": tex_table(INDEX_HEADER, tex_rows, INDEX_ALIGN, "The leaderboards' pages (README.md).\n"
                                   "Needs \\usepackage{booktabs}.").encode(),
            "index.csv": csv_text(["protocol", "task", "page", "incomplete", *INDEX_HEADER[1:]], plain).encode()}


def index_markdown(pages: Sequence[Page], rankings: Mapping[str, list[str]], command: str, intro: str = "",
                   tasks_missing: Mapping[str, list[str]] | None = None, links: str = "") -> str:
    """The index; `intro` (markdown, the publisher's: what the pages hold and how to read them) opens it;
    `tasks_missing`: per protocol, its tasks without a page; `links`: a line under the table of pages that links
    the pages beside them (the transfer matrices)."""
    synthetic = any(r.synthetic for page in pages for r in page.records)
    lines = [SYNTHETIC_BANNER, ""] if synthetic else []
    lines += [intro.strip(), ""] if intro.strip() else ["# serbench leaderboards", ""]
    # each page's main score, those of classes first: "Unweighted accuracy (UA) or concordance correlation ..."
    words = sorted({(p.target, score_words(p.metric).index) for p in pages})
    scores = " or ".join(text if place == 0 else text[0].lower() + text[1:]
                         for place, (_, text) in enumerate(words))
    lines += [f"{scores} of each method per test corpus, over seeds, with paired significance tests "
              "against a reference and rankings across test corpora and tasks. How to read them: "
              "docs/leaderboards.md; the statistics: docs/statistics.md.", ""]
    lines += table(INDEX_HEADER, [[page_link(p), *index_cells(p)] for p in pages], INDEX_ALIGN)
    lines += ["", links] if links else []
    incomplete = sum(1 for p in pages if gaps(p))
    if incomplete:
        lines += ["", f"**Incomplete sweeps**, published with `--allow-incomplete`: {incomplete} page(s) lack runs "
                      "their protocol has; each lists them and marks the cells ‡."]
    for protocol, tasks in (tasks_missing or {}).items():
        lines += ["", f"Protocol {escape_md(protocol)} also defines task(s) {', '.join(map(escape_md, tasks))}, on "
                      f"which no run was made: they have no page, and its ranking is across the tasks above."]
    for protocol, section in rankings.items():
        lines += ["", f"## {escape_md(protocol)}: ranking across test corpora and tasks", "", *section]
    records = [r for page in pages for r in page.records]
    versions = sorted({r.identity["serbench"] for r in records})
    lines += ["", "## Provenance", "", f"serbench {', '.join(versions)}; each page lists its data fingerprints, "
              "settings and the commands that produced its runs.", "", "Generated by:", "", "```", command, "```"]
    return "\n".join(lines) + "\n"




# --- the whole job ------------------------------------------------------------------------------------------------

def leaderboard_command(results: str | Path, out: str | Path, *, protocol: str | None = None,
                        task: str | None = None, references: Sequence[str] | None = None,
                        configs: Sequence[str] = (), intro: str | Path | None = None,
                        allow_incomplete: bool = False, claim: str = "seeds") -> str:
    """The `serbench leaderboard` command line that regenerates these files (recorded in their footers)."""
    words = ["serbench", "leaderboard", "--results", str(results), "--out", str(out)]
    words += ["--allow-incomplete"] if allow_incomplete else []
    words += ["--claim", claim] if claim != "seeds" else []
    for option, value in (("--protocol", protocol), ("--task", task), ("--intro", intro)):
        if value is not None:
            words += [option, str(value)]
    for config in configs:
        words += ["--config", config]
    for reference in references or ():
        words += ["--reference", reference]
    return shlex.join(words)


def protocol_choices(protocol: str, references: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    """The score a protocol's pages choose (Protocol.score: each page takes metrics.main_metric of its task's
    target and this) and the references they try, in order: its own (Protocol.references), overridden by
    `references` (--reference). A protocol that cannot be loaded (a file that is not here) has the default score
    and no references of its own. The tests and rankings take a higher score to be better (stats.py), so a score
    that is better when lower is refused."""
    try:
        loaded = load_protocol(protocol)
        score, own = loaded.score, loaded.references
    except SerbenchError:
        score, own = MAIN_METRIC, ()
    metric = METRICS[score]
    if not metric.higher_is_better:
        raise SerbenchError(f"protocol {protocol}: its score {score} is better when lower, which the leaderboards' "
                            f"tests, rankings and best cells (higher is better) would get backwards",
                            hint="declare a score that is better when higher (`score = ...` in the protocol file)")
    return score, tuple(own if references is None else references)


def page_reference(records: Sequence[RunRecord], references: Sequence[str]) -> str | None:
    """A page's reference: the first of `references` with runs on it; with none of them, the first (and the page
    has no paired tests); with no references, none."""
    present = {r.method for r in records}
    return next((m for m in references if m in present), references[0] if references else None)


def check_references(records: Sequence[RunRecord], choices: Mapping[str, tuple[str, tuple[str, ...]]],
                     references: Sequence[str] | None) -> None:
    """A reference must name one variant where a method has several; `references` given on the command line must
    have runs."""
    for protocol, (_, tried) in choices.items():
        present = {r.method for r in records if r.protocol == protocol}
        for reference in tried:
            variants = sorted(m for m in present if m.startswith(f"{reference}["))
            if variants and reference not in present:
                raise SerbenchError(f"the reference {reference} has several variants here: {', '.join(variants)}",
                                    hint=f"name one: --reference '{variants[0]}'")
    present = {r.method for r in records}
    if references is not None and not present.intersection(references):
        raise SerbenchError(f"--reference {', '.join(references)}: no finished run of such a method",
                            hint=f"methods present: {', '.join(sorted(present))}")


def build_pages(records: Sequence[RunRecord], choices: Mapping[str, tuple[str, tuple[str, ...]]],
                claim: str) -> list[Page]:
    """One page per (protocol, task), each with its protocol's score for its task's target and its reference
    (then, for a dimensional task, TARGET_REFERENCES); `absent` names the systems of the protocol's other pages
    of the same target that have no runs on it (a classifier is no gap of a page of ratings)."""
    pages = []
    for protocol, task in sorted({(r.protocol, r.task) for r in records}):
        chosen = [r for r in records if (r.protocol, r.task) == (protocol, task)]
        score, references = choices[protocol]
        target = task_target(task)
        reference = page_reference(chosen, (*references, *TARGET_REFERENCES.get(target, ())))
        page = build_page(protocol, task, chosen, reference, main_metric(target, score))
        page.claim = claim
        pages.append(page)
    for page in pages:
        others = {m for p in pages if (p.protocol, p.target) == (page.protocol, page.target) for m in p.methods}
        page.absent = sorted(others - set(page.methods))
    return pages


def refuse_gaps(pages: Sequence[Page], store: ResultsStore) -> None:
    """A SerbenchError that lists what the sweep lacks against its protocol, if anything (gaps)."""
    found = [f"{p.protocol} / {p.task}: {line}" for p in pages for line in gap_lines(p, markdown=False)]
    if found:
        shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
        raise SerbenchError(f"the sweep does not cover its protocol, so its pages would look complete and are not: "
                            f"{shown}", path=store.root,
                            hint="finish the sweep (run its command again: the store resumes where it stopped), "
                                 "or publish with --allow-incomplete, which says so on every affected page and cell")


def page_files(page: Page, store: ResultsStore, command: str) -> dict[str, bytes]:
    """The page's markdown, tables and figures by relative path, after its paired tests against its reference."""
    if page.reference in page.methods:
        if page.claim == "speakers":
            page.speakers = speaker_rows(store, page.cycles, page.metric)
        page.comparisons = compare(page, page.reference)
    page.known = known_class_rows(store, page)
    text, files = page_markdown(page, command)
    return {f"{page.name}.md": text.encode(), **files}


def rankings(pages: Sequence[Page]) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    """Per protocol and target, the markdown of its ranking across its test corpora and tasks, and the figures,
    by the ranking's name: the protocol's for its tasks of classes, "<protocol>, ratings" for its dimensional
    tasks (a score of classes and one of ratings never rank one block against another)."""
    sections, figures = {}, {}
    for protocol, target in sorted({(p.protocol, p.target) for p in pages}):
        chosen = [p for p in pages if (p.protocol, p.target) == (protocol, target)]
        name = protocol if target == "classes" else f"{protocol}, {target}"
        blocks = [block for p in chosen for block in page_blocks(p)]
        methods = sorted({m for p in chosen for m in p.methods})
        sections[name], drawn, _ = ranking_section(blocks, methods, chosen[0].metric, f"figures/{slug(name)}-cd",
                                                   f"{name}: test corpora x tasks")
        figures.update(drawn)
    return sections, figures


def read_intro(intro: str | Path | None) -> str:
    try:
        return Path(intro).read_text() if intro is not None else ""
    except OSError as error:
        raise SerbenchError(f"cannot read the index's introduction ({error.strerror})", path=intro,
                            hint="--intro takes a markdown file") from None


def write_leaderboards(results: str | Path, out: str | Path = "leaderboards", *, protocol: str | None = None,
                       task: str | None = None, references: Sequence[str] | None = None,
                       configs: Sequence[str] = (), intro: str | Path | None = None,
                       allow_incomplete: bool = False, command: str | None = None,
                       claim: str = "seeds") -> list[Path]:
    """Write the index, one page per (protocol, task) and the figures into `out`; return the written paths. Each
    page's main score is its protocol's, and its reference the first of the protocol's references with runs on
    it, or of `references` where given (--reference); `configs` choose configurations as select_configuration
    says; the markdown file `intro` opens the index. A page whose runs do not cover its protocol (gaps) is
    refused, unless `allow_incomplete`: then it says so and marks it. A task of the protocol without runs has no
    page, and the index names it (missing_tasks). `claim` (stats.CLAIMS): what the markers claim, about these test
    speakers over seeds or about new speakers too."""
    if claim not in stats.CLAIMS:
        raise SerbenchError(f"unknown claim {claim!r}", hint=f"one of {', '.join(stats.CLAIMS)}")
    store = ResultsStore(results)
    intro_text = read_intro(intro)
    # Variants of a method (other hyperparameters, front-end, code or serbench version) are rows of their own.
    records = name_variants(select_configuration(load_records(store, protocol, task), configs))
    choices = {name: protocol_choices(name, references) for name in sorted({r.protocol for r in records})}
    check_references(records, choices, references)
    command = command or leaderboard_command(results, out, protocol=protocol, task=task, references=references,
                                             configs=configs, intro=intro, allow_incomplete=allow_incomplete,
                                             claim=claim)
    pages = build_pages(records, choices, claim)
    tasks_missing = missing_tasks(pages) if task is None else {}
    if not allow_incomplete:
        refuse_gaps(pages, store)
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    for page in pages:
        files.update(page_files(page, store, command))
    sections, figures = rankings(pages)
    files.update(figures)
    matrices = transfer_matrices(pages)
    files.update(matrix_files(matrices, command, SYNTHETIC_BANNER))
    files["README.md"] = index_markdown(pages, sections, command, intro_text, tasks_missing,
                                        matrix_link(matrices)).encode()
    files.update(index_tables(pages))
    for relative, data in sorted(files.items()):
        write_atomic(out / relative, data)
    return [out / relative for relative in sorted(files)]
