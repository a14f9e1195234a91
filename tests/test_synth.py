"""The synthetic stand-ins: layouts the readers accept, determinism, per-corpus caching, and realism (issue 3).

Realism is checked with a simple classifier (logistic regression on mean + std pooled log spectra of the
front-end's segments, speaker-independent folds), not the paper's model."""

from __future__ import annotations

import errno
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from serbench.cli import main
from serbench.data.audio import load_audio
from serbench.data.corpora import read_corpus
from serbench.data.labels import apply_task, get_task
from serbench.data.synth import (
    CORPUS_NAMES,
    GENERATOR_VERSION,
    MARKER,
    PAPER_CORPORA,
    TRUTH,
    is_synthetic,
    synthesize,
    synthetic_corpus,
    synthetic_data,
)
from serbench.data.synth.corpora import SPECS, allocate, plan_corpus
from serbench.data.synth.voice import render
from serbench.data.synth.writers import PLACE, TESS_FOLDERS
from serbench.errors import SerbenchError
from serbench.features.frontends.spectrogram import segment_spectrograms
from serbench.files import INCOMPLETE, TEMP_PREFIX, host_tag
from serbench.metrics import ua

SCALE = 0.02  # the paper's four: ~470 utterances, about 10 s to generate on two cores
NEW_CORPORA = ("ravdess", "crema-d", "tess", "emovo")


@pytest.fixture(scope="module")
def one_thread():
    """Small torch problems run far faster on one thread, above all on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    return synthetic_data(SCALE, seed=0, cache_dir=tmp_path_factory.mktemp("cache"), jobs=2)


@pytest.fixture(scope="module")
def table(roots) -> pd.DataFrame:
    return pd.concat([read_corpus(name, root).table for name, root in roots.items()], ignore_index=True)


@pytest.fixture(scope="module")
def features(table, one_thread) -> np.ndarray:
    def pooled(path: str) -> np.ndarray:
        frames = segment_spectrograms(load_audio(path, 16_000))
        frames = frames.reshape(-1, frames.shape[-1])
        return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])

    return np.stack([pooled(path) for path in table["path"]])


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- layout and labels --------------------------------------------------------------------------------

def test_readers_read_every_generated_utterance(roots, table):
    assert list(roots) == list(PAPER_CORPORA)
    for name, root in roots.items():
        read = table[table["corpus"] == name]
        expected = pd.read_csv(root.parent / TRUTH)  # each corpus is a set of its own, with its ground truth
        assert set(expected["corpus"]) == {name}
        assert len(read) == len(expected) > 0
        assert read["speaker"].nunique() == len(SPECS[name].speakers)
        assert sorted(read["emotion_code"]) == sorted(expected["emotion_code"].astype(str))
        assert set(read["gender"]) == {g for _, g, _ in SPECS[name].speakers}
        assert is_synthetic(root)


def test_layouts_follow_the_releases(roots, table):
    iemocap = table[table["corpus"] == "iemocap"]
    # the speaker is the last field's letter, not the one after SesNN: both kinds of dialogue occur
    mixed = iemocap[iemocap["utterance_id"].str[5] != iemocap["utterance_id"].str.split("_").str[-1].str[0]]
    assert len(mixed) > 0
    assert (iemocap["gender"] == iemocap["utterance_id"].str.split("_").str[-1].str[0]).all()
    assert set(iemocap["emotion_code"]) >= {"ang", "hap", "exc", "sad", "neu", "fru", "xxx"}
    assert (roots["msp-improv"] / "Evalution.txt").is_file()
    assert (roots["emodb"] / "erkennung.txt").read_bytes().startswith(b"Nr.\tSatz\terkannt\tnatuerlich\n")
    rates = {"iemocap": 16_000, "msp-improv": 44_100, "savee": 44_100, "emodb": 16_000}
    for name, rate in rates.items():
        path = table.loc[table["corpus"] == name, "path"].iloc[0]
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (rate, 1, "PCM_16")
        assert 1.0 < info.duration < 6.0


def test_sizes_scale_with_the_real_corpora():
    assert allocate({"a": 1.0, "b": 1.0, "c": 2.0}, 7) == {"a": 2, "b": 2, "c": 3}
    sizes = {name: len(plan_corpus(name, 1.0, 0)) for name in CORPUS_NAMES}
    assert sizes == {"iemocap": 10_039, "msp-improv": 8_438, "savee": 480, "emodb": 535, "ravdess": 1_440,
                     "crema-d": 7_442, "tess": 2_800, "emovo": 588}
    four_class = sum(u.code in ("ang", "hap", "exc", "sad", "neu") for u in plan_corpus("iemocap", 1.0, 0))
    assert four_class == 5_531


def test_the_full_designs_are_full_at_scale_one():
    placed = {name: PLACE[name](plan_corpus(name, 1.0, 0), 0) for name in NEW_CORPORA}
    for items in placed.values():
        assert len({item.relpath for item in items}) == len(items)
    ravdess = pd.Series([item.utterance.speaker.name for item in placed["ravdess"]]).value_counts()
    assert (ravdess == 60).all() and len(ravdess) == 24  # 4 neutral + 7 emotions x 2 intensities x 4 takes
    tess = {(item.utterance.speaker.name, item.utterance.code): item for item in placed["tess"]}
    assert len(tess) == 14 and len(placed["tess"]) == 2_800
    names = {Path(item.relpath).stem for item in placed["crema-d"]}
    assert {"1001_IEO_ANG_LO", "1001_IEO_NEU_XX", "1091_WSI_SAD_XX"} <= names
    assert not any(name.endswith(("NEU_LO", "NEU_MD", "NEU_HI")) or ("_IEO_" not in name and not name.endswith("XX"))
                   for name in names)
    assert len(placed["emovo"]) == 6 * 7 * 14
    with pytest.raises(SerbenchError, match="full design"):
        PLACE["emovo"](plan_corpus("emovo", 1.5, 0), 0)


# --- determinism and the cache ------------------------------------------------------------------------

def test_same_seed_same_bytes_whatever_the_workers(roots, tmp_path):
    again = synthesize(tmp_path / "again", scale=SCALE, seed=0, jobs=1, corpora=["savee", "emodb"])
    for name in ("savee", "emodb"):
        assert file_hashes(again[name]) == file_hashes(roots[name])


def test_another_seed_other_audio(roots, tmp_path):
    other = synthesize(tmp_path / "other", scale=SCALE, seed=1, jobs=1, corpora=["savee"])
    ours, theirs = file_hashes(roots["savee"]), file_hashes(other["savee"])
    assert ours.keys() == theirs.keys()
    assert ours["AudioData/DC/a01.wav"] != theirs["AudioData/DC/a01.wav"]


def test_cache_is_reused_and_refuses_to_overwrite(roots):
    cache_dir = roots["savee"].parents[4]  # <cache>/synthetic/v<n>/scale-<s>-seed-<n>/savee/SAVEE
    marker = roots["savee"].parent / MARKER
    stamp = marker.stat().st_mtime_ns
    assert synthetic_data(SCALE, seed=0, cache_dir=cache_dir) == roots
    assert marker.stat().st_mtime_ns == stamp
    assert not [p for p in marker.parent.parent.iterdir() if p.name.startswith(".")]  # no temporary left
    with pytest.raises(SerbenchError, match="already exists"):
        synthesize(marker.parent, scale=SCALE, corpora=["savee"])


def test_each_stand_in_is_generated_when_first_asked_for(roots):
    # The paper's four are in the cache; asking for TESS as well generates TESS alone and reuses the others.
    base = roots["savee"].parents[1]
    stamp = (roots["savee"].parent / MARKER).stat().st_mtime_ns
    assert sorted(p.name for p in base.iterdir()) == sorted(PAPER_CORPORA)
    both = synthetic_data(SCALE, seed=0, cache_dir=base.parents[2], corpora=["savee", "tess"], jobs=2)
    assert both["savee"] == roots["savee"] and (roots["savee"].parent / MARKER).stat().st_mtime_ns == stamp
    assert both["tess"] == base / "tess" / "TESS Toronto emotional speech set data" and is_synthetic(both["tess"])
    assert sorted(p.name for p in base.iterdir()) == sorted([*PAPER_CORPORA, "tess"])
    assert set(pd.read_csv(base / "tess" / TRUTH)["corpus"]) == {"tess"}
    seen = []
    again = synthetic_corpus("tess", SCALE, cache_dir=base.parents[2], progress=lambda *n: seen.append(n))
    assert again == both["tess"] and not seen  # reused: nothing generated, no progress


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(SerbenchError, match="no synthetic stand-in"):
        synthesize(tmp_path, corpora=["msp-podcast"])
    with pytest.raises(SerbenchError, match="scale must be positive"):
        synthesize(tmp_path, scale=0)
    with pytest.raises(SerbenchError, match="full design"):
        synthesize(tmp_path / "big", scale=2, corpora=["tess"])
    assert not (tmp_path / "big").exists()  # refused before anything was written


# --- realism ------------------------------------------------------------------------------------------

def fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, n_classes: int) -> np.ndarray:
    """Class-balanced, L2-regularised logistic regression on standardised features, full batch."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    xtr = torch.tensor((x_train - mean) / std, dtype=torch.float32)
    xte = torch.tensor((x_test - mean) / std, dtype=torch.float32)
    ytr = torch.tensor(y_train)
    weight = torch.tensor(len(y_train) / (n_classes * np.bincount(y_train, minlength=n_classes).clip(1)),
                          dtype=torch.float32)
    torch.manual_seed(0)
    model = torch.nn.Linear(xtr.shape[1], n_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xtr), ytr, weight=weight) + 1e-2 * model.weight.square().sum()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return model(xte).argmax(dim=1).numpy()


def labelled(table: pd.DataFrame, features: np.ndarray, corpus: str, task: str):
    rows = table[table["corpus"] == corpus]
    used = apply_task(rows, get_task(task)).table
    index = pd.Series(rows.index, index=rows["utterance_id"])[used["utterance_id"]].to_numpy()
    return features[index], used["y"].to_numpy(), used["speaker"].to_numpy()


def speaker_independent_ua(x: np.ndarray, y: np.ndarray, speakers: np.ndarray, folds: int = 5) -> float:
    """UA over predictions pooled from folds that never share a speaker between training and test."""
    names = sorted(set(speakers))
    predicted = np.zeros_like(y)
    for fold in range(folds):
        test = np.isin(speakers, names[fold::folds])
        predicted[test] = fit_predict(x[~test], y[~test], x[test], int(y.max()) + 1)
    return ua(y, predicted)


@pytest.fixture(scope="module")
def within(table, features) -> dict[tuple[str, str], float]:
    return {(corpus, task): speaker_independent_ua(*labelled(table, features, corpus, task))
            for corpus in PAPER_CORPORA for task in ("arousal", "valence")}


def test_arousal_is_learnable_and_valence_harder(within):
    for corpus in ("iemocap", "emodb"):
        assert within[corpus, "arousal"] >= 0.8
    arousal = np.mean([within[c, "arousal"] for c in PAPER_CORPORA])
    valence = np.mean([within[c, "valence"] for c in PAPER_CORPORA])
    assert arousal >= 0.8
    assert 0.57 <= valence <= arousal - 0.1


def test_the_shift_between_corpora_is_real(table, features, within):
    for task in ("arousal", "valence"):
        x_train, y_train, _ = labelled(table, features, "iemocap", task)
        cross = []
        for corpus in ("msp-improv", "savee", "emodb"):
            x_test, y_test, _ = labelled(table, features, corpus, task)
            cross.append(ua(y_test, fit_predict(x_train, y_train, x_test, 2)))
        assert np.mean(cross) <= within["iemocap", task] - 0.08


def test_corpus_and_gender_are_predictable(table, features):
    speakers = table["speaker"].to_numpy()
    corpus = pd.Categorical(table["corpus"]).codes.astype(np.int64)
    gender = (table["gender"] == "F").to_numpy().astype(np.int64)
    assert speaker_independent_ua(features, corpus, speakers, folds=4) >= 0.9
    assert speaker_independent_ua(features, gender, speakers, folds=4) >= 0.85


def test_a_killed_generation_is_refused_and_its_temporaries_are_removed(tmp_path, monkeypatch):
    # What `serbench data synth --out D` killed midway leaves: audio without the set's markers, and the
    # generator's "incomplete" note. Reading it as a corpus is refused; a later generation cleans up.
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("serbench.data.synth.WRITE", {name: killed for name in CORPUS_NAMES})
    with pytest.raises(KeyboardInterrupt):
        synthesize(tmp_path / "half", scale=0.002, corpora=["emodb"], jobs=1)
    assert (tmp_path / "half" / INCOMPLETE).is_file() and not is_synthetic(tmp_path / "half")
    with pytest.raises(SerbenchError, match="an incomplete synthetic set") as raised:
        read_corpus("emodb", tmp_path / "half" / "emodb")
    assert "generate it again" in raised.value.hint
    monkeypatch.undo()
    base = tmp_path / "cache" / "synthetic" / f"v{GENERATOR_VERSION}" / "scale-0.002-seed-0"
    base.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = base / f"{TEMP_PREFIX}{dead.stdout.strip()}-{host_tag()}-abcd1234-emodb"
    stale.mkdir()
    synthetic_corpus("emodb", scale=0.002, cache_dir=tmp_path / "cache", jobs=1)
    assert not stale.exists() and [p.name for p in base.iterdir()] == ["emodb"]


# --- the stand-ins beyond the paper ---------------------------------------------------------------------

def quiet(lang, channel, voice, style, duration_s, seed) -> np.ndarray:
    """A stand-in for the voice where only the layout matters: silence of a tenth of the length."""
    return np.zeros(int(duration_s * channel.sample_rate) // 10, dtype=np.int16)


@pytest.fixture(scope="module")
def new_roots(tmp_path_factory) -> dict[str, Path]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("serbench.data.synth.render", quiet)
        return synthesize(tmp_path_factory.mktemp("new"), scale=0.002, seed=0, jobs=1, corpora=NEW_CORPORA)


@pytest.mark.parametrize("name", NEW_CORPORA)
def test_the_readers_read_the_new_stand_ins(new_roots, name):
    corpus = read_corpus(name, new_roots[name])
    truth = pd.read_csv(new_roots[name].parent / TRUTH)
    expected = truth[truth["corpus"] == name].sort_values("utterance_id")
    assert corpus.problems == [] and len(corpus.table) == len(expected) > 0
    assert list(corpus.table["utterance_id"]) == list(expected["utterance_id"])
    assert list(corpus.table["emotion"]) == list(expected["emotion"])
    assert list(corpus.table["gender"]) == list(expected["gender"])
    assert corpus.table["speaker"].nunique() == len(SPECS[name].speakers)
    assert set(corpus.table["emotion"]) == set(SPECS[name].emotions.values())  # every emotion, even at 0.002
    assert set(corpus.table["locale"]) == {SPECS[name].language.tag}
    assert is_synthetic(new_roots[name])


def test_the_new_stand_ins_keep_the_releases_quirks(new_roots):
    tess = new_roots["tess"]
    assert {p.name for p in tess.iterdir() if p.is_dir()} == {f for folders in TESS_FOLDERS.values()
                                                               for f in folders.values()}
    assert (tess / "OAF_neutral" / "OA_bite_neutral.wav").is_file()  # the release's misnamed file
    assert sf.info(tess / "OAF_Fear" / "OAF_food_fear.wav").samplerate == 96_000  # its one 96 kHz file
    assert sf.info(next((tess / "YAF_pleasant_surprised").iterdir())).samplerate == 24_414
    demographics = pd.read_csv(new_roots["crema-d"] / "VideoDemographics.csv")
    assert list(demographics.columns) == ["ActorID", "Age", "Sex", "Race", "Ethnicity"]
    assert len(demographics) == 91 and (demographics["Sex"] == "Male").sum() == 48
    votes = read_corpus("crema-d-voice", new_roots["crema-d"])  # the crowd's votes, ties as no agreement
    assert votes.problems == [] and len(votes.table) == len(read_corpus("crema-d", new_roots["crema-d"]).table)
    assert "no_agreement" in set(votes.table["emotion"])
    ravdess = list(new_roots["ravdess"].glob("Actor_*/*.wav"))
    assert all(p.name.startswith("03-01-") and p.stem[-2:] == p.parent.name[-2:] for p in ravdess)
    normal = {(p.parent.name, p.name[6:11]) for p in ravdess if p.name[9:11] == "01"}
    assert len(normal) == 24 * 8  # every actor keeps each emotion at normal intensity
    assert (new_roots["emovo"] / "f1").is_dir() and (new_roots["emovo"] / "documents").is_dir()


@pytest.mark.parametrize("name", NEW_CORPORA)
def test_the_new_stand_ins_render_at_their_native_rates(name):
    spec = SPECS[name]
    utterance = plan_corpus(name, 0.002, 0)[0]
    audio = render(spec.language, utterance.speaker.channel, utterance.speaker.voice, utterance.style,
                   utterance.duration_s, 0)
    assert audio.dtype == np.int16 and 0.9 < len(audio) / spec.channel.sample_rate / utterance.duration_s < 1.5
    level = 20 * np.log10(np.sqrt(np.mean(audio.astype(float) ** 2)) / 32768)
    assert -45 < level < -10



@pytest.mark.parametrize("what", ["audio", "label files"])
def test_a_full_cache_disk_while_generating_is_a_clear_error(tmp_path, monkeypatch, capsys, what):
    # libsndfile reports a full disk as a bare "System error" (LibsndfileError, not an OSError); Python's own
    # writes (the label files) as ENOSPC
    def full_disk(path, *args, **kwargs):
        if what == "audio":
            raise sf.LibsndfileError(2, f"Error opening {str(path)!r}: ")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("serbench.data.synth.render", quiet)
    monkeypatch.setattr("serbench.data.synth._default_jobs", lambda: 1)  # the writer patched here is the one used
    if what == "audio":
        monkeypatch.setattr("serbench.data.synth.sf.write", full_disk)
    else:
        monkeypatch.setattr("serbench.data.synth.WRITE", {name: full_disk for name in CORPUS_NAMES})
    status = main(["run", "--method", "baseline_s", "--protocol", "cross", "--data", "synthetic", "--cache-dir",
                   str(tmp_path / "cache"), "--results", str(tmp_path / "results"), "--seeds", "1", "--device", "cpu"])
    output = " ".join(capsys.readouterr().err.split())
    base = tmp_path / "cache" / "synthetic" / f"v{GENERATOR_VERSION}" / "scale-0.02-seed-0"
    assert status == 2 and "Traceback" not in output
    assert f"{base}: cannot write the synthetic set (" in output and "MiB free there)" in output
    assert "what to do: free disk space there, or point --cache-dir or $SERBENCH_CACHE at a writable folder" in output
    assert list(base.iterdir()) == []  # the temporary set is gone
    with pytest.raises(SerbenchError, match="cannot write the synthetic set") as raised:  # `serbench data synth`
        synthesize(tmp_path / "out", scale=0.002, corpora=["emodb"], jobs=1)
    assert raised.value.path == str(tmp_path / "out") and "write the set to a folder with room" in raised.value.hint
