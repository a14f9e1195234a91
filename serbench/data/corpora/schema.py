"""The utterance table: what every corpus reader returns, one row per utterance.

| column | type | meaning |
| --- | --- | --- |
| utterance_id | str | the corpus's own id of the utterance (unique within the corpus) |
| path | str | absolute path of the audio file |
| corpus | str | corpus name (iemocap, msp-improv, savee, emodb, or a manifest's name) |
| speaker | str | `<corpus>:<speaker>`, unique across corpora |
| gender | str | "F" or "M" |
| language | str | the language alone (ISO 639-1: en, de, ...), from `locale`: what the language domain uses |
| locale | str | the full BCP-47 tag as the corpus documents it (en-US, en-GB, de, ...): the region is metadata |
| session | str | recording session where the corpus has one, else "" |
| split | str | the release's own partition where it has one (MSP-Podcast: Train, Development, Test1, ...), else "" |
| emotion_code | str | the label exactly as the corpus writes it (IEMOCAP `exc`, Emo-DB `W`, ...) |
| emotion | str | normalised emotion name (one of `serbench.data.labels.EMOTIONS`) |
| valence, arousal, dominance | float | ratings on the corpus's scale (1-5 in IEMOCAP, MSP-IMPROV); NaN if absent |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from serbench.errors import Problem

# Every column is metadata or a label. An unlabelled part (the test corpora's audio that adaptation may read)
# keeps the metadata and loses every label column, so a label column added here is dropped there too.
METADATA_COLUMNS = ("utterance_id", "path", "corpus", "speaker", "gender", "language", "locale", "session", "split")
RATING_COLUMNS = ("valence", "arousal", "dominance")
LABEL_COLUMNS = ("emotion_code", "emotion", *RATING_COLUMNS)
TEXT_COLUMNS = (*METADATA_COLUMNS, "emotion_code", "emotion")
COLUMNS = TEXT_COLUMNS + RATING_COLUMNS


def make_table(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Build an utterance table from row dicts (readers give `locale`; `language` is derived from it); missing
    ratings become NaN, rows are sorted by id."""
    table = pd.DataFrame(list(rows), columns=list(COLUMNS))
    for column in TEXT_COLUMNS:
        table[column] = table[column].astype(object).fillna("").astype(str)
    # en-GB and en-US are one language: a language adversary must not learn to tell SAVEE's accent from IEMOCAP's.
    table["language"] = table["locale"].str.split("-").str[0].str.lower()
    for column in RATING_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    return table.sort_values("utterance_id", kind="stable").reset_index(drop=True)


@dataclass
class Corpus:
    """A corpus as read from disk: its utterance table and the problems found while reading it."""

    name: str
    root: Path
    table: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    # Files the release holds that are not utterances of this corpus, by reason (RAVDESS's song part): counted,
    # never dropped silently.
    excluded: dict[str, int] = field(default_factory=dict)
