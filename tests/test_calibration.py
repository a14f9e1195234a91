"""The simulation model of serbench/reports/calibration.py, and the calibration itself at a smaller, seeded size:
the tests of serbench/reports/stats.py must hold their error rates in every regime the harness produces, and find
large effects."""

import dataclasses
import json

import numpy as np
import pytest
from scipy import stats as sp

from serbench import metrics
from serbench.cli import main
from serbench.reports import calibration, stats
from serbench.reports.calibration import BETTER, REFERENCE, REPROFILED, TWIN

# Small enough for the test suite, large enough that two simulation errors (about 0.018 at 600) keep the band tight.
COMPARISONS = 600
DATASETS = 400
LARGE_EFFECT = 0.10


def test_class_counts_keep_the_size_and_the_shares() -> None:
    assert calibration.class_counts(40, (0.4, 0.3, 0.2, 0.1)).tolist() == [16, 12, 8, 4]
    assert calibration.class_counts(5, (0.4, 0.3, 0.2, 0.1)).tolist() == [2, 2, 1, 0]
    assert calibration.class_counts(7, (0.6, 0.4)).sum() == 7


@pytest.mark.parametrize("n_classes", [2, 4])
def test_simulated_confusions_are_consistent_and_pool_like_the_harness(n_classes) -> None:
    regime = calibration.PairedRegime("folds tiny", (5, 6, 8, 10, 11), 3)
    confusions = calibration.simulate_confusions(regime, n_classes, 30, np.random.default_rng(0))
    assert confusions.shape == (30, 4, 3, 5, n_classes, n_classes)
    counts = np.stack([calibration.class_counts(n, calibration.CLASS_SHARES[n_classes]) for n in regime.folds])
    assert (confusions.sum(axis=-1) == counts).all()  # every test utterance is decided once per run
    uas = calibration.pooled_uas(confusions)
    for index in np.ndindex(uas.shape):
        assert uas[index] == pytest.approx(stats.pooled_ua(list(confusions[index])), abs=1e-12)


SKEWED = next(r for r in calibration.PAIRED_REGIMES if r.skewed)


@pytest.mark.parametrize("regime", [calibration.PAIRED_REGIMES[1], calibration.PAIRED_REGIMES[10], SKEWED],
                         ids=lambda r: r.name)
def test_the_nulls_hold_and_the_effect_is_the_one_injected(regime) -> None:
    # Over many comparisons the mean UA difference is 0 for both nulls and LARGE_EFFECT for BETTER, within four
    # standard errors; a wrong closed-form E[UA] would give BETTER another gain.
    ua = np.concatenate([calibration.pooled_uas(calibration.simulate_confusions(
        regime, n_classes, 500, np.random.default_rng(n_classes), effect=LARGE_EFFECT)) for n_classes in (2, 4)])
    for other, expected in ((TWIN, 0.0), (REPROFILED, 0.0), (BETTER, LARGE_EFFECT)):
        gain = (ua[:, other] - ua[:, REFERENCE]).mean(axis=1)
        assert abs(gain.mean() - expected) < 4 * gain.std(ddof=1) / np.sqrt(len(gain)), other


def test_collapsed_runs_give_every_utterance_one_class_and_spare_the_reference() -> None:
    regime = next(r for r in calibration.PAIRED_REGIMES if r.collapse == 0.2 and r.seeds == 10)
    confusions = calibration.simulate_confusions(regime, 4, 200, np.random.default_rng(5))
    lost = metrics.degenerate(confusions)[..., 0]  # comparisons x methods x seeds (one fold)
    one_class = (confusions.sum(axis=-2) > 0).sum(axis=-1)[..., 0] == 1
    assert (lost == one_class).all()  # the runs flagged are the collapsed ones: working ones never come close
    assert not lost[:, REFERENCE].any()
    for other in (TWIN, REPROFILED, BETTER):
        share = lost[:, other].mean()
        assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / lost[:, other].size), other
    collapsed_ua = calibration.pooled_uas(confusions)[lost]
    assert collapsed_ua == pytest.approx(np.full(collapsed_ua.shape, 0.25))  # chance: one class of four recalled


def test_skewed_runs_are_skewed_towards_worse_runs() -> None:
    ua = calibration.pooled_uas(calibration.simulate_confusions(
        dataclasses.replace(SKEWED, seeds=40), 2, 200, np.random.default_rng(6)))
    assert np.median(sp.skew(ua[:, REFERENCE], axis=-1)) < -0.3  # the normal regimes' median is about 0


def test_within_band() -> None:
    tolerance = 2 * np.sqrt(0.05 * 0.95 / 600)
    assert calibration.within_band(0.05, 600)
    assert calibration.within_band(0.03 - 0.9 * tolerance, 600)
    assert not calibration.within_band(0.03 - 1.1 * tolerance, 600)
    assert not calibration.within_band(0.07 + 1.1 * tolerance, 600)
    assert calibration.within_band(0.0, 600, low=0.0) and not calibration.within_band(0.0, 600)


@pytest.mark.parametrize("index", range(len(calibration.PAIRED_REGIMES)),
                         ids=[f"{r.name}-{r.seeds}" for r in calibration.PAIRED_REGIMES])
def test_paired_test_is_calibrated(index) -> None:
    regime = calibration.PAIRED_REGIMES[index]
    result = calibration.calibrate_paired(regime, COMPARISONS, np.random.default_rng([11, index]),
                                          effect=LARGE_EFFECT)
    assert calibration.paired_in_band(result), result
    if sum(regime.folds) >= 400 and not (regime.collapse or regime.skewed):
        # a 10-point gain on a large test set: t with 4 df or more cannot miss it
        assert result.power > (0.9 if regime.seeds >= 5 else 0.5), result
    elif sum(regime.folds) >= 400:
        # collapsed seeds leave the test, and uneven training spreads UA by about 7 points: less, but not blind
        assert result.power > {3: 0.3, 5: 0.6}.get(regime.seeds, 0.9), result


@pytest.mark.parametrize("index", [i for i, r in enumerate(calibration.RANKING_REGIMES) if r.seeds > 1],
                         ids=lambda i: f"{calibration.RANKING_REGIMES[i].blocks}blocks-"
                                       f"{calibration.RANKING_REGIMES[i].seeds}seeds")
def test_ranking_is_calibrated(index) -> None:
    regime = calibration.RANKING_REGIMES[index]
    result = calibration.calibrate_ranking(regime, DATASETS, np.random.default_rng([12, index]), permutations=500,
                                           margin=LARGE_EFFECT)
    assert calibration.ranking_in_band(result), result
    # The simulated pages share seed luck across blocks: the classic tests are fooled by it.
    assert min(result.classic_chi2, result.classic_f, result.classic_nemenyi) > 0.5
    if regime.seeds >= 5:
        assert result.power > 0.9 and result.power_pairs > 0.9, result
    else:  # three seeds: few relabelings keep a model's runs apart, so even a large gain is often missed
        assert result.power > 0.4, result


@pytest.mark.parametrize("index", range(len(calibration.SPEAKER_REGIMES)),
                         ids=[f"{r.name}-{r.seeds}x{r.speakers}" for r in calibration.SPEAKER_REGIMES])
def test_speaker_test_is_valid_for_new_speakers(index) -> None:
    regime = calibration.SPEAKER_REGIMES[index]
    result = calibration.calibrate_speakers(regime, COMPARISONS, np.random.default_rng([13, index]),
                                            effect=LARGE_EFFECT)
    assert calibration.speaker_in_band(result), result
    # Read as a claim about new speakers, the seed-level test is wrong far more often than 5%.
    assert result.seed_level > 0.12, result
    if regime.speakers >= 12:
        assert result.power > 0.5, result


def test_speaker_differences_have_the_population_mean_asked_for() -> None:
    regime = calibration.SpeakerRegime("normal speakers", 5, 12)
    for effect in (0.0, LARGE_EFFECT):
        means = calibration.simulate_speaker_differences(regime, 4000, np.random.default_rng(4), effect).mean(
            axis=(1, 2))
        assert abs(means.mean() - effect) < 4 * means.std(ddof=1) / np.sqrt(len(means))


def test_one_seed_gives_no_ranking_test() -> None:
    regime = next(r for r in calibration.RANKING_REGIMES if r.seeds == 1)
    result = calibration.calibrate_ranking(regime, 50, np.random.default_rng(0), margin=LARGE_EFFECT)
    assert (result.type_one, result.power) == (0.0, 0.0)
    assert calibration.ranking_in_band(result) is None
    assert result.classic_f > 0.5


def test_calibrate_command_prints_and_writes_the_figures(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "calibration.json"
    assert main(["calibrate", "--comparisons", "40", "--only", "ranking", "--permutations", "200",
                 "--json", str(out)]) == 0
    assert "6 methods, 8 blocks" in capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["paired"] == figures["speakers"] == []
    assert len(figures["ranking"]) == len(calibration.RANKING_REGIMES)
    assert figures["comparisons"] == 40 and figures["failures"] == []
    # Each regime has its own generator: the subset reproduces the full run's figures.
    again = calibration.calibrate(40, 0, tests=("ranking",), permutations=200)
    assert [dataclasses.asdict(r) for r in again.ranking] == figures["ranking"]


def test_calibrate_command_fails_when_a_regime_leaves_its_band(monkeypatch, capsys) -> None:
    real = calibration.calibrate

    def skewed(*args, **kwargs) -> calibration.Calibration:
        result = real(*args, **kwargs)
        return dataclasses.replace(result, paired=(dataclasses.replace(result.paired[0], exchangeable=0.2),))

    monkeypatch.setattr(calibration, "calibrate", skewed)
    assert main(["calibrate", "--comparisons", "20", "--only", "paired"]) == 1
    assert "out of band: paired cross large, 3 seeds" in capsys.readouterr().err
    assert main(["calibrate", "--comparisons", "1"]) == 2
