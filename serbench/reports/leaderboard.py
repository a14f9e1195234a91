"""Leaderboards: a results store aggregated over seeds, tested against a reference and published as markdown.

`write_leaderboards(results, out)` writes into `out`:
    README.md                               the index: every page, and per protocol the ranking across test
                                            corpora and tasks (permutation test, critical-difference diagram)
    <protocol>-<task>.md                    one page per (protocol, task): rows = systems (a method on a
                                            front-end), columns = test corpora
    figures/<protocol>-cd.png               critical-difference diagram across test corpora and tasks
    figures/<protocol>-<task>-cd.png        the same across the page's test corpora
    figures/<protocol>-<task>-confusion-<method>.png   confusion matrices summed over seeds
The unit of every number is a seed: a seed's runs over all of a protocol's folds, their confusion matrices summed
per test corpus (serbench.runs.store.cycle_rows). The same store gives byte-identical files: everything is sorted,
floats have fixed formats, permutation draws are seeded from the names they compare, and PNGs carry no software
or date metadata.

A page shows every front-end its protocol's runs used: the systems are all scored on the same test utterances of
the same split. Each front-end's runs share one configuration (data fingerprints, front-end configuration,
protocol content, which includes its adaptation, normalisation and model-selection settings), and the front-ends
of a protocol share the data fingerprints and the protocol content; anything else is an error that names the
differences and the `--config` selection. The statistics are in serbench/reports/stats.py and explained in
docs/statistics.md.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serbench.data.synth import SYNTHETIC_EXPLANATION, SYNTHETIC_LABEL
from serbench.errors import SerbenchError
from serbench.features.normalisation import NORMALISATIONS
from serbench.files import stable_hash, write_atomic
from serbench.metrics import NEAR_COLLAPSE_SHARE, unweighted_accuracy
from serbench.protocols.protocol import ADAPTATIONS, SELECTIONS
from serbench.reports import stats
from serbench.reports.tables import cycle_rows, degenerate, speaker_rows
from serbench.runs.record import RunRecord
from serbench.runs.store import ResultsStore, name_variants

# The reference of each page: the first of these with runs on it (the paper's baseline on segments, else
# eGeMAPS + logistic regression on functionals, else the SSL MLP on SSL features).
REFERENCES = ("baseline_s", "egemaps_lr", "ssl_mlp")
SYNTHETIC_BANNER = f"> **{SYNTHETIC_LABEL}**: {SYNTHETIC_EXPLANATION}."


@dataclass(frozen=True)
class ClaimWords:
    """How a page words one claim (stats.CLAIMS)."""

    test: str  # the test behind the markers
    statement: str  # what a marker claims
    computation: str  # how ΔUA and its test are made


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
        "the test speakers of each speaker's UA difference (speakers weigh the same, so it can differ from the "
        "difference of the cells, where utterances do). 95% CI and p: one t-test whose standard error carries the "
        "seed, the speaker and the residual variance (two-way mean squares, Satterthwaite's degrees of freedom)"),
}


@dataclass
class Page:
    """The runs of one (protocol, task), on every front-end, and what is computed from them."""

    protocol: str
    task: str
    records: list[RunRecord]
    columns: list[str]  # the test corpora, in the protocol's order
    methods: list[str]  # the rows: systems, each a method (named by its variant) on one front-end
    cycles: pd.DataFrame  # store.cycle_rows of the records, complete seed cycles only
    incomplete: pd.DataFrame  # the seed cycles left out of every number: a fold's run is missing
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    absent: list[str] = field(default_factory=list)  # systems with runs on the protocol's other tasks, none here
    claim: str = "seeds"  # what the markers claim (stats.CLAIMS)
    speakers: pd.DataFrame = field(default_factory=pd.DataFrame)  # store.speaker_rows, for the claim "speakers"

    @property
    def name(self) -> str:
        return f"{slug(self.protocol)}-{slug(self.task)}"

    @property
    def setting(self) -> dict:
        """The protocol's content, as its runs recorded it (the same on every front-end: select_configuration)."""
        return self.records[0].identity["protocol"]

    def frontend(self, method: str) -> str:
        """The front-end of a row: one per row, since a method's runs on several front-ends are variants."""
        return next(r.frontend for r in self.records if r.method == method)

    @property
    def frontends(self) -> dict[str, RunRecord]:
        """One run of each front-end, in the order of their first rows (the reference's first): its configuration
        is that of all the front-end's runs here."""
        runs: dict[str, RunRecord] = {}
        for method in self.methods:
            runs.setdefault(self.frontend(method), next(r for r in self.records if r.method == method))
        return runs


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


# --- reading and checking the store ---------------------------------------------------------------------------

def load_records(store: ResultsStore, protocol: str | None = None, task: str | None = None) -> list[RunRecord]:
    """Every finished run's record (in run-id order, each checked as it is read), optionally of one protocol and
    task."""
    if not store.runs.is_dir() or not store.done_ids():
        raise SerbenchError("no finished runs in this results folder", path=store.root,
                            hint="run a sweep first (`serbench run ...`), or point --results at its folder")
    records = store.records()
    chosen = [r for r in records if (protocol is None or r.protocol == protocol) and (task is None or r.task == task)]
    if not chosen:
        present = sorted({f"{r.protocol}/{r.task}" for r in records})
        raise SerbenchError(f"no finished runs of protocol {protocol or 'any'}, task {task or 'any'}",
                            path=store.root, hint=f"the store holds: {', '.join(present)}")
    return chosen


def configuration(record: RunRecord) -> dict:
    """What must be equal for two runs to share a table: data fingerprints, front-end, protocol content."""
    identity = record.identity
    protocol = stable_hash(identity["protocol"])
    return {"data": dict(identity["data"]), "frontend": identity["frontend"], "protocol": protocol}


def configuration_id(record: RunRecord) -> str:
    return stable_hash(configuration(record), 8)


def select_configuration(records: list[RunRecord], configs: Sequence[str] = ()) -> list[RunRecord]:
    """The records a leaderboard may publish. Each of `configs` (an id or its prefix) keeps, for the protocol and
    front-end of its runs, only that configuration's runs (the runs of other protocols and front-ends stay). Then
    each (protocol, front-end)'s runs must share a single configuration, and each protocol's front-ends their data
    and protocol content, or the error says which settings differ and how to select."""
    for config in configs:
        named = {(r.protocol, r.frontend) for r in records if configuration_id(r).startswith(config)}
        if not named:
            present = sorted({configuration_id(r) for r in records})
            raise SerbenchError(f"--config {config}: no run has this configuration",
                                hint=f"configurations present: {', '.join(present)}")
        records = [r for r in records
                   if (r.protocol, r.frontend) not in named or configuration_id(r).startswith(config)]
    for protocol in sorted({r.protocol for r in records}):
        runs = [r for r in records if r.protocol == protocol]
        for frontend in sorted({r.frontend for r in runs}):
            own = [r for r in runs if r.frontend == frontend]
            ids = {configuration_id(r) for r in own}  # an ambiguous --config prefix may still leave several
            if len(ids) > 1:
                raise SerbenchError(f"protocol {protocol} with the {frontend} front-end: its runs use {len(ids)} "
                                    f"different configurations, which a leaderboard never mixes:\n"
                                    + describe_configurations(own),
                                    hint="select one with --config ID (once per front-end that needs it), or keep "
                                         "each configuration's runs in its own results folder")
        if len({(stable_hash(r.identity["data"]), configuration(r)["protocol"]) for r in runs}) > 1:
            raise SerbenchError(f"protocol {protocol}: its front-ends' runs differ in their data or protocol content, "
                                f"so they cannot share a page:\n"
                                + describe_configurations(runs, ignore="front-end configuration"),
                                hint="run the front-ends on the same data and protocol file (the same `serbench run` "
                                     "trains the stale ones again; then choose with --config ID), or keep each "
                                     "front-end's runs in its own results folder")
    return records


def describe_configurations(records: list[RunRecord], ignore: str = "") -> str:
    """One line per configuration: its id and front-end, its runs' methods, and the settings (but `ignore`) that
    differ from the others."""
    configs = {configuration_id(r): configuration(r) for r in records}
    settings: dict[str, dict[str, str]] = {}
    for cid, conf in configs.items():
        flat = {f"data fingerprint of {c}": f[:12] for c, f in conf["data"].items()}
        settings[cid] = {**flat, "front-end configuration": conf["frontend"]["hash"],
                         "protocol content": conf["protocol"]}
    keys = sorted({k for s in settings.values() for k in s} - {ignore})
    differing = [k for k in keys if len({s.get(k, "(absent)") for s in settings.values()}) > 1]
    lines = []
    for cid in sorted(configs):
        methods = sorted({r.method for r in records if configuration_id(r) == cid})
        runs = sum(configuration_id(r) == cid for r in records)
        values = ", ".join(f"{k} {settings[cid].get(k, '(absent)')}" for k in differing)
        lines.append(f"  --config {cid} ({configs[cid]['frontend']['name']}): {runs} runs ({', '.join(methods)}); "
                     f"{values}")
    return "\n".join(lines)


# --- aggregation ------------------------------------------------------------------------------------------------

def aggregate(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Per (protocol, task, front-end, method, test corpus): UA mean, std, 95% CI and n over seeds (each seed's
    UA pooled over the protocol's folds; complete seed cycles only); WA and macro-F1 means alongside."""
    rows = []
    keys = ["protocol", "task", "frontend", "method", "corpus"]
    cycles = cycle_rows(records)
    for key, group in cycles[cycles["complete"]].groupby(keys, sort=True):
        ua = stats.summarize(group.sort_values("seed")["ua"].tolist())
        rows.append({**dict(zip(keys, key, strict=True)), "ua_mean": ua.mean, "ua_std": ua.std,
                     "ua_ci_low": ua.ci_low, "ua_ci_high": ua.ci_high, "n": ua.n,
                     "wa_mean": float(group["wa"].mean()), "macro_f1_mean": float(group["macro_f1"].mean())})
    return pd.DataFrame(rows)


def build_page(protocol: str, task: str, records: list[RunRecord], reference: str) -> Page:
    """A page's runs, columns (the protocol's test corpora in its own order) and rows (reference first)."""
    cycles = cycle_rows(records)
    present = set(cycles["corpus"])
    columns = [c for c in records[0].identity["protocol"]["test_corpora"] if c in present]
    methods = sorted(set(cycles["method"]), key=lambda m: (m != reference, m))
    return Page(protocol, task, records, columns, methods, cycles[cycles["complete"]].reset_index(drop=True),
                cycles[~cycles["complete"]].reset_index(drop=True))


# --- completeness -------------------------------------------------------------------------------------------------

def gaps(page: Page) -> dict[tuple[str, str], str]:
    """What the page's sweep lacks against its protocol, per (system, test corpus) cell ("" as the corpus: the
    whole row): seed cycles missing a fold's run (left out of every number), test corpora of the protocol without
    a run, and systems that have runs on the protocol's other tasks and none on this one."""
    found = {}
    for (method, corpus), rows in page.incomplete.groupby(["method", "corpus"], sort=True):
        seeds = ", ".join(str(seed) for seed in sorted(rows["seed"]))
        tested = ", ".join(f"{n} of {total}" for n, total in zip(rows["n"], rows["cycle_n"], strict=True))
        found[(method, corpus)] = (f"seed(s) {seeds} lack a fold's run (test utterances {tested}), so they are "
                                   f"left out")
    tested = set(zip(page.cycles["method"], page.cycles["corpus"], strict=True))
    tested |= set(zip(page.incomplete["method"], page.incomplete["corpus"], strict=True))
    for method in page.methods:
        for corpus in page.setting["test_corpora"]:
            if (method, corpus) not in tested:
                found[(method, corpus)] = "no run tests this corpus"
    for method in page.absent:
        found[(method, "")] = f"runs on other tasks of {page.protocol}, none on {page.task}"
    return found


def gap_lines(page: Page, markdown: bool = True) -> list[str]:
    shown = escape_md if markdown else str
    return [f"{shown(method)}{f' on {shown(corpus)}' if corpus else ''}: {shown(text)}"
            for (method, corpus), text in sorted(gaps(page).items())]


def missing_tasks(pages: Sequence[Page]) -> dict[str, list[str]]:
    """Per protocol, the tasks it defines on which no run of the store is."""
    found = {}
    for protocol in sorted({p.protocol for p in pages}):
        chosen = [p for p in pages if p.protocol == protocol]
        tasks = [t for t in chosen[0].setting["tasks"] if t not in {p.task for p in chosen}]
        if tasks:
            found[protocol] = tasks
    return found


def cell_scores(page: Page, method: str, corpus: str) -> pd.DataFrame:
    """The seed cycles of `method` on test corpus `corpus`, by seed."""
    rows = page.cycles
    return rows[(rows["method"] == method) & (rows["corpus"] == corpus)].sort_values("seed")


def average_ua(page: Page, method: str) -> stats.Summary:
    """UA averaged over the page's test corpora per seed (seeds with every corpus), summarised over seeds."""
    rows = page.cycles[page.cycles["method"] == method]
    per_seed = [float(group["ua"].mean()) for _, group in rows.groupby("seed", sort=True)
                if set(group["corpus"]) >= set(page.columns)]
    return stats.summarize(per_seed)


# --- significance -------------------------------------------------------------------------------------------------

def compare(page: Page, reference: str) -> pd.DataFrame:
    """Every method against the reference on every test corpus, on the seeds both have:
    stats.working_paired_test of the page's claim, on the seeds where neither run collapsed (or nearly), and
    McNemar's exact test of the collapses (docs/statistics.md), with Holm's correction of the UA tests across the
    page's distinct comparisons (`distinct`: comparisons of one corpus with the same differences are one test and
    count once)."""
    rows = []
    for corpus in page.columns:
        ref = cell_scores(page, reference, corpus).set_index("seed")
        for method in page.methods:
            if method == reference:
                continue
            other = cell_scores(page, method, corpus).set_index("seed")
            seeds = sorted(set(ref.index) & set(other.index))
            for seed in seeds:  # the same test utterances: each class as often in both
                supports = [np.asarray(frame.at[seed, "confusion"]).sum(axis=1) for frame in (ref, other)]
                if not np.array_equal(*supports):
                    raise SerbenchError(f"{page.protocol}/{page.task}: {reference} and {method} scored different "
                                        f"{corpus} test utterances in seed {seed}, so they cannot be compared "
                                        f"pairwise", hint="both must come from the same protocol, split and labels; "
                                                          "re-run the sweep so that they do")
            if len(seeds) < 2:
                continue
            first, second = (speaker_table(page, m, corpus, seeds) if page.claim == "speakers" else
                             frame.loc[seeds, "ua"].to_numpy() for m, frame in ((reference, ref), (method, other)))
            comparison = stats.working_paired_test(first, second, degenerate(ref.loc[seeds]).to_numpy(),
                                                   degenerate(other.loc[seeds]).to_numpy(), claim=page.claim)
            test, kept = comparison.test, np.asarray(comparison.kept)
            differences = second[kept] - first[kept]
            row = {"column": corpus, "method": method, "difference": test.difference, "ci_low": test.ci_low,
                   "ci_high": test.ci_high, "p": test.p, "seeds": len(seeds), "working": test.n,
                   "speakers": first.shape[1] if first.ndim == 2 else 0, "detectable": math.nan, "distinct": None,
                   "collapsed": comparison.other_collapsed, "reference_collapsed": comparison.reference_collapsed,
                   "collapse_p": comparison.collapse_p}
            if page.claim == "seeds" and test.n > 1 and np.ptp(first[kept]) == 0 and np.ptp(second[kept]) == 0:
                # Both gave the same UA in every seed (deterministic, as the scikit-learn estimators are): their
                # difference is exact, the seeds are no replications, and a test over seeds has nothing to test.
                # (Over new speakers they are tested: the speakers replicate.)
                row.update(ci_low=math.nan, ci_high=math.nan, p=math.nan)
            elif not math.isnan(test.p):
                row.update(detectable=stats.detectable_shift(test.standard_error, test.df),
                           distinct=(corpus, tuple(np.round(differences, 12).ravel())))
            rows.append(row)
    frame = pd.DataFrame(rows, columns=["column", "method", "difference", "ci_low", "ci_high", "p", "seeds",
                                        "working", "speakers", "detectable", "distinct", "collapsed",
                                        "reference_collapsed", "collapse_p"])
    tested = frame.dropna(subset=["distinct"]).drop_duplicates("distinct")
    adjusted = dict(zip(tested["distinct"], stats.holm(tested["p"].tolist()), strict=True))
    frame["p_holm"] = [adjusted.get(key, math.nan) for key in frame["distinct"]]
    return frame


def speaker_table(page: Page, method: str, corpus: str, seeds: Sequence[int]) -> np.ndarray:
    """UA per seed (rows, in `seeds`' order) and test speaker (columns, sorted) of one cell: the claim
    "speakers"."""
    rows = page.speakers[(page.speakers["method"] == method) & (page.speakers["corpus"] == corpus)]
    table = rows.pivot(index="seed", columns="speaker", values="ua").sort_index(axis=1)
    return table.loc[list(seeds)].to_numpy()


Block = tuple[str, pd.DataFrame]  # a block's name, and its seed cycles (one test corpus of one task)


def page_blocks(page: Page) -> list[Block]:
    return [(f"{page.task}: {corpus}", page.cycles[page.cycles["corpus"] == corpus]) for corpus in page.columns]


def rank_table(blocks: Sequence[Block],
               methods: Sequence[str]) -> tuple[list[str], list[int], np.ndarray, dict[str, str]]:
    """The ranked methods, the seeds they all have in every block, their scores (seeds, methods, blocks: a seed's
    runs of a method move together in the permutation test), and the methods left out with the reason.

    The ranking needs one seed set for all its methods. Of the seed sets made of the seeds most methods have, it
    takes the one with the most (method, seed) cells, the more methods on a tie: a method with fewer seeds than
    the others is left out, and says so, rather than silently cutting every method's seeds to its own."""
    left_out = {m: "no result in every block" for m in methods
                if not all((frame["method"] == m).any() for _, frame in blocks)}
    owned = {m: set.intersection(*[set(frame.loc[frame["method"] == m, "seed"]) for _, frame in blocks])
             for m in methods if m not in left_out}
    by_use = sorted({s for seeds in owned.values() for s in seeds},
                    key=lambda s: (-sum(s in seeds for seeds in owned.values()), s))
    best: tuple[int, int, list[str], list[int]] = (0, 0, [], [])
    for k in range(1, len(by_use) + 1):
        chosen = set(by_use[:k])
        members = [m for m, seeds in owned.items() if chosen <= seeds]
        best = max(best, (len(members) * k, len(members), members, sorted(chosen)), key=lambda c: c[:2])
    _, _, ranked, seeds = best
    for m, own in owned.items():
        if m not in ranked:
            left_out[m] = f"fewer seeds ({len(own & set(seeds))} of the {len(seeds)} the ranking uses)"
    scores = np.array([[[float(frame.loc[(frame["method"] == m) & (frame["seed"] == s), "ua"].iloc[0])
                         for _, frame in blocks] for m in ranked] for s in seeds])
    return ranked, seeds, scores, left_out


# --- figures ------------------------------------------------------------------------------------------------------

def _figure_style() -> dict:
    return {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "serbench", "figure.dpi": 100,
            "savefig.dpi": 100, "path.simplify": False}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise SerbenchError("leaderboard figures need matplotlib", hint="pip install matplotlib") from None
    return matplotlib, Figure


def cd_diagram(names: Sequence[str], ranks: Sequence[float], cd: float, title: str) -> bytes:
    """A critical-difference diagram (Demsar 2006) as PNG bytes: average ranks on an axis (1 = best, left),
    the CD as a scale bar, and thick bars joining methods whose ranks differ by less than the CD."""
    matplotlib, Figure = _matplotlib()
    order = sorted(range(len(names)), key=lambda i: (ranks[i], names[i]))
    k = len(names)
    labels = [f"{names[i]} ({ranks[i]:.2f})" for i in order]
    bars = stats.cliques([ranks[i] for i in order], cd)
    left, right = order[: (k + 1) // 2], order[(k + 1) // 2:]
    text_width = 0.075 * max(len(label) for label in labels) + 0.3  # inches for the label columns
    width, axis_width = 2 * text_width + 3.5, 3.5
    rows = max(len(left), len(right))
    height = 1.4 + 0.25 * rows + 0.12 * len(bars)
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # the user's matplotlibrc must not change the bytes
        matplotlib.rcParams.update(_figure_style())
        figure = Figure(figsize=(width, height))
        ax = figure.add_axes((text_width / width, 0.0, axis_width / width, 1.0))
        ax.set_xlim(1, max(k, 2))
        ax.set_ylim(-(rows + 1) * 0.25 - 0.12 * len(bars), 1.0)
        ax.axis("off")
        ax.plot([1, k], [0, 0], color="black", linewidth=1)
        for tick in range(1, k + 1):
            ax.plot([tick, tick], [0, 0.05], color="black", linewidth=1)
            ax.text(tick, 0.08, str(tick), ha="center", va="bottom")
        ax.plot([1, 1 + cd], [0.45, 0.45], color="black", linewidth=1.5, clip_on=False)
        ax.text(1 + cd / 2, 0.5, f"CD = {cd:.2f}", ha="center", va="bottom", clip_on=False)
        ax.text((1 + k) / 2, 0.95, title, ha="center", va="top", fontweight="bold", clip_on=False)
        base = -0.12 * (len(bars) + 1)
        for level, (first, last) in enumerate(bars):
            y = -0.12 * (level + 1)
            ax.plot([ranks[order[first]] - 0.03, ranks[order[last]] + 0.03], [y, y], color="black", linewidth=3)
        for row, i in enumerate(left):
            y = base - 0.25 * (row + 1)
            ax.plot([ranks[i], ranks[i], 1 - 0.05], [0, y, y], color="black", linewidth=0.8, clip_on=False)
            ax.text(1 - 0.1, y, f"{names[i]} ({ranks[i]:.2f})", ha="right", va="center", clip_on=False)
        for row, i in enumerate(reversed(right)):
            y = base - 0.25 * (row + 1)
            ax.plot([ranks[i], ranks[i], k + 0.05], [0, y, y], color="black", linewidth=0.8, clip_on=False)
            ax.text(k + 0.1, y, f"{names[i]} ({ranks[i]:.2f})", ha="left", va="center", clip_on=False)
        return _png(figure)


def confusion_figure(method: str, classes: Sequence[str], panels: Sequence[tuple[str, np.ndarray, int]]) -> bytes:
    """Confusion matrices (rows = true class) of one method, one panel per test corpus, summed over seeds;
    colour = share of the true class, text = count. `panels`: (corpus label, matrix, seeds)."""
    matplotlib, Figure = _matplotlib()
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_figure_style())
        figure = Figure(figsize=(2.6 * len(panels) + 0.4, 3.0))
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (label, matrix, seeds) in zip(axes, panels, strict=True):
            totals = matrix.sum(axis=1, keepdims=True)
            share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
            ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
            for (row, col), count in np.ndenumerate(matrix):
                ax.text(col, row, str(int(count)), ha="center", va="center",
                        color="white" if share[row, col] > 0.6 else "black")
            ax.set_xticks(range(len(classes)), list(classes), rotation=45, ha="right")
            ax.set_yticks(range(len(classes)), list(classes))
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{label} ({seeds} seed{'s' if seeds != 1 else ''})", fontsize=9)
        figure.suptitle(method, fontweight="bold")
        figure.subplots_adjust(left=0.12, right=0.98, bottom=0.25, top=0.8, wspace=0.6)
        return _png(figure)


def page_confusions(page: Page, method: str) -> bytes | None:
    panels = []
    for corpus in page.columns:
        rows = cell_scores(page, method, corpus)
        if len(rows):
            panels.append((corpus, np.sum([np.asarray(m) for m in rows["confusion"]], axis=0), len(rows)))
    return confusion_figure(method, page.records[0].classes, panels) if panels else None


# --- markdown -----------------------------------------------------------------------------------------------------

def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(cells) + " |" for cells in [list(header), rule, *map(list, rows)]]


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
    for number, (frontend, record) in enumerate(page.frontends.items()):
        config = ("configuration " if number == 0 else "") + f"`{record.identity['frontend']['hash']}`"
        config += f", --config `{configuration_id(record)}`" if ids else ""
        rows = ", ".join(escape_md(m) for m in page.methods if page.frontend(m) == frontend)
        parts.append(f"{escape_md(frontend)} ({config}) for {rows}")
    return f"Front-ends: {'; '.join(parts)}"


def title_setting(setting: Mapping) -> str:
    if setting["adaptation"] != "none":
        return "adapted to unlabelled test audio"
    # Whole corpora held out are new domains; held-out speakers of the training corpora are new speakers.
    return "domain generalisation" if setting["split"] in ("corpus", "leave-one-corpus-out") else "new speakers"


def ranking_section(blocks: list[Block], methods: Sequence[str], figure: str,
                    title: str) -> tuple[list[str], dict[str, bytes], dict[str, float]]:
    """Markdown, figure bytes (by relative path) and average ranks of a permutation ranking over blocks."""
    complete, seeds, scores, left_out = rank_table(blocks, methods)
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
        lines.append(f"- † Runs that predicted one class (or nearly only one) for a whole test corpus are ranked by "
                     f"the near-chance UA they got: {', '.join(collapsed)}")
    lines += ["", f"![critical-difference diagram: {escape_md(title)}]({figure})"]
    png = cd_diagram(complete, list(result.ranks), result.cd, title)
    return lines, {figure: png}, ranks


def page_markdown(page: Page, reference: str, command: str) -> tuple[str, dict[str, bytes]]:
    """The markdown of one page and its figures (relative path -> PNG bytes)."""
    figures: dict[str, bytes] = {}
    synthetic = any(r.synthetic for r in page.records)
    setting = page.setting
    lines = [SYNTHETIC_BANNER, ""] if synthetic else []
    missing = gap_lines(page)
    stamp = " (incomplete sweep)" if missing else ""
    lines += [f"# {escape_md(page.protocol)} / {escape_md(page.task)}: {title_setting(setting)}{stamp}", "",
              f"Protocol **{escape_md(page.protocol)}**: {escape_md(setting['description'])}. "
              f"{frontends_line(page)} (docs/frontends.md). Task "
              f"**{escape_md(page.task)}** (classes: {', '.join(map(escape_md, page.records[0].classes))}). "
              f"Metric: unweighted accuracy (UA, mean of per-class recalls) in percent; the unit is a seed, "
              f"its runs over all of the protocol's folds pooled per test corpus. Reference for the significance "
              f"markers: **{escape_md(reference)}**.", "", setting_line(setting), ""]
    if missing:
        lines += ["> **Incomplete sweep**, published with `--allow-incomplete`: its runs do not cover the protocol. "
                  "Seed cycles that lack a fold's run test only some of the speakers, so they are left out of every "
                  "number below; ‡ marks the cells concerned:", ">",
                  *(f"> - {line}" for line in missing), ""]
    ranking, ranking_figures, ranks = ranking_section(page_blocks(page), page.methods,
                                                      f"figures/{page.name}-cd.png",
                                                      f"{page.protocol} / {page.task}: test corpora")
    figures.update(ranking_figures)
    lines += main_table(page, reference, ranks)
    lines += ["", "## Paired tests against the reference", "", *tests_section(page, reference)]
    lines += ["", "## Ranking across the test corpora", "", *ranking]
    lines += ["", "## Scores per test corpus", "", *scores_section(page)]
    lines += oracle_section(page)
    lines += ["", "## Confusion matrices", "",
              "Summed over seeds and folds; rows are the true classes, colours the share of each true class.", ""]
    for method in page.methods:
        png = page_confusions(page, method)
        if png is not None:
            path = f"figures/{page.name}-confusion-{slug(method)}.png"
            figures[path] = png
            lines += [f"![confusion matrices of {escape_md(method)}]({path})", ""]
    lines += provenance(page, command)
    return "\n".join(lines) + "\n", figures


def main_table(page: Page, reference: str, ranks: Mapping[str, float]) -> list[str]:
    """Rows = systems (method, front-end); columns = test corpora, the average, the average rank and the probe
    accuracies."""
    cells = {(m, c): cell_scores(page, m, c) for m in page.methods for c in page.columns}
    averages = {m: average_ua(page, m) for m in page.methods}
    best = {c: max((float(v["ua"].mean()) for (m, col), v in cells.items() if col == c and len(v)), default=math.nan)
            for c in page.columns}
    best_average = max((a.mean for a in averages.values() if a.n), default=math.nan)
    markers = {(row.column, row.method): ("▲" if row.difference > 0 else "▼")
               for row in page.comparisons.itertuples() if row.p_holm < stats.ALPHA}
    probes = sorted({d for r in page.records for d in (r.probes or {})})
    stamped = set(gaps(page))
    header = ["method", "front-end", *(escape_md(c) for c in page.columns), "average", "average rank",
              *(f"{escape_md(d)} probe UA" for d in probes)]
    rows = []
    for method in page.methods:
        row = [escape_md(method), escape_md(page.frontend(method))]
        for corpus in page.columns:
            cell = cells[(method, corpus)]
            summary = stats.summarize(cell["ua"].tolist())
            marker = markers.get((corpus, method), "")
            flag = " †" if degenerate(cell).any() else ""
            flag += " ‡" if {(method, corpus), (method, "")} & stamped else ""
            row.append(score_cell(summary, summary.mean == best[corpus]) + flag + (f" {marker}" if marker else ""))
        row.append(score_cell(averages[method], averages[method].mean == best_average))
        row.append(f"{ranks[method]:.2f}" if method in ranks else "-")
        for domain in probes:
            row.append(probe_cell(page, method, domain))
        rows.append(row)
    lines = ["## UA per test corpus", "", *table(header, rows, ["l", "l", *["r"] * (len(header) - 2)])]
    tests = page.comparisons["distinct"].nunique() if len(page.comparisons) else 0
    words = CLAIM_WORDS[page.claim]
    lines += ["", f"Cells: mean ± standard deviation of UA (%) over seeds (number of seeds); **bold**: the best "
                  f"mean of the column. ▲ / ▼: significantly higher / lower UA than {escape_md(reference)} on that "
                  f"corpus in the seeds where neither collapsed († counts the others; {words.test}, p < "
                  f"{stats.ALPHA} after Holm's correction across the {tests} "
                  f"distinct comparisons of this page, its family: each page is corrected on its own; "
                  f"docs/statistics.md{'; here no comparison had two seeds to test' if not tests else ''}). "
                  f"{words.statement} "
                  f"Average: UA averaged over the test corpora per seed. Average rank: over the test corpora (1 = "
                  f"best)."]
    flagged = page.cycles[degenerate(page.cycles)]
    if len(flagged):
        counts = []
        for (method, corpus), seeds in flagged.groupby(["method", "corpus"], sort=True):
            cell = cell_scores(page, method, corpus)
            runs, near = int(seeds["collapsed"].sum()), int(seeds["near_collapsed"].sum())
            counts.append(f"{escape_md(method)} on {escape_md(corpus)}: {len(seeds)} of {len(cell)} seeds, "
                          f"{runs} collapsed and {near} near-collapsed of their {int(cell['folds'].sum())} runs")
        lines += ["", f"† Seeds with a collapsed run, one that gave every test utterance of the corpus one class, or "
                      f"a near-collapsed one, that gave at least {NEAR_COLLAPSE_SHARE:.0%} of them one class "
                      f"(docs/leaderboards.md). Such a run's UA on its test speakers is at or near chance (100 / "
                      f"classes); a seed pooling it with other folds, and a cell averaging such seeds with working "
                      f"ones, mix the two, so the cell's mean is neither, and its interval is not shown (below). "
                      f"Counts: " + "; ".join(counts) + "."]
    if probes:
        classes = {d: sorted({r.probes[d]["classes"] for r in page.records if (r.probes or {}).get(d)})
                   for d in probes}
        chance = "; ".join(f"{escape_md(d)}: {', '.join(str(c) for c in classes[d])} classes" for d in probes)
        lines += ["", f"Probe UA (%): how well a logistic-regression probe recovers the domain from the test "
                      f"utterances' embeddings, trained and scored on different speakers (speaker-grouped "
                      f"cross-validation; gender within each test corpus); chance is 100 / classes ({chance}). Lower "
                      f"means a more domain-invariant embedding, which is what DANN aims for. Mean ± standard "
                      f"deviation over seeds (number of seeds), a seed's probe UA being the mean over its folds. "
                      f"Null: what the same probe scores on labels shuffled between the test speakers (mean ± "
                      f"standard deviation over its runs' shufflings, averaged over the runs): with few speakers "
                      f"chance spreads widely, and a probe UA within about two of its standard deviations of the "
                      f"null says nothing. '-': the method exposes no embedding (or, for the null, its runs predate "
                      f"it)."]
    return lines


def probe_cell(page: Page, method: str, domain: str) -> str:
    """The probe UA of a row over seeds (each seed's folds averaged, as its seed cycle pools them) and the
    null reference of its runs."""
    probes = {r.run_id: (r.probes or {})[domain] for r in page.records
               if r.method == method and (r.probes or {}).get(domain)}
    if not probes:
        return "-"
    by_seed: dict[int, list[float]] = {}
    for record in page.records:
        if record.run_id in probes:
            by_seed.setdefault(record.seed, []).append(probes[record.run_id]["ua"])
    summary = stats.summarize([float(np.mean(values)) for _, values in sorted(by_seed.items())])
    nulls = [probe.get("null") for probe in probes.values()]
    null = ("null -" if not all(nulls) else
            f"null {percent(float(np.mean([n['mean'] for n in nulls])))} ± "
            f"{percent(float(np.mean([n['std'] for n in nulls])))}")
    return f"{score_cell(summary, False)}; {null}"


def score_cell(summary: stats.Summary, bold: bool) -> str:
    if summary.n == 0:
        return "-"
    mean = f"**{percent(summary.mean)}**" if bold else percent(summary.mean)
    spread = f" ± {percent(summary.std)}" if summary.n > 1 else ""
    return f"{mean}{spread} ({summary.n})"


def tests_section(page: Page, reference: str) -> list[str]:
    if page.comparisons.empty:
        return [f"No paired tests: the reference {escape_md(reference)} has no runs here, or no other method shares "
                f"at least two of its seeds (run --seeds 2 or more; name another reference with --reference)."]
    rows = [comparison_row(row) for row in page.comparisons.itertuples()]
    trained, words = "seeds trained" + (" x speakers" if page.claim == "speakers" else ""), CLAIM_WORDS[page.claim]
    lines = table(["test corpus", "method", "ΔUA", "95% CI (unadjusted)", "p", "p Holm", trained,
                   "detectable", "collapsed seeds"], rows, ["l", "l", *["r"] * 7])
    lines += ["", f"ΔUA: UA of the method minus UA of {escape_md(reference)}, in points, {words.computation}, "
                  "so p < 0.05 exactly when the interval excludes 0; both are unadjusted, so an interval that "
                  f"excludes 0 without a marker is not significant after the correction. {words.statement} "
                  "Both are about the runs where both systems train: a method that collapses in some runs has no "
                  "valid test of its mean UA over all of them with a few seeds (docs/statistics.md), so its "
                  "collapses are a second claim. p "
                  "Holm: Holm-corrected across this page's distinct comparisons (the ▲/▼ markers; comparisons with "
                  "the same per-seed differences on one corpus count once). The test's type-I error is measured by "
                  "simulation in docs/statistics.md, collapsing methods included. Detectable: the smallest true "
                  f"ΔUA (points) this design finds with 80% power at p < {stats.ALPHA}, given the test's standard "
                  "error and degrees of freedom; Holm's correction only raises it. A difference below it may well "
                  "exist without a marker: no marker is not no difference. Collapsed seeds: the method's / the "
                  "reference's seeds with a collapsed or near-collapsed run (†), and where any, p of McNemar's exact "
                  "test that the two collapse equally often (unadjusted; with fewer than 6 seeds it cannot reach "
                  "0.05)."]
    if page.comparisons["p"].isna().any():
        lines += ["", "'-': no test. Fewer than two seeds where both trained"
                      + (f", or fewer than {stats.MIN_SPEAKERS} test speakers" if page.claim == "speakers" else
                         ", or both systems gave the same UA in every such seed (deterministic, as the scikit-learn "
                         "estimators are), so their difference is exact on these test speakers and the seeds are no "
                         "replications to test it over") + "."]
    return lines


def comparison_row(row: Any) -> list[str]:
    """A row of compare() as the tests table shows it, differences in points."""
    def points(value: float, digits: str = "+.1f") -> str:
        return "-" if math.isnan(value) else f"{100 * value:{digits}}"

    interval = "-" if math.isnan(row.ci_low) else f"[{points(row.ci_low)}, {points(row.ci_high)}]"
    collapsed = f"{row.collapsed} / {row.reference_collapsed}"
    if row.collapsed or row.reference_collapsed:
        collapsed += f", p {p_value(row.collapse_p)}"
    trained = f"{row.working} of {row.seeds}" + (f" x {row.speakers}" if row.speakers else "")
    return [escape_md(row.column), escape_md(row.method), points(row.difference), interval, p_value(row.p),
            p_value(row.p_holm), trained, points(row.detectable, ".1f"), collapsed]


def scores_section(page: Page) -> list[str]:
    rows = []
    for corpus in page.columns:
        for method in page.methods:
            cell = cell_scores(page, method, corpus)
            if cell.empty:
                continue
            ua = stats.summarize(cell["ua"].tolist())
            honest = ua.n > 1 and ua.std > 0 and not degenerate(cell).any()
            interval = f"[{percent(ua.ci_low)}, {percent(ua.ci_high)}]" if honest else "-"
            rows.append([escape_md(corpus), escape_md(method), percent(ua.mean), interval, percent(ua.std),
                         percent(float(cell["wa"].mean())), percent(float(cell["macro_f1"].mean())), str(ua.n),
                         str(int(cell["n"].iloc[0]))])
    lines = table(["test corpus", "method", "UA", "UA 95% CI", "UA std", "WA", "macro-F1", "seeds", "utterances"],
                  rows, ["l", "l", *["r"] * 7])
    return [*lines, "", "UA, WA (plain accuracy) and macro-F1 in percent, means over seeds; the UA interval is "
                        "Student's t over seeds, clipped to [0, 100], and '-' where the seeds do not vary (one seed, "
                        "or a deterministic system: a zero-width interval would claim a certainty the design does "
                        "not have) or where some seed has a collapsed run († above: seeds that are a mixture of "
                        "working and collapsed runs are far from the normal model behind the interval, which then "
                        "covers the mean less often than it says). Utterances: test utterances of the corpus in one "
                        "seed, over all folds."]


def oracle_section(page: Page) -> list[str]:
    """Under a protocol with `oracle = true`: each cell's UA as its protocol chose the model beside the UA of the
    best epoch on the test part (per run and test corpus, pooled per seed as UA is), an upper bound that no
    method may claim; nothing for methods without epochs."""
    runs = {r.run_id: r for r in page.records}
    rows = []
    for corpus in page.columns:
        for method in page.methods:
            cell = cell_scores(page, method, corpus)
            best = [[runs[i].selection.get("oracle", {}).get(corpus) for i in ids] for ids in cell["run_ids"]]
            if cell.empty or not all(all(seed) for seed in best):
                continue
            oracle = float(np.mean([unweighted_accuracy(np.sum([np.asarray(b["confusion"]) for b in seed], axis=0))
                                    for seed in best]))
            chosen, epochs = float(cell["ua"].mean()), [b["epoch"] for seed in best for b in seed]
            rows.append([escape_md(corpus), escape_md(method), percent(chosen), percent(oracle),
                         f"{100 * (oracle - chosen):+.1f}", f"{min(epochs)}-{max(epochs)}" if len(set(epochs)) > 1
                         else str(epochs[0])])
    if not rows:
        return []
    return ["", "## Gap to the test-set oracle (an upper bound, not a result)", "",
            *table(["test corpus", "method", "UA", "oracle UA", "gap", "oracle epochs"], rows,
                   ["l", "l", "r", "r", "r", "r"]),
            "", "UA: as the protocol's model selection chose (above). Oracle UA: each run's best epoch on the test "
                "part itself, per test corpus, pooled over a seed's folds and averaged over seeds: what choosing "
                "the epoch could give at most. It looks at the test labels, so it is never a method's score, only "
                "the room model selection leaves. Methods fitted in one call have no epochs and no row here."]


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
    hparams = {}
    for record in records:
        hparams.setdefault(record.method, record.identity["hparams"])
    lines += table(["method", "hyperparameters", "chosen on training speakers"],
                   [[escape_md(m), escape_md(", ".join(f"{k}={v}" for k, v in sorted(h.items()))),
                     escape_md(selection_summary([r.selection for r in records if r.method == m]))]
                    for m, h in sorted(hparams.items())], ["l", "l", "l"])
    lines += ["", "The runs were produced by:", "", "```", *sweeps, "```", "",
              "This file was generated by:", "", "```", command, "```"]
    return lines


# What a run's `selection` says besides its choices: the policy, how it chose, and the score it chose by.
SELECTION_CONTEXT = ("policy", "chosen_by", "selection_ua", "validation_ua", "oracle", "held_out")


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


def index_markdown(pages: Sequence[Page], rankings: Mapping[str, list[str]], command: str, intro: str = "",
                   tasks_missing: Mapping[str, list[str]] | None = None) -> str:
    """The index; `intro` (markdown, the publisher's: what the pages hold and how to read them) opens it;
    `tasks_missing`: per protocol, its tasks without a page."""
    synthetic = any(r.synthetic for page in pages for r in page.records)
    lines = [SYNTHETIC_BANNER, ""] if synthetic else []
    lines += [intro.strip(), ""] if intro.strip() else ["# serbench leaderboards", ""]
    lines += ["Unweighted accuracy (UA) of each method per test corpus, over seeds, with paired significance tests "
              "against a reference and rankings across test corpora and tasks. How to read them: "
              "docs/leaderboards.md; the statistics: docs/statistics.md.", ""]
    rows = [[f"[{escape_md(p.protocol)} / {escape_md(p.task)}]({p.name}.md)" + (" (incomplete)" if gaps(p) else ""),
             ", ".join(map(escape_md, p.frontends)),
             escape_md(p.setting["adaptation"]),
             escape_md(p.setting["normalisation"]), str(len(p.methods)), ", ".join(map(escape_md, p.columns)),
             str(len(set(p.cycles["seed"]))), str(len(p.records)),
             "synthetic" if any(r.synthetic for r in p.records) else "real",
             ", ".join(f"`{configuration_id(r)}`" for r in p.frontends.values())] for p in pages]
    lines += table(["page", "front-ends", "adaptation", "normalisation", "methods", "test corpora", "seeds", "runs",
                    "data", "configuration"], rows, ["l", "l", "l", "l", "r", "l", "r", "r", "l", "l"])
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
                        task: str | None = None, references: Sequence[str] = REFERENCES,
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
    if tuple(references) != REFERENCES:
        for reference in references:
            words += ["--reference", reference]
    return shlex.join(words)


def page_reference(records: Sequence[RunRecord], references: Sequence[str]) -> str:
    """A page's reference: the first of `references` with runs on it; with none of them, the first (and the page
    has no paired tests)."""
    present = {r.method for r in records}
    return next((m for m in references if m in present), references[0])


def write_leaderboards(results: str | Path, out: str | Path = "leaderboards", *, protocol: str | None = None,
                       task: str | None = None, references: Sequence[str] = REFERENCES,
                       configs: Sequence[str] = (), intro: str | Path | None = None,
                       allow_incomplete: bool = False, command: str | None = None,
                       claim: str = "seeds") -> list[Path]:
    """Write the index, one page per (protocol, task) and the figures into `out`; return the written paths. Each
    page's reference is the first of `references` with runs on it; `configs` choose configurations as
    select_configuration says; the markdown file `intro` opens the index. A page whose runs do not cover its
    protocol (gaps) is refused, unless `allow_incomplete`: then it says so and marks it. A task of the protocol
    without runs has no page, and the index names it (missing_tasks). `claim` (stats.CLAIMS): what the markers
    claim, about these test speakers over seeds or about new speakers too."""
    if claim not in stats.CLAIMS:
        raise SerbenchError(f"unknown claim {claim!r}", hint=f"one of {', '.join(stats.CLAIMS)}")
    store = ResultsStore(results)
    try:
        intro_text = Path(intro).read_text() if intro is not None else ""
    except OSError as error:
        raise SerbenchError(f"cannot read the index's introduction ({error.strerror})", path=intro,
                            hint="--intro takes a markdown file") from None
    # Variants of a method (other hyperparameters, front-end, code or serbench version) are rows of their own.
    records = name_variants(select_configuration(load_records(store, protocol, task), configs))
    present = {r.method for r in records}
    for reference in references:
        variants = sorted(m for m in present if m.startswith(f"{reference}["))
        if variants and reference not in present:
            raise SerbenchError(f"the reference {reference} has several variants here: {', '.join(variants)}",
                                hint=f"name one: --reference '{variants[0]}'")
    if tuple(references) != REFERENCES and not present.intersection(references):
        raise SerbenchError(f"--reference {', '.join(references)}: no finished run of such a method",
                            hint=f"methods present: {', '.join(sorted(present))}")
    command = command or leaderboard_command(results, out, protocol=protocol, task=task, references=references,
                                             configs=configs, intro=intro, allow_incomplete=allow_incomplete,
                                             claim=claim)
    pages = []
    for key in sorted({(r.protocol, r.task) for r in records}):
        chosen = [r for r in records if (r.protocol, r.task) == key]
        pages.append(build_page(*key, chosen, page_reference(chosen, references)))
    for page in pages:
        others = {m for p in pages if p.protocol == page.protocol for m in p.methods}
        page.absent = sorted(others - set(page.methods))
    tasks_missing = missing_tasks(pages) if task is None else {}
    found = [f"{p.protocol} / {p.task}: {line}" for p in pages for line in gap_lines(p, markdown=False)]
    if found and not allow_incomplete:
        shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
        raise SerbenchError(f"the sweep does not cover its protocol, so its pages would look complete and are not: "
                            f"{shown}", path=store.root,
                            hint="finish the sweep (run its command again: the store resumes where it stopped), "
                                 "or publish with --allow-incomplete, which says so on every affected page and cell")
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    for page in pages:
        reference = page_reference(page.records, references)
        page.claim = claim
        if reference in page.methods:
            if claim == "speakers":
                page.speakers = speaker_rows(store, page.cycles)
            page.comparisons = compare(page, reference)
        text, figures = page_markdown(page, reference, command)
        files[f"{page.name}.md"] = text.encode()
        files.update(figures)
    rankings = {}
    for name in sorted({p.protocol for p in pages}):
        chosen = [p for p in pages if p.protocol == name]
        blocks = [block for p in chosen for block in page_blocks(p)]
        methods = sorted({m for p in chosen for m in p.methods})
        section, figures, _ = ranking_section(blocks, methods, f"figures/{slug(name)}-cd.png",
                                              f"{name}: test corpora x tasks")
        rankings[name] = section
        files.update(figures)
    files["README.md"] = index_markdown(pages, rankings, command, intro_text, tasks_missing).encode()
    written = []
    for relative, data in sorted(files.items()):
        write_atomic(out / relative, data)
        written.append(out / relative)
    return written
