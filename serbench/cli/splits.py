"""`serbench splits export`: a protocol's folds as files another toolkit reads (serbench/runs/export.py)."""

from __future__ import annotations

import argparse
from dataclasses import fields

from rich.console import Console
from rich.markup import escape

from serbench.cli import COMMANDS
from serbench.cli.run import add_protocol_options


def add_commands(commands: argparse._SubParsersAction) -> None:
    splits = commands.add_parser("splits", help=COMMANDS["splits"][1])
    actions = splits.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write every fold of a protocol, per task, as CSV or JSON lines",
                                description="Write a protocol's folds as files another toolkit reads: per task a "
                                            "manifest (protocol, classes, the corpora's content fingerprints, "
                                            "folds) and one file per fold (utterance_id, corpus, path, speaker, "
                                            "part, label). Train your own system on them; every seed of a run "
                                            "uses the same folds.")
    export.add_argument("--protocol", required=True, metavar="P", help="a built-in protocol name or a .toml file")
    export.add_argument("--task", dest="tasks", action="append", metavar="T",
                        help="label task (repeatable; default: the protocol's tasks)")
    export.add_argument("--data", metavar="DIR|FILE.toml|synthetic",
                        help="where the corpora are (default: $SERBENCH_DATA, then ./serbench.toml)")
    export.add_argument("--frontend", metavar="NAME",
                        help="the front-end whose feature cache the corpora are read through (default: the "
                             "protocol's; the folds and fingerprints do not depend on it)")
    export.add_argument("--cache-dir", dest="cache", metavar="DIR",
                        help="feature cache (default: $SERBENCH_CACHE or ~/.cache/serbench)")
    add_protocol_options(export)
    export.add_argument("--format", dest="file_format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--out", required=True, metavar="DIR", help="the folder to write into")
    export.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    # imported here: torch loads with them, and `serbench splits --help` should not wait for it
    from serbench.runs.export import export_splits
    from serbench.runs.settings import SweepConfig

    settings = {f.name: getattr(args, f.name) for f in fields(SweepConfig) if hasattr(args, f.name)}
    config = SweepConfig.create(**{**settings, "methods": ()})
    written = export_splits(config, args.out, args.file_format)
    Console().print(f"{len(written)} files in {escape(args.out)}: "
                    f"{', '.join(sorted({str(p.parent.name) for p in written}))} (manifest.json and one file per "
                    "fold each)", highlight=False, soft_wrap=True)
    return 0
