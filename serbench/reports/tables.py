"""Run records become score tables: one row per run and test corpus (score_rows), per seed cycle, a seed's runs
over all of the protocol's folds pooled (cycle_rows), and per test speaker of a cycle (speaker_rows); a page's
cells, gaps and ranking blocks are read from them. A table's score columns are the registered metrics' names
(serbench.metrics.METRICS); the main score of a page is one of them, its `Metric`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from serbench.metrics import MAIN_METRIC, METRICS, Metric, confusion_matrix, near_collapsed
from serbench.reports import stats
from serbench.reports.markdown import slug
from serbench.runs.record import RunRecord
from serbench.runs.store import ResultsStore, variant_names


def score_rows(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run record and test corpus: the run's labels (its method named by its variant), every
    registered metric, n, confusion matrix, collapse and near-collapse (metrics.near_collapsed), and `cycle_n`: the
    test utterances of a whole seed cycle."""
    names = variant_names(records)
    rows = [{"run_id": r.run_id, "method": names[r.run_id], "protocol": r.protocol, "fold": r.fold, "task": r.task,
             "frontend": r.frontend, "seed": r.seed, "corpus": corpus, **{m: getattr(s, m) for m in METRICS},
             "n": s.n, "cycle_n": cycle_size(r, corpus), "synthetic": r.synthetic, "confusion": s.confusion,
             "collapsed": s.collapsed, "near_collapsed": near_collapsed(np.asarray(s.confusion))}
            for r in records for corpus, s in sorted(r.scores.items())]
    columns = ["run_id", "method", "protocol", "fold", "task", "frontend", "seed", "corpus", *METRICS, "n",
               "cycle_n", "synthetic", "confusion", "collapsed", "near_collapsed"]
    return pd.DataFrame(rows, columns=columns)


def cycle_size(record: RunRecord, corpus: str) -> int:
    """How many of `corpus`'s utterances one seed's runs over all of the protocol's folds test, from what a single
    run recorded of its split: under an official split its one fold's test part; under every other split the folds
    test disjoint speakers and, together, every labelled utterance of the corpus (all parts of any one fold)."""
    parts = record.split.get(corpus, {})
    if record.identity.get("protocol", {}).get("split") == "official":
        return int(parts.get("test_utterances", 0))
    return sum(int(count) for key, count in parts.items() if key.endswith("_utterances"))


def cycle_rows(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per (protocol, task, front-end, method, seed, test corpus): the scores of one seed's runs pooled
    over the protocol's folds (Metric.pooled). Each test utterance is scored once per seed cycle (folds test
    disjoint speakers), so this is the seed's score on the whole test corpus: what summaries, leaderboards and
    their tests are computed from (docs/statistics.md).

    `complete` says whether the cycle tests every utterance that the protocol's folds test together (judged
    against the protocol as the runs recorded their splits, not against the folds other runs happen to have:
    a store with 2 of 5 folds is incomplete for every method), `cycle_n` how many that is; `collapsed` counts its
    runs that gave every test utterance of the corpus one class, `near_collapsed` those that gave nearly every
    one (metrics.near_collapsed)."""
    runs = score_rows(records)
    keys = ["protocol", "task", "frontend", "method", "seed", "corpus"]
    rows = []
    for key, group in runs.groupby(keys, sort=True):
        matrices = [np.asarray(m) for m in group["confusion"]]
        confusion = np.sum(matrices, axis=0)
        expected = int(group["cycle_n"].max())
        rows.append({**dict(zip(keys, key, strict=True)),
                     **{name: metric.pooled(matrices) for name, metric in METRICS.items()},
                     "n": int(confusion.sum()), "confusion": confusion.tolist(), "folds": len(group),
                     "cycle_n": expected, "complete": int(confusion.sum()) == expected,
                     "collapsed": int(group["collapsed"].sum()), "near_collapsed": int(group["near_collapsed"].sum()),
                     "run_ids": sorted(group["run_id"]), "synthetic": bool(group["synthetic"].any())})
    columns = [*keys, *METRICS, "n", "confusion", "folds", "cycle_n", "complete", "collapsed", "near_collapsed",
               "run_ids", "synthetic"]
    # typed even when empty (every run failed): an empty object column would index columns, not rows
    return pd.DataFrame(rows, columns=columns).astype({"complete": bool, "collapsed": int, "near_collapsed": int,
                                                       "synthetic": bool})


def speaker_rows(store: ResultsStore, cycles: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """One row per row of cycle_rows and test speaker: the speaker's score (`metric`, in the column of its name)
    from the seed cycle's predictions (each speaker is tested in one fold of a cycle). The unit of the new-speaker
    claim (stats.speaker_test)."""
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
            matrix = confusion_matrix(group["y"].to_numpy(), group["predicted"].to_numpy(), len(confusion))
            rows.append({"method": method, "corpus": corpus, "seed": seed, "speaker": str(speaker),
                         metric.name: metric.of_matrix(matrix)})
    return pd.DataFrame(rows, columns=["method", "corpus", "seed", "speaker", metric.name])


def degenerate(cycles: pd.DataFrame) -> pd.Series:
    """Which rows of cycle_rows have a run that collapsed to one class, or nearly."""
    return (cycles["collapsed"] + cycles["near_collapsed"]) > 0


def aggregate(records: Sequence[RunRecord], metric: Metric = METRICS[MAIN_METRIC]) -> pd.DataFrame:
    """Per (protocol, task, front-end, method, test corpus): the mean, std, 95% CI and n over seeds of `metric`
    (each seed's score pooled over the protocol's folds; complete seed cycles only), and the means of the other
    registered metrics alongside. Columns: `<metric>_mean`, `<metric>_std`, ..., `<other metric>_mean`."""
    rows = []
    keys = ["protocol", "task", "frontend", "method", "corpus"]
    cycles = cycle_rows(records)
    for key, group in cycles[cycles["complete"]].groupby(keys, sort=True):
        main = stats.summarize(group.sort_values("seed")[metric.name].tolist())
        rows.append({**dict(zip(keys, key, strict=True)), f"{metric.name}_mean": main.mean,
                     f"{metric.name}_std": main.std, f"{metric.name}_ci_low": main.ci_low,
                     f"{metric.name}_ci_high": main.ci_high, "n": main.n,
                     **{f"{name}_mean": float(group[name].mean()) for name in METRICS if name != metric.name}})
    return pd.DataFrame(rows)


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


def build_page(protocol: str, task: str, records: list[RunRecord], reference: str | None,
               metric: Metric) -> Page:
    """A page's runs, columns (the protocol's test corpora in its own order) and rows (reference first)."""
    cycles = cycle_rows(records)
    present = set(cycles["corpus"])
    columns = [c for c in records[0].identity["protocol"]["test_corpora"] if c in present]
    methods = sorted(set(cycles["method"]), key=lambda m: (m != reference, m))
    return Page(protocol, task, records, columns, methods, cycles[cycles["complete"]].reset_index(drop=True),
                cycles[~cycles["complete"]].reset_index(drop=True), metric, reference)


def gaps(page: Page) -> dict[tuple[str, str], str]:
    """What the page's sweep lacks against its protocol, per (system, test corpus) cell ("" as the corpus: the
    whole row): seed cycles missing a fold's run (left out of every number), test corpora of the protocol without
    a run, and systems that have runs on the protocol's other tasks and none on this one."""
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
            if (method, corpus) not in tested:
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
    return stats.summarize(per_seed)


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
