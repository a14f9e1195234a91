"""serbench.reports.stats against scipy.stats, brute force and the worked example of Demsar, JMLR 7 (2006). Whether the
tests hold their error rates is checked by simulation in test_calibration.py."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sp

from serbench import metrics
from serbench.reports import stats

# Demsar (2006), Table 6: AUC of C4.5, C4.5+m, C4.5+cf and C4.5+m+cf on fourteen UCI data sets. The printed
# table rounds to three decimals; on "voting" it shows 0.975 for both C4.5+cf and C4.5+m+cf, but the paper's
# ranks (and its average ranks below) put C4.5+cf ahead there, so the unrounded AUC was higher: 0.9751 here.
DEMSAR_AUC = np.array([
    [0.763, 0.768, 0.771, 0.798],  # adult (sample)
    [0.599, 0.591, 0.590, 0.569],  # breast cancer
    [0.954, 0.971, 0.968, 0.967],  # breast cancer wisconsin
    [0.628, 0.661, 0.654, 0.657],  # cmc
    [0.882, 0.888, 0.886, 0.898],  # ionosphere
    [0.936, 0.931, 0.916, 0.931],  # iris
    [0.661, 0.668, 0.609, 0.685],  # liver disorders
    [0.583, 0.583, 0.563, 0.625],  # lung cancer
    [0.775, 0.838, 0.866, 0.875],  # lymphography
    [1.000, 1.000, 1.000, 1.000],  # mushroom
    [0.940, 0.962, 0.965, 0.962],  # primary tumor
    [0.619, 0.666, 0.614, 0.669],  # rheum
    [0.972, 0.981, 0.9751, 0.975],  # voting
    [0.957, 0.978, 0.946, 0.970],  # wine
])


def test_summarize_matches_the_t_interval() -> None:
    values = [0.61, 0.64, 0.58, 0.66, 0.60]
    summary = stats.summarize(values)
    low, high = sp.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sp.sem(values))
    assert (summary.mean, summary.n) == (pytest.approx(np.mean(values)), 5)
    assert summary.std == pytest.approx(np.std(values, ddof=1))
    assert (summary.ci_low, summary.ci_high) == (pytest.approx(low), pytest.approx(high))
    single = stats.summarize([0.7])
    assert single.mean == 0.7 and math.isnan(single.std) and math.isnan(single.ci_low)
    assert stats.summarize([]).n == 0


def test_summarize_gives_equal_scores_no_spread_whatever_the_float_rounding() -> None:
    """Five seeds of a deterministic system pooled over folds: equal UAs, whose float mean is one ulp off."""
    summary = stats.summarize([0.9388509915666465] * 5)
    assert summary.std == 0.0 and summary.ci_low == summary.ci_high


def test_summarize_clips_the_interval_to_the_possible_scores() -> None:
    high = stats.summarize([0.97, 0.99, 1.0])
    assert high.ci_high == 1.0 and high.ci_low < high.mean
    assert sp.t.interval(0.95, 2, loc=high.mean, scale=sp.sem([0.97, 0.99, 1.0]))[1] > 1  # unclipped it leaves [0, 1]
    low = stats.summarize([0.0, 0.02, 0.05])
    assert low.ci_low == 0.0 and low.ci_high > low.mean


def test_pooled_ua_sums_the_folds_before_the_recalls() -> None:
    # Fold A holds 9 utterances of class 0 and 1 of class 1, fold B the reverse; each fold's own UA is 0.5 * (8/9 +
    # 0) and 0.5 * (1 + 5/9), but pooled, class 0 has 9 of 10 right and class 1 5 of 10.
    fold_a = np.array([[8, 1], [1, 0]])
    fold_b = np.array([[1, 0], [4, 5]])
    assert stats.pooled_ua([fold_a, fold_b]) == pytest.approx((9 / 10 + 5 / 10) / 2)
    assert stats.pooled_ua([fold_a, fold_b]) != pytest.approx(np.mean([metrics.unweighted_accuracy(m)
                                                                       for m in (fold_a, fold_b)]))
    # A class missing from one fold still counts through the others; a single fold is its own UA.
    only_class_0 = np.array([[3, 1], [0, 0]])
    assert stats.pooled_ua([only_class_0, fold_b]) == pytest.approx((4 / 5 + 5 / 9) / 2)
    assert stats.pooled_ua([fold_b]) == metrics.unweighted_accuracy(fold_b)
    with pytest.raises(ValueError, match="at least one fold"):
        stats.pooled_ua([])


def test_paired_test_matches_scipy() -> None:
    reference = [0.61, 0.64, 0.58, 0.66, 0.60]
    other = [0.65, 0.66, 0.63, 0.65, 0.67]
    result = stats.paired_test(reference, other)
    theirs = sp.ttest_rel(other, reference)
    interval = theirs.confidence_interval(0.95)
    assert result.p == pytest.approx(theirs.pvalue, rel=1e-10)
    assert (result.ci_low, result.ci_high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert result.difference == pytest.approx(np.mean(other) - np.mean(reference))
    assert (result.n, result.df) == (5, 4)
    wider = stats.paired_test(reference, other, level=0.99)
    assert wider.ci_low < result.ci_low and wider.ci_high > result.ci_high and wider.p == result.p


def test_paired_test_rejects_exactly_when_the_interval_leaves_out_zero() -> None:
    rng = np.random.default_rng(0)
    decisions = []
    for trial in range(3000):
        n = int(rng.integers(2, 12))
        level = (0.9, 0.95, 0.99)[trial % 3]
        reference = rng.uniform(0.4, 0.7, n)
        other = reference + rng.normal(rng.normal(0, 0.02), rng.uniform(0.001, 0.05), n)
        if trial % 10 == 0:  # no spread: the sign-flip fallback must keep the property too
            other = reference + rng.choice([0.0, 0.025])
        result = stats.paired_test(reference, other, level=level)
        rejects = result.p < 1 - level
        assert rejects == (not result.ci_low <= 0 <= result.ci_high), (reference, other, level, result)
        assert -1 <= result.ci_low <= result.difference <= result.ci_high <= 1
        decisions.append(rejects)
    assert 0.1 < np.mean(decisions) < 0.9  # both outcomes were exercised


def test_paired_test_without_spread() -> None:
    same = stats.paired_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert (same.difference, same.p, same.ci_low, same.ci_high) == (0.0, 1.0, 0.0, 0.0)
    # Differences equal in exact arithmetic but not in floats: 0.3 - 0.2 != 0.2 - 0.1 in the last bits.
    shifted = stats.paired_test([0.1, 0.2, 0.3, 0.4, 0.5], [0.2, 0.3, 0.4, 0.5, 0.6])
    assert np.ptp(np.array([0.2, 0.3, 0.4, 0.5, 0.6]) - [0.1, 0.2, 0.3, 0.4, 0.5]) > 0
    assert shifted.p == 2 / 2**5 and (shifted.ci_low, shifted.ci_high) == (-1.0, 1.0)
    six = stats.paired_test([0.5] * 6, [0.52] * 6)
    assert six.p == pytest.approx(2 / 2**6) and six.ci_low == six.ci_high == pytest.approx(0.02)
    assert all(math.isfinite(value) for value in (shifted.p, six.p, six.ci_low))


def test_paired_test_degenerate_inputs() -> None:
    one = stats.paired_test([0.5], [0.6])
    assert one.difference == pytest.approx(0.1) and math.isnan(one.p) and math.isnan(one.ci_low)
    assert (one.n, one.df) == (1, 0)
    assert stats.paired_test([], []).n == 0
    with pytest.raises(ValueError, match="equally long"):
        stats.paired_test([0.5, 0.6], [0.5])
    with pytest.raises(ValueError, match="level"):
        stats.paired_test([0.5, 0.6], [0.5, 0.7], level=95)


def test_paired_test_interval_is_clipped_to_possible_differences() -> None:
    result = stats.paired_test([0.0, 1.0], [1.0, 0.1])  # differences +1 and -0.9: t(1) makes it +-7
    assert (result.ci_low, result.ci_high) == (-1.0, 1.0)
    assert result.p == pytest.approx(sp.ttest_rel([1.0, 0.1], [0.0, 1.0]).pvalue)


def test_speaker_test_reduces_to_the_one_sample_t_test_of_the_part_that_varies() -> None:
    rng = np.random.default_rng(9)
    by_speaker = rng.normal(0.02, 0.05, size=7)
    result = stats.speaker_test(np.tile(by_speaker, (4, 1)))  # speakers differ, seeds do not, no noise
    expected = sp.ttest_1samp(by_speaker, 0.0)
    assert result.p == pytest.approx(expected.pvalue) and result.df == pytest.approx(6)
    by_seed = rng.normal(0.02, 0.05, size=5)
    result = stats.speaker_test(np.tile(by_seed[:, None], (1, 6)))
    assert result.p == pytest.approx(sp.ttest_1samp(by_seed, 0.0).pvalue) and result.df == pytest.approx(4)


def test_speaker_test_standard_error_carries_both_variances() -> None:
    # Known mean squares: seeds and speakers both vary, so the variance of the mean is their sum over S J.
    rng = np.random.default_rng(10)
    d = rng.normal(size=(5, 8)) * 0.01 + rng.normal(size=(5, 1)) * 0.03 + rng.normal(size=(1, 8)) * 0.05
    seeds, speakers = d.shape
    ms_seed = speakers * d.mean(axis=1).var(ddof=1)
    ms_speaker = seeds * d.mean(axis=0).var(ddof=1)
    residual = d - d.mean(axis=1, keepdims=True) - d.mean(axis=0, keepdims=True) + d.mean()
    ms_error = (residual**2).sum() / ((seeds - 1) * (speakers - 1))
    result = stats.speaker_test(d)
    assert result.standard_error == pytest.approx(np.sqrt((ms_seed + ms_speaker - ms_error) / (seeds * speakers)))
    assert result.standard_error > stats.paired_test(np.zeros(seeds), d.mean(axis=1)).standard_error
    assert (result.p < 0.05) == (result.ci_low > 0 or result.ci_high < 0)
    noise = rng.normal(size=(5, 8)) * 0.01
    noise += 0.01 - noise.mean(axis=1, keepdims=True) - noise.mean(axis=0, keepdims=True) + noise.mean()
    only_noise = stats.speaker_test(noise)  # seeds and speakers alike: MS_e alone, with its own df
    assert only_noise.df == 28 and only_noise.standard_error == pytest.approx(np.sqrt((noise.var() * 40 / 28) / 40))


def test_speaker_test_without_enough_seeds_or_speakers() -> None:
    assert math.isnan(stats.speaker_test(np.ones((1, 5))).p)
    assert math.isnan(stats.speaker_test(np.ones((5, stats.MIN_SPEAKERS - 1))).p)
    flat = stats.speaker_test(np.full((5, 4), 0.02))  # the same gain everywhere: the sign-flip rule of the seeds
    assert flat.p == pytest.approx(2 / 2**5) and flat.difference == pytest.approx(0.02)
    with pytest.raises(ValueError, match="seeds x speakers"):
        stats.speaker_test(np.ones(5))
    with pytest.raises(ValueError, match="every seed and speaker"):
        stats.speaker_test(np.array([[0.1, np.nan, 0.2], [0.1, 0.2, 0.3]]))


def test_working_paired_test_of_speakers_leaves_out_collapsed_seeds() -> None:
    rng = np.random.default_rng(11)
    reference, other = rng.random((5, 6)), rng.random((5, 6))
    lost = np.array([False, True, False, False, False])
    result = stats.working_paired_test(reference, other, lost, np.zeros(5, dtype=bool), claim="speakers")
    assert result.test == stats.speaker_test((other - reference)[~lost])
    with pytest.raises(ValueError, match="one UA per seed and speaker"):
        stats.working_paired_test(reference[:, 0], other[:, 0], lost, lost, claim="speakers")
    with pytest.raises(ValueError, match="unknown claim"):
        stats.working_paired_test(reference, other, lost, lost, claim="utterances")


def test_working_paired_test_pairs_the_seeds_where_neither_collapsed() -> None:
    reference, other = [0.60, 0.62, 0.50, 0.61, 0.63, 0.59], [0.66, 0.50, 0.70, 0.64, 0.69, 0.66]
    lost_reference, lost_other = [False, False, True, False, False, False], [False, True, False, False, False, False]
    result = stats.working_paired_test(reference, other, lost_reference, lost_other)
    kept = [0, 3, 4, 5]
    assert result.test == stats.paired_test([reference[i] for i in kept], [other[i] for i in kept])
    assert (result.reference_collapsed, result.other_collapsed) == (1, 1)
    assert result.collapse_p == 1.0  # one seed each way: McNemar's exact test sees nothing
    stable = stats.working_paired_test(reference, other, [False] * 6, [False] * 6)
    assert stable.test == stats.paired_test(reference, other) and stable.collapse_p == 1.0


def test_working_paired_test_of_the_collapses_is_mcnemars_exact_test() -> None:
    rng = np.random.default_rng(8)
    for _ in range(200):
        n = int(rng.integers(2, 12))
        lost_a, lost_b = rng.random(n) < rng.random(), rng.random(n) < rng.random()
        result = stats.working_paired_test(rng.random(n), rng.random(n), lost_a, lost_b)
        b, c = int((lost_b & ~lost_a).sum()), int((lost_a & ~lost_b).sum())
        # brute force: every split of the b + c discordant seeds, as likely as not each way under the null
        splits = [math.comb(b + c, k) for k in range(b + c + 1)]
        p = sum(w for k, w in enumerate(splits) if w <= splits[b] * (1 + 1e-9)) / 2 ** (b + c)
        assert result.collapse_p == pytest.approx(min(1.0, p)), (b, c)
        assert result.test.n == int((~(lost_a | lost_b)).sum())
    with pytest.raises(ValueError, match="one UA per seed and one collapse flag per seed"):
        stats.working_paired_test([0.5, 0.6], [0.5, 0.7], [False], [False, False])


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_the_detectable_difference_is_found_with_80_percent_power(seeds: int) -> None:
    """By simulation: per-seed differences with that true mean are found by paired_test in 80% of 6,000 draws
    (binomial standard error 0.5 points); half of it in far fewer."""
    rng = np.random.default_rng(seeds)
    spread = 0.02
    detectable = stats.detectable_shift(spread / np.sqrt(seeds), seeds - 1)
    assert detectable > 0

    def power(difference: float) -> float:
        draws = rng.normal(difference, spread, size=(6000, seeds))
        return float(np.mean([stats.paired_test(np.zeros(seeds), d).p < stats.ALPHA for d in draws]))

    assert power(detectable) == pytest.approx(0.8, abs=0.02)
    assert power(detectable / 2) < 0.5


def test_the_detectable_difference_of_what_cannot_be_tested() -> None:
    assert math.isnan(stats.detectable_shift(0.02, 0)) and math.isnan(stats.detectable_shift(0.0, 4))
    assert stats.detectable_shift(0.02, 1) > stats.detectable_shift(0.02, 2)  # 2 seeds: ~12 standard errors


def test_holm() -> None:
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = stats.holm([0.02, math.nan, 0.5])
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.5)
    assert stats.holm([0.6, 0.7]) == [1.0, 1.0]
    assert stats.holm([]) == []


def cell_rows(scores: np.ndarray) -> np.ndarray:
    """The (seed, block) cells of scores (seeds, methods, blocks) as rows of a blocks x methods table."""
    return np.asarray(scores).transpose(0, 2, 1).reshape(-1, np.shape(scores)[1])


def test_ranking_of_the_demsar_example_with_one_seed() -> None:
    result = stats.permutation_ranking(DEMSAR_AUC.T[None])
    assert result.ranks == pytest.approx([3.143, 2.000, 2.893, 1.964], abs=5e-4)
    # Demsar's 9.28 has no tie correction; mushroom (all 1.000) and lung cancer (two 0.583) have ties.
    assert result.statistic == pytest.approx(sp.friedmanchisquare(*DEMSAR_AUC.T).statistic, rel=1e-12)
    assert result.statistic > 9.28
    # One seed: relabelling the methods moves everything, so nothing can be told apart from the models' luck.
    assert (result.p, result.pairs, result.permutations) == (1.0, (), 1)
    assert math.isfinite(result.cd) and result.cd > max(result.ranks) - min(result.ranks)
    assert (result.seeds, result.methods, result.blocks) == (1, 4, 14)


def test_ranking_statistic_matches_scipy_over_the_cells_with_ties() -> None:
    scores = np.round(np.random.default_rng(3).normal(0.6, 0.02, size=(3, 5, 6)), 2)  # many ties
    result = stats.permutation_ranking(scores)
    assert result.statistic == pytest.approx(sp.friedmanchisquare(*cell_rows(scores).T).statistic, rel=1e-12)
    assert result.ranks == pytest.approx(sp.rankdata(-cell_rows(scores), axis=1).mean(axis=0))
    lower = stats.permutation_ranking(-scores, higher_is_better=False)
    assert (lower.ranks, lower.statistic, lower.p) == (result.ranks, result.statistic, result.p)
    flipped = stats.permutation_ranking(scores, higher_is_better=False)
    assert flipped.ranks == pytest.approx([6 - r for r in result.ranks])


def brute_force(scores: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """p and CD from every relabelling of every seed (seed 0 included), with scipy's Friedman test per table."""
    n_seeds, k, n_blocks = scores.shape
    statistics, gaps = [], []
    for orders in itertools.product(itertools.permutations(range(k)), repeat=n_seeds):
        relabelled = np.stack([scores[s, list(order)] for s, order in enumerate(orders)])
        rows = cell_rows(relabelled)
        statistics.append(sp.friedmanchisquare(*rows.T).statistic)
        ranks = sp.rankdata(-rows, axis=1).mean(axis=0)
        gaps.append(np.ptp(ranks))
    statistics, gaps = np.array(statistics), np.array(gaps)
    p = np.mean(statistics >= statistics[0] - 1e-9)
    step = 1 / (2 * n_seeds * n_blocks)
    candidates = np.arange(0, k + step, step)
    cd = min(g for g in candidates if np.mean(gaps >= g - 1e-9) < alpha)
    return float(p), float(cd)


def test_ranking_enumerates_small_permutation_sets_exactly() -> None:
    rng = np.random.default_rng(5)
    scores = rng.normal(0.6, 0.02, size=(4, 3, 4))
    scores[:, 0] += 0.03  # method 0 better
    result = stats.permutation_ranking(scores, alpha=0.2)
    p, cd = brute_force(scores, alpha=0.2)
    assert result.permutations == 6**3  # seed 0 keeps its labels: (3!)^(4 - 1)
    assert result.p == pytest.approx(p) and result.cd == pytest.approx(cd)
    assert result.p < 0.2 and result.pairs  # the effect is found, so the post-hoc is exercised
    assert stats.permutation_ranking(scores, alpha=0.2, seed=99) == result  # exact: no randomness


def test_ranking_pairs_follow_the_critical_difference() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(0.6, 0.02, size=(5, 4, 6))
    scores[:, 2] += 0.08
    result = stats.permutation_ranking(scores, permutations=500)
    assert result.permutations == 500 and result.p == pytest.approx(1 / 501)
    assert result.ranks[2] == 1.0
    assert {(0, 2), (1, 2), (2, 3)} <= set(result.pairs)
    gaps = {(i, j): abs(result.ranks[i] - result.ranks[j]) for i in range(4) for j in range(i + 1, 4)}
    assert set(result.pairs) == {pair for pair, gap in gaps.items() if gap >= result.cd - 1e-12}
    # The diagram's bars join only methods that are not told apart.
    order = sorted(range(4), key=lambda i: result.ranks[i])
    for first, last in stats.cliques([result.ranks[i] for i in order], result.cd):
        joined = sorted(order[first:last + 1])
        assert not {(a, b) for a in joined for b in joined if a < b} & set(result.pairs)
    assert result == stats.permutation_ranking(scores, permutations=500)  # seeded


def test_ranking_lists_no_pairs_without_an_omnibus_rejection() -> None:
    rng = np.random.default_rng(2)
    scores = rng.normal(0.6, 0.02, size=(3, 4, 6))
    result = stats.permutation_ranking(scores)
    assert result.p >= 0.05 and result.pairs == ()


def test_ranking_moves_whole_models() -> None:
    # Identical methods; each trained model's luck is the same in every block. Ranking the seed means, every
    # block agrees, so the classic Friedman test is sure the methods differ. With one seed per method no test
    # can tell a method from its one model, and relabelling whole models says so: p = 1.
    rng = np.random.default_rng(4)
    luck = rng.normal(0, 0.02, size=(1, 5, 1))
    scores = rng.uniform(0.5, 0.7, size=(1, 1, 8)) + luck
    assert sp.friedmanchisquare(*scores[0]).pvalue < 1e-4
    assert stats.permutation_ranking(scores).p == 1.0


def test_ranking_degenerate_inputs() -> None:
    tied = stats.permutation_ranking(np.full((3, 4, 5), 0.6))
    assert (tied.statistic, tied.p, tied.pairs) == (0.0, 1.0, ())
    assert tied.ranks == (2.5, 2.5, 2.5, 2.5) and math.isfinite(tied.cd)
    two = stats.permutation_ranking(np.random.default_rng(0).normal(size=(4, 2, 3)))
    assert two.methods == 2 and math.isfinite(two.statistic) and two.permutations == 8  # 2^(4 - 1), enumerated
    for bad in (np.zeros((3, 1, 4)), np.zeros((3, 4)), np.zeros((0, 3, 4))):
        with pytest.raises(ValueError, match="shape"):
            stats.permutation_ranking(bad)
    with pytest.raises(ValueError, match="finite"):
        stats.permutation_ranking(np.array([[[0.5, math.nan], [0.6, 0.7]]]))


def test_cliques_of_the_demsar_example() -> None:
    # Demsar's average ranks, with his Nemenyi CDs at alpha 0.05 (1.25) and 0.10 (1.12): the bars of a diagram
    ranks = [3.143, 2.000, 2.893, 1.964]
    assert stats.cliques(ranks, 1.25) == [(0, 3)]  # 3.143 - 1.964 = 1.18 < 1.25
    assert stats.cliques(ranks, 1.12) == [(0, 2), (2, 3)]
    assert stats.cliques([1.0, 2.0, 3.0], 0.5) == []
