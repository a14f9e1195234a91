"""`serbench protocols`: the built-in protocols (and any given by path)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serbench.protocol import builtin_protocols, load_protocol


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("protocols", help="list the evaluation protocols",
                                 description="List the built-in protocols, and any protocol files given.")
    parser.add_argument("files", nargs="*", help="protocol files to show as well")
    parser.set_defaults(func=run_protocols)


def run_protocols(args: argparse.Namespace) -> int:
    table = Table(title="protocols")
    for column in ("name", "split", "train -> test", "tasks", "description"):
        table.add_column(column)
    for name in [*builtin_protocols(), *args.files]:
        protocol = load_protocol(name)
        folds = "; ".join(f"{'+'.join(fold.train)} -> {'+'.join(fold.test)}" for fold in protocol.folds)
        if protocol.split == "speaker":
            folds = f"{'+'.join(protocol.corpora)}, {protocol.test_fraction:.0%} of speakers held out"
        table.add_row(escape(protocol.name), protocol.split, escape(folds), ", ".join(protocol.tasks),
                      escape(protocol.description))
    Console().print(table)
    return 0
