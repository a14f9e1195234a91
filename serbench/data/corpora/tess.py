"""TESS (Toronto Emotional Speech Set), read as distributed.

There is no label file: <speaker>_<word>_<emotion>.wav (OAF_back_angry.wav, YAF_dog_ps.wav) names the speaker,
the target word of "Say the word ..." and the emotion. The Dataverse download holds the 2800 files in one folder;
the common repack (Kaggle) sorts them into <speaker>_<emotion> folders spelt inconsistently (OAF_Fear, YAF_fear,
OAF_Pleasant_surprise, YAF_pleasant_surprised) inside `TESS Toronto emotional speech set data/`, once more nested
in a folder of that name in lower case. Both are read; a folder's speaker and emotion must agree with its files'.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.release import wav_files
from serbench.data.corpora.schema import make_table
from serbench.errors import CorpusError, Problem

NAME = "tess"
SPEAKERS = ("OAF", "YAF")  # the older (64) and the younger (26) actress
CODES = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "neutral": "neutral",
         "ps": "surprise", "sad": "sadness"}  # ps: pleasant surprise
FOLDER_CODES = {**CODES, "pleasant_surprise": "surprise", "pleasant_surprised": "surprise"}
MISNAMED = {"OA_bite_neutral": "OAF"}  # the release's one misnamed file (in OAF_neutral)
PACKED_DIR = "tess toronto emotional speech set data"  # the repack's folder, compared in lower case
FILE_NAME = re.compile(r"([A-Za-z]+)_([A-Za-z]+)_([A-Za-z]+)")  # OAF_back_angry: speaker, word, emotion
FOLDER = re.compile(r"(OAF|YAF)_(\w+)", re.IGNORECASE)


@register_corpus(
    NAME,
    codes=CODES,
    title="TESS (Toronto Emotional Speech Set)",
    release_dir="TESS Toronto emotional speech set data",
    languages=("en-CA",),
    native_sample_rate=24414,
    licence="CC BY-NC-ND 4.0",
    homepage="https://doi.org/10.5683/SP2/E8H2MF",
)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every wav below `root` (below its innermost `TESS Toronto emotional speech set data` folder where it has
    one), and the problems found on the way."""
    base = root
    while packed := next((folder for folder in sorted(base.iterdir())
                          if folder.is_dir() and folder.name.lower() == PACKED_DIR), None):
        base = packed
    rows: dict[str, dict] = {}
    problems: list[Problem] = []
    for path in wav_files(base):
        row, message = _parse_file(path, rows)
        if message is not None:
            problems.append(Problem(str(path), message))
        else:
            rows[row["utterance_id"]] = row
    if not rows:
        raise CorpusError("not a TESS release: there is no file named like OAF_back_angry.wav here", path=root,
                          hint="point --root at the TESS folder that holds the wavs, or the OAF_angry, ... folders")
    return make_table(rows.values()), problems


def _parse_file(path: Path, rows: dict[str, dict]) -> tuple[dict, str | None]:
    """(the table row, None) for a well-named file, ({}, what is wrong) for any other."""
    match = FILE_NAME.fullmatch(path.stem)
    if match is None:
        return {}, "file name does not parse: expected <speaker>_<word>_<emotion>.wav (OAF_back_angry.wav)"
    speaker = MISNAMED.get(path.stem, match[1].upper())
    code = match[3]
    if speaker not in SPEAKERS:
        return {}, f"unknown speaker {match[1]!r} (TESS has {' and '.join(SPEAKERS)})"
    if code.lower() not in CODES:
        return {}, f"unknown emotion {code!r} (TESS uses {' '.join(CODES)})"
    emotion = CODES[code.lower()]
    folder = FOLDER.fullmatch(path.parent.name)
    if folder is not None:  # a repack's <speaker>_<emotion> folder: it must agree with the file's name
        if folder[2].lower() not in FOLDER_CODES:
            return {}, (f"folder {path.parent.name} names no TESS emotion (after the speaker it needs one of "
                        f"{' '.join(FOLDER_CODES)}, in any case)")
        if (folder[1].upper(), FOLDER_CODES[folder[2].lower()]) != (speaker, emotion):
            return {}, f"the name says {speaker} {emotion} but the file is in folder {path.parent.name}"
    if path.stem in rows:
        return {}, f"second copy of {path.stem} (first: {rows[path.stem]['path']}); remove one of the two"
    return {
        "utterance_id": path.stem, "path": str(path), "corpus": NAME, "speaker": f"{NAME}:{speaker}",
        "gender": "F", "locale": "en-CA", "session": "", "emotion_code": code, "emotion": emotion,
    }, None
