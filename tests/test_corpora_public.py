"""The readers of RAVDESS, CREMA-D, TESS, EMOVO and MSP-Podcast on tiny trees in each release's exact format."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from corpus_trees import (
    CREMA_CLIPS,
    MAKERS,
    MSP_PODCAST_TURNS,
    MSP_PODCAST_UNLABELLED,
    RAVDESS_SONG,
    Tree,
    make_crema_d,
    make_emodb,
    make_emovo,
    make_msp_improv,
    make_msp_podcast,
    make_ravdess,
    make_tess,
    write_wav,
)

from serbench.cli import main
from serbench.data.corpora import CORPORA, crema_d, emovo, msp_podcast, ravdess, read_corpus, tess
from serbench.data.corpora.schema import COLUMNS, make_table
from serbench.data.labels import EMOTIONS, apply_task, get_task
from serbench.errors import CorpusError

PUBLIC = ("ravdess", "crema-d", "crema-d-voice", "tess", "emovo", "msp-podcast")
TREES: dict[str, Callable[[Path], Tree]] = {
    "ravdess": lambda root: make_ravdess(root / "RAVDESS"),
    "ravdess, zip folders": lambda root: make_ravdess(root / "RAVDESS", layout="zip folders"),
    "ravdess, kaggle": lambda root: make_ravdess(root / "ravdess", layout="kaggle"),
    "ravdess, root is the zip's folder": lambda root: make_ravdess(root / "Audio_Speech_Actors_01-24"),
    "crema-d": lambda root: make_crema_d(root / "CREMA-D"),
    "crema-d-voice": lambda root: make_crema_d(root / "CREMA-D", voice=True),
    "tess": lambda root: make_tess(root / "TESS Toronto emotional speech set data"),
    "tess, flat": lambda root: make_tess(root / "TESS", layout="flat"),
    "tess, kaggle": lambda root: make_tess(root / "tess", layout="kaggle"),
    "emovo": lambda root: make_emovo(root / "EMOVO"),
    "emovo, nested": lambda root: make_emovo(root / "download", nested=True),
    "msp-podcast": lambda root: make_msp_podcast(root / "MSP-Podcast"),
    "msp-podcast, labels_concensus.csv": lambda root: make_msp_podcast(root / "MSP-Podcast",
                                                                       label_file="labels_concensus.csv"),
}


def read(tree: Tree, **options: bool) -> pd.DataFrame:
    return read_corpus(tree.corpus, tree.root, **options).table


def row(table: pd.DataFrame, utterance: str) -> dict:
    return table.set_index("utterance_id").loc[utterance].to_dict()


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


def replace_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[line - 1] = text
    path.write_text("\n".join(lines), encoding="utf-8")


# ------------------------------------------------------------------------------------------- good trees


@pytest.mark.parametrize("variant", TREES)
def test_reader_returns_the_expected_table(tmp_path: Path, variant: str) -> None:
    tree = TREES[variant](tmp_path)
    corpus = read_corpus(tree.corpus, tree.root)
    assert corpus.problems == []
    assert list(corpus.table.columns) == list(COLUMNS)
    pd.testing.assert_frame_equal(corpus.table, make_table(tree.rows.values()))
    assert set(corpus.table["emotion"]) <= set(EMOTIONS)
    assert set(corpus.table["gender"]) <= {"F", "M"}


def test_registry_metadata() -> None:
    assert {name: (CORPORA[name].release_dir, CORPORA[name].languages, CORPORA[name].native_sample_rate)
            for name in PUBLIC} == {
        "ravdess": ("Audio_Speech_Actors_01-24", ("en-US",), 48000),
        "crema-d": ("CREMA-D", ("en-US",), 16000),
        "crema-d-voice": ("CREMA-D", ("en-US",), 16000),
        "tess": ("TESS Toronto emotional speech set data", ("en-CA",), 24414),
        "emovo": ("EMOVO", ("it",), 48000),
        "msp-podcast": ("MSP-Podcast", ("en-US",), 16000),
    }
    for name in PUBLIC:
        info = CORPORA[name]
        assert info.name == name and info.title and info.licence and info.homepage.startswith("http")
        assert info.split_groups == "speaker"  # no session of these corpora holds several speakers' dialogues
    assert CORPORA["crema-d"].licence == CORPORA["crema-d-voice"].licence
    assert "not redistributable" in CORPORA["msp-podcast"].licence


@pytest.mark.parametrize("codes", [ravdess.CODES, crema_d.CODES, crema_d.VOTES, tess.CODES, tess.FOLDER_CODES,
                                   emovo.CODES, msp_podcast.CODES])
def test_every_code_maps_to_a_normalised_emotion(codes: dict[str, str]) -> None:
    assert set(codes.values()) <= set(EMOTIONS)


def test_ravdess_facts(tmp_path: Path) -> None:
    corpus = read_corpus("ravdess", make_ravdess(tmp_path / "RAVDESS").root)
    table = corpus.table
    genders = dict(zip(table["speaker"], table["gender"], strict=True))
    assert genders == {"ravdess:01": "M", "ravdess:23": "M", "ravdess:02": "F", "ravdess:24": "F"}  # odd: male
    assert set(table["emotion_code"]) == set(ravdess.CODES)
    calm = row(table, "03-01-02-02-01-01-01")
    assert (calm["emotion_code"], calm["emotion"], calm["locale"], calm["language"], calm["session"]) == (
        "02", "calm", "en-US", "en", "")
    assert row(table, "03-01-08-02-02-02-02")["emotion"] == "surprise"
    assert table[["valence", "arousal", "dominance"]].isna().all().all()
    # the song files in the same Actor folders are not rows, but they are counted
    assert not table["utterance_id"].str.startswith("03-02-").any()
    assert corpus.excluded == {ravdess.SONG_EXCLUDED: sum(map(len, RAVDESS_SONG.values()))}


@pytest.mark.parametrize(("variant", "folder"), [("ravdess, zip folders", "Audio_Speech_Actors_01-24"),
                                                 ("ravdess, kaggle", "audio_speech_actors_01-24")])
def test_ravdess_reads_only_the_speech_zips_folder(tmp_path: Path, variant: str, folder: str) -> None:
    tree = TREES[variant](tmp_path)
    table = read(tree)
    assert len(table) == 9  # the kaggle copy's second set of Actor folders is not read
    assert all(Path(path).parent.parent == tree.root / folder for path in table["path"])
    # Audio_Song_Actors_01-24 is another part of the release: not read, not counted
    assert read_corpus(tree.corpus, tree.root).excluded == {}


def test_ravdess_song_part_alone_is_not_the_speech_part(tmp_path: Path) -> None:
    root = tmp_path / "Audio_Song_Actors_01-24"
    for actor, stems in RAVDESS_SONG.items():
        for stem in stems:
            write_wav(root / f"Actor_{actor}" / f"{stem}.wav")
    with pytest.raises(CorpusError, match="song part"):
        read_corpus("ravdess", root)


def test_crema_d_facts(tmp_path: Path) -> None:
    table = read(make_crema_d(tmp_path / "CREMA-D"))
    genders = dict(zip(table["speaker"], table["gender"], strict=True))
    assert genders == {"crema-d:1001": "M", "crema-d:1002": "F", "crema-d:1091": "F"}  # from VideoDemographics.csv
    assert set(table["emotion_code"]) == set(crema_d.CODES)
    happy = row(table, "1001_IEO_HAP_LO")
    assert (happy["emotion_code"], happy["emotion"], happy["corpus"], happy["locale"]) == (
        "HAP", "happiness", "crema-d", "en-US")
    assert table["path"].map(lambda path: Path(path).parent.name == "AudioWAV").all()  # not AudioMP3/


def test_crema_d_voice_facts(tmp_path: Path) -> None:
    intended = read(make_crema_d(tmp_path / "CREMA-D"))
    voice = read_corpus("crema-d-voice", tmp_path / "CREMA-D").table  # the same release, read for its votes
    assert list(voice["utterance_id"]) == list(intended["utterance_id"])
    assert list(voice["speaker"]) == list(intended["speaker"])  # one speaker id: the same actors
    assert set(voice["corpus"]) == {"crema-d-voice"}
    heard = row(voice, "1001_IEO_HAP_LO")  # asked for happiness, heard as neutral
    assert (heard["emotion_code"], heard["emotion"]) == ("N", "neutral")
    tie = row(voice, "1002_TIE_DIS_MD")
    assert (tie["emotion_code"], tie["emotion"]) == ("A:D", "no_agreement")
    labelled = apply_task(voice, get_task("emotion4"))
    ties = sum(":" in vote for vote in CREMA_CLIPS.values())
    assert labelled.excluded["no agreed emotion"] == ties


def test_tess_facts(tmp_path: Path) -> None:
    table = read(make_tess(tmp_path / "TESS Toronto emotional speech set data"))
    assert set(table["speaker"]) == {"tess:OAF", "tess:YAF"} and set(table["gender"]) == {"F"}
    assert set(table["locale"]) == {"en-CA"} and set(table["language"]) == {"en"}
    misnamed = row(table, "OA_bite_neutral")  # the release's misnamed file is the older actress's
    assert (misnamed["speaker"], misnamed["emotion"]) == ("tess:OAF", "neutral")
    surprise = row(table, "YAF_dog_ps")  # in YAF_pleasant_surprised; OAF's are in OAF_Pleasant_surprise
    assert (surprise["emotion_code"], surprise["emotion"]) == ("ps", "surprise")
    assert row(table, "OAF_base_fear")["emotion"] == "fear"  # in OAF_Fear; YAF's in YAF_fear
    assert set(table["emotion"]) == set(tess.CODES.values())


def test_emovo_facts(tmp_path: Path) -> None:
    table = read(make_emovo(tmp_path / "EMOVO"))
    genders = dict(zip(table["speaker"], table["gender"], strict=True))
    assert genders == {f"emovo:{s}": s[0].upper() for s in emovo.SPEAKERS}
    assert set(table["emotion_code"]) == set(emovo.CODES) and set(table["locale"]) == {"it"}
    joy = row(table, "gio-f1-l1")
    assert (joy["emotion"], joy["language"], joy["session"]) == ("happiness", "it", "")
    assert (row(table, "pau-f2-d1")["emotion"], row(table, "rab-m2-n3")["emotion"]) == ("fear", "anger")


def test_msp_podcast_facts(tmp_path: Path) -> None:
    corpus = read_corpus("msp-podcast", make_msp_podcast(tmp_path / "MSP-Podcast").root)
    table = corpus.table
    assert set(table["split"]) == {"Train", "Development", "Test1", "Test2", "Test3"}  # as the release writes them
    assert set(table["emotion_code"]) == set(msp_podcast.CODES)
    turn = row(table, "MSP-PODCAST_0002_0033")  # EmoAct 4.6, EmoVal 5.4, EmoDom 4.8
    assert (turn["arousal"], turn["valence"], turn["dominance"]) == (4.6, 5.4, 4.8)
    assert (turn["speaker"], turn["gender"], turn["split"], turn["emotion"]) == (
        "msp-podcast:46", "M", "Development", "happiness")
    assert row(table, "MSP-PODCAST_0006_0002")["emotion"] == "contempt"
    assert row(table, "MSP-PODCAST_0007_0009")["emotion"] == "no_agreement"
    # unidentified turns are not rows (no "unknown" speaker to group by), and they are counted
    assert not table["speaker"].str.lower().str.contains("unknown").any()
    unknown_speaker = sum(turn[5] == "Unknown" for turn in MSP_PODCAST_TURNS)
    unknown_gender = sum(turn[5] != "Unknown" and turn[6] == "Unknown" for turn in MSP_PODCAST_TURNS)
    assert corpus.excluded == {msp_podcast.SPEAKER_UNKNOWN: unknown_speaker,
                                       msp_podcast.GENDER_UNKNOWN: unknown_gender,
                                       msp_podcast.UNLABELLED: len(MSP_PODCAST_UNLABELLED)}
    assert corpus.problems == []


def test_label_tasks_on_ravdess_and_msp_podcast(tmp_path: Path) -> None:
    arousal = apply_task(read(make_ravdess(tmp_path / "RAVDESS")), get_task("arousal"))
    assert len(arousal.table) == 9 and row(arousal.table, "03-01-02-02-01-01-01")["label"] == "low"  # calm
    four = apply_task(read(make_msp_podcast(tmp_path / "MSP-Podcast")), get_task("emotion4"))
    assert sorted(four.table["label"]) == ["anger", "happiness", "neutral", "sadness"]
    assert four.excluded == {"contempt: not a class of emotion4": 1, "disgust: not a class of emotion4": 1,
                             "emotion 'other'": 1, "fear: not a class of emotion4": 1, "no agreed emotion": 1,
                             "surprise: not a class of emotion4": 1}


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("name", "other"), [
    ("ravdess", lambda root: make_emodb(root / "emodb")),
    ("crema-d", lambda root: make_tess(root / "TESS")),
    ("crema-d-voice", lambda root: make_emodb(root / "emodb")),
    ("tess", lambda root: make_emodb(root / "emodb")),
    ("emovo", lambda root: make_ravdess(root / "RAVDESS")),
    ("msp-podcast", lambda root: make_msp_improv(root / "MSP-IMPROV")),
])
def test_a_root_that_is_not_the_corpus(tmp_path: Path, name: str, other: Callable[[Path], Tree]) -> None:
    tree = other(tmp_path)
    with pytest.raises(CorpusError, match=r"not an? .* release") as error:
        read_corpus(name, tree.root)
    assert str(tree.root) in str(error.value) and "what to do" in str(error.value)


@pytest.mark.parametrize(("folder", "name", "text"), [
    ("Actor_02", "03-01-01-01-01-01-05.wav", "the name says actor 05 but the file is in Actor_02"),
    ("Actor_01", "03-01-01-01-01-01.wav", "does not parse"),
    ("Actor_01", "01-01-05-01-01-01-01.wav", "modality 01 is full-AV, not audio-only"),
    ("Actor_01", "07-01-05-01-01-01-01.wav", "modality 07 is unknown"),
    ("Actor_01", "03-03-05-01-01-01-01.wav", "unknown vocal channel 03"),
    ("Actor_01", "03-01-09-01-01-01-01.wav", "unknown emotion code 09"),
    ("Actor_01", "03-01-01-02-01-01-01.wav", "neutral has only 01"),
    ("Actor_01", "03-01-05-03-01-01-01.wav", "unknown intensity 03"),
    ("Actor_01", "03-01-05-01-03-01-01.wav", "unknown statement 03"),
    ("Actor_25", "03-01-05-01-01-01-25.wav", "unknown actor 25"),
])
def test_ravdess_bad_file(tmp_path: Path, folder: str, name: str, text: str) -> None:
    tree = make_ravdess(tmp_path / "RAVDESS")
    bad = write_wav(tree.root / folder / name)
    assert len(bad_input(tree, bad, None, text)) == 9


@pytest.mark.parametrize(("name", "text"), [
    ("1001_XYZ_ANG_XX.wav", "unknown sentence 'XYZ'"),
    ("1001_DFA_JOY_XX.wav", "unknown emotion code 'JOY'"),
    ("1001_DFA_ANG_ZZ.wav", "unknown emotion level 'ZZ'"),
    ("1095_DFA_ANG_XX.wav", "actor 1095 has no line in VideoDemographics.csv"),
    ("1001-DFA-ANG-XX.wav", "does not parse"),
])
def test_crema_d_bad_file(tmp_path: Path, name: str, text: str) -> None:
    tree = make_crema_d(tmp_path / "CREMA-D")
    bad = write_wav(tree.root / "AudioWAV" / name)
    assert len(bad_input(tree, bad, None, text)) == 8


def test_crema_d_bad_demographics_lines(tmp_path: Path) -> None:
    tree = make_crema_d(tmp_path / "CREMA-D")
    demographics = tree.root / "VideoDemographics.csv"
    replace_line(demographics, 5, '1091,29,"Unknown","Caucasian","Not Hispanic"')  # 1091's line
    table = bad_input(tree, demographics, 5, "line does not parse")
    assert "crema-d:1091" not in set(table["speaker"]) and len(table) == 6
    problems = read_corpus(tree.corpus, tree.root, skip_bad=True).problems
    assert {Path(p.path).name for p in problems if "actor 1091 has no line" in p.message} == {
        "1091_MTI_SAD_XX.wav", "1091_TAI_HAP_HI.wav"}
    with open(demographics, "a", encoding="utf-8") as stream:
        stream.write('1001,51,"Female","Caucasian","Not Hispanic"\n')
    bad_input(tree, demographics, 6, "actor 1001 is listed a second time")
    assert row(read(tree, skip_bad=True), "1001_DFA_ANG_XX")["gender"] == "M"  # the first line holds
    replace_line(demographics, 3, '1002,21,"Female"')
    bad_input(tree, demographics, 3, "one value per header column")


@pytest.mark.parametrize("name", ["crema-d", "crema-d-voice"])
def test_crema_d_without_demographics_names_the_file(tmp_path: Path, name: str) -> None:
    tree = make_crema_d(tmp_path / "CREMA-D")
    (tree.root / "VideoDemographics.csv").unlink()
    with pytest.raises(CorpusError, match=r"VideoDemographics\.csv is missing") as error:
        read_corpus(name, tree.root)
    assert str(tree.root) in str(error.value)
    (tree.root / "VideoDemographics.csv").write_text('"ActorID","Age","Race"\n1001,51,"Caucasian"\n')
    with pytest.raises(CorpusError, match="no column Sex") as error:
        read_corpus(name, tree.root)
    assert f"{tree.root / 'VideoDemographics.csv'}:1:" in str(error.value)


def test_crema_d_voice_needs_the_summary_table(tmp_path: Path) -> None:
    tree = make_crema_d(tmp_path / "CREMA-D", voice=True)
    (tree.root / "processedResults" / "summaryTable.csv").unlink()
    with pytest.raises(CorpusError, match=r"summaryTable\.csv is missing"):
        read_corpus("crema-d-voice", tree.root)
    assert len(read_corpus("crema-d", tree.root).table) == 8  # the intended emotions need no votes


@pytest.mark.parametrize(("bad_line", "text"), [
    ('"4","1002_TIE_DIS_MD","Q","52.5","D","70","D","66.2"', "unknown VoiceVote 'Q'"),
    ('"4","1002_TIE_DIS_MD","A:","52.5","D","70","D","66.2"', "unknown VoiceVote 'A:'"),
    ('"4","1002_TIE_DIS_MD","A"', "one value per header column"),
    ('"4","1001_DFA_ANG_XX","A","52.5","A","70","A","66.2"', "labelled a second time"),
])
def test_crema_d_voice_bad_summary_line(tmp_path: Path, bad_line: str, text: str) -> None:
    tree = make_crema_d(tmp_path / "CREMA-D", voice=True)
    label_file, line = tree.labels["1002_TIE_DIS_MD"]
    replace_line(label_file, line, bad_line)
    table = bad_input(tree, label_file, line, text)
    assert "1002_TIE_DIS_MD" not in set(table["utterance_id"]) and len(table) == 7


def test_crema_d_voice_label_without_audio_and_audio_without_label(tmp_path: Path) -> None:
    tree = make_crema_d(tmp_path / "CREMA-D", voice=True)
    tree.audio("1091_MTI_SAD_XX").unlink()
    assert len(bad_input(tree, *tree.labels["1091_MTI_SAD_XX"], "label without audio")) == 7
    extra = write_wav(tree.root / "AudioWAV" / "1003_IEO_NEU_XX.wav")
    bad_input(tree, extra, None, "audio without a label")


@pytest.mark.parametrize(("name", "text"), [
    ("YAF_sad/YAF_germ_angry.wav", "the name says YAF anger but the file is in folder YAF_sad"),
    ("OAF_angry/YAF_dog_angry.wav", "the name says YAF anger but the file is in folder OAF_angry"),
    ("OAF_Joy/OAF_dog_angry.wav", "folder OAF_Joy names no TESS emotion"),
    ("OAF_angry/XAF_back_angry.wav", "unknown speaker 'XAF'"),
    ("OAF_angry/OA_back_angry.wav", "unknown speaker 'OA'"),  # only OA_bite_neutral is the known misnaming
    ("OAF_angry/OAF_back_furious.wav", "unknown emotion 'furious'"),
    ("OAF_angry/back-angry.wav", "does not parse"),
    ("extra/OAF_back_angry.wav", "second copy of OAF_back_angry"),  # walked after OAF_angry/
])
def test_tess_bad_file(tmp_path: Path, name: str, text: str) -> None:
    tree = make_tess(tmp_path / "TESS Toronto emotional speech set data")
    bad = write_wav(tree.root / name)
    assert len(bad_input(tree, bad, None, text)) == 15


@pytest.mark.parametrize(("name", "text"), [
    ("f1/dis-f2-b1.wav", "the name says speaker f2 but the file is in folder f1"),
    ("f1/joy-f1-b1.wav", "unknown emotion code 'joy'"),
    ("f1/dis-f1-x9.wav", "unknown sentence 'x9'"),
    ("f1/dis-f4-b1.wav", "unknown speaker 'f4'"),
    ("f1/dis_f1_b1.wav", "does not parse"),
])
def test_emovo_bad_file(tmp_path: Path, name: str, text: str) -> None:
    tree = make_emovo(tmp_path / "EMOVO")
    bad = write_wav(tree.root / name)
    assert len(bad_input(tree, bad, None, text)) == 12


@pytest.mark.parametrize(("bad_line", "text"), [
    ("MSP-PODCAST_0003_0005.wav,Q,2.6,2.2,3.0,919,Male,Test1", "unknown EmoClass 'Q'"),
    ("MSP-PODCAST_0003_0005.wav,S,high,2.2,3.0,919,Male,Test1", "EmoAct 'high' is not a number"),
    ("MSP-PODCAST_0003_0005.wav,S,2.6,9.5,3.0,919,Male,Test1", "EmoVal 9.5 is outside the release's 1-7 scale"),
    ("MSP-PODCAST_0003_0005.wav,S,2.6,2.2,3.0,919,M?,Test1", "unknown Gender 'M?'"),
    ("MSP-PODCAST_0003_0005.wav,S,2.6,2.2,3.0,,Male,Test1", "empty SpkrID"),
    ("MSP-PODCAST_0003_0005.wav,S,2.6,2.2,3.0,919,Male,", "empty Split_Set"),
    ("MSP-PODCAST_0003_0005.wav,S,2.6,2.2,3.0,919,Male", "one value per header column"),
    ("MSP-PODCAST_0001_0008.wav,S,2.6,2.2,3.0,919,Male,Test1", "labelled a second time"),
])
def test_msp_podcast_bad_line(tmp_path: Path, bad_line: str, text: str) -> None:
    tree = make_msp_podcast(tmp_path / "MSP-Podcast")
    label_file, line = tree.labels["MSP-PODCAST_0003_0005"]
    replace_line(label_file, line, bad_line)
    table = bad_input(tree, label_file, line, text)
    assert "MSP-PODCAST_0003_0005" not in set(table["utterance_id"]) and len(table) == 9


def test_msp_podcast_label_without_audio(tmp_path: Path) -> None:
    tree = make_msp_podcast(tmp_path / "MSP-Podcast")
    tree.audio("MSP-PODCAST_0004_0011").unlink()
    assert len(bad_input(tree, *tree.labels["MSP-PODCAST_0004_0011"], "label without audio")) == 9


def test_msp_podcast_label_file_and_audio_folder(tmp_path: Path) -> None:
    tree = make_msp_podcast(tmp_path / "MSP-Podcast")
    labels = tree.root / "Labels"
    shutil.copy(labels / "labels_consensus.csv", labels / "labels_concensus.csv")
    with pytest.raises(CorpusError, match=r"both Labels/labels_consensus\.csv and Labels/labels_concensus\.csv"):
        read_corpus(tree.corpus, tree.root)
    (labels / "labels_concensus.csv").write_text("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Split_Set\n")
    (labels / "labels_consensus.csv").unlink()
    with pytest.raises(CorpusError, match="no column Gender") as error:
        read_corpus(tree.corpus, tree.root)
    assert f"{labels / 'labels_concensus.csv'}:1:" in str(error.value)
    (labels / "labels_concensus.csv").unlink()
    with pytest.raises(CorpusError, match=r"no Labels/labels_consensus\.csv"):
        read_corpus(tree.corpus, tree.root)
    tree = make_msp_podcast(tmp_path / "second")
    shutil.rmtree(tree.root / "Audios")
    assert len(bad_input(tree, tree.root / "Audios", None, "folder missing")) == 0


def test_msp_podcast_unknown_turns_are_still_checked(tmp_path: Path) -> None:
    tree = make_msp_podcast(tmp_path / "MSP-Podcast")
    label_file = tree.root / "Labels" / "labels_consensus.csv"
    line = 1 + next(n for n, turn in enumerate(MSP_PODCAST_TURNS, start=1) if turn[5] == "Unknown")
    replace_line(label_file, line, "MSP-PODCAST_0008_0001.wav,Q,3.8,4.0,4.2,Unknown,Unknown,Train")
    bad_input(tree, label_file, line, "unknown EmoClass 'Q'")
    assert read_corpus(tree.corpus, tree.root, skip_bad=True).excluded[msp_podcast.SPEAKER_UNKNOWN] == 1


# --------------------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("name", PUBLIC)
def test_summary_and_check_on_each_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    tree = MAKERS[name](tmp_path / name)
    root = ["--corpus", name, "--root", str(tree.root)]
    assert main(["data", "summary", *root, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    usable = [r for r in tree.rows.values() if r["emotion"] not in ("other", "no_agreement")]
    assert summary["corpus"] == name and summary["utterances"] == len(usable) and summary["skipped"] == []
    # the label task's exclusions, beside the reader's counted ones (song files, unknown speakers) where shown
    counted = read_corpus(name, tree.root).excluded
    assert all(summary["excluded"][reason] == n for reason, n in counted.items())
    by_task = {reason: n for reason, n in summary["excluded"].items() if reason not in counted}
    assert sum(by_task.values()) == len(tree.rows) - len(usable)
    for speaker, entry in summary["by_speaker"].items():
        assert {r["gender"] for r in tree.rows.values() if r["speaker"] == speaker} == {entry["gender"]}
    assert main(["data", "summary", *root, "--task", "arousal"]) == 0
    assert "utterances used" in capsys.readouterr().out
    assert main(["data", "check", *root]) == 0
    out = capsys.readouterr().out
    assert f"{len(tree.rows)} labelled utterances" in out and "0 problem(s)" in out
    assert all(f"left out {n}: {reason}" in " ".join(out.split()) for reason, n in counted.items())


def test_check_names_a_bad_file_of_a_public_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_tess(tmp_path / "TESS")
    tree.audio("YAF_dog_ps").write_bytes(b"")
    write_wav(tree.root / "OAF_angry" / "OAF_back_furious.wav")
    assert main(["data", "check", "--corpus", "tess", "--root", str(tree.root)]) == 1
    out = capsys.readouterr().out
    assert "YAF_dog_ps.wav" in out and "OAF_back_furious.wav" in out and "2 problem(s)" in out
