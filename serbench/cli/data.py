"""`serbench data ...`: look at, check and prepare a corpus."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from serbench.cli import COMMANDS
from serbench.cli.methods import add_plugin_option
from serbench.data.corpora import CORPORA, rating_scale, read_corpus
from serbench.data.corpora.schema import Corpus
from serbench.data.labels import RATING_RANGE, TASKS, Labelled, apply_task, get_task, task_target
from serbench.data.sources import data_sources
from serbench.data.synth import (
    CORPUS_NAMES,
    DEFAULT_SCALE,
    SYNTHETIC_EXPLANATION,
    SYNTHETIC_LABEL,
    is_synthetic,
    synthesize,
)
from serbench.errors import Problem, SerbenchError

SYNTHETIC_BANNER = f"[bold yellow]{SYNTHETIC_LABEL}[/]: {SYNTHETIC_EXPLANATION}"


def add_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help=COMMANDS["data"][1])
    sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    def corpus_command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--corpus", required=True, metavar="NAME",
                            help=f"{', '.join(CORPORA)}, or any name with a manifest CSV as --root")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--root", type=Path, help="the corpus's release folder as distributed, or a manifest CSV")
        where.add_argument("--data", metavar="DIR|FILE.toml|synthetic",
                           help="a folder holding the releases under their usual names, a data configuration "
                                "file, or 'synthetic' for the generated stand-ins")
        return parser

    summary = corpus_command("summary", "utterances per speaker and label, genders, totals and exclusions")
    summary.add_argument("--task", choices=TASKS, help="count the classes of this label task")
    summary.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    summary.add_argument("--skip-bad", action="store_true", help="skip unreadable entries, listing them")
    summary.set_defaults(func=run_summary)

    check = corpus_command("check", "read every audio file and label, and the corpus's feature caches in full; "
                                    "report every problem")
    check.add_argument("--cache-dir", type=Path, help="cache folder (default: $SERBENCH_CACHE or ~/.cache/serbench)")
    check.set_defaults(func=run_check)

    features = corpus_command("features", "compute the corpus's features into the cache")
    features.add_argument("--frontend", default="spectrogram", metavar="NAME",
                          help="the front-end (default spectrogram; `serbench frontends` lists them)")
    features.add_argument("--frontend-setting", action="append", default=[], metavar="KEY=VALUE",
                          help="a setting of the front-end (repeatable)")
    add_plugin_option(features)
    features.add_argument("--cache-dir", type=Path, help="cache folder (default: $SERBENCH_CACHE or ~/.cache/serbench)")
    features.add_argument("--jobs", type=int, help="threads (default: one per core, where the front-end allows)")
    features.add_argument("--skip-bad", action="store_true",
                          help="skip unreadable files; the skip list is printed and saved with the cache")
    features.set_defaults(func=run_features)

    synth = sub.add_parser("synth", help="write synthetic stand-ins of the corpora in their release layouts")
    synth.add_argument("--out", required=True, type=Path, help="folder to write the releases into")
    synth.add_argument("--corpus", action="append", choices=CORPUS_NAMES, metavar="NAME",
                       help=f"a stand-in to write (repeatable; default the paper's four; any of "
                            f"{', '.join(CORPUS_NAMES)})")
    synth.add_argument("--scale", type=float, default=DEFAULT_SCALE,
                       help=f"size relative to the real corpora (default {DEFAULT_SCALE}; 1.0 = real sizes)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    synth.set_defaults(func=run_synth)


def read_args_corpus(args: argparse.Namespace, *, skip_bad: bool) -> Corpus:
    if args.root is not None:
        return read_corpus(args.corpus, args.root, skip_bad=skip_bad)
    with progress_bar(Console(stderr=True)) as progress:  # a synthetic stand-in is generated on first use
        task = progress.add_task(f"locating {args.corpus}", total=None)
        root = data_sources(args.data, getattr(args, "cache_dir", None)).root(
            args.corpus, progress=lambda done, total: progress.update(
                task, description=f"generating the {args.corpus} stand-in", completed=done, total=total))
    return read_corpus(args.corpus, root, skip_bad=skip_bad)


def labelled(corpus: Corpus, task: str | None) -> Labelled:
    """The utterances of `corpus` that `task` uses (all usable ones without a task), ratings on its own scale."""
    return apply_task(corpus.table, get_task(task, table=corpus.table) if task else None,
                      scale=rating_scale(corpus.name))


def rating_summary(ratings: pd.Series) -> dict:
    """A dimensional task's ratings as the corpus gives them: how many, their mean, sd, lowest and highest."""
    return {"n": len(ratings), "mean": float(ratings.mean()), "sd": float(ratings.std(ddof=1)),
            "min": float(ratings.min()), "max": float(ratings.max())} if len(ratings) > 1 else {"n": len(ratings)}


def summarise(corpus: Corpus, task: str | None) -> dict:
    """The summary of `corpus` as a JSON-ready dict (the --json format): utterances by class, or for a
    dimensional task their ratings on the corpus's scale (`ratings`, with the scale)."""
    used = labelled(corpus, task)
    table = used.table
    genders = table.groupby("speaker")["gender"].first()
    counts = table["speaker"].value_counts()
    if task is not None and task_target(task) == "ratings":
        labels = {"ratings": {**rating_summary(table["label"]), "scale": rating_scale(corpus.name) or RATING_RANGE}}
    else:
        labels = {"by_label": {label: int(n) for label, n in sorted(Counter(table["label"]).items())}}
    return {
        "corpus": corpus.name,
        "synthetic": is_synthetic(corpus.root),
        "task": task,
        "utterances": len(table),
        **labels,
        "by_speaker": {speaker: {"gender": genders[speaker], "count": int(counts[speaker])}
                       for speaker in sorted(counts.index)},
        "excluded": {**corpus.excluded, **used.excluded},
        "skipped": [problem.as_dict() for problem in corpus.problems],
    }


def run_summary(args: argparse.Namespace) -> int:
    corpus = read_args_corpus(args, skip_bad=args.skip_bad)
    summary = summarise(corpus, args.task)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    console = Console()
    if summary["synthetic"]:
        console.print(SYNTHETIC_BANNER)
    table = labelled(corpus, args.task).table
    if "ratings" in summary:  # per speaker: how many rated, their mean and sd on the corpus's scale
        crosstab = table.groupby("speaker")["label"].agg(["count", "mean", "std"]).rename(
            columns={"count": "rated", "std": "sd"})
    else:
        crosstab = pd.crosstab(table["speaker"], table["label"], margins=True, margins_name="total")
    title = f"{corpus.name} at {corpus.root}" + (f" - task {args.task}" if args.task else " - emotion codes")
    shown = Table(title=escape(title))
    for column in ["speaker", "gender", *map(str, crosstab.columns)]:
        shown.add_column(escape(column), justify="left" if column in ("speaker", "gender") else "right")
    for speaker, row in crosstab.iterrows():
        gender = summary["by_speaker"].get(speaker, {}).get("gender", "")
        shown.add_row(escape(str(speaker)), gender, *(f"{n:.2f}" if isinstance(n, float) and key != "rated"
                                                      else str(int(n)) for key, n in row.items()))
    console.print(shown)
    if "ratings" in summary:
        ratings = summary["ratings"]
        console.print(f"{args.task} ratings on {corpus.name}'s scale {ratings['scale'][0]:g} to "
                      f"{ratings['scale'][1]:g}" + (f": mean {ratings['mean']:.2f}, sd {ratings['sd']:.2f}"
                                                    if "mean" in ratings else ""))
    console.print(f"{summary['utterances']} utterances used; "
                  f"genders: {dict(Counter(s['gender'] for s in summary['by_speaker'].values()))}")
    report_exclusions(console, summary["excluded"], corpus.problems)
    return 0


def report_exclusions(console: Console, excluded: dict[str, int], problems: list[Problem]) -> None:
    for reason, n in excluded.items():
        console.print(f"  excluded {n}: {escape(reason)}", soft_wrap=True)
    report_problems(console, problems, "skipped")


def report_problems(console: Console, problems: list[Problem], verb: str) -> None:
    for problem in problems:
        console.print(f"  [yellow]{verb}[/] {escape(str(problem))}", highlight=False, soft_wrap=True)


def run_check(args: argparse.Namespace) -> int:
    from serbench.data.audio import load_audio
    from serbench.features.cache import cache_damage

    corpus = read_args_corpus(args, skip_bad=True)
    problems = list(corpus.problems)
    console = Console()
    with progress_bar(console) as progress:
        task = progress.add_task("reading audio", total=len(corpus.table))
        for path in corpus.table["path"]:
            try:
                load_audio(path, sample_rate=None)
            except SerbenchError as error:
                problems.append(Problem(path, error.message))
            progress.advance(task)
        progress.add_task(f"checking the feature caches of {corpus.name}", total=None)
        caches = cache_damage(args.cache_dir, corpus.name)
    problems += [Problem(str(path), message) for path, message in caches.items() if message is not None]
    for reason, n in corpus.excluded.items():
        console.print(f"  left out {n}: {escape(reason)}", soft_wrap=True)
    report_problems(console, problems, "problem:")
    console.print(f"{len(corpus.table)} labelled utterances and {len(caches)} feature caches checked, "
                  f"{len(problems)} problem(s)")
    return 1 if problems else 0


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def run_features(args: argparse.Namespace) -> int:
    from serbench.features.cache import build_features
    from serbench.features.frontends import discover_frontends, make_frontend
    from serbench.method import parse_settings

    discover_frontends(args.plugin)
    frontend = make_frontend(args.frontend, parse_settings(args.frontend_setting, "--frontend-setting"))
    corpus = read_args_corpus(args, skip_bad=args.skip_bad)
    console = Console()
    with progress_bar(console) as progress:
        task = progress.add_task(f"{frontend.name} features (s of audio) of {corpus.name}", total=None)
        features = build_features(corpus, frontend, cache_dir=args.cache_dir, skip_bad=args.skip_bad,
                                  jobs=args.jobs,
                                  progress=lambda done, total: progress.update(task, completed=done, total=total))
    console.print(f"{features.meta['n_utterances']} utterances, {features.meta['n_rows']} {frontend.kind} of "
                  f"{' x '.join(map(str, features.features.shape[1:]))} in {features.path}")
    report_problems(console, features.skipped, "skipped")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    console = Console()
    with progress_bar(console) as progress:
        task = progress.add_task("synthesising", total=None)
        roots = synthesize(args.out, scale=args.scale, seed=args.seed, jobs=args.jobs, corpora=args.corpus,
                           progress=lambda done, total: progress.update(task, completed=done, total=total))
    for name, root in roots.items():
        console.print(f"{name}: {root}")
    console.print(SYNTHETIC_BANNER)
    return 0
