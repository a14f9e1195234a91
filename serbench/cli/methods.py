"""`serbench methods`: list every method, where it came from, and its hyperparameter defaults."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from serbench.cli import COMMANDS


def add_plugin_option(parser: argparse.ArgumentParser) -> None:
    """--plugin, for every command that looks up methods (pass args.plugin to discover_methods)."""
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                        help="load methods or front-ends from a Python file (repeatable)")


def add_hp_option(parser: argparse.ArgumentParser) -> None:
    """--hp, for every command that builds methods (pass parse_settings(args.hp) to build_method)."""
    parser.add_argument("--hp", action="append", default=[], metavar="[METHOD.]KEY=VALUES",
                        help="a hyperparameter of every method (--hp gamma=0.5), or of one (--hp "
                             "egemaps_svm.C=0.1); values separated by commas sweep each combination (repeatable)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("methods", help=COMMANDS["methods"][1],
                                 description="List every method: built-in, from installed packages "
                                             "(entry point group serbench.methods) and from --plugin files.")
    parser.add_argument("name", nargs="?", help="show this method's hyperparameter defaults")
    add_plugin_option(parser)
    parser.set_defaults(func=run_methods)


def run_methods(args: argparse.Namespace) -> int:
    # imported here, not at the top: serbench.method loads torch, and `--help` or a mistyped option should answer
    # at once (so should every command that takes add_plugin_option from this module)
    from serbench.method import declaration, discover_methods, get_method

    methods = discover_methods(args.plugin)
    console = Console()
    if args.name:
        entry = get_method(args.name)
        console.print(f"[bold]{escape(entry.name)}[/] ({escape(entry.source)}): {escape(entry.description)}; takes "
                      f"{' or '.join(entry.cls.inputs)}", highlight=False)
        table = Table("hyperparameter", "default", "allowed", "meaning")
        for key, value in entry.cls.hparams.items():
            hp = declaration(value)
            table.add_row(key, repr(hp.default), hp.allowed(), escape(hp.doc))
        console.print(table)
        return 0
    table = Table("method", "takes", "description")
    table.add_column("from", overflow="fold")
    for entry in methods.values():
        table.add_row(escape(entry.name), ", ".join(entry.cls.inputs), escape(entry.description), escape(entry.source))
    console.print(table)
    return 0
