"""Tiny corpus trees in each release's exact on-disk format, with generated audio, for tests.

Each `make_<corpus>(root)` writes a small release below `root` (the release folder itself, e.g.
`make_iemocap(tmp_path / "IEMOCAP_full_release")`) and returns a `Tree`: what to pass to
`serbench.data.corpora.read_corpus` and the utterance table a reader must return. Audio is a short tone plus a little
noise (a different pitch per utterance), 16-bit PCM, written with soundfile. Nothing here uses the readers.

    tree = make_corpus("iemocap", tmp_path / "IEMOCAP_full_release")
    corpus = read_corpus(tree.corpus, tree.root)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

NAN = math.nan


@dataclass
class Tree:
    """A corpus tree on disk and what reading it must give."""

    corpus: str  # the corpus name to read it as (iemocap, msp-improv, savee, emodb, or a manifest's name)
    root: Path  # the release folder, or the manifest CSV, to pass to read_corpus
    sample_rate: int  # of every wav in the tree
    rows: dict[str, dict] = field(default_factory=dict)  # utterance_id -> expected table row (every column)
    # utterance_id -> (label file, 1-based line number of its label), for corpora with label files
    labels: dict[str, tuple[Path, int]] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return sorted(self.rows)

    def audio(self, utterance_id: str) -> Path:
        """The wav file of one utterance."""
        return Path(self.rows[utterance_id]["path"])


def write_wav(path: Path, *, seconds: float = 0.5, sample_rate: int = 16000, frequency: float = 220.0,
              seed: int = 0) -> Path:
    """Write a mono 16-bit wav: a tone at `frequency` Hz plus a little noise, creating folders as needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    noise = np.random.default_rng(seed).normal(0.0, 0.02, t.size)
    sf.write(path, 0.3 * np.sin(2 * np.pi * frequency * t) + noise, sample_rate, subtype="PCM_16")
    return path


def _write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def _add(tree: Tree, utterance: str, path: Path, seconds: float, **columns: object) -> None:
    """Write the utterance's audio and record its expected row."""
    index = len(tree.rows)
    write_wav(path, seconds=seconds, sample_rate=tree.sample_rate, frequency=150.0 + 40.0 * index, seed=index)
    tree.rows[utterance] = {"utterance_id": utterance, "path": str(path), "corpus": tree.corpus, "session": "",
                            "split": "",
                            "valence": NAN, "arousal": NAN, "dominance": NAN, **columns}


# ---------------------------------------------------------------------------------------------------- IEMOCAP

IEMOCAP_CODES = {"ang": "anger", "hap": "happiness", "exc": "excitement", "sad": "sadness", "neu": "neutral",
                 "fru": "frustration", "fea": "fear", "sur": "surprise", "dis": "disgust", "oth": "other",
                 "xxx": "no_agreement"}
# dialog -> utterances (id, code, [V, A, D]). Every code appears; Ses01F_impro01_M002 and Ses02M_impro02_F000
# are the mocap-letter trap: the speaker is the letter of the last field, not the one after SesNN.
IEMOCAP_DIALOGS: dict[str, list[tuple[str, str, tuple[float, float, float]]]] = {
    "Ses01F_impro01": [("Ses01F_impro01_F000", "neu", (2.5, 2.5, 2.5)),
                       ("Ses01F_impro01_M002", "ang", (1.5, 4.0, 4.5)),
                       ("Ses01F_impro01_F001", "xxx", (2.0, 3.0, 3.0))],
    "Ses01F_script01_1": [("Ses01F_script01_1_F003", "exc", (4.0, 3.5, 3.0)),
                          ("Ses01F_script01_1_M010", "fru", (2.0, 3.5, 3.5))],
    "Ses02M_impro02": [("Ses02M_impro02_F000", "hap", (4.5, 3.0, 3.0)),
                       ("Ses02M_impro02_M001", "sad", (1.5, 2.0, 2.0))],
    "Ses03F_impro03": [("Ses03F_impro03_F000", "fea", (2.0, 3.5, 2.0)),
                       ("Ses03F_impro03_M000", "sur", (3.5, 4.0, 3.0))],
    "Ses04M_script02_2": [("Ses04M_script02_2_F000", "dis", (1.5, 3.0, 3.5)),
                          ("Ses04M_script02_2_M000", "oth", (3.0, 3.0, 3.0))],
    "Ses05F_impro05": [("Ses05F_impro05_F019", "ang", (1.5, 4.0, 4.5)),
                       ("Ses05F_impro05_M000", "neu", (3.0, 2.0, 2.5))],
}
IEMOCAP_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def _iemocap_block(utterance: str, code: str, ratings: tuple[float, float, float], start: float) -> str:
    """One utterance's block: the summary line, then rater lines of every kind the release has."""
    v, a, d = ratings
    return (f"[{start:.4f} - {start + 2.5:.4f}]\t{utterance}\t{code}\t[{v:.4f}, {a:.4f}, {d:.4f}]\n"
            "C-E1:\tAnger;\t()\n"
            "C-E2:\tNeutral; Frustration;\t(slightly annoyed)\n"
            "C-F1:\tNeutral;\t()\n"  # the female actor's self rating
            "C-M1:\tFrustration;\t(curious)\n"  # the male actor's self rating
            "A-E3:\tval 2; act 4; dom  4;\t()\n"  # double space before the dominance value
            "A-E4:\tval 1; act 4;\t(threatening, belligerent)\n"  # no dominance
            "A-F1:\tval 3; act 2; dom  1;\t()\n"
            "\n")


def make_iemocap(root: Path, *, seconds: float = 0.5) -> Tree:
    """Write an IEMOCAP_full_release tree at `root`: five sessions, 13 utterances, 16 kHz.

    Besides the labels and sentence audio it has what a reader must not read: per-rater files in
    EmoEvaluation/Categorical, Attribute and Self-evaluation (one of them a copy of a dialog's label file with
    other codes), dialog-level wavs in dialog/wav, and transcriptions.
    """
    tree = Tree("iemocap", root, 16000)
    for dialog, utterances in IEMOCAP_DIALOGS.items():
        session = int(dialog[4])
        folder = root / f"Session{session}"
        text = IEMOCAP_HEADER
        for index, (utterance, code, ratings) in enumerate(utterances):
            letter = utterance.rsplit("_", 1)[1][0]
            tree.labels[utterance] = (folder / "dialog" / "EmoEvaluation" / f"{dialog}.txt", text.count("\n") + 1)
            text += _iemocap_block(utterance, code, ratings, start=6.2901 + 10 * index)
            _add(tree, utterance, folder / "sentences" / "wav" / dialog / f"{utterance}.wav", seconds,
                 speaker=f"iemocap:Ses0{session}{letter}", gender=letter, locale="en-US", session=str(session),
                 emotion_code=code, emotion=IEMOCAP_CODES[code], valence=ratings[0], arousal=ratings[1],
                 dominance=ratings[2])
        evaluation = folder / "dialog" / "EmoEvaluation"
        _write_text(evaluation / f"{dialog}.txt", text)
        _write_text(evaluation / "Categorical" / f"{dialog}_e2_cat.txt",
                    "".join(f"{utterance} :Neutral state; ()\n" for utterance, _, _ in utterances))
        _write_text(evaluation / "Attribute" / f"{dialog}_e3_atr.txt",
                    "".join(f"{utterance} :act 2; val 3; dom  2; ()\n" for utterance, _, _ in utterances))
        _write_text(evaluation / "Self-evaluation" / f"{dialog}.txt",
                    text.replace("\tneu\t", "\tsad\t").replace("\tang\t", "\thap\t"))
        _write_text(folder / "dialog" / "transcriptions" / f"{dialog}.txt",
                    "".join(f"{utterance} [006.2901-008.2357]: Excuse me.\n" for utterance, _, _ in utterances))
        write_wav(folder / "dialog" / "wav" / f"{dialog}.wav", seconds=seconds, sample_rate=16000)
    return tree


# ------------------------------------------------------------------------------------------------- MSP-IMPROV

MSP_CODES = {"A": "anger", "H": "happiness", "S": "sadness", "N": "neutral", "O": "other", "X": "no_agreement"}
MSP_RATER_WORDS = {"A": "Angry", "H": "Happy", "S": "Sad", "N": "Neutral", "O": "Other", "X": "Neutral"}
# name (S01A-F01-S-FM01), consensus letter, (V, A, D), naturalness (None: the field is absent)
MSP_TURNS: list[tuple[str, str, tuple[float, float, float], float | None]] = [
    ("S01A-F01-S-FM01", "A", (1.5, 4.0, 3.5), None),
    ("S01A-M01-P-MF01", "H", (4.2, 3.4, 3.0), 4.2),
    ("S02H-F02-T-FM02", "S", (1.8, 2.0, 2.2), None),
    ("S03S-M03-R-MF03", "N", (3.0, 2.6, 3.0), 3.8),
    ("S05N-F06-P-FM04", "N", (NAN, NAN, 3.0), None),
    ("S06A-M06-S-MF05", "O", (2.5, 3.0, NAN), 2.0),
    ("S04H-F04-P-FM06", "X", (3.0, 3.0, 3.0), None),
]


def _msp_value(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:.6f}"


def make_msp_improv(root: Path, *, label_file: str = "Evalution.txt", audio_dir: str = "",
                    seconds: float = 0.5) -> Tree:
    """Write an MSP-IMPROV release at `root`: seven turns of six speakers, 44.1 kHz, some ratings NaN.

    label_file: "Evalution.txt" as in the release (sic), or "Evaluation.txt". audio_dir: "" puts the audio at
    session1/S01A/S/MSP-IMPROV-S01A-F01-S-FM01.wav as in the release, "Audio" at Audio/session1/S01A/S/...
    """
    tree = Tree("msp-improv", root, 44100)
    lines: list[str] = []
    for name, code, (v, a, d), naturalness in MSP_TURNS:
        utterance = f"MSP-IMPROV-{name}"
        sentence, speaker, condition = name.split("-")[:3]
        consensus = f"UTD-IMPROV-{name}.avi; {code}; A:{_msp_value(a)}; V:{_msp_value(v)}; D:{_msp_value(d)};"
        if naturalness is not None:
            consensus += f" ; N:{naturalness:.6f};"
        tree.labels[utterance] = (root / label_file, len(lines) + 1)
        word = MSP_RATER_WORDS[code]
        lines += [consensus,
                  f"R0012; {word}; A:4.000000; V:2.000000; D:3.000000; N:3.000000;",
                  f"R0107; Neutral; {word}; A:3.000000; V:3.000000; D:NaN; N:4.000000;",
                  f"R0233; {word}; A:NaN; V:NaN; D:NaN; N:NaN;",
                  ""]
        session = int(speaker[1:])
        _add(tree, utterance, root / audio_dir / f"session{session}" / sentence / condition / f"{utterance}.wav",
             seconds, speaker=f"msp-improv:{speaker}", gender=speaker[0], locale="en-US", session=str(session),
             emotion_code=code, emotion=MSP_CODES[code], valence=v, arousal=a, dominance=d)
    _write_text(root / label_file, "\n".join(lines) + "\n")
    (root / "Video").mkdir()
    return tree


# ------------------------------------------------------------------------------------------------------ SAVEE

SAVEE_CODES = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness",
               "su": "surprise"}
# speaker -> file stems in AudioData/<speaker>/; DC has every code, including the two-letter sa and su.
SAVEE_FILES = {"DC": ["a01", "d01", "f01", "h01", "n01", "n30", "sa01", "su01"],
               "JE": ["a15", "n02"], "JK": ["sa02", "su03"], "KL": ["h15", "f07"]}
SAVEE_INFO = ("Audio data: AudioData/<speaker>/<emotion><number>.wav\n"
              "Speakers: DC, JE, JK, KL\n"
              "Emotions: a anger, d disgust, f fear, h happiness, n neutral, sa sadness, su surprise\n")


def make_savee(root: Path, *, flat: bool = False, seconds: float = 0.5) -> Tree:
    """Write a SAVEE release at `root`: 14 files of the four speakers, 44.1 kHz.

    flat=False: AudioData/<speaker>/<code><nn>.wav plus AudioData/Info.txt, as released.
    flat=True: the flattened repack, ALL/<speaker>_<code><nn>.wav.
    """
    tree = Tree("savee", root, 44100)
    if not flat:
        _write_text(root / "AudioData" / "Info.txt", SAVEE_INFO)
    for speaker, stems in SAVEE_FILES.items():
        for stem in stems:
            code = stem.rstrip("0123456789")
            path = root / "ALL" / f"{speaker}_{stem}.wav" if flat else root / "AudioData" / speaker / f"{stem}.wav"
            _add(tree, f"{speaker}_{stem}", path, seconds, speaker=f"savee:{speaker}", gender="M",
                 locale="en-GB", emotion_code=code, emotion=SAVEE_CODES[code])
    return tree


# ----------------------------------------------------------------------------------------------------- Emo-DB

EMODB_CODES = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness",
               "N": "neutral"}
EMODB_GENDERS = {"03": "M", "10": "M", "11": "M", "12": "M", "15": "M",
                 "08": "F", "09": "F", "13": "F", "14": "F", "16": "F"}
# all ten speakers, all seven emotion letters
EMODB_FILES = ["03a01Wa", "08a02La", "09b01Ea", "10a04Ab", "11b10Fc", "12a05Td", "13a07Na", "14b02Wb",
               "15b03Nc", "16b09Fa"]


def make_emodb(root: Path, *, seconds: float = 0.5) -> Tree:
    """Write an Emo-DB release at `root`: wav/SSTTTEV.wav for ten files (every speaker and emotion), 16 kHz,
    with erkennung.txt (Latin-1, tabs, decimal comma), erklaerung.txt, silb/, lablaut/ and labsilb/."""
    tree = Tree("emodb", root, 16000)
    recognition = "Nr.\tSatz\terkannt\tnatuerlich\n"
    for number, stem in enumerate(EMODB_FILES, start=1):
        speaker, code = stem[:2], stem[5]
        _add(tree, stem, root / "wav" / f"{stem}.wav", seconds, speaker=f"emodb:{speaker}",
             gender=EMODB_GENDERS[speaker], locale="de", emotion_code=code, emotion=EMODB_CODES[code])
        recognition += f"{number}  \t{stem}.wav\t{80 + number},00     \t{60 + number},50     \n"
        for folder in ("silb", "lablaut", "labsilb"):
            _write_text(root / folder / f"{stem}.{folder}", "0.000 #\n0.210 da\n")
    _write_text(root / "erkennung.txt", recognition, encoding="latin-1")
    _write_text(root / "erklaerung.txt", "Am Perzeptionstest haben 20 Versuchspersonen teilgenommen "
                                         "(>=16 von 20 Hörern).\n", encoding="latin-1")
    return tree


# --------------------------------------------------------------------------------------------------- manifest

# RAVDESS-style files (Actor_NN/03-01-EE-II-SS-RR-AA.wav, odd actors male), as one row each:
# (path, speaker, gender as written, emotion, emotion_code, valence, arousal)
MANIFEST_ROWS = [
    ("Actor_01/03-01-05-01-01-01-01.wav", "01", "male", "anger", "05", "1.5", "4"),
    ("Actor_01/03-01-02-01-01-01-01.wav", "01", "M", "calm", "02", "", ""),
    ("Actor_02/03-01-03-02-02-01-02.wav", "02", "female", "happiness", "03", "4.5", "3.5"),
    ("Actor_02/03-01-01-01-01-01-02.wav", "02", "f", "neutral", "", "", ""),
]


def make_manifest(root: Path, *, name: str = "ravdess", seconds: float = 0.5) -> Tree:
    """Write RAVDESS-like audio and `manifest.csv` (required columns, plus session, emotion_code, valence and
    arousal with some cells empty) in the folder `root`; the tree's root is the CSV."""
    csv_path = root / "manifest.csv"
    tree = Tree(name, csv_path, 16000)
    lines = ["path,speaker,gender,language,emotion,session,emotion_code,valence,arousal"]
    for number, (path, speaker, gender, emotion, code, valence, arousal) in enumerate(MANIFEST_ROWS, start=2):
        utterance = path.removesuffix(".wav")
        tree.labels[utterance] = (csv_path, number)
        lines.append(f"{path},{speaker},{gender},en-US,{emotion},1,{code},{valence},{arousal}")
        _add(tree, utterance, root / path, seconds, speaker=f"{name}:{speaker}", gender=gender[0].upper(),
             locale="en-US", session="1", emotion_code=code or emotion, emotion=emotion,
             valence=float(valence or NAN), arousal=float(arousal or NAN))
    _write_text(csv_path, "\n".join(lines) + "\n")
    return tree


# ---------------------------------------------------------------------------------------------------- RAVDESS

RAVDESS_CODES = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness", "05": "anger", "06": "fear",
                 "07": "disgust", "08": "surprise"}
# actor -> stems of the speech part (03-01-EE-II-SS-RR-AA): every emotion, both intensities, odd (male) and even
# (female) actors
RAVDESS_SPEECH = {"01": ["03-01-01-01-01-01-01", "03-01-02-02-01-01-01", "03-01-05-01-02-02-01"],
                  "02": ["03-01-03-01-01-01-02", "03-01-04-02-02-01-02", "03-01-08-02-02-02-02"],
                  "23": ["03-01-06-01-01-02-23", "03-01-07-02-01-01-23"],
                  "24": ["03-01-01-01-02-02-24"]}
# actor -> stems of the song part (vocal channel 02), which the reader leaves out and counts
RAVDESS_SONG = {"01": ["03-02-03-01-01-01-01"], "02": ["03-02-06-02-02-01-02"]}
RAVDESS_LAYOUTS = ("release", "zip folders", "kaggle")


def make_ravdess(root: Path, *, layout: str = "release", seconds: float = 0.3) -> Tree:
    """Write RAVDESS's speech part at `root`: nine files of four actors, 48 kHz.

    layout "release": root/Actor_NN/, with the song part's files in the same folders (both zips unpacked in one
    place), video files (.mp4) and a macOS ._ copy, none of which are speech rows. "zip folders":
    root/Audio_Speech_Actors_01-24/Actor_NN/ beside root/Audio_Song_Actors_01-24/Actor_NN/ (the zips unpacked into
    folders of their names). "kaggle": root/audio_speech_actors_01-24/Actor_NN/ and a second copy of every file in
    root/Actor_NN/. Only "release" has song files the reader meets (RAVDESS_SONG).
    """
    tree = Tree("ravdess", root, 48000)
    speech = {"release": root, "zip folders": root / "Audio_Speech_Actors_01-24",
              "kaggle": root / "audio_speech_actors_01-24"}[layout]
    for actor, stems in RAVDESS_SPEECH.items():
        for stem in stems:
            _add(tree, stem, speech / f"Actor_{actor}" / f"{stem}.wav", seconds, speaker=f"ravdess:{actor}",
                 gender="M" if int(actor) % 2 else "F", locale="en-US", emotion_code=stem[6:8],
                 emotion=RAVDESS_CODES[stem[6:8]])
            if layout == "kaggle":
                write_wav(root / f"Actor_{actor}" / f"{stem}.wav", seconds=seconds, sample_rate=48000)
    song = root if layout == "release" else root / "Audio_Song_Actors_01-24"
    for actor, stems in RAVDESS_SONG.items():
        for stem in stems:
            write_wav(song / f"Actor_{actor}" / f"{stem}.wav", seconds=seconds, sample_rate=48000, frequency=440.0)
    if layout == "release":
        _write_text(root / "Actor_01" / "01-01-01-01-01-01-01.mp4", "not audio: a full-AV video file\n")
        _write_text(root / "Actor_02" / "._03-01-03-01-01-01-02.wav", "macOS resource fork\n")
    return tree


# ---------------------------------------------------------------------------------------------------- CREMA-D

CREMA_CODES = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral",
               "SAD": "sadness"}
CREMA_VOTES = {"A": "anger", "D": "disgust", "F": "fear", "H": "happiness", "N": "neutral", "S": "sadness"}
# VideoDemographics.csv: ActorID -> (Age, Sex); 1003 has no clip here
CREMA_ACTORS = {"1001": (51, "Male"), "1002": (21, "Female"), "1003": (21, "Female"), "1091": (29, "Female")}
# clip -> its VoiceVote in processedResults/summaryTable.csv: votes that agree with the intended emotion, votes
# that do not (1001_IEO_HAP_LO heard as neutral) and ties between emotions (A:D)
CREMA_CLIPS = {"1001_DFA_ANG_XX": "A", "1001_IEO_HAP_LO": "N", "1001_IEO_SAD_HI": "S", "1002_TIE_DIS_MD": "A:D",
               "1002_ITS_FEA_XX": "F", "1002_WSI_NEU_XX": "N", "1091_MTI_SAD_XX": "S", "1091_TAI_HAP_HI": "H:N"}


def make_crema_d(root: Path, *, voice: bool = False, seconds: float = 0.3) -> Tree:
    """Write a CREMA-D repository at `root`: AudioWAV/ with eight clips of three actors (16 kHz),
    VideoDemographics.csv and processedResults/summaryTable.csv as the release quotes them, plus AudioMP3/,
    VideoFlash/ and processedResults/tabulatedVotes.csv, which are not read.

    voice=False: the tree of `crema-d` (the intended emotions); voice=True: of `crema-d-voice` (the VoiceVotes).
    """
    tree = Tree("crema-d-voice" if voice else "crema-d", root, 16000)
    summary = root / "processedResults" / "summaryTable.csv"
    lines = ['"","FileName","VoiceVote","VoiceLevel","FaceVote","FaceLevel","MultiModalVote","MultiModalLevel"']
    for number, (clip, vote) in enumerate(CREMA_CLIPS.items(), start=1):
        actor, code = clip[:4], clip[9:12]
        level = ":".join(["52.5"] * len(vote.split(":")))
        lines.append(f'"{number}","{clip}","{vote}","{level}","{code[0]}","70","{code[0]}","66.2"')
        tree.labels[clip] = (summary, number + 1)
        emotion = (CREMA_VOTES[vote] if ":" not in vote else "no_agreement") if voice else CREMA_CODES[code]
        _add(tree, clip, root / "AudioWAV" / f"{clip}.wav", seconds, speaker=f"crema-d:{actor}",
             gender=CREMA_ACTORS[actor][1][0], locale="en-US", emotion_code=vote if voice else code,
             emotion=emotion)
        _write_text(root / "AudioMP3" / f"{clip}.mp3", "not read\n")
        _write_text(root / "VideoFlash" / f"{clip}.flv", "not read\n")
    _write_text(summary, "\n".join(lines) + "\n")
    _write_text(root / "processedResults" / "tabulatedVotes.csv",
                '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"\n'
                '"100001",0,0,0,1,10,0,"1001_DFA_ANG_XX",11,0.909,"N"\n')
    _write_text(root / "VideoDemographics.csv", '"ActorID","Age","Sex","Race","Ethnicity"\n' + "".join(
        f'{actor},{age},"{sex}","Caucasian","Not Hispanic"\n' for actor, (age, sex) in CREMA_ACTORS.items()))
    return tree


# ------------------------------------------------------------------------------------------------------- TESS

TESS_CODES = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "neutral": "neutral",
              "ps": "surprise", "sad": "sadness"}
# the repack's folder -> file stems, spelt as released: folder names vary in case and wording, and
# OA_bite_neutral is the release's misnamed file (OAF's)
TESS_FILES = {"OAF_angry": ["OAF_back_angry"], "OAF_disgust": ["OAF_bar_disgust"], "OAF_Fear": ["OAF_base_fear"],
              "OAF_happy": ["OAF_bath_happy"], "OAF_neutral": ["OAF_bean_neutral", "OA_bite_neutral"],
              "OAF_Pleasant_surprise": ["OAF_beg_ps"], "OAF_Sad": ["OAF_bite_sad"],
              "YAF_angry": ["YAF_back_angry"], "YAF_disgust": ["YAF_bar_disgust"], "YAF_fear": ["YAF_dog_fear"],
              "YAF_happy": ["YAF_base_happy"], "YAF_neutral": ["YAF_bath_neutral"],
              "YAF_pleasant_surprised": ["YAF_dog_ps"], "YAF_sad": ["YAF_germ_sad"]}
TESS_LAYOUTS = ("folders", "flat", "kaggle")


def make_tess(root: Path, *, layout: str = "folders", seconds: float = 0.3) -> Tree:
    """Write TESS at `root`: 15 files of the two speakers, 24,414 Hz.

    layout "folders": root/<speaker>_<emotion>/<file>.wav (root is the repack's `TESS Toronto emotional speech
    set data`); "flat": root/<file>.wav (the Dataverse download); "kaggle": the folders inside
    root/tess toronto emotional speech set data/TESS Toronto emotional speech set data/.
    """
    tree = Tree("tess", root, 24414)
    packed = root / "tess toronto emotional speech set data" / "TESS Toronto emotional speech set data"
    base = packed if layout == "kaggle" else root
    for folder, stems in TESS_FILES.items():
        for stem in stems:
            code = stem.rsplit("_", 1)[1]
            path = base / f"{stem}.wav" if layout == "flat" else base / folder / f"{stem}.wav"
            _add(tree, stem, path, seconds, speaker=f"tess:{folder[:3]}", gender="F", locale="en-CA",
                 emotion_code=code, emotion=TESS_CODES[code])
    return tree


# ------------------------------------------------------------------------------------------------------ EMOVO

EMOVO_CODES = {"dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear", "rab": "anger",
               "sor": "surprise", "tri": "sadness"}
# speaker -> file stems (<emotion>-<speaker>-<sentence>): every emotion and every kind of sentence
EMOVO_FILES = {"f1": ["dis-f1-b1", "gio-f1-l1", "neu-f1-n1"], "f2": ["pau-f2-d1", "rab-f2-b2"],
               "f3": ["sor-f3-l4", "tri-f3-n5"], "m1": ["neu-m1-d2", "gio-m1-b3"], "m2": ["rab-m2-n3"],
               "m3": ["tri-m3-l2", "dis-m3-b1"]}


def make_emovo(root: Path, *, nested: bool = False, seconds: float = 0.3) -> Tree:
    """Write EMOVO at `root`: 12 files of the six actors in f1 .. m3 (nested=True: in root/EMOVO/f1 ..), 48 kHz,
    with the release's documents/ folder."""
    tree = Tree("emovo", root, 48000)
    base = root / "EMOVO" if nested else root
    for speaker, stems in EMOVO_FILES.items():
        for stem in stems:
            _add(tree, stem, base / speaker / f"{stem}.wav", seconds, speaker=f"emovo:{speaker}",
                 gender=speaker[0].upper(), locale="it", emotion_code=stem[:3], emotion=EMOVO_CODES[stem[:3]])
    _write_text(base / "documents" / "LA STRUTTURA DI EMOVO.pdf", "%PDF-1.4 not read\n")
    return tree


# ------------------------------------------------------------------------------------------------ MSP-Podcast

MSP_PODCAST_CODES = {"A": "anger", "S": "sadness", "H": "happiness", "U": "surprise", "F": "fear", "D": "disgust",
                     "C": "contempt", "N": "neutral", "O": "other", "X": "no_agreement"}
MSP_PODCAST_HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"
# (FileName stem, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set): every class and partition, then
# the release's unidentified turns (SpkrID and/or Gender Unknown), which the reader leaves out and counts
MSP_PODCAST_TURNS: list[tuple[str, str, float, float, float, str, str, str]] = [
    ("MSP-PODCAST_0001_0008", "N", 4.0, 4.2, 4.4, "127", "Female", "Train"),
    ("MSP-PODCAST_0001_0019", "A", 5.8, 2.0, 5.2, "127", "Female", "Train"),
    ("MSP-PODCAST_0002_0033", "H", 4.6, 5.4, 4.8, "46", "Male", "Development"),
    ("MSP-PODCAST_0003_0005", "S", 2.6, 2.2, 3.0, "919", "Male", "Test1"),
    ("MSP-PODCAST_0004_0011", "U", 5.2, 4.6, 4.0, "2071", "Female", "Test2"),
    ("MSP-PODCAST_0005_0002", "F", 4.8, 2.6, 3.2, "3012", "Female", "Test3"),
    ("MSP-PODCAST_0006_0001", "D", 4.4, 2.4, 4.6, "46", "Male", "Train"),
    ("MSP-PODCAST_0006_0002", "C", 3.8, 3.0, 5.0, "46", "Male", "Train"),
    ("MSP-PODCAST_0007_0004", "O", 3.6, 4.0, 4.0, "512", "Male", "Development"),
    ("MSP-PODCAST_0007_0009", "X", 4.2, 3.8, 4.2, "512", "Male", "Development"),
    ("MSP-PODCAST_0008_0001", "N", 3.8, 4.0, 4.2, "Unknown", "Unknown", "Train"),
    ("MSP-PODCAST_0008_0002", "H", 4.6, 5.0, 4.4, "Unknown", "Male", "Train"),
    ("MSP-PODCAST_0009_0003", "A", 5.0, 2.8, 5.4, "1404", "Unknown", "Development"),
]
MSP_PODCAST_UNLABELLED = ["MSP-PODCAST_0010_0001"]  # audio that labels_consensus.csv does not name


def make_msp_podcast(root: Path, *, label_file: str = "labels_consensus.csv", seconds: float = 0.3) -> Tree:
    """Write an MSP-Podcast 1.x release at `root`: Audios/ with 14 turns (16 kHz) and Labels/<label_file>
    ("labels_consensus.csv", or the early releases' "labels_concensus.csv"), with Labels/labels_detailed.csv,
    Partitions.txt and Speaker_ids.txt, which are not read. The tree's rows are the turns of known speaker and
    gender; the three unidentified turns and the unlabelled wav are on disk but not rows."""
    tree = Tree("msp-podcast", root, 16000)
    labels = root / "Labels" / label_file
    lines = [MSP_PODCAST_HEADER]
    for stem, code, arousal, valence, dominance, speaker, gender, split in MSP_PODCAST_TURNS:
        lines.append(f"{stem}.wav,{code},{arousal},{valence},{dominance},{speaker},{gender},{split}")
        path = root / "Audios" / f"{stem}.wav"
        if "Unknown" in (speaker, gender):
            write_wav(path, seconds=seconds, sample_rate=16000, frequency=500.0)
            continue
        tree.labels[stem] = (labels, len(lines))
        _add(tree, stem, path, seconds, speaker=f"msp-podcast:{speaker}", gender=gender[0], locale="en-US",
             split=split, emotion_code=code, emotion=MSP_PODCAST_CODES[code], valence=valence, arousal=arousal,
             dominance=dominance)
    for stem in MSP_PODCAST_UNLABELLED:
        write_wav(root / "Audios" / f"{stem}.wav", seconds=seconds, sample_rate=16000, frequency=600.0)
    _write_text(labels, "\n".join(lines) + "\n")
    _write_text(root / "Labels" / "labels_detailed.csv",
                "FileName,Worker,EmoClass_Major,EmoAct,EmoVal,EmoDom\nMSP-PODCAST_0001_0008.wav,WORKER01,Sad,2,2,2\n")
    _write_text(root / "Partitions.txt", "Train; MSP-PODCAST_0001_0008.wav\n")
    _write_text(root / "Speaker_ids.txt", "Episode_0001; 127\n")
    return tree


MAKERS: dict[str, Callable[..., Tree]] = {
    "iemocap": make_iemocap, "msp-improv": make_msp_improv, "savee": make_savee, "emodb": make_emodb,
    "ravdess": make_ravdess, "crema-d": make_crema_d, "crema-d-voice": partial(make_crema_d, voice=True),
    "tess": make_tess, "emovo": make_emovo, "msp-podcast": make_msp_podcast,
}


def make_corpus(name: str, root: Path, **options: object) -> Tree:
    """Write the tree of built-in corpus `name` (a name in MAKERS) at `root`."""
    return MAKERS[name](root, **options)
