"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset), read from its repository as distributed.

Audio is AudioWAV/AAAA_SSS_EEE_LL.wav: actor AAAA, sentence SSS, the emotion EEE the actor was asked to show and
its level LL. Each actor's sex comes from VideoDemographics.csv at the root. Two corpora read the same release:
`crema-d` labels each clip with the emotion the actor was asked to show (the usual choice), `crema-d-voice` with
the crowd's majority vote on the audio alone (processedResults/summaryTable.csv, column VoiceVote), where a tie
between emotions (`A:D`) is no agreement. AudioMP3/ and VideoFlash/ are not read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.release import csv_records
from serbench.data.corpora.schema import make_table
from serbench.data.labels import NO_AGREEMENT
from serbench.errors import CorpusError, Problem

NAME = "crema-d"
VOICE_NAME = "crema-d-voice"
DEMOGRAPHICS = "VideoDemographics.csv"
SUMMARY_TABLE = Path("processedResults") / "summaryTable.csv"
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
CODES = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral", "SAD": "sadness"}
LEVELS = ("LO", "MD", "HI", "XX")  # low, medium, high, unspecified
VOTES = {"A": "anger", "D": "disgust", "F": "fear", "H": "happiness", "N": "neutral", "S": "sadness"}
SEXES = {"Male": "M", "Female": "F"}
FILE_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})")  # 1001_DFA_ANG_XX
FILE_FORMAT = "AAAA_SSS_EEE_LL.wav (actor, sentence, emotion, level: 1001_DFA_ANG_XX.wav)"
METADATA = {
    "release_dir": "CREMA-D",
    "languages": ("en-US",),
    "native_sample_rate": 16000,
    "licence": "Open Database License (ODbL 1.0); its contents under the Database Contents License (DbCL 1.0)",
    "homepage": "https://github.com/CheyneyComputerScience/CREMA-D",
}
RESTORE = f"restore the file from the CREMA-D repository ({METADATA['homepage']})"
HINT = ("point --root at the CREMA-D repository, cloned with git-lfs: it holds AudioWAV/, VideoDemographics.csv "
        "and processedResults/")


@register_corpus(NAME, title="CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset)", codes=CODES, **METADATA)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every wav in root/AudioWAV labelled with its intended emotion, and the problems found on the way."""
    audio, sexes, problems = _read_release(root)
    rows: list[dict] = []
    for path in audio.values():
        row, message = _parse_file(path, sexes, NAME)
        if message is not None:
            problems.append(Problem(str(path), message))
        else:
            rows.append(row)
    return make_table(rows), problems


@register_corpus(VOICE_NAME, title="CREMA-D, labelled by the crowd's majority vote on the audio alone", codes=VOTES,
                 **METADATA)
def read_voice(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every wav in root/AudioWAV labelled with its VoiceVote in processedResults/summaryTable.csv, and the
    problems found on the way."""
    audio, sexes, problems = _read_release(root)
    label_file = root / SUMMARY_TABLE
    if not label_file.is_file():
        raise CorpusError(f"{SUMMARY_TABLE} is missing: crema-d-voice takes its labels from it", path=root,
                          hint=f"{HINT}; or read the same release as crema-d (the emotions the actors were asked "
                               "to show)")
    rows: list[dict] = []
    seen: set[str] = set()
    for number, record in csv_records(label_file, ("FileName", "VoiceVote"), RESTORE):
        row, message = _parse_vote(record, audio, sexes, seen)
        if message is not None:
            problems.append(Problem(str(label_file), message, number))
        else:
            rows.append(row)
    problems += [Problem(str(path), f"audio without a label: no line of {label_file} names it")
                 for stem, path in audio.items() if stem not in seen]
    return make_table(rows), problems


def _read_release(root: Path) -> tuple[dict[str, Path], dict[str, str], list[Problem]]:
    """The wavs of AudioWAV by stem, each actor's sex ("F"/"M") from VideoDemographics.csv, and its bad lines."""
    wav_dir = root / "AudioWAV"
    if not wav_dir.is_dir():
        raise CorpusError("not a CREMA-D release: there is no AudioWAV/ folder here", path=root, hint=HINT)
    demographics = root / DEMOGRAPHICS
    if not demographics.is_file():
        raise CorpusError(f"{DEMOGRAPHICS} is missing: it gives each actor's sex, which every utterance needs",
                          path=root, hint=f"{HINT} (copies of AudioWAV/ alone lack it: add the file from the "
                                          "repository)")
    sexes: dict[str, str] = {}
    problems: list[Problem] = []
    for number, record in csv_records(demographics, ("ActorID", "Sex"), RESTORE):
        if record is None:
            problems.append(Problem(str(demographics), "the line does not have one value per header column", number))
            continue
        actor, sex = record["ActorID"], record["Sex"]
        if actor in sexes:
            message = f"actor {actor} is listed a second time"
        elif not re.fullmatch(r"\d{4}", actor) or sex not in SEXES:
            message = f"line does not parse: expected an ActorID of four digits and a Sex of {' or '.join(SEXES)}"
        else:
            sexes[actor] = SEXES[sex]
            continue
        problems.append(Problem(str(demographics), message, number))
    audio = {path.stem: path for path in sorted(wav_dir.glob("*.wav")) if not path.name.startswith(".")}
    return audio, sexes, problems


def _parse_file(path: Path, sexes: dict[str, str], corpus: str) -> tuple[dict, str | None]:
    """(the table row, None) for a well-named file of a known actor, ({}, what is wrong) for any other."""
    match = FILE_NAME.fullmatch(path.stem)
    if match is None:
        return {}, f"file name does not parse: expected {FILE_FORMAT}"
    actor, sentence, code, level = match.groups()
    if sentence not in SENTENCES:
        return {}, f"unknown sentence {sentence!r} (CREMA-D has {' '.join(SENTENCES)})"
    if code not in CODES:
        return {}, f"unknown emotion code {code!r} (CREMA-D uses {' '.join(CODES)})"
    if level not in LEVELS:
        return {}, f"unknown emotion level {level!r} (CREMA-D uses {' '.join(LEVELS)})"
    if actor not in sexes:
        return {}, f"actor {actor} has no line in {DEMOGRAPHICS} (or a bad one), so the speaker's sex is unknown"
    # One speaker id for both readings of the release: they are the same actors, and the leakage guard says so.
    return {
        "utterance_id": path.stem, "path": str(path), "corpus": corpus, "speaker": f"{NAME}:{actor}",
        "gender": sexes[actor], "locale": "en-US", "session": "", "emotion_code": code, "emotion": CODES[code],
    }, None


def _parse_vote(record: dict[str, str] | None, audio: dict[str, Path], sexes: dict[str, str],
                seen: set[str]) -> tuple[dict, str | None]:
    """(the table row, None) for a good line of summaryTable.csv, ({}, what is wrong) for a bad one."""
    if record is None:
        return {}, "the line does not have one value per header column"
    name, vote = record["FileName"], record["VoiceVote"]
    if name in seen:
        return {}, f"clip {name} is labelled a second time"
    seen.add(name)
    votes = vote.split(":")
    if not all(code in VOTES for code in votes):
        return {}, f"unknown VoiceVote {vote!r} (one or more of {' '.join(VOTES)}, separated by ':')"
    if name not in audio:
        return {}, f"label without audio: AudioWAV/{name}.wav does not exist"
    row, message = _parse_file(audio[name], sexes, VOICE_NAME)
    if message is not None:
        return {}, f"{name}: {message}"
    # Several emotions share the most votes: the crowd did not agree on one.
    emotion = VOTES[vote] if len(votes) == 1 else NO_AGREEMENT
    return {**row, "emotion_code": vote, "emotion": emotion}, None
