"""Launching a sweep: in this process, in N local worker processes, or as SLURM jobs through submitit.

Every worker plans the same runs from the same SweepConfig and walks through them, claiming each in the results
store before training it, so workers need no coordinator and a re-launched sweep finishes what is missing.
The plan is also written to <results>/sweeps/, which is how `serbench status` knows what is pending.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from serbench.errors import SerbenchError
from serbench.files import stable_hash, write_atomic
from serbench.runner import RunSpec, Sweep, SweepConfig, check_fuse, plan, work
from serbench.store import ResultsStore, cycle_rows, json_bytes, score_rows
from serbench.synth import SYNTHETIC_EXPLANATION, SYNTHETIC_LABEL
from serbench.training import choose_device

LAUNCHERS = ("local", "slurm")


def run(methods: str | list[str], protocol: str, *, tasks: list[str] | None = None, seeds: int | list[int] = 5,
        data: str | None = None, results: str | Path = "results", jobs: int = 1, launcher: str = "local",
        device: str = "auto", preset: str | None = None, epochs: int | None = None,
        hp: Mapping[str, str] | None = None, plugins: list[str] | None = None, skip_bad: bool = False,
        cache: str | None = None, fuse: int = 1, frontend: str | None = None,
        frontend_settings: Mapping[str, str] | None = None, slurm: Mapping | None = None,
        console: Console | None = None) -> pd.DataFrame:
    """Run a sweep from Python (e.g. a notebook) and return its records, one row per run and test corpus.

    `methods`: a name, a list of names or "all"; `seeds`: a count (seeds 0 .. n-1) or a list. The other
    arguments are those of `serbench run`. Runs already in the store are not run again.
    """
    config = SweepConfig(
        methods=(methods,) if isinstance(methods, str) else tuple(methods), protocol=str(protocol),
        tasks=tuple(tasks or ()), seeds=tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds),
        data=None if data is None else str(data), results=str(results), device=device, preset=preset,
        epochs=epochs, hp=dict(hp or {}), plugins=tuple(str(p) for p in plugins or ()), skip_bad=skip_bad,
        cache=None if cache is None else str(cache), fuse=fuse, frontend=frontend,
        frontend_settings=dict(frontend_settings or {}))
    return launch(config, jobs=jobs, launcher=launcher, slurm=slurm, console=console or Console(quiet=True))


def launch(config: SweepConfig, *, jobs: int = 1, launcher: str = "local", slurm: Mapping | None = None,
           console: Console) -> pd.DataFrame:
    if launcher not in LAUNCHERS:
        raise SerbenchError(f"unknown launcher {launcher!r}", hint=f"use one of: {', '.join(LAUNCHERS)}")
    if jobs < 1:
        raise SerbenchError(f"--jobs {jobs}: needs at least one worker")
    check_fuse(config.fuse)  # a bad --fuse or --device fails here, before any work
    choose_device(config.device)
    config = config.absolute()
    with console.status("loading data") as status:
        sweep = plan(config, progress=lambda what: status.update(what))
    store = ResultsStore(config.results)
    save_plan(sweep, store)
    if sweep.synthetic:
        console.print(f"[bold yellow]{SYNTHETIC_LABEL}[/]: {SYNTHETIC_EXPLANATION}")
    todo = [spec for spec in sweep.runs if not store.is_done(spec.run_id)]
    console.print(f"{len(sweep.runs)} runs, {len(sweep.runs) - len(todo)} already in {store.root}, "
                  f"{len(todo)} to run")
    if todo:
        if launcher == "slurm":
            run_slurm(config, jobs, dict(slurm or {}), store, sweep, console)
        elif jobs == 1:
            run_here(sweep, store, config.device, console)
        else:
            run_processes(config, jobs, store, sweep, console)
    records = [store.record(spec.run_id) for spec in sweep.runs if store.is_done(spec.run_id)]
    frame = score_rows(records).drop(columns="confusion")
    failed = [spec for spec in sweep.runs if store.failure(spec.run_id) is not None and not store.is_done(spec.run_id)]
    frame.attrs["failed"] = len(failed)
    console.print(summary_table(cycle_rows(records), sweep.protocol.test_corpora, sweep.synthetic))
    for spec in failed:
        console.print(f"[red]failed[/] {escape(spec.label())}: "
                      f"{escape(store.failure(spec.run_id)['error'].strip().splitlines()[-1])}  "
                      f"(traceback in {store.failed / (spec.run_id + '.json')})")
    return frame


def save_plan(sweep: Sweep, store: ResultsStore) -> None:
    """Record the sweep's runs, so that `serbench status` can tell what is still pending."""
    runs = [{"run_id": spec.run_id, **run_labels(spec)} for spec in sweep.runs]
    store.root.joinpath("sweeps").mkdir(parents=True, exist_ok=True)
    path = store.root / "sweeps" / f"{stable_hash(sweep.config.to_dict())}.json"
    write_atomic(path, json_bytes({"config": sweep.config.to_dict(), "runs": runs}))


def run_labels(spec: RunSpec) -> dict:
    return {"method": spec.method, "protocol": spec.protocol.name, "fold": spec.fold.name, "task": spec.task,
            "seed": spec.seed}


def progress_display(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn(), console=console, transient=True)


def run_here(sweep: Sweep, store: ResultsStore, device: str, console: Console) -> None:
    with progress_display(console) as progress:
        overall = progress.add_task("runs", total=sum(not store.is_done(s.run_id) for s in sweep.runs))
        current = progress.add_task("", total=None, visible=False)

        def on_start(specs: list[RunSpec]) -> None:
            together = f" + {len(specs) - 1} fused" if len(specs) > 1 else ""
            progress.reset(current, total=specs[0].hparams.get("epochs"), visible=True,
                           description=f"{escape(specs[0].label())}{together}: epoch 0")

        def on_done(spec: RunSpec, outcome: str) -> None:
            progress.advance(overall)
            progress.update(current, visible=False)
            if outcome == "failed":
                console.print(f"[red]failed[/] {escape(spec.label())} (traceback in the results store)")

        def on_epoch(epoch: int, epochs: int, losses: dict[str, float]) -> None:
            description = progress.tasks[current].description.split(": epoch")[0]
            progress.update(current, completed=epoch + 1, total=epochs,
                            description=f"{description}: epoch {epoch + 1}/{epochs} loss {losses.get('total', 0):.3f}")

        work(sweep, store, device, on_start=on_start, on_done=on_done, on_epoch=on_epoch)


def worker(config: dict, device: str, threads: int | None = None) -> None:
    """One worker process (local or a SLURM job): plan the sweep and work through it."""
    if threads is not None:
        torch.set_num_threads(threads)
    sweep = plan(SweepConfig.from_dict(config))
    work(sweep, ResultsStore(sweep.config.results), device)


def worker_devices(device: str, jobs: int) -> list[str]:
    """Spread the workers over the GPUs when there are several."""
    gpus = torch.cuda.device_count() if device in ("auto", "cuda") else 0
    if gpus > 1:
        return [f"cuda:{i % gpus}" for i in range(jobs)]
    return [device] * jobs


def wait_for(store: ResultsStore, sweep: Sweep, console: Console, alive) -> None:
    """Show overall progress from the store while workers run elsewhere; return when they are all gone."""
    ids = [spec.run_id for spec in sweep.runs]
    with progress_display(console) as progress:
        overall = progress.add_task("runs (all workers)", total=len(ids))
        while True:
            finished = sum(store.is_done(i) or store.failure(i) is not None for i in ids)
            progress.update(overall, completed=finished)
            if not alive():
                return
            time.sleep(1.0)


def run_processes(config: SweepConfig, jobs: int, store: ResultsStore, sweep: Sweep, console: Console) -> None:
    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    threads = max(1, torch.get_num_threads() // jobs)  # CPU workers share the cores instead of fighting for them
    processes = [context.Process(target=worker, args=(config.to_dict(), device, threads))
                 for device in worker_devices(config.device, jobs)]
    for process in processes:
        process.start()
    try:
        wait_for(store, sweep, console, lambda: any(p.is_alive() for p in processes))
    finally:
        for process in processes:
            process.join()
    crashed = [p.exitcode for p in processes if p.exitcode]
    if crashed:
        raise SerbenchError(f"{len(crashed)} worker process(es) died (exit codes {crashed})",
                            hint="re-run the same command: finished runs are kept and the rest is resumed")


def run_slurm(config: SweepConfig, jobs: int, options: dict, store: ResultsStore, sweep: Sweep,
              console: Console) -> None:
    """Submit `jobs` SLURM jobs through submitit, each a worker; `options` go to update_parameters
    (e.g. slurm_partition, timeout_min, gpus_per_node); `cluster="local"` runs them as local processes."""
    try:
        import submitit
    except ImportError:
        raise SerbenchError("the slurm launcher needs submitit", hint="pip install 'serbench[slurm]'") from None
    executor = submitit.AutoExecutor(folder=store.root / "slurm" / "%j", cluster=options.pop("cluster", None))
    executor.update_parameters(name="serbench", **options)
    device = config.device
    submitted = [executor.submit(worker, config.to_dict(), device) for _ in range(jobs)]
    console.print(f"submitted {len(submitted)} job(s): {', '.join(job.job_id for job in submitted)}; "
                  f"logs in {store.root / 'slurm'}")
    wait_for(store, sweep, console, lambda: not all(job.done() for job in submitted))
    for job in submitted:
        if job.state not in ("COMPLETED", "FINISHED", "DONE") and job.exception() is not None:
            raise SerbenchError(f"SLURM job {job.job_id} failed: {job.exception()}",
                                hint=f"see its log under {store.root / 'slurm'}; re-run to resume")


def summary_table(cycles: pd.DataFrame, corpora: tuple[str, ...], synthetic: bool) -> Table:
    """UA (%) per test corpus, mean +- std over seeds (n), one row per task and method; each seed's UA pooled over
    the protocol's folds (store.cycle_rows). `!` marks cells with runs that predicted a single class."""
    title = "UA (%) per test corpus: mean +- std over seeds (n)" + (f"  [{SYNTHETIC_LABEL}]" if synthetic else "")
    complete = cycles[cycles["complete"]]
    notes = []
    if complete["collapsed"].any():
        notes.append("! some runs gave every test utterance of the corpus one class")
    if len(complete) < len(cycles):
        notes.append(f"{len(cycles) - len(complete)} seed(s) without every fold left out")
    table = Table(title=title, caption="; ".join(notes) or None)
    shown = [c for c in corpora if c in set(complete["corpus"])]
    for column in ["task", "method", *shown]:
        table.add_column(escape(column), justify="right" if column in shown else "left")
    for (task, method), rows in complete.groupby(["task", "method"], sort=True):
        cells = []
        for corpus in shown:
            cell = rows[rows["corpus"] == corpus]
            ua = 100 * cell["ua"]
            spread = f" +- {ua.std(ddof=1):.1f}" if len(ua) > 1 else ""
            flag = " !" if cell["collapsed"].any() else ""
            cells.append(f"{ua.mean():.1f}{spread} ({len(ua)}){flag}" if len(ua) else "-")
        table.add_row(escape(str(task)), escape(str(method)), *cells)
    return table


def status(results: str | Path) -> dict:
    """Done, failed and pending runs of every sweep launched on `results`."""
    store = ResultsStore(results)
    runs: dict[str, dict] = {}
    for path in sorted((store.root / "sweeps").glob("*.json")) if (store.root / "sweeps").is_dir() else []:
        for run in json.loads(path.read_text())["runs"]:
            runs[run["run_id"]] = run
    for run_id in store.done_ids() - set(runs):  # runs of sweeps whose plan was removed
        record = store.record(run_id)
        runs[run_id] = {"run_id": run_id, **{k: getattr(record, k) for k in ("method", "protocol", "fold", "task",
                                                                               "seed")}}
    listed = []
    order = ("method", "protocol", "fold", "task", "seed")
    for run_id, run in sorted(runs.items(), key=lambda item: tuple(item[1][key] for key in order)):
        state = "done" if store.is_done(run_id) else "failed" if store.failure(run_id) is not None else "pending"
        listed.append({**run, "state": state, "running": store.is_claimed(run_id)})
    counts = {state: sum(run["state"] == state for run in listed) for state in ("done", "failed", "pending")}
    return {**counts, "runs": listed}
