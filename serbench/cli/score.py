"""`serbench score`: another toolkit's predictions on exported splits, as runs in a store
(serbench/runs/external.py)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from serbench.cli import COMMANDS


def add_commands(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser(
        "score", help=COMMANDS["score"][1],
        description="Score the predictions of a system trained with its own code on the splits `serbench splits "
                    "export` wrote: each (fold, seed) becomes a run in the store, checked (every labelled test "
                    "utterance once, known classes, posteriors that sum to one, the same data fingerprints and "
                    "protocol settings), shown as the front-end 'external' on the leaderboards with the same "
                    "statistics as serbench's runs. The file: CSV or JSON lines (.jsonl) with the columns corpus, "
                    "utterance_id, fold, seed (default 0), and predicted (a class name) and/or p_<class> posteriors "
                    "(docs/running.md).")
    score.add_argument("--predictions", required=True, metavar="FILE", help="the predictions (CSV or .jsonl)")
    score.add_argument("--name", required=True, metavar="NAME", help="the system's name on the leaderboards")
    score.add_argument("--splits", required=True, metavar="DIR|manifest.json",
                       help="the task folder `serbench splits export` wrote (or its manifest.json)")
    score.add_argument("--data", metavar="DIR|FILE.toml|synthetic",
                       help="where the corpora are (default: $SERBENCH_DATA, then ./serbench.toml)")
    score.add_argument("--results", default="results", metavar="DIR", help="the results store (default ./results)")
    score.add_argument("--cache-dir", dest="cache", metavar="DIR",
                       help="feature cache (default: $SERBENCH_CACHE or ~/.cache/serbench)")
    score.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                       help="import a method plugin module, so that --name is checked against its methods too")
    score.set_defaults(func=run_score)


def run_score(args: argparse.Namespace) -> int:
    # imported here: torch loads with them, and `serbench score --help` should not wait for it
    from serbench.runs.external import score_predictions
    from serbench.runs.launch import summary_table
    from serbench.runs.scores import cycle_rows
    from serbench.runs.store import ResultsStore

    scored = score_predictions(args.predictions, args.name, args.splits, data=args.data, results=args.results,
                               cache=args.cache, plugins=args.plugin)
    console = Console()
    new = sum(not run.stored_before for run in scored)
    skipped = sum(run.skipped for run in scored)
    console.print(f"{args.name}: {len(scored)} run(s) of {escape(scored[0].record.protocol)} / "
                  f"{scored[0].record.task} (fold x seed), {new} stored in {escape(args.results)}, "
                  f"{len(scored) - new} already there"
                  + (f"; {skipped} prediction(s) of unlabelled test utterances skipped" if skipped else ""),
                  highlight=False, soft_wrap=True)
    first = scored[0].record
    runs = [r for r in ResultsStore(args.results).records()
            if (r.method, r.protocol, r.task) == (first.method, first.protocol, first.task)]
    corpora = tuple(sorted({corpus for run in runs for corpus in run.scores}))
    console.print(summary_table(cycle_rows(runs), corpora, first.synthetic))
    return 0
