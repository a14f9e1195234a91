"""--data: a folder of releases, a data configuration file, the synthetic stand-ins, $SERBENCH_DATA and
./serbench.toml."""

import pytest
from corpus_trees import make_corpus

from serbench.data.sources import data_sources
from serbench.errors import CorpusError, SerbenchError


def test_a_folder_of_releases(tmp_path):
    (tmp_path / "emodb").mkdir()
    (tmp_path / "SAVEE").mkdir()
    sources = data_sources(tmp_path)
    assert sources.root("emodb") == tmp_path / "emodb" and sources.root("savee") == tmp_path / "SAVEE"
    with pytest.raises(CorpusError, match="lacks 'iemocap'") as error:
        sources.root("iemocap")
    assert str(tmp_path / "IEMOCAP_full_release") in str(error.value) and "--data synthetic" in str(error.value)


def test_every_missing_corpus_of_a_protocol_in_one_error(tmp_path):
    (tmp_path / "emodb").mkdir()
    with pytest.raises(CorpusError, match="lacks 'iemocap', 'savee', 'mine'") as error:
        data_sources(tmp_path).require(["iemocap", "emodb", "savee", "mine"])
    message = str(error.value)
    assert str(tmp_path / "IEMOCAP_full_release") in message and str(tmp_path / "SAVEE") in message
    assert "mine: not a built-in corpus" in message and "itself" not in message
    config = tmp_path / "data.toml"
    config.write_text('[corpora.emodb]\nroot = "emodb"\n')
    with pytest.raises(CorpusError, match=r"\[corpora.iemocap\], \[corpora.savee\]"):
        data_sources(config).require(["iemocap", "emodb", "savee"])
    with pytest.raises(CorpusError, match="stand-in of 'casia', 'mine'"):
        data_sources("synthetic", cache_dir=tmp_path).require(["savee", "casia", "mine"])


@pytest.mark.parametrize(("name", "folder", "title"), [("emodb", "emodb", "Emo-DB"),  # known by its name
                                                       ("iemocap", "session-data", "IEMOCAP"),  # by its layout
                                                       ("savee", "surrey", "SAVEE")])
def test_a_release_given_as_the_folder_of_releases_is_recognised(tmp_path, name, folder, title):
    tree = make_corpus(name, tmp_path / folder)
    with pytest.raises(CorpusError, match="lacks") as error:
        data_sources(tree.root).require(["iemocap", "msp-improv"])
    assert f"this folder is itself the {title} release; pass its parent folder" in str(error.value)


def test_a_configuration_file_with_relative_paths(tmp_path):
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "data.toml"
    config.write_text('[corpora.emodb]\nroot = "../berlin"\n[corpora.ravdess]\nmanifest = "ravdess.csv"\n')
    sources = data_sources(config)
    assert sources.root("emodb") == tmp_path / "berlin"
    assert sources.root("ravdess") == tmp_path / "conf" / "ravdess.csv"
    with pytest.raises(CorpusError, match=r"\[corpora.savee\]"):
        sources.root("savee")


@pytest.mark.parametrize(("text", "message"), [
    ("[corpora.emodb]\nroot = 3\n", "exactly one of"),
    ("[corpora.emodb]\nroot = 'a'\nmanifest = 'b'\n", "exactly one of"),
    ("[corpora.casia]\nroot = 'a'\n", "no reader"),
    ("", "no \\[corpora.NAME\\]"),
    ("title = 'x'\n", "unknown key 'title'"),
    ("[corpra.emodb]\nroot = 'a'\n", "unknown table \\[corpra.emodb\\]"),  # its corpus would be left out
    ("[corpora.emodb]\nroot = 'a'\nlang = 'de'\n", "\\[corpora.emodb\\]: unknown key 'lang'"),
    ("[corpora.mine]\nmanifest = 'lists'\n", "manifest = 'lists' is a folder"),  # read as a release otherwise
    ("[corpora.emodb]\nmanifest = 'emodb.tsv'\n", "manifest = 'emodb.tsv' is not a .csv file"),
    ("[corpora.emodb\n", "not valid TOML"),
])
def test_malformed_configuration_names_the_file(tmp_path, text, message):
    config = tmp_path / "data.toml"
    config.write_text(text)
    (tmp_path / "lists").mkdir()
    with pytest.raises(SerbenchError, match=message) as error:
        data_sources(config)
    assert str(config) in str(error.value)


def test_environment_then_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERBENCH_DATA", raising=False)
    with pytest.raises(SerbenchError, match="no data given"):
        data_sources()
    (tmp_path / "serbench.toml").write_text('[corpora.emodb]\nroot = "here"\n')
    assert data_sources().root("emodb") == tmp_path / "here"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setenv("SERBENCH_DATA", str(tmp_path / "elsewhere"))
    assert data_sources().origin == str(tmp_path / "elsewhere")


def test_synthetic_stand_ins_are_generated_when_a_corpus_is_first_asked_for(tmp_path, monkeypatch):
    made = []

    def generate(name, scale=0.02, seed=0, cache_dir=None, **kwargs):
        made.append((name, cache_dir))
        return tmp_path / name

    monkeypatch.setattr("serbench.data.synth.synthetic_corpus", generate)
    sources = data_sources("synthetic", cache_dir=tmp_path)
    assert sources.synthetic and made == []  # nothing generated up front
    assert sources.root("savee") == sources.root("savee") == tmp_path / "savee"
    assert made == [("savee", tmp_path)]  # once, and only the corpus asked for
    assert sources.root("crema-d-voice") == tmp_path / "crema-d"  # the same release as crema-d
    assert made[-1] == ("crema-d", tmp_path)
    with pytest.raises(CorpusError, match="no synthetic stand-in of 'casia'") as error:
        sources.root("casia")
    assert "--data synthetic has iemocap" in str(error.value)
