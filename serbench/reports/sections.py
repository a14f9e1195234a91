"""The sections of a leaderboard page in markdown: the setting in words, the main table, the paired tests, the
ranking, the scores, the oracle gap and the provenance. A page's main score is its protocol's for the target of its
task (`Page.metric`: UA by default for classes, CCC for ratings); the other registered metrics of that target are
columns beside it. Every number of a score is shown as its Metric says (markdown.score_text)."""

from __future__ import annotations

import hashlib
import math
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serbench.data.labels import DIMENSIONAL_TASKS
from serbench.features.normalisation import NORMALISATIONS
from serbench.metrics import MAIN_METRICS, METRICS, NEAR_COLLAPSE_SHARE, TARGETS, Metric, main_metric
from serbench.protocols.protocol import ADAPTATIONS, SELECTIONS
from serbench.reports import stats
from serbench.reports.figures import cd_diagram, figure_files
from serbench.reports.known_classes import known_classes
from serbench.reports.markdown import (
    csv_score,
    csv_text,
    escape_md,
    interval_shown,
    number,
    p_value,
    percent,
    range_text,
    score_cell,
    score_text,
    table,
    tex_table,
)
from serbench.reports.records import configuration, configuration_id
from serbench.reports.tables import Block, Page, average_score, cell_scores, gaps, other_metrics, rank_table
from serbench.runs.external import FRONTEND as EXTERNAL
from serbench.runs.scores import degenerate


@dataclass(frozen=True)
class ClaimWords:
    """How a page words one claim (stats.CLAIMS)."""

    test: str  # the test behind the markers
    statement: str  # what a marker claims
    computation: str  # how the difference and its test are made, {score} the main score's title


CLAIM_WORDS = {
    "seeds": ClaimWords(
        "seed-level paired t-test",
        "The claim is about these test speakers, over training seeds: it does not say that new speakers of the "
        "corpus would show the difference (`serbench leaderboard --claim speakers` makes that claim).",
        "mean over the seeds where neither run collapsed (seeds trained: that many of the seeds both have). 95% CI "
        "and p: one paired t-test on those seeds' differences (n - 1 degrees of freedom)"),
    "speakers": ClaimWords(
        "new-speaker test over seeds and test speakers",
        "The claim is about new speakers of the corpus and new training seeds: on average over speakers like these "
        "test speakers (each weighing the same), of whom they are taken as a sample.",
        "mean over the seeds where neither run collapsed (seeds trained: that many of the seeds both have) and over "
        "the test speakers of each speaker's {score} difference (speakers weigh the same, so it can differ from the "
        "difference of the cells, where utterances do). 95% CI and p: one t-test whose standard error carries the "
        "seed, the speaker and the residual variance (two-way mean squares, Satterthwaite's degrees of freedom)"),
}


@dataclass(frozen=True)
class ScoreWords:
    """How pages word a score where its registry entry (Metric.title, Metric.description) is not enough."""

    opening: str = ""  # in a page's opening: "unweighted accuracy (UA, mean of per-class recalls)"
    index: str = ""  # in the index's opening: "Unweighted accuracy (UA)"
    listed: str = ""  # in a list of the scores: "WA (plain accuracy)"
    chance: str = ""  # where a collapsed run's score lies: " (100 / classes)"


SCORE_WORDS = {"ua": ScoreWords("unweighted accuracy (UA, mean of per-class recalls)", "Unweighted accuracy (UA)",
                                chance=" (100 / classes)"),
               "wa": ScoreWords(listed="WA (plain accuracy)"),
               "ccc": ScoreWords("Lin's concordance correlation coefficient (CCC, from -1 to 1: 1 where every "
                                 "predicted rating equals the true one, 0 for a constant prediction)",
                                 "Concordance correlation coefficient (CCC)", chance=" (0)"),
               "pcc": ScoreWords(listed="PCC (Pearson's r)"),
               "rmse": ScoreWords(listed="RMSE (on the scale -1 .. 1, lower is better)")}


# The embedding probes (runs/probes.py) classify a domain, so they score UA whatever the task's target.
PROBE_METRIC = METRICS["ua"]


def score_words(metric: Metric) -> ScoreWords:
    """The words of `metric`: its own (SCORE_WORDS), else its registry title and description."""
    own = SCORE_WORDS.get(metric.name, ScoreWords())
    return ScoreWords(own.opening or f"{metric.title} ({metric.description})", own.index or metric.title,
                      own.listed or metric.title, own.chance)


def in_unit(metric: Metric) -> str:
    """How a page says its numbers' unit after them: " in percent", or nothing for a score shown as it is."""
    return " in percent" if metric.percent else ""


def difference_unit(metric: Metric) -> str:
    """How a page says what a difference of two scores is: points of a score in per cent, else the difference of
    the scores as they are (a CCC difference is no percentage)."""
    return "in points" if metric.percent else "as a plain difference of the two"


def gap_lines(page: Page, markdown: bool = True) -> list[str]:
    shown = escape_md if markdown else str
    return [f"{shown(method)}{f' on {shown(corpus)}' if corpus else ''}: {shown(text)}"
            for (method, corpus), text in sorted(gaps(page).items())]


def setting_line(setting: Mapping) -> str:
    """What the protocol lets training and normalisation see, and which model a run keeps, in words."""
    selection = SELECTIONS[setting["selection"]].format(patience=setting["patience"])
    gain = " Audio: every file scaled to a peak of 1 (gain **peak**)." if setting["gain"] == "peak" else ""
    if setting.get("oracle"):
        selection += "; the best epoch on the test part is recorded too, as an upper bound only (oracle)"
    return (f"Adaptation: **{escape_md(setting['adaptation'])}** ({ADAPTATIONS[setting['adaptation']]}). "
            f"Normalisation: **{escape_md(setting['normalisation'])}**, "
            f"{NORMALISATIONS[setting['normalisation']]}.{gain} Model selection: {selection}.")


def frontends_line(page: Page, ids: bool = False) -> str:
    """Every front-end of the page with its configuration hash (and, with `ids`, its configuration id) and rows:
    "Front-ends: spectrogram (configuration `abc`) for baseline_s, dann1_s; egemaps (`def`) for egemaps_svm"."""
    parts = []
    for place, (frontend, record) in enumerate(page.frontends.items()):
        config = ("configuration " if place == 0 else "") + f"`{record.identity['frontend']['hash']}`"
        config += f", --config `{configuration_id(record)}`" if ids else ""
        if frontend == EXTERNAL:
            config = "predictions made outside serbench, scored by `serbench score`"
        rows = ", ".join(escape_md(m) for m in page.methods if page.frontend(m) == frontend)
        parts.append(f"{escape_md(frontend)} ({config}) for {rows}")
    return f"Front-ends: {'; '.join(parts)}"


def title_setting(setting: Mapping) -> str:
    if setting["adaptation"] != "none":
        return "adapted to unlabelled test audio"
    # Whole corpora held out are new domains; held-out speakers of the training corpora are new speakers.
    return "domain generalisation" if setting["split"] in ("corpus", "leave-one-corpus-out") else "new speakers"


def ranking_section(blocks: list[Block], methods: Sequence[str], metric: Metric, figure: str,
                    title: str) -> tuple[list[str], dict[str, bytes], dict[str, float]]:
    """Markdown, figure files (by relative path: `figure`, figures/<name>, with each format's extension; the page
    shows the PNG) and average ranks of a permutation ranking of `metric` over blocks."""
    complete, seeds, scores, left_out = rank_table(blocks, methods, metric)
    lines: list[str] = []
    if left_out:
        lines += ["Left out of the ranking: " + "; ".join(f"{escape_md(m)} ({reason})"
                                                          for m, reason in sorted(left_out.items())) + ".", ""]
    if len(complete) < 2 or len(blocks) < 2 or not seeds:
        lines.append(f"No ranking: it needs at least 2 methods and 2 blocks with a seed in common ({len(complete)} "
                     f"methods, {len(blocks)} blocks and {len(seeds)} common seeds here).")
        return lines, {}, {}
    draw_seed = int(hashlib.sha256(title.encode()).hexdigest()[:8], 16)
    result = stats.permutation_ranking(scores, seed=draw_seed)
    ranks = dict(zip(complete, result.ranks, strict=True))
    lines += [f"Blocks: {', '.join(escape_md(name) for name, _ in blocks)} ({result.blocks}); methods: "
              f"{result.methods}; seeds in common: {result.seeds}. Each seed's runs rank the methods in each block "
              f"(1 = best, ties share the mean rank); a method's average rank is over those seed x block cells.", ""]
    lines += table(["method", "average rank"],
                   [[escape_md(m), f"{ranks[m]:.3f}"] for m in sorted(complete, key=lambda m: (ranks[m], m))])
    if result.seeds < 2:
        lines += ["", "No test (one seed): relabelling the methods within a single seed moves every block together "
                      "and changes no rank sum, so there is no p-value and no critical difference. Run --seeds 2 "
                      "or more."]
        return lines, {}, ranks
    pairs = [f"{escape_md(complete[a])} vs {escape_md(complete[b])}" for a, b in result.pairs]
    verdict = (f"pairs whose average ranks differ by at least the CD: {', '.join(pairs) or 'none'}"
               if result.p < stats.ALPHA else "the omnibus test does not reject, so no pair is declared different")
    lines += ["", f"- Friedman chi2 (tie-corrected) = {number(result.statistic)} over the seed x block cells; "
                  f"permutation p = {p_value(result.p)} ({result.permutations} relabellings of the methods within "
                  f"each seed, each trained model's scores on all blocks moving together; docs/statistics.md)",
              f"- Critical difference of average ranks at family-wise alpha {stats.ALPHA} (permutation, max over "
              f"pairs): CD = {number(result.cd, 3)}; {verdict}"]
    collapsed = [f"{escape_md(m)} ({escape_md(name)})" for name, frame in blocks for m in complete
                 if degenerate(frame[(frame["method"] == m) & frame["seed"].isin(seeds)]).any()]
    if collapsed:
        what = "one class (or nearly only one)" if metric.target == "classes" else "one rating"
        lines.append(f"- † Runs that predicted {what} for a whole test corpus are ranked by the near-chance "
                     f"{metric.title} they got: {', '.join(collapsed)}")
    lines += ["", f"![critical-difference diagram: {escape_md(title)}]({figure}.png)"]
    return lines, figure_files(figure, cd_diagram(complete, list(result.ranks), result.cd, title)), ranks


def significance_markers(page: Page) -> dict[tuple[str, str], str]:
    """Per (test corpus, system): ▲ / ▼ where the system is significantly higher / lower than the reference."""
    return {(row["column"], row["method"]): ("▲" if row["difference"] > 0 else "▼")
            for row in page.comparisons.to_dict("records") if row["p_holm"] < stats.ALPHA}


def cell_flags(page: Page, method: str, corpus: str) -> str:
    """A cell's flags as the main table appends them: † where a seed has a collapsed run, ‡ where the sweep lacks
    runs of it."""
    flag = " †" if degenerate(cell_scores(page, method, corpus)).any() else ""
    return flag + (" ‡" if {(method, corpus), (method, "")} & set(gaps(page)) else "")


MainRows = tuple[list[str], list[list[str]], list[str]]  # the main table's header, rows and alignment


def main_rows(page: Page, ranks: Mapping[str, float]) -> MainRows:
    """The main table's markdown header, rows and alignment: rows = systems (method, front-end); columns = test
    corpora, the average, the average rank and the probe accuracies."""
    score = page.metric.name
    cells = {(m, c): cell_scores(page, m, c) for m in page.methods for c in page.columns}
    averages = {m: average_score(page, m) for m in page.methods}
    best = {c: max((float(v[score].mean()) for (m, col), v in cells.items() if col == c and len(v)),
                   default=math.nan) for c in page.columns}
    best_average = max((a.mean for a in averages.values() if a.n), default=math.nan)
    markers = significance_markers(page)
    probes = page.probed
    header = ["method", "front-end", *(escape_md(c) for c in page.columns), "average", "average rank",
              *(f"{escape_md(d)} probe UA" for d in probes)]
    rows = []
    for method in page.methods:
        row = [escape_md(method), escape_md(page.frontend(method))]
        for corpus in page.columns:
            summary = stats.summarize(cells[(method, corpus)][score].tolist(), bounds=page.metric.bounds)
            marker = markers.get((corpus, method), "")
            row.append(score_cell(summary, summary.mean == best[corpus], page.metric)
                       + cell_flags(page, method, corpus) + (f" {marker}" if marker else ""))
        row.append(score_cell(averages[method], averages[method].mean == best_average, page.metric))
        row.append(f"{ranks[method]:.2f}" if method in ranks else "-")
        row += [probe_cell(page, method, domain) for domain in probes]
        rows.append(row)
    return header, rows, ["l", "l", *["r"] * (len(header) - 2)]


def main_table(page: Page, main: MainRows) -> list[str]:
    """The main table (main_rows) and the legend below."""
    lines = [f"## {page.metric.title} per test corpus", "", *table(*main), "", main_legend(page)]
    return lines + unrated_note(page) + external_note(page) + collapse_note(page) + probe_note(page, page.probed)


def unrated_note(page: Page) -> list[str]:
    """Why test corpora of the protocol are no columns of a dimensional task's page: the task leaves them wholly
    unrated (Page.unrated), as the runs' exclusions count."""
    if not page.unrated:
        return []
    counts = ", ".join(f"{escape_md(corpus)} {sum(reasons.values())}" for corpus, reasons in page.unrated.items())
    counts += ": " + ", ".join(sorted({escape_md(r) for reasons in page.unrated.values() for r in reasons}))
    one = len(page.unrated) == 1
    return ["", f"Not scored: {', '.join(map(escape_md, page.unrated))}, test {'corpus' if one else 'corpora'} of "
                f"{escape_md(page.protocol)}, {'has' if one else 'have'} no {DIMENSIONAL_TASKS[page.task]} rating: "
                f"every run excluded all of {'its' if one else 'their'} utterances ({counts}), so no run of "
                f"{escape_md(page.task)} is scored there and the table has no column for {'it' if one else 'them'}."]


def known_classes_section(page: Page) -> list[str]:
    """Where a pretrained classifier names fewer classes than the task (Page.known): every system's score over
    the classes it names, beside the full task's in the main table."""
    if page.known.empty:
        return []
    score, title = page.metric.name, page.metric.title
    lines = ["", f"## {title} over the classes a classifier names", ""]
    for subset, rows in page.known.groupby("subset", sort=True):
        named = tuple(str(subset).split(", "))
        systems = sorted(r.method for r in page.records if known_classes(r) == named)
        unnamed = [c for c in page.records[0].classes if c not in named]
        cells = {(m, c): stats.summarize(rows[(rows["method"] == m) & (rows["corpus"] == c)][score].dropna().tolist(),
                                         bounds=page.metric.bounds)
                 for m in page.methods for c in page.columns}
        best = {c: max((cells[(m, c)].mean for m in page.methods if cells[(m, c)].n), default=math.nan)
                for c in page.columns}
        lines += [f"{', '.join(map(escape_md, dict.fromkeys(systems)))} can name {', '.join(map(escape_md, named))}"
                  f" and not {', '.join(map(escape_md, unnamed))}: in the main table that class is never predicted "
                  f"and its recall counts 0 in {title}. Here every system is scored over "
                  f"{', '.join(map(escape_md, named))} alone: the test utterances of the other classes are left out "
                  "and each remaining one is decided by the largest of its posteriors among these classes "
                  "(docs/pretrained.md). Cells: mean ± standard deviation over seeds (seeds), each seed's folds "
                  "pooled; **bold**: the best mean of the column.", ""]
        body = [[escape_md(m), *(score_cell(cells[(m, c)], cells[(m, c)].mean == best[c], page.metric)
                                 for c in page.columns)]
                for m in page.methods]
        lines += table(["method", *map(escape_md, page.columns)], body, ["l", *["r"] * len(page.columns)])
    return lines


def external_note(page: Page) -> list[str]:
    """What the rows of external systems are, where the page has some: their training is not serbench's."""
    systems = [escape_md(m) for m in page.methods if page.frontend(m) == EXTERNAL]
    if not systems:
        return []
    return ["", f"External: {', '.join(systems)} {'is a system' if len(systems) == 1 else 'are systems'} trained "
                "outside serbench on this protocol's exported splits, whose predictions `serbench score` checked "
                "(every labelled test utterance of each fold predicted once, on the same data) and scored like "
                "the other rows (docs/running.md). How such a system was trained is its authors' account, not "
                "serbench's: the adaptation, normalisation and model selection described above are those of "
                "serbench's runs."]


def main_tex(page: Page, main: MainRows) -> str:
    """The main table (main_rows) as a booktabs tabular: the same cells, numbers and markers as the markdown."""
    header, rows, align = main
    comment = (f"{page.protocol} / {page.task}: {page.metric.unit} per test corpus, mean ± standard deviation "
               f"over seeds (seeds); the legend is on {page.name}.md.\nNeeds \\usepackage{{booktabs}} and "
               f"\\usepackage{{amssymb}}.")
    return tex_table(header, rows, align, comment)


def main_csv(page: Page) -> str:
    """One row per system and test corpus: the main score's mean, standard deviation and seeds (as the page shows
    them, in percent or as they are, with more digits), the other registered metrics' means of its target, the
    cell's flags (†, ‡), and the paired test against the reference where the page has one: difference (points of
    a score in percent), 95% CI, p, p Holm and the marker. Empty: no value."""
    def probability(value: float) -> str:
        return "" if value is None or math.isnan(value) else f"{value:.6g}"

    metric, others = page.metric, other_metrics(page.metric)
    tested = {(row["column"], row["method"]): row for row in page.comparisons.to_dict("records")}
    markers = significance_markers(page)
    rows = []
    for method in page.methods:
        for corpus in page.columns:
            cell = cell_scores(page, method, corpus)
            main = stats.summarize(cell[metric.name].tolist(), bounds=metric.bounds)
            test = tested.get((corpus, method))
            rows.append([method, page.frontend(method), corpus, csv_score(main.mean, metric),
                         csv_score(main.std, metric), main.n,
                         *(csv_score(float(cell[m.name].mean()), m) if len(cell) else "" for m in others),
                         cell_flags(page, method, corpus).strip(),
                         *((*(csv_score(test[key], metric) for key in ("difference", "ci_low", "ci_high")),
                            probability(test["p"]), probability(test["p_holm"])) if test else [""] * 5),
                         markers.get((corpus, method), "")])
    header = ["method", "frontend", "corpus", f"{metric.name}_mean", f"{metric.name}_std", "seeds",
              *(f"{m.name}_mean" for m in others), "flags", "difference", "ci_low", "ci_high", "p", "p_holm",
              "marker"]
    return csv_text(header, rows)


def main_legend(page: Page) -> str:
    """What the main table's cells and markers say."""
    title = page.metric.title
    tests = page.comparisons["distinct"].nunique() if len(page.comparisons) else 0
    words = CLAIM_WORDS[page.claim]
    if page.reference is None:
        markers = "No markers: the page has no reference to test against. "
    else:
        markers = (f"▲ / ▼: significantly higher / lower {title} than {escape_md(page.reference)} on that corpus in "
                   f"the seeds where neither collapsed († counts the others; {words.test}, p < {stats.ALPHA} after "
                   f"Holm's correction across the {tests} distinct comparisons of this page, its family: each page "
                   f"is corrected on its own; docs/statistics.md"
                   f"{'; here no comparison had two seeds to test' if not tests else ''}). {words.statement} ")
    return (f"Cells: mean ± standard deviation of {page.metric.unit} over seeds (number of seeds); **bold**: the best "
            f"mean of the column. {markers}Average: {title} averaged over the test corpora per seed. Average rank: "
            f"over the test corpora (1 = best).")


def collapse_note(page: Page) -> list[str]:
    """The † note: which cells have seeds with a collapsed or near-collapsed run, and what that does to them."""
    flagged = page.cycles[degenerate(page.cycles)]
    if not len(flagged):
        return []
    counts = []
    for (method, corpus), seeds in flagged.groupby(["method", "corpus"], sort=True):
        cell = cell_scores(page, method, corpus)
        runs, near = int(seeds["collapsed"].sum()), int(seeds["near_collapsed"].sum())
        near_text = f" and {near} near-collapsed" if page.target == "classes" else ""
        counts.append(f"{escape_md(method)} on {escape_md(corpus)}: {len(seeds)} of {len(cell)} seeds, "
                      f"{runs} collapsed{near_text} of their {int(cell['folds'].sum())} runs")
    if page.target == "classes":
        what = (f"one that gave every test utterance of the corpus one class, or a near-collapsed one, that gave at "
                f"least {NEAR_COLLAPSE_SHARE:.0%} of them one class (docs/leaderboards.md). Such a run's "
                f"{page.metric.title} on its test speakers is at or near chance")
    else:
        what = (f"one that gave every test utterance of the corpus one rating (docs/leaderboards.md). Such a run's "
                f"{page.metric.title} on its test speakers is chance")
    return ["", f"† Seeds with a collapsed run, {what}{score_words(page.metric).chance}; a seed pooling it with "
                f"other folds, and a cell averaging such seeds with working ones, mix the two, so the cell's mean is "
                f"neither, and its interval is not shown (below). Counts: " + "; ".join(counts) + "."]


def probe_note(page: Page, probes: Sequence[str]) -> list[str]:
    """What the probe columns say; nothing without probes."""
    if not probes:
        return []
    classes = {d: sorted({(r.probes or {})[d]["classes"] for r in page.records if (r.probes or {}).get(d)})
               for d in probes}
    chance = "; ".join(f"{escape_md(d)}: {', '.join(str(c) for c in classes[d])} classes" for d in probes)
    return ["", f"Probe UA (%): how well a logistic-regression probe recovers the domain from the test "
                f"utterances' embeddings, trained and scored on different speakers (speaker-grouped "
                f"cross-validation; gender within each test corpus); chance is 100 / classes ({chance}). Lower "
                f"means a more domain-invariant embedding, which is what DANN aims for. Mean ± standard "
                f"deviation over seeds (number of seeds), a seed's probe UA being the mean over its folds. "
                f"Null: what the same probe scores on labels shuffled between the test speakers (mean ± "
                f"standard deviation over its runs' shufflings, averaged over the runs): with few speakers "
                f"chance spreads widely, and a probe UA within about two of its standard deviations of the "
                f"null says nothing. '-': the method exposes no embedding (or, for the null, its runs predate "
                f"it)."]


def probe_cell(page: Page, method: str, domain: str) -> str:
    """The probe UA of a row over seeds (each seed's folds averaged, as its seed cycle pools them) and the
    null reference of its runs. A probe is always scored in UA, whatever the page's main score."""
    probes = {r.run_id: (r.probes or {})[domain] for r in page.records
              if r.method == method and (r.probes or {}).get(domain)}
    if not probes:
        return "-"
    by_seed: dict[int, list[float]] = {}
    for record in page.records:
        if record.run_id in probes:
            by_seed.setdefault(record.seed, []).append(probes[record.run_id]["ua"])
    summary = stats.summarize([float(np.mean(values)) for _, values in sorted(by_seed.items())])
    nulls = [probe.get("null") or {} for probe in probes.values()]
    null = ("null -" if not all(nulls) else
            f"null {percent(float(np.mean([n['mean'] for n in nulls])))} ± "
            f"{percent(float(np.mean([n['std'] for n in nulls])))}")
    return f"{score_cell(summary, False, PROBE_METRIC)}; {null}"


def tests_section(page: Page) -> list[str]:
    """The paired tests against the page's reference, and how to read them."""
    if page.reference is None:
        return ["No paired tests: the page has no reference (its protocol names none; name one with --reference)."]
    if page.comparisons.empty:
        return [f"No paired tests: the reference {escape_md(page.reference)} has no runs here, or no other method "
                f"shares at least two of its seeds (run --seeds 2 or more; name another reference with --reference)."]
    metric, title = page.metric, page.metric.title
    rows = [comparison_row(row, metric) for row in page.comparisons.itertuples()]
    trained, words = "seeds trained" + (" x speakers" if page.claim == "speakers" else ""), CLAIM_WORDS[page.claim]
    lines = table(["test corpus", "method", f"Δ{title}", "95% CI (unadjusted)", "p", "p Holm", trained,
                   "detectable", "collapsed seeds"], rows, ["l", "l", *["r"] * 7])
    within = (f" A speaker's {title} is over that speaker's utterances alone: how closely a system follows the "
              f"ratings within one speaker, where a cell's {title} also counts how it places the speakers against "
              f"each other; speakers whose true ratings are all one value have no {title} and are left out."
              if page.claim == "speakers" and page.target == "ratings" else "")
    collapsed = "a collapsed or near-collapsed run" if page.target == "classes" else "a collapsed run"
    lines += ["", f"Δ{title}: {title} of the method minus {title} of {escape_md(page.reference)}, "
                  f"{difference_unit(metric)}, {words.computation.format(score=title)}, "
                  "so p < 0.05 exactly when the interval excludes 0; both are unadjusted, so an interval that "
                  f"excludes 0 without a marker is not significant after the correction.{within} {words.statement} "
                  "Both are about the runs where both systems train: a method that collapses in some runs has no "
                  f"valid test of its mean {title} over all of them with a few seeds (docs/statistics.md), so its "
                  "collapses are a second claim. p "
                  "Holm: Holm-corrected across this page's distinct comparisons (the ▲/▼ markers; comparisons with "
                  "the same per-seed differences on one corpus count once). The test's type-I error is measured by "
                  "simulation in docs/statistics.md, collapsing methods included. Detectable: the smallest true "
                  f"Δ{title}{' (points)' if metric.percent else ''} this design finds with 80% power at p < "
                  f"{stats.ALPHA}, given the test's standard error and degrees of freedom; Holm's correction only "
                  "raises it. A difference below it may well exist without a marker: no marker is not no difference. "
                  f"Collapsed seeds: the method's / the reference's seeds with {collapsed} (†), and where any, p of "
                  "McNemar's exact test that the two collapse equally often (unadjusted; with fewer than 6 seeds it "
                  "cannot reach 0.05)."]
    if page.comparisons["p"].isna().any():
        lines += ["", "'-': no test. Fewer than two seeds where both trained"
                      + (f", or fewer than {stats.MIN_SPEAKERS} test speakers" if page.claim == "speakers" else
                         f", or both systems gave the same {title} in every such seed (deterministic, as the "
                         "scikit-learn estimators are), so their difference is exact on these test speakers and the "
                         "seeds are no replications to test it over") + "."]
    return lines


def comparison_row(row: Any, metric: Metric) -> list[str]:
    """A row of compare() as the tests table shows it, differences of `metric` as the page shows its scores."""
    def points(value: float, sign: str = "+") -> str:
        return score_text(value, metric, sign)

    interval = "-" if math.isnan(row.ci_low) else f"[{points(row.ci_low)}, {points(row.ci_high)}]"
    collapsed = f"{row.collapsed} / {row.reference_collapsed}"
    if row.collapsed or row.reference_collapsed:
        collapsed += f", p {p_value(row.collapse_p)}"
    trained = f"{row.working} of {row.seeds}" + (f" x {row.speakers}" if row.speakers else "")
    return [escape_md(row.column), escape_md(row.method), points(row.difference), interval, p_value(row.p),
            p_value(row.p_holm), trained, points(row.detectable, ""), collapsed]


def scores_section(page: Page) -> list[str]:
    """Per test corpus and system: the main score's mean, interval and std over seeds, the other registered
    metrics' means of its target, the seeds and the test utterances."""
    metric, others = page.metric, other_metrics(page.metric)
    title = metric.title
    rows = []
    for corpus in page.columns:
        for method in page.methods:
            cell = cell_scores(page, method, corpus)
            if cell.empty:
                continue
            main = stats.summarize(cell[metric.name].tolist(), bounds=metric.bounds)
            shown = interval_shown(main, bool(degenerate(cell).any()))
            interval = f"[{score_text(main.ci_low, metric)}, {score_text(main.ci_high, metric)}]" if shown else "-"
            rows.append([escape_md(corpus), escape_md(method), score_text(main.mean, metric), interval,
                         score_text(main.std, metric), *(score_text(float(cell[m.name].mean()), m) for m in others),
                         str(main.n), str(int(cell["n"].iloc[0]))])
    lines = table(["test corpus", "method", title, f"{title} 95% CI", f"{title} std", *(m.title for m in others),
                   "seeds", "utterances"], rows, ["l", "l", *["r"] * (5 + len(others))])
    listed = [score_words(m).listed for m in [metric, *others]]
    return [*lines, "", f"{', '.join(listed[:-1])} and {listed[-1]}{in_unit(metric)}, means over seeds; the {title} "
                        f"interval is Student's t over seeds, clipped to {range_text(metric)}, and '-' where the "
                        "seeds do not vary "
                        "(one seed, or a deterministic system: a zero-width interval would claim a certainty the "
                        "design does not have) or where some seed has a collapsed run († above: seeds that are a "
                        "mixture of working and collapsed runs are far from the normal model behind the interval, "
                        "which then covers the mean less often than it says). Utterances: test utterances of the "
                        "corpus in one seed, over all folds."]


def oracle_section(page: Page) -> list[str]:
    """Under a protocol with `oracle = true`: each cell's score as its protocol chose the model beside the score of
    the best epoch on the test part (per run and test corpus, pooled per seed as the cells are), an upper bound
    that no method may claim; nothing for methods without epochs. In the score the oracle chooses by
    (training.EpochOracle: the target's main score, UA or CCC), whatever the page's main score."""
    oracle_metric, statistic = main_metric(page.target), TARGETS[page.target]
    title = oracle_metric.title
    runs = {r.run_id: r for r in page.records}
    rows = []
    for corpus in page.columns:
        for method in page.methods:
            cell = cell_scores(page, method, corpus)
            best = [[runs[i].selection.get("oracle", {}).get(corpus) for i in ids] for ids in cell["run_ids"]]
            if cell.empty or not all(all(seed) for seed in best):
                continue
            oracle = float(np.mean([oracle_metric.pooled([np.asarray(b[statistic]) for b in seed])
                                    for seed in best]))
            chosen, epochs = float(cell[oracle_metric.name].mean()), [b["epoch"] for seed in best for b in seed]
            rows.append([escape_md(corpus), escape_md(method), score_text(chosen, oracle_metric),
                         score_text(oracle, oracle_metric), score_text(oracle - chosen, oracle_metric, "+"),
                         f"{min(epochs)}-{max(epochs)}" if len(set(epochs)) > 1 else str(epochs[0])])
    if not rows:
        return []
    return ["", "## Gap to the test-set oracle (an upper bound, not a result)", "",
            *table(["test corpus", "method", title, f"oracle {title}", "gap", "oracle epochs"], rows,
                   ["l", "l", "r", "r", "r", "r"]),
            "", f"{title}: as the protocol's model selection chose (above). Oracle {title}: each run's best epoch on "
                "the test part itself, per test corpus, pooled over a seed's folds and averaged over seeds: what "
                "choosing the epoch could give at most. It looks at the test labels, so it is never a method's "
                "score, only the room model selection leaves. Methods fitted in one call have no epochs and no row "
                "here."]


def provenance(page: Page, command: str) -> list[str]:
    """The footer: data, setting, folds, front-ends, versions, seeds, settings and what model selection chose, and
    the commands that made the runs and this file."""
    records, cycles = page.records, page.cycles
    first = records[0]
    setting = first.identity["protocol"]
    synthetic = any(r.synthetic for r in records)
    conf = configuration(first)
    versions = sorted({r.identity["serbench"] for r in records})
    commits = sorted({str(r.provenance.get("git_commit")) for r in records})
    seeds = sorted(set(cycles["seed"])) if len(cycles) else []
    folds = sorted({r.fold for r in records})
    # "serbench", however the command was started (the script, `python -m serbench`, a worker's path)
    sweeps = sorted({shlex.join(["serbench", *argv[1:]]) for r in records if (argv := r.provenance.get("argv"))})
    fingerprints = ", ".join(f"{escape_md(c)} `{f[:16]}`" for c, f in sorted(conf["data"].items()))
    fold_text = f"{len(folds)} ({', '.join(map(escape_md, folds))}), pooled per seed" if folds != [""] else "one"
    lines = ["## Provenance", "",
             f"- Data: {'**SYNTHETIC** stand-ins, not the real corpora' if synthetic else 'real corpora'}; "
             f"content fingerprints: {fingerprints}",
             f"- {setting_line(setting)}",
             f"- Split: {escape_md(setting['split'])}; folds: {fold_text}",
             f"- {frontends_line(page, ids=True)}; protocol content `{conf['protocol']}`",
             f"- serbench {', '.join(versions)}; git commit(s) of the runs: {', '.join(f'`{c}`' for c in commits)}",
             f"- Seeds: {', '.join(map(str, seeds))}; runs: {len(records)}", "",
             "Hyperparameters of each method:", ""]
    hparams: dict[str, dict] = {}
    for record in records:
        hparams.setdefault(record.method, record.identity["hparams"])
    lines += table(["method", "hyperparameters", "chosen on training speakers"],
                   [[escape_md(m), escape_md(", ".join(f"{k}={v}" for k, v in sorted(h.items()))),
                     escape_md(selection_summary([r.selection for r in records if r.method == m]))]
                    for m, h in sorted(hparams.items())], ["l", "l", "l"])
    lines += ["", "The runs were produced by:", "", "```", *sweeps, "```", "",
              "This file was generated by:", "", "```", command, "```"]
    return lines


# What a run's `selection` says besides its choices: the policy, how it chose, and the score it chose by (UA, or
# CCC for ratings: training.py's validation_<score>, the eGeMAPS searches' selection_<score>).
SELECTION_CONTEXT = ("policy", "chosen_by", *(f"{kind}_{name}" for kind in ("selection", "validation")
                                               for name in MAIN_METRICS.values()), "oracle", "held_out")


def selection_summary(selections: Sequence[Mapping]) -> str:
    """What model selection chose over these runs: the kept epoch as its range and median, every other setting as
    counts of its values over the runs (`C=1 (4), C=0.1 (1); gamma=0.25 (5)`); "-" when nothing was chosen."""
    def shown(value: object) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    parts = []
    for key in sorted({k for s in selections for k in s} - set(SELECTION_CONTEXT)):
        values = [s[key] for s in selections if key in s]
        if key == "epoch":
            low, high, median = min(values), max(values), shown(float(np.median(values)))
            parts.append(f"epoch {low}" if low == high else f"epoch {low}-{high} (median {median})")
        else:
            counts = sorted(Counter(shown(v) for v in values).items(), key=lambda c: (-c[1], c[0]))
            parts.append(", ".join(f"{key}={v} ({n})" for v, n in counts))
    return "; ".join(parts) or "-"
