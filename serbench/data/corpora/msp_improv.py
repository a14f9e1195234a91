"""MSP-IMPROV, read from the MSP-IMPROV release folder as distributed.

Labels come from the root's `Evalution.txt` (sic; `Evaluation.txt` is accepted too): per turn a consensus line
`UTD-IMPROV-S01A-F01-S-FM01.avi; N; A:3.000000; V:3.500000; D:3.000000;` (optionally ` ; N:<naturalness>;`),
then the raters' lines until a blank line. The audio `MSP-IMPROV-S01A-F01-S-FM01.wav` is found anywhere below
the root (releases use both session1/S01A/S/... and Audio/session1/S01A/S/...).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.release import wav_files
from serbench.data.corpora.schema import make_table
from serbench.errors import CorpusError, Problem

NAME = "msp-improv"
LABEL_FILES = ("Evalution.txt", "Evaluation.txt")  # the release's spelling first
CODES = {"A": "anger", "H": "happiness", "S": "sadness", "N": "neutral", "O": "other", "X": "no_agreement"}
# S01A-F01-S-FM01: target sentence S01, target emotion A, speaker F01 (gender, session), condition, turn.
VIDEO = re.compile(r"UTD-IMPROV-(S\d\d[A-Z]-([FM])(\d\d)-[A-Z]-\w+)\.avi")
SESSIONS = range(1, 7)
RATINGS = {"V": "valence", "A": "arousal", "D": "dominance", "N": None}  # N (naturalness) is not kept
CONSENSUS_FORMAT = "UTD-IMPROV-S01A-F01-S-FM01.avi; N; A:3.0; V:3.5; D:3.0;"


@register_corpus(
    NAME,
    codes=CODES,
    title="MSP-IMPROV",
    release_dir="MSP-IMPROV",
    languages=("en-US",),
    native_sample_rate=44100,
    licence="UT Dallas MSP lab academic licence (request from the owners; not redistributable)",
    homepage="https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Improv.html",
    split_groups="session",
    rating_scale=(1.0, 5.0),
)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every turn with a consensus line in the label file at `root`, and the problems found on the way."""
    present = [root / name for name in LABEL_FILES if (root / name).is_file()]
    if not present:
        raise CorpusError("not an MSP-IMPROV release: there is no Evalution.txt (or Evaluation.txt) here",
                          path=root, hint="point --root at the MSP-IMPROV release folder that holds Evalution.txt")
    if len(present) > 1:
        raise CorpusError("both Evalution.txt and Evaluation.txt are here; which one holds the labels is unclear",
                          path=root, hint="keep one of the two files (the release names it Evalution.txt)")
    label_file = present[0]

    audio, problems = _find_audio(root)
    rows: list[dict] = []
    seen: set[str] = set()
    in_block = False
    with open(label_file, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            fields = [field.strip() for field in line.split(";") if field.strip()]
            if not fields:
                in_block = False
                continue
            if in_block and not fields[0].endswith(".avi"):
                continue  # a rater's line
            in_block = True
            row, message = _parse_consensus(fields, audio, seen)
            if message is not None:
                problems.append(Problem(str(label_file), message, number))
            else:
                rows.append(row)

    problems += [Problem(str(path), f"audio without a label: no consensus line in {label_file} names this turn")
                 for utterance, path in sorted(audio.items()) if utterance not in seen]
    return make_table(rows), problems


def _find_audio(root: Path) -> tuple[dict[str, Path], list[Problem]]:
    """Every MSP-IMPROV-*.wav below root, by utterance id, in one walk."""
    audio: dict[str, Path] = {}
    problems: list[Problem] = []
    for path in wav_files(root):
        if not path.name.startswith("MSP-IMPROV-"):
            continue
        if path.stem in audio:
            problems.append(Problem(str(path), f"second copy of {audio[path.stem]}; remove one of the two"))
        else:
            audio[path.stem] = path
    return audio, problems


def _parse_consensus(fields: list[str], audio: dict[str, Path], seen: set[str]) -> tuple[dict, str | None]:
    """(the table row, None) for a good consensus line, ({}, what is wrong) for a bad one."""
    match = VIDEO.fullmatch(fields[0])
    if match is None or len(fields) < 2:
        return {}, f"line does not parse: expected a consensus line like {CONSENSUS_FORMAT!r}"
    utterance = f"MSP-IMPROV-{match[1]}"
    if utterance in seen:
        return {}, f"turn {fields[0]} is labelled a second time"
    seen.add(utterance)
    gender, session = match[2], int(match[3])
    if session not in SESSIONS:
        return {}, f"unknown speaker {gender}{match[3]} (MSP-IMPROV has F01..F06 and M01..M06)"
    code = fields[1]
    if code not in CODES:
        return {}, f"unknown emotion code {code!r} (MSP-IMPROV uses {' '.join(CODES)})"
    ratings = {column: math.nan for column in RATINGS.values() if column}
    for field in fields[2:]:
        key, _, value = field.partition(":")
        try:
            number = float(value)  # the release writes a missing rating as NaN, which float() reads
            column = RATINGS[key.strip()]
        except (ValueError, KeyError):
            return {}, f"rating {field!r} does not parse: expected A:, V:, D: or N: and a number (or NaN)"
        if column:
            ratings[column] = number
    if utterance not in audio:
        return {}, f"label without audio: {utterance}.wav is nowhere below the corpus root"
    return {
        "utterance_id": utterance, "path": str(audio[utterance]), "corpus": NAME,
        "speaker": f"{NAME}:{gender}{match[3]}", "gender": gender, "locale": "en-US",
        "session": str(session), "emotion_code": code, "emotion": CODES[code], **ratings,
    }, None
