"""The `serbench` command. Each module in this package adds one group of sub-commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rich.console import Console
from rich.markup import escape

from serbench import __version__
from serbench.errors import SerbenchError

# Every command: the module of this package that defines it, and its one-line help. Only the module of the command
# being run is imported (torch and pandas take seconds to load), so `serbench --help` and `--version` answer at once.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "train and score methods under a protocol, over seeds"),
    "status": ("run", "done, failed, pending and damaged runs in a results store"),
    "data": ("data", "look at, check and prepare a corpus"),
    "methods": ("methods", "list the available methods"),
    "frontends": ("frontends", "list the available front-ends"),
    "protocols": ("protocols", "list the evaluation protocols"),
    "verify": ("results", "check a results store and the feature cache against their checksums"),
    "prune": ("results", "remove runs from a results store by method, protocol, task, seed, hp or state"),
    "leaderboard": ("leaderboard", "write markdown leaderboards with significance tests from a results store"),
    "bench": ("bench", "measure the front-ends and the training pipelines on this machine"),
    "calibrate": ("calibrate", "check by simulation that the leaderboards' tests keep their error rates"),
    "splits": ("splits", "export a protocol's folds as files another toolkit reads"),
    "score": ("score", "store another toolkit's predictions on exported splits as runs"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: the named command's own options in full, the other commands as one-line entries."""
    parser = argparse.ArgumentParser(prog="serbench", description="Cross-corpus speech emotion recognition benchmark")
    parser.add_argument("--version", action="version", version=f"serbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((word for word in argv or () if not word.startswith("-")), None)
    module = COMMANDS[chosen][0] if chosen in COMMANDS else None
    if module is not None:
        importlib.import_module(f"serbench.cli.{module}").add_commands(commands)
    for name, (owner, help_text) in COMMANDS.items():
        if owner != module:
            commands.add_parser(name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
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
