"""The generic manifest: a CSV that lets any corpus (RAVDESS, CREMA-D, your own) take part without code.

Required columns: path (relative to the CSV's folder, or absolute), speaker, gender (F/M; f, m, female, male are
accepted), language (BCP-47: en-US, de, ...), emotion (a name from serbench.data.labels.EMOTIONS). Optional columns:
utterance_id (default: the path as written, normalised, without its suffix and without leading `..` or `/`
parts), session, split (the corpus's own partition, for `split = "official"`), emotion_code (default: the emotion),
valence, arousal, dominance (numbers; empty = NaN). An empty optional cell takes the default; other columns are
ignored. See docs/corpora.md for an example.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pandas as pd

from serbench.data.corpora.schema import RATING_COLUMNS, make_table
from serbench.data.labels import EMOTIONS
from serbench.errors import CorpusError, Problem

REQUIRED = ("path", "speaker", "gender", "language", "emotion")
GENDERS = {"f": "F", "female": "F", "m": "M", "male": "M"}
HINT = "see docs/corpora.md for the manifest format"


def read_manifest(csv_path: Path, name: str) -> tuple[pd.DataFrame, list[Problem]]:
    """The utterance table of corpus `name` listed in the manifest `csv_path`, and the bad rows found."""
    if csv_path.is_dir():
        raise CorpusError("a folder, not a manifest file", path=csv_path,
                          hint=f"give the CSV file in it; a built-in corpus's release folder is its root; {HINT}")
    if not csv_path.is_file():
        raise CorpusError("no such manifest file", path=csv_path, hint=HINT)
    rows: dict[str, dict] = {}
    audio_lines: dict[str, int] = {}  # each audio file's line, to name a file listed twice
    problems: list[Problem] = []
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            if reader.fieldnames is None:
                raise CorpusError("the manifest is empty: it needs a header line naming its columns",
                                  path=csv_path, hint=HINT)
            reader.fieldnames = [column.strip().lower() for column in reader.fieldnames]
            if any("\x00" in column for column in reader.fieldnames):
                raise CorpusError("the header holds a NUL byte: the file is binary, or UTF-16 text", path=csv_path,
                                  line=1, hint="save the CSV as UTF-8")
            named = [column for column in reader.fieldnames if column]  # empty ones (trailing commas) are ignored
            twice = next((column for i, column in enumerate(named) if column in named[:i]), None)
            if twice is not None:
                raise CorpusError(f"the header names the column {twice!r} twice", path=csv_path, line=1,
                                  hint=f"keep one of them; {HINT}")
            missing = [column for column in REQUIRED if column not in reader.fieldnames]
            if missing:
                raise CorpusError(f"the manifest has no column {', '.join(missing)} (required: {', '.join(REQUIRED)})",
                                  path=csv_path, line=1, hint=HINT)
            for record in reader:
                row, message = _parse_row(record, csv_path.parent, name, rows, audio_lines)
                if message is not None:
                    problems.append(Problem(str(csv_path), message, reader.line_num))
                else:
                    rows[row["utterance_id"]] = row
                    audio_lines[row["path"]] = reader.line_num
    except UnicodeDecodeError as error:
        raise CorpusError(f"the manifest is not UTF-8 text ({error.reason})", path=csv_path,
                          hint="save the CSV as UTF-8") from error
    except csv.Error as error:
        raise CorpusError(f"the manifest is not a valid CSV file ({error})", path=csv_path, hint=HINT) from error
    return make_table(rows.values()), problems


def _parse_row(record: dict, folder: Path, name: str, rows: dict[str, dict],
               audio_lines: dict[str, int]) -> tuple[dict, str | None]:
    """(the table row, None) for a good manifest row, ({}, what is wrong) for a bad one."""
    if None in record or None in record.values():
        return {}, "the row does not have one value per header column"
    nul = next((column for column, text in record.items() if "\x00" in text), None)
    if nul is not None:
        return {}, f"a NUL byte in the {nul or 'unnamed'} column (a binary file, or UTF-16 text? save it as UTF-8)"
    value = {column: (text or "").strip() for column, text in record.items()}
    empty = [column for column in REQUIRED if not value[column]]
    if empty:
        return {}, f"empty {', '.join(empty)}"
    gender = GENDERS.get(value["gender"].lower())
    if gender is None:
        return {}, f"unknown gender {value['gender']!r} (use F or M; f, m, female, male are accepted)"
    emotion = value["emotion"].lower()
    if emotion not in EMOTIONS:
        return {}, f"unknown emotion {value['emotion']!r} (use one of: {', '.join(EMOTIONS)})"
    ratings = {}
    for column in RATING_COLUMNS:
        try:
            ratings[column] = float(value[column]) if value.get(column) else math.nan
        except ValueError:
            return {}, f"{column} {value[column]!r} is not a number"
    path = Path(os.path.normpath(value["path"]))
    audio = (path if path.is_absolute() else folder / path).resolve()
    if audio.is_dir():
        return {}, f"{audio} is a folder, not an audio file"
    if not audio.is_file():
        return {}, f"missing audio: {audio} does not exist"
    # "../audio/a.wav" (a manifest kept beside, not above, its audio) gives "audio/a", not "../audio/a"
    utterance = value.get("utterance_id") or "/".join(
        part for part in path.with_suffix("").parts if part not in ("..", path.anchor))
    if utterance in rows:
        return {}, f"utterance id {utterance!r} appears a second time"
    if str(audio) in audio_lines:  # under another utterance id: the same recording would count twice
        return {}, f"the audio {audio} is listed a second time (first on line {audio_lines[str(audio)]})"
    return {
        "utterance_id": utterance, "path": str(audio), "corpus": name, "speaker": f"{name}:{value['speaker']}",
        "gender": gender, "locale": value["language"], "session": value.get("session", ""),
        "split": value.get("split", ""), "emotion_code": value.get("emotion_code") or emotion, "emotion": emotion,
        **ratings,
    }, None
