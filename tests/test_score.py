"""`serbench score`: another toolkit's predictions on exported splits become runs that score, verify and publish
exactly like serbench's own, and every way a file can disagree with the splits is refused before anything is
stored."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from serbench.cli import main
from serbench.errors import SerbenchError
from serbench.reports.pages import write_leaderboards
from serbench.runs.external import score_predictions
from serbench.runs.launch import run
from serbench.runs.store import ResultsStore

PROTOCOL = ('description = "d"\nsplit = "speaker-folds"\ncorpora = ["savee", "emodb"]\nfolds = 3\n'
            'adaptation = "unlabelled-test"\ntasks = ["emotion4"]\nreferences = ["egemaps_lr"]\n')


@pytest.fixture(scope="module")
def sweep(tiny_releases, tmp_path_factory):
    """Exported splits, a store with egemaps_lr's runs on them (2 seeds), and those runs' predictions as another
    toolkit would write them (posteriors, by fold and seed)."""
    root = tmp_path_factory.mktemp("score")
    protocol = root / "adapted.toml"
    protocol.write_text(PROTOCOL)
    assert main(["splits", "export", "--protocol", str(protocol), "--data", str(tiny_releases), "--frontend",
                 "egemaps", "--out", str(root / "splits")]) == 0
    frame = run("egemaps_lr", str(protocol), seeds=2, data=str(tiny_releases), results=root / "results",
                frontend="egemaps", device="cpu")
    store = ResultsStore(root / "results")
    manifest = json.loads((root / "splits" / "emotion4" / "manifest.json").read_text())
    tables = []
    for run_id in frame["run_id"].unique():
        record = store.record(run_id)
        table = store.table(run_id, "predictions")
        table = table.assign(fold=record.fold, seed=record.seed)
        tables.append(table[["corpus", "utterance_id", "fold", "seed",
                             *(f"p_{c}" for c in manifest["classes"])]])
        # a toolkit that predicts every test utterance of the fold's file, the unlabelled ones too
        exported = pd.read_csv(root / "splits" / "emotion4" / f"{record.fold}.csv")
        unlabelled = exported[exported["part"] == "unlabelled-test"][["corpus", "utterance_id"]]
        tables.append(unlabelled.assign(fold=record.fold, seed=record.seed,
                                        **{f"p_{c}": 1 / len(manifest["classes"]) for c in manifest["classes"]}))
    predictions = pd.concat(tables, ignore_index=True)
    return root, predictions, manifest


def stored_copy(sweep, tmp_path):
    """A fresh copy of the sweep's store, for a test that writes into it."""
    root, _, _ = sweep
    shutil.copytree(root / "results", tmp_path / "results")
    return tmp_path / "results"


def score(sweep, tiny_releases, table: pd.DataFrame, tmp_path, name="lr_copy", results=None, suffix=".csv"):
    root, _, _ = sweep
    path = tmp_path / f"predictions{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in table.to_dict(orient="records")))
    return score_predictions(path, name, root / "splits" / "emotion4", data=str(tiny_releases),
                             results=str(results or tmp_path / "empty"))


def test_a_copy_of_a_method_scores_as_the_method_and_is_published_as_external(sweep, tiny_releases, tmp_path):
    _, predictions, _ = sweep
    results = stored_copy(sweep, tmp_path)
    scored = score(sweep, tiny_releases, predictions, tmp_path, results=results)
    assert len(scored) == 6 and not any(r.stored_before for r in scored)  # 3 folds x 2 seeds
    store = ResultsStore(results)
    originals = {(r.fold, r.seed): r for r in store.records() if r.method == "egemaps_lr"}
    for external in scored:
        original = originals[(external.record.fold, external.record.seed)]
        assert external.record.scores == original.scores and external.record.external and not original.external
        assert external.record.split == original.split and external.record.excluded == original.excluded
        assert external.skipped > 0  # the unlabelled test audio of the adapted protocol (Emo-DB's boredom, ...)
        assert store.damage(external.record.run_id) == []  # verify's checks: scores, predictions, coverage of the split
    assert main(["verify", "--results", str(results)]) == 0

    written = write_leaderboards(results, tmp_path / "pages", references=["egemaps_lr"])
    page = next(p for p in written if p.suffix == ".md" and p.name.startswith("adapted"))
    text = page.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| lr\\_copy"))
    reference = next(line for line in text.splitlines() if line.startswith("| egemaps\\_lr"))
    assert "| external |" in row and row.split("|")[3:5] == reference.split("|")[3:5]  # the same UA cells
    assert "External: lr\\_copy is a system trained outside serbench" in text.split("## ")[1]  # the main table's
    assert "| savee | lr\\_copy | +0.0 |" in text.split("## Paired tests")[1]  # against egemaps_lr: no difference

    again = score(sweep, tiny_releases, predictions, tmp_path, results=results)  # the same file: nothing new
    assert all(r.stored_before for r in again)
    changed = predictions.copy()
    changed.loc[0, [c for c in changed if c.startswith("p_")]] = [0.7, 0.1, 0.1, 0.1]
    with pytest.raises(SerbenchError, match="other predictions of lr_copy"):
        score(sweep, tiny_releases, changed, tmp_path, results=results)


def test_class_names_or_json_lines_are_enough(sweep, tiny_releases, tmp_path):
    _, predictions, manifest = sweep
    posteriors = [f"p_{c}" for c in manifest["classes"]]
    decided = predictions.drop(columns=posteriors).assign(
        predicted=predictions[posteriors].to_numpy().argmax(axis=1))
    decided["predicted"] = decided["predicted"].map(lambda k: manifest["classes"][k])
    (tmp_path / "names").mkdir()
    from_names = score(sweep, tiny_releases, decided, tmp_path / "names", suffix=".jsonl")
    from_posteriors = score(sweep, tiny_releases, predictions, tmp_path)
    for a, b in zip(from_names, from_posteriors, strict=True):
        assert {c: s.ua for c, s in a.record.scores.items()} == {c: s.ua for c, s in b.record.scores.items()}
        assert (a.tables["predictions"][posteriors].sum(axis=1) == 1).all()  # the decision as a posterior of 1


def refused(sweep, tiny_releases, tmp_path, table: pd.DataFrame, match: str, **options) -> None:
    with pytest.raises(SerbenchError, match=match) as error:
        score(sweep, tiny_releases, table, tmp_path, **options)
    assert error.value.path is not None  # the file (or store) it is about
    assert not (tmp_path / "empty").exists() or not list((tmp_path / "empty").rglob("record.json"))


def test_every_disagreement_with_the_splits_is_refused(sweep, tiny_releases, tmp_path):
    _, predictions, manifest = sweep
    first_test = predictions.index[0]
    refused(sweep, tiny_releases, tmp_path, predictions.drop(index=first_test), "have no prediction")
    refused(sweep, tiny_releases, tmp_path, pd.concat([predictions, predictions.iloc[[5]]]), "more than once")
    wrong_fold = predictions.copy()
    wrong_fold.loc[first_test, "fold"] = "fold-9"
    refused(sweep, tiny_releases, tmp_path, wrong_fold, "unknown fold 'fold-9' on line 2")
    moved = predictions.copy()  # an utterance tested in fold-1 predicted under fold-2, where it trains
    moved.loc[moved["fold"] == "fold-1", "fold"] = "fold-2"
    refused(sweep, tiny_releases, tmp_path, moved, "training or validation part")
    unsummed = predictions.copy()
    unsummed.loc[3, f"p_{manifest['classes'][0]}"] += 0.2
    refused(sweep, tiny_releases, tmp_path, unsummed, "do not sum to one .* on line 5")
    negative = predictions.copy()
    negative.loc[4, f"p_{manifest['classes'][1]}"] = -0.1
    refused(sweep, tiny_releases, tmp_path, negative, r"not numbers in \[0, 1\] on line 6")
    unknown = predictions.drop(columns=[f"p_{manifest['classes'][0]}"]).assign(predicted="sneezing")
    refused(sweep, tiny_releases, tmp_path, unknown, "posterior columns .* are missing")
    named = predictions.drop(columns=[c for c in predictions if c.startswith("p_")]).assign(predicted="sneezing")
    refused(sweep, tiny_releases, tmp_path, named, "'sneezing' is not one of the task's, on lines 2, 3, 4 and")
    seeds = predictions.assign(seed="one")
    refused(sweep, tiny_releases, tmp_path, seeds, "seed is not an integer")
    refused(sweep, tiny_releases, tmp_path, predictions.drop(columns=["fold"]), "no `fold` column")


def test_predictions_made_on_other_data_or_under_a_method_name_are_refused(sweep, tiny_releases, tmp_path):
    root, predictions, manifest = sweep
    with pytest.raises(SerbenchError, match="serbench has a method of that name"):
        score(sweep, tiny_releases, predictions, tmp_path, name="egemaps_lr")
    splits = tmp_path / "splits"
    shutil.copytree(root / "splits" / "emotion4", splits)
    (splits / "manifest.json").write_text(json.dumps({**manifest, "data": {**manifest["data"], "emodb": "0" * 64}}))
    path = tmp_path / "predictions.csv"
    predictions.to_csv(path, index=False)
    with pytest.raises(SerbenchError, match="emodb's content fingerprint") as error:
        score_predictions(path, "lr_copy", splits, data=str(tiny_releases), results=str(tmp_path / "empty"))
    assert error.value.path == str(splits / "manifest.json")


def test_the_command_prints_the_system_s_scores(sweep, tiny_releases, tmp_path, capsys):
    root, predictions, _ = sweep
    path = tmp_path / "predictions.csv"
    predictions.to_csv(path, index=False)
    assert main(["score", "--predictions", str(path), "--name", "lr_copy", "--splits",
                 str(root / "splits" / "emotion4"), "--data", str(tiny_releases), "--results",
                 str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "6 run(s)" in out and "6 stored" in out and "lr_copy" in out and "emodb" in out
    assert main(["score", "--predictions", str(tmp_path / "none.csv"), "--name", "x", "--splits",
                 str(root / "splits" / "emotion4"), "--data", str(tiny_releases)]) == 2
    assert "none.csv" in capsys.readouterr().err
