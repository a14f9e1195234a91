"""A sweep's settings beyond the protocol file and the methods' defaults: --normalisation, --adaptation and
--selection set the protocol's keys of those names (checked as the file's own, the overridden protocol named with
them, so that its runs get their own ids and pages), and --hp METHOD.KEY=VALUES sets one method's
hyperparameter, so that methods with different hyperparameters share a sweep."""

from __future__ import annotations

import json

import pytest

from serbench.cli import main
from serbench.errors import SerbenchError
from serbench.protocols.protocol import OVERRIDES, PROTOCOL_KEYS, load_protocol
from serbench.runs.export import protocol_reference
from serbench.runs.plan import method_hparams, sweep_protocol
from serbench.runs.settings import SweepConfig
from serbench.runs.store import ResultsStore, variant_label

pytestmark = pytest.mark.usefixtures("method_registry")  # the built-in methods, registered


def protocol(reference: str = "cross", **overrides: str):
    return sweep_protocol(SweepConfig(methods=("baseline_s",), protocol=reference, **overrides))


def test_each_key_that_can_be_set_is_a_sweep_setting_and_an_option_of_run_and_splits_export(capsys):
    for command in (["run"], ["splits", "export"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        shown = capsys.readouterr().out
        assert all(f"--{key} VALUE" in shown for key in OVERRIDES)
    config = SweepConfig.create(methods="a", protocol="cross", **dict.fromkeys(OVERRIDES, "x"))
    assert config.protocol_overrides() == dict.fromkeys(OVERRIDES, "x")


def test_a_protocol_without_overrides_is_the_files_and_one_with_them_is_named_by_those_that_change_it():
    cross = load_protocol("cross")
    assert protocol() == cross and protocol(normalisation="speaker") == cross  # the file's own value: no change
    changed = protocol(normalisation="utterance", adaptation="none")
    assert changed.name == "cross[normalisation=utterance,adaptation=none]"
    assert (changed.normalisation, changed.adaptation, changed.hash() != cross.hash()) == ("utterance", "none", True)
    assert load_protocol(changed.name) == changed  # the name loads it again (the pages read a protocol by name)
    same = protocol("cross[adaptation=none]", normalisation="utterance")  # an option wins over the name
    assert same.to_dict() == changed.to_dict()
    template = protocol("within[corpus=emodb]", selection="last", normalisation="corpus")  # last: the file's
    assert template.name == "within[corpus=emodb,normalisation=corpus]" and template.corpora == ("emodb",)


def test_an_overridden_value_is_checked_as_the_files_own_and_so_are_the_checks_across_keys():
    with pytest.raises(SerbenchError) as bad:
        protocol(normalisation="nosuch")
    assert bad.value.message == (f"--normalisation nosuch: must be one of "
                                 f"{', '.join(PROTOCOL_KEYS['normalisation'].choices)}, not 'nosuch'")
    with pytest.raises(SerbenchError) as across:
        protocol(selection="best-validation")  # cross holds no validation part
    assert across.value.message.startswith("protocol cross with --selection best-validation: key 'selection': "
                                           "best-validation needs a validation part")
    assert across.value.path.endswith("cross.toml")
    with pytest.raises(SerbenchError, match="leave-one-corpus-out holds out one training corpus"):
        protocol(selection="leave-one-corpus-out")  # cross trains on IEMOCAP alone
    assert protocol("multi", selection="leave-one-corpus-out").name == "multi[selection=leave-one-corpus-out]"


def test_a_template_cannot_declare_a_parameter_named_as_a_key_its_name_sets(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('split = "corpus"\ntrain = ["emodb"]\ntest = ["{selection}"]\n[parameters]\nselection = "x"\n')
    with pytest.raises(SerbenchError, match="parameter 'selection': a protocol's name sets its key selection"):
        load_protocol(f"{path}[selection=savee]")


def hparams(methods: list[str], **hp: str) -> dict[str, list[dict]]:
    return method_hparams(methods, SweepConfig(methods=tuple(methods), protocol="cross", hp=hp))


def test_a_scoped_hyperparameter_sets_its_method_only():
    variants = hparams(["baseline_s", "egemaps_svm"], **{"baseline_s.epochs": "3", "egemaps_svm.C": "0.1,1"})
    assert [hp["epochs"] for hp in variants["baseline_s"]] == [3]
    assert [hp["C"] for hp in variants["egemaps_svm"]] == [0.1, 1.0]
    config = SweepConfig(methods=("baseline_s", "egemaps_svm"), protocol="cross",
                         hp={"egemaps_svm.C": "0.1,1", "baseline_s.epochs": "3"})
    assert [variant_label(hp, config.hp_grid("egemaps_svm")) for hp in variants["egemaps_svm"]] == ["[C=0.1]",
                                                                                                  "[C=1.0]"]
    assert variant_label(variants["baseline_s"][0], config.hp_grid("baseline_s")) == "[epochs=3]"


def test_unscoped_keys_sweep_every_method_as_before_and_scoped_ones_join_their_methods_grid():
    variants = hparams(["dann2_cs", "dann1_cs"], gamma="0.1,0.3", **{"dann1_cs.lr": "0.5,1"})
    assert [hp["gamma"] for hp in variants["dann2_cs"]] == [0.1, 0.3]
    assert [(hp["gamma"], hp["lr"]) for hp in variants["dann1_cs"]] == [(0.1, 0.5), (0.1, 1.0), (0.3, 0.5),
                                                                         (0.3, 1.0)]


@pytest.mark.parametrize(("hp", "message"), [
    ({"nosuch.C": "1"}, "--hp nosuch.C: nosuch is not a method of this sweep"),
    ({"egemaps_svm.epochs": "3"}, "--hp egemaps_svm.epochs: egemaps_svm has no such hyperparameter"),
    ({"epochs": "3"}, "--hp epochs: egemaps_svm has no such hyperparameter"),
])
def test_a_scope_or_key_a_method_lacks_is_an_error(hp, message):
    with pytest.raises(SerbenchError) as error:
        hparams(["baseline_s", "egemaps_svm"], **hp)
    assert error.value.message == message
    if "." not in next(iter(hp)):
        assert "--hp METHOD.epochs=" in error.value.hint


@pytest.mark.parametrize(("settings", "message"), [
    ({"hp": {"lr": "1", "baseline_s.lr": "2"}}, "--hp lr and --hp baseline_s.lr both set lr of baseline_s"),
    ({"hp": {"baseline_s.epochs": "2"}, "epochs": 3}, "--epochs 3 and --hp baseline_s.epochs=2 both set epochs"),
    ({"hp": {".lr": "2"}}, "--hp .lr=2: '.lr' is no hyperparameter name"),
    ({"hp": {"baseline_s.lr": "1,,2"}}, "--hp baseline_s.lr=1,,2: an empty value"),
])
def test_scoped_keys_are_checked_with_the_sweeps_settings(settings, message):
    with pytest.raises(SerbenchError) as error:
        SweepConfig(methods=("baseline_s",), protocol="cross", **settings).check()
    assert error.value.message == message


def test_a_sweep_with_overrides_and_scoped_hyperparameters_has_its_own_runs_page_and_splits(tiny_releases, tmp_path,
                                                                                             capsys):
    results = str(tmp_path / "results")
    common = ["--protocol", "cross", "--task", "arousal", "--frontend", "egemaps", "--data", str(tiny_releases)]
    assert main(["run", "--method", "egemaps_svm", "--method", "ssl_mlp", "--method", "egemaps_lr", *common,
                 "--seed", "0", "--results", results, "--device", "cpu", "--normalisation", "corpus",
                 "--hp", "ssl_mlp.epochs=1", "--hp", "egemaps_svm.C=0.1,1"]) == 0
    out = capsys.readouterr().out
    assert "done egemaps_svm[C=0.1] cross[normalisation=corpus] arousal seed 0" in out
    for row in ("egemaps_svm[C=0.1]", "egemaps_svm[C=1.0]", "ssl_mlp[epochs=1]", "egemaps_lr"):
        assert f"\n {row} " in out  # a row of the summary table
    records = ResultsStore(results).records()
    assert {r.protocol for r in records} == {"cross[normalisation=corpus]"}
    assert {r.identity["protocol"]["normalisation"] for r in records} == {"corpus"}
    assert sorted((r.method, r.identity["hparams"].get("C"), r.identity["hparams"].get("epochs")) for r in records) \
        == [("egemaps_lr", 0.0, None), ("egemaps_svm", 0.1, None), ("egemaps_svm", 1.0, None), ("ssl_mlp", None, 1)]

    assert main(["leaderboard", "--results", results, "--out", str(tmp_path / "boards")]) == 0
    page = (tmp_path / "boards" / "cross-normalisation-corpus-arousal.md").read_text()
    assert page.startswith("# cross\\[normalisation=corpus\\] / arousal: adapted to unlabelled test audio")
    assert "Normalisation: **corpus**" in page
    # the protocol's own reference (cross.toml), which the page found by the protocol's name
    assert "Reference for the significance markers: **egemaps\\_lr**." in page

    out_dir = tmp_path / "splits"
    assert main(["splits", "export", *common, "--normalisation", "corpus", "--out", str(out_dir)]) == 0
    manifest = json.loads((out_dir / "arousal" / "manifest.json").read_text())
    assert manifest["protocol"] == "cross[normalisation=corpus]"
    assert manifest["settings"] == records[0].identity["protocol"]
    reloaded = load_protocol(manifest["reference"]).to_dict()  # what serbench score loads
    assert json.loads(json.dumps(reloaded)) == manifest["settings"]


def test_the_exported_reference_of_a_protocol_file_loads_it_with_its_parameters_and_overrides(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('split = "corpus"\ntrain = ["{a}"]\ntest = ["savee"]\n[parameters]\na = "x"\n')
    config = SweepConfig(methods=(), protocol=f"{path}[a=emodb]", normalisation="utterance")
    reference = protocol_reference(config, sweep_protocol(config))
    assert reference == f"{path}[a=emodb,normalisation=utterance]"
    assert load_protocol(reference) == sweep_protocol(config)
