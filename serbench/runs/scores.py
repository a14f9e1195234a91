"""Run records as score tables: one row per run and test corpus (score_rows), and per seed cycle, a seed's runs
over all of the protocol's folds pooled (cycle_rows): what a sweep's summary and the leaderboards read. A table's
score columns are the registered metrics' names (serbench.metrics.METRICS): a run of classes has NaN for the
metrics of ratings, and a run of a dimensional task the reverse."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from serbench.metrics import METRICS, TARGETS, near_collapsed, statistic_scores
from serbench.runs.record import RunRecord
from serbench.runs.store import variant_names


def score_rows(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run record and test corpus: the run's labels (its method named by its variant), every
    registered metric, n, its statistic (confusion matrix or rating sums), collapse and near-collapse
    (metrics.near_collapsed, of classes only), and `cycle_n`: the test utterances of a whole seed cycle."""
    names = variant_names(records)
    rows = [{"run_id": r.run_id, "method": names[r.run_id], "protocol": r.protocol, "fold": r.fold, "task": r.task,
             "frontend": r.frontend, "seed": r.seed, "corpus": corpus,
             **{m: math.nan if getattr(s, m) is None else getattr(s, m) for m in METRICS},
             "n": s.n, "cycle_n": cycle_size(r, corpus), "synthetic": r.synthetic, "confusion": s.confusion,
             "rating_sums": s.rating_sums, "collapsed": s.collapsed,
             "near_collapsed": bool(s.confusion) and near_collapsed(np.asarray(s.confusion))}
            for r in records for corpus, s in sorted(r.scores.items())]
    columns = ["run_id", "method", "protocol", "fold", "task", "frontend", "seed", "corpus", *METRICS, "n",
               "cycle_n", "synthetic", "confusion", "rating_sums", "collapsed", "near_collapsed"]
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
    over the protocol's folds (their statistics added: metrics.Metric). Each test utterance is scored once per seed
    cycle (folds test disjoint speakers), so this is the seed's score on the whole test corpus: what summaries,
    leaderboards and their tests are computed from (docs/statistics.md).

    `complete` says whether the cycle tests every utterance that the protocol's folds test together (judged
    against the protocol as the runs recorded their splits, not against the folds other runs happen to have:
    a store with 2 of 5 folds is incomplete for every method), `cycle_n` how many that is; `collapsed` counts its
    runs that gave every test utterance of the corpus one class, `near_collapsed` those that gave nearly every
    one (metrics.near_collapsed)."""
    # folds added in one order: a deterministic system's rating sums, and so its CCC, come out equal in every seed
    runs = score_rows(records).sort_values(["fold", "run_id"], kind="stable")
    keys = ["protocol", "task", "frontend", "method", "seed", "corpus"]
    rows = []
    for key, group in runs.groupby(keys, sort=True):
        target = "ratings" if len(group["rating_sums"].iloc[0]) else "classes"  # one task: one target
        pooled = statistic_scores(np.sum([np.asarray(s) for s in group[TARGETS[target]]], axis=0), target)
        expected = int(group["cycle_n"].max())
        rows.append({**dict(zip(keys, key, strict=True)), "confusion": [], "rating_sums": [], **pooled,
                     "folds": len(group), "cycle_n": expected, "complete": pooled["n"] == expected,
                     "collapsed": int(group["collapsed"].sum()), "near_collapsed": int(group["near_collapsed"].sum()),
                     "run_ids": sorted(group["run_id"]), "synthetic": bool(group["synthetic"].any())})
    columns = [*keys, *METRICS, "n", "confusion", "rating_sums", "folds", "cycle_n", "complete", "collapsed",
               "near_collapsed", "run_ids", "synthetic"]
    # typed even when empty (every run failed): an empty object column would index columns, not rows
    return pd.DataFrame(rows, columns=columns).astype({"complete": bool, "collapsed": int, "near_collapsed": int,
                                                       "synthetic": bool})


def degenerate(cycles: pd.DataFrame) -> pd.Series:
    """Which rows of cycle_rows have a run that collapsed to one class, or nearly."""
    return (cycles["collapsed"] + cycles["near_collapsed"]) > 0
