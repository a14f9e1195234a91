"""The `serbench` command end to end: data summary (incl. --json), check, protocols; errors without tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_trees import make_corpus, make_emodb, write_wav
from test_store import scored

from serbench.cli import COMMANDS, main
from serbench.runs.store import ResultsStore

EMODB = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb"


def serbench(*args: str) -> subprocess.CompletedProcess:
    """Run the installed command in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "serbench", *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", ["iemocap", "msp-improv", "savee", "emodb"])
def test_summary_json_counts_every_labelled_utterance(tmp_path, capsys, name):
    tree = make_corpus(name, tmp_path / name)
    assert main(["data", "summary", "--corpus", name, "--root", str(tree.root), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    usable = [r for r in tree.rows.values() if r["emotion"] not in ("other", "no_agreement")]
    assert summary["corpus"] == name and summary["utterances"] == len(usable)
    assert sum(summary["by_label"].values()) == len(usable)
    assert summary["excluded"] == {} or sum(summary["excluded"].values()) == len(tree.rows) - len(usable)
    for speaker, entry in summary["by_speaker"].items():
        assert {r["gender"] for r in tree.rows.values() if r["speaker"] == speaker} == {entry["gender"]}


def test_summary_with_a_task_counts_classes_and_exclusions(tmp_path, capsys):
    tree = make_corpus("iemocap", tmp_path / "IEMOCAP_full_release")
    assert main(["data", "summary", "--corpus", "iemocap", "--root", str(tree.root), "--task", "emotion4",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["by_label"]) <= {"anger", "happiness", "sadness", "neutral"}
    used = [r for r in tree.rows.values() if r["emotion"] in ("anger", "happiness", "excitement", "sadness",
                                                                "neutral")]
    assert summary["utterances"] == len(used)
    assert sum(summary["excluded"].values()) == len(tree.rows) - len(used)


def test_summary_table_is_readable(tmp_path, capsys):
    tree = make_emodb(tmp_path / "emodb")
    assert main(["data", "summary", "--corpus", "emodb", "--root", str(tree.root), "--task", "arousal"]) == 0
    out = capsys.readouterr().out
    assert "high" in out and "low" in out and "total" in out and "utterances used" in out


@pytest.mark.skipif(not EMODB.is_dir(), reason=f"the real Emo-DB copy is not at {EMODB} (../shared absent)")
def test_real_emodb_summary_as_a_user_runs_it():
    result = serbench("data", "summary", "--corpus", "emodb", "--root", str(EMODB), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["utterances"] == 535 and not summary["synthetic"]
    assert summary["by_label"] == {"W": 127, "L": 81, "N": 79, "F": 71, "A": 69, "T": 62, "E": 46}
    genders = {speaker.split(":")[1]: entry["gender"] for speaker, entry in summary["by_speaker"].items()}
    assert genders == {**dict.fromkeys(["03", "10", "11", "12", "15"], "M"),
                       **dict.fromkeys(["08", "09", "13", "14", "16"], "F")}


def test_bad_input_is_one_clear_error_and_skip_bad_lists_it(tmp_path):
    tree = make_emodb(tmp_path / "emodb")
    write_wav(tmp_path / "emodb" / "wav" / "03a01Xa.wav")  # an unknown emotion letter
    result = serbench("data", "summary", "--corpus", "emodb", "--root", str(tree.root))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "03a01Xa.wav" in result.stderr and "--skip-bad" in result.stderr
    result = serbench("data", "summary", "--corpus", "emodb", "--root", str(tree.root), "--skip-bad", "--json")
    assert result.returncode == 0, result.stderr
    assert [s["path"].endswith("03a01Xa.wav") for s in json.loads(result.stdout)["skipped"]] == [True]


def test_root_that_is_not_the_corpus(tmp_path):
    tree = make_emodb(tmp_path / "emodb")
    result = serbench("data", "summary", "--corpus", "iemocap", "--root", str(tree.root))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not an IEMOCAP release" in result.stderr and str(tree.root) in result.stderr


def test_check_reports_corrupt_and_empty_audio(tmp_path, capsys):
    tree = make_emodb(tmp_path / "emodb")
    assert main(["data", "check", "--corpus", "emodb", "--root", str(tree.root)]) == 0
    corrupt, empty = tree.audio(tree.ids[0]), tree.audio(tree.ids[1])
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    empty.write_bytes(b"")
    capsys.readouterr()
    assert main(["data", "check", "--corpus", "emodb", "--root", str(tree.root)]) == 1
    out = capsys.readouterr().out
    assert corrupt.name in out and empty.name in out and "2 problem(s)" in out


def test_protocols_lists_the_builtins(capsys):
    assert main(["protocols"]) == 0
    out = capsys.readouterr().out
    assert "cross" in out and "multi" in out and "loco" in out


def test_synth_writes_the_four_releases_and_summaries_say_synthetic(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path / "s"), "--scale", "0.002", "--seed", "1"]) == 0
    assert {p.name for p in (tmp_path / "s").iterdir()} >= {"IEMOCAP_full_release", "MSP-IMPROV", "SAVEE", "emodb"}
    capsys.readouterr()
    assert main(["data", "summary", "--corpus", "savee", "--root", str(tmp_path / "s" / "SAVEE")]) == 0
    assert "SYNTHETIC DATA" in capsys.readouterr().out
    assert main(["data", "summary", "--corpus", "savee", "--data", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["synthetic"] is True


def test_features_command_stops_on_bad_audio_or_skips_it_with_a_saved_list(tmp_path, capsys):
    tree = make_emodb(tmp_path / "emodb")
    corrupt = tree.audio(tree.ids[0])
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    args = ["data", "features", "--corpus", "emodb", "--root", str(tree.root), "--cache-dir", str(tmp_path / "c")]
    result = serbench(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert corrupt.name in result.stderr and "--skip-bad" in result.stderr
    assert main([*args, "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert f"{len(tree.ids) - 1} utterances" in out and corrupt.name in out
    saved = json.loads(next((tmp_path / "c" / "features").glob("emodb-*/skipped.json")).read_text())
    assert [Path(p["path"]).name for p in saved["audio"]] == [corrupt.name]


LOADED = """
import json, sys
from serbench.cli import build_parser, main
loaded = []
for how, argv in json.loads(sys.argv[1]):
    try:
        main(argv) if how == "main" else build_parser(argv).parse_args(argv)
    except SystemExit:
        pass
    loaded.append(["torch" in sys.modules, "pandas" in sys.modules])
print(json.dumps(loaded))
"""


def test_help_version_and_argument_errors_load_no_torch():
    # A fresh process: the modules other tests imported would hide a command module that loads torch at its top.
    # One process for every case, each looked at as soon as it ran: torch loaded by any of them shows at that one.
    top = [["--help"], ["--version"]]  # only the module of the command being run is imported: neither pandas
    commands = [*([name, "--help"] for name in COMMANDS),
                ["run", "--method", "baseline_s"],  # --protocol missing
                ["run", "--method", "baseline_s", "--protocol", "cross", "--task", "nosuch"]]
    cases = [("main", argv) for argv in top] + [("parse", argv) for argv in commands]
    result = subprocess.run([sys.executable, "-c", LOADED, json.dumps(cases)], capture_output=True, text=True,
                            check=True)
    loaded = dict(zip((" ".join(argv) for _, argv in cases), json.loads(result.stdout.splitlines()[-1]), strict=True))
    assert [argv for argv, (torch, _) in loaded.items() if torch] == []
    assert [loaded[" ".join(argv)] for argv in top] == [[False, False], [False, False]]


def test_unknown_launcher_is_a_clear_error(tmp_path, capsys):
    # --launcher has no argparse choices (they live with the torch-heavy launcher): launch checks it first
    assert main(["run", "--method", "baseline_s", "--protocol", "cross", "--data", "synthetic", "--launcher", "nosuch",
                 "--results", str(tmp_path / "results")]) == 2
    assert "unknown launcher 'nosuch'" in capsys.readouterr().err


def test_prune_of_a_method_the_store_lacks_is_an_error_not_an_empty_match(tmp_path):
    ResultsStore(tmp_path).write_run("abc", *scored(method="baseline_s", identity={"hparams": {"lr": 0.5}}))
    result = serbench("prune", "--results", str(tmp_path), "--method", "nosuch")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--method nosuch: no finished run of this store has this method" in result.stderr
    assert "the methods it holds: baseline_s" in result.stderr
    result = serbench("prune", "--results", str(tmp_path), "--hp", "lr=0.50")
    assert result.returncode == 0 and "would remove abc" in result.stdout and "1 run matches" in result.stdout
