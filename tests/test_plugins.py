"""Plugins: methods from a file (--plugin) and from an installed package (entry point) register and run;
broken plugins fail with a message naming the plugin."""

import argparse
import runpy
import sys
from pathlib import Path

import pytest
import torch
from toy_features import make_toy

from serbench.cli import main
from serbench.cli import methods as methods_cli
from serbench.errors import SerbenchError
from serbench.method import METHODS, build_method, discover_methods
from serbench.plugins import load_plugin_file
from serbench.training import RowSet, fit, utterance_embeddings, utterance_posteriors

torch.set_num_threads(2)
EXAMPLES = Path(__file__).parent.parent / "examples" / "plugins"
PACKAGE = Path(__file__).parent / "plugin_package"


@pytest.fixture(autouse=True)
def registry(method_registry):
    """Each test starts from the built-ins and leaves the registry as it found it."""
    yield
    sys.modules.pop("serbench_toy_plugin", None)


def train_briefly(name, adaptation=False):
    task, data = make_toy(takes=1, seed=0)
    target = None
    if adaptation:  # another corpus's audio, unlabelled, as a protocol with adaptation passes it
        _, other = make_toy(takes=1, seed=1, corpus_strength=3.0)
        target = RowSet(other.features, other.utterance, None, other.domains)
    method = build_method(name, task, {"preset": "small"}, seed=0)
    history = fit(method, data, adaptation=target, epochs=1, batch_size=32, seed=0, device="cpu")
    posteriors = utterance_posteriors(method, data, device="cpu")
    assert posteriors.shape == (data.n_utterances, len(task.classes))
    assert utterance_embeddings(method, data, device="cpu").shape[0] == data.n_utterances
    return history[0]


def write(tmp_path, text, name="plugin.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_plugins_register_from_their_files_and_train():
    assert load_plugin_file(EXAMPLES / "coral.py") == ["coral"]
    assert load_plugin_file(EXAMPLES / "dann_all.py") == ["dann_all_cs"]
    assert METHODS["coral"].source == f"file {(EXAMPLES / 'coral.py').resolve()}"
    assert set(train_briefly("coral")) == {"total", "emotion", "coral"}
    assert train_briefly("coral", adaptation=True)["coral"] > 0  # source against the unlabelled target
    losses = train_briefly("dann_all_cs")
    assert {f"domain_{d}" for d in ("speaker", "corpus", "gender", "language")} <= set(losses)


def test_loading_the_same_file_twice_replaces_its_methods():
    load_plugin_file(EXAMPLES / "coral.py")
    assert load_plugin_file(EXAMPLES / "coral.py") == ["coral"]


def test_coral_loss_is_zero_when_domains_share_a_covariance_and_positive_otherwise():
    coral = runpy.run_path(str(EXAMPLES / "coral.py"))  # registers 'coral' again; the fixture restores
    x = torch.randn(8, 3)
    same = torch.cat([x, x])  # both domains hold the same rows
    domain = torch.tensor([0] * 8 + [1] * 8)
    assert coral["coral_loss"](same, domain, 3).item() == pytest.approx(0.0, abs=1e-6)
    assert coral["coral_loss"](torch.cat([x, 5 * x]), domain, 3).item() > 0.1


def install_toy_package(tmp_path, monkeypatch, module="serbench_toy_plugin"):
    """Install tests/plugin_package the way pip would for importlib.metadata: a dist-info on sys.path."""
    dist = tmp_path / "serbench_toy_plugin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: serbench-toy-plugin\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[serbench.methods]\ntoy = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PACKAGE))


def test_entry_point_plugin_registers_and_trains(tmp_path, monkeypatch):
    install_toy_package(tmp_path, monkeypatch)
    methods = discover_methods()
    assert methods["toy_baseline"].source == "entry point toy (serbench-toy-plugin 0.1.0)"
    assert methods["toy_baseline"].code == "serbench-toy-plugin 0.1.0"  # a package: its version is its code
    assert build_method("toy_baseline", make_toy(takes=1)[0]).hp["preset"] == "small"
    assert "emotion" in train_briefly("toy_baseline")


def test_broken_entry_point_names_the_entry_point(tmp_path, monkeypatch):
    install_toy_package(tmp_path, monkeypatch, module="serbench_no_such_module")
    with pytest.raises(SerbenchError, match=r"entry point toy \(serbench-toy-plugin [\d.]+\) failed to import: "
                                            "ModuleNotFoundError"):
        discover_methods()


@pytest.mark.parametrize(("text", "message"), [
    ("def broken(:\n", r"plugin file .*plugin\.py failed to import: SyntaxError: .*line 1"),
    ("import no_such_package\n", "failed to import: ModuleNotFoundError: No module named 'no_such_package'"),
    ("from serbench.method import Method, register_method\n"
     "@register_method('half')\n"
     "class Half(Method):\n"
     "    def update(self, batch, progress):\n"
     "        return {}\n",
     r"method 'half' \(file .*plugin\.py\): Half does not implement predict"),
    ("from serbench.method import register_method\n"
     "@register_method('plain')\n"
     "class Plain:\n"
     "    pass\n",
     "is not a subclass of serbench.method.Method"),
    ("from serbench.method import register_method\n"
     "from serbench.methods.baseline import BaselineS\n"
     "@register_method('dann1_s')\n"
     "class Mine(BaselineS):\n"
     "    '''Mine.'''\n",
     r"method name 'dann1_s' from file .*plugin\.py is already taken by the built-in method "
     r"serbench\.methods\.dann\.Dann1S"),
    ("from serbench.method import register_method\n"
     "from serbench.methods.baseline import BaselineS\n"
     "@register_method('odd')\n"
     "class Odd(BaselineS):\n"
     "    hparams = {**BaselineS.hparams, 'sizes': [1, 2]}\n",
     "hyperparameter 'sizes' has a default of type list"),
    ("from serbench.method import Method, register_method\n"
     "@register_method('idle')\n"
     "class Idle(Method):\n"
     "    def predict(self, batch):\n"
     "        return batch.inputs\n",
     "it implements neither of update and fit_all"),
    ("from serbench.method import Method, register_method\n"
     "@register_method('twice')\n"
     "class Twice(Method):\n"
     "    def update(self, batch, progress):\n"
     "        return {}\n"
     "    def fit_all(self, train, validation):\n"
     "        return {}\n"
     "    def predict(self, batch):\n"
     "        return batch.inputs\n",
     "it implements both update and fit_all"),
    ("from serbench.method import Method, register_method\n"
     "@register_method('unscheduled')\n"
     "class Unscheduled(Method):\n"
     "    hparams = {}\n"
     "    def update(self, batch, progress):\n"
     "        return {}\n"
     "    def predict(self, batch):\n"
     "        return batch.inputs\n",
     "hparams lacks epochs, batch_size"),
    ("x = 1\n", "the plugin registered no method"),
])
def test_broken_plugin_file_is_a_clear_error_naming_it(tmp_path, text, message):
    with pytest.raises(SerbenchError, match=message):
        load_plugin_file(write(tmp_path, text))


def test_missing_plugin_file_is_a_clear_error(tmp_path):
    with pytest.raises(SerbenchError, match="no such plugin file"):
        discover_methods([tmp_path / "nowhere.py"])


def test_plugin_failing_to_build_names_the_plugin(tmp_path):
    load_plugin_file(write(tmp_path, "from serbench.method import register_method\n"
                                    "from serbench.methods.baseline import BaselineS\n"
                                    "@register_method('fragile')\n"
                                    "class Fragile(BaselineS):\n"
                                    "    def __init__(self, task, hp):\n"
                                    "        raise ValueError('boom')\n"))
    with pytest.raises(SerbenchError, match=r"method 'fragile' \(file .*\) failed to build: ValueError: boom"):
        build_method("fragile", make_toy(takes=1)[0])


def test_methods_command_lists_every_method_and_its_origin(capsys):
    parser = argparse.ArgumentParser()
    methods_cli.add_commands(parser.add_subparsers())
    args = parser.parse_args(["methods", "--plugin", str(EXAMPLES / "coral.py")])
    assert args.func(args) == 0
    listing = capsys.readouterr().out
    for name in ("baseline_s", "dann2_cs", "coral"):
        assert name in listing
    assert "built-in" in listing and "file" in listing
    args = parser.parse_args(["methods", "dann1_cs"])
    assert args.func(args) == 0
    assert "gamma" in capsys.readouterr().out


@pytest.mark.parametrize(("setting", "message"), [
    (["--hp", "epochs=1.5"], "method 'baseline_s': hyperparameter epochs='1.5' is not an int"),
    (["--frontend", "logmel", "--frontend-setting", "n_mels=many"], "setting n_mels='many' is not an int"),
    (["--hp", "lr=fast"], "hyperparameter lr='fast' is not a float"),
])
def test_a_setting_of_the_wrong_type_is_named_with_its_article(tmp_path, capsys, setting, message):
    status = main(["run", "--method", "baseline_s", "--protocol", "cross", "--data", str(tmp_path / "nowhere"),
                   "--results", str(tmp_path / "results"), "--device", "cpu", *setting])
    output = capsys.readouterr().err
    assert status == 2 and message in " ".join(output.split()) and "Traceback" not in output
