"""`serbench run` and `serbench status`: sweeps of methods x protocol x tasks x seeds, and where they stand.

`serbench run` exits with 0 when every run of the sweep is done in the store (by this worker or others), 1 when a
run failed or was left unfinished by a worker that died, 2 on an error before or outside the runs (SerbenchError),
and EXIT_CLAIMED when nothing failed but other live workers still hold runs of the sweep (docs/running.md).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serbench.cli import COMMANDS
from serbench.cli.methods import add_hp_option, add_plugin_option
from serbench.data.labels import TASKS

EXIT_CLAIMED = 3  # this worker's share is done, other workers still train the rest: not a failure


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help=COMMANDS["run"][1],
                              description="Expand the grid methods x protocol x tasks x seeds, skip runs already "
                                          "in the results store, run the rest and print UA per test corpus.")
    # dest: the SweepConfig field each option sets (run_command reads them by name; SweepConfig has the defaults)
    run.add_argument("--method", dest="methods", action="append", required=True, metavar="M",
                     help="a method name (repeatable), or 'all'")
    run.add_argument("--protocol", required=True, metavar="P", help="a built-in protocol name or a .toml file")
    run.add_argument("--task", dest="tasks", action="append", choices=TASKS,
                     help="label task (repeatable; default: the protocol's tasks, arousal and valence)")
    seeds = run.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, metavar="N", help="seeds 0 .. N-1 (default 5)")
    seeds.add_argument("--seed", dest="seeds", type=int, action="append", metavar="S", help="a seed (repeatable)")
    run.add_argument("--data", metavar="DIR|FILE.toml|synthetic",
                     help="where the corpora are (default: $SERBENCH_DATA, then ./serbench.toml)")
    run.add_argument("--results", metavar="DIR", help="the results store (default ./results)")
    run.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes or SLURM jobs")
    run.add_argument("--wait", action="store_true",
                     help="when other workers still hold runs of the sweep, wait until they are done (or those "
                          "workers died: then train what they left) instead of exiting with status 3")
    run.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    run.add_argument("--launcher", default="local", help="local (default) or slurm (through submitit)")
    run.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                     help="a submitit/SLURM option, e.g. slurm_partition=gpu, timeout_min=240, gpus_per_node=1")
    run.add_argument("--preset", metavar="NAME",
                     help="model size for every method that has one: a preset of the paper's family (PRESETS in "
                          "methods/paper.py, `serbench methods baseline_s` lists them; default: paper)")
    run.add_argument("--epochs", type=int, help="training epochs for every method")
    add_hp_option(run)
    add_protocol_options(run)
    add_plugin_option(run)
    run.add_argument("--fuse", type=int, metavar="N",
                     help="train up to N runs of the paper's model family at once as one model (default 1: every "
                          "run alone; docs/running.md)")
    run.add_argument("--frontend", metavar="NAME", help="the front-end (default: the protocol's, usually "
                                                        "spectrogram; `serbench frontends` lists them)")
    run.add_argument("--frontend-setting", dest="frontend_settings", action="append", default=[], metavar="KEY=VALUE",
                     help="a setting of --frontend, e.g. n_mels=40 (repeatable)")
    run.add_argument("--skip-bad", action="store_true", help="skip unreadable corpus files, listing them")
    run.add_argument("--cache-dir", dest="cache", metavar="DIR",
                     help="feature cache (default: $SERBENCH_CACHE or ~/.cache/serbench)")
    run.set_defaults(func=run_command)

    show = commands.add_parser("status", help=COMMANDS["status"][1])
    show.add_argument("--results", default="results", metavar="DIR")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=status_command)


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    """--normalisation, --adaptation and --selection: the protocol's keys of those names (protocol.OVERRIDES; the
    SweepConfig fields they set). Their values are checked by the protocol's schema when the sweep is planned,
    not here: it loads torch, and --help answers without it."""
    for key in ("normalisation", "adaptation", "selection"):
        parser.add_argument(f"--{key}", metavar="VALUE",
                            help=f"the protocol's {key}, instead of its file's (docs/protocols.md lists the "
                                 f"values); the protocol is then named with it: P[{key}=VALUE]")


def slurm_options(assignments: list[str]) -> dict:
    # the runs' modules are imported in the functions that use them, not at the top: they load torch, and
    # `serbench run --help` or a mistyped option should answer at once (the launcher is checked by launch)
    from serbench.method import parse_settings

    options = {}
    for key, value in parse_settings(assignments, "--slurm").items():
        options[key] = int(value) if value.isdigit() else value
    return options


def run_command(args: argparse.Namespace) -> int:
    from serbench.method import parse_settings
    from serbench.runs.launch import launch
    from serbench.runs.settings import SweepConfig

    settings = {f.name: getattr(args, f.name) for f in fields(SweepConfig) if hasattr(args, f.name)}
    config = SweepConfig.create(**{**settings, "plugins": args.plugin, "hp": parse_settings(args.hp, "--hp"),
                                   "frontend_settings": parse_settings(args.frontend_settings, "--frontend-setting")})
    frame = launch(config, jobs=args.jobs, launcher=args.launcher, slurm=slurm_options(args.slurm),
                   wait=args.wait, console=Console())
    if frame.attrs["failed"] or frame.attrs["pending"] > frame.attrs["claimed"]:
        return 1  # a run failed, or no live worker holds a run that is not done
    return EXIT_CLAIMED if frame.attrs["claimed"] else 0


def status_command(args: argparse.Namespace) -> int:
    from serbench.runs.launch import STATES, status

    report = status(args.results)
    if args.json:  # the same exit status as the table's: a script reading the JSON learns of damage from it too
        print(json.dumps(report, indent=1))
        return 1 if report["problems"] else 0
    table = Table(title=f"runs in {escape(args.results)}: "
                        + ", ".join(f"{report[state]} {state}" for state in STATES if report[state] or
                                    state != "damaged"))
    for column in ("method", "protocol", "fold", "task", "seeds done", *STATES[1:]):
        table.add_column(column)
    groups: dict[tuple, dict[str, list]] = {}
    for run in report["runs"]:
        key = (run["method"], run["protocol"], run["fold"], run["task"])
        groups.setdefault(key, {state: [] for state in STATES})[run["state"]].append(
            f"{run['seed']}{'*' if run['running'] else ''}")
    for key, states in sorted(groups.items()):
        table.add_row(*map(escape, map(str, key)), *(" ".join(states[s]) or "-" for s in STATES))
    console = Console()
    console.print(table)
    if any(run["running"] for run in report["runs"]):
        console.print("* running now")
    for problem in report["problems"]:
        console.print(f"[yellow]damaged:[/] {escape(problem)}", soft_wrap=True)
    return 1 if report["problems"] else 0
