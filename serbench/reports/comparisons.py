"""Every system of a page against its reference, per test corpus: the paired test of the page's claim, McNemar's
test of the collapses, and Holm's correction across the page (serbench/reports/stats.py; docs/statistics.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from serbench.errors import SerbenchError
from serbench.metrics import TARGETS
from serbench.reports import stats
from serbench.reports.tables import Page, cell_scores
from serbench.runs.scores import degenerate

COLUMNS = ["column", "method", "difference", "ci_low", "ci_high", "p", "seeds", "working", "speakers", "detectable",
           "distinct", "collapsed", "reference_collapsed", "collapse_p"]
Cells = tuple[str, pd.DataFrame]  # a system and its seed cycles on one test corpus, indexed by seed


def compare(page: Page, reference: str) -> pd.DataFrame:
    """Every method against `reference` (the page's) on every test corpus, on the seeds both have, in the page's main
    score: stats.working_paired_test of the page's claim, on the seeds where neither run collapsed (or nearly),
    and McNemar's exact test of the collapses (docs/statistics.md), with Holm's correction of the score tests
    across the page's distinct comparisons (`distinct`: comparisons of one corpus with the same differences are
    one test and count once)."""
    rows = []
    for corpus in page.columns:
        ref = cell_scores(page, reference, corpus).set_index("seed")
        for method in page.methods:
            if method == reference:
                continue
            other = cell_scores(page, method, corpus).set_index("seed")
            seeds = sorted(set(ref.index) & set(other.index))
            check_same_utterances(page, corpus, (reference, ref), (method, other), seeds)
            if len(seeds) >= 2:
                rows.append(comparison(page, corpus, (reference, ref), (method, other), seeds))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    tested = frame.dropna(subset=["distinct"]).drop_duplicates("distinct")
    adjusted = dict(zip(tested["distinct"], stats.holm(tested["p"].tolist()), strict=True))
    frame["p_holm"] = [adjusted.get(key, math.nan) for key in frame["distinct"]]
    return frame


def check_same_utterances(page: Page, corpus: str, reference: Cells, other: Cells, seeds: list[int]) -> None:
    """The reference's and the other system's cycles of each seed must score the same test utterances: each class
    as often in both, or, for ratings, as many true ratings with the same sum and sum of squares."""
    for seed in seeds:
        first, second = (true_part(np.asarray(frame.at[seed, TARGETS[page.target]], dtype=float), page.target)
                         for _, frame in (reference, other))
        if not np.allclose(first, second, rtol=1e-9, atol=1e-9):
            raise SerbenchError(f"{page.protocol}/{page.task}: {reference[0]} and {other[0]} scored different "
                                f"{corpus} test utterances in seed {seed}, so they cannot be compared "
                                f"pairwise", hint="both must come from the same protocol, split and labels; "
                                                  "re-run the sweep so that they do")


def true_part(statistic: np.ndarray, target: str) -> np.ndarray:
    """What a cycle's statistic says of its test utterances alone: the support of each class (a confusion
    matrix's row sums), or n, the sum and the sum of squares of the true ratings (metrics.rating_sums)."""
    return statistic.sum(axis=1) if target == "classes" else statistic[[0, 1, 3]]


def comparison(page: Page, corpus: str, reference: Cells, other: Cells, seeds: list[int]) -> dict:
    """One row of compare(): the other system against the reference on `corpus`, over `seeds` (two or more)."""
    first, second = (speaker_table(page, method, corpus, seeds) if page.claim == "speakers" else
                     frame.loc[seeds, page.metric.name].to_numpy() for method, frame in (reference, other))
    low, high = page.metric.bounds
    result = stats.working_paired_test(first, second, degenerate(reference[1].loc[seeds]).to_numpy(),
                                       degenerate(other[1].loc[seeds]).to_numpy(), claim=page.claim,
                                       width=high - low)
    test, kept = result.test, np.asarray(result.kept)
    differences = second[kept] - first[kept]
    row = {"column": corpus, "method": other[0], "difference": test.difference, "ci_low": test.ci_low,
           "ci_high": test.ci_high, "p": test.p, "seeds": len(seeds), "working": test.n,
           "speakers": first.shape[1] if first.ndim == 2 else 0, "detectable": math.nan, "distinct": None,
           "collapsed": result.other_collapsed, "reference_collapsed": result.reference_collapsed,
           "collapse_p": result.collapse_p}
    if page.claim == "seeds" and test.n > 1 and max(np.ptp(first[kept]), np.ptp(second[kept])) <= stats.ZERO_SPREAD:
        # Both gave the same score in every seed (deterministic, as the scikit-learn estimators are): their
        # difference is exact, the seeds are no replications, and a test over seeds has nothing to test.
        # (Over new speakers they are tested: the speakers replicate.) Up to float rounding: a CCC pools its
        # folds' float sums, added in another order in each seed.
        row.update(ci_low=math.nan, ci_high=math.nan, p=math.nan)
    elif not math.isnan(test.p):
        row.update(detectable=stats.detectable_shift(test.standard_error, test.df),
                   distinct=(corpus, tuple(np.round(differences, 12).ravel())))
    return row


def speaker_table(page: Page, method: str, corpus: str, seeds: list[int]) -> np.ndarray:
    """The main score per seed (rows, in `seeds`' order) and test speaker (columns, sorted) of one cell: the claim
    "speakers"."""
    rows = page.speakers[(page.speakers["method"] == method) & (page.speakers["corpus"] == corpus)]
    table = rows.pivot(index="seed", columns="speaker", values=page.metric.name).sort_index(axis=1)
    return table.loc[list(seeds)].to_numpy()
