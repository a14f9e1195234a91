"""`serbench verify` and `serbench prune`: check a results store and the feature cache, and remove runs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from serbench.cli import COMMANDS
from serbench.errors import SerbenchError
from serbench.plugins import convert_setting
from serbench.runs.record import RunRecord
from serbench.runs.store import ResultsStore


def add_commands(commands: argparse._SubParsersAction) -> None:
    verify = commands.add_parser("verify", help=COMMANDS["verify"][1],
                                 description="Check every run folder of a results store (and, with --cache, every "
                                             "feature cache) against its checksums, read in full, and each run's "
                                             "record against its folder and tables; list what is damaged, and the "
                                             "runs built from a damaged cache. Exit status 1 if anything is.")
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
    prune.add_argument("--damaged", action="store_true",
                       help="damaged runs: their folder fails its checksums or schema, or disagrees with its record")
    prune.add_argument("--failed", action="store_true", help="failure records (runs that raised)")
    prune.add_argument("--cache", action="store_true",
                       help="with --damaged: also the runs built from a damaged feature cache (every cache is read)")
    prune.add_argument("--cache-dir", type=Path, help="cache folder (default: $SERBENCH_CACHE or ~/.cache/serbench)")
    prune.add_argument("--yes", action="store_true", help="remove them (without it, only list them)")
    prune.set_defaults(func=run_prune)


def existing_store(results: str) -> ResultsStore:
    store = ResultsStore(results)
    if not store.root.is_dir():
        raise SerbenchError("no results store here", path=store.root,
                            hint="give --results the folder `serbench run --results` wrote")
    return store


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def built_from(cache: Path, records: Mapping[str, RunRecord]) -> list[str] | None:
    """The runs among `records` that read the feature cache at `cache`: their identity holds its corpus's content
    fingerprint and its front-end hash (and cache format, where it says). None when its meta.json cannot tell."""
    try:
        meta = json.loads((cache / "meta.json").read_text())
        corpus, fingerprint, config = meta["corpus"], meta["content_fingerprint"], meta["config_hash"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    chosen = []
    for run_id, record in records.items():
        frontend = record.identity.get("frontend") or {}
        if ((record.identity.get("data") or {}).get(corpus) == fingerprint and frontend.get("hash") == config
                and frontend.get("format", meta.get("format")) == meta.get("format")):
            chosen.append(run_id)
    return chosen


def damaged_caches(cache_dir: Path | None, records: Mapping[str, RunRecord],
                   console: Console) -> dict[Path, tuple[str, list[str] | None]]:
    """Every damaged feature cache under the cache root, read in full: its damage, and the runs built from it."""
    from serbench.features.cache import cache_damage
    from serbench.files import cache_root

    with console.status("reading every feature cache in full"):
        caches = cache_damage(cache_dir)
    console.print(f"{plural(len(caches), 'feature cache')} checked in {escape(str(cache_root(cache_dir)))}, "
                  f"{sum(message is not None for message in caches.values())} damaged")
    return {path: (message, built_from(path, records)) for path, message in caches.items() if message is not None}


def run_verify(args: argparse.Namespace) -> int:
    store = existing_store(args.results)
    console = Console()
    records, damaged = store.read_all()
    for run_id, error in damaged.items():
        console.print(f"[red]damaged[/] {escape(str(store.runs / run_id))}: {escape(error.message)}", soft_wrap=True)
    console.print(f"{plural(len(records) + len(damaged), 'run')} checked in {escape(str(store.root))}, "
                  f"{len(damaged)} damaged")
    caches = damaged_caches(args.cache_dir, records, console) if args.cache else {}
    for path, (message, run_ids) in caches.items():
        console.print(f"[red]damaged[/] {escape(str(path))}: {escape(message)}", soft_wrap=True)
        if run_ids is None:
            console.print("    its meta.json cannot tell which runs were built from it", soft_wrap=True)
        else:
            console.print(f"    {plural(len(run_ids), 'run')} of this store built from it"
                          f"{': ' if run_ids else ''}{', '.join(run_ids)}", soft_wrap=True)
    if damaged:
        console.print(f"remove the damaged runs with `serbench prune --damaged --results {escape(args.results)} "
                      "--yes`; the next sweep trains them again", soft_wrap=True)
    if any(run_ids for _, run_ids in caches.values()):
        console.print(f"remove the runs built from damaged caches with `serbench prune --damaged --cache --results "
                      f"{escape(args.results)} --yes`", soft_wrap=True)
    if caches:
        console.print("delete the damaged cache folders; the next run rebuilds them", soft_wrap=True)
    return 1 if damaged or caches else 0


def unknown_values(args: argparse.Namespace, hp: Mapping[str, str], records: Mapping[str, RunRecord]) -> None:
    """A SerbenchError for a --method, --protocol, --task or --hp key that no finished run of the store has: a
    misspelt name would otherwise match nothing, as if there were nothing to remove."""
    held = {"method": {r.method for r in records.values()}, "protocol": {r.protocol for r in records.values()},
            "task": {r.task for r in records.values()},
            "hp": {key for r in records.values() for key in r.identity.get("hparams") or {}}}
    for option, given in (("method", args.method), ("protocol", args.protocol), ("task", args.task), ("hp", hp)):
        unknown = [value for value in given or () if value not in held[option]]
        if unknown:
            what = "hyperparameter" if option == "hp" else option
            raise SerbenchError(f"--{option} {', '.join(unknown)}: no finished run of this store has this {what}",
                                path=args.results,
                                hint=f"the {what}s it holds: {', '.join(sorted(held[option])) or 'none'}")


def hp_matches(hparams: Mapping[str, object], wanted: Mapping[str, str]) -> bool:
    """Whether `hparams` (a run's) has every --hp value, compared as the stored values' types (lr=0.50 is 0.5)."""
    for key, text in wanted.items():
        if key not in hparams:
            return False
        try:
            if convert_setting("prune", "--hp", key, hparams[key], text) != hparams[key]:
                return False
        except (SerbenchError, TypeError):  # not of the stored value's type (text where it holds a number)
            return False
    return True


def check_prune_filters(args: argparse.Namespace, described: bool) -> None:
    """Refuse a prune without a filter, and filters that do not go together. `described`: a run label or --hp is
    given."""
    if args.cache and not args.damaged:
        raise SerbenchError("--cache selects the runs built from a damaged feature cache: it goes with --damaged",
                            hint="prune --damaged --cache")
    if not (described or args.damaged or args.failed):
        raise SerbenchError("prune needs a filter: it never removes a whole store by accident",
                            hint="give --method, --protocol, --task, --seed, --hp, --damaged or --failed")
    if described and args.damaged:
        raise SerbenchError("--damaged cannot be combined with --method, --protocol, --task, --seed or --hp",
                            hint="a damaged run's record cannot be read to match them: prune --damaged alone")


def described_runs(args: argparse.Namespace, hp: Mapping[str, str],
                   records: Mapping[str, RunRecord]) -> list[tuple[str, str]]:
    """(run id, what it is) of the runs that match every given --method, --protocol, --task, --seed and --hp."""
    chosen: list[tuple[str, str]] = []
    for run_id, record in records.items():
        if ((args.method is None or record.method in args.method)
                and (args.protocol is None or record.protocol in args.protocol)
                and (args.task is None or record.task in args.task)
                and (args.seed is None or record.seed in args.seed)
                and hp_matches(record.identity.get("hparams") or {}, hp)):
            chosen.append((run_id, f"{record.method} {record.protocol} {record.fold} {record.task} seed "
                                   f"{record.seed}"))
    return chosen


def run_prune(args: argparse.Namespace) -> int:
    # imported here, not at the top: serbench.method loads torch, and `--help` or a mistyped option should answer
    # at once
    from serbench.method import parse_settings

    store = existing_store(args.results)
    hp = parse_settings(args.hp, "--hp")
    described = any((args.method, args.protocol, args.task, args.seed, hp))
    check_prune_filters(args, described)
    records, damaged = store.read_all()
    unknown_values(args, hp, records)
    console = Console()
    chosen: list[tuple[str, str]] = []  # (run id, what it is)
    if args.damaged:
        chosen += [(run_id, f"damaged: {error.message}") for run_id, error in damaged.items()]
    if args.cache:
        caches: dict[str, Path] = {}  # run id -> a damaged cache it read (a run reads several corpora)
        for path, (_, run_ids) in damaged_caches(args.cache_dir, records, console).items():
            caches.update((run_id, path) for run_id in run_ids or () if run_id not in caches)
        chosen += [(run_id, f"built from the damaged feature cache {path}") for run_id, path in caches.items()]
    if args.failed:
        chosen += [(run_id, "failed") for run_id in sorted(store.failed_ids())]
    if described:
        chosen += described_runs(args, hp, records)
    for run_id, what in chosen:
        console.print(f"{'removed' if args.yes else 'would remove'} {run_id}: {escape(what)}", soft_wrap=True)
    runs = plural(len(chosen), "run")
    if args.yes:
        for run_id, _ in chosen:
            store.remove(run_id)
        console.print(f"{runs} removed from {escape(str(store.root))}")
    else:
        console.print(f"{runs} match{'es' if len(chosen) == 1 else ''}; pass --yes to remove them")
    return 0
