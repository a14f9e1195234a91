"""The results store: atomic runs, claims between workers, stale claims of killed workers."""

import errno
import json
import multiprocessing
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from serbench.errors import SerbenchError
from serbench.integrity import write_checksums
from serbench.metrics import scores
from serbench.runs.record import CorpusScores, RunRecord
from serbench.runs.scores import cycle_size
from serbench.runs.store import ResultsStore, variant_names


def record(run_id: str = "abc", **changes) -> RunRecord:
    """A minimal valid run record."""
    fields = dict(run_id=run_id, identity={}, method="m", protocol="cross", fold="", task="arousal", seed=0,
                  frontend="spectrogram", classes=["low", "high"], scores={}, curves=[],
                  selection={"policy": "last"}, synthetic=True, split={},
                  excluded={}, adaptation={}, normalisation={}, probes=None, provenance={})
    return RunRecord(**{**fields, **changes})


def scored(run_id: str = "abc", predicted=(0, 1, 1, 1), **changes) -> tuple[RunRecord, dict[str, pd.DataFrame]]:
    """A run whose record agrees with its tables: scores from the predictions, which cover the split's test part
    (u2 .. u5 of emodb; u0 and u1 train)."""
    y, predicted = np.array([0, 1, 0, 1]), np.array(predicted)
    high = np.where(predicted == 1, 0.75, 0.25)
    predictions = pd.DataFrame({"utterance_id": ["u2", "u3", "u4", "u5"], "corpus": "emodb", "speaker": "emodb:02",
                                "y": y, "predicted": predicted, "p_low": 1 - high, "p_high": high})
    split = pd.DataFrame({"utterance_id": [f"u{i}" for i in range(6)], "corpus": "emodb",
                          "speaker": ["emodb:01"] * 2 + ["emodb:02"] * 4, "part": ["train"] * 2 + ["test"] * 4})
    corpus = CorpusScores(**scores(y, predicted, 2), collapsed=False)
    return record(run_id, scores={"emodb": corpus}, **changes), {"predictions": predictions, "split": split}


def test_a_run_is_stored_whole_and_read_back(tmp_path):
    store = ResultsStore(tmp_path)
    assert not store.is_done("abc")
    run, tables = scored(seed=3)
    assert store.write_run("abc", run, tables)
    assert store.is_done("abc") and store.record("abc") == run
    assert store.table("abc", "predictions").equals(tables["predictions"])
    assert store.records() == [run]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["abc"]  # no temporary folder left


def test_the_first_of_two_writers_wins(tmp_path):
    store = ResultsStore(tmp_path)
    assert store.write_run("abc", record(seed=1), {})
    assert not store.write_run("abc", record(seed=2), {})
    assert store.record("abc").seed == 1
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["abc"]


def test_failure_is_recorded_and_cleared_by_success(tmp_path):
    store = ResultsStore(tmp_path)
    store.write_failure("abc", {"method": "m"}, "Traceback ...\nValueError: boom")
    assert "boom" in store.failure("abc")["error"]
    store.write_run("abc", record(), {})
    assert store.failure("abc") is None


def test_claims_exclude_a_second_worker_until_released(tmp_path):
    store = ResultsStore(tmp_path)
    with store.claim("abc") as first:
        assert first
        with store.claim("abc") as second:
            assert not second
    with store.claim("abc") as again:
        assert again
    assert not list((tmp_path / "claims").iterdir())


def hold_claim_and_die(root: str) -> None:
    store = ResultsStore(root)
    with store.claim("abc") as got:
        assert got
        os._exit(0)  # dies holding the claim, like a worker killed with SIGKILL


def test_a_dead_workers_claim_and_temporary_folder_are_taken_over(tmp_path):
    process = multiprocessing.get_context("fork").Process(target=hold_claim_and_die, args=(str(tmp_path),))
    process.start()
    process.join()
    claim = tmp_path / "claims" / "abc.claim"
    assert json.loads(claim.read_text())["pid"] == process.pid
    (tmp_path / "runs" / ".tmp-abc-0123").mkdir(parents=True)
    store = ResultsStore(tmp_path)
    store.clean()
    assert not claim.exists() and not (tmp_path / "runs" / ".tmp-abc-0123").exists()
    process = multiprocessing.get_context("fork").Process(target=hold_claim_and_die, args=(str(tmp_path),))
    process.start()
    process.join()
    with store.claim("abc") as got:  # taken over without a clean
        assert got


def test_a_live_workers_temporary_folder_is_kept(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "claims").mkdir()
        (tmp_path / "claims" / "abc.claim").write_text(json.dumps({"host": os.uname().nodename,
                                                                   "pid": sleeper.pid}))
        (tmp_path / "runs" / ".tmp-abc-0123").mkdir(parents=True)
        ResultsStore(tmp_path).clean()
        assert (tmp_path / "runs" / ".tmp-abc-0123").exists()
        with ResultsStore(tmp_path).claim("abc") as got:
            assert not got
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_method_on_several_front_ends_is_named_by_them():
    identity = {"hparams": {"epochs": 30}, "code": "c0", "serbench": "0.1.0"}
    records = [record("a", method="baseline_s", identity=identity),
               record("b", method="baseline_s", identity=identity, frontend="logmel"),
               record("c", method="egemaps_svm", identity={**identity, "hparams": {}}, frontend="egemaps")]
    assert variant_names(records) == {"a": "baseline_s[frontend=spectrogram]", "b": "baseline_s[frontend=logmel]",
                                      "c": "egemaps_svm"}
    assert variant_names(records[:1], always=["epochs"]) == {"a": "baseline_s[epochs=30]"}


def test_a_run_folder_must_be_its_own_and_under_its_own_name(tmp_path):
    store = ResultsStore(tmp_path)
    for seed, run_id in enumerate("abcd"):
        store.write_run(run_id, *scored(run_id, seed=seed))
    shutil.rmtree(store.runs / "b")
    (store.runs / "b").symlink_to(store.runs / "a")  # one run hidden, another counted twice
    os.rename(store.runs / "c", store.runs / "x")
    os.rename(store.runs / "d", store.runs / "c")
    os.rename(store.runs / "x", store.runs / "d")  # c and d exchanged
    records, damaged = store.read_all()
    assert list(records) == ["a"] and list(damaged) == ["b", "c", "d"]
    assert f"run folder damaged: it is a symbolic link to {store.runs / 'a'}" in damaged["b"].message
    assert "its record is that of run d, not c" in damaged["c"].message and str(store.runs / "c") in str(damaged["c"])
    assert store.damage("b") and store.damage("d") and not store.damage("a")  # what `serbench run` refuses
    store.remove("b")  # the link goes, never the folder it points to
    assert not (store.runs / "b").exists() and store.record("a").run_id == "a"
    shutil.copytree(store.runs / "a", tmp_path / "a")  # whole, and under its own name, but not in runs/
    assert store.damage("../a") == [f"it lies at {(tmp_path / 'a').resolve()}, outside {store.runs}"]


def edit_json(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_table(path, change) -> None:
    table = pd.read_parquet(path)
    table = change(table)
    table.to_parquet(path, index=False)


@pytest.mark.parametrize(("edit", "message"), [
    ("ua", "the scores of emodb disagree with its confusion matrix: ua 0.999, not 0.75"),
    ("n", "n 5, not 4"),
    ("confusion", "the confusion matrix of emodb is not 2 x 2 counts"),
    ("another run's predictions", "predictions.parquet does not reproduce the confusion matrix of emodb "
                                  "(4 predictions, n = 4 in the record)"),
    ("a prediction twice", "predictions.parquet predicts 1 utterance(s) more than once, e.g. emodb/u2"),
    ("a training utterance", "predictions.parquet predicts 1 utterance(s) outside the test part of split.parquet, "
                             "e.g. emodb/u0"),
    ("another corpus", "predictions.parquet holds 1 utterance(s) of savee, which the record does not score"),
    ("logits", "the posteriors of 4 of 4 utterances are not probabilities (finite, in [0, 1], summing to 1)"),
    ("NaN posteriors", "the posteriors of 1 of 4 utterances are not probabilities"),
    ("no posteriors", "predictions.parquet lacks the column(s) p_high"),
    ("text posteriors", "the posteriors (p_low, p_high) are not numbers"),
    ("labels", "y and predicted are not class numbers 0 .. 1"),
])
def test_a_record_that_disagrees_with_itself_is_damaged(tmp_path, edit, message):
    store = ResultsStore(tmp_path)
    store.write_run("abc", *scored())
    folder = store.runs / "abc"
    predictions = folder / "predictions.parquet"
    if edit == "ua":
        edit_json(folder / "record.json", lambda data: data["scores"]["emodb"].update(ua=0.999))
    elif edit == "n":
        edit_json(folder / "record.json", lambda data: data["scores"]["emodb"].update(n=5))
    elif edit == "confusion":
        edit_json(folder / "record.json", lambda data: data["scores"]["emodb"].update(confusion=[[1, 1], [2]]))
    elif edit == "another run's predictions":
        store.write_run("other", *scored("other", predicted=(0, 0, 0, 1)))
        shutil.copy(store.runs / "other" / "predictions.parquet", predictions)
    elif edit == "a prediction twice":
        edit_table(predictions, lambda t: t.assign(utterance_id=["u2", "u3", "u2", "u5"]))
    elif edit == "a training utterance":
        edit_table(predictions, lambda t: t.assign(utterance_id=["u0", "u3", "u4", "u5"]))
    elif edit == "another corpus":
        edit_table(predictions, lambda t: t.assign(corpus=["emodb", "emodb", "emodb", "savee"]))
    elif edit == "logits":
        edit_table(predictions, lambda t: t.assign(p_low=-1.5, p_high=2.0))
    elif edit == "NaN posteriors":
        edit_table(predictions, lambda t: t.assign(p_high=[np.nan, 0.75, 0.75, 0.75]))
    elif edit == "no posteriors":
        edit_table(predictions, lambda t: t.drop(columns="p_high"))
    elif edit == "text posteriors":
        edit_table(predictions, lambda t: t.assign(p_high=["high"] * 4))
    else:
        edit_table(predictions, lambda t: t.assign(y=[0, 1, 0, 2]))
    write_checksums(folder)  # the checksums agree: only the record's own consistency can tell
    _, damaged = store.read_all()
    assert list(damaged) == ["abc"] and message in damaged["abc"].message, damaged["abc"].message
    assert str(folder) in str(damaged["abc"]) and "serbench prune --damaged" in str(damaged["abc"])


def test_runs_stored_without_tables_or_a_split_stay_readable(tmp_path):
    store = ResultsStore(tmp_path)
    run, tables = scored()
    store.write_run("abc", run, {"predictions": tables["predictions"]})  # no split.parquet (stores made by hand)
    store.write_run("bare", record("bare"), {})  # no scores, no tables
    assert [r.run_id for r in store.records()] == ["abc", "bare"]
    store.write_run("lost", scored("lost")[0], {})
    assert store.damage("lost") == ["it has scores but no predictions.parquet"]


def test_a_store_that_turns_read_only_leaves_no_claim_that_blocks_its_next_sweep(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)

    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    with store.claim("abc") as got:  # the filesystem is remounted read-only while the run trains
        assert got
        monkeypatch.setattr(os, "unlink", read_only)
    assert (store.claims / "abc.claim").exists()  # not released, and no error raised: the next write says it
    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(SerbenchError, match=r"cannot claim run other \(Read-only file system\)") as raised, \
            store.claim("other"):
        pass
    assert raised.value.path == str(store.claims) and "writable again" in raised.value.hint
    monkeypatch.undo()  # remounted: the next sweep of this process (a notebook's) takes the claim over
    assert not store.is_claimed("abc") and store.live_claims() == {}
    with store.claim("abc") as got:
        assert got


def test_a_claim_that_cannot_be_written_whole_is_not_left_empty(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", full_disk)
    with pytest.raises(SerbenchError, match=r"cannot claim run abc \(No space left on device\)"), store.claim("abc"):
        pass
    assert list(store.claims.iterdir()) == []  # an empty claim would hold the run for a minute


def test_live_claims_name_their_owners(tmp_path):
    store = ResultsStore(tmp_path)
    with store.claim("abc"), store.claim("def"):
        assert {run_id: owner["pid"] for run_id, owner in store.live_claims().items()} == {"abc": os.getpid(),
                                                                                          "def": os.getpid()}
    assert store.live_claims() == {}


def test_a_seed_cycle_is_sized_by_the_protocol_not_by_the_runs_present():
    """Folds together test every labelled utterance of a corpus (every part of any one fold); an official split's
    one fold tests its test part only."""
    parts = {"emodb": {"train_utterances": 10, "validation_utterances": 2, "test_utterances": 4}}
    folds = record(identity={"protocol": {"split": "speaker-folds"}}, split=parts)
    official = record(identity={"protocol": {"split": "official"}}, split=parts)
    assert cycle_size(folds, "emodb") == 16 and cycle_size(official, "emodb") == 4
