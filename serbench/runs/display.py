"""What a sweep shows while it runs: bars on an interactive terminal; elsewhere (nohup, SLURM, `| tee`) plain
lines a log keeps: one per finished run, and while a run trains at most one per HEARTBEAT_SECONDS saying where it
is. Both hear the worker loop's events (serbench.runs.worker.RunEvents) and the runs other workers finish."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from serbench.data.labels import task_target
from serbench.metrics import main_metric
from serbench.runs.plan import LoadProgress, RunSpec
from serbench.runs.record import RunRecord
from serbench.runs.worker import RunEvents

HEARTBEAT_SECONDS = 60.0  # in a log, the longest a training run goes without a line


def time_left(elapsed: float, done: float, total: float) -> float | None:
    """The time left at the pace so far (None before anything is done)."""
    return elapsed * (total - done) / done if done > 0 else None


def duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `2 h 03 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def scores_text(spec: RunSpec, record: RunRecord) -> str:
    """A run's main score per test corpus, in the protocol's order: `UA msp-improv 52.3%, savee 48.1%` (a
    dimensional task's `CCC msp-improv 0.412`)."""
    corpora = [c for c in spec.protocol.test_corpora if c in record.scores]
    metric = main_metric(task_target(record.task))
    unit = "%" if metric.percent else ""
    return f"{metric.title} " + ", ".join(
        f"{corpus} {metric.shown(getattr(record.scores[corpus], metric.name)):.{metric.digits}f}{unit}"
        for corpus in corpora)


def group_label(specs: list[RunSpec]) -> str:
    """The first run's label, and how many train with it."""
    return specs[0].label() + (f" + {len(specs) - 1} fused" if len(specs) > 1 else "")


class SweepDisplay(RunEvents):
    """A sweep's display: the worker loop's events, and `tick`, which a launcher waiting for other workers calls
    now and then."""

    def tick(self) -> None:
        """Nothing happened for a while: a log says so at most once per HEARTBEAT_SECONDS."""


class TimeLeft(ProgressColumn):
    """The time left at the task's pace since it started (rich's own estimate looks at the last 30 seconds only,
    in which a sweep of long runs finishes none), by its field `progress` where it has one (the sweep's: runs
    done and the current run's share of its epochs), else by the steps completed."""

    def render(self, task: Task) -> Text:
        done = task.fields.get("progress", task.completed)
        left = time_left(task.elapsed or 0.0, done, task.total) if task.total is not None else None
        return Text(f"left {'-:--:--' if left is None else timedelta(seconds=int(left))}",
                    style="progress.remaining")


class Bars(SweepDisplay):
    """On a terminal: the sweep's bar (runs done, the time left at its pace so far, counting the current run's
    epochs), and the current run's (its epochs and loss, then scoring and probing)."""

    def __init__(self, progress: Progress, total: int, what: str) -> None:
        self.progress = progress
        self.sweep = progress.add_task(what, total=total, progress=0)
        self.run: TaskID = progress.add_task("", total=None, visible=False)
        self.done = 0
        self.label = ""
        self.epochs: int | None = None

    def started(self, specs: list[RunSpec]) -> None:
        self.label, self.epochs = escape(group_label(specs)), specs[0].hparams.get("epochs")
        self.progress.reset(self.run, total=self.epochs, visible=True, description=f"{self.label}: epoch 0")

    def finished(self, spec: RunSpec, outcome: RunRecord | str) -> None:
        self.done += 1
        self.progress.update(self.sweep, completed=self.done, progress=self.done)
        self.progress.update(self.run, visible=False)
        if isinstance(outcome, str):
            self.progress.console.print(f"[red]failed[/] {escape(spec.label())}: {escape(outcome)}", soft_wrap=True)

    def epoch(self, epoch: int, epochs: int, losses: dict[str, float]) -> None:
        self.epochs = epochs
        self.progress.update(self.run, total=epochs,
                             description=f"{self.label}: epoch {epoch + 1}/{epochs} loss {losses.get('total', 0):.3f}")
        self.step(epoch + 1)

    def step(self, epochs_done: float) -> None:
        self.progress.update(self.run, completed=epochs_done)
        if self.epochs:
            self.progress.update(self.sweep, progress=self.done + min(epochs_done / self.epochs, 1.0))

    def stage(self, spec: RunSpec, stage: str) -> None:
        self.progress.update(self.run, visible=True, description=f"{escape(spec.label())}: {stage}")


class Lines(SweepDisplay):
    """In a log: `[3/12, about 20 min left] done LABEL: UA ... in 1 min 04 s` per run (`failed LABEL: message`
    for a failed one), and while a run trains, at most once per HEARTBEAT_SECONDS, `... LABEL: epoch 4/30, 5 min
    10 s so far`. Nothing but text: no bars, no control characters."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.done = 0
        self.began = self.last = self.run_began = time.monotonic()
        self.label = ""  # the run in training, or "" when this process trains none
        self.where = ""
        self.epochs = 0

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
        self.last = time.monotonic()

    def started(self, specs: list[RunSpec]) -> None:
        self.label, self.where = group_label(specs), "preparing"
        self.epochs = specs[0].hparams.get("epochs", 0)
        self.run_began = time.monotonic()

    def finished(self, spec: RunSpec, outcome: RunRecord | str) -> None:
        self.done += 1
        left = time_left(time.monotonic() - self.began, self.done, self.total)
        count = f"[{self.done}/{self.total}{'' if not left else f', about {duration(left)} left'}]"
        if isinstance(outcome, str):
            self.say(f"{count} failed {spec.label()}: {' '.join(outcome.split())}")
        else:
            self.say(f"{count} done {spec.label()}: {scores_text(spec, outcome)} in "
                     f"{duration(outcome.provenance['seconds']['total'])}")

    def epoch(self, epoch: int, epochs: int, losses: dict[str, float]) -> None:
        self.epochs = epochs
        self.step(epoch + 1)

    def step(self, epochs_done: float) -> None:
        self.where = f"epoch {min(int(epochs_done) + 1, self.epochs)}/{self.epochs}"
        self.tick()

    def stage(self, spec: RunSpec, stage: str) -> None:
        self.label, self.where = spec.label(), stage
        self.tick()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.last < HEARTBEAT_SECONDS:
            return
        if self.label:
            self.say(f"... {self.label}: {self.where}, {duration(now - self.run_began)} so far")
        else:
            self.say(f"... {self.done}/{self.total} runs finished, {duration(now - self.began)} since the start")


def progress_display(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeLeft(), console=console, transient=True)


@contextmanager
def sweep_display(console: Console, total: int, what: str = "runs") -> Iterator[SweepDisplay]:
    """Bars on an interactive terminal, lines elsewhere (a file, a pipe, SLURM's output, a dumb terminal)."""
    if console.is_interactive:
        with progress_display(console) as progress:
            yield Bars(progress, total, what)
    else:
        yield Lines(console, total)


class LoadingLines:
    """In a log, what loading the sweep's data does: a line as each step starts (generating, reading, features
    of each corpus), and at most one per HEARTBEAT_SECONDS with how far it is."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.what = ""
        self.last = time.monotonic()

    def __call__(self, what: str, done: float, total: float | None) -> None:
        now = time.monotonic()
        if what == self.what and now - self.last < HEARTBEAT_SECONDS:
            return
        counted = f": {done:,.0f} of {total:,.0f}" if total and what == self.what else ""
        self.console.print(f"loading: {what}{counted}", markup=False, highlight=False, emoji=False, soft_wrap=True)
        self.what, self.last = what, now


@contextmanager
def loading_display(console: Console) -> Iterator[LoadProgress]:
    """The bar shown while the sweep's data is generated, read and turned into features; lines in a log."""
    if not console.is_interactive:
        yield LoadingLines(console)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as display:
        task = display.add_task("loading data", total=None)
        yield lambda what, done, total: display.update(task, description=escape(what), completed=done, total=total)
