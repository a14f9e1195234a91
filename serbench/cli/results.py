"""`serbench verify` and `serbench prune`: check a results store and the feature cache, and remove runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from serbench.cli import COMMANDS
from serbench.errors import SerbenchError
from serbench.method import parse_settings
from serbench.store import ResultsStore


def add_commands(commands: argparse._SubParsersAction) -> None:
    verify = commands.add_parser("verify", help=COMMANDS["verify"][1],
                                 description="Check every run folder of a results store (and, with --cache, every "
                                             "feature cache) against its checksums, read in full; list what is "
                                             "damaged. Exit status 1 if anything is.")
    verify.add_argument("--results", default="results", metavar="DIR", help="the results store (default ./results)")
    verify.add_argument("--cache", action="store_true", help="also check every feature cache, every byte")
    verify.add_argument("--cache-dir", type=Path, help="cache folder (default: $SERBENCH_CACHE or ~/.cache/serbench)")
    verify.set_defaults(func=run_verify)

    prune = commands.add_parser("prune", help=COMMANDS["prune"][1],
                                description="Remove the runs that match every filter given (at least one), so "
                                            "that the next sweep trains them again. Lists them; removes them "
                                            "only with --yes.")
    prune.add_argument("--results", default="results", metavar="DIR", help="the results store (default ./results)")
    prune.add_argument("--method", action="append", metavar="M", help="runs of this method (repeatable)")
    prune.add_argument("--protocol", action="append", metavar="P", help="runs of this protocol (repeatable)")
    prune.add_argument("--task", action="append", metavar="T", help="runs of this task (repeatable)")
    prune.add_argument("--seed", type=int, action="append", metavar="S", help="runs of this seed (repeatable)")
    prune.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                       help="runs with this hyperparameter value, e.g. gamma=0.5 (repeatable: all must match)")
    prune.add_argument("--damaged", action="store_true", help="runs whose folder fails its checksums or schema")
    prune.add_argument("--failed", action="store_true", help="failure records (runs that raised)")
    prune.add_argument("--yes", action="store_true", help="remove them (without it, only list them)")
    prune.set_defaults(func=run_prune)


def existing_store(results: str) -> ResultsStore:
    store = ResultsStore(results)
    if not store.root.is_dir():
        raise SerbenchError("no results store here", path=store.root,
                            hint="give --results the folder `serbench run --results` wrote")
    return store


def run_verify(args: argparse.Namespace) -> int:
    store = existing_store(args.results)
    console = Console()
    _, damaged = store.read_all()
    for run_id, error in damaged.items():
        console.print(f"[red]damaged[/] {escape(str(store.runs / run_id))}: {escape(error.message)}", soft_wrap=True)
    console.print(f"{len(store.done_ids())} runs checked in {escape(str(store.root))}, {len(damaged)} damaged")
    caches_damaged = 0
    if args.cache:
        from serbench.cache import cache_damage, cache_root

        with console.status("reading every feature cache in full"):
            caches = cache_damage(args.cache_dir)
        for path, message in caches.items():
            if message is not None:
                console.print(f"[red]damaged[/] {escape(str(path))}: {escape(message)}", soft_wrap=True)
        caches_damaged = sum(message is not None for message in caches.values())
        console.print(f"{len(caches)} feature caches checked in {escape(str(cache_root(args.cache_dir)))}, "
                      f"{caches_damaged} damaged")
    if damaged:
        console.print(f"remove the damaged runs with `serbench prune --damaged --results {escape(args.results)} "
                      "--yes`; the next sweep trains them again", soft_wrap=True)
    if caches_damaged:
        console.print("delete the damaged cache folders; the next run rebuilds them", soft_wrap=True)
    return 1 if damaged or caches_damaged else 0


def run_prune(args: argparse.Namespace) -> int:
    store = existing_store(args.results)
    hp = parse_settings(args.hp, "--hp")
    described = any((args.method, args.protocol, args.task, args.seed, hp))
    if not (described or args.damaged or args.failed):
        raise SerbenchError("prune needs a filter: it never removes a whole store by accident",
                            hint="give --method, --protocol, --task, --seed, --hp, --damaged or --failed")
    if described and args.damaged:
        raise SerbenchError("--damaged cannot be combined with --method, --protocol, --task, --seed or --hp",
                            hint="a damaged run's record cannot be read to match them: prune --damaged alone")
    records, damaged = store.read_all()
    chosen: list[tuple[str, str]] = []  # (run id, what it is)
    if args.damaged:
        chosen += [(run_id, f"damaged: {error.message}") for run_id, error in damaged.items()]
    if args.failed:
        chosen += [(run_id, "failed") for run_id in sorted(store.failed_ids())]
    for run_id, record in records.items() if described else ():
        hparams = record.identity["hparams"]
        if ((args.method is None or record.method in args.method)
                and (args.protocol is None or record.protocol in args.protocol)
                and (args.task is None or record.task in args.task)
                and (args.seed is None or record.seed in args.seed)
                and all(key in hparams and str(hparams[key]) == value for key, value in hp.items())):
            chosen.append((run_id, f"{record.method} {record.protocol} {record.fold} {record.task} seed "
                                   f"{record.seed}"))
    console = Console()
    for run_id, what in chosen:
        console.print(f"{'removed' if args.yes else 'would remove'} {run_id}: {escape(what)}", soft_wrap=True)
    runs = f"{len(chosen)} run{'' if len(chosen) == 1 else 's'}"
    if args.yes:
        for run_id, _ in chosen:
            store.remove(run_id)
        console.print(f"{runs} removed from {escape(str(store.root))}")
    else:
        console.print(f"{runs} match{'es' if len(chosen) == 1 else ''}; pass --yes to remove them")
    return 0
