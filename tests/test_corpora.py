"""The corpus readers and the manifest reader on tiny trees in each release's exact format."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from corpus_trees import (
    Tree,
    make_emodb,
    make_iemocap,
    make_manifest,
    make_msp_improv,
    make_savee,
    write_wav,
)

from serbench.data.corpora import CORPORA, emodb, iemocap, msp_improv, read_corpus, savee
from serbench.data.corpora.schema import COLUMNS, make_table
from serbench.data.labels import EMOTIONS, apply_task, get_task
from serbench.errors import CorpusError

TREES: dict[str, Callable[[Path], Tree]] = {
    "iemocap": lambda root: make_iemocap(root / "IEMOCAP_full_release"),
    "msp-improv": lambda root: make_msp_improv(root / "MSP-IMPROV"),
    "msp-improv, Evaluation.txt, Audio/": lambda root: make_msp_improv(
        root / "MSP-IMPROV", label_file="Evaluation.txt", audio_dir="Audio"),
    "savee": lambda root: make_savee(root / "SAVEE"),
    "savee, flattened": lambda root: make_savee(root / "SAVEE", flat=True),
    "emodb": lambda root: make_emodb(root / "emodb"),
    "manifest": lambda root: make_manifest(root / "ravdess"),
}


def read(tree: Tree, **options: bool) -> pd.DataFrame:
    return read_corpus(tree.corpus, tree.root, **options).table


def row(table: pd.DataFrame, utterance: str) -> dict:
    return table.set_index("utterance_id").loc[utterance].to_dict()


# ------------------------------------------------------------------------------------------- good trees


@pytest.mark.parametrize("variant", TREES)
def test_reader_returns_the_expected_table(tmp_path: Path, variant: str) -> None:
    tree = TREES[variant](tmp_path)
    corpus = read_corpus(tree.corpus, tree.root)
    assert corpus.problems == []
    assert list(corpus.table.columns) == list(COLUMNS)
    pd.testing.assert_frame_equal(corpus.table, make_table(tree.rows.values()))
    assert set(corpus.table["emotion"]) <= set(EMOTIONS)


def test_registry_metadata() -> None:
    assert {name: info.release_dir for name, info in CORPORA.items()} == {
        "iemocap": "IEMOCAP_full_release", "msp-improv": "MSP-IMPROV", "savee": "SAVEE", "emodb": "emodb",
        "ravdess": "Audio_Speech_Actors_01-24", "crema-d": "CREMA-D", "crema-d-voice": "CREMA-D",
        "tess": "TESS Toronto emotional speech set data", "emovo": "EMOVO", "msp-podcast": "MSP-Podcast"}
    assert CORPORA["emodb"].languages == ("de",)
    assert CORPORA["savee"].languages == ("en-GB",)


@pytest.mark.parametrize("codes", [iemocap.CODES, msp_improv.CODES, savee.CODES, emodb.CODES])
def test_every_code_maps_to_a_normalised_emotion(codes: dict[str, str]) -> None:
    assert set(codes.values()) <= set(EMOTIONS)


def test_iemocap_speaker_is_the_last_fields_letter_not_the_mocap_letter(tmp_path: Path) -> None:
    table = read(make_iemocap(tmp_path / "IEMOCAP_full_release"))
    trap = row(table, "Ses01F_impro01_M002")  # session 1, mocap F, spoken by the male actor
    assert (trap["speaker"], trap["gender"], trap["session"]) == ("iemocap:Ses01M", "M", "1")
    trap = row(table, "Ses02M_impro02_F000")
    assert (trap["speaker"], trap["gender"], trap["session"]) == ("iemocap:Ses02F", "F", "2")
    speakers = table.groupby("speaker")["gender"].agg(set).to_dict()
    assert speakers == {f"iemocap:Ses0{n}{g}": {g} for n in range(1, 6) for g in "FM"}


def test_iemocap_facts(tmp_path: Path) -> None:
    table = read(make_iemocap(tmp_path / "IEMOCAP_full_release"))
    assert len(table) == 13
    assert set(table["language"]) == {"en"} and set(table["locale"]) == {"en-US"}
    assert set(table["session"]) == {"1", "2", "3", "4", "5"}
    assert set(table["emotion_code"]) == set(iemocap.CODES)
    exc = row(table, "Ses01F_script01_1_F003")
    assert (exc["emotion_code"], exc["emotion"]) == ("exc", "excitement")
    assert row(table, "Ses01F_impro01_F001")["emotion"] == "no_agreement"
    anger = row(table, "Ses05F_impro05_F019")
    assert (anger["valence"], anger["arousal"], anger["dominance"]) == (1.5, 4.0, 4.5)
    assert anger["path"].endswith("Session5/sentences/wav/Ses05F_impro05/Ses05F_impro05_F019.wav")


@pytest.mark.parametrize("variant", ["msp-improv", "msp-improv, Evaluation.txt, Audio/"])
def test_msp_improv_facts(tmp_path: Path, variant: str) -> None:
    table = read(TREES[variant](tmp_path))
    turn = row(table, "MSP-IMPROV-S05N-F06-P-FM04")
    assert (turn["speaker"], turn["gender"], turn["session"], turn["language"], turn["locale"]) == (
        "msp-improv:F06", "F", "6", "en", "en-US")
    assert (turn["emotion_code"], turn["emotion"]) == ("N", "neutral")
    assert math.isnan(turn["valence"]) and math.isnan(turn["arousal"]) and turn["dominance"] == 3.0
    turn = row(table, "MSP-IMPROV-S01A-M01-P-MF01")  # has the optional naturalness field
    assert (turn["speaker"], turn["session"], turn["emotion"]) == ("msp-improv:M01", "1", "happiness")
    assert (turn["valence"], turn["arousal"], turn["dominance"]) == (4.2, 3.4, 3.0)
    assert row(table, "MSP-IMPROV-S04H-F04-P-FM06")["emotion"] == "no_agreement"
    assert row(table, "MSP-IMPROV-S06A-M06-S-MF05")["emotion"] == "other"


@pytest.mark.parametrize("flat", [False, True])
def test_savee_facts(tmp_path: Path, flat: bool) -> None:
    table = read(make_savee(tmp_path / "SAVEE", flat=flat))
    assert set(table["speaker"]) == {"savee:DC", "savee:JE", "savee:JK", "savee:KL"}
    assert set(table["gender"]) == {"M"} and set(table["language"]) == {"en"}
    assert set(table["locale"]) == {"en-GB"} and set(table["session"]) == {""}  # the region is kept as metadata
    for utterance, code, emotion in [("DC_sa01", "sa", "sadness"), ("DC_su01", "su", "surprise"),
                                     ("DC_a01", "a", "anger"), ("KL_f07", "f", "fear")]:
        assert (row(table, utterance)["emotion_code"], row(table, utterance)["emotion"]) == (code, emotion)
    assert table[["valence", "arousal", "dominance"]].isna().all().all()


def test_emodb_facts(tmp_path: Path) -> None:
    table = read(make_emodb(tmp_path / "emodb"))
    genders = dict(zip(table["speaker"], table["gender"], strict=True))
    assert genders == {f"emodb:{s}": "M" for s in ("03", "10", "11", "12", "15")} | {
        f"emodb:{s}": "F" for s in ("08", "09", "13", "14", "16")}
    boredom = row(table, "08a02La")
    assert (boredom["emotion_code"], boredom["emotion"], boredom["language"], boredom["session"]) == (
        "L", "boredom", "de", "")
    assert set(table["emotion"]) == set(emodb.CODES.values())


def test_manifest_facts(tmp_path: Path) -> None:
    table = read(make_manifest(tmp_path / "ravdess"))
    calm = row(table, "Actor_01/03-01-02-01-01-01-01")
    assert (calm["speaker"], calm["gender"], calm["emotion_code"], calm["emotion"]) == (
        "ravdess:01", "M", "02", "calm")
    neutral = row(table, "Actor_02/03-01-01-01-01-01-02")  # gender written "f", emotion_code left empty
    assert (neutral["gender"], neutral["emotion_code"], neutral["session"]) == ("F", "neutral", "1")
    assert row(table, "Actor_02/03-01-03-02-02-01-02")["valence"] == 4.5
    assert math.isnan(neutral["valence"])


def test_manifest_with_ids_and_absolute_paths(tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "audio" / "clip.wav")
    csv_path = tmp_path / "lists" / "mine.csv"
    csv_path.parent.mkdir()
    csv_path.write_text("\ufeffPath, Speaker ,gender,language,emotion,utterance_id,dominance,notes\n"
                        f"{audio},spk1,Female,de,Sadness,u1,2.5,anything\n", encoding="utf-8")
    table = read_corpus("mine", csv_path).table
    assert row(table, "u1") | {"utterance_id": "u1"} == {
        "utterance_id": "u1", "path": str(audio), "corpus": "mine", "speaker": "mine:spk1", "gender": "F",
        "language": "de", "locale": "de", "session": "", "split": "", "emotion_code": "sadness",
        "emotion": "sadness", "valence": pytest.approx(math.nan, nan_ok=True),
        "arousal": pytest.approx(math.nan, nan_ok=True), "dominance": 2.5}


# ------------------------------------------------------------------------------------------- bad input


def bad_input(tree: Tree, path: Path, line: int | None, text: str) -> pd.DataFrame:
    """Check that reading `tree` finds a problem in `path` (at `line`) whose message has `text`: an error
    naming it without skip_bad, a listed problem with it. Returns the table read with skip_bad."""
    with pytest.raises(CorpusError) as error:
        read_corpus(tree.corpus, tree.root)
    where = f"{path}:{line}:" if line is not None else f"{path}:"
    assert where in str(error.value) and text in str(error.value)
    corpus = read_corpus(tree.corpus, tree.root, skip_bad=True)
    assert any(p.path == str(path) and p.line == line and text in p.message for p in corpus.problems), \
        corpus.problems
    return corpus.table


def replace_line(path: Path, line: int, text: str, encoding: str = "utf-8") -> None:
    lines = path.read_text(encoding=encoding).split("\n")
    lines[line - 1] = text
    path.write_text("\n".join(lines), encoding=encoding)


@pytest.mark.parametrize(("name", "other"), [("iemocap", "emodb"), ("msp-improv", "emodb"),
                                             ("savee", "emodb"), ("emodb", "iemocap")])
def test_a_root_that_is_not_the_corpus(tmp_path: Path, name: str, other: str) -> None:
    tree = TREES[other](tmp_path)
    with pytest.raises(CorpusError, match=r"not an? .* release") as error:
        read_corpus(name, tree.root)
    assert str(tree.root) in str(error.value) and "what to do" in str(error.value)


def test_a_root_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such folder"):
        read_corpus("iemocap", tmp_path / "nowhere")
    with pytest.raises(CorpusError, match="no such manifest file"):
        read_corpus("mine", tmp_path / "nowhere.csv")


def test_iemocap_label_without_audio(tmp_path: Path) -> None:
    tree = make_iemocap(tmp_path / "IEMOCAP_full_release")
    tree.audio("Ses02M_impro02_M001").unlink()
    table = bad_input(tree, *tree.labels["Ses02M_impro02_M001"], "label without audio")
    assert "Ses02M_impro02_M001" not in set(table["utterance_id"]) and len(table) == 12


def test_iemocap_audio_without_label(tmp_path: Path) -> None:
    tree = make_iemocap(tmp_path / "IEMOCAP_full_release")
    extra = write_wav(tree.audio("Ses01F_impro01_F000").with_name("Ses01F_impro01_F099.wav"))
    table = bad_input(tree, extra, None, "audio without a label")
    assert len(table) == 13


@pytest.mark.parametrize(("bad_line", "text"), [
    ("[6.2901 - 8.7901]\tSes03F_impro03_F000\tfea", "does not parse"),
    ("[6.2901 - 8.7901]\tSes03F_impro03_F000\tzzz\t[2.0000, 3.5000, 2.0000]", "unknown emotion code 'zzz'"),
    ("[6.2901 - 8.7901]\tSes03F_impro03_F000\tfea\t[2.0000, 3.5000]", "not three numbers"),
    ("[6.2901 - 8.7901]\tSes01F_impro01_F000\tfea\t[2.0000, 3.5000, 2.0000]", "not an IEMOCAP utterance of Session3"),
    ("Ses03F_impro03_F000 fea", "does not parse"),
])
def test_iemocap_bad_summary_line(tmp_path: Path, bad_line: str, text: str) -> None:
    tree = make_iemocap(tmp_path / "IEMOCAP_full_release")
    label_file, line = tree.labels["Ses03F_impro03_F000"]
    replace_line(label_file, line, bad_line)
    table = bad_input(tree, label_file, line, text)
    assert "Ses03F_impro03_F000" not in set(table["utterance_id"]) and len(table) == 12


def test_iemocap_utterance_labelled_twice(tmp_path: Path) -> None:
    tree = make_iemocap(tmp_path / "IEMOCAP_full_release")
    label_file, line = tree.labels["Ses03F_impro03_M000"]
    replace_line(label_file, line, "[1.0000 - 2.0000]\tSes03F_impro03_F000\tneu\t[3.0000, 3.0000, 3.0000]")
    bad_input(tree, label_file, line, "labelled a second time")


def test_iemocap_missing_label_file(tmp_path: Path) -> None:
    tree = make_iemocap(tmp_path / "IEMOCAP_full_release")
    label_file = tree.labels["Ses04M_script02_2_F000"][0]
    label_file.unlink()
    table = bad_input(tree, label_file, None, "label file missing for the 2 wav file(s)")
    assert len(table) == 11


def test_iemocap_missing_session(tmp_path: Path) -> None:
    tree = make_iemocap(tmp_path / "IEMOCAP_full_release")
    shutil.rmtree(tree.root / "Session5")
    table = bad_input(tree, tree.root / "Session5", None, "folder missing")
    assert set(table["session"]) == {"1", "2", "3", "4"}


def test_msp_improv_label_without_audio(tmp_path: Path) -> None:
    tree = make_msp_improv(tmp_path / "MSP-IMPROV")
    tree.audio("MSP-IMPROV-S02H-F02-T-FM02").unlink()
    table = bad_input(tree, *tree.labels["MSP-IMPROV-S02H-F02-T-FM02"], "label without audio")
    assert len(table) == 6


def test_msp_improv_audio_without_label(tmp_path: Path) -> None:
    tree = make_msp_improv(tmp_path / "MSP-IMPROV")
    extra = write_wav(tree.root / "session1" / "S09A" / "R" / "MSP-IMPROV-S09A-F01-R-FM09.wav")
    bad_input(tree, extra, None, "audio without a label")


def test_msp_improv_audio_in_both_layouts(tmp_path: Path) -> None:
    tree = make_msp_improv(tmp_path / "MSP-IMPROV")
    original = tree.audio("MSP-IMPROV-S01A-F01-S-FM01")
    copy = tree.root / "Audio" / original.relative_to(tree.root)
    copy.parent.mkdir(parents=True)
    shutil.copy(original, copy)
    problems = read_corpus(tree.corpus, tree.root, skip_bad=True).problems
    assert len(problems) == 1  # Audio/ is walked first, so the release layout's file is the second copy
    assert problems[0].path == str(original) and f"second copy of {copy}" in problems[0].message


@pytest.mark.parametrize(("bad_line", "text"), [
    ("UTD-IMPROV-S02H-F02-T-FM02.avi A:1.8; V:2.0;", "does not parse"),
    ("UTD-IMPROV-S02H-F02-T-FM02.avi; Q; A:2.0; V:1.8; D:2.2;", "unknown emotion code 'Q'"),
    ("UTD-IMPROV-S02H-F02-T-FM02.avi; S; A:low; V:1.8; D:2.2;", "rating 'A:low' does not parse"),
    ("UTD-IMPROV-S02H-F07-T-FM02.avi; S; A:2.0; V:1.8; D:2.2;", "unknown speaker F07"),
])
def test_msp_improv_bad_consensus_line(tmp_path: Path, bad_line: str, text: str) -> None:
    tree = make_msp_improv(tmp_path / "MSP-IMPROV")
    label_file, line = tree.labels["MSP-IMPROV-S02H-F02-T-FM02"]
    replace_line(label_file, line, bad_line)
    table = bad_input(tree, label_file, line, text)
    assert "MSP-IMPROV-S02H-F02-T-FM02" not in set(table["utterance_id"]) and len(table) == 6


def test_msp_improv_label_file_missing_or_doubled(tmp_path: Path) -> None:
    tree = make_msp_improv(tmp_path / "MSP-IMPROV")
    shutil.copy(tree.root / "Evalution.txt", tree.root / "Evaluation.txt")
    with pytest.raises(CorpusError, match=r"both Evalution\.txt and Evaluation\.txt"):
        read_corpus(tree.corpus, tree.root)
    (tree.root / "Evalution.txt").unlink()
    (tree.root / "Evaluation.txt").unlink()
    with pytest.raises(CorpusError, match=r"no Evalution\.txt"):
        read_corpus(tree.corpus, tree.root)


@pytest.mark.parametrize(("name", "text"), [
    ("DC/x01.wav", "unknown emotion code 'x'"),
    ("XY/a01.wav", "unknown speaker 'XY'"),
    ("DC/anger.wav", "does not parse"),
    ("KL/DC_a01.wav", "second copy of DC_a01"),  # a flattened copy of DC/a01.wav
])
def test_savee_bad_file(tmp_path: Path, name: str, text: str) -> None:
    tree = make_savee(tmp_path / "SAVEE")
    bad = write_wav(tree.root / "AudioData" / name)
    assert len(bad_input(tree, bad, None, text)) == 14


@pytest.mark.parametrize(("name", "text"), [
    ("05a01Wa.wav", "unknown speaker '05'"),
    ("03a01Za.wav", "unknown emotion letter 'Z'"),
    ("03a01W.wav", "does not parse"),
])
def test_emodb_bad_file(tmp_path: Path, name: str, text: str) -> None:
    tree = make_emodb(tmp_path / "emodb")
    bad = write_wav(tree.root / "wav" / name)
    assert len(bad_input(tree, bad, None, text)) == 10


def test_emodb_without_any_emodb_file(tmp_path: Path) -> None:
    write_wav(tmp_path / "wav" / "hello.wav")
    with pytest.raises(CorpusError, match=r"no file in wav/ is named like 03a01Wa\.wav"):
        read_corpus("emodb", tmp_path)


@pytest.mark.parametrize(("bad_row", "text"), [
    ("Actor_02/03-01-01-01-01-01-02.wav,02,f,en-US,joy,1,,,", "unknown emotion 'joy'"),
    ("Actor_02/03-01-01-01-01-01-02.wav,02,x,en-US,neutral,1,,,", "unknown gender 'x'"),
    ("Actor_02/missing.wav,02,f,en-US,neutral,1,,,", "missing audio"),
    ("Actor_02/03-01-01-01-01-01-02.wav,02,f,en-US,neutral,1,,high,", "valence 'high' is not a number"),
    ("Actor_02/03-01-01-01-01-01-02.wav,,f,en-US,neutral,1,,,", "empty speaker"),
    ("Actor_02/03-01-01-01-01-01-02.wav,02,f,en-US,neutral", "one value per header column"),
    ("Actor_01/03-01-05-01-01-01-01.wav,02,f,en-US,neutral,1,,,", "appears a second time"),
    ("Actor_02/03-01-01-01-01-01-02.wav,0\x002,f,en-US,neutral,1,,,", "a NUL byte in the speaker column"),
    ("Actor_02,02,f,en-US,neutral,1,,,", "/ravdess/Actor_02 is a folder, not an audio file"),
])
def test_manifest_bad_row(tmp_path: Path, bad_row: str, text: str) -> None:
    tree = make_manifest(tmp_path / "ravdess")
    csv_path, line = tree.labels["Actor_02/03-01-01-01-01-01-02"]
    replace_line(csv_path, line, bad_row)
    assert len(bad_input(tree, csv_path, line, text)) == 3


def test_manifest_listing_one_audio_file_twice(tmp_path: Path) -> None:
    tree = make_manifest(tmp_path / "ravdess")
    csv_path, line = tree.labels["Actor_02/03-01-01-01-01-01-02"]
    first = tree.root.parent / "Actor_01" / "03-01-05-01-01-01-01.wav"  # on line 2, under its own id
    replace_line(csv_path, line, f"{first},02,f,en-US,neutral,1,,,")  # absolute: another utterance id
    assert len(bad_input(tree, csv_path, line, f"the audio {first} is listed a second time (first on line 2)")) == 3


def test_manifest_header_naming_a_column_twice_or_holding_nul(tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    write_wav(tmp_path / "x.wav")
    csv_path.write_text("path,speaker,gender,language,emotion, Speaker\nx.wav,a,f,en-US,anger,b\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="the header names the column 'speaker' twice") as error:
        read_corpus("mine", csv_path)
    assert f"{csv_path}:1:" in str(error.value)
    csv_path.write_text("path,speaker,gender,language,emotion,,\nx.wav,a,f,en-US,anger,,\n", encoding="utf-8")
    assert len(read_corpus("mine", csv_path).table) == 1  # empty columns (trailing commas) are no names
    csv_path.write_bytes("path,speaker,gender,language,emotion\n".encode("utf-16-le"))  # UTF-16 without a BOM
    with pytest.raises(CorpusError, match="the header holds a NUL byte") as error:
        read_corpus("mine", csv_path)
    assert f"{csv_path}:1:" in str(error.value)


def test_a_manifest_path_that_is_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "lists.csv").mkdir()
    with pytest.raises(CorpusError, match="a folder, not a manifest file") as error:
        read_corpus("mine", tmp_path / "lists.csv")
    assert str(tmp_path / "lists.csv") in str(error.value)


def test_manifest_missing_column_or_empty(tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,speaker,language,emotion\nx.wav,a,en-US,anger\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no column gender") as error:
        read_corpus("mine", csv_path)
    assert str(csv_path) in str(error.value)
    csv_path.write_text("", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty"):
        read_corpus("mine", csv_path)
    csv_path.write_bytes(b"path,speaker,gender,language,emotion\n\xff\xfe,a,f,en-US,anger\n")
    with pytest.raises(CorpusError, match="not UTF-8"):
        read_corpus("mine", csv_path)


# ---------------------------------------------------------------------------------------------- label tasks


def test_emotion4_on_iemocap_merges_excitement_and_counts_exclusions(tmp_path: Path) -> None:
    labelled = apply_task(read(make_iemocap(tmp_path / "IEMOCAP_full_release")), get_task("emotion4"))
    labels = dict(zip(labelled.table["utterance_id"], labelled.table["label"], strict=True))
    assert labels["Ses01F_script01_1_F003"] == "happiness"  # exc
    assert sorted(labels.values()) == ["anger", "anger", "happiness", "happiness", "neutral", "neutral", "sadness"]
    assert labelled.excluded == {
        "disgust: outside the paper's iemocap subset": 1, "emotion 'other'": 1,
        "fear: outside the paper's iemocap subset": 1, "frustration: outside the paper's iemocap subset": 1,
        "no agreed emotion": 1, "surprise: outside the paper's iemocap subset": 1}


def test_tasks_on_msp_improv_and_emodb(tmp_path: Path) -> None:
    msp = apply_task(read(make_msp_improv(tmp_path / "MSP-IMPROV")), get_task("emotion4"))
    assert len(msp.table) == 5
    assert msp.excluded == {"emotion 'other'": 1, "no agreed emotion": 1}
    emodb_table = read(make_emodb(tmp_path / "emodb"))
    arousal = apply_task(emodb_table, get_task("arousal"))
    assert len(arousal.table) == 10 and arousal.excluded == {}
    assert row(arousal.table, "08a02La")["label"] == "low"  # boredom
    four = apply_task(emodb_table, get_task("emotion4"))
    assert four.excluded == {"boredom: not a class of emotion4": 1, "disgust: not a class of emotion4": 1,
                             "fear: not a class of emotion4": 1}


def test_every_column_of_the_utterance_table_is_metadata_or_a_label() -> None:
    """Adaptation drops the label columns from the test corpora's audio (serbench.runs.prepare): a column that is
    neither would reach it unclassified, and a label column there would leak."""
    from serbench.data.corpora.schema import COLUMNS, LABEL_COLUMNS, METADATA_COLUMNS

    assert set(METADATA_COLUMNS) | set(LABEL_COLUMNS) == set(COLUMNS)
    assert not set(METADATA_COLUMNS) & set(LABEL_COLUMNS)
    assert {"emotion", "emotion_code", "valence", "arousal", "dominance"} <= set(LABEL_COLUMNS)
