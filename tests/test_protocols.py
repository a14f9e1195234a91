"""Protocol files and speaker splits: parsing, clear errors, disjoint and reproducible splits, the leakage guard."""

import pandas as pd
import pytest

from serbench.corpora.schema import make_table
from serbench.errors import SerbenchError
from serbench.protocol import builtin_protocols, check_disjoint, load_protocol, split_utterances

# Speakers per corpus as in the real corpora: (female, male).
SPEAKERS = {"iemocap": (5, 5), "msp-improv": (6, 6), "savee": (0, 4), "emodb": (5, 5)}


def corpora_table() -> pd.DataFrame:
    rows = []
    for corpus, (female, male) in SPEAKERS.items():
        for gender, count in (("F", female), ("M", male)):
            for s in range(count):
                for u in range(3):
                    rows.append({"utterance_id": f"{gender}{s}_{u}", "corpus": corpus, "gender": gender,
                                 "speaker": f"{corpus}:{gender}{s}", "path": f"/{corpus}/{gender}{s}_{u}.wav",
                                 "emotion": "anger"})
    return make_table(rows)


def test_builtin_protocols():
    assert set(builtin_protocols()) >= {"cross", "multi", "loco"}
    cross = load_protocol("cross")
    assert cross.folds[0].train == ("iemocap",) and cross.folds[0].test == ("msp-improv", "savee", "emodb")
    assert cross.tasks == ("arousal", "valence")
    assert [fold.test for fold in load_protocol("loco").folds] == [(c,) for c in SPEAKERS]
    assert load_protocol("multi").test_fraction == 0.2


def test_a_path_works_like_a_name(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('split = "corpus"\ntrain = ["emodb"]\ntest = ["savee"]\n[labels.valence]\nneutral = "negative"\n')
    protocol = load_protocol(path)
    assert protocol.name == "mine" and protocol.task("valence").mapping["neutral"] == "negative"
    assert protocol.hash() != load_protocol("cross").hash()


@pytest.mark.parametrize(("text", "names"), [
    ('split = "corpus"\ntrain = ["a"] x\n', "line 2"),  # TOML syntax error: the parser names the line
    ('split = "random"\ncorpora = ["a"]\n', "'split'"),
    ('split = "corpus"\ntrain = ["a"]\n', "'test'"),
    ('split = "corpus"\ntrain = ["a"]\ntest = ["a"]\n', "'test'"),
    ('split = "speaker"\ncorpora = ["a"]\ntest_fraction = 1.5\n', "'test_fraction'"),
    ('split = "speaker"\ncorpora = ["a"]\ntrainn = ["a"]\n', "'trainn'"),
    ('split = "speaker"\ncorpora = ["a"]\ntasks = ["dominance"]\n', "'tasks'"),
    ('split = "speaker"\ncorpora = ["a"]\n[labels.valence]\nrage = "negative"\n', "'labels.valence'"),
])
def test_malformed_files_name_the_key_or_line(tmp_path, text, names):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SerbenchError, match=names) as error:
        load_protocol(path)
    assert str(path) in str(error.value)


def test_unknown_protocol():
    with pytest.raises(SerbenchError, match="no protocol 'nope'"):
        load_protocol("nope")


def test_speaker_split_is_disjoint_reproducible_and_about_80_20():
    table, multi = corpora_table(), load_protocol("multi")
    split = split_utterances(table, multi, multi.folds[0], seed=3)
    assert split_utterances(table, multi, multi.folds[0], seed=3).equals(split)
    test = split[split["part"] == "test"]
    held_out = test.groupby("corpus")["speaker"].nunique().to_dict()
    assert held_out == {"iemocap": 2, "msp-improv": 2, "savee": 1, "emodb": 2}
    # both genders are tested where a corpus has both
    assert test[test["corpus"] == "emodb"]["gender"].nunique() == 2
    assert not set(test["speaker"]) & set(split[split["part"] == "train"]["speaker"])
    seeds = {tuple(sorted(split_utterances(table, multi, multi.folds[0], seed=s).query("part == 'test'")["speaker"]
                          .unique())) for s in range(8)}
    assert len(seeds) > 1  # other seeds hold out other speakers


def test_corpus_split_keeps_only_the_folds_corpora():
    cross = load_protocol("cross")
    split = split_utterances(corpora_table(), cross, cross.folds[0], seed=0)
    assert set(split.loc[split["part"] == "train", "corpus"]) == {"iemocap"}
    assert set(split.loc[split["part"] == "test", "corpus"]) == {"msp-improv", "savee", "emodb"}


def test_leakage_guard_refuses_a_shared_speaker_or_file():
    table = corpora_table().head(4).assign(part=["train", "train", "test", "test"])
    table.loc[2, "speaker"] = table.loc[0, "speaker"]
    with pytest.raises(SerbenchError, match="leakage: 1 speaker"):
        check_disjoint(table)
    table = corpora_table().head(2).assign(part=["train", "test"], speaker=["a", "b"])
    table.loc[1, "path"] = table.loc[0, "path"]
    with pytest.raises(SerbenchError, match="leakage: 1 audio file"):
        check_disjoint(table)
