"""Damaged files are detected, never used: checksums of feature caches and run folders, truncated audio,
`serbench verify`, `serbench prune`, and variants of a method as rows of their own."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from corpus_trees import make_emodb
from test_store import scored

from serbench.cli import main
from serbench.data.corpora import read_corpus
from serbench.errors import SerbenchError
from serbench.features.cache import FeatureSet, build_features
from serbench.integrity import BLOCK, BLOCKS, CHECKSUMS, damage, write_checksums
from serbench.runs.store import ResultsStore


def serbench(capsys, *words: str) -> tuple[int, str]:
    status = main(list(words))
    captured = capsys.readouterr()
    return status, " ".join((captured.out + captured.err).split())  # the console wraps long lines


# ------------------------------------------------------------------------------------------------- checksums

def test_checksums_find_every_kind_of_damage(tmp_path):
    (tmp_path / "small.json").write_text('{"ua": 0.5}')
    big = np.random.default_rng(0).bytes(BLOCK * BLOCKS * 3)  # larger than a sample: the quick check samples it
    (tmp_path / "big.npy").write_bytes(big)
    write_checksums(tmp_path)
    assert damage(tmp_path) == [] and damage(tmp_path, full=False) == []
    (tmp_path / "small.json").write_text('{"ua": 0.9}')  # same size, other content: small files are read whole
    assert damage(tmp_path, full=False) == ["small.json differs from its checksum"]
    (tmp_path / "small.json").write_text('{"ua": 0.5}')
    changed = bytearray(big)
    changed[0] ^= 1  # inside the first sampled block
    (tmp_path / "big.npy").write_bytes(bytes(changed))
    assert damage(tmp_path, full=False) == ["big.npy differs from its checksum"]
    changed = bytearray(big)
    changed[BLOCK + 10] ^= 1  # between two sampled blocks: only the full check reads it
    (tmp_path / "big.npy").write_bytes(bytes(changed))
    assert damage(tmp_path, full=False) == [] and damage(tmp_path) == ["big.npy differs from its checksum"]
    (tmp_path / "big.npy").write_bytes(big[:-1])
    assert damage(tmp_path, full=False) == [f"big.npy has {len(big) - 1} bytes, not {len(big)}"]
    (tmp_path / "big.npy").unlink()
    (tmp_path / "stray.txt").write_text("")
    assert damage(tmp_path) == ["big.npy is missing", f"stray.txt is not listed in {CHECKSUMS}"]
    (tmp_path / CHECKSUMS).write_text("{")
    assert damage(tmp_path) == [f"its {CHECKSUMS} is damaged"]
    (tmp_path / CHECKSUMS).unlink()
    assert "has no checksums.json" in damage(tmp_path)[0]


# -------------------------------------------------------------------------------------------- feature caches

@pytest.fixture
def cache(tmp_path):
    tree = make_emodb(tmp_path / "emodb", seconds=2.0)
    features = build_features(read_corpus("emodb", tree.root), cache_dir=tmp_path / "cache", jobs=1)
    return tree, features.path


def overwrite_features(path, values: np.ndarray | None = None) -> None:
    """Overwrite features.npy's data (not its header) with random bytes, or with `values`."""
    array = np.load(path / "features.npy", mmap_mode="r+")
    if values is None:
        array.view(np.uint8)[...] = np.random.default_rng(1).integers(0, 256, array.nbytes, np.uint8).reshape(
            array.view(np.uint8).shape)
    else:
        array[...] = values
    array.flush()


@pytest.mark.parametrize("damage_kind", ["random bytes", "NaN", "shifted index", "truncated index", "no checksums"])
def test_a_damaged_cache_is_refused_with_how_to_rebuild(cache, damage_kind):
    _, path = cache
    if damage_kind == "random bytes":
        overwrite_features(path)
    elif damage_kind == "NaN":
        overwrite_features(path, np.nan)
    elif damage_kind == "shifted index":
        index = pd.read_parquet(path / "index.parquet")
        index[["utterance_id", "sha256"]] = index[["utterance_id", "sha256"]].shift(1, fill_value="x")
        index.to_parquet(path / "index.parquet", index=False)
    elif damage_kind == "truncated index":
        data = (path / "index.parquet").read_bytes()
        (path / "index.parquet").write_bytes(data[:len(data) // 2])
    else:
        (path / CHECKSUMS).unlink()
    with pytest.raises(SerbenchError, match="feature cache") as error:
        FeatureSet.load(path)
    assert str(path) in str(error.value) and "the next run rebuilds it" in str(error.value)


def test_an_index_that_does_not_tile_the_rows_is_refused(cache):
    _, path = cache
    index = pd.read_parquet(path / "index.parquet")
    index["start"] += 1
    index.to_parquet(path / "index.parquet", index=False)
    write_checksums(path)  # even with checksums that match, the index must make sense
    with pytest.raises(SerbenchError, match="its index does not tile the feature rows"):
        FeatureSet.load(path)


def test_the_full_checks_refuse_non_finite_features_chunk_by_chunk(cache, tmp_path, capsys, monkeypatch):
    tree, path = cache
    array = np.load(path / "features.npy", mmap_mode="r+")
    array[-1, 0, 0] = np.inf  # in the last row: every chunk is read
    array.flush()
    write_checksums(path)  # checksums recomputed over the bad features agree with them
    utterance = pd.read_parquet(path / "index.parquet")["utterance_id"].iloc[-1]
    monkeypatch.setattr("serbench.features.cache.CHUNK_BYTES", array[0].nbytes * 3)  # a few rows at a time
    assert FeatureSet.load(path).features.shape == array.shape  # the quick check on every open reads no rows
    with pytest.raises(SerbenchError, match=rf"features.npy holds NaN or infinite values \(row {len(array) - 1}, "
                                            rf"utterance {utterance}\)") as error:
        FeatureSet.load(path, full=True)
    assert str(path) in str(error.value) and "the next run rebuilds it" in str(error.value)
    status, output = serbench(capsys, "data", "check", "--corpus", "emodb", "--root", str(tree.root), "--cache-dir",
                              str(tmp_path / "cache"))
    assert status == 1 and f"{path}: damaged feature cache: features.npy holds NaN" in output
    assert "Traceback" not in output


def test_data_check_and_verify_read_caches_in_full(cache, tmp_path, capsys):
    tree, path = cache
    words = ["--corpus", "emodb", "--root", str(tree.root), "--cache-dir", str(tmp_path / "cache")]
    status, output = serbench(capsys, "data", "check", *words)
    assert status == 0 and "1 feature caches checked, 0 problem(s)" in output
    array = np.load(path / "features.npy", mmap_mode="r+")
    array.reshape(-1)[100] += 1
    array.flush()
    status, output = serbench(capsys, "data", "check", *words)
    assert status == 1 and f"{path}: damaged feature cache: features.npy differs from its checksum" in output
    (tmp_path / "results").mkdir()
    status, output = serbench(capsys, "verify", "--results", str(tmp_path / "results"), "--cache", "--cache-dir",
                              str(tmp_path / "cache"))
    assert status == 1 and "1 feature cache checked" in output and "1 damaged" in output and str(path) in output


def test_a_truncated_wav_fails_data_check(tmp_path, capsys):
    tree = make_emodb(tmp_path / "emodb")
    cut = tree.audio(tree.ids[0])
    data = cut.read_bytes()
    cut.write_bytes(data[:len(data) // 2])  # soundfile alone would read the half that is left
    status, output = serbench(capsys, "data", "check", "--corpus", "emodb", "--root", str(tree.root),
                              "--cache-dir", str(tmp_path / "cache"))
    assert status == 1 and f"{cut}: audio file is truncated" in output and "Traceback" not in output


# ------------------------------------------------------------------------------------------------ run folders

def damaged_store(root) -> ResultsStore:
    store = ResultsStore(root)
    for run_id in ("good", "edited"):
        store.write_run(run_id, *scored(run_id, identity={"hparams": {"gamma": 0.5}}, seed=2))
    path = store.runs / "edited" / "record.json"
    data = json.loads(path.read_text())
    data["seed"] = 3
    path.write_text(json.dumps(data))
    store.write_failure("crashed", {"method": "x"}, "Traceback...\nValueError: boom")
    return store


def test_verify_lists_damaged_runs(tmp_path, capsys):
    store = damaged_store(tmp_path / "results")
    status, output = serbench(capsys, "verify", "--results", str(store.root))
    assert status == 1 and "2 runs checked" in output and "1 damaged" in output
    assert f"damaged {store.runs / 'edited'}: run folder damaged: record.json" in output
    assert "serbench prune --damaged" in output
    with pytest.raises(SerbenchError, match="1 damaged run folder"):
        store.records()
    status, output = serbench(capsys, "verify", "--results", str(tmp_path / "nowhere"))
    assert status == 2 and "no results store here" in output


def test_prune_lists_then_removes_what_matches(tmp_path, capsys):
    store = damaged_store(tmp_path / "results")
    status, output = serbench(capsys, "prune", "--results", str(store.root))
    assert status == 2 and "prune needs a filter" in output
    status, output = serbench(capsys, "prune", "--results", str(store.root), "--damaged", "--method", "x")
    assert status == 2 and "--damaged cannot be combined" in output
    status, output = serbench(capsys, "prune", "--results", str(store.root), "--damaged", "--failed")
    assert status == 0 and "would remove edited" in output and "would remove crashed" in output
    assert "2 runs match; pass --yes" in output and store.done_ids() == {"good", "edited"}
    status, output = serbench(capsys, "prune", "--results", str(store.root), "--damaged", "--failed", "--yes")
    assert status == 0 and "2 runs removed" in output
    assert store.done_ids() == {"good"} and store.failure("crashed") is None
    status, output = serbench(capsys, "prune", "--results", str(store.root), "--hp", "gamma=0.3")
    assert status == 0 and "0 runs match" in output
    status, output = serbench(capsys, "prune", "--results", str(store.root), "--hp", "gamma=0.5", "--seed", "2",
                              "--yes")
    assert status == 0 and "1 run removed" in output and store.done_ids() == set()


# --------------------------------------------------------------------------------------------------- variants

def test_hp_values_sweep_variants_that_stay_apart_up_to_the_leaderboard(tiny_releases, tmp_path, capsys):
    results, out = str(tmp_path / "results"), str(tmp_path / "boards")
    status, output = serbench(capsys, "run", "--method", "baseline_s", "--protocol", "cross", "--data",
                              str(tiny_releases), "--results", results, "--task", "arousal", "--seeds", "2",
                              "--preset", "small", "--device", "cpu", "--hp", "epochs=1,2")
    assert status == 0, output
    assert "4 runs, 0 already in" in output
    assert "baseline_s[epochs=1]" in output and "baseline_s[epochs=2]" in output  # the summary's rows
    status, output = serbench(capsys, "leaderboard", "--results", results, "--out", out)
    assert status == 2 and "the reference baseline_s has several variants here" in output
    status, output = serbench(capsys, "leaderboard", "--results", results, "--out", out, "--reference",
                              "baseline_s[epochs=2]")
    assert status == 0, output
    page = (tmp_path / "boards" / "cross-arousal.md").read_text()
    assert "| baseline\\_s\\[epochs=2\\] |" in page and "| baseline\\_s\\[epochs=1\\] |" in page
    status, output = serbench(capsys, "prune", "--results", results, "--hp", "epochs=1", "--yes")
    assert status == 0 and "2 runs removed" in output
    status, output = serbench(capsys, "leaderboard", "--results", results, "--out", out)
    assert status == 0, output
    assert "| baseline\\_s |" in (tmp_path / "boards" / "cross-arousal.md").read_text()


def test_a_repeated_or_empty_hp_value_is_refused(tmp_path, capsys):
    for value, message in (("0.1,0.1", "--hp gamma: the value 0.1 is given twice"),
                           ("0.1,", "--hp gamma=0.1,: an empty value")):
        status, output = serbench(capsys, "run", "--method", "dann2_s", "--protocol", "cross", "--data",
                                  str(tmp_path / "nowhere"), "--results", str(tmp_path / "r"), "--hp",
                                  f"gamma={value}")
        assert status == 2 and message in output


# ------------------------------------------------------------------------------- mix-ups checksums cannot see

def consistent_store(root, run_ids=("a", "b", "c", "d")) -> ResultsStore:
    store = ResultsStore(root)
    for seed, run_id in enumerate(run_ids):
        store.write_run(run_id, *scored(run_id, seed=seed, identity={"hparams": {"lr": 0.5, "gamma": 1}}))
    return store


def test_linked_or_exchanged_run_folders_are_damaged_everywhere(tmp_path, capsys):
    store = consistent_store(tmp_path / "results")
    results = str(store.root)
    shutil.rmtree(store.runs / "b")
    (store.runs / "b").symlink_to(store.runs / "a")
    os.rename(store.runs / "c", store.runs / "x")
    os.rename(store.runs / "d", store.runs / "c")
    os.rename(store.runs / "x", store.runs / "d")
    status, output = serbench(capsys, "verify", "--results", results)
    assert status == 1 and "4 runs checked" in output and "3 damaged" in output and "Traceback" not in output
    assert f"damaged {store.runs / 'b'}: run folder damaged: it is a symbolic link to {store.runs / 'a'}" in output
    assert f"damaged {store.runs / 'c'}: run folder damaged: its record is that of run d, not c" in output
    status, output = serbench(capsys, "status", "--results", results)
    assert status == 1 and "3 damaged" in output and "symbolic link" in output
    status, output = serbench(capsys, "leaderboard", "--results", results, "--out", str(tmp_path / "boards"))
    assert status == 2 and "3 damaged run folder(s)" in output and "Traceback" not in output
    assert all(str(store.runs / run_id) in output for run_id in "bcd")
    status, output = serbench(capsys, "prune", "--results", results, "--damaged", "--yes")
    assert status == 0 and "3 runs removed" in output
    assert store.done_ids() == {"a"} and store.record("a").run_id == "a"  # the link went, not its target


def test_verify_finds_a_record_edited_with_its_checksums_recomputed(tmp_path, capsys):
    store = consistent_store(tmp_path / "results", ("a",))
    path = store.runs / "a" / "record.json"
    data = json.loads(path.read_text())
    data["scores"]["emodb"]["ua"] = 0.999
    path.write_text(json.dumps(data))
    write_checksums(path.parent)
    status, output = serbench(capsys, "verify", "--results", str(store.root))
    assert status == 1 and "1 run checked" in output and "Traceback" not in output
    assert f"damaged {path.parent}: run folder damaged: the scores of emodb disagree with its confusion matrix: " \
           "ua 0.999, not 0.75" in output


def test_verify_and_prune_find_the_runs_built_from_a_damaged_cache(cache, tmp_path, capsys):
    _, path = cache
    meta = json.loads((path / "meta.json").read_text())
    store = ResultsStore(tmp_path / "results")
    frontend = {"name": "spectrogram", "hash": meta["config_hash"], "format": meta["format"]}
    for run_id, fingerprint in (("built", meta["content_fingerprint"]), ("other", "f" * 64)):
        store.write_run(run_id, *scored(run_id, identity={"data": {"emodb": fingerprint}, "frontend": frontend}))
    results, cache_dir = str(store.root), str(tmp_path / "cache")
    status, output = serbench(capsys, "verify", "--results", results, "--cache", "--cache-dir", cache_dir)
    assert status == 0 and "1 feature cache checked" in output
    overwrite_features(path, np.nan)
    status, output = serbench(capsys, "verify", "--results", results, "--cache", "--cache-dir", cache_dir)
    assert status == 1 and f"damaged {path}: damaged feature cache" in output
    assert "1 run of this store built from it: built" in output and "Traceback" not in output
    assert f"serbench prune --damaged --cache --results {results} --yes" in output
    status, output = serbench(capsys, "prune", "--results", results, "--cache", "--cache-dir", cache_dir)
    assert status == 2 and "--cache selects the runs built from a damaged feature cache" in output
    status, output = serbench(capsys, "prune", "--results", results, "--damaged", "--cache", "--cache-dir",
                              cache_dir)
    assert status == 0 and f"would remove built: built from the damaged feature cache {path}" in output
    assert "1 run matches" in output and store.done_ids() == {"built", "other"}
    status, output = serbench(capsys, "prune", "--results", results, "--damaged", "--cache", "--cache-dir",
                              cache_dir, "--yes")
    assert status == 0 and "1 run removed" in output and store.done_ids() == {"other"}


def test_prune_names_what_the_store_lacks_and_compares_hp_values(tmp_path, capsys):
    store = consistent_store(tmp_path / "results", ("a", "b"))
    results = str(store.root)
    status, output = serbench(capsys, "prune", "--results", results, "--method", "nosuch")
    assert status == 2 and "--method nosuch: no finished run of this store has this method" in output
    assert "the methods it holds: m" in output and "Traceback" not in output
    status, output = serbench(capsys, "prune", "--results", results, "--hp", "lrate=0.5")
    assert status == 2 and "--hp lrate: no finished run of this store has this hyperparameter" in output
    assert "the hyperparameters it holds: gamma, lr" in output
    status, output = serbench(capsys, "prune", "--results", results, "--hp", "lr=0.50", "--hp", "gamma=1")
    assert status == 0 and "would remove a" in output and "would remove b" in output and "2 runs match" in output
    status, output = serbench(capsys, "prune", "--results", results, "--hp", "lr=abc", "--seed", "0")
    assert status == 0 and "0 runs match" in output
    status, output = serbench(capsys, "prune", "--results", results, "--hp", "lr=5e-1", "--seed", "0", "--yes")
    assert status == 0 and "1 run removed" in output and store.done_ids() == {"b"}
