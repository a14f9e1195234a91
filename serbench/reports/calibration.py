"""Calibration by simulation: do the tests of serbench/reports/stats.py reject true nulls at their nominal rate?

A generative model of benchmark runs stands in for training. A test corpus is a fixed set of utterances, each
with a true class and a difficulty that every method and seed share (so comparisons are paired). A run (method,
seed, and fold under fold protocols) adds its own effects: a skill shift and a class-bias shift of the decision
(a seed that favours a class raises its recall and lowers the others'), part of which the two methods share when
they have the same seed index (the harness seeds them identically). Each decision adds per-utterance noise. The
nulls are true by construction, on this test set, in expectation over the runs:
- exchangeable: the other method is the reference's twin (same distribution);
- reprofiled: the other method's utterance difficulties are the reference's permuted within each (fold, class)
  cell, so it gets different utterances right, with exactly the same expected recall per class.
Power: BETTER turns each of its wrong decisions right with probability q = effect / (1 - E[UA]), so its expected
UA on this test set is exactly `effect` higher (E[UA] in closed form for normal run effects, by Gauss-Laguerre
quadrature for skewed ones).
Two kinds of regime strain the test beyond that: the other methods collapse to one class in a share of their runs
(the reference never does), and runs train unevenly: the part of a run's skill that is its own is skewed, with
occasional much worse runs. The pages' test, stats.working_paired_test, compares the seeds where neither run
collapsed, so its nulls there are about the working runs, which are the same as without collapse.

The speaker test (the claim about new speakers) is simulated at the level of per-speaker UA differences: a seed
effect shared by all speakers of a seed, a speaker effect shared by all seeds (normal, or heavy-tailed), and their
interaction with the test noise; each comparison draws its test speakers afresh from the population, whose mean
difference is 0 under the null.

The dimensional tasks' CCC has a model of its own (the regimes named "CCC ..."), since its distribution over seeds
is not UA's: a fixed rated test set, each utterance with a true rating and a difficulty the methods share, and runs
that predict level + slope x (rating + difficulty) + noise, pooled per seed cycle by adding rating sums as the
harness does. The nulls are exact again: the twin, and other profiles, whose difficulties keep the three sums the
rating sums depend on (reprofiled) and so the whole distribution of the CCC. BETTER moves its predictions towards
the truth by the share that raises the CCC of its expected sums by `effect`. For the new-speaker claim, each
speaker's CCC of its own utterances, of two methods that suit each speaker differently and neither on average.

The ranking test is simulated at the level of per-block UA: a model's seed luck is shared by the blocks of its
seed (correlation 0.5-0.85), blocks have their own levels, and a seed effect is shared by the methods of one seed.
It uses only the order of the scores in each (seed, block) cell, and the model names no score, so it stands for a
ranking of CCCs as well. `serbench calibrate` prints the figures; docs/statistics.md records those of the full run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as sp

from serbench import metrics
from serbench.reports import stats

ALPHA = stats.ALPHA
BAND = (0.03, 0.07)  # the type-I error a calibrated test at ALPHA must show
EFFECT = 0.03  # the known UA gain of the power runs: 3 points
BINARY, FOUR_CLASS = 2, 4
CLASS_SHARES = {BINARY: (0.6, 0.4), FOUR_CLASS: (0.4, 0.3, 0.2, 0.1)}  # imbalanced, like the corpora
# Methods of a simulated paired comparison. The tests compare each of the last three with REFERENCE.
REFERENCE, TWIN, REPROFILED, BETTER = range(4)

# Ranges (uniform, drawn per comparison) of the run model's parameters, on the scale of a decision margin
# (a margin m gives a right decision with probability Phi(m / sd of what is added to it)).
LEVEL = {BINARY: (0.0, 0.6), FOUR_CLASS: (-0.5, 0.3)}  # mean margin: UA mostly 0.46-0.72 and 0.31-0.63
DIFFICULTY_SD = (0.8, 1.5)  # spread of the utterances' difficulty
NOISE_SD = (0.3, 0.8)  # per-utterance, per-run noise
SKILL_SD = (0.0, 0.15)  # per-run shift of every margin
SKEWED_SKILL_SD = (0.1, 0.4)  # ... where runs train unevenly: larger, its own part 1 - Exp(1) (skewness -2)
LAGUERRE_NODES = 40  # quadrature of E[UA] over a skewed skill: exact to about 1e-6 for these margins
BIAS_SD = (0.05, 0.4)  # per-run class-bias shift
SHARED = (0.0, 0.8)  # share of the run effects' variance common to both methods with the same seed index
FOLD_SD = 0.2  # a fold's training data makes its models better or worse, in every seed cycle, for both methods
CHUNK = 1 << 23  # decisions simulated at once (float32: 32 MiB an array)


@dataclass(frozen=True)
class PairedRegime:
    """A protocol shape: the test utterances of each fold, and the seeds (seed cycles) run."""

    name: str
    folds: tuple[int, ...]  # one entry: one test set shared by every seed (cross-corpus)
    seeds: int
    collapse: float = 0.0  # probability that a run of a method other than the reference predicts one class
    skewed: bool = False  # a run's own skill is skewed (SKEWED_SKILL_SD) instead of normal (SKILL_SD)
    score: str = "ua"  # UA of simulated confusion matrices, or "ccc": CCC of simulated ratings (the rating model)


@dataclass(frozen=True)
class RankingRegime:
    """A ranking page: methods ranked over blocks (test corpora x tasks), each with this many seeds."""

    name: str
    methods: int
    blocks: int
    seeds: int


PAIRED_REGIMES = (
    *(PairedRegime(f"cross {size}", (n,), seeds)
      for size, n in (("large", 4000), ("small", 400), ("tiny", 40)) for seeds in (3, 5, 10)),
    # Five speaker-grouped folds of unequal size (shares 0.12 .. 0.28), pooled per seed cycle.
    *(PairedRegime(f"folds {size}", sizes, seeds)
      for size, sizes in (("large", (480, 640, 800, 960, 1120)), ("tiny", (5, 6, 8, 10, 11))) for seeds in (2, 3, 5)),
    # Unstable methods (issue "Claims that hold beyond the seeds": 10-20% collapsed runs) and uneven training.
    *(PairedRegime(f"cross small, collapse {rate}", (400,), seeds, collapse=rate)
      for rate in (0.1, 0.2) for seeds in (3, 5, 10)),
    *(PairedRegime("cross small, skewed", (400,), seeds, skewed=True) for seeds in (3, 5, 10)),
)
# The same shapes for the dimensional tasks' CCC, after them, so that the regimes of UA keep their generators.
PAIRED_REGIMES += tuple(dataclasses.replace(r, name=f"CCC {r.name}", score="ccc") for r in PAIRED_REGIMES)


@dataclass(frozen=True)
class SpeakerRegime:
    """A comparison for the new-speaker claim: seeds x test speakers of one test corpus."""

    name: str
    seeds: int
    speakers: int
    heavy: bool = False  # speaker effects from a t distribution with 3 degrees of freedom instead of normal
    score: str = "ua"  # UA differences drawn as such, or "ccc": each speaker's CCC of simulated ratings


SPEAKER_REGIMES = tuple(SpeakerRegime(f"{'heavy-tailed' if heavy else 'normal'} speakers", seeds, speakers, heavy)
                        for heavy in (False, True) for speakers in (3, 6, 12) for seeds in (3, 5, 10))
SPEAKER_REGIMES += tuple(dataclasses.replace(r, name=f"CCC {r.name}", score="ccc") for r in SPEAKER_REGIMES)
# Ranges (uniform, per comparison) of the standard deviations of the per-speaker UA differences' parts, in UA.
SEED_SD = (0.0, 0.03)
SPEAKER_SD = (0.0, 0.10)  # speakers differ far more than seeds in how much a method helps them
INTERACTION_SD = (0.01, 0.06)  # seed x speaker, with the test noise of a speaker's 30-100 utterances
RANKING_REGIMES = tuple(RankingRegime(f"{blocks // 2} corpora x 2 tasks", 6, blocks, seeds)
                        for blocks in (6, 8) for seeds in (1, 3, 5))


def class_counts(size: int, shares: Sequence[float]) -> np.ndarray:
    """Utterances per class of a test part of `size`, by largest remainder (they sum to `size`)."""
    exact = size * np.asarray(shares) / np.sum(shares)
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact, kind="stable")[: size - counts.sum()]] += 1
    return counts


def pooled_uas(confusions: np.ndarray) -> np.ndarray:
    """stats.pooled_ua over the leading axes of confusions (..., folds, classes, classes), vectorised."""
    pooled = confusions.sum(axis=-3)
    support = pooled.sum(axis=-1)
    recall = np.divide(np.diagonal(pooled, axis1=-2, axis2=-1), support, out=np.zeros(support.shape),
                       where=support > 0)
    return recall.sum(axis=-1) / (support > 0).sum(axis=-1)


def expected_ua(difficulty: np.ndarray, offsets: np.ndarray, counts: np.ndarray, spread: np.ndarray,
                skewed: np.ndarray | None = None) -> np.ndarray:
    """E[pooled UA] of each comparison over runs: the mean over classes of the mean of Phi((difficulty + offset) /
    spread) over the class's utterances. difficulty: comparisons x utterances, sorted by (fold, class) cell;
    offsets: comparisons x folds (level + fold effect); counts: folds x classes; spread: comparisons, the sd of
    the normal part of what is added to a margin. `skewed` (comparisons): the scale a of a further a (1 - E) with
    E ~ Exp(1), integrated by Gauss-Laguerre quadrature."""
    folds, n_classes = counts.shape
    cell = np.repeat(np.arange(folds * n_classes), counts.ravel())
    fold, label = np.divmod(cell, n_classes)
    margin = difficulty + offsets[:, fold]
    if skewed is None:
        right = special.ndtr(margin / spread[:, None])
    else:
        nodes, weights = np.polynomial.laguerre.laggauss(LAGUERRE_NODES)
        right = sum(w * special.ndtr((margin + skewed[:, None] * (1 - t)) / spread[:, None])
                    for t, w in zip(nodes, weights, strict=True))
    present = [j for j in range(n_classes) if (label == j).any()]
    return np.mean([right[:, label == j].mean(axis=1) for j in present], axis=0)


def simulate_confusions(regime: PairedRegime, n_classes: int, comparisons: int, rng: np.random.Generator,
                        effect: float = EFFECT) -> np.ndarray:
    """Confusion matrices, comparisons x methods (REFERENCE, TWIN, REPROFILED, BETTER) x seeds x folds x classes x
    classes, of simulated runs on one fixed test set per comparison (module docstring)."""
    counts = np.stack([class_counts(size, CLASS_SHARES[n_classes]) for size in regime.folds])
    per_comparison = 4 * regime.seeds * counts.sum()
    chunk = max(1, CHUNK // per_comparison)
    parts = [_simulate_chunk(regime, counts, min(chunk, comparisons - start), rng, effect)
             for start in range(0, comparisons, chunk)]
    return np.concatenate(parts)


def _simulate_chunk(regime: PairedRegime, counts: np.ndarray, comparisons: int, rng: np.random.Generator,
                    effect: float) -> np.ndarray:
    """simulate_confusions for up to CHUNK decisions; counts: test utterances per fold x class."""
    folds, n_classes = counts.shape
    c, seeds = comparisons, regime.seeds

    def draw(bounds: tuple[float, float]) -> np.ndarray:
        return rng.uniform(*bounds, size=c)

    level, difficulty_sd, noise_sd = draw(LEVEL[n_classes]), draw(DIFFICULTY_SD), draw(NOISE_SD)
    skill_sd, bias_sd, shared = draw(SKEWED_SKILL_SD if regime.skewed else SKILL_SD), draw(BIAS_SD), draw(SHARED)
    offsets = level[:, None] + rng.normal(0.0, FOLD_SD, size=(c, folds))  # comparisons x folds

    cell = np.repeat(np.arange(folds * n_classes), counts.ravel())  # utterances sorted by (fold, class)
    difficulty = rng.normal(size=(c, len(cell))) * difficulty_sd[:, None]
    within_cells = np.argsort(cell + rng.random((c, len(cell))), axis=1)
    profiles = np.stack([difficulty, difficulty, np.take_along_axis(difficulty, within_cells, axis=1),
                         difficulty], axis=1)  # comparisons x methods x utterances

    def run_effect(shape: tuple[int, ...], skewed: bool = False) -> np.ndarray:
        """Mean 0 and variance 1 per (method, seed, fold, ...), part of it common to the methods of one seed
        index; the own part standard normal, or 1 - Exp(1) when skewed."""
        common = rng.standard_normal((c, 1, seeds, folds, *shape))
        size = (c, 4, seeds, folds, *shape)
        own = 1 - rng.standard_exponential(size) if skewed else rng.standard_normal(size)
        weight = shared.reshape(c, 1, 1, 1, *[1] * len(shape))
        return np.sqrt(weight) * common + np.sqrt(1 - weight) * own

    skill = run_effect((1,), regime.skewed) * skill_sd.reshape(c, 1, 1, 1, 1)
    raw_bias = run_effect((n_classes,))
    bias = (raw_bias - raw_bias.mean(axis=-1, keepdims=True)) * bias_sd.reshape(c, 1, 1, 1, 1)
    margins = offsets.reshape(c, 1, 1, folds, 1) + skill + bias  # comparisons x methods x seeds x folds x classes

    correct = np.zeros((c, 4, seeds, folds, n_classes), dtype=np.int64)
    scale = noise_sd.astype(np.float32).reshape(c, 1, 1, 1)
    start = 0
    for index, size in enumerate(counts.ravel()):
        fold, label = divmod(index, n_classes)
        if size:
            threshold = (profiles[:, :, None, start:start + size].astype(np.float32)
                         + margins[:, :, :, fold, label, None].astype(np.float32)) / scale
            correct[..., fold, label] = (rng.standard_normal(threshold.shape, dtype=np.float32) < threshold).sum(-1)
        start += size

    if effect:
        # Var of a centred class bias: bias_sd^2 (1 - 1/classes); the skill and the noise add theirs, the skill's
        # own part aside when it is skewed.
        normal_skill = skill_sd**2 * (shared if regime.skewed else 1)
        spread = np.sqrt(noise_sd**2 + normal_skill + bias_sd**2 * (1 - 1 / n_classes))
        skewed = skill_sd * np.sqrt(1 - shared) if regime.skewed else None
        repair = effect / (1 - expected_ua(difficulty, offsets, counts, spread, skewed))
        if (repair > 1).any():
            raise ValueError(f"an effect of {effect} is more than the simulated errors leave room for")
        wrong = counts - correct[:, BETTER]
        correct[:, BETTER] += rng.binomial(wrong, repair.reshape(c, 1, 1, 1))

    # A wrong decision goes to the other class the run's bias favours most.
    others = np.where(np.eye(n_classes, dtype=bool), -np.inf, bias[..., None, :])
    confusions = np.zeros((*correct.shape, n_classes), dtype=np.int64)
    np.put_along_axis(confusions, others.argmax(axis=-1)[..., None], (counts - correct)[..., None], axis=-1)
    diagonal = np.arange(n_classes)
    confusions[..., diagonal, diagonal] = correct
    if regime.collapse:
        # A collapsed run gives every test utterance one class, drawn per run; the reference never collapses.
        lost = rng.random((c, 4, seeds, folds)) < regime.collapse
        lost[:, REFERENCE] = False
        chosen = rng.integers(n_classes, size=lost.shape)[..., None] == np.arange(n_classes)
        one_class = counts[None, None, None, :, :, None] * chosen[..., None, :]
        confusions = np.where(lost[..., None, None], one_class, confusions)
    return confusions


# --- the dimensional tasks: CCC of rating sums ----------------------------------------------------------------------
# The rating model. A test corpus is a fixed set of utterances, each with a true rating on serbench's scale and a
# difficulty that every method and seed share: what the audio gets wrong about that utterance's rating. A run
# predicts level + slope x (rating + difficulty) + noise: its level and slope are its own (part of them common to
# the methods of one seed index, as the run effects of classes), a fold shifts the level of its models in every
# seed cycle, and each prediction adds its noise. A collapsed run predicts its level for every utterance. CCC is then
# mostly 0.3-0.8, with a seed spread of 0.01-0.03 on 400 utterances.
RATING_SD = (0.3, 0.5)  # of the true ratings
RATING_DIFFICULTY_SD = (0.3, 0.6)
RATING_NOISE_SD = (0.1, 0.3)
SLOPE = (0.4, 0.8)  # regressors shrink towards the mean: a prediction follows part of a rating's deviation
SLOPE_SD = (0.0, 0.1)  # a run's relative shift of its slope
SKEWED_SLOPE_SD = (0.1, 0.3)  # ... where runs train unevenly: larger, its own part 1 - Exp(1)
RATING_LEVEL_SD = (0.0, 0.1)  # a run's shift of every prediction
RATING_FOLD_SD = 0.05
# The speakers of the new-speaker claim: each has its own mean rating and spread, and one method suits some
# speakers better than the other: its noise is exp(u) times the common one on a speaker, the other's exp(-u), u
# symmetric about 0 over the population (normal, or heavy-tailed), so neither gains on average.
SPEAKER_UTTERANCES = 40  # test utterances of a speaker (a real corpus's speakers have 30-100)
SPEAKER_MEAN_SD = 0.25  # of the speakers' mean ratings
WITHIN_SPEAKER_SD = (0.15, 0.4)  # of one speaker's true ratings
SUITS_SD = (0.0, 0.8)  # of u


def moved(sums: np.ndarray, share: np.ndarray) -> np.ndarray:
    """The rating sums of predictions moved `share` of the way to the truth, y + share (x - y), from those of y
    (share broadcast against the sums' leading axes). Linear in y, so it is exact for the sums of one run and for
    their expectation alike."""
    n, sx, sy, sxx, syy, sxy = np.moveaxis(sums, -1, 0)
    q = np.asarray(share, dtype=float)
    return np.stack([n, sx, (1 - q) * sy + q * sx, sxx,
                     (1 - q) ** 2 * syy + 2 * q * (1 - q) * sxy + q * q * sxx, (1 - q) * sxy + q * sxx], axis=-1)


def expected_rating_sums(truth: np.ndarray, signal: np.ndarray, level: np.ndarray, level_var: np.ndarray,
                         slope: np.ndarray, slope_square: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    """E[rating sums] (..., 6) over runs that predict level + slope x signal + noise for true ratings `truth` (last
    axis: utterances), with a run's level (mean `level`, variance `level_var`) and slope (mean `slope`, mean square
    `slope_square`) independent and the noise's variance `noise_var`; the parameters broadcast against the leading
    axes."""
    n = truth.shape[-1]
    sx, sz = truth.sum(-1), signal.sum(-1)
    syy = (n * (level**2 + level_var) + 2 * level * slope * sz + slope_square * (signal * signal).sum(-1)
           + n * noise_var)
    return np.stack([np.full(sx.shape, n, dtype=float), sx, n * level + slope * sz, (truth * truth).sum(-1), syy,
                     level * sx + slope * (truth * signal).sum(-1)], axis=-1)


def share_for_gain(expected: np.ndarray, effect: float) -> np.ndarray:
    """Per comparison (the first axis), the share of the way to the truth (moved) that raises the CCC of the expected
    rating sums `expected` (comparisons x ... x 6; the CCCs averaged over the axes between: speakers) by `effect`:
    by bisection, since moving towards the truth raises the CCC, to 1 at share 1."""
    base = metrics.concordances(expected)

    def gain(share: np.ndarray) -> np.ndarray:
        grown = metrics.concordances(moved(expected, share.reshape(-1, *[1] * (expected.ndim - 2))))
        return (grown - base).reshape(len(share), -1).mean(axis=1)

    low, high = np.zeros(len(expected)), np.ones(len(expected))
    if (gain(high) < effect).any():
        raise ValueError(f"a CCC gain of {effect} is more than the simulated predictions leave room for")
    for _ in range(50):  # 2^-50: exact to the float
        middle = (low + high) / 2
        short = gain(middle) < effect
        low, high = np.where(short, middle, low), np.where(short, high, middle)
    return (low + high) / 2


def reprofiled(difficulty: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Difficulties (last axis: one fold's utterances) with the same sum, sum of squares and sum of products with
    the true ratings as `difficulty`, in another direction: its part beyond the span of 1 and the truth turned to
    a random direction of the same length. Given a run's level and slope, its rating sums depend on the difficulty
    only through those three sums (and the noise's through the same inner products), so a method with these
    difficulties gets other utterances right with exactly the same distribution of CCC: the null of other
    profiles."""
    ones = np.full(truth.shape, 1 / math.sqrt(truth.shape[-1]))
    centred = truth - truth.mean(axis=-1, keepdims=True)
    direction = centred / np.linalg.norm(centred, axis=-1, keepdims=True)

    def spanned(vector: np.ndarray) -> np.ndarray:
        return sum(basis * (basis * vector).sum(axis=-1, keepdims=True) for basis in (ones, direction))

    rest = difficulty - spanned(difficulty)
    turn = rng.standard_normal(difficulty.shape)
    turn -= spanned(turn)
    length = np.linalg.norm(rest, axis=-1, keepdims=True) / np.linalg.norm(turn, axis=-1, keepdims=True)
    return spanned(difficulty) + turn * length


def _shared_effect(rng: np.random.Generator, shape: tuple[int, ...], shared: np.ndarray,
                   skewed: bool = False) -> np.ndarray:
    """Run effects of mean 0 and variance 1, comparisons x methods x ..., part `shared` (per comparison) common to
    the methods of one seed index (the second axis); the own part standard normal, or 1 - Exp(1) when skewed."""
    common = rng.standard_normal((shape[0], 1, *shape[2:]))
    own = 1 - rng.standard_exponential(shape) if skewed else rng.standard_normal(shape)
    weight = shared.reshape(-1, *[1] * (len(shape) - 1))
    return np.sqrt(weight) * common + np.sqrt(1 - weight) * own


def simulate_rating_sums(regime: PairedRegime, comparisons: int, rng: np.random.Generator,
                         effect: float = EFFECT) -> tuple[np.ndarray, np.ndarray]:
    """Rating sums, comparisons x methods (REFERENCE, TWIN, REPROFILED, BETTER) x seeds x folds x 6, of simulated
    runs on one fixed rated test set per comparison (the rating model above), and whether each run collapsed
    (comparisons x methods x seeds x folds). BETTER moves its working runs' predictions towards the truth by the
    share that raises the CCC of its expected sums by `effect`."""
    per_comparison = 4 * regime.seeds * sum(regime.folds)
    chunk = max(1, CHUNK // 4 // per_comparison)  # float64
    parts = [_rating_chunk(regime, min(chunk, comparisons - start), rng, effect)
             for start in range(0, comparisons, chunk)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _rating_chunk(regime: PairedRegime, c: int, rng: np.random.Generator,
                  effect: float) -> tuple[np.ndarray, np.ndarray]:
    """simulate_rating_sums for `c` comparisons."""
    def draw(bounds: tuple[float, float]) -> np.ndarray:
        return rng.uniform(*bounds, size=c)

    rating_sd, difficulty_sd, noise_sd, slope = draw(RATING_SD), draw(RATING_DIFFICULTY_SD), draw(RATING_NOISE_SD), \
        draw(SLOPE)
    slope_sd, level_sd = draw(SKEWED_SLOPE_SD if regime.skewed else SLOPE_SD), draw(RATING_LEVEL_SD)
    shared = draw(SHARED)
    shape = (c, 4, regime.seeds, len(regime.folds))
    offsets = rng.normal(0.0, RATING_FOLD_SD, size=(c, len(regime.folds)))  # each fold's, in every seed cycle
    level = offsets[:, None, None, :] + level_sd[:, None, None, None] * _shared_effect(rng, shape, shared)
    gain = slope[:, None, None, None] * (1 + slope_sd[:, None, None, None]
                                         * _shared_effect(rng, shape, shared, regime.skewed))
    lost = rng.random(shape) < regime.collapse
    lost[:, REFERENCE] = False
    sums, expected = np.zeros((*shape, 6)), np.zeros((c, 6))
    for fold, size in enumerate(regime.folds):
        truth = rng.standard_normal((c, size)) * rating_sd[:, None]
        difficulty = rng.standard_normal((c, size)) * difficulty_sd[:, None]
        profiles = np.stack([difficulty, difficulty, reprofiled(difficulty, truth, rng), difficulty], axis=1)
        signal = (truth[:, None] + profiles)[:, :, None, :]  # comparisons x methods x 1 x utterances
        predicted = (level[..., fold, None] + gain[..., fold, None] * signal
                     + noise_sd[:, None, None, None] * rng.standard_normal((*shape[:3], size)))
        predicted = np.where(lost[..., fold, None], level[..., fold, None], predicted)
        sums[..., fold, :] = metrics.rating_sums(truth[:, None, None, :], predicted)
        # the reference's working runs, whose skewed own part has mean 0 and variance 1 too
        expected += expected_rating_sums(truth, truth + difficulty, offsets[:, fold], level_sd**2, slope,
                                         slope**2 * (1 + slope_sd**2), noise_sd**2)
    if effect:
        better = moved(sums[:, BETTER], share_for_gain(expected, effect)[:, None, None])
        sums[:, BETTER] = np.where(lost[:, BETTER, ..., None], sums[:, BETTER], better)
    return sums, lost


@dataclass(frozen=True)
class PairedResult:
    """Rejection rates of stats.paired_test at ALPHA in one regime (half binary, half 4-class comparisons)."""

    regime: PairedRegime
    comparisons: int
    exchangeable: float  # type-I error, null (a), among the comparisons tested
    reprofiled: float  # type-I error, null (b), among the comparisons tested
    power: float  # against BETTER, among all comparisons
    effect: float
    zero_spread: float  # share of the null tests whose differences had no spread (sign-flip fallback)
    untested: float  # share of the null comparisons left without a test: fewer than two seeds without collapse


def calibrate_paired(regime: PairedRegime, comparisons: int, rng: np.random.Generator,
                     effect: float = EFFECT) -> PairedResult:
    """Simulate `comparisons` paired comparisons of the regime and run stats.working_paired_test, the pages'
    test, on each: the seeds whose pooled runs include a collapsed or near-collapsed one (metrics.degenerate,
    the pages' rule) are left out."""
    ua, lost = paired_scores(regime, comparisons, rng, effect)
    comparisons_of = {other: [stats.working_paired_test(u[REFERENCE], u[other], x[REFERENCE], x[other])
                              for u, x in zip(ua, lost, strict=True)] for other in (TWIN, REPROFILED, BETTER)}
    tests = {other: [c.test for c in found] for other, found in comparisons_of.items()}
    nulls = [test for other in (TWIN, REPROFILED) for test in tests[other]]

    def rate(chosen: Sequence[stats.PairedTest]) -> float:
        return float(np.mean([test.p < ALPHA for test in chosen])) if chosen else math.nan

    def tested(other: int) -> list[stats.PairedTest]:
        return [test for test in tests[other] if test.n > 1]

    flat = [np.ptp((u[other] - u[REFERENCE])[list(c.kept)]) <= stats.ZERO_SPREAD
            for other in (TWIN, REPROFILED) for u, c in zip(ua, comparisons_of[other], strict=True) if c.test.n > 1]
    return PairedResult(regime, comparisons, rate(tested(TWIN)), rate(tested(REPROFILED)), rate(tests[BETTER]),
                        effect, float(np.mean(flat)), float(np.mean([test.n < 2 for test in nulls])))


def paired_scores(regime: PairedRegime, comparisons: int, rng: np.random.Generator,
                  effect: float) -> tuple[np.ndarray, np.ndarray]:
    """The score of each simulated seed cycle, comparisons x methods x seeds, and whether a run of it collapsed
    or nearly (the pages' † rule): UA of confusion matrices, half of the comparisons binary and half of 4 classes,
    or the CCC of rating sums (regime.score)."""
    if regime.score == "ccc":
        sums, lost = simulate_rating_sums(regime, comparisons, rng, effect)
        return metrics.concordances(sums.sum(axis=-2)), np.asarray(lost.any(axis=-1))
    binary = comparisons // 2
    confusions = [simulate_confusions(regime, n_classes, n, rng, effect)
                  for n_classes, n in ((BINARY, binary), (FOUR_CLASS, comparisons - binary)) if n]
    return (np.concatenate([pooled_uas(c) for c in confusions]),
            np.concatenate([metrics.degenerate(c).any(axis=-1) for c in confusions]))


def simulate_speaker_differences(regime: SpeakerRegime, comparisons: int, rng: np.random.Generator,
                                 effect: float = 0.0) -> np.ndarray:
    """Per-speaker score differences, comparisons x seeds x speakers, whose population mean is `effect`: UA
    differences drawn as such, or (regime.score "ccc") each speaker's CCC from simulated ratings
    (simulate_speaker_ccc), whose population mean is 0 by symmetry and about `effect` with a gain."""
    if regime.score == "ccc":
        return simulate_speaker_ccc(regime, comparisons, rng, effect)
    shape = (comparisons, regime.seeds, regime.speakers)

    def sd(bounds: tuple[float, float]) -> np.ndarray:
        return rng.uniform(*bounds, size=(comparisons, 1, 1))

    speaker = (rng.standard_t(3, size=(comparisons, 1, regime.speakers)) / math.sqrt(3) if regime.heavy
               else rng.standard_normal((comparisons, 1, regime.speakers)))  # variance 1 either way
    return (effect + sd(SEED_SD) * rng.standard_normal((comparisons, regime.seeds, 1)) + sd(SPEAKER_SD) * speaker
            + sd(INTERACTION_SD) * rng.standard_normal(shape))


def simulate_speaker_ccc(regime: SpeakerRegime, comparisons: int, rng: np.random.Generator,
                         effect: float = 0.0) -> np.ndarray:
    """Per-speaker CCC differences, comparisons x seeds x speakers: each speaker's CCC over its own utterances
    (SPEAKER_UTTERANCES), as reports.tables.speaker_rows computes it, of the second of two methods minus the
    first's, on speakers drawn afresh in each comparison (the rating model). The two are exchangeable but for how
    they suit each speaker (SUITS_SD), so over the speaker population the expected difference is 0; with `effect`
    the second one's predictions move towards the truth by the share that raises the mean over the comparison's
    speakers of the CCC of its expected sums by `effect`."""
    per_comparison = 2 * regime.seeds * regime.speakers * SPEAKER_UTTERANCES
    chunk = max(1, CHUNK // 4 // per_comparison)  # float64
    return np.concatenate([_speaker_chunk(regime, min(chunk, comparisons - start), rng, effect)
                           for start in range(0, comparisons, chunk)])


def _speaker_chunk(regime: SpeakerRegime, c: int, rng: np.random.Generator, effect: float) -> np.ndarray:
    """simulate_speaker_ccc for `c` comparisons."""
    def draw(bounds: tuple[float, float]) -> np.ndarray:
        return rng.uniform(*bounds, size=c)

    noise_sd, slope, slope_sd, level_sd = draw(RATING_NOISE_SD), draw(SLOPE), draw(SLOPE_SD), draw(RATING_LEVEL_SD)
    difficulty_sd, suits_sd, shared = draw(RATING_DIFFICULTY_SD), draw(SUITS_SD), draw(SHARED)
    speakers = (c, regime.speakers)
    truth = (rng.normal(0.0, SPEAKER_MEAN_SD, size=(*speakers, 1))
             + rng.uniform(*WITHIN_SPEAKER_SD, size=(*speakers, 1)) * rng.standard_normal((*speakers,
                                                                                          SPEAKER_UTTERANCES)))
    signal = truth + difficulty_sd[:, None, None] * rng.standard_normal(truth.shape)
    suits = (rng.standard_t(3, size=speakers) / math.sqrt(3) if regime.heavy else rng.standard_normal(speakers))
    noise = noise_sd[:, None, None] * np.exp(np.stack([1, -1])[None, :, None] * (suits_sd[:, None] * suits)[:, None])
    runs = (c, 2, regime.seeds)
    level = level_sd[:, None, None] * _shared_effect(rng, runs, shared)
    gain = slope[:, None, None] * (1 + slope_sd[:, None, None] * _shared_effect(rng, runs, shared))
    predicted = (level[..., None, None] + gain[..., None, None] * signal[:, None, None]
                 + noise[:, :, None, :, None] * rng.standard_normal((*runs, regime.speakers, SPEAKER_UTTERANCES)))
    sums = metrics.rating_sums(truth[:, None, None], predicted)  # comparisons x methods x seeds x speakers x 6
    if effect:
        expected = expected_rating_sums(truth, signal, np.zeros((c, 1)), level_sd[:, None] ** 2, slope[:, None],
                                        (slope**2 * (1 + slope_sd**2))[:, None], noise[:, 1] ** 2)
        sums[:, 1] = moved(sums[:, 1], share_for_gain(expected, effect)[:, None, None])
    scores = metrics.concordances(sums)
    return scores[:, 1] - scores[:, 0]


@dataclass(frozen=True)
class SpeakerResult:
    """Rejection rates at ALPHA of stats.speaker_test in one regime, and of the seed-level test on the same data."""

    regime: SpeakerRegime
    comparisons: int
    type_one: float  # new-speaker null: speaker_test
    seed_level: float  # ... paired_test on the seeds' mean over speakers, read as a new-speaker claim
    power: float  # speaker_test against a population gain of `effect`
    effect: float


def calibrate_speakers(regime: SpeakerRegime, comparisons: int, rng: np.random.Generator,
                       effect: float = EFFECT) -> SpeakerResult:
    """Simulate `comparisons` comparisons of the regime under the null and with a gain; test each both ways."""
    null = simulate_speaker_differences(regime, comparisons, rng)
    gain = simulate_speaker_differences(regime, comparisons, rng, effect)
    zero = np.zeros(regime.seeds)

    def rate(tests: Sequence[stats.PairedTest]) -> float:
        return float(np.mean([test.p < ALPHA for test in tests]))

    return SpeakerResult(regime, comparisons, rate([stats.speaker_test(d) for d in null]),
                         rate([stats.paired_test(zero, d.mean(axis=1)) for d in null]),
                         rate([stats.speaker_test(d) for d in gain]), effect)


def simulate_rankings(regime: RankingRegime, datasets: int, rng: np.random.Generator,
                      margin: float = 0.0) -> np.ndarray:
    """Per-block UA, datasets x seeds x methods x blocks, of identical methods; method 0 gains `margin`."""
    shape = (datasets, regime.seeds, regime.methods, regime.blocks)
    d = datasets
    correlation = rng.uniform(0.5, 0.85, size=(d, 1, 1, 1))  # of a model's luck across the blocks of its seed

    def shared_by_blocks(per_run: tuple[int, int, int, int]) -> np.ndarray:
        common = rng.standard_normal((*per_run[:3], 1))
        return np.sqrt(correlation) * common + np.sqrt(1 - correlation) * rng.standard_normal(per_run)

    level = rng.uniform(0.45, 0.75, size=(d, 1, 1, regime.blocks))
    luck = shared_by_blocks(shape) * rng.uniform(0.01, 0.03, size=(d, 1, 1, regime.blocks))
    seed_effect = shared_by_blocks((d, regime.seeds, 1, regime.blocks)) * rng.uniform(0, 0.02, size=(d, 1, 1, 1))
    scores = level + luck + seed_effect
    scores[:, :, 0] += margin
    return scores


@dataclass(frozen=True)
class RankingResult:
    """Rates at ALPHA of stats.permutation_ranking in one regime, and of the classic tests on the same data."""

    regime: RankingRegime
    datasets: int
    permutations: int
    type_one: float  # omnibus rejections of identical methods
    familywise: float  # identical methods with at least one significant pair
    power: float  # omnibus rejections when method 0 is better by `margin` in every block
    power_pairs: float  # ... and method 0 significantly ahead of at least one other method
    margin: float
    classic_chi2: float  # identical methods: scipy.stats.friedmanchisquare on the seed-mean table
    classic_f: float  # ... its Iman-Davenport F form
    classic_nemenyi: float  # ... some pair at least the Nemenyi CD apart (Demsar 2006)


def calibrate_ranking(regime: RankingRegime, datasets: int, rng: np.random.Generator, *, permutations: int = 2000,
                      margin: float = EFFECT) -> RankingResult:
    """Simulate `datasets` ranking pages of the regime, null and with one better method, and test each."""
    def ranked(scores: np.ndarray) -> list[stats.Ranking]:
        return [stats.permutation_ranking(x, permutations=permutations, seed=int(rng.integers(2**32)))
                for x in scores]

    null_scores = simulate_rankings(regime, datasets, rng)
    null = ranked(null_scores)
    better = ranked(simulate_rankings(regime, datasets, rng, margin))
    k, n = regime.methods, regime.blocks
    tables = null_scores.mean(axis=1).transpose(0, 2, 1)  # datasets x blocks x methods
    chi2 = np.array([sp.friedmanchisquare(*table.T).statistic for table in tables])
    room = n * (k - 1) - chi2  # the F form's denominator: 0 when every block ranks alike
    f_rejects = (room <= 0) | (sp.f.sf(np.divide((n - 1) * chi2, room, out=np.zeros_like(chi2), where=room > 0),
                                       k - 1, (k - 1) * (n - 1)) < ALPHA)
    nemenyi = sp.studentized_range.ppf(1 - ALPHA, k, np.inf) / math.sqrt(2) * math.sqrt(k * (k + 1) / (6 * n))
    ranks = sp.rankdata(-tables, axis=2).mean(axis=1)
    return RankingResult(
        regime, datasets, permutations,
        type_one=float(np.mean([r.p < ALPHA for r in null])),
        familywise=float(np.mean([bool(r.pairs) for r in null])),
        power=float(np.mean([r.p < ALPHA for r in better])),
        power_pairs=float(np.mean([any(i == 0 and r.ranks[0] < r.ranks[j] for i, j in r.pairs) for r in better])),
        margin=margin,
        classic_chi2=float(np.mean(sp.chi2.sf(chi2, k - 1) < ALPHA)),
        classic_f=float(np.mean(f_rejects)),
        classic_nemenyi=float(np.mean(np.ptp(ranks, axis=1) >= nemenyi)))


def within_band(rate: float, trials: int, low: float = BAND[0], high: float = BAND[1]) -> bool:
    """Whether a rejection rate over `trials` simulations is in [low, high] up to two simulation standard
    errors of a calibrated test, sqrt(ALPHA (1 - ALPHA) / trials), so that a correct test does not fail by
    chance."""
    tolerance = 2 * math.sqrt(ALPHA * (1 - ALPHA) / trials)
    return low - tolerance <= rate <= high + tolerance


def paired_in_band(result: PairedResult) -> bool:
    tested = round(result.comparisons * (1 - result.untested))
    return all(within_band(rate, tested) for rate in (result.exchangeable, result.reprofiled))


def speaker_in_band(result: SpeakerResult) -> bool:
    """At most the band's upper end: the quasi-F test is conservative where speakers hardly differ (its
    estimate then falls back to the noise alone), and that is allowed; liberal is not."""
    return within_band(result.type_one, result.comparisons, low=0.0)


def ranking_in_band(result: RankingResult) -> bool | None:
    """None for one seed: relabelling has nothing to move, so p = 1 and there is no test to calibrate."""
    if result.regime.seeds < 2:
        return None
    return (within_band(result.type_one, result.datasets)
            and within_band(result.familywise, result.datasets, low=0.0))


@dataclass(frozen=True)
class Calibration:
    """The figures of one `serbench calibrate` run."""

    comparisons: int
    seed: int
    permutations: int
    paired: tuple[PairedResult, ...]
    ranking: tuple[RankingResult, ...]
    speakers: tuple[SpeakerResult, ...]
    seconds: float

    def failures(self) -> list[str]:
        """The regimes whose error rates leave their band."""
        return ([f"paired {r.regime.name}, {r.regime.seeds} seeds" for r in self.paired if not paired_in_band(r)]
                + [f"speakers {r.regime.name}, {r.regime.seeds} seeds x {r.regime.speakers} speakers"
                   for r in self.speakers if not speaker_in_band(r)]
                + [f"ranking {r.regime.name}, {r.regime.seeds} seeds" for r in self.ranking
                   if ranking_in_band(r) is False])


def calibrate(comparisons: int = 2000, seed: int = 0, *, tests: Sequence[str] = ("paired", "ranking", "speakers"),
              permutations: int = 2000, on_regime: Callable[[str], None] | None = None) -> Calibration:
    """Run the regimes of `tests`. Each regime has its own generator, seeded by (seed, its position), so a
    subset reproduces the figures of the full run."""
    started = time.perf_counter()
    paired, ranking = [], []
    for index, regime in enumerate(PAIRED_REGIMES if "paired" in tests else ()):
        if on_regime:
            on_regime(f"paired test, {regime.name}, {regime.seeds} seeds")
        paired.append(calibrate_paired(regime, comparisons, np.random.default_rng([seed, index])))
    for index, ranking_regime in enumerate(RANKING_REGIMES if "ranking" in tests else ()):
        if on_regime:
            on_regime(f"ranking, {ranking_regime.name}, {ranking_regime.seeds} seeds")
        ranking.append(calibrate_ranking(ranking_regime, comparisons, np.random.default_rng([seed, 1000 + index]),
                                         permutations=permutations))
    speakers = []
    for index, speaker_regime in enumerate(SPEAKER_REGIMES if "speakers" in tests else ()):
        if on_regime:
            on_regime(f"speaker test, {speaker_regime.name}, {speaker_regime.seeds} seeds x "
                      f"{speaker_regime.speakers} speakers")
        speakers.append(calibrate_speakers(speaker_regime, comparisons, np.random.default_rng([seed, 2000 + index])))
    return Calibration(comparisons, seed, permutations, tuple(paired), tuple(ranking), tuple(speakers),
                       time.perf_counter() - started)
