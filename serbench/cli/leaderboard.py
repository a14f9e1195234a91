"""`serbench leaderboard`: markdown leaderboards with significance tests from a results store."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from serbench.cli import COMMANDS
from serbench.reports.stats import CLAIMS


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "leaderboard", help=COMMANDS["leaderboard"][1],
        description="Aggregate the main score over seeds (UA, or CCC for the dimensional tasks) per (protocol, "
                    "task, method, front-end, test corpus), test every system against a reference, rank the systems "
                    "across test corpora and tasks, and write one markdown page per (protocol, task) with every "
                    "front-end's systems, an index (README.md) and figures. See docs/leaderboards.md.")
    parser.add_argument("--results", default="results", metavar="DIR", help="the results store (default ./results)")
    parser.add_argument("--out", default="leaderboards", metavar="DIR",
                        help="where to write the pages (default ./leaderboards)")
    parser.add_argument("--protocol", metavar="P", help="only this protocol's runs")
    parser.add_argument("--task", metavar="T", help="only this task's runs")
    parser.add_argument("--reference", action="append", metavar="M",
                        help="the method the others are tested against: on each page the first --reference with "
                             "runs there (repeatable; default: the references its protocol names); a dimensional "
                             "task's page tries egemaps_ridge after them")
    parser.add_argument("--config", action="append", default=[], metavar="ID",
                        help="for the protocol and front-end of this configuration (data fingerprints, front-end "
                             "configuration, protocol content), only its runs, when the store holds several; "
                             "repeatable, once per front-end; the error that lists them gives the ids")
    parser.add_argument("--intro", metavar="FILE",
                        help="a markdown file that opens the index: what the pages hold and how to read them")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="publish a sweep that does not cover its protocol (a fold's run, a test corpus or a "
                             "task missing), saying so in every affected page's title and cell; without it such a "
                             "store is refused")
    parser.add_argument("--claim", choices=CLAIMS, default="seeds",
                        help="what the significance markers claim: 'seeds' (default), a difference on these test "
                             "speakers over training seeds; 'speakers', over new speakers of the test corpus too, a "
                             "test that carries the speaker variance (docs/statistics.md)")
    parser.set_defaults(func=run_leaderboard)


def run_leaderboard(args: argparse.Namespace) -> int:
    # imported here, not at the top: the pages load torch, and `--help` or a mistyped option should answer at once
    from serbench.reports.pages import leaderboard_command, write_leaderboards

    command = leaderboard_command(args.results, args.out, protocol=args.protocol, task=args.task,
                                  references=args.reference, configs=args.config, intro=args.intro,
                                  allow_incomplete=args.allow_incomplete, claim=args.claim)
    console = Console()
    with console.status("computing leaderboards"):
        written = write_leaderboards(args.results, args.out, protocol=args.protocol, task=args.task,
                                     references=args.reference, configs=args.config,
                                     intro=args.intro, allow_incomplete=args.allow_incomplete, command=command,
                                     claim=args.claim)
    pages = sum(path.suffix == ".md" for path in written)
    tables = sum(path.suffix in (".csv", ".tex") for path in written)
    console.print(f"wrote {pages} pages, {tables} tables (CSV, LaTeX) and {len(written) - pages - tables} figures "
                  f"into {escape(str(args.out))}")
    return 0
