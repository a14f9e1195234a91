"""The feature cache: reuse, change detection, atomic publication under races and kills, bad audio."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import serbench.features.cache
from serbench.data.audio import load_audio
from serbench.data.corpora.schema import Corpus, make_table
from serbench.errors import Problem, SerbenchError
from serbench.features.cache import FeatureSet, build_features
from serbench.features.frontends import make_frontend
from serbench.features.frontends.spectrogram import Spectrogram, segment_spectrograms
from serbench.files import TEMP_PREFIX, cache_root, host_tag

RNG = np.random.default_rng(11)
# (seconds, sample rate) per utterance: short (padded), several segments, a resampled one
UTTERANCES = [(0.1, 16_000), (1.0, 16_000), (2.3, 16_000), (1.2, 22_050)]


def write_wav(path: Path, seconds: float, rate: int = 16_000) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.2 * RNG.standard_normal(int(seconds * rate))).astype(np.float32), rate, subtype="PCM_16")
    return str(path)


def row(utterance_id: str, path: str) -> dict:
    return {"utterance_id": utterance_id, "path": path, "corpus": "toy", "speaker": "toy:s1", "gender": "F",
            "locale": "en-US", "session": "", "emotion_code": "ang", "emotion": "anger"}


def make_corpus(root: Path, utterances=UTTERANCES, problems: list[Problem] | None = None) -> Corpus:
    rows = [row(f"u{i}", write_wav(root / "wav" / f"u{i}.wav", seconds, rate))
            for i, (seconds, rate) in enumerate(utterances)]
    return Corpus("toy", root, make_table(rows), list(problems or []))


def with_rows(corpus: Corpus, rows: list[dict]) -> Corpus:
    return Corpus(corpus.name, corpus.root, make_table(corpus.table.to_dict("records") + rows), corpus.problems)


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "features").iterdir())


@pytest.fixture
def corpus(tmp_path) -> Corpus:
    return make_corpus(tmp_path / "toy")


def test_build_gives_every_utterances_segments(corpus, tmp_path) -> None:
    calls = []
    features = build_features(corpus, cache_dir=tmp_path / "cache", progress=lambda d, t: calls.append((d, t)))
    assert features.path.parent == tmp_path / "cache" / "features"
    assert features.path.name.startswith("toy-")
    counts = [1, 3, 8, 4]  # 0.1 s padded; 16000 // 4240; 36800 // 4240; 19200 // 4240
    assert features.features.shape == (sum(counts), 32, 129)
    assert features.features.dtype == np.float32
    assert isinstance(features.features, np.memmap) and not features.features.flags.writeable
    assert list(features.index["stop"] - features.index["start"]) == counts
    for utterance_id, path in zip(corpus.table["utterance_id"], corpus.table["path"], strict=True):
        np.testing.assert_array_equal(features.utterance_rows(utterance_id), segment_spectrograms(load_audio(path)))
    assert features.skipped == []
    meta = features.meta
    assert meta["n_utterances"] == 4 and meta["n_rows"] == sum(counts)
    assert meta["config"] == make_frontend().to_dict() and meta["corpus"] == "toy"
    assert len(meta["content_fingerprint"]) == 64
    assert calls and calls[-1][0] == pytest.approx(calls[-1][1]) == pytest.approx(0.1 + 1.0 + 2.3 + 1.2, abs=1e-3)
    assert list(features.rows(["u3", "u0"])) == [12, 13, 14, 15, 0]
    assert entries(tmp_path / "cache") == [features.path.name]


def test_threads_and_one_job_give_identical_caches(corpus, tmp_path) -> None:
    one = build_features(corpus, cache_dir=tmp_path / "one", jobs=1)
    two = build_features(corpus, cache_dir=tmp_path / "two", jobs=2)
    np.testing.assert_array_equal(one.features, two.features)
    assert one.meta["content_fingerprint"] == two.meta["content_fingerprint"]


def test_second_build_reuses_the_cache_without_computing(corpus, tmp_path, monkeypatch) -> None:
    first = build_features(corpus, cache_dir=tmp_path / "cache")

    def no_compute(*args, **kwargs):
        raise AssertionError("the cache was recomputed")

    monkeypatch.setattr(Spectrogram, "compute", no_compute)
    monkeypatch.setattr(serbench.features.cache, "decode_audio", no_compute)
    again = build_features(corpus, cache_dir=tmp_path / "cache")
    assert again.path == first.path
    np.testing.assert_array_equal(again.features, first.features)
    assert again.meta == first.meta


def test_changes_select_a_new_cache_dir(corpus, tmp_path) -> None:
    cache = tmp_path / "cache"
    first = build_features(corpus, cache_dir=cache).path
    changed_config = build_features(corpus, make_frontend("spectrogram", {"segment_hop_ms": 132.5}), cache_dir=cache)
    assert changed_config.path != first and changed_config.features.shape[0] == 1 + 6 + 16 + 8

    added = with_rows(corpus, [row("u9", write_wav(corpus.root / "wav" / "u9.wav", 0.5))])
    assert build_features(added, cache_dir=cache).path not in (first, changed_config.path)

    relabelled = corpus.table.copy()
    relabelled.loc[0, "emotion"] = "sadness"
    assert build_features(Corpus("toy", corpus.root, relabelled), cache_dir=cache).path != first

    old_bytes = Path(corpus.table["path"][1]).read_bytes()
    write_wav(Path(corpus.table["path"][1]), 1.5)  # same file, new audio
    rebuilt = build_features(corpus, cache_dir=cache)
    assert rebuilt.path != first and rebuilt.meta["n_rows"] == 1 + 5 + 8 + 4
    assert (first / "meta.json").is_file()  # older caches stay complete for runs that used them

    Path(corpus.table["path"][1]).write_bytes(old_bytes)
    restored = build_features(corpus, cache_dir=cache)
    assert restored.meta["content_fingerprint"] == FeatureSet.load(first).meta["content_fingerprint"]
    assert not any(name.startswith(TEMP_PREFIX) for name in entries(cache))


def test_moving_the_corpus_folder_keeps_the_cache(corpus, tmp_path, monkeypatch) -> None:
    first = build_features(corpus, cache_dir=tmp_path / "cache")
    moved_root = tmp_path / "moved"
    os.rename(corpus.root, moved_root)
    table = corpus.table.copy()
    table["path"] = [str(moved_root / Path(path).relative_to(corpus.root)) for path in table["path"]]
    monkeypatch.setattr(Spectrogram, "compute", None)  # any computing would fail
    assert build_features(Corpus("toy", moved_root, table), cache_dir=tmp_path / "cache").path == first.path


def test_cache_root_override_then_environment_then_home(corpus, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SERBENCH_CACHE", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "serbench"
    monkeypatch.setenv("SERBENCH_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "flag") == tmp_path / "flag"
    assert build_features(corpus).path.parent == tmp_path / "env" / "features"
    assert build_features(corpus, cache_dir=str(tmp_path / "flag")).path.parent == tmp_path / "flag" / "features"


def test_an_unwritable_cache_root_is_a_clear_error(corpus, tmp_path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(SerbenchError, match="cannot write the feature cache") as caught:
        build_features(corpus, cache_dir=not_a_folder)
    assert "--cache-dir" in str(caught.value)


def test_bad_audio_is_named_or_skipped_and_saved(tmp_path) -> None:
    read_problem = Problem("/labels.txt", "unparsable line", line=3)
    corpus = make_corpus(tmp_path / "toy", problems=[read_problem])
    bad = Path(corpus.table["path"][2])
    bad.write_bytes(b"RIFF this is no longer a wav file")
    cache = tmp_path / "cache"

    with pytest.raises(SerbenchError) as caught:
        build_features(corpus, cache_dir=cache)
    assert str(bad) in str(caught.value) and "--skip-bad" in str(caught.value)
    assert entries(cache) == []  # nothing half-built is left behind

    features = build_features(corpus, cache_dir=cache, skip_bad=True)
    assert [p.path for p in features.skipped] == ["/labels.txt", str(bad)]
    assert list(features.index["utterance_id"]) == ["u0", "u1", "u3"]
    saved = json.loads((features.path / "skipped.json").read_text())
    assert saved["corpus"] == [read_problem.as_dict()]
    assert [p["path"] for p in saved["audio"]] == [str(bad)]
    assert features.meta["n_skipped"] == 1

    with pytest.raises(SerbenchError, match="--skip-bad"):  # the cached skip list is not a way round the error
        build_features(corpus, cache_dir=cache)


def test_files_failing_only_when_decoded_are_dropped_cleanly(corpus, tmp_path) -> None:
    nan_path = corpus.root / "wav" / "nan.wav"
    sf.write(nan_path, np.full(8000, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")  # header is fine
    corpus = with_rows(corpus, [row("u1a", str(nan_path))])  # sorts between u1 and u2
    features = build_features(corpus, cache_dir=tmp_path / "cache", skip_bad=True)
    assert [p.path for p in features.skipped] == [str(nan_path)]
    assert features.features.shape[0] == 1 + 3 + 8 + 4
    for utterance_id, path in zip(corpus.table["utterance_id"], corpus.table["path"], strict=True):
        if path != str(nan_path):
            np.testing.assert_array_equal(features.utterance_rows(utterance_id),
                                          segment_spectrograms(load_audio(path)))
    with pytest.raises(SerbenchError, match="not in this feature cache"):
        features.utterance_rows("u1a")


BUILDER = """
import pickle, sys, time
from pathlib import Path
import serbench.features.cache
from serbench.features.frontends.spectrogram import Spectrogram
corpus = pickle.loads(Path(sys.argv[1]).read_bytes())
if sys.argv[3] == "slow":
    compute = Spectrogram.compute
    def slow(*args, **kwargs):
        time.sleep(0.5)
        return compute(*args, **kwargs)
    Spectrogram.compute = slow
go = Path(sys.argv[2]) / "go"
while not go.exists():
    time.sleep(0.01)
print(serbench.features.cache.build_features(corpus, cache_dir=sys.argv[2], jobs=1).path)
"""


def start_builder(corpus: Corpus, cache: Path, mode: str) -> subprocess.Popen:
    pickled = cache.parent / "corpus.pickle"
    pickled.write_bytes(pickle.dumps(corpus))
    return subprocess.Popen([sys.executable, "-c", BUILDER, str(pickled), str(cache), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_builders_end_with_one_complete_cache(corpus, tmp_path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    builders = [start_builder(corpus, cache, "fast") for _ in range(2)]
    (cache / "go").touch()  # both have imported everything: now they race
    outputs = [builder.communicate(timeout=120) for builder in builders]
    assert [builder.returncode for builder in builders] == [0, 0], outputs
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1
    assert entries(cache) == [Path(paths.pop()).name]
    mine = build_features(corpus, cache_dir=cache)
    assert mine.path.name == entries(cache)[0]
    assert mine.meta["n_utterances"] == 4


def test_killed_builder_leaves_no_cache_and_the_next_build_succeeds(corpus, tmp_path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    builder = start_builder(corpus, cache, "slow")  # 0.5 s per utterance: at least 2 s of building
    (cache / "go").touch()
    deadline = time.monotonic() + 60
    while not (cache / "features").is_dir() or not any(
            name.startswith(TEMP_PREFIX) for name in entries(cache)):
        assert builder.poll() is None and time.monotonic() < deadline, builder.communicate()
        time.sleep(0.02)
    os.kill(builder.pid, signal.SIGKILL)
    builder.wait()
    left = entries(cache)
    assert len(left) == 1 and left[0].startswith(TEMP_PREFIX)  # a temp dir, never a final one

    features = build_features(corpus, cache_dir=cache)
    assert entries(cache) == [features.path.name]  # the dead builder's temp dir was cleaned
    assert features.meta["n_utterances"] == 4
    np.testing.assert_array_equal(features.utterance_rows("u2"),
                                  segment_spectrograms(load_audio(corpus.table["path"][2])))


def test_a_live_builders_temp_dir_is_left_alone(corpus, tmp_path) -> None:
    features_dir = tmp_path / "cache" / "features"
    live = features_dir / f"{TEMP_PREFIX}{os.getpid()}-{host_tag()}-abcd1234-toy-x"
    live.mkdir(parents=True)
    build_features(corpus, cache_dir=tmp_path / "cache")
    assert live.is_dir()


@pytest.mark.parametrize("other", ["another corpus", "other settings"])
def test_a_cache_folder_built_for_another_request_is_refused(corpus, tmp_path, other) -> None:
    cache = tmp_path / "cache"
    asked = build_features(corpus, cache_dir=cache).path
    if other == "another corpus":  # same table, same key: only the corpus in meta.json tells them apart
        foreign = build_features(Corpus("savee", corpus.root, corpus.table), cache_dir=cache).path
        expected = "corpus 'savee', not 'toy'"
    else:
        foreign = build_features(corpus, make_frontend("spectrogram", {"segment_hop_ms": 132.5}), cache_dir=cache).path
        expected = f"config_hash {json.loads((foreign / 'meta.json').read_text())['config_hash']!r}, not " \
                   f"{make_frontend().hash()!r}"
    shutil.rmtree(asked)
    shutil.copytree(foreign, asked)  # whole and matching its checksums, but another request's
    with pytest.raises(SerbenchError, match="this feature cache was not built for this request") as error:
        build_features(corpus, cache_dir=cache)
    assert expected in str(error.value) and str(asked) in str(error.value)
    assert "delete this directory; the next run rebuilds it" in str(error.value)
