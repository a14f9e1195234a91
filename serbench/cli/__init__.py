"""The `serbench` command. Each module in this package adds one group of sub-commands."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console
from rich.markup import escape

from serbench import __version__
from serbench.cli import bench, calibrate, data, frontends, leaderboard, methods, protocols, run
from serbench.errors import SerbenchError

COMMAND_GROUPS = (run, data, methods, frontends, protocols, leaderboard, bench, calibrate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serbench", description="Cross-corpus speech emotion recognition benchmark")
    parser.add_argument("--version", action="version", version=f"serbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except SerbenchError as error:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted: finished runs are stored, and the same command resumes a sweep "
                                   "where it stopped", highlight=False)
        return 130
    except BrokenPipeError:  # the reader went away (`serbench status --json | head`): nothing left to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's flush at exit does not complain again
        return 141
