"""Emo-DB (Berlin Database of Emotional Speech), read from the emodb release folder as distributed.

There is no label file to read: wav/SSTTTEV.wav names speaker SS, text TTT, emotion letter E and version V.
(erkennung.txt holds listener recognition rates of every recorded take, not labels, and is not needed.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.schema import make_table
from serbench.errors import CorpusError, Problem

NAME = "emodb"
GENDERS = {"03": "M", "10": "M", "11": "M", "12": "M", "15": "M",
           "08": "F", "09": "F", "13": "F", "14": "F", "16": "F"}
CODES = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness",
         "N": "neutral"}
FILE_NAME = re.compile(r"(\d\d)[ab]\d\d([A-Z])[a-z]")  # 03a01Wa: speaker 03, text a01, emotion W, version a


@register_corpus(
    NAME,
    codes=CODES,
    title="Emo-DB (Berlin Database of Emotional Speech)",
    release_dir="emodb",
    languages=("de",),
    native_sample_rate=16000,
    licence="free for research use (TU Berlin); the audb copy is CC0 1.0",
    homepage="http://emodb.bilderbar.info/",
)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every wav in root/wav, and the problems found on the way."""
    wav_dir = root / "wav"
    hint = "point --root at the Emo-DB folder that holds wav/ (with files like 03a01Wa.wav)"
    if not wav_dir.is_dir():
        raise CorpusError("not an Emo-DB release: there is no wav/ folder here", path=root, hint=hint)
    rows: list[dict] = []
    problems: list[Problem] = []
    for path in sorted(wav_dir.glob("*.wav")):
        if path.name.startswith("."):
            continue
        row, message = _parse_file(path)
        if message is not None:
            problems.append(Problem(str(path), message))
        else:
            rows.append(row)
    if not rows:
        raise CorpusError("not an Emo-DB release: no file in wav/ is named like 03a01Wa.wav", path=wav_dir,
                          hint=hint)
    return make_table(rows), problems


def _parse_file(path: Path) -> tuple[dict, str | None]:
    """(the table row, None) for a well-named file, ({}, what is wrong) for any other."""
    match = FILE_NAME.fullmatch(path.stem)
    if match is None:
        return {}, "file name does not parse: expected SSTTTEV.wav (speaker, text, emotion, version: 03a01Wa.wav)"
    speaker, code = match.groups()
    if speaker not in GENDERS:
        return {}, f"unknown speaker {speaker!r} (Emo-DB has {' '.join(sorted(GENDERS))})"
    if code not in CODES:
        return {}, f"unknown emotion letter {code!r} (Emo-DB uses {' '.join(CODES)})"
    return {
        "utterance_id": path.stem, "path": str(path), "corpus": NAME, "speaker": f"{NAME}:{speaker}",
        "gender": GENDERS[speaker], "locale": "de", "session": "", "emotion_code": code, "emotion": CODES[code],
    }, None
