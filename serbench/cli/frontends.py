"""`serbench frontends`: every front-end, where it came from, the rows it makes and its settings."""

from __future__ import annotations

import argparse
import dataclasses

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serbench.cli import COMMANDS
from serbench.cli.methods import add_plugin_option


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("frontends", help=COMMANDS["frontends"][1],
                                 description="List every front-end: built-in, from installed packages (entry point "
                                             "group serbench.frontends) and from --plugin files.")
    parser.add_argument("name", nargs="?", help="show this front-end's settings")
    add_plugin_option(parser)
    parser.set_defaults(func=run_frontends)


def run_frontends(args: argparse.Namespace) -> int:
    # imported here, not at the top: the front-ends load torch, and `--help` should answer at once
    from serbench.features.frontends import FRONTENDS, discover_frontends, make_frontend

    entries = discover_frontends(args.plugin)
    console = Console()
    if args.name:
        entry = FRONTENDS.lookup(args.name)
        frontend = make_frontend(args.name)
        console.print(f"[bold]{escape(entry.name)}[/] ({escape(entry.source)}): {escape(entry.description)}; "
                      f"{frontend.kind}, each row {' x '.join(map(str, frontend.row_shape))}; hash {frontend.hash()}",
                      highlight=False)
        table = Table("setting", "default")
        for field in dataclasses.fields(frontend.settings):
            table.add_row(field.name, repr(getattr(frontend.settings, field.name)))
        console.print(table)
        return 0
    table = Table("front-end", "kind", "description")
    table.add_column("from", overflow="fold")
    for entry in entries.values():
        table.add_row(escape(entry.name), entry.cls.kind, escape(entry.description), escape(entry.source))
    console.print(table)
    return 0
