"""The open core end to end on tiny synthetic releases: every built-in front-end in a sweep with the methods that
take its rows, on a leaderboard; a method given rows it cannot take; a frames method from a plugin file; the
plugin API in one module; editing a plugin retrains its runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from tiny_ssl import save_tiny_model

from serbench.cli import main
from serbench.errors import SerbenchError
from serbench.features.frontends import FRONTENDS, discover_frontends, make_frontend
from serbench.features.frontends.spectrogram import SpectrogramSettings
from serbench.reports.pages import write_leaderboards
from serbench.runs.launch import run
from serbench.runs.store import ResultsStore

EXAMPLES = Path(__file__).parent.parent / "examples" / "plugins"
FAST = {"tasks": ["arousal"], "epochs": 1, "device": "cpu"}


pytestmark = pytest.mark.usefixtures("method_registry")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("ssl") / "tiny")


def test_every_builtin_frontend_runs_in_a_sweep_and_reaches_a_leaderboard(tiny_releases, tiny_model, tmp_path):
    results = tmp_path / "results"
    sweeps = [("spectrogram", {}, ["baseline_s"], ["--preset", "small"]),
              ("logmel", {"n_mels": 32}, ["baseline_s", "dann2_s"], ["--preset", "small"]),
              ("egemaps", {}, ["egemaps_lr", "prototypes"], ["--plugin", str(EXAMPLES / "prototypes.py")]),
              ("ssl", {"model": tiny_model}, ["ssl_mlp", "ssl_dann"], []),
              ("ssl-frames", {"model": tiny_model, "layer": 1}, ["ssl_dann"], []),
              ("egemaps-lld", {}, ["ssl_mlp"], [])]
    for frontend, settings, methods, options in sweeps:  # as a user runs them: the command line
        seeds = 2 if frontend == "ssl" else 1  # two for the paired tests of one page
        words = ["run", *(w for m in methods for w in ("--method", m)), "--protocol", "cross", "--task", "arousal",
                 "--seeds", str(seeds), "--epochs", "1", "--device", "cpu", "--data", str(tiny_releases),
                 "--results", str(results), "--frontend", frontend, *options,
                 *(w for key, value in settings.items() for w in ("--frontend-setting", f"{key}={value}"))]
        assert main(words) == 0, frontend
    store = ResultsStore(results)
    records = [store.record(run_id) for run_id in store.done_ids()]
    assert len(records) == 11 and all(0 <= s.ua <= 1 for r in records for s in r.scores.values())
    assert {r.frontend for r in records} == {"spectrogram", "logmel", "egemaps", "ssl", "ssl-frames", "egemaps-lld"}
    for ssl in (r for r in records if r.method == "ssl_dann"):
        assert ssl.adaptation["read_by_method"] and "domain_corpus" in ssl.curves[0]
        assert ssl.probes["corpus"]["classes"] == 3  # ssl methods expose embeddings
    # One page: every front-end's systems side by side; a method on two front-ends is a row per front-end.
    write_leaderboards(results, tmp_path / "out", references=["ssl_mlp[frontend=ssl]"])  # the one with 2 seeds
    assert {path.name for path in (tmp_path / "out").glob("*.md")} == {"cross-arousal.md", "README.md"}
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    main_table = page.split("## UA per test corpus")[1].split("\n\n")[1].splitlines()[2:]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in main_table}  # method -> front-end
    assert rows == {"baseline\\_s\\[frontend=spectrogram\\]": "spectrogram",
                    "baseline\\_s\\[frontend=logmel\\]": "logmel", "dann2\\_s": "logmel", "egemaps\\_lr": "egemaps",
                    "prototypes": "egemaps", "ssl\\_mlp\\[frontend=ssl\\]": "ssl",
                    "ssl\\_mlp\\[frontend=egemaps-lld\\]": "egemaps-lld", "ssl\\_dann\\[frontend=ssl\\]": "ssl",
                    "ssl\\_dann\\[frontend=ssl-frames\\]": "ssl-frames"}
    assert "markers: **ssl\\_mlp\\[frontend=ssl\\]**" in page and "No paired tests" not in page


def test_all_methods_means_those_that_take_the_frontends_rows(tiny_releases, tmp_path):
    frame = run("all", "cross", seeds=1, data=str(tiny_releases), results=tmp_path, frontend="egemaps", **FAST)
    assert set(frame["method"]) == {"egemaps_lr", "egemaps_svm", "ssl_mlp", "ssl_dann"}  # those that take vectors


def test_a_method_given_rows_it_cannot_take_is_refused_before_any_work(tiny_releases, tmp_path, capsys):
    assert main(["run", "--method", "egemaps_lr", "--protocol", "cross", "--data", str(tiny_releases),
                 "--results", str(tmp_path), "--epochs", "1", "--device", "cpu"]) == 2
    error = capsys.readouterr().err
    assert "egemaps_lr' takes vectors, but the front-end 'spectrogram' produces segments" in error
    assert not (tmp_path / "runs").exists()
    with pytest.raises(SerbenchError, match="front-end 'logmel' has no setting 'mels'"):
        make_frontend("logmel", {"mels": "40"})
    with pytest.raises(SerbenchError, match="--frontend-setting needs --frontend"):
        run("baseline_s", "cross", seeds=1, data=str(tiny_releases), results=tmp_path,
            frontend_settings={"n_mels": "40"}, **FAST)


FRAMES_PLUGIN = '''
from torch import nn
from serbench.api import Batch, HP, Method, register_method


@register_method("lld_mean")
class LldMean(Method):
    """A linear classifier on the mean of an utterance's frames (a frames-method example)."""

    inputs = ("frames",)
    hparams = {**Method.hparams, "epochs": HP(1, low=1), "batch_size": HP(8, low=1)}

    def __init__(self, task, hp):
        super().__init__(task, hp)
        self.linear = nn.Linear(task.input.shape[-1], len(task.classes))
        self.optimizer = __import__("torch").optim.Adam(self.parameters(), lr=0.01)

    def pooled(self, batch: Batch):
        valid = (__import__("torch").arange(batch.inputs.shape[1], device=batch.inputs.device)[None, :]
                 < batch.lengths[:, None]).float()
        return (batch.inputs * valid[..., None]).sum(1) / batch.lengths[:, None]

    def update(self, batch, progress):
        loss = nn.functional.cross_entropy(self.linear(self.pooled(batch)), batch.emotion)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"total": loss.detach()}

    def predict(self, batch):
        return self.linear(self.pooled(batch)).softmax(1)
'''


def test_a_frames_method_from_a_plugin_trains_on_whole_padded_utterances(tiny_releases, tmp_path):
    plugin = tmp_path / "lld.py"
    plugin.write_text(FRAMES_PLUGIN)
    frame = run("lld_mean", "cross", seeds=1, data=str(tiny_releases), results=tmp_path / "r", frontend="egemaps-lld",
                plugins=[str(plugin)], **FAST)
    assert len(frame) == 3 and frame["ua"].between(0, 1).all()
    store = ResultsStore(tmp_path / "r")
    predictions = store.table(frame["run_id"].iloc[0], "predictions")
    assert np.allclose(predictions[["p_low", "p_high"]].sum(axis=1), 1)  # one decision per utterance


PLUGINS = {  # a plugin of each kind, and how a sweep uses it: (source, method, options of the sweep)
    "method": ("""
        from serbench.api import register_method
        from serbench.methods.baseline import BaselineS

        @register_method("mine")
        class Mine(BaselineS):
            \"\"\"The baseline under another name.\"\"\"
    """, "mine", {}),
    # one that inherits a built-in's settings-only hash (the spectrogram's): its code must count all the same
    "front-end": ("""
        from serbench.api import register_frontend
        from serbench.features.frontends.spectrogram import Spectrogram

        @register_frontend("myspec")
        class MySpec(Spectrogram):
            \"\"\"The spectrogram under another name.\"\"\"
    """, "baseline_s", {"frontend": "myspec"}),
}


@pytest.mark.parametrize("kind", sorted(PLUGINS))
def test_editing_a_plugin_gives_new_runs_and_features(tiny_releases, tmp_path, kind):
    """A plugin's code enters the run identity (and, for a front-end, the cache key): an edit retrains its runs
    and, for a front-end, recomputes its features instead of reusing the old ones."""
    text, method, extra = PLUGINS[kind]
    source = textwrap.dedent(text)
    plugin = tmp_path / "plugin.py"
    plugin.write_text(source)
    options = {"seeds": 1, "data": str(tiny_releases), "results": tmp_path / "r", "plugins": [str(plugin)],
               "preset": "small", "cache": str(tmp_path / "cache"), **extra, **FAST}
    first = set(run(method, "cross", **options)["run_id"])
    caches = set((tmp_path / "cache" / "features").iterdir())
    assert set(run(method, "cross", **options)["run_id"]) == first  # unchanged: nothing retrained
    plugin.write_text(source + "    threads = True  # an edit\n")
    second = set(run(method, "cross", **options)["run_id"])
    assert second.isdisjoint(first) and len(ResultsStore(tmp_path / "r").done_ids()) == 2
    features = set((tmp_path / "cache" / "features").iterdir())
    assert features > caches if kind == "front-end" else features == caches


def test_builtin_frontends_keep_their_hashes(capsys):
    """Cache keys and run identities of the built-in front-ends are those they had before a front-end's code
    entered the hash: only plugins' code counts (the built-ins' is versioned with serbench and the cache format)."""
    assert {name: make_frontend(name).hash() for name in ("spectrogram", "logmel", "egemaps", "egemaps-lld")} == {
        "spectrogram": "66f5cbdb514b2988", "logmel": "3a998bdf88a3b4ff", "egemaps": "ce105b08a9ef5294",
        "egemaps-lld": "795f9e0ec0c03ad1"}


def test_the_spectrogram_keeps_its_serbench_0_1_cache_keys_and_frontends_are_listed(capsys):
    assert make_frontend("spectrogram").hash() == SpectrogramSettings().hash()
    assert make_frontend("logmel").hash() != make_frontend("logmel", {"n_mels": 40}).hash()
    discover_frontends()
    assert set(FRONTENDS) >= {"spectrogram", "logmel", "egemaps", "egemaps-lld", "ssl", "ssl-frames"}
    assert main(["frontends"]) == 0 and "egemaps-lld" in capsys.readouterr().out
    assert main(["frontends", "logmel"]) == 0 and "n_mels" in capsys.readouterr().out


def test_the_plugin_api_is_one_module():
    import serbench.api as api

    assert {"Method", "TaskSpec", "InputSpec", "Batch", "FrontEnd", "HP", "register_method",
            "register_frontend", "SerbenchError", "DOMAINS"} == set(api.__all__)


def test_utterance_normalisation_of_one_vector_per_utterance_is_refused_before_any_work(tmp_path):
    protocol = tmp_path / "per-utterance.toml"
    protocol.write_text('split = "corpus"\ntrain = ["emodb"]\ntest = ["savee"]\nnormalisation = "utterance"\n')
    with pytest.raises(SerbenchError, match="every feature would be 0"):
        run("egemaps_svm", str(protocol), seeds=1, data=str(tmp_path / "nothing here"), results=tmp_path,
            frontend="egemaps")
