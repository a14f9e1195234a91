"""Launching a sweep: in this process, in N local worker processes, or as SLURM jobs through submitit.

Every worker plans the same runs from the same SweepConfig and walks through them, claiming each in the results
store before training it, so workers need no coordinator and a re-launched sweep finishes what is missing.
The plan is also written to <results>/sweeps/, which is how `serbench status` knows what is pending.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from serbench.data.labels import task_target
from serbench.data.synth import SYNTHETIC_EXPLANATION, SYNTHETIC_LABEL
from serbench.errors import SerbenchError
from serbench.files import pid_alive, stable_hash, write_atomic
from serbench.metrics import NEAR_COLLAPSE_SHARE, main_metric
from serbench.runs.display import loading_display, sweep_display
from serbench.runs.plan import RunSpec, Sweep, plan
from serbench.runs.record import RunRecord
from serbench.runs.scores import cycle_rows, degenerate, score_rows
from serbench.runs.settings import SweepConfig
from serbench.runs.store import STALE_CLAIM_SECONDS, UNWRITABLE_STORE, ResultsStore, json_bytes
from serbench.runs.worker import work
from serbench.training import choose_device

LAUNCHERS = ("local", "slurm")
RUN_LABELS = ("method", "protocol", "fold", "task", "seed")  # what `serbench status` shows of a run
STATES = ("done", "failed", "pending", "damaged")
WAIT_SECONDS = 5.0  # how often --wait looks at the store again
# What a full or read-only disk gives a write that names no file (a file object's write, flush or fsync)
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)


def run(methods: str | Sequence[str], protocol: str | Path, *, jobs: int = 1, launcher: str = "local",
        slurm: Mapping | None = None, wait: bool = False, console: Console | None = None,
        **settings: Any) -> pd.DataFrame:
    """Run a sweep from Python (e.g. a notebook) and return its records, one row per run and test corpus.

    `methods`: a name, a list of names or "all". `settings` are the sweep's other settings, named as the fields
    of SweepConfig (serbench/runs/settings.py), which are `serbench run`'s options: tasks, seeds (a count, seeds
    0 .. n-1, or a list), data, results, device, preset, epochs, hp, plugins, skip_bad, cache, fuse, frontend,
    frontend_settings, normalisation, adaptation, selection. Runs already in the store are not run again. The
    frame's attrs count the runs not done (launch).
    """
    config = SweepConfig.create(methods=methods, protocol=protocol, **settings)
    return launch(config, jobs=jobs, launcher=launcher, slurm=slurm, wait=wait,
                  console=console or Console(quiet=True))


def launch(config: SweepConfig, *, jobs: int = 1, launcher: str = "local", slurm: Mapping | None = None,
           wait: bool = False, console: Console) -> pd.DataFrame:
    """Plan the sweep, train what no one has done (this worker's share: others may share the store) and report.
    With `wait` (--wait), runs still claimed by other live workers are waited for, and those their workers left
    (died) are trained. The frame's attrs count the runs not done when it returns, from one look at the store:
    "failed", "pending" (neither done nor failed) and "claimed", the pending ones live workers hold."""
    if launcher not in LAUNCHERS:
        raise SerbenchError(f"unknown launcher {launcher!r}", hint=f"use one of: {', '.join(LAUNCHERS)}")
    if jobs < 1:
        raise SerbenchError(f"--jobs {jobs}: needs at least one worker")
    config.check()  # bad settings, a bad --device or --results fail here, before any work
    choose_device(config.device)
    config = config.absolute()
    ResultsStore(config.results).check_writable()
    with loading_display(console) as loading:
        sweep = plan(config, progress=loading)
    store = ResultsStore(config.results)
    with storing(store):
        save_plan(sweep, store)
    if sweep.synthetic:
        console.print(f"[bold yellow]{SYNTHETIC_LABEL}[/]: {SYNTHETIC_EXPLANATION}")
    refuse_damaged(sweep, store)
    todo = [spec for spec in sweep.runs if not store.is_done(spec.run_id)]
    console.print(f"{plural(len(sweep.runs), 'run')}, {len(sweep.runs) - len(todo)} already in {store.root}, "
                  f"{len(todo)} to run")

    def train(only: list[RunSpec] | None) -> None:
        """Train the sweep's runs no one has done, or only those of `only`."""
        part = sweep if only is None else dataclasses.replace(sweep, runs=only)
        ids = None if only is None else [spec.run_id for spec in only]
        if launcher == "slurm":
            run_slurm(config, jobs, dict(slurm or {}), store, part, console, ids)
        elif jobs == 1:
            run_here(part, store, config.device, console)
        else:
            run_processes(config, jobs, store, part, console, ids)

    with storing(store):
        if todo:
            train(None)
        state = look(store, sweep)
        while wait and state.claimed:
            await_claims(store, state.claimed, console)
            state = look(store, sweep)
            if state.left:  # their workers died without them; failed runs are not tried again in this sweep
                train(state.left)
                state = look(store, sweep)
    # named as their runs were on the console: by the settings --hp chose for each method
    records = [dataclasses.replace(store.record(spec.run_id), method=spec.name) for spec in state.done]
    frame = score_rows(records).drop(columns="confusion")
    frame.attrs.update(failed=len(state.failed), pending=len(state.claimed) + len(state.left),
                       claimed=len(state.claimed))
    console.print(summary_table(cycle_rows(records), sweep.protocol.test_corpora, sweep.synthetic))
    report_outcome(store, state, bool(records), console)
    return frame


def refuse_damaged(sweep: Sweep, store: ResultsStore) -> None:
    """Runs of the sweep stored damaged would count as done, and their scores would be read: a SerbenchError that
    says how to remove them."""
    damaged = [spec for spec in sweep.runs if store.is_done(spec.run_id) and store.damage(spec.run_id)]
    if damaged:
        raise SerbenchError(f"{len(damaged)} runs of this sweep are stored damaged, e.g. {damaged[0].label()}",
                            path=store.runs / damaged[0].run_id,
                            hint=f"`serbench verify --results {store.root}` lists them; `serbench prune --damaged "
                                 f"--results {store.root} --yes` removes them, and the same command then trains "
                                 "them again")


def report_outcome(store: ResultsStore, state: SweepState, stored: bool, console: Console) -> None:
    """After the summary table: where the records are (`stored`: the sweep has some), each failed run, and the
    runs other workers still hold or left unfinished."""
    if stored:
        console.print(f"records in {escape(str(store.root))}; next: `serbench leaderboard --results "
                      f"{escape(str(store.root))}` writes the pages with their significance tests", soft_wrap=True)
    for spec, failure in state.failed:
        console.print(f"[red]failed[/] {escape(spec.label())}: {escape(failure['message'])}  "
                      f"(traceback in {store.failed / (spec.run_id + '.json')})")
    shown = escape(f"`serbench status --results {store.root}`")
    if state.claimed:  # never reported as a finished sweep
        console.print(f"[yellow]{plural(len(state.claimed), 'run')} still claimed by other workers[/], which finish "
                      f"the sweep ({shown} shows them); with --wait, the same command waits for them", soft_wrap=True)
    if state.left:
        console.print(f"[yellow]{plural(len(state.left), 'run')} not finished[/] by the workers that claimed them "
                      f"(they died; {shown} lists them): run the same command again", soft_wrap=True)


@dataclasses.dataclass(frozen=True)
class SweepState:
    """Where each run of a sweep stands in the store, from one look at it (look)."""

    done: list[RunSpec]
    failed: list[tuple[RunSpec, dict]]  # with its failure record
    claimed: list[tuple[RunSpec, dict]]  # held by a live worker (its run in flight), with the claim's owner
    left: list[RunSpec]  # none of these: not started, or left by a worker that died


def look(store: ResultsStore, sweep: Sweep) -> SweepState:
    """Where the sweep's runs stand, every count from one look: the live claims are listed first, and a worker
    stores a run (or records its failure) before releasing its claim, so a run that changes hands meanwhile is
    seen done or failed, never missing from the counts or counted as claimed after it was done."""
    claims = store.live_claims()
    done_ids = store.done_ids()
    state = SweepState([], [], [], [])
    for spec in sweep.runs:
        if spec.run_id in done_ids:
            state.done.append(spec)
        elif spec.run_id in claims:  # in flight (a failed run too, while it is tried again)
            state.claimed.append((spec, claims[spec.run_id]))
        elif (failure := store.failure(spec.run_id)) is not None:
            state.failed.append((spec, failure))
        else:
            state.left.append(spec)
    return state


@contextmanager
def storing(store: ResultsStore) -> Iterator[None]:
    """A write to the store that fails (its filesystem turned read-only or full during the sweep) is a
    SerbenchError naming the file, not a traceback; the runs stored before it are kept."""
    try:
        yield
    except OSError as error:
        if not (Path(error.filename).is_relative_to(store.root) if error.filename else error.errno in DISK_ERRORS):
            raise  # not the store's (a broken pipe to the console, a process that could not start)
        raise SerbenchError(f"cannot write to the results store ({error.strerror or error})",
                            path=error.filename or store.root, hint=UNWRITABLE_STORE) from None


def await_claims(store: ResultsStore, claimed: list[tuple[RunSpec, dict]], console: Console) -> None:
    """--wait: poll the store until no live worker holds any of the runs `claimed`: each is done or failed, or
    its worker died and the claim went stale."""
    owners = sorted({f"{owner.get('host', '?')}:{owner.get('pid', '?')}" for _, owner in claimed})
    labels = ", ".join(spec.label() for spec, _ in claimed[:3]) + (", ..." if len(claimed) > 3 else "")
    console.print(escape(f"waiting for {plural(len(claimed), 'run')} claimed by "
                         f"{'another worker' if len(owners) == 1 else 'other workers'} ({', '.join(owners)}): "
                         f"{labels}, until each is done or failed, or its worker dies (its claim lapses at once on "
                         f"this host, after {STALE_CLAIM_SECONDS // 3600} hours without a heartbeat on another)"),
                  soft_wrap=True)
    runs = [spec for spec, _ in claimed]
    wait_for(store, runs, console, lambda: any(store.is_claimed(spec.run_id) for spec in runs),
             "runs of other workers", every=WAIT_SECONDS)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def save_plan(sweep: Sweep, store: ResultsStore) -> None:
    """Record the sweep's runs, so that `serbench status` can tell what is still pending."""
    runs = [{"run_id": spec.run_id, **run_labels(spec)} for spec in sweep.runs]
    store.root.joinpath("sweeps").mkdir(parents=True, exist_ok=True)
    path = store.root / "sweeps" / f"{stable_hash(sweep.config.to_dict())}.json"
    write_atomic(path, json_bytes({"config": sweep.config.to_dict(), "runs": runs}))


def run_labels(spec: RunSpec) -> dict:
    return dict(zip(RUN_LABELS, (spec.name, spec.protocol.name, spec.fold.name, spec.task, spec.seed), strict=True))


def run_here(sweep: Sweep, store: ResultsStore, device: str, console: Console) -> None:
    with sweep_display(console, sum(not store.is_done(s.run_id) for s in sweep.runs)) as display:
        work(sweep, store, device, display)


def worker(config: dict, device: str, threads: int | None = None, parent: int | None = None,
           only: list[str] | None = None) -> None:
    """One worker process (local or a SLURM job): plan the sweep and work through it (through the runs of ids
    `only`, if given). Ctrl-C ends it quietly (the launching command reports it once); an error the user can act
    on is printed without a traceback. A local worker ends when its launching process `parent` does (killed): its
    run in flight is left as a kill leaves it."""
    if threads is not None:
        torch.set_num_threads(threads)
    if parent is not None:
        threading.Thread(target=exit_with, args=(parent,), daemon=True).start()
    try:
        sweep = plan(SweepConfig.from_dict(config))
        if only is not None:
            sweep = dataclasses.replace(sweep, runs=[spec for spec in sweep.runs if spec.run_id in only])
        store = ResultsStore(sweep.config.results)
        with storing(store):
            work(sweep, store, device)
    except KeyboardInterrupt:
        sys.exit(130)
    except SerbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def exit_with(parent: int, every: float = 2.0) -> None:
    """End this process as soon as process `parent` is gone."""
    while pid_alive(parent):
        time.sleep(every)
    os._exit(143)


def worker_devices(device: str, jobs: int) -> list[str]:
    """Spread the workers over the GPUs when there are several."""
    gpus = torch.cuda.device_count() if device in ("auto", "cuda") else 0
    if gpus > 1:
        return [f"cuda:{i % gpus}" for i in range(jobs)]
    return [device] * jobs


def wait_for(store: ResultsStore, runs: list[RunSpec], console: Console, alive: Callable[[], bool],
             what: str = "runs (all workers)", every: float = 1.0) -> None:
    """Show the runs that workers elsewhere finish, from the store, until `alive` says they are all gone (the
    runs stored before are not counted)."""
    began = time.time()
    pending = {spec.run_id: spec for spec in runs if not store.is_done(spec.run_id)}
    with sweep_display(console, len(pending), what) as display:
        while True:
            running = alive()  # before the last look, so that a run finished as they end is shown
            for run_id, spec in list(pending.items()):
                outcome = run_outcome(store, run_id, began)
                if outcome is not None:
                    display.finished(spec, outcome)
                    del pending[run_id]
            if not running:
                return
            display.tick()
            time.sleep(every)


def run_outcome(store: ResultsStore, run_id: str, since: float) -> RunRecord | str | None:
    """A run's record once stored, its error's message if it failed after `since` (a time.time()); else None."""
    if store.is_done(run_id):
        return store.record(run_id)
    failure = store.failure(run_id)
    return failure["message"] if failure is not None and failure.get("time", since) >= since else None


def run_processes(config: SweepConfig, jobs: int, store: ResultsStore, sweep: Sweep, console: Console,
                  only: list[str] | None = None) -> None:
    """Train `sweep`'s runs in `jobs` worker processes, showing progress from the store; the workers plan the
    whole sweep again and keep the runs of ids `only`, if given."""
    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    jobs = min(jobs, len(sweep.runs))
    threads = max(1, torch.get_num_threads() // jobs)  # CPU workers share the cores instead of fighting for them
    processes = [context.Process(target=worker, args=(config.to_dict(), device, threads, os.getpid(), only))
                 for device in worker_devices(config.device, jobs)]
    for process in processes:
        process.start()
    try:
        wait_for(store, sweep.runs, console, lambda: any(p.is_alive() for p in processes))
    finally:
        for process in processes:
            process.join()
    crashed = [p.exitcode for p in processes if p.exitcode]
    if crashed:
        raise SerbenchError(f"{len(crashed)} worker process(es) died (exit codes {crashed})",
                            hint="re-run the same command: finished runs are kept and the rest is resumed")


def run_slurm(config: SweepConfig, jobs: int, options: dict, store: ResultsStore, sweep: Sweep,
              console: Console, only: list[str] | None = None) -> None:
    """Submit `jobs` SLURM jobs through submitit, each a worker (keeping the runs of ids `only`, if given);
    `options` go to update_parameters (e.g. slurm_partition, timeout_min, gpus_per_node); `cluster="local"` runs
    them as local processes."""
    try:
        import submitit
    except ImportError:
        raise SerbenchError("the slurm launcher needs submitit", hint="pip install 'serbench[slurm]'") from None
    executor = submitit.AutoExecutor(folder=store.root / "slurm" / "%j", cluster=options.pop("cluster", None))
    executor.update_parameters(name="serbench", **options)
    device = config.device
    submitted = [executor.submit(worker, config.to_dict(), device, only=only)
                 for _ in range(min(jobs, len(sweep.runs)))]
    console.print(f"submitted {len(submitted)} job(s): {', '.join(job.job_id for job in submitted)}; "
                  f"logs in {store.root / 'slurm'}")
    wait_for(store, sweep.runs, console, lambda: not all(job.done() for job in submitted))
    for job in submitted:
        if job.state not in ("COMPLETED", "FINISHED", "DONE") and job.exception() is not None:
            raise SerbenchError(f"SLURM job {job.job_id} failed: {job.exception()}",
                                hint=f"see its log under {store.root / 'slurm'}; re-run to resume")


def summary_table(cycles: pd.DataFrame, corpora: tuple[str, ...], synthetic: bool) -> Group:
    """UA (%) per test corpus (a dimensional task's CCC), mean ± std over seeds, one table per task with a row per
    method (variants apart) and the protocol's corpora in its order, narrow enough for 80 columns; each seed's
    score pooled over the protocol's folds (serbench.runs.scores.cycle_rows). `!` marks cells with runs that
    predicted a single class (rating); a cell with fewer seeds than the table says gives its count."""
    complete = cycles[cycles["complete"]]
    notes = [f"{SYNTHETIC_LABEL}: runs on the generated stand-ins"] if synthetic else []
    if degenerate(complete).any():
        notes.append(f"! some runs gave every test utterance of the corpus one class (or at least "
                     f"{NEAR_COLLAPSE_SHARE:.0%} of them)")
    if len(complete) < len(cycles):
        notes.append(f"{len(cycles) - len(complete)} seed(s) without every fold left out")
    shown = [c for c in corpora if c in set(complete["corpus"])]
    tables = []
    for task, rows in complete.groupby("task", sort=True):
        seeds = int(rows.groupby(["method", "corpus"])["seed"].nunique().max())
        metric = main_metric(task_target(str(task)))
        title = f"{task}: {metric.unit}, mean ± std over {seeds} seed{'s' if seeds > 1 else ''}"
        table = Table(title=escape(title), box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("method", overflow="fold")
        for corpus in shown:
            table.add_column(escape(corpus), justify="right", no_wrap=True)
        for method, method_rows in rows.groupby("method", sort=True):
            cells = []
            for corpus in shown:
                cell = method_rows[method_rows["corpus"] == corpus]
                values = metric.shown(cell[metric.name])
                flag = " !" if degenerate(cell).any() else ""
                count = f" ({len(values)})" if len(values) != seeds else ""
                spread = f" ± {values.std(ddof=1):.{metric.digits}f}" if len(values) > 1 else ""
                cells.append(f"{values.mean():.{metric.digits}f}{spread}{count}{flag}" if len(values) else "-")
            table.add_row(escape(str(method)), *cells)
        tables.append(table)
    return Group(*tables, *(Text(note) for note in notes))


def status(results: str | Path) -> dict:
    """Done, failed, pending and damaged runs of every sweep launched on `results`, and the store's files that
    could not be read (`problems`)."""
    store = ResultsStore(results)
    if not store.root.is_dir():
        raise SerbenchError("no results store here" if not store.root.exists() else "not a folder",
                            path=store.root, hint="give --results the folder `serbench run --results` wrote")
    runs: dict[str, dict] = {}
    problems: list[str] = []
    for path in sorted((store.root / "sweeps").glob("*.json")) if (store.root / "sweeps").is_dir() else []:
        try:
            planned = json.loads(path.read_text())["runs"]
            for run in planned:
                runs[run["run_id"]] = {key: run[key] for key in ("run_id", *RUN_LABELS)}
        except (OSError, ValueError, KeyError, TypeError) as error:
            problems.append(f"{path}: not a sweep plan ({type(error).__name__}); delete it, and re-run the "
                            f"sweep to plan it again")
    records, damaged = store.read_all()
    for run_id, damage in damaged.items():
        problems.append(str(damage).replace("\n", " "))
        runs.setdefault(run_id, {"run_id": run_id, **{key: "?" for key in RUN_LABELS}})
    for run_id, record in records.items():
        runs.setdefault(run_id, {"run_id": run_id, **{key: getattr(record, key) for key in RUN_LABELS}})
    listed = []
    def order(item: tuple[str, dict]) -> tuple:
        run = item[1]
        return (*(str(run[key]) for key in RUN_LABELS[:-1]), run["seed"] if isinstance(run["seed"], int) else -1)

    for run_id, run in sorted(runs.items(), key=order):
        state = ("damaged" if run_id in damaged else "done" if store.is_done(run_id)
                 else "failed" if store.failure(run_id) is not None else "pending")
        listed.append({**run, "state": state, "running": store.is_claimed(run_id)})
    counts = {state: sum(run["state"] == state for run in listed) for state in STATES}
    return {**counts, "runs": listed, "problems": problems}
