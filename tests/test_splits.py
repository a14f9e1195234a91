"""Each corpus's own categories, the releases' official splits and a validation part of training speakers: parsed
with clear errors, deterministic, never touching the test part, and run end to end with model selection on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from corpus_trees import make_emodb, make_msp_podcast
from test_protocols import corpora_table

from serbench.cli import main
from serbench.data.corpora import read_corpus
from serbench.data.labels import apply_task, get_task
from serbench.errors import SerbenchError
from serbench.metrics import unweighted_accuracy
from serbench.protocols.protocol import check_disjoint, load_protocol, split_utterances
from serbench.runs.store import ResultsStore


def protocol_file(tmp_path: Path, text: str, name: str = "mine"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return load_protocol(path)


# ---------------------------------------------------------------------------------------------- categorical

def test_categorical_is_the_corpus_own_codes(tmp_path):
    table = read_corpus("emodb", make_emodb(tmp_path / "emodb").root).table
    task = get_task("categorical", table=table)
    assert task.classes == tuple(sorted("WLEAFTN")) and task.column == "emotion_code"
    labelled = apply_task(table, task).table
    assert (labelled["label"] == labelled["emotion_code"]).all() and labelled["y"].max() == 6
    with pytest.raises(SerbenchError, match="defined within one corpus"):
        get_task("categorical", table=pd.concat([table, table.assign(corpus="savee")]))


def test_categorical_keeps_the_paper_subset_and_drops_disagreement(tmp_path):
    table = corpora_table()
    table = table[table["corpus"] == "iemocap"].copy()
    table["emotion"] = ["anger", "frustration", "no_agreement"] * (len(table) // 3)
    table["emotion_code"] = table["emotion"].map({"anger": "ang", "frustration": "fru", "no_agreement": "xxx"})
    protocol = protocol_file(tmp_path, 'split = "speaker-folds"\ncorpora = ["iemocap"]\ntasks = ["categorical"]\n')
    assert protocol.task("categorical", table).classes == ("ang",)  # frustration is outside the paper's subset
    assert get_task("categorical", table=table).classes == ("ang", "fru")


@pytest.mark.parametrize(("text", "message"), [
    ('split = "speaker-folds"\ncorpora = ["emodb", "savee"]\ntasks = ["categorical"]\n', "within one corpus"),
    ('split = "corpus"\ntrain = ["emodb"]\ntest = ["savee"]\ntasks = ["categorical"]\n', "within one corpus"),
    ('split = "speaker-folds"\ncorpora = ["emodb"]\nvalidation = 0.7\n', "'validation'"),
    ('split = "speaker-folds"\ncorpora = ["emodb"]\nvalidation = true\n', "'validation'"),
    ('split = "speaker-folds"\ncorpora = ["emodb"]\n[splits]\ntrain = ["Train"]\ntest = ["Test1"]\n', "'splits'"),
    ('split = "official"\ncorpora = ["msp-podcast"]\n[splits]\ntrain = ["Train"]\n', "'splits'"),
    ('split = "official"\ncorpora = ["msp-podcast"]\n[splits]\ntrain = ["Train"]\ntest = ["Train"]\n', "two parts"),
    ('split = "official"\ncorpora = ["msp-podcast"]\nvalidation = 0.2\n[splits]\ntrain = ["Train"]\n'
     'test = ["Test1"]\n', "'validation'"),
])
def test_bad_split_settings_name_the_key(tmp_path, text, message):
    with pytest.raises(SerbenchError, match=message):
        protocol_file(tmp_path, text)


def test_a_multi_corpus_sweep_refuses_the_categorical_task_before_loading(tmp_path, capsys):
    status = main(["run", "--method", "baseline_s", "--protocol", "multi", "--task", "categorical", "--data",
                   str(tmp_path / "nowhere"), "--results", str(tmp_path / "r")])
    output = " ".join(capsys.readouterr().err.split())
    assert status == 2 and "the categorical task is defined within one corpus" in output


# ------------------------------------------------------------------------------------------ official splits

def test_official_split_follows_the_release_partitions(tmp_path):
    table = read_corpus("msp-podcast", make_msp_podcast(tmp_path / "MSP-Podcast").root).table
    protocol = protocol_file(tmp_path, 'split = "official"\ncorpora = ["msp-podcast"]\n[splits]\ntrain = ["Train"]\n'
                                       'test = ["Test1"]\nvalidation = ["Test2"]\n')
    (fold,) = protocol.make_folds(table)
    split = split_utterances(table, protocol, fold)
    expected = table.loc[table["split"].isin(["Train", "Test1", "Test2"]), "split"].map(
        {"Train": "train", "Test1": "test", "Test2": "validation"})
    assert split["part"].to_dict() == expected.to_dict()  # Development and Test3 are not used
    wrong = protocol_file(tmp_path, 'split = "official"\ncorpora = ["msp-podcast"]\n[splits]\ntrain = ["Train"]\n'
                                    'test = ["Test9"]\n', "wrong")
    with pytest.raises(SerbenchError, match="no utterance in the test partitions Test9") as error:
        split_utterances(table, wrong, fold)
    assert "Development, Test1, Test2, Test3, Train" in str(error.value)
    # the release's Development set shares a speaker with Train in this tree: the guard refuses it
    shared = protocol_file(tmp_path, 'split = "official"\ncorpora = ["msp-podcast"]\n[splits]\ntrain = ["Train"]\n'
                                     'test = ["Test1"]\nvalidation = ["Development"]\n', "shared")
    with pytest.raises(SerbenchError, match="in both the training and the validation part"):
        split_utterances(table, shared, fold)


# ------------------------------------------------------------------------------------------ validation part

def test_validation_part_is_training_speakers_only_and_the_same_for_every_fold_seed(tmp_path):
    table = corpora_table()
    protocol = protocol_file(tmp_path, 'split = "speaker-folds"\ncorpora = ["iemocap", "savee", "emodb"]\n'
                                       'validation = 0.25\n')
    for fold in protocol.make_folds(table):
        split = split_utterances(table, protocol, fold)
        assert split_utterances(table, protocol, fold).equals(split)  # deterministic
        validation = split[split["part"] == "validation"]
        assert set(validation["corpus"]) == {"iemocap", "savee", "emodb"}  # every training corpus gives some
        assert set(validation["speaker"]).isdisjoint(split.loc[split["part"] != "validation", "speaker"])
        iemocap = validation[validation["corpus"] == "iemocap"]
        assert iemocap.groupby("session")["gender"].nunique().eq(2).all()  # whole sessions, as IEMOCAP is split
        savee = split[(split["corpus"] == "savee") & (split["part"] != "test")]
        assert 0 < savee.loc[savee["part"] == "validation", "speaker"].nunique() < savee["speaker"].nunique()


def test_the_guard_checks_validation_against_test():
    table = corpora_table().head(4).assign(part=["train", "validation", "test", "test"], speaker=list("abbd"))
    with pytest.raises(SerbenchError, match="in both the validation and the test part"):
        check_disjoint(table)


def test_best_validation_selection_on_a_validation_part_of_one_corpus(tiny_releases, tmp_path, capsys):
    protocol = tmp_path / "emodb-within.toml"
    protocol.write_text('description = "Emo-DB, its own seven categories"\nsplit = "speaker-folds"\n'
                        'corpora = ["emodb"]\nfolds = 2\ntasks = ["categorical"]\nvalidation = 0.3\n'
                        'selection = "best-validation"\npatience = 1\n')
    common = ["--protocol", str(protocol), "--data", str(tiny_releases), "--results", str(tmp_path / "r"),
              "--seeds", "1", "--device", "cpu"]
    assert main(["run", "--method", "baseline_s", "--preset", "small", "--epochs", "3", *common]) == 0
    assert main(["run", "--method", "egemaps_svm", "--frontend", "egemaps", *common]) == 0, capsys.readouterr()
    records = ResultsStore(tmp_path / "r").records()
    assert sorted(r.method for r in records) == ["baseline_s"] * 2 + ["egemaps_svm"] * 2
    for record in records:
        assert record.classes == sorted("WLEAFTN")
        split = record.split["emodb"]
        assert split["validation_speakers"] and set(split["validation_speakers"]).isdisjoint(
            split["train_speakers"] + split["test_speakers"])
        if record.method == "egemaps_svm":  # its C and gamma are chosen on the validation speakers
            assert record.curves == [] and record.selection["chosen_by"] == "validation part"
            continue
        assert 1 <= len(record.curves) <= 3 and all(0 <= epoch["validation_ua"] <= 1 for epoch in record.curves)
        curve = [epoch["validation_ua"] for epoch in record.curves]
        assert record.selection == {"policy": "best-validation", "epoch": int(np.argmax(curve)) + 1,
                                    "validation_ua": max(curve)}


def test_leave_one_corpus_out_selection_keeps_the_epoch_best_on_held_out_training_corpora(tiny_releases, tmp_path,
                                                                                         capsys):
    """Each training corpus is held out of a model trained on the other; the run keeps the epoch whose mean UA on
    them is best, and its weights are those of that epoch (baseline_s has no schedule: the same as training that
    many epochs)."""
    text = 'split = "corpus"\ntrain = ["emodb", "savee"]\ntest = ["iemocap"]\ntasks = ["arousal"]\n'
    (tmp_path / "loco.toml").write_text(text + 'selection = "leave-one-corpus-out"\n')
    (tmp_path / "plain.toml").write_text(text)
    common = ["--data", str(tiny_releases), "--seeds", "1", "--device", "cpu"]
    assert main(["run", "--method", "baseline_s", "--preset", "small", "--epochs", "3", "--protocol",
                 str(tmp_path / "loco.toml"), "--results", str(tmp_path / "loco"), *common]) == 0
    assert main(["run", "--method", "egemaps_svm", "--frontend", "egemaps", "--protocol", str(tmp_path / "loco.toml"),
                 "--results", str(tmp_path / "loco"), *common]) == 0, capsys.readouterr()
    records = {r.method: r for r in ResultsStore(tmp_path / "loco").records()}
    chosen = records["baseline_s"].selection
    curves = chosen["held_out"]
    assert set(curves) == {"emodb", "savee"} and all(len(curve) == 3 for curve in curves.values())
    mean = np.mean(list(curves.values()), axis=0)
    assert chosen["policy"] == "leave-one-corpus-out" and chosen["epoch"] == int(np.argmax(mean)) + 1
    assert chosen["validation_ua"] == pytest.approx(mean.max())
    assert len(records["baseline_s"].curves) == 3  # the kept run trains its whole schedule
    assert records["egemaps_svm"].selection["policy"] == "leave-one-corpus-out"  # chose by its own rule
    assert "epoch" not in records["egemaps_svm"].selection
    assert main(["run", "--method", "baseline_s", "--preset", "small", "--epochs", str(chosen["epoch"]),
                 "--protocol", str(tmp_path / "plain.toml"), "--results", str(tmp_path / "plain"), *common]) == 0
    plain = ResultsStore(tmp_path / "plain").records()[0]
    assert plain.scores == records["baseline_s"].scores
    assert main(["leaderboard", "--results", str(tmp_path / "loco"), "--out", str(tmp_path / "boards"),
                 "--reference", "egemaps_svm"]) == 0
    page = (tmp_path / "boards" / "loco-arousal.md").read_text()
    assert "leave-one-training-corpus-out validation" in page


def test_a_test_oracle_records_the_best_epoch_and_changes_nothing_else(tiny_releases, tmp_path, capsys):
    """Under `oracle = true` each run also records, per test corpus, its best epoch on the test part: never the
    model it keeps (its scores equal those of the same run without the oracle), shown on the page as a gap."""
    text = ('split = "corpus"\ntrain = ["emodb"]\ntest = ["savee", "iemocap"]\ntasks = ["arousal"]\n'
            'normalisation = "speaker"\n')
    for name, extra in (("plain", ""), ("oracle", "oracle = true\n")):
        (tmp_path / f"{name}.toml").write_text(text + extra)
        common = ["--protocol", str(tmp_path / f"{name}.toml"), "--data", str(tiny_releases), "--results",
                  str(tmp_path / name), "--seeds", "1", "--device", "cpu"]
        assert main(["run", "--method", "baseline_s", "--preset", "small", "--epochs", "3", *common]) == 0
        assert main(["run", "--method", "egemaps_svm", "--frontend", "egemaps", *common]) == 0, capsys.readouterr()
    plain, oracle = ({(r.method, r.seed): r for r in ResultsStore(tmp_path / name).records()}
                     for name in ("plain", "oracle"))
    for key, record in oracle.items():
        assert record.scores == plain[key].scores  # the kept model is the same
        if key[0] == "egemaps_svm":  # fitted in one call: no epochs to choose from
            assert "oracle" not in record.selection
            continue
        best = record.selection["oracle"]
        assert set(best) == {"savee", "iemocap"}
        for corpus, chosen in best.items():
            assert 1 <= chosen["epoch"] <= 3 and chosen["ua"] >= record.scores[corpus].ua  # the last epoch is one
            assert chosen["ua"] == pytest.approx(unweighted_accuracy(np.asarray(chosen["confusion"])))
    assert main(["leaderboard", "--results", str(tmp_path / "oracle"), "--out", str(tmp_path / "boards")]) == 0
    page = (tmp_path / "boards" / "oracle-arousal.md").read_text()
    section = page.split("## Gap to the test-set oracle (an upper bound, not a result)")[1].split("## ")[0]
    assert "| savee | baseline\\_s |" in section and "egemaps" not in section.split("UA: as the")[0]
    assert "the best epoch on the test part is recorded too, as an upper bound only (oracle)" in page


def test_the_public_benchmark_runs_on_its_stand_ins_and_yields_a_leaderboard(tmp_path, capsys):
    results, out = str(tmp_path / "r"), tmp_path / "boards"
    status = main(["run", "--method", "baseline_s", "--protocol", "public-loco", "--data", "synthetic", "--results",
                   results, "--task", "arousal", "--seeds", "1", "--preset", "small", "--epochs", "1", "--device",
                   "cpu"])
    output = capsys.readouterr().out
    assert status == 0, output
    assert "5 runs, 0 already in" in output
    assert main(["leaderboard", "--results", results, "--out", str(out)]) == 0
    page = (out / "public-loco-arousal.md").read_text()
    header = next(line for line in page.splitlines() if line.startswith("| method"))
    assert [c.strip() for c in header.split("|")[3:8]] == ["emodb", "ravdess", "crema-d", "tess", "emovo"]
    assert "SYNTHETIC" in page
