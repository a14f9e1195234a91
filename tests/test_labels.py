"""The label table and its application: classes, merges, overrides and per-reason exclusions."""

import pandas as pd
import pytest

from serbench.data.corpora.schema import make_table
from serbench.data.labels import EMOTIONS, LABEL_TABLE, TASK_CLASSES, apply_task, get_task
from serbench.errors import SerbenchError


def table_of(corpus: str, emotions: list[str]) -> pd.DataFrame:
    return make_table({"utterance_id": f"u{i}", "corpus": corpus, "speaker": f"{corpus}:s", "gender": "F",
                       "emotion": emotion, "emotion_code": emotion[:3]} for i, emotion in enumerate(emotions))


def test_every_mapped_class_belongs_to_its_task():
    for row in LABEL_TABLE.values():
        for task, label in zip(TASK_CLASSES, row, strict=True):
            assert label is None or label in TASK_CLASSES[task]


def test_paper_default_mapping():
    arousal, valence = get_task("arousal").mapping, get_task("valence").mapping
    assert {e for e, c in arousal.items() if c == "high"} >= {"anger", "happiness", "fear", "surprise", "disgust"}
    assert {e for e, c in arousal.items() if c == "low"} >= {"sadness", "neutral", "boredom"}
    assert {e for e, c in valence.items() if c == "positive"} >= {"happiness", "surprise", "neutral"}
    assert {e for e, c in valence.items() if c == "negative"} == {"anger", "sadness", "fear", "disgust", "boredom"}


def test_emotion4_merges_excitement_and_counts_exclusions():
    table = table_of("iemocap", ["anger", "happiness", "excitement", "sadness", "neutral", "frustration",
                                 "fear", "no_agreement", "no_agreement"])
    labelled = apply_task(table, get_task("emotion4"))
    assert list(labelled.table["label"]) == ["anger", "happiness", "happiness", "sadness", "neutral"]
    assert list(labelled.table["y"]) == [0, 1, 1, 2, 3]
    assert labelled.excluded == {"fear: outside the paper's iemocap subset": 1,
                                 "frustration: outside the paper's iemocap subset": 1, "no agreed emotion": 2}


def test_iemocap_uses_the_paper_subset_but_emodb_all_seven():
    emotions = ["anger", "fear", "boredom", "disgust"]
    assert len(apply_task(table_of("iemocap", emotions), get_task("arousal")).table) == 1
    emodb = apply_task(table_of("emodb", emotions), get_task("arousal"))
    assert list(emodb.table["label"]) == ["high", "high", "low", "high"] and emodb.excluded == {}


def test_no_task_keeps_every_usable_code():
    labelled = apply_task(table_of("iemocap", ["frustration", "other", "no_agreement", "anger"]), None)
    assert list(labelled.table["label"]) == ["fru", "ang"]
    assert labelled.excluded == {"emotion 'other'": 1, "no agreed emotion": 1}


def test_overrides():
    task = get_task("valence", {"neutral": "negative", "surprise": None})
    assert task.mapping["neutral"] == "negative" and "surprise" not in task.mapping
    excluded = apply_task(table_of("savee", ["surprise"]), task).excluded
    assert excluded == {"surprise: not a class of valence": 1}


@pytest.mark.parametrize("overrides", [{"rage": "high"}, {"anger": "very high"}])
def test_bad_overrides_are_clear_errors(overrides):
    with pytest.raises(SerbenchError, match="override"):
        get_task("arousal", overrides)


def test_unknown_task():
    with pytest.raises(SerbenchError, match="unknown task"):
        get_task("dominance")


def test_emotions_cover_the_table():
    assert set(EMOTIONS) == set(LABEL_TABLE)


def test_valence_without_neutral_is_valence_with_neutral_left_out():
    task, valence = get_task("valence-no-neutral"), get_task("valence")
    assert task.classes == valence.classes and "neutral" not in task.mapping
    assert task.mapping == {e: c for e, c in valence.mapping.items() if e != "neutral"}
    labelled = apply_task(table_of("emodb", ["neutral", "happiness", "anger"]), task)
    assert list(labelled.table["label"]) == ["positive", "negative"]
    assert labelled.excluded == {"neutral: not a class of valence-no-neutral": 1}
    # a protocol's override still applies on top of the variant
    assert get_task("valence-no-neutral", {"neutral": "negative"}).mapping["neutral"] == "negative"
