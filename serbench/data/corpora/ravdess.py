"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song), its speech part, read as distributed.

There is no label file: Actor_NN/MM-VV-EE-II-SS-RR-AA.wav names modality MM (03 audio-only), vocal channel VV
(01 speech, 02 song), emotion EE, intensity II, statement SS, repetition RR and actor AA (odd male, even female).
The Zenodo zip Audio_Speech_Actors_01-24.zip holds the Actor_NN folders; unpacked into a folder of that name
(any case, as in the Kaggle copy) below the root, only that folder is read. Song files (03-02-...) met among the
speech files (both zips unpacked into one place) are not speech: they are left out and counted in the table's
attrs["excluded"], never silently.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.schema import make_table
from serbench.errors import CorpusError, Problem

NAME = "ravdess"
SPEECH_DIR = "audio_speech_actors_01-24"  # the speech zip's name, compared in lower case
CODES = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness", "05": "anger", "06": "fear",
         "07": "disgust", "08": "surprise"}
MODALITIES = {"01": "full-AV", "02": "video-only", "03": "audio-only"}
SPEECH, SONG = "01", "02"
SONG_EXCLUDED = "song, not speech (RAVDESS vocal channel 02)"
FILE_NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")
FILE_FORMAT = "MM-VV-EE-II-SS-RR-AA.wav (03-01-05-02-01-01-12.wav)"
ACTORS = range(1, 25)


@register_corpus(
    NAME,
    codes=CODES,
    title="RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song), speech",
    release_dir="Audio_Speech_Actors_01-24",
    languages=("en-US",),
    native_sample_rate=48000,
    licence="CC BY-NC-SA 4.0",
    homepage="https://zenodo.org/records/1188976",
)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every speech wav in the Actor_NN folders at `root` (or below its Audio_Speech_Actors_01-24 folder), and
    the problems found; song files are counted in the table's attrs["excluded"]."""
    speech = next((folder for folder in sorted(root.iterdir())
                   if folder.is_dir() and folder.name.lower() == SPEECH_DIR), root)
    actor_dirs = [folder for folder in sorted(speech.glob("Actor_*")) if folder.is_dir()]
    hint = "point --root at the unpacked Audio_Speech_Actors_01-24.zip, the folder that holds Actor_01 .. Actor_24"
    if not actor_dirs:
        raise CorpusError("not a RAVDESS release: there are no Actor_01 .. Actor_24 folders here", path=root,
                          hint=hint)
    rows: list[dict] = []
    problems: list[Problem] = []
    excluded: Counter[str] = Counter()
    for folder in actor_dirs:
        for path in sorted(folder.glob("*.wav")):
            if path.name.startswith("."):
                continue
            row, message = _parse_file(path)
            if message == SONG_EXCLUDED:
                excluded[message] += 1
            elif message is not None:
                problems.append(Problem(str(path), message))
            else:
                rows.append(row)
    if not rows and not problems and excluded:
        raise CorpusError("this is RAVDESS's song part (every file is 03-02-...), not its speech part", path=root,
                          hint=hint)
    table = make_table(rows)
    table.attrs["excluded"] = dict(excluded)  # reason -> files, like a label task's exclusions
    return table, problems


def _parse_file(path: Path) -> tuple[dict, str | None]:
    """(the table row, None) for a speech file, ({}, SONG_EXCLUDED) for a song file, ({}, what is wrong) else."""
    match = FILE_NAME.fullmatch(path.stem)
    if match is None:
        return {}, f"file name does not parse: expected {FILE_FORMAT}"
    modality, channel, code, intensity, statement, repetition, actor = match.groups()
    if modality != "03":
        kind = f"{MODALITIES[modality]}, not audio-only (03)" if modality in MODALITIES else "unknown"
        return {}, f"modality {modality} is {kind}: the audio files of RAVDESS start with 03"
    if channel == SONG:
        return {}, SONG_EXCLUDED
    if channel != SPEECH:
        return {}, f"unknown vocal channel {channel} (RAVDESS has 01 speech and 02 song)"
    if code not in CODES:
        return {}, f"unknown emotion code {code} (RAVDESS uses {' '.join(CODES)})"
    if intensity not in ("01", "02") or (code == "01" and intensity == "02"):
        return {}, f"unknown intensity {intensity} for emotion {code} (01 normal, 02 strong; neutral has only 01)"
    if statement not in ("01", "02") or repetition not in ("01", "02"):
        return {}, f"unknown statement {statement} or repetition {repetition} (RAVDESS has 01 and 02 of each)"
    if int(actor) not in ACTORS:
        return {}, f"unknown actor {actor} (RAVDESS has 01 .. 24)"
    if path.parent.name != f"Actor_{actor}":
        return {}, f"the name says actor {actor} but the file is in {path.parent.name}; move it to Actor_{actor}"
    return {
        "utterance_id": path.stem, "path": str(path), "corpus": NAME, "speaker": f"{NAME}:{actor}",
        "gender": "M" if int(actor) % 2 else "F", "locale": "en-US", "session": "", "emotion_code": code,
        "emotion": CODES[code],
    }, None
