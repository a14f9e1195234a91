"""serbench.stats against scipy.stats and against the worked example of Demsar, JMLR 7 (2006)."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from serbench import stats

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


def test_demsar_worked_example() -> None:
    result = stats.friedman(DEMSAR_AUC)
    assert result.ranks == pytest.approx([3.143, 2.000, 2.893, 1.964], abs=5e-4)
    assert result.chi2 == pytest.approx(9.28, abs=5e-3)
    assert result.f == pytest.approx(3.69, abs=5e-3)
    assert (result.blocks, result.methods) == (14, 4)
    # F_F's critical value F(3, 39) at 0.05 is 2.85 (Demsar): the null hypothesis is rejected.
    assert sp.f.isf(0.05, 3, 39) == pytest.approx(2.85, abs=0.01)
    assert result.f > 2.85 and result.p_f < 0.05
    assert result.cd == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 14)), abs=1e-3)
    assert result.cd == pytest.approx(1.25, abs=5e-3)
    # At alpha 0.05 no pair differs by the CD; at 0.10 (q = 2.291) the CD is 1.12, and C4.5+m+cf (1.964) and
    # C4.5+m (2.000) are significantly better than C4.5 (3.143), while C4.5+cf (2.893) is not told apart.
    cd_10 = stats.nemenyi_cd(4, 14, alpha=0.10)
    assert cd_10 == pytest.approx(2.291 * math.sqrt(20 / 84), abs=1e-3)
    assert max(result.ranks) - min(result.ranks) < result.cd
    assert result.ranks[0] - result.ranks[3] >= cd_10 and result.ranks[0] - result.ranks[1] >= cd_10
    assert result.ranks[2] - result.ranks[3] < cd_10


def test_cliques_of_the_demsar_example() -> None:
    ranks = stats.friedman(DEMSAR_AUC).ranks
    assert stats.cliques(ranks, stats.nemenyi_cd(4, 14, 0.05)) == [(0, 3)]  # 3.143 - 1.964 = 1.18 < 1.25
    assert stats.cliques(ranks, stats.nemenyi_cd(4, 14, 0.10)) == [(0, 2), (2, 3)]
    assert stats.cliques([1.0, 2.0, 3.0], 0.5) == []


def test_friedman_matches_scipy_without_ties() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(9, 5)) + np.arange(5) * 0.3
    ours = stats.friedman(table)
    theirs = sp.friedmanchisquare(*table.T)
    assert ours.chi2 == pytest.approx(theirs.statistic, rel=1e-9)
    assert ours.p_chi2 == pytest.approx(theirs.pvalue, rel=1e-9)
    lower = stats.friedman(-table, higher_is_better=False)
    assert lower.ranks == pytest.approx(ours.ranks)


def test_friedman_with_identical_rankings_in_every_block() -> None:
    table = np.tile([0.9, 0.8, 0.7], (6, 1))
    result = stats.friedman(table)
    assert result.ranks == (1.0, 2.0, 3.0)
    assert result.f == math.inf and result.p_f == 0.0
    with pytest.raises(ValueError, match="at least 2 blocks"):
        stats.friedman(table[:1])


def test_seed_tests_match_scipy() -> None:
    reference = [0.61, 0.64, 0.58, 0.66, 0.60]
    other = [0.65, 0.66, 0.63, 0.65, 0.67]
    result = stats.seed_tests(reference, other)
    assert result.n == 5
    assert result.t_p == pytest.approx(sp.ttest_rel(other, reference).pvalue, rel=1e-12)
    assert result.wilcoxon_p == pytest.approx(sp.wilcoxon(other, reference).pvalue, rel=1e-12)


def test_seed_tests_degenerate_inputs() -> None:
    assert math.isnan(stats.seed_tests([0.5], [0.6]).t_p)
    same = stats.seed_tests([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert math.isnan(same.t_p) and same.wilcoxon_p == 1.0


def test_wilcoxon_floor_with_few_seeds() -> None:
    assert stats.wilcoxon_min_p(5) == 0.0625
    # Five seeds all in favour of one method: the exact test can do no better than 2 / 2**5.
    assert sp.wilcoxon([0.1, 0.2, 0.3, 0.4, 0.5]).pvalue == pytest.approx(stats.wilcoxon_min_p(5))


def test_holm() -> None:
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = stats.holm([0.02, math.nan, 0.5])
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.5)
    assert stats.holm([0.6, 0.7]) == [1.0, 1.0]
    assert stats.holm([]) == []


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


def paired_seeds(n_utterances: int, accuracies: tuple[float, float], seeds: int, seed: int = 0) -> list:
    """Per seed: balanced binary labels, the reference and the other method right with the given accuracies."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_utterances) % 2
    ids = np.array([f"u{i:05d}" for i in range(n_utterances)])
    pairs = []
    for _ in range(seeds):
        decisions = [np.where(rng.random(n_utterances) < acc, y, 1 - y) for acc in accuracies]
        pairs.append(stats.Paired(ids, y, *decisions))
    return pairs


def test_bootstrap_of_identical_methods() -> None:
    pairs = [stats.Paired(p.utterances, p.y, p.reference, p.reference) for p in paired_seeds(40, (0.7, 0.7), 3)]
    result = stats.paired_bootstrap(pairs, 2, replicates=200)
    assert result.difference == 0.0 and result.p == 1.0
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert (result.seeds, result.utterances, result.replicates) == (3, 40, 200)


def test_bootstrap_detects_a_clear_difference() -> None:
    result = stats.paired_bootstrap(paired_seeds(400, (0.6, 0.8), 5), 2, replicates=300)
    assert result.difference == pytest.approx(0.2, abs=0.05)
    assert 0 < result.ci_low < result.difference < result.ci_high
    assert result.p == pytest.approx(1 / 301)


def test_bootstrap_uses_ua_and_is_reproducible() -> None:
    # Imbalanced labels: always predicting the majority class has WA 0.9 but UA 0.5.
    y = np.array([0] * 18 + [1] * 2)
    ids = np.array([f"u{i}" for i in range(20)])
    pair = stats.Paired(ids, y, np.zeros(20, dtype=int), y.copy())
    first = stats.paired_bootstrap([pair], 2, replicates=100, seed=7)
    assert first.difference == pytest.approx(0.5)
    assert first == stats.paired_bootstrap([pair], 2, replicates=100, seed=7)


def test_bootstrap_counts_the_test_set_variance() -> None:
    # The same seed-level spread, a tiny and a large test set: the tiny one must give a wider interval.
    tiny = stats.paired_bootstrap(paired_seeds(24, (0.65, 0.75), 5, seed=1), 2, replicates=300)
    large = stats.paired_bootstrap(paired_seeds(2400, (0.65, 0.75), 5, seed=1), 2, replicates=300)
    assert tiny.ci_high - tiny.ci_low > 2 * (large.ci_high - large.ci_low)


def test_low_power_warnings() -> None:
    assert "Demsar" in stats.low_power(6, 6)
    assert stats.low_power(14, 4) is None
    assert "can ever differ" in stats.low_power(2, 3)
    assert "no ranking test" in stats.low_power(1, 3)


def test_bootstrap_with_a_test_set_per_seed() -> None:
    # Under `multi` the speaker split, and so the test utterances, change with the seed.
    first, second = paired_seeds(30, (0.6, 0.9), 2, seed=3)
    moved = stats.Paired(np.char.add(second.utterances.astype(str), "-b"), second.y, second.reference, second.other)
    result = stats.paired_bootstrap([first, moved], 2, replicates=200)
    assert (result.seeds, result.utterances) == (2, 60)
    assert result.ci_low < result.difference < result.ci_high
