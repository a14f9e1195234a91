"""The worker loop: every run of a planned sweep that is not stored yet, claimed in the store, trained alone or
fused with its kind, and stored; a failed run is recorded and the sweep goes on."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial

from serbench.errors import SerbenchError
from serbench.method import (
    build_method,
    get_method,
)
from serbench.runs.plan import (
    CorpusData,
    RunSpec,
    Sweep,
)
from serbench.runs.prepare import (
    PreparedRun,
    finish,
    prepare,
)
from serbench.runs.record import RunRecord
from serbench.runs.store import ResultsStore
from serbench.training import (
    BestValidation,
    EpochOracle,
    EpochSelection,
    choose_device,
    fit,
    held_out_epoch,
)

# What a run may raise and still end as a failed run while the sweep goes on: any error, and a plugin's sys.exit.
# KeyboardInterrupt ends the sweep (finished runs are kept; the same command resumes).
RUN_ERRORS = (Exception, SystemExit)


def fusion_groups(runs: Sequence[RunSpec], width: int) -> list[list[RunSpec]]:
    """The runs in groups that train together (same fold and task, equal Method.fusion_key, at most `width`
    each), in the order of their first run; a run that cannot be fused is a group of its own."""
    groups: list[list[RunSpec]] = []
    open_groups: dict[tuple, list[RunSpec]] = {}
    for spec in runs:
        cls = get_method(spec.method).cls
        key = cls.fusion_key(spec.hparams, adaptation=spec.protocol.adaptation != "none") if width > 1 else None
        slot = (spec.fold.name, spec.task, cls.fit_fused, key)  # one trainer per group
        group = open_groups.get(slot) if key is not None else None
        if group is None or len(group) == width:
            group = []
            groups.append(group)
            if key is not None:
                open_groups[slot] = group
        group.append(spec)
    return groups


class RunEvents:
    """What the worker loop tells as it goes, to whoever shows it (serbench.runs.display: bars on a terminal, lines
    in a log). These do nothing: a display overrides what it shows."""

    def started(self, specs: list[RunSpec]) -> None:
        """A group of runs starts: one run, or several trained together (fused)."""

    def finished(self, spec: RunSpec, outcome: RunRecord | str) -> None:
        """A run ended: stored (its record), or failed (its error's message, as its failure record keeps it)."""

    def epoch(self, epoch: int, epochs: int, losses: dict[str, float]) -> None:
        """The group's first run finished epoch `epoch` (from 0) of `epochs`, with these mean losses."""

    def step(self, epochs_done: float) -> None:
        """The group's first run is this far through its epochs (within an epoch too)."""

    def stage(self, spec: RunSpec, stage: str) -> None:
        """A trained run starts a stage after training ("scoring", "probing": minutes on a large test part)."""


def work(sweep: Sweep, store: ResultsStore, device: str = "auto", events: RunEvents | None = None) -> None:
    """Run every run of `sweep` that no one has finished or is running: claim, train (alone, or fused with
    others up to --fuse where the method can: Method.fusion_key), store. A run that raises is recorded as
    failed, with its traceback, and the sweep goes on. `events` hears each group start, each run's stages and end,
    and the epochs of a group's first run."""
    events = events or RunEvents()
    store.clean()
    for group in fusion_groups(sweep.runs, sweep.config.fuse):
        with ExitStack() as claims:
            mine = []
            for spec in group:
                if not store.is_done(spec.run_id) and claims.enter_context(store.claim(spec.run_id)) \
                        and not store.is_done(spec.run_id):
                    mine.append(spec)
            if not mine:
                continue
            events.started(mine)
            train_group(mine, sweep.corpora, store, device, events)


def train_group(specs: list[RunSpec], corpora: Mapping[str, CorpusData], store: ResultsStore, device: str,
                events: RunEvents) -> None:
    """Prepare, train and store claimed runs: fused where there are several (each with at least one full batch
    of training segments), alone otherwise. Every run ends stored or recorded as failed."""
    group = GroupTraining(specs, store, device, events)
    prepared = []
    for spec in specs:
        try:
            prepared.append(prepare(spec, corpora))
        except RUN_ERRORS:
            group.failed(spec)
    fused = [run for run in prepared if can_fuse(run)] if len(prepared) > 1 else []
    fused = fused if len(fused) > 1 else []
    for run in prepared:
        if run not in fused:
            group.train_alone(run, shown=run is prepared[0])
    if fused:
        group.train_fused(fused)


@dataclass
class GroupTraining:
    """What the runs of one claimed group share while they train: the store they end in (stored, or recorded as
    failed), their claims' heartbeat, and the events they tell (epochs follow the group's first run)."""

    specs: list[RunSpec]
    store: ResultsStore
    device: str
    events: RunEvents

    def failed(self, spec: RunSpec) -> None:
        """Record the exception being handled as the run's failure."""
        error = sys.exc_info()[1]
        message = (str(error) if isinstance(error, SerbenchError) else
                   f"the method called sys.exit({error.code!r})" if isinstance(error, SystemExit) else
                   f"{type(error).__name__}: {error}")
        self.store.write_failure(spec.run_id, {**spec.identity(), "label": spec.label()}, traceback.format_exc(),
                                 message)
        self.events.finished(spec, message)

    def epoch_done(self, shown: bool, epochs: int, epoch: int, losses: dict[str, float]) -> None:
        for spec in self.specs:  # claims on other hosts go stale without a heartbeat
            self.store.heartbeat(spec.run_id)
        if shown:
            self.events.epoch(epoch, epochs, losses)

    def train_alone(self, run: PreparedRun, shown: bool) -> None:
        epochs, protocol = run.method.hp.get("epochs", 1), run.spec.protocol
        oracle = EpochOracle(run.test_set, run.test["corpus"].to_numpy()) if protocol.oracle else None
        started = time.time()
        try:
            curves = fit(run.method, run.train_set, adaptation=run.adaptation_set, seed=run.spec.seed,
                         device=self.device, validation=run.validation_set, selection=self.selection(run),
                         oracle=oracle, on_step=self.events.step if shown else None,
                         on_epoch=partial(self.epoch_done, shown, epochs))
        except RUN_ERRORS:
            self.failed(run.spec)
            return
        if oracle is not None and oracle.best:  # a method fitted in one call has no epochs to choose from
            run.method.selection = {**run.method.selection, "oracle": oracle.best}
        self.store_run(run, curves, time.time() - started, 1)

    def selection(self, run: PreparedRun) -> EpochSelection | None:
        """The protocol's model selection for the run (None: its last epoch); leave-one-corpus-out trains the
        held-out models here, and one-call methods choose by their own rule."""
        spec = run.spec
        if spec.protocol.selection == "best-validation":
            return BestValidation(spec.protocol.patience)
        if run.held_out and run.method.trains_in_steps():
            build = partial(build_method, spec.method, run.method.task, spec.hparams, seed=spec.seed)
            return held_out_epoch(build, run.held_out, adaptation=run.adaptation_set, seed=spec.seed,
                                  device=self.device,
                                  on_epoch=partial(self.epoch_done, False, run.method.hp.get("epochs", 1)))
        return None

    def train_fused(self, runs: list[PreparedRun]) -> None:
        started = time.time()
        try:
            histories = type(runs[0].method).fit_fused(
                [run.method for run in runs], [run.train_set for run in runs], [run.spec.seed for run in runs],
                adaptation=[run.adaptation_set for run in runs], device=choose_device(self.device),
                on_epoch=lambda r, epoch, losses: self.epoch_done(r == 0, runs[r].method.hp["epochs"], epoch,
                                                                  losses))
        except RUN_ERRORS:
            for run in runs:
                self.failed(run.spec)
            return
        seconds = time.time() - started
        for run, curves in zip(runs, histories, strict=True):
            self.store_run(run, curves, seconds, len(runs))

    def store_run(self, run: PreparedRun, curves: list[dict[str, float]], seconds: float, fused: int) -> None:
        try:
            record, tables = finish(run, curves, seconds, self.device, fused,
                                    on_stage=partial(self.events.stage, run.spec))
        except RUN_ERRORS:
            self.failed(run.spec)
        else:
            self.store.write_run(run.spec.run_id, record, tables)
            self.events.finished(run.spec, record)


def can_fuse(run: PreparedRun) -> bool:
    """Fused replicas step in lockstep on full batches: a run with less than one full batch of training segments
    (or of adaptation audio, where its method reads it), with a validation part, held-out training corpora to
    choose its epoch on, or under a test oracle trains alone: the fused trainer neither stops replicas one by one
    nor looks at them between epochs."""
    batch_size = run.method.hp["batch_size"]
    pool = run.adaptation_set if run.method.uses_adaptation else None
    return (len(run.train_set) >= batch_size and (pool is None or len(pool) >= batch_size)
            and run.validation_set is None and not run.held_out and not run.spec.protocol.oracle)
