"""The results store: atomic runs, claims between workers, stale claims of killed workers."""

import json
import multiprocessing
import os
import subprocess
import sys

import pandas as pd

from serbench.record import RunRecord
from serbench.store import ResultsStore, variant_names


def record(run_id: str = "abc", **changes) -> RunRecord:
    """A minimal valid run record."""
    fields = dict(run_id=run_id, identity={}, method="m", protocol="cross", fold="", task="arousal", seed=0,
                  frontend="spectrogram", classes=["low", "high"], scores={}, curves=[],
                  selection={"policy": "last"}, synthetic=True, split={},
                  excluded={}, adaptation={}, normalisation={}, probes=None, provenance={})
    return RunRecord(**{**fields, **changes})


def test_a_run_is_stored_whole_and_read_back(tmp_path):
    store = ResultsStore(tmp_path)
    assert not store.is_done("abc")
    table = pd.DataFrame({"utterance_id": ["u1", "u2"], "p_high": [0.2, 0.9]})
    assert store.write_run("abc", record(seed=3), {"predictions": table})
    assert store.is_done("abc") and store.record("abc") == record(seed=3)
    assert store.table("abc", "predictions").equals(table)
    assert store.records() == [record(seed=3)]
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
