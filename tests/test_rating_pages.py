"""Leaderboard pages of the dimensional tasks (scored by CCC from rating sums) from hand-made stores: numbers and
words from the Metric, corpora the task leaves unrated, stores that mix classes and ratings, collapses, the
new-speaker claim on per-speaker CCC; and the simulation that calibrates the tests on CCC (reports/calibration.py)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serbench import metrics
from serbench.metrics import METRICS, rating_scores, scores
from serbench.reports import calibration, figures, stats, transfer_matrix
from serbench.reports.calibration import BETTER, REFERENCE, REPROFILED, TWIN
from serbench.reports.comparisons import compare
from serbench.reports.pages import write_leaderboards
from serbench.reports.records import load_records
from serbench.reports.tables import build_page, speaker_rows
from serbench.runs.record import CorpusScores, RunRecord
from serbench.runs.scores import cycle_rows
from serbench.runs.store import ResultsStore

CCC = METRICS["ccc"]
RATED = ("c-one", "c_two")
UNRATED = "no-ratings"  # a test corpus of the protocol without ratings of the task (as Emo-DB under `cross`)
# How closely each method's predictions follow the truth: slope, noise; None predicts one rating for everything.
QUALITY = {"egemaps_ridge": (0.6, 0.25), "close": (0.9, 0.1), "contrary": (-0.3, 0.3), "flat": None,
           "twin": (0.6, 0.25)}


def protocol_dict(tasks: tuple[str, ...] = ("arousal", "valence")) -> dict:
    corpora = [*RATED, UNRATED]
    return {"name": "cross", "description": "train on src, test on three corpora", "split": "corpus",
            "tasks": list(tasks), "corpora": ["src", *corpora], "train": ["src"], "test": corpora, "folds": 0,
            "groups": {}, "adaptation": "none", "normalisation": "speaker", "gain": "as-recorded", "labels": {},
            "selection": "last", "patience": 5, "test_corpora": corpora}


def add_run(store: ResultsStore, method: str, seed: int, *, task: str = "arousal-dim", utterances: int = 200,
            speakers: int = 5, stuck: bool = False) -> str:
    """One fabricated run of the `cross`-shaped protocol above: rating runs predict slope x truth + noise (QUALITY)
    on the two rated corpora and exclude every utterance of UNRATED; a run of classes (`task` arousal) predicts
    the true class 80% of the time on all three. Speaker j of a corpus has a mean rating of its own; speaker s0's
    ratings are one value (a per-speaker CCC has nothing to measure there)."""
    rating = task.endswith("-dim")
    identity = {"method": method, "hparams": {"alpha": 1.0}, "protocol": protocol_dict(),
                "fold": {"name": "", "train": ["src"], "test": [*RATED, UNRATED], "held_out": None}, "task": task,
                "seed": seed, "data": {c: c[0] * 64 for c in ("src", *RATED, UNRATED)},
                "frontend": {"name": "egemaps", "hash": "f0"}, "code": "c0", "serbench": "0.1.0"}
    run_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    rng = np.random.default_rng(int(run_id[:8], 16))
    frames = []
    for place, corpus in enumerate(RATED if rating else (*RATED, UNRATED)):
        speaker = np.arange(utterances) % speakers
        truth_rng = np.random.default_rng(place)  # the same test set in every run
        truth = np.clip(0.3 * (speaker - 2) / 2 + 0.4 * truth_rng.standard_normal(utterances), -1, 1)
        truth[speaker == 0] = 0.5
        if rating:
            quality = None if stuck else QUALITY[method]
            predicted = (np.full(utterances, 0.1) if quality is None else
                         quality[0] * truth + quality[1] * rng.standard_normal(utterances))
        else:
            truth = (truth > 0).astype(int)
            predicted = np.where(rng.random(utterances) < 0.8, truth, 1 - truth)
        frame = pd.DataFrame({"utterance_id": [f"{corpus}-{i:04d}" for i in range(utterances)], "corpus": corpus,
                              "speaker": [f"s{j}" for j in speaker], "gender": "F", "y": truth,
                              "predicted": predicted})
        frames.append(frame if rating else frame.assign(p_low=1.0 - predicted, p_high=predicted * 1.0))
    predictions = pd.concat(frames, ignore_index=True)

    def scored(rows: pd.DataFrame) -> dict:
        y, p = rows["y"].to_numpy(), rows["predicted"].to_numpy()
        return rating_scores(y, p) if rating else scores(y, p, 2)

    record = RunRecord(
        run_id=run_id, identity=identity, method=method, protocol="cross", fold="", task=task, seed=seed,
        frontend="egemaps", classes=[] if rating else ["low", "high"], synthetic=True, curves=[],
        selection={"policy": "last"}, excluded={UNRATED: {"no arousal rating": utterances}} if rating else {},
        split={c: {"train_utterances": 0, "test_utterances": utterances} for c in set(predictions["corpus"])},
        adaptation={}, normalisation={},
        scores={c: CorpusScores(**scored(rows), collapsed=bool(rows["predicted"].nunique() == 1))
                for c, rows in predictions.groupby("corpus")},
        probes=None, provenance={"argv": ["serbench", "run"], "git_commit": "abc123"})
    store.write_run(run_id, record, {"predictions": predictions})
    return run_id


def make_store(root: Path, methods=("egemaps_ridge", "close", "contrary"), seeds=(0, 1, 2), **options) -> ResultsStore:
    store = ResultsStore(root)
    for method in methods:
        for seed in seeds:
            add_run(store, method, seed, **options)
    return store


@pytest.fixture(autouse=True)
def png_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The figures as PNG alone: drawing SVG and PDF too takes most of a page's time (tests/test_leaderboard.py
    checks the formats)."""
    monkeypatch.setattr(figures, "FORMATS", {"png": figures.FORMATS["png"]})


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ResultsStore, Path]:
    """A store with a dimensional task and a task of classes on one protocol, and its pages."""
    root = tmp_path_factory.mktemp("ratings")
    store = make_store(root / "results")
    for seed in (0, 1, 2):
        add_run(store, "egemaps_lr", seed, task="arousal")
    write_leaderboards(root / "results", root / "out")
    return store, root / "out"


def test_a_rating_page_shows_ccc_as_its_metric_says(mixed: tuple[ResultsStore, Path]) -> None:
    store, out = mixed
    page = (out / "cross-arousal-dim.md").read_text()
    assert "## CCC per test corpus" in page and "concordance correlation coefficient (CCC" in page
    assert "arousal rating of each test utterance" in page and "(classes:" not in page
    assert " in percent" not in page and "(%)" not in page and "points" not in page
    cycles = cycle_rows(load_records(store))
    close = cycles[(cycles["method"] == "close") & (cycles["corpus"] == "c-one")]["ccc"]
    row = next(line for line in page.splitlines() if line.startswith("| close | egemaps |"))
    assert f"**{close.mean():.3f}** ± {close.std(ddof=1):.3f} (3) ▲" in row  # bold, above the reference
    # The protocol's references are classifiers: the page of ratings takes the regressor of TARGET_REFERENCES.
    assert "Reference for the significance markers: **egemaps\\_ridge**" in page
    ridge = cycles[(cycles["method"] == "egemaps_ridge") & (cycles["corpus"] == "c-one")]["ccc"]
    difference = close.mean() - ridge.mean()
    assert f"| c-one | close | {difference:+.3f} | [" in page and "as a plain difference of the two" in page
    assert "| test corpus | method | CCC | CCC 95% CI | CCC std | PCC | RMSE | seeds | utterances |" in page
    assert "clipped to [-1, 1]" in page and "## Confusion matrices" not in page
    assert not list((out / "figures").glob("cross-arousal-dim-confusion-*"))
    csv = (out / "cross-arousal-dim.csv").read_text().splitlines()
    assert csv[0] == ("method,frontend,corpus,ccc_mean,ccc_std,seeds,pcc_mean,rmse_mean,flags,difference,ci_low,"
                      "ci_high,p,p_holm,marker")
    assert any(line.startswith(f"close,egemaps,c-one,{close.mean():.6f},") and f",{difference:.6f}," in line
               for line in csv)
    assert "% cross / arousal-dim: CCC per test corpus" in (out / "cross-arousal-dim.tex").read_text()


def test_a_negative_ccc_keeps_its_interval_below_zero(mixed: tuple[ResultsStore, Path]) -> None:
    store, out = mixed
    cycles = cycle_rows(load_records(store))
    contrary = cycles[(cycles["method"] == "contrary") & (cycles["corpus"] == "c_two")]["ccc"].tolist()
    summary = stats.summarize(contrary, bounds=CCC.bounds)
    assert summary.ci_high < 0 and summary.ci_low > -1  # the default bounds would clip it to [0, 0]
    assert f"| c\\_two | contrary | {summary.mean:.3f} | [{summary.ci_low:.3f}, {summary.ci_high:.3f}] |" in \
        (out / "cross-arousal-dim.md").read_text()


def test_a_corpus_without_ratings_is_no_column_and_the_page_says_why(mixed: tuple[ResultsStore, Path]) -> None:
    _, out = mixed
    page = (out / "cross-arousal-dim.md").read_text()
    assert "| method | front-end | c-one | c\\_two | average | average rank |" in page
    assert (f"Not scored: {UNRATED}, test corpus of cross, has no arousal rating: every run excluded all of its "
            f"utterances ({UNRATED} 200: no arousal rating)") in page
    assert "incomplete" not in page  # written without --allow-incomplete: no gap
    assert "| c-one, c\\_two |" in (out / "README.md").read_text()  # the index's test corpora


def test_a_store_mixing_classes_and_ratings_keeps_them_apart(mixed: tuple[ResultsStore, Path]) -> None:
    _, out = mixed
    classes = (out / "cross-arousal.md").read_text()
    assert "## UA per test corpus" in classes and "CCC" not in classes and "## Confusion matrices" in classes
    assert "Not scored" not in classes
    index = (out / "README.md").read_text()
    assert index.count("Unweighted accuracy (UA) or concordance correlation coefficient (CCC) of each method") == 1
    # One ranking per target: a classifier is no gap of the rating pages, nor a regressor of the classes'.
    assert "## cross: ranking across test corpora and tasks" in index
    assert "## cross, ratings: ranking across test corpora and tasks" in index
    assert (out / "figures" / "cross-ratings-cd.png").is_file()
    assert "runs on other tasks" not in classes + (out / "cross-arousal-dim.md").read_text()
    assert "Protocol cross also defines task(s) valence" in index


def test_a_run_that_predicts_one_rating_is_collapsed_and_flagged(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("egemaps_ridge", "close"))
    add_run(store, "close", 3, stuck=True)
    add_run(store, "egemaps_ridge", 3)
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal-dim.md").read_text()
    assert "| c-one | close | " in page and " † ▲ |" in page
    assert ("† Seeds with a collapsed run, one that gave every test utterance of the corpus one rating "
            "(docs/leaderboards.md). Such a run's CCC on its test speakers is chance (0)") in page
    assert "close on c-one: 1 of 4 seeds, 1 collapsed of their 4 runs" in page
    assert "near-collapsed" not in page and "3 of 4" in page  # the collapsed seed leaves the CCC test
    cycles = cycle_rows(load_records(store))
    assert cycles[(cycles["method"] == "close") & (cycles["seed"] == 3)]["ccc"].tolist() == pytest.approx(
        [0.0, 0.0], abs=1e-12)


def test_the_new_speaker_claim_scores_each_speaker_from_its_rating_sums(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("egemaps_ridge", "close"))
    records = load_records(store)
    page = build_page("cross", "arousal-dim", records, "egemaps_ridge", CCC)
    page.claim, page.speakers = "speakers", speaker_rows(store, page.cycles, CCC)
    # By hand: each speaker's CCC from its utterances' rating sums; s0's ratings are one value, so it is left out.
    by_speaker = {}
    for record in records:
        predictions = store.table(record.run_id, "predictions")
        rows = predictions[predictions["corpus"] == "c-one"]
        by_speaker[(record.method, record.seed)] = [
            metrics.concordance(metrics.rating_sums(g["y"].to_numpy(), g["predicted"].to_numpy()))
            for speaker, g in rows.groupby("speaker", sort=True) if speaker != "s0"]
    assert set(page.speakers["speaker"]) == {"s1", "s2", "s3", "s4"}
    differences = np.array([np.subtract(by_speaker[("close", s)], by_speaker[("egemaps_ridge", s)])
                            for s in range(3)])
    expected = stats.speaker_test(differences)
    row = compare(page, "egemaps_ridge").set_index(["column", "method"]).loc[("c-one", "close")]
    assert (row["p"], row["difference"], row["speakers"]) == pytest.approx((expected.p, expected.difference, 4))
    write_leaderboards(tmp_path / "results", tmp_path / "out", claim="speakers")
    text = (tmp_path / "out" / "cross-arousal-dim.md").read_text()
    assert "| 3 of 3 x 4 |" in text and "A speaker's CCC is over that speaker's utterances alone" in text


def test_the_transfer_matrix_words_and_numbers_follow_the_metric() -> None:
    text = transfer_matrix.legend([CCC, METRICS["ua"]])
    assert "Cells: CCC or UA (%) of the cell's page" in text
    assert "clipped to [-1, 1] for CCC, [0, 100] for UA" in text
    assert "self - cross as a plain difference of the two for CCC, in points for UA" in text
    summary = stats.summarize([0.41, 0.43, 0.45], bounds=CCC.bounds)
    assert transfer_matrix.summary_text(summary, False, CCC) == "0.430 [0.380, 0.480] (3)"
    assert transfer_matrix.summary_fields(summary, True, CCC)[:3] == ["0.430000", "0.020000",
                                                                     f"{summary.ci_low:.6f}"]


# --- the simulation behind the tests on CCC --------------------------------------------------------------------

RATING_REGIMES = [r for r in calibration.PAIRED_REGIMES if r.score == "ccc"]


def test_the_simulated_rating_sums_pool_like_the_harness_and_move_exactly() -> None:
    rng = np.random.default_rng(0)
    truth, predicted = rng.standard_normal((3, 50)), rng.standard_normal((3, 50))
    sums = metrics.rating_sums(truth, predicted)
    for k in range(3):
        assert sums[k] == pytest.approx(metrics.rating_sums(truth[k], predicted[k]))
        assert metrics.concordances(sums)[k] == pytest.approx(metrics.concordance(sums[k]), abs=1e-12)
    share = np.array([0.0, 0.3, 1.0])
    assert calibration.moved(sums, share) == pytest.approx(
        metrics.rating_sums(truth, predicted + share[:, None] * (truth - predicted)))
    assert metrics.concordances(calibration.moved(sums, np.ones(3))) == pytest.approx(np.ones(3))


def test_reprofiled_difficulties_keep_the_sums_the_ccc_depends_on() -> None:
    rng = np.random.default_rng(1)
    truth, difficulty = rng.standard_normal((4, 30)), rng.standard_normal((4, 30))
    other = calibration.reprofiled(difficulty, truth, rng)
    for kept in (lambda d: d.sum(-1), lambda d: (d * d).sum(-1), lambda d: (truth * d).sum(-1)):
        assert kept(other) == pytest.approx(kept(difficulty))
    assert np.abs(other - difficulty).max() > 0.5  # another profile: other utterances are hard


@pytest.mark.parametrize("regime", [RATING_REGIMES[1], RATING_REGIMES[10], RATING_REGIMES[-1]],
                         ids=lambda r: r.name)
def test_the_rating_nulls_hold_and_the_gain_is_about_the_one_asked_for(regime) -> None:
    # Over many comparisons the mean CCC difference is 0 for both nulls, within four standard errors; BETTER's is
    # the gain asked for in the CCC of its expected sums, which the mean CCC approaches on these test sets.
    sums, lost = calibration.simulate_rating_sums(regime, 300, np.random.default_rng(2), effect=0.1)
    assert sums.shape == (300, 4, regime.seeds, len(regime.folds), 6) and not lost.any()
    assert (sums[..., 0] == np.asarray(regime.folds)).all()  # every test utterance scored once per run
    ccc = metrics.concordances(sums.sum(axis=-2))
    for other in (TWIN, REPROFILED):
        gain = (ccc[:, other] - ccc[:, REFERENCE]).mean(axis=1)
        assert abs(gain.mean()) < 4 * gain.std(ddof=1) / np.sqrt(len(gain)), other
    assert (ccc[:, BETTER] - ccc[:, REFERENCE]).mean() == pytest.approx(0.1, abs=0.01)


def test_collapsed_rating_runs_predict_their_level_and_spare_the_reference() -> None:
    regime = next(r for r in RATING_REGIMES if r.collapse == 0.2 and r.seeds == 10)
    sums, lost = calibration.simulate_rating_sums(regime, 200, np.random.default_rng(3))
    constant = sums[..., 4] * sums[..., 0] - sums[..., 2] ** 2 <= 1e-9 * sums[..., 0] ** 2  # no spread of y
    assert (constant == lost).all() and not lost[:, REFERENCE].any()
    assert abs(lost[:, TWIN].mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / lost[:, TWIN].size)
    assert metrics.concordances(sums)[lost] == pytest.approx(np.zeros(int(lost.sum())))


def test_per_speaker_ccc_differences_have_no_population_gain_under_the_null() -> None:
    regime = next(r for r in calibration.SPEAKER_REGIMES if r.score == "ccc" and r.heavy and r.speakers == 12)
    for effect in (0.0, 0.1):
        means = calibration.simulate_speaker_ccc(regime, 1500, np.random.default_rng(4), effect).mean(axis=(1, 2))
        assert abs(means.mean() - effect) < max(4 * means.std(ddof=1) / np.sqrt(len(means)), 0.01 * (effect > 0))
