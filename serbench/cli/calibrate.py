"""`serbench calibrate`: type-I error and power of the leaderboards' tests, by simulation
(serbench/reports/calibration.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from serbench.cli import COMMANDS
from serbench.errors import SerbenchError
from serbench.reports import calibration

TESTS = ("paired", "ranking", "speakers")


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("calibrate", help=COMMANDS["calibrate"][1],
                                 description="Simulate benchmark runs under true nulls and under known effects, run "
                                             "the paired test and the ranking test on them, and print one table "
                                             "of type-I errors and power; docs/statistics.md explains every "
                                             "column and records the full run. Exit status 1 when a regime "
                                             "leaves its band.")
    parser.add_argument("--comparisons", type=int, default=2000, metavar="N",
                        help="simulated comparisons (ranking pages) per regime (default 2000)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the simulation (default 0)")
    parser.add_argument("--only", choices=TESTS, help="simulate only one test")
    parser.add_argument("--permutations", type=int, default=2000, metavar="N",
                        help="relabelings per ranking test (default 2000, the leaderboards' number)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    parser.set_defaults(func=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    if args.comparisons < 2 or args.permutations < 1:
        raise SerbenchError(f"--comparisons must be at least 2 and --permutations at least 1, got "
                            f"{args.comparisons} and {args.permutations}",
                            hint="the default 2000 of each gives simulation errors of about 0.005")
    with Console(stderr=True).status("") as status:
        result = calibration.calibrate(args.comparisons, args.seed, tests=(args.only,) if args.only else TESTS,
                           permutations=args.permutations,
                           on_regime=lambda name: status.update(f"simulating {name}"))
    Console().print(table(result))
    if args.json is not None:
        figures = dataclasses.asdict(result) | {"failures": result.failures()}
        try:
            args.json.write_text(json.dumps(figures, indent=1) + "\n")
        except OSError as error:
            raise SerbenchError(f"cannot write the figures ({error.strerror})", path=args.json,
                                hint="give --json a path in a writable folder") from None
    failures = result.failures()
    if failures:
        Console(stderr=True).print(f"[bold red]out of band:[/] {'; '.join(failures)}", highlight=False)
        return 1
    return 0


def rate(value: float, trials: int) -> str:
    """A rejection rate with its simulation standard error."""
    return f"{value:.3f}±{math.sqrt(value * (1 - value) / trials):.3f}"


def verdict(in_band: bool | None) -> str:
    return {True: "yes", False: "[bold red]NO[/]", None: "no test"}[in_band]


def paired_row(result: calibration.PairedResult) -> list[str]:
    regime, n = result.regime, result.comparisons
    folds = f" in {len(regime.folds)}" if len(regime.folds) > 1 else ""
    return ["paired", f"{regime.name}, {sum(regime.folds)}{folds}", str(regime.seeds), rate(result.exchangeable, n),
            rate(result.reprofiled, n), verdict(calibration.paired_in_band(result)), f"{result.power:.3f}", "",
            f"{result.untested:.3f}"]


def ranking_row(result: calibration.RankingResult) -> list[str]:
    regime, n = result.regime, result.datasets
    return ["ranking", f"{regime.methods} methods, {regime.blocks} blocks", str(regime.seeds),
            rate(result.type_one, n), rate(result.familywise, n), verdict(calibration.ranking_in_band(result)),
            f"{result.power:.3f} / {result.power_pairs:.3f}",
            f"{result.classic_chi2:.2f} / {result.classic_f:.2f} / {result.classic_nemenyi:.2f}", ""]


def speaker_row(result: calibration.SpeakerResult) -> list[str]:
    regime = result.regime
    return ["speakers", f"{regime.name}, {regime.speakers} speakers", str(regime.seeds),
            rate(result.type_one, result.comparisons), "", verdict(calibration.speaker_in_band(result)),
            f"{result.power:.3f}", f"seed-level {result.seed_level:.2f}", ""]


def table(result: calibration.Calibration) -> Table:
    """The figures of one calibration run as one table, with the settings in its title."""
    low, high = calibration.BAND
    effects = sorted({r.effect for r in result.paired} | {r.margin for r in result.ranking}
                     | {r.effect for r in result.speakers})
    gains = ", ".join(f"{100 * effect:g}" for effect in effects)
    output = Table(title=f"serbench calibrate: {result.comparisons} simulated comparisons per regime, seed "
                         f"{result.seed}, alpha {calibration.ALPHA}, {result.permutations} relabelings per ranking "
                         f"test; {result.seconds:.0f} s",
                   caption=f"regime: paired: design, test utterances (in folds), and the other methods' share of "
                           f"collapsed runs or their skewed training; ranking: page size. null 1: paired: "
                           f"the other method is the reference's twin; ranking: identical methods, omnibus test. "
                           f"null 2: paired: the other method gets other utterances right, with the same expected "
                           f"recall per class (ratings: the same expected rating sums); ranking: identical methods, "
                           f"some pair 'significant' (family-wise). "
                           f"in band: null 1 (and the paired null 2) in [{low}, {high}], the family-wise rate at "
                           f"most {high}, up to two simulation errors of a calibrated test; one seed leaves the "
                           f"ranking nothing to relabel (p = 1). power: against a gain of {gains} UA points (on the "
                           f"rows of ratings, a CCC gain of {', '.join(f'{effect:g}' for effect in effects)}) "
                           f"(ranking: in every block; omnibus / the better method significantly ahead of some "
                           f"other). classic: on the null data, Friedman chi2 / Iman-Davenport F / Nemenyi of the "
                           f"seed-mean table, for contrast; speakers: the seed-level paired test on the same null "
                           f"data, read as a claim about new speakers. speakers, null 1: the new-speaker test when "
                           f"the population of speakers gains nothing; in band: at most {high} (conservative is "
                           f"allowed). untested: paired null comparisons with fewer than two "
                           f"seeds where neither run collapsed, so no test (the nulls' rates are among the others).")
    for column in ("test", "regime"):
        output.add_column(column, no_wrap=True)
    for column in ("seeds", "null 1", "null 2", "in band", "power", "classic", "untested"):
        output.add_column(column, justify="right", no_wrap=True)
    for paired in result.paired:
        output.add_row(*paired_row(paired))
    for ranking in result.ranking:
        output.add_row(*ranking_row(ranking))
    for speakers in result.speakers:
        output.add_row(*speaker_row(speakers))
    return output
