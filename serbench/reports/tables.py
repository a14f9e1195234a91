"""A page's tables: from the seed cycles of its runs (serbench.runs.scores.cycle_rows), its cells, gaps and ranking
blocks, and per test speaker of a cycle (speaker_rows). A table's score columns are the registered metrics' names
(serbench.metrics.METRICS); the main score of a page is one of them, its `Metric`, of the target of its task
(classes, or the ratings of a dimensional task)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from serbench.data.corpora import CORPORA
from serbench.data.labels import CATEGORICAL, task_target
from serbench.metrics import METRICS, Metric, main_metric, prediction_statistic
from serbench.reports import stats
from serbench.reports.known_classes import known_classes, subset_scores
from serbench.reports.markdown import slug
from serbench.runs.record import RunRecord
from serbench.runs.scores import cycle_rows
from serbench.runs.store import ResultsStore


def speaker_rows(store: ResultsStore, cycles: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """One row per row of cycle_rows and test speaker: the speaker's score (`metric`, in the column of its name)
    from the seed cycle's predictions (each speaker is tested in one fold of a cycle), of the confusion matrix or
    the rating sums of the speaker's utterances. The unit of the new-speaker claim (stats.speaker_test). A score of
    ratings leaves out the speakers whose true ratings are one value: a correlation within such a speaker is 0
    or undefined whatever the predictions, so it would say nothing about the systems."""
    tables: dict[str, pd.DataFrame] = {}
    rows = []
    for method, corpus, seed, run_ids, confusion in zip(cycles["method"], cycles["corpus"], cycles["seed"],
                                                        cycles["run_ids"], cycles["confusion"], strict=True):
        parts = []
        for run_id in run_ids:
            if run_id not in tables:
                tables[run_id] = store.table(run_id, "predictions")[["corpus", "speaker", "y", "predicted"]]
            parts.append(tables[run_id][tables[run_id]["corpus"] == corpus])
        for speaker, group in pd.concat(parts).groupby("speaker", sort=True):
            y, predicted = group["y"].to_numpy(), group["predicted"].to_numpy()
            if metric.target == "ratings" and np.ptp(y) == 0:
                continue
            statistic = prediction_statistic(y, predicted, len(confusion))  # a run of ratings: no confusion
            rows.append({"method": method, "corpus": corpus, "seed": seed, "speaker": str(speaker),
                         metric.name: metric.of_statistic(statistic)})
    return pd.DataFrame(rows, columns=["method", "corpus", "seed", "speaker", metric.name])


def named_subsets(records: Sequence[RunRecord]) -> list[tuple[str, ...]]:
    """The class subsets that pretrained classifiers among `records` can name, where fewer than the task's."""
    return sorted({named for r in records if (named := known_classes(r)) is not None and len(named) < len(r.classes)})


def known_class_rows(store: ResultsStore, page: Page) -> pd.DataFrame:
    """Per class subset a classifier of the page can name (named_subsets), system, seed and test corpus: the seed's
    score (the page's metric) over that subset, its runs' subset confusions (known_classes.subset_scores) pooled
    over the folds. Every system of the page is scored over each subset, so that they compare on equal terms. A
    page of ratings has no classes to name: no rows."""
    rows: list[dict] = []
    if page.target != "classes":
        return pd.DataFrame(rows, columns=["subset", "method", "corpus", "seed", page.metric.name])
    classes = page.records[0].classes
    for subset in named_subsets(page.records):
        scored = {run_id: subset_scores(store.table(run_id, "predictions"), classes, subset)
                  for run_id in sorted({run_id for ids in page.cycles["run_ids"] for run_id in ids})}
        for method, corpus, seed, run_ids in zip(page.cycles["method"], page.cycles["corpus"], page.cycles["seed"],
                                                 page.cycles["run_ids"], strict=True):
            matrices = [np.asarray(scored[run_id][corpus]["confusion"]) for run_id in run_ids
                        if corpus in scored[run_id]]
            rows.append({"subset": ", ".join(subset), "method": method, "corpus": corpus, "seed": seed,
                         page.metric.name: page.metric.pooled(matrices) if matrices else float("nan")})
    return pd.DataFrame(rows, columns=["subset", "method", "corpus", "seed", page.metric.name])


def aggregate(records: Sequence[RunRecord], metric: Metric | None = None) -> pd.DataFrame:
    """Per (protocol, task, front-end, method, test corpus): the mean, std, 95% CI and n over seeds of `metric`
    (default: each task's main score, UA or a dimensional task's CCC; each seed's score pooled over the protocol's
    folds; complete seed cycles only), and the means of the other registered metrics of its target alongside.
    Columns: `<metric>_mean`, `<metric>_std`, ..., `<other metric>_mean` (a store of both kinds of task has both
    kinds of column, each row filling its own)."""
    rows = []
    keys = ["protocol", "task", "frontend", "method", "corpus"]
    cycles = cycle_rows(records)
    for key, group in cycles[cycles["complete"]].groupby(keys, sort=True):
        chosen = metric or main_metric(task_target(str(key[1])))
        if chosen.target != task_target(str(key[1])):
            continue  # a score of the other kind of task: these runs have none
        main = stats.summarize(group.sort_values("seed")[chosen.name].tolist(), bounds=chosen.bounds)
        rows.append({**dict(zip(keys, key, strict=True)), f"{chosen.name}_mean": main.mean,
                     f"{chosen.name}_std": main.std, f"{chosen.name}_ci_low": main.ci_low,
                     f"{chosen.name}_ci_high": main.ci_high, "n": main.n,
                     **{f"{m.name}_mean": float(group[m.name].mean()) for m in other_metrics(chosen)}})
    return pd.DataFrame(rows)


def other_metrics(metric: Metric) -> list[Metric]:
    """The registered metrics of `metric`'s target but itself: the columns beside a page's main score."""
    return [m for m in METRICS.values() if m.target == metric.target and m != metric]


@dataclass
class Page:
    """The runs of one (protocol, task), on every front-end, and what is computed from them."""

    protocol: str
    task: str
    records: list[RunRecord]
    columns: list[str]  # the test corpora, in the protocol's order
    methods: list[str]  # the rows: systems, each a method (named by its variant) on one front-end
    cycles: pd.DataFrame  # cycle_rows of the records, complete seed cycles only
    incomplete: pd.DataFrame  # the seed cycles left out of every number: a fold's run is missing
    metric: Metric  # the main score: the protocol's
    reference: str | None  # what the markers test against; None: the page has no reference, and no paired tests
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    absent: list[str] = field(default_factory=list)  # systems with runs on the protocol's other tasks, none here
    claim: str = "seeds"  # what the markers claim (stats.CLAIMS)
    speakers: pd.DataFrame = field(default_factory=pd.DataFrame)  # speaker_rows, for the claim "speakers"
    known: pd.DataFrame = field(default_factory=pd.DataFrame)  # known_class_rows, where a classifier names fewer
    # test corpora of the protocol that the task leaves wholly unrated (unrated_corpora): no columns, and no gaps
    unrated: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{slug(self.protocol)}-{slug(self.task)}"

    @property
    def target(self) -> str:
        """What its task predicts (serbench.metrics.TARGETS): classes, or ratings."""
        return task_target(self.task)

    @property
    def setting(self) -> dict:
        """The protocol's content, as its runs recorded it (the same on every front-end: select_configuration)."""
        return self.records[0].identity["protocol"]

    @property
    def probed(self) -> list[str]:
        """The domains its runs' embeddings were probed for (corpus, gender), sorted."""
        return sorted({domain for r in self.records for domain in (r.probes or {})})

    @property
    def class_names(self) -> list[str]:
        """The task's classes as a reader understands them: under `categorical`, whose classes are a corpus's own
        codes, each code with the emotion it stands for ("W (anger)" for Emo-DB's letters), from the reader's
        table (CorpusInfo.codes); the other tasks' classes are words already."""
        classes = self.records[0].classes
        if self.task != CATEGORICAL:
            return list(classes)
        codes = {code: emotion for corpus in self.columns if corpus in CORPORA
                 for code, emotion in CORPORA[corpus].codes.items()}
        return [f"{c} ({codes[c]})" if codes.get(c, c) != c else c for c in classes]

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


def build_page(protocol: str, task: str, records: list[RunRecord], reference: str | None,
               metric: Metric) -> Page:
    """A page's runs, columns (the protocol's test corpora in its own order) and rows (reference first)."""
    cycles = cycle_rows(records)
    present = set(cycles["corpus"])
    columns = [c for c in records[0].identity["protocol"]["test_corpora"] if c in present]
    methods = sorted(set(cycles["method"]), key=lambda m: (m != reference, m))
    return Page(protocol, task, records, columns, methods, cycles[cycles["complete"]].reset_index(drop=True),
                cycles[~cycles["complete"]].reset_index(drop=True), metric, reference,
                unrated=unrated_corpora(records))


def unrated_corpora(records: Sequence[RunRecord]) -> dict[str, dict[str, int]]:
    """The test corpora of a dimensional task's runs that none of them scores because every run excluded all of
    the corpus's utterances it was given (a corpus without ratings of the task: Emo-DB and SAVEE have no arousal
    ratings), each with those exclusions by reason (the first run's, in run-id order). A task of classes: none."""
    if task_target(records[0].task) != "ratings":
        return {}
    scored = {corpus for r in records for corpus in r.scores}
    return {c: dict(records[0].excluded[c]) for c in records[0].identity["protocol"]["test_corpora"]
            if c not in scored and all(r.excluded.get(c) for r in records)}


def gaps(page: Page) -> dict[tuple[str, str], str]:
    """What the page's sweep lacks against its protocol, per (system, test corpus) cell ("" as the corpus: the
    whole row): seed cycles missing a fold's run (left out of every number), test corpora of the protocol without
    a run (but those the task leaves unrated: Page.unrated), and systems that have runs on the protocol's other
    tasks of the same target and none on this one (Page.absent)."""
    found: dict[tuple[str, str], str] = {}
    for (method, corpus), rows in page.incomplete.groupby(["method", "corpus"], sort=True):
        seeds = ", ".join(str(seed) for seed in sorted(rows["seed"]))
        counts = ", ".join(f"{n} of {total}" for n, total in zip(rows["n"], rows["cycle_n"], strict=True))
        found[(str(method), str(corpus))] = (f"seed(s) {seeds} lack a fold's run (test utterances {counts}), so "
                                             f"they are left out")
    tested = set(zip(page.cycles["method"], page.cycles["corpus"], strict=True))
    tested |= set(zip(page.incomplete["method"], page.incomplete["corpus"], strict=True))
    for method in page.methods:
        for corpus in page.setting["test_corpora"]:
            if (method, corpus) not in tested and corpus not in page.unrated:
                found[(method, corpus)] = "no run tests this corpus"
    for method in page.absent:
        found[(method, "")] = f"runs on other tasks of {page.protocol}, none on {page.task}"
    return found


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


def average_score(page: Page, method: str) -> stats.Summary:
    """The main score averaged over the page's test corpora per seed (seeds with every corpus), summarised over
    seeds."""
    rows = page.cycles[page.cycles["method"] == method]
    per_seed = [float(group[page.metric.name].mean()) for _, group in rows.groupby("seed", sort=True)
                if set(group["corpus"]) >= set(page.columns)]
    return stats.summarize(per_seed, bounds=page.metric.bounds)


Block = tuple[str, pd.DataFrame]  # a block's name, and its seed cycles (one test corpus of one task)


def page_blocks(page: Page) -> list[Block]:
    return [(f"{page.task}: {corpus}", page.cycles[page.cycles["corpus"] == corpus]) for corpus in page.columns]


def rank_table(blocks: Sequence[Block], methods: Sequence[str],
               metric: Metric) -> tuple[list[str], list[int], np.ndarray, dict[str, str]]:
    """The ranked methods, the seeds they all have in every block, their scores (`metric`; seeds, methods, blocks:
    a seed's runs of a method move together in the permutation test), and the methods left out with the reason.

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
    scores = np.array([[[float(frame.loc[(frame["method"] == m) & (frame["seed"] == s), metric.name].iloc[0])
                         for _, frame in blocks] for m in ranked] for s in seeds])
    return ranked, seeds, scores, left_out
