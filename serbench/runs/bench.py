"""`serbench bench`: how fast the front-end and the training pipelines run on this machine.

Each row of the table is a pipeline: a function registered with `@register_pipeline("name")` that takes a
BenchSetup and returns a Measurement (segments trained or computed, and the wall seconds of its timed part).
Everything is synthetic and seeded and written under a temporary directory, so no corpus is needed and two
machines run the same work. Timing is kept honest: warm-up steps are not timed, CUDA is synchronised before
the clock is read, and the segments counted are those actually trained. docs/performance.md describes each row
and the figures measured so far.
"""

from __future__ import annotations

import inspect
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, TensorDataset, get_worker_info

from serbench import __version__
from serbench.data.corpora.schema import Corpus, make_table
from serbench.errors import SerbenchError
from serbench.features.cache import build_features
from serbench.features.frontends import make_frontend
from serbench.features.frontends.base import FrontEnd
from serbench.features.frontends.spectrogram import DEFAULT_SETTINGS, segment_count, segment_spectrograms
from serbench.features.normalisation import Normaliser, fit_normaliser
from serbench.method import Batch, Method, TaskSpec, build_method, discover_methods
from serbench.methods.fusion import fit_fused
from serbench.methods.paper import PRESETS
from serbench.plugins import Registry
from serbench.training import FeatureBank, RowSet, fit

UTTERANCE_SECONDS = 4.0  # typical of acted emotional speech
METHOD = "baseline_s"  # the training step every training row times, but `fused`
FUSED_METHODS = ("baseline_s", "baseline_cs", "dann1_s", "dann1_cs", "dann2_s", "dann2_cs")  # the built-in family
PREFETCH = 2  # batches each DataLoader worker prepares ahead (torch's default prefetch_factor)
# Two arousal-like classes and a few labels per domain, so methods with domain adversaries build as well.
TASK = TaskSpec(classes=("low", "high"), domains={
    "speaker": tuple(f"s{i}" for i in range(8)),
    "corpus": ("iemocap", "msp-improv", "savee", "emodb"),
    "gender": ("F", "M"),
    "language": ("en", "de"),
})


@dataclass
class BenchSetup:
    """What every pipeline gets: the settings and the synthetic training data, the same for every row."""

    device: torch.device
    preset: str  # model preset of the timed method (serbench.methods.paper.PRESETS)
    batch_size: int
    steps: int  # timed training steps per pipeline
    warmup: int  # untimed steps before them
    workers: int  # DataLoader workers of the conventional pipeline
    audio_minutes: float  # audio of the feature pass
    replicas: int  # runs trained together by the fused pipeline
    frontend: FrontEnd  # the front-end of the feature pass (the training rows use the paper's segments)
    features: np.ndarray  # ((warmup + steps) * batch_size, 32, 129) float32, standard normal: one epoch
    emotion: np.ndarray  # (n,) int64 class index
    domains: dict[str, np.ndarray]  # TASK's domain name -> (n,) int64 label index
    tmp: Path  # a fresh directory, removed afterwards

    @classmethod
    def create(cls, tmp: Path, *, device: torch.device, preset: str = "paper", batch_size: int = 128,
               steps: int = 20, warmup: int = 3, workers: int = 2, audio_minutes: float = 10.0,
               replicas: int = 6, frontend: FrontEnd | None = None, seed: int = 0) -> BenchSetup:
        """Check the settings (a SerbenchError names the bad one) and draw the synthetic data from `seed`."""
        if preset not in PRESETS:
            raise SerbenchError(f"--preset {preset}: unknown model preset", hint=f"use one of: {', '.join(PRESETS)}")
        for option, value, least in [("--batch-size", batch_size, 1), ("--steps", steps, 1),
                                     ("--warmup", warmup, 0), ("--workers", workers, 0),
                                     ("--replicas", replicas, 1)]:
            if value < least:
                raise SerbenchError(f"{option} {value} is below {least}", hint=f"give {option} {least} or more")
        if not audio_minutes > 0:
            raise SerbenchError(f"--audio-minutes {audio_minutes} is not positive", hint="give e.g. 10")
        rng = np.random.default_rng(seed)
        n = (warmup + steps) * batch_size
        return cls(device, preset, batch_size, steps, warmup, workers, audio_minutes, replicas,
                   frontend=frontend or make_frontend(),
                   features=rng.standard_normal((n, *DEFAULT_SETTINGS.shape), dtype=np.float32),
                   emotion=rng.integers(len(TASK.classes), size=n),
                   domains={name: rng.integers(len(labels), size=n) for name, labels in TASK.domains.items()},
                   tmp=Path(tmp))


@dataclass
class Measurement:
    """What one pipeline did in its timed part; run_pipelines fills in the memory figures."""

    segments: int  # segments trained (the feature pass: computed)
    seconds: float  # wall time of the timed part
    audio_seconds: float | None = None  # audio processed, for a front-end row (reported as x real time)
    notes: str = ""
    peak_host_mib: float = 0.0  # ru_maxrss of this process when the row finished: a lifetime high-water mark
    peak_gpu_mib: float | None = None  # torch.cuda.max_memory_allocated during the row; None off CUDA

    @property
    def segments_per_second(self) -> float:
        return self.segments / self.seconds

    @property
    def x_real_time(self) -> float | None:
        return None if self.audio_seconds is None else self.audio_seconds / self.seconds


Pipeline = Callable[[BenchSetup], Measurement]
PIPELINES: Registry[Pipeline] = Registry("pipeline")  # in table order


def register_pipeline(name: str) -> Callable[[Pipeline], Pipeline]:
    """Decorator: add a pipeline as a row of the table (rows keep definition order). The first line of its
    docstring is the row's description."""

    def register(function: Pipeline) -> Pipeline:
        return PIPELINES.add(name, function)

    return register


def describe(name: str) -> str:
    """What the pipeline `name` measures: the first line of its docstring."""
    doc = inspect.getdoc(PIPELINES[name])
    return doc.splitlines()[0] if doc else ""


def select_pipelines(only: Iterable[str] = ()) -> list[str]:
    """The pipelines to run, in table order: all of them, or those named in `only` (--only)."""
    only = list(only)
    unknown = [name for name in only if name not in PIPELINES]
    if unknown:
        raise SerbenchError(f"unknown pipeline {', '.join(map(repr, unknown))}",
                            hint=f"--only takes one of: {', '.join(PIPELINES)}")
    return [name for name in PIPELINES if not only or name in only]


def run_pipelines(setup: BenchSetup, names: Iterable[str],
                  on_start: Callable[[str], None] | None = None) -> dict[str, Measurement]:
    """Run the pipelines one after another in this process and add their memory figures."""
    cuda = setup.device.type == "cuda"
    results = {}
    for name in names:
        if on_start is not None:
            on_start(name)
        if cuda:
            torch.cuda.reset_peak_memory_stats(setup.device)
        measurement = PIPELINES[name](setup)
        results[name] = replace(measurement, peak_host_mib=peak_host_mib(),
                                peak_gpu_mib=torch.cuda.max_memory_allocated(setup.device) / 2**20 if cuda else None)
    return results


def ratios(results: dict[str, Measurement]) -> dict[str, float | None]:
    """Each training row's segments/s over the conventional pipeline's; None without it, and for the feature
    pass, which does other work than a training step."""
    base = results.get("conventional")
    return {name: m.segments_per_second / base.segments_per_second if base and m.audio_seconds is None else None
            for name, m in results.items()}


def report(setup: BenchSetup, results: dict[str, Measurement], load_average: tuple[float, float]) -> dict:
    """Settings, machine and every row as a JSON-ready dict (the --json format); `load_average` is the 1-minute
    load average before and after the runs, so a busy machine shows."""
    ratio = ratios(results)
    device = setup.device
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "load_average": list(load_average),
        "torch": torch.__version__, "serbench": __version__, "method": METHOD,
        "preset": setup.preset, "batch_size": setup.batch_size, "steps": setup.steps, "warmup": setup.warmup,
        "workers": setup.workers, "audio_minutes": setup.audio_minutes, "replicas": setup.replicas,
        "frontend": setup.frontend.to_dict(), "frontend_hash": setup.frontend.hash(),
        "pipelines": {name: {"description": describe(name), "segments": m.segments, "seconds": m.seconds,
                             "segments_per_second": m.segments_per_second, "x_real_time": m.x_real_time,
                             "ratio_to_conventional": ratio[name], "peak_host_mib": m.peak_host_mib,
                             "peak_gpu_mib": m.peak_gpu_mib, "notes": m.notes}
                      for name, m in results.items()},
    }


def peak_host_mib() -> float:
    """This process's peak resident memory so far (ru_maxrss never goes down; DataLoader workers not included)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def speechlike_corpus(root: Path, minutes: float) -> Corpus:
    """A corpus of 16 kHz 16-bit WAVs of 4 s (a gliding tone under noise, so the spectrograms are not trivial),
    `minutes` long in all (at least one file); the same files for the same arguments."""
    rng = np.random.default_rng(0)
    samples = int(UTTERANCE_SECONDS * DEFAULT_SETTINGS.sample_rate)
    t = np.arange(samples) / DEFAULT_SETTINGS.sample_rate
    rows = []
    for i in range(max(1, round(minutes * 60 / UTTERANCE_SECONDS))):
        tone = np.sin(2 * np.pi * (150 + (50 * i) % 200) * t * (1 + 0.1 * t))
        audio = 0.3 * tone + 0.05 * rng.standard_normal(samples)
        path = root / "wav" / f"utt{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio.astype(np.float32), DEFAULT_SETTINGS.sample_rate, subtype="PCM_16")
        rows.append({"utterance_id": f"utt{i:05d}", "path": str(path), "corpus": "bench", "speaker": "bench:s",
                     "gender": "F", "locale": "en-US", "emotion_code": "neu", "emotion": "neutral"})
    return Corpus("bench", root, make_table(rows))


def bench_method(setup: BenchSetup) -> Method:
    """A fresh built-in baseline (same seed for every row), on the device and in training mode."""
    discover_methods()
    return build_method(METHOD, TASK, {"preset": setup.preset}, seed=0).to(setup.device).train()


def time_training(setup: BenchSetup, batches: Iterator[Batch], *, warmup: int | None = None,
                  notes: str = "") -> Measurement:
    """Train a fresh bench_method on `batches`: `warmup` untimed steps (default setup.warmup), then setup.steps
    timed ones. The clock covers fetching each batch as well as the step, and is read after a CUDA sync."""
    method = bench_method(setup)
    warmup = setup.warmup if warmup is None else warmup
    total = warmup + setup.steps
    segments, start = 0, 0.0
    for step in range(total):
        if step == warmup:
            _synchronize(setup.device)
            start = time.perf_counter()
        batch = next(batches)
        method.update(batch, step / total)
        if step >= warmup:
            segments += len(batch.inputs)
    _synchronize(setup.device)
    return Measurement(segments, time.perf_counter() - start, notes=notes)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _on_device(segments: Tensor, emotion: Tensor, domains: dict[str, Tensor], device: torch.device) -> Batch:
    return Batch(segments.to(device, non_blocking=True), emotion.to(device, non_blocking=True),
                 {name: labels.to(device, non_blocking=True) for name, labels in domains.items()},
                 torch.arange(len(segments), device=device))


@register_pipeline("features")
def feature_pass(setup: BenchSetup) -> Measurement:
    """the feature pass: WAV files -> complete feature cache (build_features) of --frontend"""
    corpus = speechlike_corpus(setup.tmp / "features-corpus", setup.audio_minutes)
    if setup.warmup:  # one untimed build first, into another cache root (a model front-end also loads here)
        build_features(corpus, setup.frontend, cache_dir=setup.tmp / "features-warmup")
    start = time.perf_counter()
    features = build_features(corpus, setup.frontend, cache_dir=setup.tmp / "features-timed")
    seconds = time.perf_counter() - start
    shape = " x ".join(map(str, setup.frontend.row_shape))
    return Measurement(features.meta["n_rows"], seconds, audio_seconds=features.meta["audio_seconds"],
                       notes=f"{setup.frontend.name} ({setup.frontend.kind}, rows {shape}); {len(corpus.table)} WAVs "
                             f"of 4 s, in the page cache; default jobs; fsyncs included")


class WavSegments(IterableDataset):
    """Research code as usual: each DataLoader worker reads its share of the WAV files with soundfile, computes
    their segments and normalises them, and yields them one by one for the default collate to batch. It goes
    through the files epoch after epoch (a new seeded order each time), so it never runs dry."""

    def __init__(self, paths: list[str], normaliser: Normaliser, seed: int = 0) -> None:
        self.paths, self.normaliser, self.seed = paths, normaliser, seed

    def __iter__(self) -> Iterator[tuple[Tensor, int, dict[str, int]]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = np.random.default_rng(self.seed)  # the same order in every worker; each takes its share
        while True:
            for i in rng.permutation(len(self.paths))[worker::workers].tolist():
                audio, _ = sf.read(self.paths[i], dtype="float32")
                segments = self.normaliser.apply(segment_spectrograms(audio))
                domains = {name: i % len(labels) for name, labels in TASK.domains.items()}
                for segment in segments:
                    yield torch.from_numpy(segment), i % len(TASK.classes), domains


@register_pipeline("conventional")
def conventional(setup: BenchSetup) -> Measurement:
    """WAVs read, cut and normalised in DataLoader workers -> training step"""
    # The first steps are slow (allocation, kernel selection) while the workers fill their prefetch queues; those
    # ready batches would come free in the timed steps, so the warm-up also uses them up.
    warmup = setup.warmup + PREFETCH * setup.workers
    per_file = segment_count(int(UTTERANCE_SECONDS * DEFAULT_SETTINGS.sample_rate), DEFAULT_SETTINGS)
    files = max(setup.workers, math.ceil((warmup + setup.steps) * setup.batch_size / per_file))
    corpus = speechlike_corpus(setup.tmp / "conventional", files * UTTERANCE_SECONDS / 60)
    paths = corpus.table["path"].tolist()
    normaliser = fit_normaliser(segment_spectrograms(sf.read(paths[0], dtype="float32")[0]))
    loader = DataLoader(WavSegments(paths, normaliser), batch_size=setup.batch_size, num_workers=setup.workers,
                        persistent_workers=setup.workers > 0, prefetch_factor=PREFETCH if setup.workers else None,
                        pin_memory=setup.device.type == "cuda")
    batches = (_on_device(segments, emotion, domains, setup.device) for segments, emotion, domains in loader)
    return time_training(setup, batches, warmup=warmup,
                         notes=f"workers: {setup.workers}; {files} WAVs of 4 s; warm-up +{PREFETCH * setup.workers} "
                               "steps (prefetched batches)")


@register_pipeline("host")
def host_memory(setup: BenchSetup) -> Measurement:
    """features in host memory, TensorDataset + shuffling DataLoader -> training step"""
    names = list(setup.domains)
    dataset = TensorDataset(torch.from_numpy(setup.features), torch.from_numpy(setup.emotion),
                            *(torch.from_numpy(setup.domains[name]) for name in names))
    loader = DataLoader(dataset, batch_size=setup.batch_size, shuffle=True, num_workers=0, drop_last=True,
                        pin_memory=setup.device.type == "cuda", generator=torch.Generator().manual_seed(0))
    batches = (_on_device(segments, emotion, dict(zip(names, domains, strict=True)), setup.device)
               for segments, emotion, *domains in loader)
    return time_training(setup, batches, notes="TensorDataset, shuffle=True, num_workers=0")


def _row_set(setup: BenchSetup, bank: FeatureBank, rows: np.ndarray, normaliser: Normaliser) -> RowSet:
    """Rows of the synthetic data as the harness reads them: shared bank, normalised per batch."""
    return RowSet(bank, np.arange(len(rows)), setup.emotion[rows],
                      {name: labels[rows] for name, labels in setup.domains.items()}, rows=rows, normaliser=normaliser)


def _harness_sets(setup: BenchSetup) -> tuple[RowSet, RowSet]:
    """The warm-up part (at least one batch: it also uploads the bank) and the timed part of the synthetic data,
    as two sets over one FeatureBank."""
    bank, normaliser = FeatureBank([setup.features]), fit_normaliser(setup.features)
    warm = setup.warmup * setup.batch_size
    return (_row_set(setup, bank, np.arange(max(warm, setup.batch_size)), normaliser),
            _row_set(setup, bank, np.arange(warm, len(setup.features)), normaliser))


@register_pipeline("resident")
def resident(setup: BenchSetup) -> Measurement:
    """one run as the harness trains it (training.fit): features on the device, no host sync in the step"""
    warm, timed = _harness_sets(setup)
    method = bench_method(setup)
    fit(method, warm, epochs=1, batch_size=setup.batch_size, device=setup.device)  # also uploads the bank
    _synchronize(setup.device)
    start = time.perf_counter()
    fit(method, timed, epochs=1, batch_size=setup.batch_size, device=setup.device)
    _synchronize(setup.device)
    return Measurement(setup.steps * setup.batch_size, time.perf_counter() - start,
                       notes="per-batch normalisation included; one sync per epoch (the loss curve)")


@register_pipeline("fused")
def fused(setup: BenchSetup) -> Measurement:
    """a sweep as the harness trains it with --fuse (serbench/methods/fusion.py): --replicas runs as one model"""
    warm, timed = _harness_sets(setup)
    names = [FUSED_METHODS[r % len(FUSED_METHODS)] for r in range(setup.replicas)]
    seeds = list(range(setup.replicas))

    def methods() -> list[Method]:
        return [build_method(name, TASK, {"preset": setup.preset, "epochs": 1}, seed=seed)
                for name, seed in zip(names, seeds, strict=True)]

    discover_methods()
    fit_fused(methods(), [warm] * setup.replicas, seeds, device=setup.device)  # warm-up, also uploads the bank
    fresh = methods()
    _synchronize(setup.device)
    start = time.perf_counter()
    fit_fused(fresh, [timed] * setup.replicas, seeds, device=setup.device)
    _synchronize(setup.device)
    return Measurement(setup.replicas * setup.steps * setup.batch_size, time.perf_counter() - start,
                       notes=f"{setup.replicas} runs of the six built-ins in turn; segments of all runs summed")
