"""Statistics for leaderboards: summaries over seeds, paired tests against a reference, rankings across blocks.

The choices and their reasons are in docs/statistics.md. In short:
- `summarize`: mean, sample std and a t-based 95% confidence interval of UA over seeds.
- `paired_bootstrap`: the main test of a method against the reference on one test corpus. It resamples both
  sources of variance at once: seeds (training randomness) and test utterances (the finite test set, shared by
  the two methods and across seeds, so the comparison stays paired).
- `seed_tests`: the seed-level paired t-test and Wilcoxon signed-rank test (scipy.stats), for the details.
- `holm`: Holm's step-down correction across the comparisons of one table.
- `friedman`, `nemenyi_cd`, `cliques`: Friedman test with the Iman-Davenport F and the Nemenyi post-hoc
  critical difference over blocks (test corpus x task), as in Demsar, JMLR 7 (2006).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from serbench.metrics import unweighted_accuracy

ALPHA = 0.05
REPLICATES = 2000
# Demsar (2006), section 3.2.2: the chi-square approximation of the Friedman statistic needs about N > 10 blocks.
FEW_BLOCKS = 10


@dataclass(frozen=True)
class Summary:
    """A score over seeds: mean, sample standard deviation, 95% t-interval of the mean, number of seeds."""

    mean: float
    std: float
    ci_low: float
    ci_high: float
    n: int


def summarize(values: Sequence[float], level: float = 0.95) -> Summary:
    """Mean, std (ddof 1) and Student-t confidence interval of the mean; std and interval are NaN for n < 2."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Summary(mean, math.nan, math.nan, math.nan, 1)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return Summary(mean, std, mean - half, mean + half, n)


@dataclass(frozen=True)
class Paired:
    """One seed's test utterances of one corpus, with the reference's and the other method's decisions."""

    utterances: np.ndarray  # utterance ids: the same id gets the same bootstrap weight in every seed
    y: np.ndarray
    reference: np.ndarray
    other: np.ndarray


@dataclass(frozen=True)
class Bootstrap:
    """The UA difference other - reference (mean over seeds), its bootstrap 95% interval and p-value."""

    difference: float
    ci_low: float
    ci_high: float
    p: float
    seeds: int
    utterances: int
    replicates: int


def _weighted_ua(weights: np.ndarray, cells: np.ndarray, n_classes: int) -> np.ndarray:
    """UA under each row of `weights` (replicates x utterances); `cells` is each utterance's confusion cell."""
    onehot = np.zeros((len(cells), n_classes * n_classes))
    onehot[np.arange(len(cells)), cells] = 1.0
    matrices = (weights @ onehot).reshape(len(weights), n_classes, n_classes)
    return np.array([unweighted_accuracy(matrix) for matrix in matrices])


def paired_bootstrap(pairs: Sequence[Paired], n_classes: int, *, replicates: int = REPLICATES,
                     seed: int = 0) -> Bootstrap:
    """Two-level paired bootstrap of the mean UA difference (other - reference) over seeds.

    Each replicate draws the seeds with replacement and, independently, the test utterances with replacement
    (one multinomial draw over all utterance ids, applied to every seed, because the seeds of a protocol
    with a fixed test set share its utterances); both methods see the same draw. The p-value is two-sided,
    from the replicates centred on the observed difference (the null of no difference), counted as
    (1 + #{|d* - d| >= |d|}) / (1 + replicates).
    """
    if not pairs:
        raise ValueError("paired_bootstrap needs at least one seed")
    rng = np.random.default_rng(seed)
    ids = np.unique(np.concatenate([pair.utterances for pair in pairs]).astype(str))
    utterance_weights = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=replicates)
    seed_weights = rng.multinomial(len(pairs), np.full(len(pairs), 1 / len(pairs)), size=replicates)
    observed, resampled = [], []
    for pair in pairs:
        columns = np.searchsorted(ids, np.asarray(pair.utterances).astype(str))
        weights = np.vstack([np.ones(len(columns)), utterance_weights[:, columns]])  # row 0: the data itself
        ref = _weighted_ua(weights, np.asarray(pair.y) * n_classes + np.asarray(pair.reference), n_classes)
        other = _weighted_ua(weights, np.asarray(pair.y) * n_classes + np.asarray(pair.other), n_classes)
        observed.append(other[0] - ref[0])
        resampled.append(other[1:] - ref[1:])
    difference = float(np.mean(observed))
    # A replicate whose draw leaves a seed without any utterance of a class still has a UA (over the classes
    # present); a seed with no utterance at all in the draw is NaN and drops out of that replicate's mean.
    per_seed = np.column_stack(resampled)
    valid = ~np.isnan(per_seed)
    counts = (seed_weights * valid).sum(axis=1)
    keep = counts > 0
    boot = (seed_weights * np.where(valid, per_seed, 0.0)).sum(axis=1)[keep] / counts[keep]
    low, high = np.quantile(boot, [ALPHA / 2, 1 - ALPHA / 2])
    extreme = np.abs(boot - difference) >= abs(difference) - 1e-12
    p = 1.0 if difference == 0 else float((1 + extreme.sum()) / (1 + len(boot)))
    return Bootstrap(difference, float(low), float(high), p, len(pairs), len(ids), replicates)


@dataclass(frozen=True)
class SeedTests:
    """Seed-level paired tests of other vs reference UA: t-test and Wilcoxon signed-rank, two-sided."""

    t_p: float
    wilcoxon_p: float
    n: int


def seed_tests(reference: Sequence[float], other: Sequence[float]) -> SeedTests:
    """scipy's ttest_rel and wilcoxon on per-seed UA pairs. NaN where a test is undefined: fewer than two
    pairs, or (t-test) differences without variance; identical scores give a Wilcoxon p of 1."""
    a, b = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    n = len(a)
    if n < 2:
        return SeedTests(math.nan, math.nan, n)
    differences = b - a
    t_p = math.nan if np.ptp(differences) == 0 else float(stats.ttest_rel(b, a).pvalue)
    if not differences.any():
        w_p = 1.0
    else:
        with warnings.catch_warnings():  # scipy warns about ties and zeros, which it handles
            warnings.simplefilter("ignore", RuntimeWarning)
            w_p = float(stats.wilcoxon(b, a).pvalue)
    return SeedTests(t_p, w_p, n)


def wilcoxon_min_p(n: int) -> float:
    """The smallest two-sided p the exact Wilcoxon signed-rank test can give with n pairs (all of one sign)."""
    return min(1.0, 2.0 / 2**n)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order; NaN entries stay NaN and do not count."""
    p = np.asarray(pvalues, dtype=float)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    adjusted = np.full(len(p), math.nan)
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


@dataclass(frozen=True)
class Friedman:
    """Friedman test over blocks (rows) x methods (columns), after Demsar (2006)."""

    ranks: tuple[float, ...]  # average rank of each method, 1 = best
    chi2: float  # Friedman's chi2_F (without tie correction, as in Demsar)
    p_chi2: float
    f: float  # Iman-Davenport F_F
    p_f: float
    blocks: int
    methods: int
    cd: float  # Nemenyi critical difference of average ranks at ALPHA


def friedman(table: np.ndarray, *, higher_is_better: bool = True, alpha: float = ALPHA) -> Friedman:
    """Average ranks (ties share the mean rank), Friedman chi2_F, Iman-Davenport F_F and the Nemenyi CD."""
    scores = np.asarray(table, dtype=float)
    n, k = scores.shape
    if n < 2 or k < 2:
        raise ValueError(f"the Friedman test needs at least 2 blocks and 2 methods, got {n} x {k}")
    ranks = stats.rankdata(-scores if higher_is_better else scores, axis=1).mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * (float(np.sum(ranks**2)) - k * (k + 1) ** 2 / 4)
    p_chi2 = float(stats.chi2.sf(chi2, k - 1))
    denominator = n * (k - 1) - chi2
    if denominator <= 1e-12:  # every block ranks the methods the same way
        f, p_f = math.inf, 0.0
    else:
        f = (n - 1) * chi2 / denominator
        p_f = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    return Friedman(tuple(float(r) for r in ranks), float(chi2), p_chi2, float(f), p_f, n, k,
                    nemenyi_cd(k, n, alpha))


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Critical difference of average ranks, q_alpha * sqrt(k (k + 1) / (6 n)); q_alpha is the studentized
    range quantile over sqrt(2) (Demsar's table 5: 2.569 for k = 4 at alpha 0.05)."""
    q = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6 * n))


def cliques(ranks: Sequence[float], cd: float) -> list[tuple[int, int]]:
    """Groups of methods whose average ranks differ by less than `cd`, as (first, last) positions in ascending
    rank order; only maximal groups of at least two. These are the bars of a critical-difference diagram."""
    ordered = sorted(ranks)
    spans = []
    for first in range(len(ordered)):
        last = first
        while last + 1 < len(ordered) and ordered[last + 1] - ordered[first] < cd:
            last += 1
        if last > first and not (spans and spans[-1][1] >= last):
            spans.append((first, last))
    return spans


def low_power(blocks: int, methods: int, alpha: float = ALPHA) -> str | None:
    """A warning when a Friedman/Nemenyi analysis over `blocks` blocks has too little power to read much into."""
    if blocks < 2:
        return f"only {blocks} block: no ranking test is possible"
    if nemenyi_cd(methods, blocks, alpha) >= methods - 1:
        return (f"with {blocks} blocks and {methods} methods the Nemenyi critical difference exceeds the widest "
                f"possible rank gap ({methods - 1}): no pair of methods can ever differ significantly")
    if blocks < FEW_BLOCKS:
        return (f"only {blocks} blocks: Demsar (2006) advises more than {FEW_BLOCKS}; the "
                f"Friedman test has little power and its chi-square approximation is rough, so read the ranks "
                f"as descriptive")
    return None
