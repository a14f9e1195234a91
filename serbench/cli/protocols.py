"""`serbench protocols`: the built-in protocols (and any given by path)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serbench.cli import COMMANDS


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("protocols", help=COMMANDS["protocols"][1],
                                 description="List the built-in protocols, and any protocol files given; a protocol "
                                             "with parameters shows them in capitals: within[corpus=CORPUS].")
    parser.add_argument("files", nargs="*", help="protocol files to show as well")
    parser.set_defaults(func=run_protocols)


def run_protocols(args: argparse.Namespace) -> int:
    # imported here, not at the top: the protocols' module loads torch, and `--help` should answer at once
    from serbench.protocols.protocol import builtin_protocols, load_protocol, template_reference
    from serbench.protocols.splits import SPLIT_KINDS

    console = Console()
    table = Table(title="protocols")
    for column in ("name", "split", "adaptation", "normalisation", "tasks"):
        table.add_column(column)
    # a template is shown with its parameters in capitals: within[corpus=CORPUS]
    protocols = [load_protocol(template_reference(name)) for name in [*builtin_protocols(), *args.files]]
    for protocol in protocols:
        table.add_row(escape(protocol.name), protocol.split, protocol.adaptation, protocol.normalisation,
                      ", ".join(protocol.tasks))
    console.print(table)
    for protocol in protocols:  # below the table, so that it stays readable in 80 columns
        console.print(f"[bold]{escape(protocol.name)}[/]: {escape(protocol.description)} "
                      f"({escape(SPLIT_KINDS[protocol.split].describe(protocol))})", highlight=False)
    return 0
