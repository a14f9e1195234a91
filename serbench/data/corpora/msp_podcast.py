"""MSP-Podcast (release 1.x), read from the release folder as distributed.

Labels come from Labels/labels_consensus.csv (early releases spell it labels_concensus.csv): one line per
speaking turn with the columns FileName, EmoClass, EmoAct, EmoVal, EmoDom (1-7), SpkrID, Gender and Split_Set
(the release's own partition: Train, Development, Test1, ...). The audio is Audios/<FileName>. Turns whose speaker
or gender the release gives as Unknown are left out and counted in the table's attrs["excluded"], as are wavs the
label file does not name: a turn of an unknown speaker cannot be kept on one side of a speaker-independent split
(nor normalised with its speaker), and the table's gender is F or M.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.release import csv_records
from serbench.data.corpora.schema import make_table
from serbench.errors import CorpusError, Problem

NAME = "msp-podcast"
LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv")  # the current spelling first
CODES = {"A": "anger", "S": "sadness", "H": "happiness", "U": "surprise", "F": "fear", "D": "disgust",
         "C": "contempt", "N": "neutral", "O": "other", "X": "no_agreement"}
GENDERS = {"female": "F", "male": "M"}
UNKNOWN = "unknown"  # the release's SpkrID and Gender for turns whose speaker was not identified, in lower case
RATINGS = {"EmoVal": "valence", "EmoAct": "arousal", "EmoDom": "dominance"}
COLUMNS = ("FileName", "EmoClass", *RATINGS, "SpkrID", "Gender", "Split_Set")
SCALE = (1.0, 7.0)
SPEAKER_UNKNOWN = "speaker unknown (SpkrID Unknown): cannot be kept apart by speaker"
GENDER_UNKNOWN = "gender unknown (Gender Unknown)"
UNLABELLED = "audio without a consensus label"
HINT = "point --root at the MSP-Podcast release folder that holds Audios/ and Labels/labels_consensus.csv"


@register_corpus(
    NAME,
    codes=CODES,
    title="MSP-Podcast",
    release_dir="MSP-Podcast",
    languages=("en-US",),
    native_sample_rate=16000,
    licence="UT Dallas MSP lab academic licence (request from the owners; not redistributable)",
    homepage="https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html",
    rating_scale=SCALE,
)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every turn of the label file at `root` with a known speaker and gender, and the problems found on the
    way; what is left out on purpose is counted in the table's attrs["excluded"]."""
    present = [root / "Labels" / name for name in LABEL_FILES if (root / "Labels" / name).is_file()]
    if not present:
        raise CorpusError("not an MSP-Podcast release: there is no Labels/labels_consensus.csv here", path=root,
                          hint=HINT)
    if len(present) > 1:
        raise CorpusError(f"both Labels/{LABEL_FILES[0]} and Labels/{LABEL_FILES[1]} are here; which one holds the "
                          "labels is unclear", path=root, hint=f"keep one of the two (current releases name it "
                                                                 f"{LABEL_FILES[0]})")
    label_file = present[0]
    audio_dir = root / "Audios"
    if not audio_dir.is_dir():
        return make_table([]), [Problem(str(audio_dir), "folder missing from the MSP-Podcast release; restore it "
                                                        "from the release")]

    audio = {path.name: path for path in sorted(audio_dir.glob("*.wav")) if not path.name.startswith(".")}
    rows: list[dict] = []
    problems: list[Problem] = []
    excluded: Counter[str] = Counter()
    seen: set[str] = set()
    for number, record in csv_records(label_file, COLUMNS, "restore the file from the MSP-Podcast release"):
        row, message = _parse_record(record, audio, seen)
        if message in (SPEAKER_UNKNOWN, GENDER_UNKNOWN):
            excluded[message] += 1
        elif message is not None:
            problems.append(Problem(str(label_file), message, number))
        else:
            rows.append(row)
    unlabelled = sum(name not in seen for name in audio)
    if unlabelled:
        excluded[UNLABELLED] = unlabelled
    table = make_table(rows)
    table.attrs["excluded"] = dict(excluded)  # reason -> turns, like a label task's exclusions
    return table, problems


def _parse_record(record: dict[str, str] | None, audio: dict[str, Path], seen: set[str]) -> tuple[dict, str | None]:
    """(the table row, None) for a good line; ({}, SPEAKER_UNKNOWN or GENDER_UNKNOWN) for a turn left out on
    purpose; ({}, what is wrong) for a bad line."""
    if record is None:
        return {}, "the line does not have one value per header column"
    name = record["FileName"] if record["FileName"].endswith(".wav") else f"{record['FileName']}.wav"
    if name in seen:
        return {}, f"turn {name} is labelled a second time"
    seen.add(name)
    code, speaker, gender, split = record["EmoClass"], record["SpkrID"], record["Gender"], record["Split_Set"]
    if code not in CODES:
        return {}, f"unknown EmoClass {code!r} (MSP-Podcast uses {' '.join(CODES)})"
    ratings = {}
    for column, rating in RATINGS.items():
        try:
            value = float(record[column])
        except ValueError:
            return {}, f"{column} {record[column]!r} is not a number"
        if not (math.isnan(value) or SCALE[0] <= value <= SCALE[1]):
            return {}, f"{column} {value} is outside the release's 1-7 scale"
        ratings[rating] = value
    if not speaker or not split:
        return {}, f"empty {'SpkrID' if not speaker else 'Split_Set'}"
    if gender.lower() not in (*GENDERS, UNKNOWN):
        return {}, f"unknown Gender {gender!r} (the release writes Female, Male or Unknown)"
    if name not in audio:
        return {}, f"label without audio: Audios/{name} does not exist"
    if speaker.lower() == UNKNOWN:
        return {}, SPEAKER_UNKNOWN
    if gender.lower() == UNKNOWN:
        return {}, GENDER_UNKNOWN
    return {
        "utterance_id": name.removesuffix(".wav"), "path": str(audio[name]), "corpus": NAME,
        "speaker": f"{NAME}:{speaker}", "gender": GENDERS[gender.lower()], "locale": "en-US", "session": "",
        "split": split, "emotion_code": code, "emotion": CODES[code], **ratings,
    }, None
