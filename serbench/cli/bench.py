"""`serbench bench`: how fast the front-end and the training pipelines run here (serbench/runs/bench.py)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from serbench.cli import COMMANDS
from serbench.cli.methods import add_plugin_option
from serbench.errors import SerbenchError


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("bench", help=COMMANDS["bench"][1],
                                 description="Time the feature pass and each training pipeline on synthetic data "
                                             "(no corpus needed) and print one table; docs/performance.md "
                                             "explains every row.")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--preset", default="paper", metavar="NAME",
                        help="model size of the timed training step (default paper; small for a quick CPU run; "
                             "`serbench methods baseline_s` lists them)")
    parser.add_argument("--batch-size", type=int, default=128, metavar="N", help="segments per batch (default 128)")
    parser.add_argument("--steps", type=int, default=20, metavar="N",
                        help="timed training steps per pipeline (default 20)")
    parser.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed steps first (default 3)")
    default_workers = min(8, os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, default=default_workers, metavar="N",
                        help=f"DataLoader workers of the conventional pipeline (default {default_workers})")
    parser.add_argument("--audio-minutes", type=float, default=10.0, metavar="M",
                        help="audio for the feature pass (default 10)")
    parser.add_argument("--replicas", type=int, metavar="K",
                        help="runs trained together in the fused row (default 30 on a GPU: 6 methods x 5 seeds; "
                             "6 on a CPU)")
    parser.add_argument("--frontend", metavar="NAME",
                        help="the front-end of the feature pass (default spectrogram; `serbench frontends`)")
    parser.add_argument("--frontend-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of --frontend, e.g. model=/path/to/wavlm-base-plus for ssl (repeatable)")
    add_plugin_option(parser)
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this pipeline, a row of the table (repeatable; docs/performance.md lists "
                             "them)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    parser.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    # imported here, not at the top: they load torch, and `--help` or a mistyped option should answer at once
    # (the preset and the pipeline names are checked here too, by BenchSetup and select_pipelines)
    from serbench.features.frontends import DEFAULT_FRONTEND, discover_frontends, make_frontend
    from serbench.method import parse_settings
    from serbench.runs.bench import BenchSetup, report, run_pipelines, select_pipelines
    from serbench.training import choose_device

    names = select_pipelines(args.only)
    device = choose_device(args.device)
    discover_frontends(args.plugin)
    settings = parse_settings(args.frontend_setting, "--frontend-setting")
    frontend = make_frontend(args.frontend or DEFAULT_FRONTEND, settings)
    console = Console()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="serbench-bench-") as tmp:
        setup = BenchSetup.create(Path(tmp), device=device, preset=args.preset, batch_size=args.batch_size,
                                  steps=args.steps, warmup=args.warmup, workers=args.workers,
                                  audio_minutes=args.audio_minutes,
                                  replicas=args.replicas or (30 if device.type == "cuda" else 6),
                                  frontend=frontend)
        with Console(stderr=True).status("") as status:
            results = run_pipelines(setup, names, on_start=lambda name: status.update(f"measuring {name}"))
        figures = report(setup, results, (load_before, os.getloadavg()[0]))
    console.print(table(figures))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(figures, indent=1) + "\n")
        except OSError as error:
            raise SerbenchError(f"cannot write the figures ({error.strerror})", path=args.json,
                                hint="give --json a path in a writable folder") from None
    return 0


def table(figures: dict) -> Table:
    """The figures of `report` as one table, with the settings in its title."""
    cuda = figures["device"].startswith("cuda")
    load = figures["load_average"]
    result = Table(title=f"serbench bench on {figures['device_name']} ({figures['device']}): {figures['method']}, "
                         f"preset {figures['preset']}, batch {figures['batch_size']}, {figures['steps']} timed "
                         f"steps after {figures['warmup']} warm-up, {figures['workers']} workers, "
                         f"{figures['replicas']} fused runs; feature pass of "
                         f"{figures['frontend']['frontend']} ({figures['frontend_hash']}); "
                         f"load average {load[0]:.2f} -> {load[1]:.2f}",
                   caption="ratio: segments/s over the conventional pipeline's, in this run. peak host MiB: this "
                           "process's resident high-water mark (ru_maxrss) when the row ended; it never goes "
                           "down, so it covers every row before it too, and not the DataLoader workers.")
    result.add_column("pipeline", no_wrap=True)
    result.add_column("what it measures")
    for column in ("speed", "ratio", "peak host MiB", *(["peak GPU MiB"] if cuda else [])):
        result.add_column(column, justify="right")
    result.add_column("notes")
    for name, row in figures["pipelines"].items():
        speed = (f"{row['x_real_time']:,.0f}x real time" if row["x_real_time"] is not None
                 else f"{row['segments_per_second']:,.0f} segments/s")
        ratio = f"{row['ratio_to_conventional']:.2f}x" if row["ratio_to_conventional"] is not None else "-"
        gpu = [f"{row['peak_gpu_mib']:,.0f}"] if cuda else []
        result.add_row(name, row["description"], speed, ratio, f"{row['peak_host_mib']:,.0f}", *gpu, row["notes"])
    return result
