"""EMOVO (Italian emotional speech), read from the EMOVO release folder as distributed.

There is no label file: <speaker>/<emotion>-<speaker>-<sentence>.wav (f1/dis-f1-b1.wav) names one of the six
actors (f1 .. f3, m1 .. m3), the emotion in Italian (disgusto, gioia, neutro, paura, rabbia, sorpresa,
tristezza) and one of the 14 sentences: b1 .. b3 short, l1 .. l4 long, n1 .. n5 nonsense, d1 d2 questions.
documents/ is not read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.schema import make_table
from serbench.errors import CorpusError, Problem

NAME = "emovo"
SPEAKERS = ("f1", "f2", "f3", "m1", "m2", "m3")  # the letter is the actor's gender
CODES = {"dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear", "rab": "anger", "sor": "surprise",
         "tri": "sadness"}
SENTENCES = ("b1", "b2", "b3", "l1", "l2", "l3", "l4", "n1", "n2", "n3", "n4", "n5", "d1", "d2")
FILE_NAME = re.compile(r"([a-z]+)-([a-z]\d)-([a-z]\d)", re.IGNORECASE)  # dis-f1-b1: emotion, speaker, sentence


@register_corpus(
    NAME,
    codes=CODES,
    title="EMOVO (Italian emotional speech database)",
    release_dir="EMOVO",
    languages=("it",),
    native_sample_rate=48000,
    licence="free for research use (Fondazione Ugo Bordoni, Università di Roma Tor Vergata); ask the authors "
            "before any other use",
    homepage="http://voice.fub.it/activities/corpora/emovo/index.html",
)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every wav in the speaker folders at `root` (or at root/EMOVO), and the problems found on the way."""
    base = root if _speaker_dirs(root) or not (root / "EMOVO").is_dir() else root / "EMOVO"
    speaker_dirs = _speaker_dirs(base)
    if not speaker_dirs:
        raise CorpusError("not an EMOVO release: there are no f1 .. f3, m1 .. m3 folders here", path=root,
                          hint="point --root at the EMOVO folder that holds f1, f2, f3, m1, m2 and m3")
    rows: list[dict] = []
    problems: list[Problem] = []
    for folder in speaker_dirs:
        for path in sorted(folder.glob("*.wav")):
            if path.name.startswith("."):
                continue
            row, message = _parse_file(path)
            if message is not None:
                problems.append(Problem(str(path), message))
            else:
                rows.append(row)
    return make_table(rows), problems


def _speaker_dirs(folder: Path) -> list[Path]:
    return [folder / speaker for speaker in SPEAKERS if (folder / speaker).is_dir()]


def _parse_file(path: Path) -> tuple[dict, str | None]:
    """(the table row, None) for a well-named file, ({}, what is wrong) for any other."""
    match = FILE_NAME.fullmatch(path.stem)
    if match is None:
        return {}, "file name does not parse: expected <emotion>-<speaker>-<sentence>.wav (dis-f1-b1.wav)"
    code, speaker, sentence = (part.lower() for part in match.groups())
    if code not in CODES:
        return {}, f"unknown emotion code {match[1]!r} (EMOVO uses {' '.join(CODES)})"
    if speaker not in SPEAKERS:
        return {}, f"unknown speaker {match[2]!r} (EMOVO has {' '.join(SPEAKERS)})"
    if sentence not in SENTENCES:
        return {}, f"unknown sentence {match[3]!r} (EMOVO has {' '.join(SENTENCES)})"
    if speaker != path.parent.name:
        return {}, f"the name says speaker {speaker} but the file is in folder {path.parent.name}; move it to {speaker}"
    return {
        "utterance_id": path.stem, "path": str(path), "corpus": NAME, "speaker": f"{NAME}:{speaker}",
        "gender": speaker[0].upper(), "locale": "it", "session": "", "emotion_code": match[1],
        "emotion": CODES[code],
    }, None
