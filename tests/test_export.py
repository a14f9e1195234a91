"""`serbench splits export` writes the folds a sweep's runs use: the same utterances in the same parts, the test
part's unlabelled utterances under adaptation, and the corpora's fingerprints as the runs' identities have them."""

from __future__ import annotations

import json

import pandas as pd

from serbench.cli import main
from serbench.runs.launch import run
from serbench.runs.store import ResultsStore


def test_exported_folds_are_those_the_runs_train_and_test_on(tiny_releases, tmp_path):
    protocol = tmp_path / "adapted.toml"  # the four stand-ins in speaker-grouped folds, adapting to the test audio
    protocol.write_text('description = "d"\nsplit = "speaker-folds"\ncorpora = ["savee", "emodb"]\nfolds = 3\n'
                        'adaptation = "unlabelled-test"\ntasks = ["emotion4"]\n')
    out = tmp_path / "splits"
    assert main(["splits", "export", "--protocol", str(protocol), "--data", str(tiny_releases), "--frontend",
                 "egemaps", "--out", str(out)]) == 0
    manifest = json.loads((out / "emotion4" / "manifest.json").read_text())
    assert [fold["name"] for fold in manifest["folds"]] == ["fold-1", "fold-2", "fold-3"]
    assert len(manifest["classes"]) == 4

    frame = run("egemaps_lr", str(protocol), seeds=1, data=str(tiny_releases), results=tmp_path / "results",
                frontend="egemaps", device="cpu")
    store = ResultsStore(tmp_path / "results")
    assert frame["run_id"].nunique() == 3
    for run_id in frame["run_id"].unique():
        record = store.record(run_id)
        assert record.identity["data"] == {c: manifest["data"][c] for c in record.identity["data"]}
        exported = pd.read_csv(out / "emotion4" / f"{record.fold}.csv")
        parts = store.table(run_id, "split").set_index(["corpus", "utterance_id"])["part"]  # every utterance's part
        assert (parts.loc[list(zip(exported["corpus"], exported["utterance_id"], strict=True))].to_numpy() ==
                exported["part"].replace("unlabelled-test", "test").to_numpy()).all()
        labelled = exported[exported["part"] != "unlabelled-test"]
        for (corpus, part), rows in labelled.groupby(["corpus", "part"]):  # the labelled utterances the run used
            assert record.split[corpus][f"{part}_utterances"] == len(rows)
            assert record.split[corpus][f"{part}_speakers"] == sorted(rows["speaker"].unique())
        assert len(labelled) == sum(count for summary in record.split.values() for key, count in summary.items()
                                    if key.endswith("_utterances"))
        tested = store.table(run_id, "predictions")
        test = labelled[labelled["part"] == "test"].set_index(["corpus", "utterance_id"])
        truth = tested.set_index(["corpus", "utterance_id"])["y"].map(lambda y: manifest["classes"][y])
        assert truth.sort_index().equals(test["label"].loc[truth.sort_index().index])
        unlabelled = exported[exported["part"] == "unlabelled-test"]
        assert unlabelled["label"].isna().all() and len(unlabelled)  # emotions outside the four (Emo-DB's boredom)
        assert record.adaptation["utterances"] == len(test) + len(unlabelled)


def test_an_unknown_task_is_refused_before_any_data_is_read(tmp_path, capsys):
    assert main(["splits", "export", "--protocol", "cross", "--task", "nosuch", "--data", str(tmp_path / "none"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
