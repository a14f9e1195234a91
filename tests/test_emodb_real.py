"""The Emo-DB reader on the real (processed) Emo-DB copy in shared/data/emodb, next to the repository."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from serbench.corpora import read_corpus

EMODB = Path(__file__).parents[2] / "shared" / "data" / "emodb"
pytestmark = pytest.mark.skipif(not (EMODB / "wav").is_dir(),
                                reason=f"the real Emo-DB copy is not at {EMODB} (the repository's sibling shared/)")

# From shared/data/emodb/README.md.
BY_CODE = {"W": 127, "L": 81, "N": 79, "F": 71, "A": 69, "T": 62, "E": 46}
BY_SPEAKER = {"03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61, "14": 69, "15": 56, "16": 71}
MALE = {"03", "10", "11", "12", "15"}


def test_real_emodb() -> None:
    corpus = read_corpus("emodb", EMODB)
    table = corpus.table
    assert corpus.problems == []
    assert len(table) == 535 and table["utterance_id"].is_unique
    assert Counter(table["emotion_code"]) == BY_CODE
    assert Counter(table["speaker"]) == {f"emodb:{speaker}": n for speaker, n in BY_SPEAKER.items()}
    genders = dict(zip(table["speaker"], table["gender"], strict=True))
    assert genders == {f"emodb:{speaker}": "M" if speaker in MALE else "F" for speaker in BY_SPEAKER}
    assert set(table["language"]) == {"de"} and set(table["session"]) == {""}
    assert Counter(table["emotion"]) == {"anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69,
                                         "sadness": 62, "disgust": 46}
    assert all(Path(path).is_file() for path in table["path"])
