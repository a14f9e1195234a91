"""Statistics for leaderboards: summaries over seeds, paired tests against a reference, rankings across blocks.

The choices and their reasons are in docs/statistics.md; serbench/reports/calibration.py checks them by simulation. In
short, every test is about the protocol's fixed test utterances, in expectation over training randomness, so
its unit is the seed (one UA per seed and method; under fold protocols, one pooled UA per seed cycle). UA stands
for the page's score: the dimensional tasks' CCC (of rating sums pooled the same way) goes through the same tests,
which the simulation calibrates for it too.
- `summarize`: mean, sample std and a t-based 95% confidence interval of UA over seeds, clipped to the score's
  range ([0, 1]; [-1, 1] for CCC).
- `pooled_ua`: UA of one seed cycle of a fold protocol, from the sum of its folds' confusion matrices.
- `paired_test`: the seed-level paired t-test of a method against the reference, with the t-interval of the
  same statistic.
- `working_paired_test`: what the pages apply: paired_test on the seeds where neither run collapsed, and an exact
  test of the collapses themselves, since a test of mean UA over runs that sometimes collapse is not valid.
- `detectable_shift`: the smallest difference a test (paired_test, speaker_test) finds with 80% power, from its
  standard error and degrees of freedom, so that no marker is not read as no difference.
- `speaker_test`: the other claim, about new speakers of the test corpus: a t-test of the mean per-speaker UA
  difference whose standard error carries the seed and the speaker variance (a crossed seed x speaker design,
  Satterthwaite's degrees of freedom).
- `holm`: Holm's step-down correction across the comparisons of one table.
- `permutation_ranking`, `cliques`: average ranks over (seed, block) cells, blocks being test corpus x task, a
  permutation test that moves whole trained models (all blocks of one seed together), and its max-T critical
  difference.

docs/statistics.md says why these replaced serbench 0.1's two-level bootstrap and Friedman/Nemenyi tests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from serbench.metrics import unweighted_accuracy

ALPHA = 0.05
# What a marker claims: a difference on these test speakers, over training seeds (the default), or over new
# training seeds and new speakers of the test corpus (docs/statistics.md).
CLAIMS = ("seeds", "speakers")
# With two speakers their variance has one degree of freedom, and no approximation of the new-speaker test's
# reference distribution holds its level (type-I 0.08 with 10 seeds, serbench calibrate): three at least.
MIN_SPEAKERS = 3
# Scores or score differences whose standard deviation is below this are equal: two UAs from counts can be equal
# in exact arithmetic and differ in the last bits of a float (a mean of five equal floats is not always that
# float), which would give a zero-width interval some width, or make t astronomically large.
ZERO_SPREAD = 1e-12
Values = Sequence[float] | np.ndarray  # one score per seed (or per seed and speaker: speaker_test)
Flags = Sequence[bool] | np.ndarray  # one collapse flag per seed


@dataclass(frozen=True)
class Summary:
    """A score over seeds: mean, sample standard deviation, 95% t-interval of the mean, number of seeds."""

    mean: float
    std: float
    ci_low: float
    ci_high: float
    n: int


def summarize(values: Sequence[float], level: float = 0.95, bounds: tuple[float, float] = (0.0, 1.0)) -> Summary:
    """Mean, std (ddof 1) and Student-t confidence interval of the mean; std and interval are NaN for n < 2, and
    the std is exactly 0 for values equal up to float rounding (ZERO_SPREAD).

    The values are scores within `bounds` (a Metric's: [0, 1] for UA, WA, macro-F1, [-1, 1] for CCC), so their
    expectation is too: the interval is clipped to them. Clipping drops only impossible values, so the interval
    still covers the mean as often as before.
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Summary(mean, math.nan, math.nan, math.nan, 1)
    std = float(x.std(ddof=1))
    std = 0.0 if std <= ZERO_SPREAD else std
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return Summary(mean, std, max(bounds[0], mean - half), min(bounds[1], mean + half), n)


def pooled_ua(confusions: Sequence[np.ndarray]) -> float:
    """UA of one seed cycle of a fold protocol: the folds' confusion matrices summed, then
    serbench.metrics.unweighted_accuracy. Every test utterance counts once, so a fold holding few utterances of
    a class does not weigh as much as a full fold in that class's recall."""
    if len(confusions) == 0:
        raise ValueError("pooled_ua needs the confusion matrix of at least one fold")
    return unweighted_accuracy(np.sum(np.asarray(confusions), axis=0))


@dataclass(frozen=True)
class PairedTest:
    """The seed-level paired t-test of UA, other - reference (as fractions), and its confidence interval."""

    difference: float  # mean over seeds of other - reference
    ci_low: float
    ci_high: float
    p: float  # two-sided
    n: int  # seeds (seed cycles) paired
    df: float  # n - 1, or Satterthwaite's approximation (speaker_test)
    standard_error: float = math.nan  # of the difference; NaN where no test is made


def paired_test(reference: Values, other: Values, *, level: float = 0.95, width: float = 1.0) -> PairedTest:
    """Paired t-test of the per-seed score differences d_s = other(s) - reference(s), df = n - 1, two-sided.

    The interval is the t-interval of the same statistic, so p < 1 - level exactly when it leaves out 0; it is
    clipped to [-width, width], the possible range of a difference of two scores whose range is `width` wide (1
    for UA, 2 for CCC: Metric.bounds). Fewer than two seeds: no test (NaN p and interval). Differences without
    spread: all zero gives p = 1 and the interval [0, 0]; all equal and non-zero makes t infinite, so the test
    falls back to the exact sign-flip test, which uses only the signs that are left: p = 2 / 2^n, and the
    interval is the shift set it does not reject, [d, d] when p < 1 - level and [-width, width] otherwise.
    """
    a, b = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_test needs two equally long sequences of per-seed UA, got {a.shape} and {b.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    n = len(a)
    if n == 0:
        return PairedTest(math.nan, math.nan, math.nan, math.nan, 0, 0)
    differences = b - a
    mean = float(differences.mean())
    if n < 2:
        return PairedTest(mean, math.nan, math.nan, math.nan, n, 0)
    spread = float(differences.std(ddof=1))
    if spread <= ZERO_SPREAD:
        if abs(mean) <= ZERO_SPREAD:
            return PairedTest(0.0, 0.0, 0.0, 1.0, n, n - 1)
        p = 2.0 ** (1 - n)
        low, high = (mean, mean) if p < 1 - level else (-width, width)
        return PairedTest(mean, low, high, p, n, n - 1)
    return _t_test(mean, spread / math.sqrt(n), n, n - 1, level, width)


def _t_test(mean: float, standard_error: float, n: int, df: float, level: float, width: float) -> PairedTest:
    """Two-sided t-test of a mean difference and its t-interval, clipped to [-width, width]."""
    # scipy.special's t distribution: the functions behind scipy.stats.t, without its per-call overhead, which
    # matters in the 90,000 tests of serbench/reports/calibration.py.
    p = float(2 * special.stdtr(df, -abs(mean) / standard_error))
    half = float(special.stdtrit(df, 0.5 + level / 2)) * standard_error
    return PairedTest(mean, max(-width, mean - half), min(width, mean + half), p, n, df, standard_error)


def speaker_test(differences: np.ndarray, *, level: float = 0.95, width: float = 1.0) -> PairedTest:
    """Test of the expected UA difference over new training seeds and new speakers of the test corpus.

    `differences[s, j]`: other minus reference UA of test speaker j in seed s (both methods' runs of that seed).
    Model: d_sj = mu + a_s + b_j + e_sj, crossed random effects of seed (a), speaker (b) and their interaction
    with the test noise (e), without replication. The estimate is the grand mean; its variance,
    var(a) / S + var(b) / J + var(e) / (S J), is estimated without bias from the two-way ANOVA mean squares,
    (MS_seed + MS_speaker - MS_e) / (S J), with Satterthwaite's degrees of freedom for that combination (the
    quasi-F of Cochran and Satterthwaite). Where the combination is not above MS_e alone, MS_e / (S J) with its
    own (S - 1)(J - 1) degrees of freedom: never less than the noise allows. Truncating the variance components
    at 0 instead looked natural and was liberal (type-I 0.11 with 2 speakers and 10 seeds, docs/statistics.md).
    Fewer than two seeds or MIN_SPEAKERS speakers: no test (NaN). The estimand is the mean over speakers of the
    per-speaker UA difference, which weighs speakers equally (a corpus's pooled UA weighs them by utterances).
    The interval is clipped to [-width, width], as paired_test's.
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim != 2:
        raise ValueError(f"speaker_test needs a seeds x speakers table of UA differences, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("speaker_test needs a UA difference for every seed and speaker")
    seeds, speakers = d.shape
    mean = float(d.mean()) if d.size else math.nan
    if seeds < 2 or speakers < MIN_SPEAKERS:
        return PairedTest(mean, math.nan, math.nan, math.nan, seeds, 0)
    seed_means, speaker_means = d.mean(axis=1), d.mean(axis=0)
    df_seed, df_speaker, df_error = seeds - 1, speakers - 1, (seeds - 1) * (speakers - 1)
    ms_seed = speakers * float(((seed_means - mean) ** 2).sum()) / df_seed
    ms_speaker = seeds * float(((speaker_means - mean) ** 2).sum()) / df_speaker
    residual = d - seed_means[:, None] - speaker_means[None, :] + mean
    ms_error = float((residual**2).sum()) / df_error
    total = ms_seed + ms_speaker - ms_error
    if total > ms_error:
        df = total**2 / (ms_seed**2 / df_seed + ms_speaker**2 / df_speaker + ms_error**2 / df_error)
    else:
        total, df = ms_error, df_error
    if total <= ZERO_SPREAD**2:
        # The same difference for every seed and speaker: paired_test's no-spread rules on the seeds' means.
        return paired_test(np.zeros(seeds), seed_means, level=level, width=width)
    return _t_test(mean, math.sqrt(total / (seeds * speakers)), seeds, df, level, width)


@dataclass(frozen=True)
class WorkingComparison:
    """A comparison split in two claims: UA when both runs train, and how often each collapses."""

    test: PairedTest  # paired_test on the seeds where neither run collapsed
    kept: tuple[bool, ...]  # per seed: neither collapsed, so the UA test uses it
    reference_collapsed: int  # seeds whose reference run collapsed (or nearly)
    other_collapsed: int
    collapse_p: float  # exact two-sided sign test on the seeds where only one of the two collapsed; 1 when none


def working_paired_test(reference: Values, other: Values, reference_collapsed: Flags, other_collapsed: Flags, *,
                        claim: str = "seeds", level: float = 0.95, width: float = 1.0) -> WorkingComparison:
    """The test of `claim` (CLAIMS) on the seeds where neither method's run collapsed, and a test of the collapse
    rates. Claim "seeds": UA (or the page's score) per seed, paired_test. Claim "speakers": UA per seed and test
    speaker (seeds x speakers, the same speakers in both), speaker_test of the differences. `width`: that of the
    score's range (paired_test).

    A method that collapses in a share of its runs has a two-part distribution of UA, and with 3 to 10 seeds a
    test of its mean UA cannot be valid: at a collapse rate of 0.1, five seeds show no collapse 59% of the time,
    and those seeds look exactly like a stable method that is better, so a test with power against the one
    rejects the other (docs/statistics.md). Two claims stay testable: UA when both train (the seeds where
    neither collapsed are draws of the working runs, whatever the collapse rates) and whether one collapses more
    often (McNemar's exact test: the seeds where only one of the two collapsed split 50/50 under the null).
    """
    if claim not in CLAIMS:
        raise ValueError(f"unknown claim {claim!r}: one of {', '.join(CLAIMS)}")
    a, b = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    lost_a, lost_b = np.asarray(reference_collapsed, dtype=bool), np.asarray(other_collapsed, dtype=bool)
    dimensions = 2 if claim == "speakers" else 1  # UA per seed, or per seed and speaker
    if not a.shape == b.shape or a.shape[:1] != lost_a.shape or lost_a.shape != lost_b.shape \
            or a.ndim != dimensions:
        raise ValueError(f"working_paired_test needs one UA per seed{' and speaker' if claim == 'speakers' else ''} "
                         f"and one collapse flag per seed and method, got {a.shape}, {b.shape}, {lost_a.shape} "
                         f"and {lost_b.shape}")
    kept = ~(lost_a | lost_b)
    test = paired_test(a[kept], b[kept], level=level, width=width) if claim == "seeds" else \
        speaker_test(b[kept] - a[kept], level=level, width=width)
    only_other, discordant = int((lost_b & ~lost_a).sum()), int((lost_a != lost_b).sum())
    collapse_p = float(stats.binomtest(only_other, discordant).pvalue) if discordant else 1.0
    return WorkingComparison(test, tuple(bool(k) for k in kept), int(lost_a.sum()), int(lost_b.sum()), collapse_p)


def detectable_shift(standard_error: float, df: float, *, alpha: float = ALPHA, power: float = 0.8) -> float:
    """The smallest true mean difference that a two-sided t-test with this standard error and these degrees of
    freedom finds at `alpha` with probability `power` (noncentral t); NaN without a standard error."""
    if not standard_error > 0 or not df > 0:
        return math.nan
    critical = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(difference: float) -> float:
        shift = difference / standard_error
        # the lower tail as the upper tail of the mirrored shift: scipy's cdf far out in it can be NaN
        return float(stats.nct.sf(critical, df, shift) + stats.nct.sf(critical, df, -shift)) - power

    upper = standard_error
    while shortfall(upper) < 0:  # 2 seeds need a shift of about 17 standard errors, 10 seeds about 3
        upper *= 2
    return float(optimize.brentq(shortfall, 0.0, upper, xtol=1e-9 * standard_error))


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
class Ranking:
    """Average ranks over blocks and the permutation test that moves whole trained models."""

    ranks: tuple[float, ...]  # average rank per method over the (seed, block) cells, 1 = best
    statistic: float  # tie-corrected Friedman chi2 over the (seed, block) cells
    p: float  # permutation p-value of the omnibus test
    cd: float  # permutation critical difference of average ranks at alpha
    pairs: tuple[tuple[int, int], ...]  # (i, j), i < j, significant pairs; empty unless p < alpha
    blocks: int
    methods: int
    seeds: int
    permutations: int  # relabelings drawn, or, when enumerated, all distinct ones (the observed one included)


def permutation_ranking(scores: np.ndarray, *, permutations: int = 2000, seed: int = 0, alpha: float = ALPHA,
                        higher_is_better: bool = True) -> Ranking:
    """Rank methods over blocks and test whether they differ, with whole trained models as the units.

    `scores[s, m, b]` is method m's UA in block b from its seed-s runs (one seed's runs cover all blocks, so a
    model's seed luck is shared by the blocks). The runs of each seed rank the methods in each block (1 = best,
    ties share the mean rank, scipy.stats.rankdata); a method's average rank is its mean over these seed x block
    cells, and the statistic is Friedman's chi2 over the cells with scipy's tie correction (what
    scipy.stats.friedmanchisquare gives for the cells as rows). Its null distribution comes from relabelling
    the methods within each seed, the same way in every block, so a lucky model keeps its luck in all blocks.
    The relabelings are enumerated when there are at most `permutations` distinct ones, else `permutations` are
    drawn (generator seeded by `seed`), and p = (1 + #{T* >= T}) / (1 + permutations). One seed leaves nothing
    to relabel: p = 1.

    Why cells and not the seed-mean table: relabelling spreads a better method's runs over several labels, and
    once the means of those mixtures are ranked the ranks saturate, so the power of a seed-mean statistic falls
    as the effect grows (docs/statistics.md). Ranked per seed, a better model is first in its own cells only.

    Post-hoc (single-step max-T, which controls the family-wise error): CD is the smallest average-rank gap g
    with P*(largest gap between any two methods >= g) < alpha; pairs at least CD apart are significant, and are
    listed only when the omnibus p < alpha. Where no gap can be significant, CD is one rank step (1 / (2 cells))
    above the largest gap in the null distribution: always finite.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim != 3 or min(x.shape) < 1 or x.shape[1] < 2:
        raise ValueError(f"permutation_ranking needs scores of shape (seeds, methods >= 2, blocks), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("permutation_ranking needs a finite score for every seed, method and block")
    if permutations < 1 or not 0 < alpha < 1:
        raise ValueError(f"need permutations >= 1 and 0 < alpha < 1, got {permutations} and {alpha}")
    n_seeds, k, n_blocks = x.shape
    cells = n_seeds * n_blocks
    signed = -x if higher_is_better else x
    # Ranks are multiples of 1/2: doubled, every sum below is an exact integer, so equal tables tie exactly.
    doubled_ranks = np.rint(2 * stats.rankdata(signed, axis=1)).astype(np.int64)
    ties = int((((signed[:, :, None, :] == signed[:, None, :, :]).sum(axis=2)) ** 2 - 1).sum())
    distinct = math.factorial(k) ** (n_seeds - 1)  # see _relabelings
    enumerated = distinct <= permutations
    relabelings = _relabelings(n_seeds, k, None if enumerated else permutations, np.random.default_rng(seed))
    # Relabelling moves whole models, so each seed's ranks move with them; the ties stay where they were.
    per_seed = doubled_ranks.sum(axis=2)  # seeds x methods
    rank_sums = per_seed[np.arange(n_seeds)[None, :, None], relabelings].sum(axis=1)  # relabelings x methods
    statistic = _friedman_chi2(rank_sums, cells, ties)
    p = float(np.mean(statistic >= statistic[0]))
    gaps = rank_sums.max(axis=1) - rank_sums.min(axis=1)
    # The smallest doubled gap g with #{gaps >= g} < alpha * len(gaps): one above the (allowed + 1)-th largest.
    allowed = math.ceil(alpha * len(gaps)) - 1
    critical = int(np.sort(gaps)[::-1][allowed]) + 1
    observed = rank_sums[0]
    pairs = tuple((i, j) for i in range(k) for j in range(i + 1, k)
                  if p < alpha and abs(int(observed[i]) - int(observed[j])) >= critical)
    return Ranking(tuple(float(r) for r in observed / (2 * cells)), float(statistic[0]), p, critical / (2 * cells),
                   pairs, n_blocks, k, n_seeds, distinct if enumerated else permutations)


def _relabelings(n_seeds: int, k: int, permutations: int | None, rng: np.random.Generator) -> np.ndarray:
    """Method orders per seed (relabelings x seeds x methods), the identity (the observed data) first: all distinct
    ones for `permutations` None, else the identity and `permutations` drawn ones.

    Relabelling every seed the same way only renames the methods and leaves the statistics unchanged, so seed 0
    keeps its labels and the distinct relabelings are those of the other seeds: (k!)^(seeds - 1).
    """
    if permutations is None:
        orders = list(itertools.product(itertools.permutations(range(k)), repeat=n_seeds - 1))
        free = np.array(orders, dtype=np.intp).reshape(len(orders), n_seeds - 1, k)
    else:
        drawn = rng.permuted(np.broadcast_to(np.arange(k), (permutations, n_seeds - 1, k)), axis=-1)
        free = np.concatenate([np.broadcast_to(np.arange(k), (1, n_seeds - 1, k)), drawn])
    fixed = np.broadcast_to(np.arange(k), (len(free), 1, k))
    return np.concatenate([fixed, free], axis=1)


def _friedman_chi2(doubled_rank_sums: np.ndarray, rows: int, ties: int) -> np.ndarray:
    """scipy.stats.friedmanchisquare's tie-corrected statistic from doubled rank sums (... x methods) over `rows`
    ranked rows, with the tie term sum over tie groups of t^3 - t: 3 (k - 1) Q / (n k (k^2 - 1) - ties), where
    Q = sum_i (2 R_i)^2 - n^2 k (k + 1)^2. Rows that tie every method carry no evidence; only such rows: 0."""
    k = doubled_rank_sums.shape[-1]
    q = (doubled_rank_sums**2).sum(axis=-1) - rows**2 * k * (k + 1) ** 2
    spread = rows * k * (k * k - 1) - ties
    return 3 * (k - 1) * q / spread if spread > 0 else np.zeros(q.shape)


def cliques(ranks: Sequence[float], cd: float) -> list[tuple[int, int]]:
    """Groups of methods whose average ranks differ by less than `cd`, as (first, last) positions in ascending
    rank order; only maximal groups of at least two. These are the bars of a critical-difference diagram."""
    ordered = sorted(ranks)
    spans: list[tuple[int, int]] = []
    for first in range(len(ordered)):
        last = first
        while last + 1 < len(ordered) and ordered[last + 1] - ordered[first] < cd:
            last += 1
        if last > first and not (spans and spans[-1][1] >= last):
            spans.append((first, last))
    return spans
