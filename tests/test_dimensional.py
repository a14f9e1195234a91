"""The dimensional tasks: ratings on one scale, scored by CCC pooled from additive sums, refused where they cannot be
scored, and carried whole through a sweep, its record and `serbench verify`."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from test_store import record
from toy_features import make_toy

from serbench.cli import main
from serbench.data.corpora.schema import make_table
from serbench.data.labels import DIMENSIONAL_TASKS, RATING_RANGE, apply_task, get_task
from serbench.errors import SerbenchError
from serbench.integrity import write_checksums
from serbench.method import Method
from serbench.metrics import METRICS, concordance, main_metric, rating_scores, rating_sums, statistic_scores
from serbench.reports.tables import aggregate
from serbench.runs.external import score_predictions
from serbench.runs.record import CorpusScores, RunRecord
from serbench.runs.store import ResultsStore
from serbench.training import utterance_posteriors

pytestmark = pytest.mark.usefixtures("method_registry")


def table(corpus: str, arousal: list[float], emotions: list[str] | None = None) -> pd.DataFrame:
    emotions = emotions or ["neutral"] * len(arousal)
    return make_table({"utterance_id": f"u{i}", "path": f"/a/u{i}.wav", "corpus": corpus, "speaker": f"{corpus}:1",
                       "gender": "F", "locale": "en-US", "emotion_code": e, "emotion": e, "arousal": a}
                      for i, (a, e) in enumerate(zip(arousal, emotions, strict=True)))


def test_ratings_are_mapped_from_the_corpus_scale_and_the_unrated_counted():
    task = get_task("arousal-dim")
    assert (task.rating, task.classes) == ("arousal", ())
    labelled = apply_task(table("iemocap", [1, 3, 5, 4.5, np.nan], ["anger", "no_agreement", "frustration",
                                                                   "other", "sadness"]), task, scale=(1.0, 5.0))
    # every rated utterance, whatever its category (no agreement, other, frustration): ratings need none
    assert labelled.table["y"].tolist() == [-1.0, 0.0, 1.0, 0.75] and labelled.table["label"].tolist()[-1] == 4.5
    assert labelled.excluded == {"no arousal rating": 1}
    on_seven = apply_task(table("msp-podcast", [1, 4, 7]), task, scale=(1.0, 7.0)).table["y"]
    assert on_seven.tolist() == [-1.0, 0.0, 1.0] and RATING_RANGE == (-1.0, 1.0)


def test_ratings_outside_their_scale_and_overrides_are_refused():
    with pytest.raises(SerbenchError, match=r"mine: arousal ratings from 1 to 5 lie outside serbench's scale -1 to 1")\
            as raised:
        apply_task(table("mine", [1, 5]), get_task("arousal-dim"))  # a manifest gives them on -1 .. 1
    assert "docs/corpora.md" in raised.value.hint
    with pytest.raises(SerbenchError, match="its scale 1 to 5"):
        apply_task(table("iemocap", [0.5, 3]), get_task("arousal-dim"), scale=(1.0, 5.0))
    with pytest.raises(SerbenchError, match="the valence-dim task takes no label overrides"):
        get_task("valence-dim", {"neutral": "positive"})


def direct_ccc(x: np.ndarray, y: np.ndarray) -> float:
    return 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_ccc_pcc_and_rmse_agree_with_their_definitions_and_pool_exactly_over_folds():
    rng = np.random.default_rng(0)
    for trial in range(50):
        x = rng.uniform(-1, 1, 200)
        y = rng.normal(0.3 * trial / 50, 0.5, 200) + rng.uniform(0, 1) * x
        found = rating_scores(x, y)
        assert found["ccc"] == pytest.approx(direct_ccc(x, y), abs=1e-12)
        assert found["pcc"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
        assert found["rmse"] == pytest.approx(np.sqrt(np.mean((x - y) ** 2)), abs=1e-12)
        folds = np.array_split(rng.permutation(200), rng.integers(2, 6))  # uneven folds, pooled by their sums
        pooled = METRICS["ccc"].pooled([rating_sums(x[f], y[f]) for f in folds])
        assert pooled == pytest.approx(direct_ccc(x, y), abs=1e-12)
        assert pooled != pytest.approx(np.mean([direct_ccc(x[f], y[f]) for f in folds]), abs=1e-6)
    x = rng.uniform(-1, 1, 50)
    assert concordance(rating_sums(x, x)) == pytest.approx(1.0)
    assert concordance(rating_sums(x, np.full(50, 0.2))) == pytest.approx(0.0, abs=1e-12)  # a constant prediction
    assert concordance(rating_sums(x, x + 0.5)) < 1  # correlated perfectly, but biased: CCC, unlike r, sees it
    # a constant prediction follows nothing: r 0 like CCC (a speaker's r of NaN would stop the speaker-level test)
    assert rating_scores(x, np.full(50, 0.2))["pcc"] == 0.0 and np.isnan(rating_scores(np.ones(3), x[:3])["pcc"])
    assert statistic_scores(rating_sums(x, x), "ratings")["n"] == 50
    assert main_metric("ratings").name == "ccc" and main_metric("classes", "macro_f1").name == "macro_f1"
    assert main_metric("ratings", "macro_f1").name == "ccc"  # a protocol's score of classes does not apply


def test_a_record_of_ratings_round_trips_and_older_records_read_unchanged(tmp_path):
    x, y = np.array([-0.5, 0.0, 0.5]), np.array([-0.25, 0.1, 0.4])
    ratings = record(task="arousal-dim", classes=[],
                     scores={"iemocap": CorpusScores(**rating_scores(x, y), collapsed=False)})
    path = tmp_path / "record.json"
    path.write_bytes(ratings.to_json())
    assert RunRecord.read(path) == ratings
    stored = json.loads(path.read_text())["scores"]["iemocap"]
    assert stored["ua"] is None and stored["confusion"] == [] and len(stored["rating_sums"]) == 6  # JSON, no NaN
    older = {"ua": 0.5, "wa": 0.5, "macro_f1": 0.5, "n": 2, "confusion": [[1, 0], [1, 0]], "collapsed": True}
    path.write_text(json.dumps({**json.loads(record().to_json()), "scores": {"emodb": older}}))
    assert RunRecord.read(path).scores["emodb"] == CorpusScores(**older)


QUICK = ["--method", "egemaps_ridge", "--frontend", "egemaps", "--device", "cpu", "--seed", "0"]


def test_a_classifier_on_a_dimensional_task_and_an_unrated_test_set_are_refused(tiny_releases, tmp_path, capsys):
    data = ["--data", str(tiny_releases), "--results", str(tmp_path)]
    assert main(["run", "--method", "egemaps_lr", "--frontend", "egemaps", "--protocol", "multi", "--task",
                 "valence-dim", *data]) == 2
    output = capsys.readouterr().err
    assert "method 'egemaps_lr' predicts classes, and the task 'valence-dim' asks for ratings" in output
    assert re.search(r"methods that predict ratings: .*egemaps_ridge, egemaps_svr", output)
    assert "egemaps_lr" not in output.split("what to do")[1]
    assert main(["run", *QUICK, "--protocol", "transfer[train=iemocap,test=emodb]", "--task", "arousal-dim",
                 *data]) == 2
    assert "none of its test corpora (emodb) has arousal ratings" in capsys.readouterr().err


@pytest.fixture(scope="module")
def rated_store(tiny_releases, tmp_path_factory) -> ResultsStore:
    """egemaps_ridge on `cross` (train IEMOCAP; of the test corpora only MSP-IMPROV is rated) for arousal-dim."""
    results = tmp_path_factory.mktemp("rated")
    assert main(["run", *QUICK, "--protocol", "cross", "--task", "arousal-dim", "--data", str(tiny_releases),
                 "--results", str(results)]) == 0
    return ResultsStore(results)


def test_a_sweep_scores_the_rated_test_corpora_by_ccc_and_counts_the_others(rated_store):
    (run,) = [rated_store.record(run_id) for run_id in rated_store.done_ids()]
    assert run.classes == [] and set(run.scores) == {"msp-improv"} and run.task in DIMENSIONAL_TASKS
    scores = run.scores["msp-improv"]
    predictions = rated_store.table(run.run_id, "predictions")
    assert scores.ccc == pytest.approx(direct_ccc(predictions["y"].to_numpy(), predictions["predicted"].to_numpy()))
    assert scores.n == len(predictions) == scores.rating_sums[0] and scores.ua is None
    assert predictions["y"].min() >= -1 and predictions["y"].max() <= 1  # MSP-IMPROV's 1-5, on -1 .. 1
    assert set(run.excluded["emodb"]) == {"no arousal rating"} and set(run.excluded["savee"]) == {"no arousal rating"}
    assert run.selection["chosen_by"].startswith("speaker-grouped") and "selection_ccc" in run.selection


def test_verify_recomputes_a_rating_run_from_its_sums_and_predictions(rated_store, tmp_path, capsys):
    (run_id,) = rated_store.done_ids()
    assert main(["verify", "--results", str(rated_store.root)]) == 0
    copy = ResultsStore(shutil.copytree(rated_store.root, tmp_path / "results"))
    path = copy.runs / run_id / "record.json"
    data = json.loads(path.read_text())
    data["scores"]["msp-improv"]["ccc"] = 0.999
    path.write_text(json.dumps(data))
    write_checksums(path.parent)
    capsys.readouterr()
    assert main(["verify", "--results", str(copy.root)]) == 1
    assert "the scores of msp-improv disagree with its rating sums: ccc 0.999, not" in capsys.readouterr().out


def test_data_summary_gives_a_dimensional_task_s_ratings_on_the_corpus_scale(tiny_releases, capsys):
    root = str(tiny_releases / "IEMOCAP_full_release")
    assert main(["data", "summary", "--corpus", "iemocap", "--root", root, "--task", "valence-dim", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ratings"]["scale"] == [1.0, 5.0] and summary["ratings"]["n"] == summary["utterances"] > 0
    assert 1 <= summary["ratings"]["min"] < summary["ratings"]["mean"] < summary["ratings"]["max"] <= 5
    assert "by_label" not in summary
    assert main(["data", "summary", "--corpus", "iemocap", "--root", root, "--task", "valence-dim"]) == 0
    assert "valence-dim ratings on iemocap's scale 1 to 5: mean " in capsys.readouterr().out


def test_exported_ratings_and_another_toolkit_s_predictions_score_as_serbench_s_own(rated_store, tiny_releases,
                                                                                   tmp_path):
    assert main(["splits", "export", "--protocol", "cross", "--task", "arousal-dim", "--data", str(tiny_releases),
                 "--frontend", "egemaps", "--out", str(tmp_path / "splits")]) == 0
    folder = tmp_path / "splits" / "arousal-dim"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["classes"] == [] and manifest["rating"] == "arousal" and manifest["rating_range"] == [-1, 1]
    (run,) = [rated_store.record(run_id) for run_id in rated_store.done_ids()]
    predictions = rated_store.table(run.run_id, "predictions")
    exported = pd.read_csv(folder / "all.csv").set_index(["corpus", "utterance_id"])
    tested = exported.loc[list(zip(predictions["corpus"], predictions["utterance_id"], strict=True))]
    assert (tested["part"] == "test").all() and np.allclose(tested["label"], predictions["y"])  # on -1 .. 1
    path = tmp_path / "ridge.csv"
    predictions.assign(seed=0)[["corpus", "utterance_id", "seed", "predicted"]].to_csv(path, index=False)
    data = ["--splits", str(folder), "--data", str(tiny_releases), "--results", str(tmp_path / "results")]
    assert main(["score", "--predictions", str(path), "--name", "ridge_copy", *data]) == 0
    (copy,) = ResultsStore(tmp_path / "results").records()
    ours, theirs = run.scores["msp-improv"], copy.scores["msp-improv"]  # the same, up to the CSV's digits
    assert theirs.n == ours.n and theirs.ccc == pytest.approx(ours.ccc, abs=1e-6) and copy.external
    assert np.allclose(theirs.rating_sums, ours.rating_sums, atol=1e-6) and copy.classes == []
    for change, message in ((lambda t: t.assign(predicted=t["predicted"] * 2 + 3), "outside serbench's scale"),
                            (lambda t: t.assign(p_high=0.5), "posterior columns"),
                            (lambda t: t.assign(predicted="high"), "not finite numbers on lines 2, 3, 4")):
        change(predictions.assign(seed=0)[["corpus", "utterance_id", "seed", "predicted"]]).to_csv(path, index=False)
        with pytest.raises(SerbenchError, match=message):
            score_predictions(path, "other", folder, data=str(tiny_releases), results=str(tmp_path / "other"))


class NanRatings(Method):
    """Predicts NaN ratings: a breach of the rating contract."""

    targets = ("ratings",)
    hparams: ClassVar[dict] = {}

    def fit_all(self, train, validation):
        return {}

    def predict(self, batch):
        return torch.full((len(batch.inputs), 1), float("nan"))


def test_a_method_predicting_nan_ratings_breaks_its_contract():
    task, data = make_toy(speakers=2, takes=1)
    task = dataclasses.replace(task, classes=(), rating="arousal")
    data = dataclasses.replace(data, emotion=np.zeros(len(data), dtype=np.float32))
    with pytest.raises(SerbenchError, match=r"predict returned .* NaN or infinite values in \d+ of \d+ rows"):
        utterance_posteriors(NanRatings(task, {}), data, device="cpu")


def test_the_aggregated_table_takes_a_dimensional_task_s_ccc_by_default(rated_store):
    records = [rated_store.record(run_id) for run_id in rated_store.done_ids()]
    (row,) = aggregate(records).to_dict(orient="records")
    assert row["corpus"] == "msp-improv" and row["ccc_mean"] == records[0].scores["msp-improv"].ccc
    assert "pcc_mean" in row and "ua_mean" not in row
    assert aggregate(records, METRICS["ua"]).empty  # a score of classes: these runs have none
