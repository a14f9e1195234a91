"""The harness end to end on tiny synthetic releases: records, resume after SIGKILL, concurrent workers, failing
plugins, status, a manifest corpus in a user's protocol, the SLURM launcher through submitit's local executor."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from test_store import record

from serbench.cli import main
from serbench.data.corpora import read_corpus
from serbench.errors import SerbenchError
from serbench.runs import launch
from serbench.runs.launch import look, run, status
from serbench.runs.store import ResultsStore

# Small and quick: the small model, one epoch, arousal only, the cross protocol (trains on IEMOCAP alone).
FAST = {"protocol": "cross", "tasks": ["arousal"], "preset": "small", "epochs": 1, "device": "cpu"}
FAST_CLI = ["--protocol", "cross", "--task", "arousal", "--preset", "small", "--epochs", "1", "--device", "cpu"]
VOLATILE = ("provenance",)  # timings, memory, host, argv: everything else must be identical


def serbench(*args: str, wait: bool = True, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    command = [sys.executable, "-m", "serbench", *args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                                **kwargs)
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


def stable(record) -> dict:
    return {key: value for key, value in record.to_dict().items() if key not in VOLATILE}


def runs_of(results: Path) -> dict[str, dict]:
    store = ResultsStore(results)
    return {run_id: stable(store.record(run_id)) for run_id in sorted(store.done_ids())}


@pytest.fixture(scope="module")
def reference(tiny_releases, tmp_path_factory) -> Path:
    """An uninterrupted sequential sweep of three seeds: what every other way of running must reproduce."""
    results = tmp_path_factory.mktemp("reference")
    frame = run("baseline_s", seeds=3, data=str(tiny_releases), results=results, **FAST)
    assert len(frame) == 3 * 3  # three seeds x three test corpora
    return results


def test_a_run_records_everything(reference):
    store = ResultsStore(reference)
    run_id = sorted(store.done_ids())[0]
    record = store.record(run_id).to_dict()
    assert record["run_id"] == run_id and record["synthetic"] is False  # a folder, not --data synthetic
    assert set(record["identity"]) >= {"method", "hparams", "protocol", "task", "seed", "data", "frontend", "code",
                                      "serbench"}
    assert record["identity"]["hparams"]["epochs"] == 1 and record["identity"]["hparams"]["preset"] == "small"
    assert set(record["scores"]) == {"msp-improv", "savee", "emodb"}
    for score in record["scores"].values():
        assert set(score) == {"ua", "wa", "macro_f1", "n", "confusion", "collapsed", "ccc", "pcc", "rmse",
                              "rating_sums"} and 0 <= score["ua"] <= 1
        assert score["ccc"] is None and score["rating_sums"] == []  # the scores of ratings: none for classes
    assert record["frontend"] == "spectrogram" and record["schema"] == 3
    assert len(record["curves"]) == 1 and "total" in record["curves"][0]
    assert record["selection"] == {"policy": "last"}  # the fixed schedule's last epoch: nothing chosen
    assert record["probes"]["corpus"]["classes"] == 3 and 0 <= record["probes"]["corpus"]["ua"] <= 1
    assert set(record["provenance"]) >= {"versions", "device", "git_commit", "seconds", "peak_memory_mib"}
    predictions = store.table(run_id, "predictions")
    assert {"utterance_id", "corpus", "y", "predicted", "p_low", "p_high"} <= set(predictions.columns)
    assert predictions[["p_low", "p_high"]].sum(axis=1).round(5).eq(1).all()
    split = store.table(run_id, "split")
    assert set(split["part"]) == {"train", "test"} and set(split.loc[split["part"] == "train", "corpus"]) == {"iemocap"}


def test_a_repeated_sweep_runs_nothing_and_returns_the_same_records(reference, tiny_releases):
    before = runs_of(reference)
    frame = run("baseline_s", seeds=3, data=str(tiny_releases), results=reference, **FAST)
    assert runs_of(reference) == before and len(frame) == 9


def test_a_sweep_killed_mid_run_resumes_and_matches(reference, tiny_releases, tmp_path):
    args = ["run", "--method", "baseline_s", *FAST_CLI, "--seeds", "3", "--data", str(tiny_releases),
            "--results", str(tmp_path)]
    process = serbench(*args, wait=False)
    deadline = time.time() + 240
    while not ResultsStore(tmp_path).done_ids() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # in the middle of the second run (or later)
    process.wait()
    assert 1 <= len(ResultsStore(tmp_path).done_ids()) <= 3
    result = serbench(*args)
    assert result.returncode == 0, result.stderr
    assert runs_of(tmp_path) == runs_of(reference)  # every run exactly once, identical to the clean sweep
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]  # no half-written run left


def test_concurrent_workers_share_the_sweep(reference, tiny_releases, tmp_path):
    result = serbench("run", "--method", "baseline_s", *FAST_CLI, "--seeds", "3", "--data", str(tiny_releases),
                      "--results", str(tmp_path), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    mine, theirs = runs_of(tmp_path), runs_of(reference)
    assert mine.keys() == theirs.keys()  # each run once, under the same identity
    for run_id in mine:  # workers use fewer threads: the same numbers up to float reordering
        ours = pd.DataFrame(mine[run_id]["curves"])
        pd.testing.assert_frame_equal(ours, pd.DataFrame(theirs[run_id]["curves"]), rtol=1e-3)


BROKEN_PLUGIN = '''
from serbench.method import register_method
from serbench.methods.paper import PaperSystem


@register_method("broken")
class Broken(PaperSystem):
    """Fails in its first training step."""

    def update(self, batch, progress):
        raise RuntimeError("boom in update")
'''


def test_fused_runs_match_the_same_runs_trained_alone(reference, tiny_releases, tmp_path):
    run("baseline_s", seeds=3, data=str(tiny_releases), results=tmp_path, fuse=3, **FAST)
    alone, fused = ResultsStore(reference), ResultsStore(tmp_path)
    assert sorted(fused.done_ids()) == sorted(alone.done_ids())  # the same run identities
    for run_id in alone.done_ids():
        a, f = alone.record(run_id).to_dict(), fused.record(run_id).to_dict()
        assert (a["provenance"]["fused_runs"], f["provenance"]["fused_runs"]) == (1, 3)
        close = ("curves", "scores", "probes")  # float tolerance: summation order differs
        assert {k: v for k, v in f.items() if k not in (*close, *VOLATILE)} == \
               {k: v for k, v in a.items() if k not in (*close, *VOLATILE)}
        for term, value in a["curves"][0].items():
            assert f["curves"][0][term] == pytest.approx(value, rel=1e-4)
        posteriors = [store.table(run_id, "predictions").filter(like="p_").to_numpy() for store in (alone, fused)]
        assert abs(posteriors[0] - posteriors[1]).max() < 1e-3


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tiny_releases, tmp_path):
    plugin = tmp_path / "broken.py"
    plugin.write_text(BROKEN_PLUGIN)
    results = tmp_path / "results"
    result = serbench("run", "--method", "broken", "--method", "baseline_s", *FAST_CLI, "--seed", "0",
                      "--data", str(tiny_releases), "--results", str(results), "--plugin", str(plugin))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    report = status(results)
    assert (report["done"], report["failed"], report["pending"]) == (1, 1, 0)
    failed = next(r for r in report["runs"] if r["state"] == "failed")
    assert failed["method"] == "broken"
    assert "boom in update" in ResultsStore(results).failure(failed["run_id"])["error"]
    shown = serbench("status", "--results", str(results), "--json")
    assert json.loads(shown.stdout)["failed"] == 1


def test_a_manifest_corpus_in_a_users_protocol(tiny_releases, tmp_path):
    savee = read_corpus("savee", tiny_releases / "SAVEE").table
    manifest = savee.assign(speaker=savee["speaker"].str.split(":").str[1])[
        ["path", "speaker", "gender", "language", "emotion"]]
    manifest.to_csv(tmp_path / "mine.csv", index=False)
    (tmp_path / "data.toml").write_text(f'[corpora.emodb]\nroot = "{tiny_releases / "emodb"}"\n'
                                        '[corpora.mine]\nmanifest = "mine.csv"\n')
    (tmp_path / "emodb_to_mine.toml").write_text('split = "corpus"\ntrain = ["emodb"]\ntest = ["mine"]\n')
    frame = run("baseline_s", protocol=str(tmp_path / "emodb_to_mine.toml"), tasks=["arousal"], seeds=[0],
                data=str(tmp_path / "data.toml"), results=tmp_path / "results", preset="small", epochs=1,
                device="cpu")
    assert list(frame["corpus"]) == ["mine"] and frame["n"].iloc[0] == len(savee)


def test_a_missing_corpus_says_where_it_looked_and_what_to_do(tiny_releases, tmp_path):
    (tmp_path / "IEMOCAP_full_release").symlink_to(tiny_releases / "IEMOCAP_full_release")
    with pytest.raises(SerbenchError, match="lacks 'msp-improv', 'savee', 'emodb'") as error:  # all at once
        run("baseline_s", seeds=1, data=str(tmp_path), results=tmp_path / "results", **FAST)
    assert str(tmp_path / "MSP-IMPROV") in str(error.value) and "--data synthetic" in str(error.value)


def test_a_bad_fuse_width_is_refused_before_any_work(tmp_path):
    with pytest.raises(SerbenchError, match="--fuse 0: needs at least 1"):
        run("baseline_s", data=str(tmp_path / "nothing here"), results=tmp_path, fuse=0, **FAST)


def test_unknown_hyperparameter_for_every_method(tiny_releases, tmp_path):
    with pytest.raises(SerbenchError, match="--hp gamma"):
        run("baseline_s", seeds=1, data=str(tiny_releases), results=tmp_path, hp={"gamma": "0.5"}, **FAST)


def test_the_slurm_launcher_through_submitits_local_executor(reference, tiny_releases, tmp_path):
    pytest.importorskip("submitit")
    frame = run("baseline_s", seeds=[0], data=str(tiny_releases), results=tmp_path, launcher="slurm",
                slurm={"cluster": "local", "timeout_min": 10}, **FAST)
    assert len(frame) == 3
    assert runs_of(tmp_path).items() <= runs_of(reference).items()


def run_ids_by_seed(results: Path) -> dict[int, str]:
    store = ResultsStore(results)
    return {store.record(run_id).seed: run_id for run_id in store.done_ids()}


def copy_run(source: Path, results: Path, run_id: str) -> None:
    """Store a finished run as a worker does: whole, under a temporary name renamed into place."""
    temporary = results / "runs" / f".tmp-{run_id}-copy"
    shutil.copytree(source / "runs" / run_id, temporary)
    os.rename(temporary, results / "runs" / run_id)


def test_one_look_counts_each_run_once_while_other_workers_finish_theirs(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    sweep = SimpleNamespace(runs=[SimpleNamespace(run_id=run_id) for run_id in "abcde"])
    store.write_run("a", record("a"), {})
    store.write_failure("d", {}, "Traceback ...\nValueError: boom")
    listing = ResultsStore.live_claims

    def b_is_stored_meanwhile(self):  # between the look at the claims and the look at the runs
        claims = listing(self)
        store.write_run("b", record("b"), {})
        holding.close()  # and its claim released
        return claims

    with ExitStack() as holding:  # another worker trains b and c
        assert holding.enter_context(store.claim("b")) and holding.enter_context(store.claim("c"))
        monkeypatch.setattr(ResultsStore, "live_claims", b_is_stored_meanwhile)
        state = look(store, sweep)
    assert [spec.run_id for spec in state.done] == ["a", "b"]
    assert [spec.run_id for spec, _ in state.claimed] == ["c"] and state.claimed[0][1]["pid"] == os.getpid()
    assert [(spec.run_id, failure["message"]) for spec, failure in state.failed] == [("d", "ValueError: boom")]
    assert [spec.run_id for spec in state.left] == ["e"]


@pytest.mark.parametrize("other", ["finishes", "dies"])
def test_a_worker_says_when_others_hold_runs_and_waits_for_them_with_wait(reference, tiny_releases, tmp_path,
                                                                          capsys, monkeypatch, other):
    seeds = run_ids_by_seed(reference)
    for seed in (0, 1):
        copy_run(reference, tmp_path, seeds[seed])
    held = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # a live worker training seed 2
    claim = tmp_path / "claims" / f"{seeds[2]}.claim"
    claim.parent.mkdir()
    claim.write_text(json.dumps({"host": socket.gethostname(), "pid": held.pid, "token": "other"}))
    args = ["run", "--method", "baseline_s", *FAST_CLI, "--seeds", "3", "--data", str(tiny_releases), "--results",
            str(tmp_path)]
    try:
        assert main(args) == 3  # not a failure: the other worker finishes the sweep
        output = " ".join(capsys.readouterr().out.split())
        assert "1 run still claimed by other workers, which finish the sweep" in output and "--wait" in output

        def other_worker():
            if other == "finishes":
                copy_run(reference, tmp_path, seeds[2])
                claim.unlink()
            else:  # killed: its claim goes stale, and the waiting worker trains the run
                held.kill()
                held.wait()

        waiting = launch.await_claims

        def await_while_the_other_worker_goes_on(*args):
            threading.Timer(0.5, other_worker).start()
            waiting(*args)

        monkeypatch.setattr(launch, "WAIT_SECONDS", 0.1)
        monkeypatch.setattr(launch, "await_claims", await_while_the_other_worker_goes_on)
        assert main([*args, "--wait"]) == 0
    finally:
        held.kill()
        held.wait()
    output = " ".join(capsys.readouterr().out.split())
    assert f"waiting for 1 run claimed by another worker ({socket.gethostname()}:{held.pid}): baseline_s" in output
    assert "claimed by other workers" not in output.split("waiting for")[1]
    assert runs_of(tmp_path) == runs_of(reference)


def test_commands_started_together_on_one_store_all_succeed(reference, tiny_releases, tmp_path):
    # What a scheduler does: N workers, one store. With --wait each ends with status 0 once the sweep is done;
    # without, a worker whose share is done while others still train ends with 3, never 1.
    args = ["run", "--method", "baseline_s", *FAST_CLI, "--seeds", "3", "--data", str(tiny_releases), "--results",
            str(tmp_path)]
    workers = [serbench(*args, *extra, wait=False) for extra in (["--wait"], ["--wait"], [])]
    statuses = [worker.wait(timeout=600) for worker in workers]
    errors = [worker.stderr.read().decode() for worker in workers]
    assert statuses[:2] == [0, 0] and statuses[2] in (0, 3), errors
    assert not any("Traceback" in error for error in errors)
    assert runs_of(tmp_path) == runs_of(reference)  # each run once, identical to the sequential sweep
