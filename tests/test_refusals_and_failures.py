"""Nothing silent, nothing stale: bad sweep settings are refused before any data is loaded, failing runs say why,
training that diverges is a failed run, and the store and `serbench status` survive debris. Each case is run as a
user runs it, through the command line: exit status, no traceback, the file or key named."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from corpus_trees import write_wav
from test_methods import BREACHES
from test_store import record

from serbench.cli import main
from serbench.errors import SerbenchError
from serbench.runs.store import STALE_CLAIM_SECONDS, ResultsStore

FAST = ["--task", "arousal", "--epochs", "1", "--seeds", "1", "--device", "cpu"]


def serbench(capsys, *words: str) -> tuple[int, str]:
    status = main(list(words))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


@pytest.mark.parametrize(("options", "message"), [
    (["--epochs", "0"], "--epochs 0: a run trains for at least one epoch"),
    (["--seeds", "0"], "no seeds: the sweep would run nothing"),
    (["--seed", "-1"], "seed -1 is not an integer from 0 to"),
    (["--seed", str(2**64)], f"seed {2**64} is not an integer"),
    (["--seed", "3", "--seed", "3"], "seed 3 is given twice"),
    (["--hp", "batch_size=0"], "hyperparameter batch_size='0' of method 'dann2_s' is out of range"),
    (["--hp", "lr=nan"], "hyperparameter lr='nan' of method 'dann2_s' is out of range"),
    (["--hp", "preset=tiny"], "preset='tiny' of method 'dann2_s' is out of range"),
    (["--preset", "tiny"], "preset='tiny' of method 'dann2_s' is out of range"),  # the presets' one place: paper.py
    (["--hp", "epochs=3", "--epochs", "2"], "--epochs 2 and --hp epochs=3 both set epochs"),
    (["--hp", "gamma=0.3", "--hp", "gamma=0.5"], "--hp gamma is given twice"),
    (["--method", "baseline_s", "--hp", "gamma=0.5"], "--hp gamma: baseline_s has no such hyperparameter"),
    (["--method", "dann2_s"], "--method dann2_s is given twice"),
    (["--fuse", "0"], "--fuse 0: needs at least 1"),
    (["--epochs", "99999999999999999999999"], "more than 100,000, the most epochs a run may train"),
    (["--hp", "epochs=100001"], "method 'dann2_s': epochs=100001 is more than 100,000"),
    (["--results", ""], "--results '': an empty path would use the current folder"),
    (["--data", ""], "--data '': an empty path would use the current folder"),
    (["--cache-dir", " "], "--cache-dir ' ': an empty path would use the current folder"),
])
def test_bad_settings_are_refused_before_any_data_is_loaded(tmp_path, capsys, options, message):
    # --data points nowhere: had the sweep got as far as loading data, that would be the error instead.
    status, output = serbench(capsys, "run", "--method", "dann2_s", "--protocol", "cross", "--data",
                              str(tmp_path / "nowhere"), "--results", str(tmp_path / "results"), "--device", "cpu",
                              *options)
    assert status == 2 and message in output and "Traceback" not in output
    assert not any((tmp_path / "results").glob("*"))  # nothing planned, nothing stored


def test_a_results_folder_that_cannot_hold_runs_is_refused_first(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for results, problem in [(tmp_path / "file", "is a file, not a folder"),
                             (tmp_path / "file" / "below", "lies under a file")]:
        status, output = serbench(capsys, "run", "--method", "dann2_s", "--protocol", "cross", "--data",
                                  str(tmp_path / "nowhere"), "--results", str(results), *FAST)
        assert status == 2 and f"the results folder {problem}" in output and str(results) in output


def test_a_protocol_file_that_is_not_utf8_names_the_file(tmp_path, capsys):
    protocol = tmp_path / "mine.toml"
    protocol.write_bytes('description = "Gr\xfc\xdfe"\n'.encode("latin-1"))
    status, output = serbench(capsys, "run", "--method", "dann2_s", "--protocol", str(protocol), "--data",
                              str(tmp_path), "--results", str(tmp_path / "r"), *FAST)
    assert status == 2 and "not UTF-8 text" in output and "mine.toml" in output


DIVERGING = '''
import torch
from serbench.api import register_method
from serbench.methods.baseline import BaselineS


@register_method("diverging")
class Diverging(BaselineS):
    """The baseline whose loss turns to NaN at its third step."""

    steps = 0

    def update(self, batch, progress):
        losses = super().update(batch, progress)
        Diverging.steps += 1
        return {**losses, "emotion": losses["emotion"] * (float("nan") if Diverging.steps >= 3 else 1.0)}


@register_method("nan_predictions")
class NanPredictions(BaselineS):
    """The baseline, predicting NaN."""

    def predict(self, batch):
        return super().predict(batch) * float("nan")


@register_method("exits")
class Exits(BaselineS):
    """The baseline, calling sys.exit in its first update."""

    def update(self, batch, progress):
        raise SystemExit(3)

'''


def test_failing_runs_are_failed_never_done_and_say_why_on_the_console(tiny_releases, tmp_path, capsys):
    plugin, breaches = tmp_path / "bad.py", tmp_path / "breaches.py"
    plugin.write_text(DIVERGING)
    breaches.write_text(BREACHES)  # the contract breaches of tests/test_methods.py, here in a sweep
    status, output = serbench(capsys, "run", "--method", "diverging", "--method", "nan_predictions", "--method",
                              "exits", "--method", "logits", "--method", "no_losses", "--method", "baseline_s",
                              "--protocol", "cross", "--data", str(tiny_releases), "--results", str(tmp_path / "r"),
                              "--plugin", str(plugin), "--plugin", str(breaches), "--preset", "small", *FAST)
    assert status == 1 and "Traceback" not in output
    output = " ".join(output.split())  # the console wraps long lines
    assert "training diverged: the 'emotion' loss was nan at step 3 of" in output
    assert "method 'nan_predictions': predict returned a float32 tensor of shape" in output
    assert "the method called sys.exit(3)" in output
    store = ResultsStore(tmp_path / "r")
    assert {store.record(run_id).method for run_id in store.done_ids()} == {"baseline_s"}  # the sweep went on
    # a breach of the plugin contract names the method, the plugin's file, the contract and what came back
    messages = [store.failure(path.stem)["message"] for path in (tmp_path / "r" / "failed").glob("*.json")]
    assert any(m.startswith(f"{plugin}: method 'nan_predictions': predict returned") and "NaN or infinite values in"
               in m for m in messages)
    assert any(m.startswith(f"{breaches}: method 'logits': predict returned") and "negative values in" in m
               and "holding probabilities" in m for m in messages)
    assert any(m.startswith(f"{breaches}: method 'no_losses': update returned None, and it must return a dict")
               for m in messages)


def test_status_names_a_missing_store_and_reports_debris_without_crashing(tmp_path, capsys):
    status, output = serbench(capsys, "status", "--results", str(tmp_path / "nowhere"))
    assert status == 2 and "no results store here" in output
    store = ResultsStore(tmp_path)
    store.write_run("good", record("good"), {})
    store.write_run("truncated", record("truncated"), {})
    path = tmp_path / "runs" / "truncated" / "record.json"
    path.write_text(path.read_text()[:40])
    (tmp_path / "runs" / "stray.txt").write_text("not a run")
    (tmp_path / "runs" / "no-record").mkdir()
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "cut.json").write_text('{"runs": [')
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "garbage.json").write_text("\x00\x01")
    status, output = serbench(capsys, "status", "--results", str(tmp_path), "--json")
    report = json.loads(output)
    assert status == 1 and (report["done"], report["damaged"]) == (1, 1)  # as the table's: there is damage
    assert any("cut.json" in problem for problem in report["problems"])
    assert any("truncated" in problem and "record.json has 40 bytes" in problem for problem in report["problems"])
    status, output = serbench(capsys, "status", "--results", str(tmp_path))
    assert status == 1 and "1 damaged" in output and "Traceback" not in output
    assert store.failure("garbage")["message"].startswith("its failure record")


def test_status_piped_into_head_ends_quietly(tmp_path):
    store = ResultsStore(tmp_path)
    for i in range(300):
        store.write_run(f"run{i:03d}", record(f"run{i:03d}", seed=i), {})
    command = (f"{sys.executable} -m serbench status --json --results {tmp_path} | head -n 1")
    result = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "{" and "Traceback" not in result.stderr and "Error" not in result.stderr


def test_a_folder_without_its_record_does_not_block_the_run(tmp_path):
    store = ResultsStore(tmp_path)
    (tmp_path / "runs" / "abc").mkdir(parents=True)  # what a hand-made copy or a crash of old code can leave
    assert not store.is_done("abc") and store.done_ids() == set()
    assert store.write_run("abc", record(), {}) and store.is_done("abc")


def test_a_write_error_while_storing_is_clear_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("serbench.runs.record.RunRecord.to_json", full_disk)
    with pytest.raises(SerbenchError, match=r"cannot store run abc \(No space left on device\)") as raised:
        store.write_run("abc", record(), {})
    assert "free disk space" in raised.value.hint
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_claim_without_a_heartbeat_for_hours_is_stale_even_if_its_pid_lives(tmp_path):
    store = ResultsStore(tmp_path)
    store.claims.mkdir(parents=True)
    claim = store.claims / "abc.claim"
    claim.write_text(json.dumps({"host": os.uname().nodename, "pid": os.getpid(), "token": "x"}))  # pid alive
    assert store.is_claimed("abc")
    old = time.time() - STALE_CLAIM_SECONDS - 60
    os.utime(claim, (old, old))  # a pid reused by another process after the worker died, hours ago
    assert not store.is_claimed("abc")
    with store.claim("abc") as got:
        assert got


def test_ctrl_c_says_that_the_same_command_resumes(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("serbench.cli.run.run_command", interrupted)
    status, output = serbench(capsys, "run", "--method", "x", "--protocol", "cross")
    assert status == 130 and "the same command resumes a sweep" in output and "Traceback" not in output


def test_the_same_audio_under_two_corpora_and_two_spellings_is_leakage(tmp_path, capsys):
    # "a" and "b" list the same recordings: "b" by absolute paths and other ids, from a manifest kept outside
    # its audio folder. Only the audio's content can tell they are the same.
    emotions = ["anger", "happiness", "sadness", "neutral"] * 3
    rows = []
    for i, emotion in enumerate(emotions):
        path = write_wav(tmp_path / "audio" / f"u{i}.wav", seconds=0.6, frequency=150 + 40 * i, seed=i)
        rows.append((path, f"s{i % 3}", "FM"[i % 2], emotion))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.csv").write_text("path,speaker,gender,language,emotion\n" + "".join(
        f"../audio/{p.name},{s},{g},en-US,{e}\n" for p, s, g, e in rows))
    (tmp_path / "b.csv").write_text("path,speaker,gender,language,emotion,utterance_id\n" + "".join(
        f"{p},x{s},{g},en-US,{e},other-{i}\n" for i, (p, s, g, e) in enumerate(rows)))
    (tmp_path / "data.toml").write_text('[corpora.a]\nmanifest = "a/manifest.csv"\n[corpora.b]\nmanifest = "b.csv"\n')
    (tmp_path / "ab.toml").write_text('description = "a to b"\nsplit = "corpus"\ntrain = ["a"]\ntest = ["b"]\n'
                                      'tasks = ["arousal"]\n')
    status, output = serbench(capsys, "run", "--method", "baseline_s", "--protocol", str(tmp_path / "ab.toml"),
                              "--data", str(tmp_path / "data.toml"), "--results", str(tmp_path / "r"),
                              "--preset", "small", *FAST)
    output = " ".join(output.split())
    assert status == 2 and "leakage: 12 audio recording(s) in both the training and the test part" in output
    assert not (tmp_path / "r" / "runs").exists()  # found when the sweep is planned, before any run
    assert "a/audio/u" in output and "b/other-" in output and "../" not in output  # ids of "a" normalised


def test_a_local_worker_ends_when_its_launcher_is_killed():
    launcher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker = subprocess.Popen([sys.executable, "-c", "from serbench.runs.launch import exit_with; import sys; "
                               f"exit_with({launcher.pid}, every=0.1); sys.exit(0)"])
    launcher.kill()
    launcher.wait()  # reaped, as the shell that started a killed `serbench run` reaps it
    assert worker.wait(timeout=60) == 143


def manifest_corpus(folder: Path, speakers: int, emotions: list[str], seed: int = 0) -> Path:
    """A manifest corpus in `folder` (its manifest.csv): each speaker (F, M, F, ...) says each emotion once."""
    rows = []
    for s in range(speakers):
        for e, emotion in enumerate(emotions):
            i = seed * 100 + s * len(emotions) + e
            path = write_wav(folder / f"s{s}_{e}.wav", seconds=0.6, frequency=150 + 20 * i, seed=i)
            rows.append(f"{path.name},s{s},{'FM'[s % 2]},en-US,{emotion}\n")
    (folder / "manifest.csv").write_text("path,speaker,gender,language,emotion\n" + "".join(rows))
    return folder / "manifest.csv"


@pytest.mark.parametrize(("data", "culprit"), [
    ('[corpra.mine]\nmanifest = "mine/manifest.csv"\n', "unknown table [corpra.mine]"),
    ('[corpora.mine]\nmanifest = "mine/manifest.csv"\nlang = "de"\n', "[corpora.mine]: unknown key 'lang'"),
    ('[corpora.mine]\nmanifest = "mine"\n', "[corpora.mine]: manifest = 'mine' is a folder"),
    ('[corpora.mine]\nmanifest = "folder.csv"\n', "folder.csv: a folder, not a manifest file"),
    ('[corpora.mine]\nmanifest = "rows.csv"\n', "rows.csv:2: " + "{root}/mine is a folder, not an audio file"),
])
def test_messages_name_what_is_wrong_in_the_data(tmp_path, capsys, data, culprit):
    manifest_corpus(tmp_path / "mine", 2, ["anger", "sadness"])
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "rows.csv").write_text("path,speaker,gender,language,emotion\nmine,s0,F,en-US,anger\n")
    (tmp_path / "data.toml").write_text(data)
    status, output = serbench(capsys, "run", "--method", "baseline_s", "--protocol", "within[corpus=mine]",
                              "--data", str(tmp_path / "data.toml"), "--results", str(tmp_path / "r"), *FAST)
    output = " ".join(output.split())
    assert status == 2 and culprit.format(root=tmp_path) in output and "Traceback" not in output
    assert str(tmp_path) in output  # the file at fault


def test_a_protocols_unknown_front_end_names_the_protocol_file(tmp_path, capsys):
    protocol = tmp_path / "mine.toml"
    protocol.write_text('split = "corpus"\ntrain = ["emodb"]\ntest = ["savee"]\nfrontend = "spectrogramm"\n')
    status, output = serbench(capsys, "run", "--method", "baseline_s", "--protocol", str(protocol), "--data",
                              str(tmp_path / "nowhere"), "--results", str(tmp_path / "r"), *FAST)
    assert status == 2 and "Traceback" not in output
    assert f"{protocol}: key 'frontend': unknown front-end 'spectrogramm'" in " ".join(output.split())


def test_more_folds_than_speakers_is_refused_when_the_sweep_is_planned(tmp_path, capsys):
    manifest_corpus(tmp_path / "four", 4, ["anger", "sadness"])
    (tmp_path / "data.toml").write_text('[corpora.four]\nmanifest = "four/manifest.csv"\n')
    status, output = serbench(capsys, "run", "--method", "baseline_s", "--protocol", "within[corpus=four]",
                              "--data", str(tmp_path / "data.toml"), "--results", str(tmp_path / "r"),
                              "--preset", "small", *FAST)
    output = " ".join(output.split())
    assert status == 2 and "Traceback" not in output and "within.toml" in output
    assert ("protocol within[corpus=four]: corpus four has 4 speakers, fewer than the protocol's 5 folds, so fold 5 "
            "would test nobody") in output
    assert not (tmp_path / "r" / "runs").exists()  # not one run started


@pytest.mark.parametrize(("emotions", "present"), [
    (["contempt", "frustration"], "have no utterance with an arousal label"),  # no arousal class for either
    (["anger", "fear"], "have only 'high', so UA cannot rank anything there (a constant predictor would score "
                        "100%)"),
])
def test_a_test_corpus_without_two_classes_is_refused_when_the_sweep_is_planned(tmp_path, capsys, emotions,
                                                                                    present):
    manifest_corpus(tmp_path / "a", 2, ["anger", "sadness"])
    manifest_corpus(tmp_path / "b", 2, emotions, seed=1)
    (tmp_path / "data.toml").write_text('[corpora.a]\nmanifest = "a/manifest.csv"\n'
                                        '[corpora.b]\nmanifest = "b/manifest.csv"\n')
    (tmp_path / "ab.toml").write_text('split = "corpus"\ntrain = ["a"]\ntest = ["b"]\ntasks = ["arousal"]\n')
    status, output = serbench(capsys, "run", "--method", "baseline_s", "--protocol", str(tmp_path / "ab.toml"),
                              "--data", str(tmp_path / "data.toml"), "--results", str(tmp_path / "r"),
                              "--preset", "small", *FAST)
    output = " ".join(output.split())
    assert status == 2 and f"protocol ab, task arousal: the test utterances of b {present}" in output
    assert str(tmp_path / "ab.toml") in output and not (tmp_path / "r" / "runs").exists()


class ReadOnly:
    """The filesystem under `root` remounted read-only once `on` is set: every write below it raises EROFS, as
    Linux does (no root privileges needed to simulate it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root, self.on = str(root), False
        for name in ("mkdir", "unlink", "rename", "replace", "utime", "rmdir"):
            monkeypatch.setattr(os, name, self.guard(getattr(os, name), lambda *args, **kwargs: True))
        monkeypatch.setattr(os, "open", self.guard(os.open, lambda path, flags, *args, **kwargs: bool(
            flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))))
        for module in (builtins, io):  # open(), and Path.open / write_text / write_bytes
            monkeypatch.setattr(module, "open", self.guard(module.open, lambda file, mode="r", *args, **kwargs: any(
                c in mode for c in "wax+")))

    def guard(self, real, writes):
        def guarded(path, *args, **kwargs):
            if (self.on and isinstance(path, str | os.PathLike) and str(os.fspath(path)).startswith(self.root)
                    and writes(path, *args, **kwargs)):
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return real(path, *args, **kwargs)
        return guarded


@pytest.mark.parametrize("when", ["between runs", "while a run trains"])
def test_a_results_store_turning_read_only_mid_sweep_is_clear_and_the_next_sweep_finishes(
        tiny_releases, tmp_path, monkeypatch, capsys, when):
    results = tmp_path / "r"
    sweep = ["run", "--method", "baseline_s", "--protocol", "cross", "--data", str(tiny_releases), "--results",
             str(results), "--preset", "small", *FAST[:-4], "--seeds", "2", "--device", "cpu"]
    read_only = ReadOnly(monkeypatch, results)
    if when == "between runs":  # after the first run is stored
        store_run = ResultsStore.write_run

        def then_read_only(self, *args, **kwargs):
            stored = store_run(self, *args, **kwargs)
            read_only.on = True
            monkeypatch.setattr(ResultsStore, "write_run", store_run)
            return stored
        monkeypatch.setattr(ResultsStore, "write_run", then_read_only)
    else:  # in the second run's first epoch: its heartbeat is the first write to fail
        beat, beats = ResultsStore.heartbeat, set()

        def beat_then_read_only(self, run_id):
            beats.add(run_id)
            if len(beats) == 2:
                read_only.on = True
                monkeypatch.setattr(ResultsStore, "heartbeat", beat)
            beat(self, run_id)
        monkeypatch.setattr(ResultsStore, "heartbeat", beat_then_read_only)
    status, output = serbench(capsys, *sweep)
    output = " ".join(output.split())
    assert status == 2 and "Traceback" not in output and "Read-only file system" in output, output
    assert f"error: {results}/" in output and "make the results folder writable again" in output
    store = ResultsStore(results)
    assert len(store.done_ids()) == 1 and not store.failed_ids()  # nothing lost, nothing recorded as failed
    read_only.on = False  # remounted; this process's claim (a notebook's) is taken over, as a dead worker's is
    status, output = serbench(capsys, *sweep)
    assert status == 0 and len(store.done_ids()) == 2 and not list(store.claims.iterdir()), output
