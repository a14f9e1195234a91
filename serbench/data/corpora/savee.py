"""SAVEE (Surrey Audio-Visual Expressed Emotion), read from the SAVEE release folder as distributed.

There is no label file: a file's name is its label. The release has AudioData/<speaker>/<code><nn>.wav (a01.wav,
sa12.wav); some repacks flatten this to <speaker>_<code><nn>.wav (DC_a01.wav) in one folder. Both are read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.release import wav_files
from serbench.data.corpora.schema import make_table
from serbench.errors import CorpusError, Problem

NAME = "savee"
SPEAKERS = ("DC", "JE", "JK", "KL")  # four male speakers
CODES = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness",
         "su": "surprise"}
FILE_NAME = re.compile(r"(?:([A-Z]{2})_)?([a-z]+)(\d\d)")  # a01, sa12, DC_a01


@register_corpus(
    NAME,
    codes=CODES,
    title="SAVEE (Surrey Audio-Visual Expressed Emotion)",
    release_dir="SAVEE",
    languages=("en-GB",),
    native_sample_rate=44100,
    licence="free for research use; request from the University of Surrey",
    homepage="http://kahlan.eps.surrey.ac.uk/savee/",
)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every wav below root/AudioData (or below root, for a flattened repack), and the problems found."""
    base = root / "AudioData" if (root / "AudioData").is_dir() else root
    rows: dict[str, dict] = {}
    problems: list[Problem] = []
    for path in wav_files(base):
        row, message = _parse_file(path, rows)
        if message is not None:
            problems.append(Problem(str(path), message))
        else:
            rows[row["utterance_id"]] = row
    if not rows:
        raise CorpusError("not a SAVEE release: there is no AudioData/<speaker>/<code><nn>.wav "
                          "(nor <speaker>_<code><nn>.wav) here", path=root,
                          hint="point --root at the SAVEE folder that holds AudioData/DC, AudioData/JE, ...")
    return make_table(rows.values()), problems


def _parse_file(path: Path, rows: dict[str, dict]) -> tuple[dict, str | None]:
    """(the table row, None) for a well-named file, ({}, what is wrong) for any other."""
    match = FILE_NAME.fullmatch(path.stem)
    if match is None:
        return {}, "file name does not parse: expected AudioData/<speaker>/<code><nn>.wav or <speaker>_<code><nn>.wav"
    speaker = match[1] or path.parent.name
    code = match[2]
    if speaker not in SPEAKERS:
        return {}, f"unknown speaker {speaker!r} (SAVEE has {' '.join(SPEAKERS)})"
    if code not in CODES:
        return {}, f"unknown emotion code {code!r} (SAVEE uses {' '.join(CODES)})"
    utterance = f"{speaker}_{code}{match[3]}"
    if utterance in rows:
        return {}, f"second copy of {utterance} (first: {rows[utterance]['path']}); remove one of the two"
    return {
        "utterance_id": utterance, "path": str(path), "corpus": NAME, "speaker": f"{NAME}:{speaker}",
        "gender": "M", "locale": "en-GB", "session": "", "emotion_code": code, "emotion": CODES[code],
    }, None
