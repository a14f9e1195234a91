"""Pages spell out a corpus's own emotion codes, the classes of the `categorical` task, from the readers' tables:
"W (anger)", not Emo-DB's bare letters."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from serbench.data.corpora import CORPORA, read_corpus
from serbench.metrics import METRICS
from serbench.reports.pages import write_leaderboards
from serbench.reports.tables import Page
from serbench.runs.launch import run


def page(task: str, corpus: str, classes: list[str]) -> Page:
    empty = pd.DataFrame()
    return Page("within", task, [SimpleNamespace(classes=classes)], [corpus], [], empty, empty,
                METRICS["ua"], None)


def test_categorical_classes_are_spelled_out_and_words_stay_as_they_are():
    assert page("categorical", "emodb", ["A", "F", "W"]).class_names == ["A (fear)", "F (happiness)", "W (anger)"]
    assert page("categorical", "tess", ["disgust", "ps"]).class_names == ["disgust", "ps (surprise)"]
    assert page("categorical", "my-corpus", ["x", "y"]).class_names == ["x", "y"]  # a manifest corpus: its own words
    assert page("arousal", "emodb", ["high", "low"]).class_names == ["high", "low"]


@pytest.mark.parametrize("corpus", ["iemocap", "msp-improv", "savee", "emodb"])
def test_every_code_a_release_holds_has_its_emotion(tiny_releases, corpus):
    table = read_corpus(corpus, tiny_releases / CORPORA[corpus].release_dir).table
    codes = CORPORA[corpus].codes
    assert set(table["emotion_code"]) <= set(codes)
    assert all(codes[code] == emotion for code, emotion in zip(table["emotion_code"], table["emotion"], strict=True))


def test_a_categorical_page_names_the_emotions(tiny_releases, tmp_path):
    run("egemaps_lr", "within[corpus=emodb]", tasks="categorical", seeds=1, data=str(tiny_releases),
        results=tmp_path / "results", frontend="egemaps", device="cpu")
    write_leaderboards(tmp_path / "results", tmp_path / "pages")
    page = (tmp_path / "pages" / "within-corpus-emodb-categorical.md").read_text()
    assert "W (anger)" in page.split("## ")[0] and "L (boredom)" in page.split("## ")[0]
