"""What a sweep shows while it runs: in a log (stdout not a terminal) a plain line per finished run, from this
process or from its worker processes, and a heartbeat while a run trains; on a terminal, bars whose run bar names
the stages after training and whose sweep bar estimates the time left."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from serbench.cli import main
from serbench.protocols.protocol import Fold, load_protocol
from serbench.runs import display
from serbench.runs.display import Bars, Lines, progress_display
from serbench.runs.plan import RunSpec, method_hparams, sweep_frontend
from serbench.runs.settings import SweepConfig
from serbench.runs.store import ResultsStore

pytestmark = pytest.mark.usefixtures("method_registry")

# Fitted in one call on eGeMAPS vectors: seconds per run
QUICK = ["--method", "egemaps_lr", "--protocol", "cross", "--task", "arousal", "--frontend", "egemaps", "--device",
         "cpu", "--seed", "0", "--seed", "1"]
BROKEN = '''
from serbench.method import register_method
from serbench.methods.egemaps import EgemapsLR


@register_method("broken_lr")
class BrokenLR(EgemapsLR):
    def fit_all(self, train, validation):
        raise RuntimeError("boom in fit_all")
'''
DONE = re.compile(r"\[(\d)/4\] done (\S+) cross arousal seed (\d): UA msp-improv (\S+)%, savee (\S+)%, emodb (\S+)% "
                  r"in (?:\d+ s|\d+ min \d\d s|\d+ h \d\d min)")  # display.duration: a loaded machine's minutes too


@pytest.fixture(autouse=True)
def no_forced_terminal(monkeypatch):
    """Whatever the environment says, stdout captured by pytest is not a terminal."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


def plain(text: str) -> bool:
    """Nothing but printable characters and line ends: no escape sequences, no carriage returns."""
    return all(c == "\n" or c.isprintable() for c in text)


def test_a_sweep_in_a_log_prints_a_line_per_run_and_its_stages(tiny_releases, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(display, "HEARTBEAT_SECONDS", 0.0)  # every event of a run is a heartbeat line
    plugin = tmp_path / "broken.py"
    plugin.write_text(BROKEN)
    # A cache of its own: the session's may hold these features already, and then nothing is loaded to be shown
    assert main(["run", *QUICK, "--method", "broken_lr", "--plugin", str(plugin), "--data", str(tiny_releases),
                 "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]) == 1
    out = capsys.readouterr().out
    assert plain(out)
    assert "[1/4, about " in out  # the time left, at the pace so far
    lines = re.sub(r", about [^\]]+ left", "", out).splitlines()
    done = [match for line in lines if (match := DONE.fullmatch(line))]
    assert [(m[1], m[2], m[3]) for m in done] == [("1", "egemaps_lr", "0"), ("2", "egemaps_lr", "1")]
    store = ResultsStore(tmp_path / "results")
    for match in done:  # the scores stored
        record = next(r for r in store.records() if r.seed == int(match[3]))
        shown = [f"{100 * record.scores[c].ua:.1f}" for c in ("msp-improv", "savee", "emodb")]
        assert shown == list(match.groups()[3:])
    assert [line for line in lines if " failed " in line][:2] == [
        "[3/4] failed broken_lr cross arousal seed 0: RuntimeError: boom in fit_all",
        "[4/4] failed broken_lr cross arousal seed 1: RuntimeError: boom in fit_all"]
    for stage in ("scoring", "probing"):  # told by finish as they start
        assert re.search(rf"^\.\.\. egemaps_lr cross arousal seed 1: {stage}, \d+ s so far$", out, re.MULTILINE)
    assert "loading: egemaps features (s of audio) of emodb" in out


def test_the_runs_of_worker_processes_are_logged_by_the_launching_command(tiny_releases, tmp_path, capsys):
    assert main(["run", *QUICK, "--jobs", "2", "--data", str(tiny_releases), "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert plain(out)
    lines = [line for line in out.splitlines() if " done egemaps_lr cross arousal seed " in line]
    assert sorted(line.split(" seed ")[1][0] for line in lines) == ["0", "1"]
    assert [line.split("]")[0].split(",")[0] for line in lines] == ["[1/2", "[2/2"]


@pytest.fixture
def spec() -> RunSpec:
    """A run of baseline_s for 3 epochs, without its data (only its label and hyperparameters are shown)."""
    config = SweepConfig(methods=("baseline_s",), protocol="cross", epochs=3)
    protocol = load_protocol("cross")
    return RunSpec("baseline_s", method_hparams(["baseline_s"], config)["baseline_s"][0], protocol,
                   Fold("", protocol.train, protocol.test), "arousal", 0, {}, sweep_frontend(config, protocol), "c")


def test_a_log_hears_of_a_training_run_at_most_once_per_heartbeat(spec, monkeypatch):
    out = io.StringIO()
    lines = Lines(Console(file=out), total=2)
    lines.started([spec])
    for step in range(30):
        lines.step(step / 10)
    lines.stage(spec, "scoring")
    assert out.getvalue() == ""  # within the minute
    monkeypatch.setattr(display, "HEARTBEAT_SECONDS", 0.0)
    lines.step(1.5)
    lines.epoch(1, 3, {"total": 0.5})
    lines.stage(spec, "probing")
    lines.finished(spec, "a message\n  what to do: something")
    assert re.sub(r", about [^\]]+ left", "", out.getvalue()).splitlines() == [
        "... baseline_s cross arousal seed 0: epoch 2/3, 0 s so far",
        "... baseline_s cross arousal seed 0: epoch 3/3, 0 s so far",
        "... baseline_s cross arousal seed 0: probing, 0 s so far",
        "[1/2] failed baseline_s cross arousal seed 0: a message what to do: something"]
    waiting = io.StringIO()
    Lines(Console(file=waiting), total=3).tick()  # no run here: workers elsewhere train them
    assert waiting.getvalue() == "... 0/3 runs finished, 0 s since the start\n"


def test_a_terminals_run_bar_names_the_stages_and_the_sweep_bar_counts_epochs_towards_the_time_left(spec):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=200)
    with progress_display(console) as progress:
        bars = Bars(progress, total=4, what="runs")
        bars.started([spec, spec])
        assert progress.tasks[bars.run].description == "baseline_s cross arousal seed 0 + 1 fused: epoch 0"
        bars.epoch(0, 3, {"total": 0.25})
        assert progress.tasks[bars.run].description == "baseline_s cross arousal seed 0 + 1 fused: epoch 1/3 loss 0.250"
        bars.step(1.5)
        sweep = progress.tasks[bars.sweep]
        assert (sweep.completed, sweep.fields["progress"]) == (0, 0.5)  # no run done, half a run's epochs
        bars.stage(spec, "scoring")
        assert progress.tasks[bars.run].description == "baseline_s cross arousal seed 0: scoring"
        bars.finished(spec, "boom")
        assert (sweep.completed, sweep.fields["progress"]) == (1, 1)
        left = display.TimeLeft().render(sweep).plain
        assert re.fullmatch(r"left \d+:\d\d:\d\d", left)
    assert "failed baseline_s cross arousal seed 0: boom" in out.getvalue()
