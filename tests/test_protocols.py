"""Protocol files and speaker splits: parsing, clear errors, disjoint and reproducible splits, the leakage guard."""

import re
from pathlib import Path

import pandas as pd
import pytest

from serbench.cli import main
from serbench.data.corpora.schema import make_table
from serbench.errors import SerbenchError
from serbench.protocols.protocol import (
    PROTOCOL_KEYS,
    Fold,
    builtin_protocols,
    check_disjoint,
    load_protocol,
    split_utterances,
    template_reference,
)
from serbench.protocols.schema import key_table
from serbench.protocols.splits import SPLIT_KINDS

# Speakers per corpus as in the real corpora: (female, male); IEMOCAP and MSP-IMPROV have one of each per session.
SPEAKERS = {"iemocap": (5, 5), "msp-improv": (6, 6), "savee": (0, 4), "emodb": (5, 5)}
SESSIONS = ("iemocap", "msp-improv")


def corpora_table() -> pd.DataFrame:
    rows = []
    for corpus, (female, male) in SPEAKERS.items():
        for gender, count in (("F", female), ("M", male)):
            for s in range(count):
                for u in range(3):
                    rows.append({"utterance_id": f"{gender}{s}_{u}", "corpus": corpus, "gender": gender,
                                 "speaker": f"{corpus}:{gender}{s}", "path": f"/{corpus}/{gender}{s}_{u}.wav",
                                 "session": str(s + 1) if corpus in SESSIONS else "", "emotion": "anger"})
    return make_table(rows)


def test_builtin_protocols():
    assert set(builtin_protocols()) >= {"cross", "cross-dg", "multi", "loco", "loco-dg"}
    cross, dg = load_protocol("cross"), load_protocol("cross-dg")
    assert (cross.train, cross.test) == (dg.train, dg.test) == (("iemocap",), ("msp-improv", "savee", "emodb"))
    assert (cross.adaptation, dg.adaptation) == ("unlabelled-test", "none")
    assert cross.tasks == ("arousal", "valence") and cross.uses_test_audio
    multi = load_protocol("multi")
    assert (multi.split, multi.folds, multi.adaptation) == ("speaker-folds", 5, "none")
    loco = load_protocol("loco")
    assert [fold.test for fold in loco.make_folds(corpora_table())] == [(c,) for c in SPEAKERS]
    assert (loco.adaptation, load_protocol("loco-dg").adaptation) == ("unlabelled-test", "none")
    assert {load_protocol(template_reference(name)).normalisation for name in builtin_protocols()} == {"speaker"}


def test_a_path_works_like_a_name(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('split = "corpus"\ntrain = ["emodb"]\ntest = ["savee"]\nnormalisation = "training"\n'
                    '[labels.valence]\nneutral = "negative"\n')
    protocol = load_protocol(path)
    assert protocol.name == "mine" and protocol.task("valence").mapping["neutral"] == "negative"
    assert protocol.hash() != load_protocol("cross").hash() and not protocol.uses_test_audio


@pytest.mark.parametrize(("text", "names"), [
    ('split = "corpus"\ntrain = ["a"] x\n', "line 2"),  # TOML syntax error: the parser names the line
    ('split = "random"\ncorpora = ["a"]\n', "'split'"),
    ('split = "corpus"\ntrain = ["a"]\n', "'test'"),
    ('split = "corpus"\ntrain = ["a"]\ntest = ["a"]\n', "'test'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\nfolds = 1\n', "'folds'"),
    ('split = "corpus"\ntrain = ["a"]\ntest = ["b"]\nfolds = 5\n', "'folds'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\ntrainn = ["a"]\n', "'trainn'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\ntasks = ["dominance"]\n', "'tasks'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\nadaptation = "yes"\n', "'adaptation'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\nnormalisation = "global"\n', "'normalisation'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\n[groups]\nb = "session"\n', "'groups'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\n[groups]\na = "dialogue"\n', "'groups'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\n[labels.valence]\nrage = "negative"\n', "'labels.valence'"),
    ('split = "speaker"\ncorpora = ["a"]\ntest_fraction = 0.2\n', "speaker-folds"),  # serbench 0.1's format
    ('split = "speaker-folds"\ncorpora = ["a"]\ngain = "loud"\n', "'gain'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\nselection = "best"\n', "'selection'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\nselection = "best-validation"\n', "needs a validation part"),
    ('split = "corpus"\ntrain = ["a"]\ntest = ["b"]\nselection = "leave-one-corpus-out"\n', "needs two at least"),
    ('split = "leave-one-corpus-out"\ncorpora = ["a", "b"]\nselection = "leave-one-corpus-out"\n',
     "a fold here trains on 1"),
    ('split = "speaker-folds"\ncorpora = ["a", "b"]\nvalidation = 0.2\nselection = "leave-one-corpus-out"\n',
     "drop validation"),
    ('split = "speaker-folds"\ncorpora = ["a"]\npatience = 3\n', "'patience'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\noracle = "yes"\n', "'oracle': must be true or false"),
    ('split = "speaker-folds"\ncorpora = ["a"]\nvalidation = 0.2\nselection = "best-validation"\npatience = 0\n',
     "'patience'"),
    ('split = "speaker-folds"\ncorpora = ["{a}"]\n', "not a parameter"),
    ('split = "speaker-folds"\ncorpora = ["a"]\nparameters = ["a"]\n', "'parameters'"),
    ('split = "speaker-folds"\ncorpora = ["a"]\ntrain = ["b"]\n', "'train': split = \"speaker-folds\" does not"),
    ('split = "corpus"\ntrain = ["a"]\ntest = ["b"]\ncorpora = ["a"]\n', "'corpora': split = \"corpus\" does not"),
    ('split = "official"\ncorpora = ["a"]\n', "'splits': missing"),
    ('corpora = ["a"]\n', "'split': missing: .* one of corpus, speaker-folds"),
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


def speakers_tested(split: pd.DataFrame) -> set[str]:
    return set(split.loc[split["part"] == "test", "speaker"])


def test_speaker_folds_test_every_speaker_exactly_once_and_sessions_together():
    table, multi = corpora_table(), load_protocol("multi")
    folds = multi.make_folds(table)
    assert [fold.name for fold in folds] == [f"fold-{i}" for i in range(1, 6)]
    assert multi.make_folds(table) == folds  # deterministic: no seed
    splits = [split_utterances(table, multi, fold) for fold in folds]
    counts = pd.Series([s for split in splits for s in speakers_tested(split)]).value_counts()
    assert set(counts.index) == set(table["speaker"]) and set(counts) == {1}
    for split in splits:
        assert not speakers_tested(split) & set(split.loc[split["part"] == "train", "speaker"])
        test = split[split["part"] == "test"]
        # IEMOCAP and MSP-IMPROV: whole sessions (both actors) are held out together
        for corpus in SESSIONS:
            rows = test[test["corpus"] == corpus]
            assert rows.groupby("session")["gender"].nunique().eq(2).all()
        emodb = test[test["corpus"] == "emodb"]
        assert sorted(emodb.groupby("gender")["speaker"].nunique()) == [1, 1]  # one of each gender per fold
    # IEMOCAP's 5 sessions: one per fold; MSP-IMPROV's 6: one fold holds two; SAVEE's 4 speakers: one fold none
    per_fold = [split[split["part"] == "test"].groupby("corpus")["speaker"].nunique().to_dict() for split in splits]
    assert [f.get("iemocap") for f in per_fold] == [2] * 5
    assert sorted(f.get("msp-improv") for f in per_fold) == [2, 2, 2, 2, 4]
    assert sorted(f.get("savee", 0) for f in per_fold) == [0, 1, 1, 1, 1]
    assert [fold.test for fold in folds].count(("iemocap", "msp-improv", "emodb")) == 1  # SAVEE not tested there


def test_leave_one_speaker_and_one_session_out(tmp_path):
    table = corpora_table()
    path = tmp_path / "loso.toml"
    path.write_text('split = "leave-one-speaker-out"\ncorpora = ["emodb", "savee"]\n')
    loso = load_protocol(path)
    folds = loso.make_folds(table)
    assert len(folds) == 14 and folds[0] == Fold("test-emodb:F0", ("emodb", "savee"), ("emodb",), ("emodb:F0",))
    assert speakers_tested(split_utterances(table, loso, folds[-1])) == {"savee:M3"}
    path.write_text('split = "leave-one-session-out"\ncorpora = ["iemocap"]\n')
    losesso = load_protocol(path)
    folds = losesso.make_folds(table)
    assert [fold.held_out for fold in folds] == [(f"iemocap:session {n}",) for n in range(1, 6)]
    assert speakers_tested(split_utterances(table, losesso, folds[0])) == {"iemocap:F0", "iemocap:M0"}
    path.write_text('split = "leave-one-session-out"\ncorpora = ["iemocap", "emodb"]\n')
    with pytest.raises(SerbenchError, match="corpus emodb has no recording sessions"):
        load_protocol(path).make_folds(table)


def test_a_protocol_can_split_a_corpus_by_speaker_instead_of_session(tmp_path):
    path = tmp_path / "by-speaker.toml"
    path.write_text('split = "speaker-folds"\ncorpora = ["iemocap"]\nfolds = 10\n[groups]\niemocap = "speaker"\n')
    protocol = load_protocol(path)
    folds = protocol.make_folds(corpora_table())
    assert all(len(fold.held_out) == 1 for fold in folds) and len({f.held_out for f in folds}) == 10


def test_corpus_split_keeps_only_the_folds_corpora():
    cross = load_protocol("cross")
    split = split_utterances(corpora_table(), cross, cross.make_folds(corpora_table())[0])
    assert set(split.loc[split["part"] == "train", "corpus"]) == {"iemocap"}
    assert set(split.loc[split["part"] == "test", "corpus"]) == {"msp-improv", "savee", "emodb"}


def test_leakage_guard_refuses_a_shared_speaker_or_file():
    table = corpora_table().head(4).assign(part=["train", "train", "test", "test"])
    table.loc[2, "speaker"] = table.loc[0, "speaker"]
    with pytest.raises(SerbenchError, match="leakage: 1 speaker"):
        check_disjoint(table)
    table = corpora_table().head(2).assign(part=["train", "test"], speaker=["a", "b"])
    table.loc[1, "path"] = table.loc[0, "path"]
    with pytest.raises(SerbenchError, match="leakage: 1 audio recording"):
        check_disjoint(table)


def test_the_public_benchmark_protocols():
    public = ("emodb", "ravdess", "crema-d", "tess", "emovo")
    settings = {name: (p.split, p.adaptation) for name in ("public-loco", "public-loco-dg", "public-multi",
                                                           "public-multi-adapted") if (p := load_protocol(name))}
    assert settings == {"public-loco": ("leave-one-corpus-out", "unlabelled-test"),
                        "public-loco-dg": ("leave-one-corpus-out", "none"),
                        "public-multi": ("speaker-folds", "none"),
                        "public-multi-adapted": ("speaker-folds", "unlabelled-test")}
    assert all(load_protocol(name).corpora == public for name in settings)
    assert all(load_protocol(name).tasks == ("arousal", "valence") for name in settings)


def test_templates_take_their_parameters_by_name():
    within = load_protocol("within[corpus=emodb]")
    assert (within.name, within.corpora, within.split, within.folds) == ("within[corpus=emodb]", ("emodb",),
                                                                         "speaker-folds", 5)
    assert within.description == "Within emodb: 5 speaker-grouped folds, every speaker tested once"
    assert "categorical" in within.tasks
    forth = load_protocol("transfer[train=emodb,test=ravdess]")
    back = load_protocol("transfer[test=emodb, train=ravdess]")
    assert (forth.train, forth.test, back.train, back.test) == (("emodb",), ("ravdess",), ("ravdess",), ("emodb",))
    assert forth.adaptation == "unlabelled-test" and load_protocol("transfer-dg[train=a,test=b]").adaptation == "none"
    assert forth.hash() != back.hash() != load_protocol("within[corpus=ravdess]").hash()
    assert template_reference("within") == "within[corpus=CORPUS]" and template_reference("cross") == "cross"


@pytest.mark.parametrize(("reference", "message"), [
    ("within", "needs its parameter corpus"),
    ("within[corpus=emodb,folds=3]", "no parameter 'folds'"),
    ("within[corpus=emodb,corpus=savee]", "corpus is given twice"),
    ("within[corpus=../x]", "not key=value"),
    ("within[corpus=emodb", "NAME\\[key=value"),
    ("cross[corpus=emodb]", "no parameter 'corpus'"),
    ("transfer[train=emodb,test=emodb]", "both sides"),
])
def test_template_parameters_are_checked(reference, message):
    with pytest.raises(SerbenchError, match=message):
        load_protocol(reference)


def test_a_template_file_takes_parameters_too(tmp_path):
    path = tmp_path / "pair.toml"
    path.write_text('description = "{a} and {b}"\nsplit = "speaker-folds"\ncorpora = ["{a}", "{b}"]\n'
                    'validation = 0.25\nselection = "best-validation"\npatience = 2\n'
                    '[parameters]\na = "one corpus"\nb = "another"\n')
    protocol = load_protocol(f"{path}[a=x,b=y]")
    assert (protocol.name, protocol.corpora, protocol.description) == ("pair[a=x,b=y]", ("x", "y"), "x and y")
    assert (protocol.selection, protocol.patience, protocol.validation) == ("best-validation", 2, 0.25)
    assert protocol.to_dict()["selection"] == "best-validation"


def test_the_oracle_setting_enters_the_content_only_when_on(tmp_path):
    """Runs made before the setting existed keep their identities; a protocol with the oracle is another one."""
    plain = tmp_path / "plain.toml"
    plain.write_text('split = "corpus"\ntrain = ["a"]\ntest = ["b"]\n')
    (tmp_path / "off.toml").write_text(plain.read_text() + "oracle = false\n")
    (tmp_path / "on.toml").write_text(plain.read_text() + "oracle = true\n")
    hashes = {name: load_protocol(str(tmp_path / f"{name}.toml")) for name in ("plain", "off", "on")}
    assert "oracle" not in hashes["plain"].to_dict() and hashes["on"].to_dict()["oracle"] is True
    assert hashes["plain"].to_dict() == {**hashes["off"].to_dict(), "name": "plain"}
    assert {**hashes["on"].to_dict(), "name": "x"} != {**hashes["plain"].to_dict(), "name": "x"}


@pytest.mark.parametrize(("text", "message"), [
    ('split = "speaker-folds"\ncorpora = ["savee"]\n',
     "corpus savee has 4 speakers, fewer than the protocol's 5 folds, so fold 5 would test nobody"),
    ('split = "speaker-folds"\ncorpora = ["iemocap"]\nfolds = 7\n',
     "corpus iemocap has 5 sessions, fewer than the protocol's 7 folds, so folds 6 to 7 would test nobody"),
    ('split = "speaker-folds"\ncorpora = ["savee", "emodb"]\nfolds = 12\n',
     "none of its corpora has more than 10 speakers or sessions (emodb: 10 speakers)"),
])
def test_more_folds_than_any_corpus_has_speakers_is_refused(tmp_path, text, message):
    path = tmp_path / "folds.toml"
    path.write_text(text)
    with pytest.raises(SerbenchError, match=re.escape(message)) as error:
        load_protocol(path).make_folds(corpora_table())
    assert str(path) in str(error.value)


def test_a_part_holding_the_same_audio_under_two_corpora_is_refused():
    table = corpora_table()
    twice = table[table["corpus"] == "emodb"].assign(corpus="emodb2")  # a corpus given twice under two names
    split = pd.concat([table, twice], ignore_index=True).assign(part="train")
    twice_message = "30 audio recording(s) twice in the training part, under two corpora"
    with pytest.raises(SerbenchError, match=re.escape(twice_message)):
        check_disjoint(split)
    split["sha256"] = split["path"]
    split.loc[split["corpus"] == "emodb2", "path"] = "/elsewhere" + split["path"]  # a copy: caught by its content
    with pytest.raises(SerbenchError, match=re.escape("e.g. emodb/F0_0, emodb2/F0_0")):
        check_disjoint(split)
    within = table[table["corpus"] == "emodb"].assign(part="train", sha256="same")  # a release's own identical files
    assert check_disjoint(within) is within


def test_the_main_score_and_references_are_read_and_stay_out_of_the_content(tmp_path):
    """They choose what pages show, not what runs compute: the protocol's content, and so its run ids, stay."""
    plain = tmp_path / "plain.toml"
    plain.write_text('split = "corpus"\ntrain = ["a"]\ntest = ["b"]\n')
    chosen = tmp_path / "chosen.toml"
    chosen.write_text(plain.read_text() + 'score = "macro_f1"\nreferences = ["egemaps_lr", "baseline_s"]\n')
    default, reporting = load_protocol(plain), load_protocol(chosen)
    assert (default.score, default.references) == ("ua", ())
    assert (reporting.score, reporting.references) == ("macro_f1", ("egemaps_lr", "baseline_s"))
    assert {**reporting.to_dict(), "name": "x"} == {**default.to_dict(), "name": "x"}
    assert all(load_protocol(template_reference(name)).references == ("baseline_s", "egemaps_lr", "ssl_mlp")
               for name in builtin_protocols())


@pytest.mark.parametrize(("text", "message"), [
    ('score = "accuracy"\n', "'score': must be one of ua, wa, macro_f1, ccc, pcc, rmse, not 'accuracy'"),
    ('references = "baseline_s"\n', "'references': must be a list of method names"),
    ('references = ["baseline_s", 3]\n', "'references': must be a list of method names"),
])
def test_a_bad_score_or_references_is_refused(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text('split = "corpus"\ntrain = ["a"]\ntest = ["b"]\n' + text)
    with pytest.raises(SerbenchError, match=re.escape(message)) as error:
        load_protocol(path)
    assert str(path) in str(error.value)


def test_an_unknown_key_is_refused_with_the_known_ones(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('split = "speaker-folds"\ncorpora = ["a"]\nnormalization = "speaker"\n')
    with pytest.raises(SerbenchError, match="key 'normalization': unknown key") as error:
        load_protocol(path)
    assert str(path) in str(error.value)
    assert f"(known: {', '.join(sorted(PROTOCOL_KEYS))})" in error.value.message


@pytest.mark.parametrize(("line", "message"), [
    ('folds = "5"', "'folds': must be a whole number of at least 2"),
    ("description = 3", "'description': must be a string"),
    ('tasks = "arousal"', "'tasks': must be a non-empty list of names"),
    ("paper_subsets = 1", "'paper_subsets': must be true or false"),
    ('validation = "0.2"', "'validation': must be a share of the training speakers"),
    ("frontend = 3", "'frontend': must be a front-end name, or a table with a name"),
    ('groups = ["a"]', "'groups': must be a table of corpus = one of speaker, session"),
    ("labels = 3", "'labels': must be tables of emotion = class"),
    ("adaptation = true", "'adaptation': must be a string (one of none, unlabelled-test)"),
])
def test_a_value_of_the_wrong_type_is_refused(tmp_path, line, message):
    path = tmp_path / "typed.toml"
    path.write_text(f'split = "speaker-folds"\ncorpora = ["a"]\n{line}\n')
    with pytest.raises(SerbenchError, match=re.escape(message)) as error:
        load_protocol(path)
    assert str(path) in str(error.value)


def test_the_docs_list_every_key_of_the_schema():
    """docs/protocols.md's table of keys is the schema's, so the two cannot drift."""
    table = key_table(PROTOCOL_KEYS.values())
    docs = (Path(__file__).parents[1] / "docs" / "protocols.md").read_text()
    assert table in docs, f"write this table of keys into docs/protocols.md:\n{table}"


# A protocol of every registered split kind, over corpora_table(): (file text, how many folds it makes).
SPLIT_EXAMPLES = {
    "corpus": ('train = ["iemocap"]\ntest = ["savee", "emodb"]\n', 1),
    "speaker-folds": ('corpora = ["emodb", "iemocap"]\nfolds = 5\n', 5),
    "leave-one-corpus-out": ('corpora = ["savee", "emodb"]\n', 2),
    "leave-one-speaker-out": ('corpora = ["savee"]\n', 4),
    "leave-one-session-out": ('corpora = ["iemocap"]\n', 5),
    "official": ('corpora = ["emodb"]\n[splits]\ntrain = ["Train"]\ntest = ["Test"]\n', 1),
}


def test_every_split_kind_has_an_example():
    assert set(SPLIT_EXAMPLES) == set(SPLIT_KINDS)


@pytest.mark.parametrize("kind", list(SPLIT_EXAMPLES))
def test_each_split_kind_makes_its_folds(tmp_path, kind):
    text, count = SPLIT_EXAMPLES[kind]
    path = tmp_path / "kind.toml"
    path.write_text(f'split = "{kind}"\n{text}')
    protocol = load_protocol(path)
    table = corpora_table()
    table["split"] = table["speaker"].map(lambda s: "Test" if s.endswith("0") else "Train")  # official partitions
    folds = protocol.make_folds(table)
    assert len(folds) == count and folds == protocol.make_folds(table)  # deterministic
    tested = set()
    for fold in folds:
        split = split_utterances(table, protocol, fold)
        assert set(split["part"]) == {"train", "test"}
        tested |= set(split.loc[split["part"] == "test", "corpus"])
    assert tested == set(protocol.test_corpora)


DESCRIPTIONS = {"corpus": "iemocap -> savee+emodb", "speaker-folds": "emodb+iemocap: 5 folds",
                "leave-one-corpus-out": "each corpus tested once", "leave-one-speaker-out": "each speaker tested once",
                "leave-one-session-out": "each session tested once", "official": "the releases' own partitions"}


@pytest.mark.parametrize("kind", list(SPLIT_EXAMPLES))
def test_serbench_protocols_describes_each_split_kind(tmp_path, kind, capsys):
    """`serbench protocols FILE` says what the split does, for every kind (it failed on official splits when the
    words were an if/elif of their own)."""
    path = tmp_path / "kind.toml"
    path.write_text(f'description = "d"\nsplit = "{kind}"\n{SPLIT_EXAMPLES[kind][0]}')
    assert main(["protocols", str(path)]) == 0
    assert DESCRIPTIONS[kind] in " ".join(capsys.readouterr().out.split())
