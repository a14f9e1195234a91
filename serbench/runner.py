"""Runs: a sweep's grid (methods x protocol folds x tasks x seeds), each run trained, scored and stored.

A run is a pure function of its identity: method, resolved hyperparameters, protocol, fold, task, seed, the
content fingerprints of the corpora it reads, the front-end configuration and the serbench version. The run id
is a hash of that identity, so results are never mixed across data or configuration versions, and a sweep
re-launched after a crash skips every run already in the store.
"""

from __future__ import annotations

import platform
import resource
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from serbench import __version__
from serbench.cache import FeatureSet, build_features
from serbench.corpora import read_corpus
from serbench.errors import SerbenchError
from serbench.files import stable_hash
from serbench.frontend import DEFAULT_CONFIG, fit_normalizer
from serbench.labels import apply_task
from serbench.method import DOMAINS, Method, TaskSpec, build_method, discover_methods, get_method, resolve_hparams
from serbench.metrics import scores
from serbench.protocol import Fold, Protocol, load_protocol, split_utterances
from serbench.sources import SYNTHETIC, data_sources
from serbench.store import ResultsStore
from serbench.training import (
    SegmentSet,
    choose_device,
    fit,
    probe_accuracy,
    utterance_embeddings,
    utterance_posteriors,
)

OnEpoch = Callable[[int, int, dict[str, float]], None]  # (epoch, epochs, mean losses)


@dataclass(frozen=True)
class SweepConfig:
    """Everything `serbench run` was asked for: enough for any worker, on any machine, to plan the same runs."""

    methods: tuple[str, ...]
    protocol: str  # a built-in name or a file path
    tasks: tuple[str, ...] = ()  # empty: the protocol's tasks
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    data: str | None = None  # --data; None: $SERBENCH_DATA or ./serbench.toml
    results: str = "results"
    device: str = "auto"
    preset: str | None = None
    epochs: int | None = None
    hp: Mapping[str, str] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    skip_bad: bool = False
    cache: str | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "hp": dict(self.hp)}

    def absolute(self) -> SweepConfig:
        """The same sweep with every path made absolute, so workers started elsewhere read the same files."""
        def absolute(path: str | None) -> str | None:
            return None if path is None else str(Path(path).expanduser().resolve())

        data = self.data if self.data in (None, SYNTHETIC) else absolute(self.data)
        protocol = absolute(self.protocol) if Path(self.protocol).suffix == ".toml" else self.protocol
        return replace(self, data=data, protocol=protocol, results=absolute(self.results),
                       plugins=tuple(absolute(p) for p in self.plugins), cache=absolute(self.cache))

    @classmethod
    def from_dict(cls, data: Mapping) -> SweepConfig:
        sequences = ("methods", "tasks", "seeds", "plugins")
        return cls(**{k: tuple(v) if k in sequences else v for k, v in data.items()})


@dataclass
class CorpusData:
    """One corpus of a sweep: its utterance table (without skipped files) and its features."""

    name: str
    table: pd.DataFrame
    features: FeatureSet
    synthetic: bool

    @property
    def fingerprint(self) -> str:
        return self.features.meta["content_fingerprint"]


@dataclass(frozen=True)
class RunSpec:
    method: str
    hparams: Mapping[str, Any]
    protocol: Protocol
    fold: Fold
    task: str
    seed: int
    data: Mapping[str, str]  # corpus -> content fingerprint
    frontend: str  # FrontendConfig hash

    def identity(self) -> dict:
        return {"method": self.method, "hparams": dict(self.hparams), "protocol": self.protocol.to_dict(),
                "fold": self.fold.name, "task": self.task, "seed": self.seed, "data": dict(self.data),
                "frontend": self.frontend, "serbench": __version__}

    @property
    def run_id(self) -> str:
        return stable_hash(self.identity(), 20)

    def label(self) -> str:
        fold = f"/{self.fold.name}" if self.fold.name else ""
        return f"{self.method} {self.protocol.name}{fold} {self.task} seed {self.seed}"


@dataclass
class Sweep:
    """A planned sweep: its runs, and the data they read (loaded once, shared by all runs of a process)."""

    config: SweepConfig
    protocol: Protocol
    corpora: dict[str, CorpusData]
    runs: list[RunSpec]

    @property
    def synthetic(self) -> bool:
        return any(c.synthetic for c in self.corpora.values())


def load_corpora(protocol: Protocol, config: SweepConfig,
                 progress: Callable[[str], None] | None = None) -> dict[str, CorpusData]:
    """The protocol's corpora: their tables and features (computed into the cache on first use)."""
    sources = data_sources(config.data, config.cache)
    corpora = {}
    for name in protocol.corpora:
        if progress is not None:
            progress(f"features of {name}")
        corpus = read_corpus(name, sources.root(name), skip_bad=config.skip_bad)
        features = build_features(corpus, DEFAULT_CONFIG, cache_dir=config.cache, skip_bad=config.skip_bad)
        table = corpus.table[corpus.table["utterance_id"].isin(features.index["utterance_id"])]
        corpora[name] = CorpusData(name, table.reset_index(drop=True), features, sources.synthetic)
    return corpora


def method_hparams(methods: Sequence[str], config: SweepConfig) -> dict[str, dict[str, Any]]:
    """Each method's resolved hyperparameters. --preset and --epochs apply to every method; an --hp key
    applies to the methods that have it and must belong to at least one."""
    overrides: dict[str, Any] = dict(config.hp)
    if config.preset is not None:
        overrides["preset"] = config.preset
    if config.epochs is not None:
        overrides["epochs"] = config.epochs
    entries = [get_method(name) for name in methods]
    for key in overrides:
        if not any(key in entry.cls.hparams for entry in entries):
            raise SerbenchError(f"--hp {key}: none of the methods {', '.join(methods)} has this hyperparameter",
                                hint="`serbench methods` lists each method's hyperparameters")
    return {e.name: resolve_hparams(e, {k: v for k, v in overrides.items() if k in e.cls.hparams})
            for e in entries}


def plan(config: SweepConfig, progress: Callable[[str], None] | None = None) -> Sweep:
    """Expand the grid into runs; loads (and if needed computes) the features of the protocol's corpora."""
    registry = discover_methods(config.plugins)
    methods = tuple(sorted(registry)) if config.methods == ("all",) else config.methods
    protocol = load_protocol(config.protocol)
    tasks = config.tasks or protocol.tasks
    for task in tasks:
        protocol.task(task)  # an unknown task fails here, before any work
    hparams = method_hparams(methods, config)
    corpora = load_corpora(protocol, config, progress=progress)
    runs = [RunSpec(method, hparams[method], protocol, fold, task, seed,
                    {c: corpora[c].fingerprint for c in (*fold.train, *fold.test)}, DEFAULT_CONFIG.hash())
            for method in methods for fold in protocol.folds for task in tasks for seed in config.seeds]
    return Sweep(config, protocol, corpora, runs)


def segment_set(utterances: pd.DataFrame, corpora: Mapping[str, CorpusData],
                domains: Mapping[str, tuple[str, ...]]) -> tuple[SegmentSet, pd.DataFrame]:
    """The segments of `utterances` with their labels (domain labels as indices into `domains`), and the
    utterance table in the order of the set's utterance indices (sorted by corpus and id)."""
    utterances = utterances.sort_values(["corpus", "utterance_id"], kind="stable").reset_index(drop=True)
    segments, counts = [], []
    for corpus, rows in utterances.groupby("corpus", sort=True):
        features = corpora[str(corpus)].features
        ranges = features.index.set_index("utterance_id").loc[rows["utterance_id"]]
        counts.append((ranges["stop"] - ranges["start"]).to_numpy())
        segments.append(features.features[features.rows(rows["utterance_id"])])  # a copy, not the memory map
    per_utterance = np.concatenate(counts)

    def repeat(values: pd.Series | np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(values), per_utterance)

    labels = {d: repeat(utterances[d].map({v: i for i, v in enumerate(values)})) for d, values in domains.items()}
    return SegmentSet(np.concatenate(segments), repeat(np.arange(len(utterances))), repeat(utterances["y"]),
                      labels), utterances


def execute(spec: RunSpec, corpora: Mapping[str, CorpusData], device: str = "auto",
            on_epoch: OnEpoch | None = None) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Train and score one run: its record (JSON-ready) and its tables (predictions, split)."""
    started = time.time()
    task = spec.protocol.task(spec.task)
    split = split_utterances(pd.concat([corpora[c].table for c in dict.fromkeys((*spec.fold.train, *spec.fold.test))]),
                             spec.protocol, spec.fold, spec.seed)
    labelled = {str(c): apply_task(rows, task) for c, rows in split.groupby("corpus", sort=True)}
    used = pd.concat([part.table for part in labelled.values()])
    train, test = used[used["part"] == "train"], used[used["part"] == "test"]
    if train.empty or test.empty:
        raise SerbenchError(f"{spec.label()}: the {'training' if train.empty else 'test'} part has no utterance "
                            f"with a {spec.task} label", hint="check the protocol's corpora and label overrides")
    domains = {d: tuple(sorted(train[d].unique())) for d in DOMAINS}
    train_set, train = segment_set(train, corpora, domains)
    normalizer = fit_normalizer(train_set.segments)  # training utterances only
    train_set.segments = normalizer.apply(train_set.segments)
    test_set, test = segment_set(test, corpora, {})
    test_set.segments = normalizer.apply(test_set.segments)

    method = build_method(spec.method, TaskSpec(task.classes, domains, DEFAULT_CONFIG.shape), spec.hparams,
                          seed=spec.seed)
    epochs = method.hp["epochs"]
    fit_started = time.time()
    curves = fit(method, train_set, seed=spec.seed, device=device,
                 on_epoch=None if on_epoch is None else lambda epoch, losses: on_epoch(epoch, epochs, losses))
    fit_seconds = time.time() - fit_started
    posteriors = utterance_posteriors(method, test_set, device=device)
    predicted = posteriors.argmax(axis=1)
    probes = embedding_probes(method, test_set, test, device, spec.seed)

    predictions = test[["utterance_id", "corpus", "speaker", "gender", "y"]].assign(predicted=predicted)
    for k, name in enumerate(task.classes):
        predictions[f"p_{name}"] = posteriors[:, k]
    by_corpus = {str(c): scores(rows["y"].to_numpy(), rows["predicted"].to_numpy(), len(task.classes))
                 for c, rows in predictions.groupby("corpus", sort=True)}
    record = {
        "run_id": spec.run_id, "identity": spec.identity(),
        "method": spec.method, "protocol": spec.protocol.name, "fold": spec.fold.name, "task": spec.task,
        "seed": spec.seed, "classes": list(task.classes), "scores": by_corpus, "curves": curves,
        "synthetic": any(corpora[c].synthetic for c in spec.data),
        "split": {str(c): {"train_speakers": sorted(rows.loc[rows["part"] == "train", "speaker"].unique()),
                           "test_speakers": sorted(rows.loc[rows["part"] == "test", "speaker"].unique()),
                           "train_utterances": int((rows["part"] == "train").sum()),
                           "test_utterances": int((rows["part"] == "test").sum())}
                  for c, rows in used.groupby("corpus", sort=True)},
        "excluded": {c: part.excluded for c, part in labelled.items()},
        "probes": probes,
        "normalizer": normalizer.to_dict(),
        "provenance": provenance(choose_device(device), started, fit_seconds),
    }
    split_table = split[["utterance_id", "corpus", "speaker", "part"]].reset_index(drop=True)
    return record, {"predictions": predictions.reset_index(drop=True), "split": split_table}


PROBED = ("corpus", "gender")


def embedding_probes(method: Method, test_set: SegmentSet, test: pd.DataFrame, device: str,
                     seed: int) -> dict[str, dict] | None:
    """How well a post-hoc probe recovers each domain in PROBED from the test utterances' embeddings (logistic
    regression trained and scored on disjoint halves): what DANN claims to lower. None when the method exposes
    no embedding; a domain with one value in the test part is left out."""
    if type(method).embed is Method.embed:
        return None
    embeddings = utterance_embeddings(method, test_set, device=device)
    probes = {}
    for domain in PROBED:
        codes, values = pd.factorize(test[domain], sort=True)
        if len(values) > 1:
            probes[domain] = {"ua": probe_accuracy(embeddings, codes, seed=seed), "classes": len(values)}
    return probes


def provenance(device: torch.device, started: float, fit_seconds: float) -> dict:
    """Versions, device, git commit, timings and peak memory of a run."""
    import scipy

    peak_gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "versions": {"serbench": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__},
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()}, "
                  f"{torch.get_num_threads()} threads)",
        "host": socket.gethostname(), "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": {"total": time.time() - started, "training": fit_seconds},
        "peak_memory_mib": {"host": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gpu": peak_gpu},
        "argv": sys.argv,
    }


def git_commit() -> str | None:
    """The commit of the serbench source tree, when it is a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def work(sweep: Sweep, store: ResultsStore, device: str = "auto",
         on_run: Callable[[RunSpec, str], None] | None = None, on_epoch: OnEpoch | None = None) -> None:
    """Run every run of `sweep` that no one has finished or is running: claim, train, store. A run that
    raises is recorded as failed, with its traceback, and the sweep goes on."""
    store.clean()
    for spec in sweep.runs:
        if store.is_done(spec.run_id):
            continue
        with store.claim(spec.run_id) as mine:
            if not mine or store.is_done(spec.run_id):
                continue
            if on_run is not None:
                on_run(spec, "started")

            def epoch_done(epoch: int, epochs: int, losses: dict[str, float], run_id: str = spec.run_id) -> None:
                store.heartbeat(run_id)
                if on_epoch is not None:
                    on_epoch(epoch, epochs, losses)

            try:
                record, tables = execute(spec, sweep.corpora, device, epoch_done)
            except Exception:
                store.write_failure(spec.run_id, {**spec.identity(), "label": spec.label()}, traceback.format_exc())
                outcome = "failed"
            else:
                store.write_run(spec.run_id, record, tables)
                outcome = "done"
            if on_run is not None:
                on_run(spec, outcome)
