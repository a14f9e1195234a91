"""Runs: a sweep's grid (methods x protocol folds x tasks x seeds), each run trained, scored and stored.

A run is a pure function of its identity: method and a fingerprint of its code, resolved hyperparameters,
protocol, fold (with the speakers or sessions it tests), task, seed, the content fingerprints of the corpora it
reads, the front-end and its settings, and the serbench version. The run id
is a hash of that identity, so results are never mixed across data or configuration versions, and a sweep
re-launched after a crash skips every run already in the store.
"""

from __future__ import annotations

import itertools
import math
import platform
import resource
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from serbench import __version__
from serbench.data.corpora import read_corpus
from serbench.data.corpora.schema import LABEL_COLUMNS
from serbench.data.labels import PAPER_SUBSETS, Labelled, apply_task
from serbench.data.sources import SYNTHETIC, data_sources
from serbench.errors import SerbenchError
from serbench.features.cache import CACHE_FORMAT, FeatureSet, build_features
from serbench.features.frontends import make_frontend
from serbench.features.frontends.base import FrontEnd
from serbench.features.normalisation import Moments, Normaliser, normalisation_groups
from serbench.files import stable_hash
from serbench.method import (
    DOMAINS,
    InputSpec,
    Method,
    TaskSpec,
    build_method,
    check_input,
    discover_methods,
    get_method,
    resolve_hparams,
)
from serbench.metrics import scores
from serbench.protocols.protocol import PARTS, Fold, Protocol, load_protocol, split_reference, split_utterances
from serbench.runs.probes import embedding_probes
from serbench.runs.record import CorpusScores, RunRecord
from serbench.runs.store import ResultsStore, variant_label
from serbench.training import (
    BestValidation,
    EpochOracle,
    EpochSelection,
    FeatureBank,
    SegmentSet,
    choose_device,
    diverged,
    fit,
    held_out_epoch,
    utterance_posteriors,
)

OnEpoch = Callable[[int, int, dict[str, float]], None]  # (epoch, epochs, mean losses)
LoadProgress = Callable[[str, float, float | None], None]  # (what is being done, done, total or None if unknown)


MAX_SEED = 2**63 - 1  # the largest seed torch.manual_seed and numpy's generators both take
MAX_EPOCHS = 100_000  # the most epochs a run may train: more is a typo, or a run that never ends
# What a run may raise and still end as a failed run while the sweep goes on: any error, and a plugin's sys.exit.
# KeyboardInterrupt ends the sweep (finished runs are kept; the same command resumes).
RUN_ERRORS = (Exception, SystemExit)


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
    fuse: int = 1  # runs trained together at most (methods that can: Method.fusion_key)
    frontend: str | None = None  # --frontend; None: the protocol's
    frontend_settings: Mapping[str, str] = field(default_factory=dict)  # --frontend-setting KEY=VALUE

    def to_dict(self) -> dict:
        return {**asdict(self), "hp": dict(self.hp), "frontend_settings": dict(self.frontend_settings)}

    def check(self) -> None:
        """Refuse settings no sweep can run with, before anything is loaded: the one place they are checked
        (each hyperparameter's own range is checked by resolve_hparams when the sweep is planned)."""
        if not self.methods:
            raise SerbenchError("no method given", hint="name one with --method, or --method all")
        if "all" in self.methods and len(self.methods) > 1:
            raise SerbenchError("--method all cannot be combined with other methods")
        repeated = given_twice(self.methods)
        if repeated is not None:
            raise SerbenchError(f"--method {repeated} is given twice", hint="name each method once")
        if not self.seeds:
            raise SerbenchError("no seeds: the sweep would run nothing", hint="give --seeds 1 or more")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
                raise SerbenchError(f"seed {seed!r} is not an integer from 0 to {MAX_SEED}",
                                    hint="seeds seed numpy's and torch's generators, which take 64-bit values")
        repeated = given_twice(self.seeds)
        if repeated is not None:
            raise SerbenchError(f"seed {repeated} is given twice", hint="give each --seed once")
        for key, values in self.hp_grid().items():
            if "" in values:
                raise SerbenchError(f"--hp {key}={self.hp[key]}: an empty value",
                                    hint="write one value, or several separated by commas: --hp gamma=0.1,0.3")
            repeated = given_twice(values)
            if repeated is not None:
                raise SerbenchError(f"--hp {key}: the value {repeated} is given twice", hint="give each value once")
        if self.epochs is not None and self.epochs < 1:
            raise SerbenchError(f"--epochs {self.epochs}: a run trains for at least one epoch")
        if self.epochs is not None and self.epochs > MAX_EPOCHS:
            raise SerbenchError(f"--epochs {self.epochs}: more than {MAX_EPOCHS:,}, the most epochs a run may train",
                                hint=f"give --epochs {MAX_EPOCHS} or fewer")
        for option, path in (("--results", self.results), ("--data", self.data), ("--cache-dir", self.cache)):
            if path is not None and not path.strip():  # an empty path is the current folder
                raise SerbenchError(f"{option} {path!r}: an empty path would use the current folder",
                                    hint=f"name a folder (or file), or leave {option} out for its default")
        for option, key, value in (("--epochs", "epochs", self.epochs), ("--preset", "preset", self.preset)):
            if value is not None and key in self.hp:
                raise SerbenchError(f"{option} {value} and --hp {key}={self.hp[key]} both set {key}",
                                    hint="give one of them")
        if self.fuse < 1:
            raise SerbenchError(f"--fuse {self.fuse}: needs at least 1 (1 trains every run alone)")

    def hp_grid(self) -> dict[str, list[str]]:
        """--hp as a grid: `gamma=0.1,0.3` sweeps both values (every combination of the keys' values is run)."""
        return {key: [v.strip() for v in value.split(",")] for key, value in self.hp.items()}

    def absolute(self) -> SweepConfig:
        """The same sweep with every path made absolute, so workers started elsewhere read the same files."""
        def absolute(path: str | None) -> str | None:
            return None if path is None else str(Path(path).expanduser().resolve())

        data = self.data if self.data in (None, SYNTHETIC) else absolute(self.data)
        base, _ = split_reference(self.protocol)
        protocol = f"{absolute(base)}{self.protocol[len(base):]}" if base.endswith(".toml") else self.protocol
        return replace(self, data=data, protocol=protocol, results=absolute(self.results),
                       plugins=tuple(absolute(p) for p in self.plugins), cache=absolute(self.cache))

    @classmethod
    def from_dict(cls, data: Mapping) -> SweepConfig:
        sequences = ("methods", "tasks", "seeds", "plugins")
        return cls(**{k: tuple(v) if k in sequences else v for k, v in data.items()})


def article(word: str) -> str:
    """The indefinite article before `word`: "an arousal", "an emotion4", "a valence" label."""
    return "an" if word[:1].lower() in tuple("aeiou") else "a"


def given_twice(values: Sequence) -> Any:
    """The first value that occurs twice in `values` (None when each occurs once)."""
    seen = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


@dataclass
class CorpusData:
    """One corpus of a sweep: its utterance table (without skipped files) and its features, which are rows
    offset .. offset + len - 1 of the bank that all corpora of the sweep share."""

    name: str
    table: pd.DataFrame
    features: FeatureSet
    synthetic: bool
    excluded: dict[str, int] = field(default_factory=dict)  # files of the release that are not its utterances
    bank: FeatureBank | None = None
    offset: int = 0

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
    frontend: FrontEnd
    code: str  # the method's code fingerprint (serbench.plugins.Entry.code)
    variant: str = ""  # the settings the sweep chose with --hp, as `[gamma=0.5]`: shown, not part of the identity

    @property
    def name(self) -> str:
        """The method with its variant: `dann2_cs[gamma=0.5]`."""
        return self.method + self.variant

    def identity(self) -> dict:
        return {"method": self.method, "code": self.code, "hparams": dict(self.hparams),
                "protocol": self.protocol.to_dict(), "fold": asdict(self.fold), "task": self.task, "seed": self.seed,
                "data": dict(self.data),
                # the cache format: what the features mean beyond the front-end's settings (audio reading too)
                "frontend": {"name": self.frontend.name, "hash": self.frontend.hash(), "format": CACHE_FORMAT},
                "serbench": __version__}

    @property
    def run_id(self) -> str:
        return stable_hash(self.identity(), 20)

    def label(self) -> str:
        fold = f"/{self.fold.name}" if self.fold.name else ""
        return f"{self.name} {self.protocol.name}{fold} {self.task} seed {self.seed}"


@dataclass
class Sweep:
    """A planned sweep: its runs, and the data they read (loaded once, shared by all runs of a process)."""

    config: SweepConfig
    protocol: Protocol
    frontend: FrontEnd
    corpora: dict[str, CorpusData]
    runs: list[RunSpec]

    @property
    def synthetic(self) -> bool:
        return any(c.synthetic for c in self.corpora.values())


def load_corpora(protocol: Protocol, config: SweepConfig, frontend: FrontEnd,
                 progress: LoadProgress | None = None) -> dict[str, CorpusData]:
    """The protocol's corpora: their tables and features (computed into the cache on first use)."""
    sources = data_sources(config.data, config.cache)
    corpora = {}
    for name in protocol.corpora:
        def report(what: str, done: float, total: float | None, name: str = name) -> None:
            if progress is not None:
                progress(f"{what} of {name}", done, total)

        root = sources.root(name, progress=lambda done, total: report("generating the stand-in (utterances)",
                                                                       done, total))
        report("reading", 0, None)
        corpus = read_corpus(name, root, skip_bad=config.skip_bad)
        features = build_features(corpus, frontend, cache_dir=config.cache, skip_bad=config.skip_bad,
                                  progress=lambda done, total: report(f"{frontend.name} features (s of audio)",
                                                                      done, total))
        # the utterances with features, each with its audio's content hash (for the leakage guard)
        table = corpus.table.merge(features.index[["utterance_id", "sha256"]], on="utterance_id", validate="1:1")
        corpora[name] = CorpusData(name, table, features, sources.synthetic, corpus.excluded)
    bank = FeatureBank([c.features.features for c in corpora.values()])
    for corpus, offset in zip(corpora.values(), bank.offsets, strict=False):
        corpus.bank, corpus.offset = bank, int(offset)
    return corpora


def method_hparams(methods: Sequence[str], config: SweepConfig) -> dict[str, list[dict[str, Any]]]:
    """Each method's variants: its resolved hyperparameters for every combination of the --hp values. --epochs
    applies to every method trained in epochs and --preset to those with a model preset (the paper's family); an
    --hp key must belong to every method of the sweep, since applying it to some would run a grid nobody asked
    for."""
    entries = [get_method(name) for name in methods]
    for key in config.hp:
        lacking = [entry.name for entry in entries if key not in entry.cls.hparams]
        if lacking:
            raise SerbenchError(f"--hp {key}: {', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no such "
                                "hyperparameter", hint="sweep those methods separately; `serbench methods NAME` "
                                                       "lists a method's hyperparameters")
    if config.preset is not None and not any("preset" in entry.cls.hparams for entry in entries):
        raise SerbenchError(f"--preset {config.preset}: none of {', '.join(methods)} has a model preset",
                            hint="--preset sizes the paper's CNN+BLSTM family; leave it out")
    if config.epochs is not None and not any("epochs" in entry.cls.hparams for entry in entries):
        raise SerbenchError(f"--epochs {config.epochs}: none of {', '.join(methods)} trains in epochs",
                            hint="they train in one call on the training part; leave --epochs out")
    grid = config.hp_grid()
    combinations = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    variants = {}
    for entry in entries:
        fixed: dict[str, Any] = {}
        if config.epochs is not None and "epochs" in entry.cls.hparams:
            fixed["epochs"] = config.epochs
        if config.preset is not None and "preset" in entry.cls.hparams:
            fixed["preset"] = config.preset
        variants[entry.name] = [resolve_hparams(entry, {**fixed, **chosen}) for chosen in combinations]
        longest = max(hp["epochs"] for hp in variants[entry.name]) if entry.cls.trains_in_steps() else 0
        if longest > MAX_EPOCHS:  # --epochs is checked with the sweep's settings; --hp and defaults here
            raise SerbenchError(f"method {entry.name!r}: epochs={longest} is more than {MAX_EPOCHS:,}, the most "
                                "epochs a run may train", hint=f"give --hp epochs={MAX_EPOCHS} or fewer")
    return variants


def sweep_frontend(config: SweepConfig, protocol: Protocol) -> FrontEnd:
    """--frontend (with --frontend-setting) if given, else the protocol's front-end and settings; with the
    protocol's gain, which every front-end of its sweeps gets (docs/protocols.md)."""
    if config.frontend is None and config.frontend_settings:
        raise SerbenchError("--frontend-setting needs --frontend", hint="name the front-end they set")
    name, settings = ((protocol.frontend, dict(protocol.frontend_settings)) if config.frontend is None
                      else (config.frontend, dict(config.frontend_settings)))
    if str(settings.get("gain", protocol.gain)) != protocol.gain:
        raise SerbenchError(f"gain {settings['gain']} asked for the front-end, and the protocol {protocol.name} "
                            f"sets gain = {protocol.gain!r} for every front-end of its runs",
                            hint="leave the front-end's gain out (or use a protocol with that gain)")
    if protocol.gain != "as-recorded":  # else the front-end's settings, and so its hash, stay as they were
        settings["gain"] = protocol.gain
    try:
        return make_frontend(name, settings)
    except SerbenchError as error:
        if config.frontend is not None or error.path is not None:
            raise
        # the protocol's file chose the front-end: name it, not just the front-end
        raise SerbenchError(f"key 'frontend': {error.message}", path=protocol.source or None,
                            hint=error.hint) from None


def plan(config: SweepConfig, progress: LoadProgress | None = None) -> Sweep:
    """Expand the grid into runs; loads (and if needed computes) the features of the protocol's corpora.
    Every setting is checked before any data is loaded."""
    config.check()
    registry = discover_methods(config.plugins)
    protocol = load_protocol(config.protocol)
    frontend = sweep_frontend(config, protocol)
    if protocol.normalisation == "utterance" and frontend.kind == "vectors":
        raise SerbenchError(f"protocol {protocol.name} normalises per utterance, and the {frontend.name} front-end "
                            "gives one row per utterance: standardised by itself, every feature would be 0",
                            hint="use a protocol that normalises per speaker, corpus or training part for vectors")
    spec = InputSpec(frontend.kind, frontend.row_shape)
    if config.methods == ("all",):  # every method that takes this front-end's rows
        methods = tuple(sorted(name for name, entry in registry.items() if spec.kind in entry.cls.inputs))
    else:
        methods = config.methods
    for name in methods:
        check_input(get_method(name), spec, frontend.name)
    tasks = config.tasks or protocol.tasks
    for task in tasks:
        protocol.check_task(task)  # an unknown task fails here, before any work
    variants = method_hparams(methods, config)
    corpora = load_corpora(protocol, config, frontend, progress=progress)
    table = pd.concat([c.table for c in corpora.values()], ignore_index=True)
    folds = protocol.make_folds(table)
    check_test_classes(protocol, tasks, table, folds)
    runs = [RunSpec(method, hparams, protocol, fold, task, seed,
                    {c: corpora[c].fingerprint for c in dict.fromkeys((*fold.train, *fold.test))},
                    frontend, get_method(method).code, variant_label(hparams, config.hp))
            for method in methods for hparams in variants[method] for fold in folds for task in tasks
            for seed in config.seeds]
    return Sweep(config, protocol, frontend, corpora, runs)


def check_test_classes(protocol: Protocol, tasks: Sequence[str], table: pd.DataFrame,
                       folds: Sequence[Fold]) -> None:
    """Refuse a task under which a test corpus, over all the folds that test it, has fewer than two classes: with
    none every run fails, and with one a constant predictor scores UA 100% (one recall, of the one class). Making
    the folds' splits also runs the leakage guard, so shared speakers or audio are refused here, before any run."""
    tested = pd.concat([split_utterances(table, protocol, fold).query("part == 'test'") for fold in folds])
    subsets = PAPER_SUBSETS if protocol.paper_subsets else {}
    for task_name, (corpus, rows) in itertools.product(tasks, tested.groupby("corpus", sort=True)):
        task = protocol.task(task_name, table)
        classes = sorted(apply_task(rows, task, subsets).table["label"].unique())
        if len(classes) < 2:
            present = f"only {classes[0]!r}" if classes else f"no utterance with {article(task_name)} {task_name} label"
            raise SerbenchError(f"protocol {protocol.name}, task {task_name}: the test utterances of {corpus} have "
                                f"{present}, so UA cannot rank anything there (a constant predictor would score "
                                f"{'100%' if classes else 'nothing'})", path=protocol.source or None,
                                hint=f"leave the task out (--task), test another corpus, or check {corpus}'s labels "
                                     "and the protocol's [labels] overrides")


def segment_set(utterances: pd.DataFrame, corpora: Mapping[str, CorpusData], domains: Mapping[str, tuple[str, ...]],
                normalisation: SplitNormaliser, kind: str, *, labelled: bool = True) -> tuple[SegmentSet, pd.DataFrame]:
    """The rows of `utterances` (rows of the corpora's shared bank, nothing copied) with their labels
    (domain labels as indices into `domains`; no emotion labels unless `labelled`), normalised by their groups,
    and the utterance table in the order of the set's utterance indices (sorted by corpus and id)."""
    utterances = utterances.sort_values(["corpus", "utterance_id"], kind="stable").reset_index(drop=True)
    rows, counts = [], []
    for corpus, part in utterances.groupby("corpus", sort=True):
        data = corpora[str(corpus)]
        ranges = data.features.index.set_index("utterance_id").loc[part["utterance_id"]]
        counts.append((ranges["stop"] - ranges["start"]).to_numpy())
        rows.append(data.offset + data.features.rows(part["utterance_id"]))
    per_utterance = np.concatenate(counts)

    def repeat(values: pd.Series | np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(values), per_utterance)

    labels = {d: repeat(utterances[d].map({v: i for i, v in enumerate(values)})) for d, values in domains.items()}
    bank = next(iter(corpora.values())).bank
    groups = repeat(normalisation.group_of(utterances))
    return SegmentSet(bank, repeat(np.arange(len(utterances))), repeat(utterances["y"]) if labelled else None,
                      labels, rows=np.concatenate(rows), normaliser=normalisation.normaliser,
                      norm_group=groups, kind=kind), utterances


@dataclass
class SplitNormaliser:
    """A run's normaliser and which of its groups each utterance (corpus, utterance id) belongs to."""

    normaliser: Normaliser
    groups: pd.Series  # (corpus, utterance_id) -> row of the normaliser's statistics

    def group_of(self, utterances: pd.DataFrame) -> np.ndarray:
        return self.groups.loc[list(zip(utterances["corpus"], utterances["utterance_id"], strict=True))].to_numpy()


def fit_split_normaliser(split: pd.DataFrame, corpora: Mapping[str, CorpusData], mode: str) -> SplitNormaliser:
    """The protocol's normalisation for a split: each group's statistics from its utterances' audio (every
    utterance of the group, whatever its label; under `training`, the training part's only)."""
    names, contributes = normalisation_groups(split, mode)
    codes, groups = pd.factorize(names, sort=True)
    codes = pd.Series(codes, index=split.index)
    moments, owners = [], []
    for corpus, rows in split[contributes].groupby("corpus", sort=True):
        moments.append(corpora[str(corpus)].features.moments(rows["utterance_id"]))
        owners.append(codes[rows.index].to_numpy())
    merged = Moments.concat(moments).merge(np.concatenate(owners), len(groups))
    keys = pd.MultiIndex.from_arrays([split["corpus"], split["utterance_id"]])
    feature_shape = next(iter(corpora.values())).features.feature_shape
    return SplitNormaliser(Normaliser.from_moments(merged, tuple(groups), mode, feature_shape),
                         pd.Series(codes.to_numpy(), index=keys))


@dataclass
class PreparedRun:
    """A run ready to train: its data (split, labelled, normalised, and the unlabelled adaptation audio where the
    protocol allows it), its freshly built method, and what its record needs afterwards."""

    spec: RunSpec
    classes: tuple[str, ...]
    split: pd.DataFrame
    labelled: dict[str, Labelled]
    train_set: SegmentSet
    test_set: SegmentSet
    adaptation_set: SegmentSet | None
    validation_set: SegmentSet | None  # training speakers held out, where the protocol asks for it
    # selection = "leave-one-corpus-out": per training corpus, (the other training corpora, its own training part)
    held_out: dict[str, tuple[SegmentSet, SegmentSet]]
    test: pd.DataFrame
    method: Method
    normaliser: Normaliser
    synthetic: bool
    started: float


def prepare(spec: RunSpec, corpora: Mapping[str, CorpusData]) -> PreparedRun:
    """Split, label and normalise a run's data and build its method (seeded by the run's seed)."""
    started = time.time()
    protocol = spec.protocol
    table = pd.concat([corpora[c].table for c in dict.fromkeys((*spec.fold.train, *spec.fold.test))],
                      ignore_index=True)
    task = protocol.task(spec.task, table)  # the same for every fold: `categorical` reads the whole corpus
    split = split_utterances(table, protocol, spec.fold)
    subsets = PAPER_SUBSETS if protocol.paper_subsets else {}
    labelled = {str(c): apply_task(rows, task, subsets) for c, rows in split.groupby("corpus", sort=True)}
    for name, part in labelled.items():  # what the release holds but its reader left out (RAVDESS's songs) too
        part.excluded = {**corpora[name].excluded, **part.excluded}
    used = pd.concat([part.table for part in labelled.values()])
    train, test = used[used["part"] == "train"], used[used["part"] == "test"]
    if train.empty or test.empty:
        raise SerbenchError(f"{spec.label()}: the {'training' if train.empty else 'test'} part has no utterance "
                            f"with {article(spec.task)} {spec.task} label",
                            hint="check the protocol's corpora and label overrides")
    # Adaptation audio: every test-part utterance, whatever its label, with the labels dropped (transductive, as
    # in Ganin & Lempitsky; docs/protocols.md says why).
    pool = split[split["part"] == "test"].drop(columns=list(LABEL_COLUMNS)) \
        if protocol.adaptation == "unlabelled-test" else None
    domain_source = train if pool is None else pd.concat([train, pool])
    domains = {d: tuple(sorted(domain_source[d].unique())) for d in DOMAINS}
    normalisation = fit_split_normaliser(split, corpora, protocol.normalisation)
    kind = spec.frontend.kind
    train_set, _ = segment_set(train, corpora, domains, normalisation, kind)
    test_set, test = segment_set(test, corpora, {}, normalisation, kind)
    validation = used[used["part"] == "validation"]
    validation_set = segment_set(validation, corpora, {}, normalisation, kind)[0] if len(validation) else None
    pool_set = segment_set(pool, corpora, domains, normalisation, kind, labelled=False)[0] \
        if pool is not None else None
    held_out = {}
    if protocol.selection == "leave-one-corpus-out":
        if train["corpus"].nunique() < 2:
            raise SerbenchError(f"{spec.label()}: leave-one-corpus-out selection needs two training corpora with "
                                f"{article(spec.task)} {spec.task} label, and this fold has "
                                f"{train['corpus'].nunique()}", hint="train on more corpora, or choose another "
                                                                    "selection in the protocol")
        # The held-out models read the run's domains and normalisation: never a held-out corpus's labels.
        held_out = {str(c): (segment_set(train[train["corpus"] != c], corpora, domains, normalisation, kind)[0],
                             segment_set(train[train["corpus"] == c], corpora, {}, normalisation, kind)[0])
                    for c in sorted(train["corpus"].unique())}
    method = build_method(spec.method, TaskSpec(task.classes, domains, InputSpec(kind, spec.frontend.row_shape)),
                          spec.hparams, seed=spec.seed)
    return PreparedRun(spec, task.classes, split, labelled, train_set, test_set, pool_set, validation_set, held_out,
                       test, method, normalisation.normaliser, any(corpora[c].synthetic for c in spec.data), started)


def finish(run: PreparedRun, curves: list[dict[str, float]], fit_seconds: float, device: str,
           fused: int = 1) -> tuple[RunRecord, dict[str, pd.DataFrame]]:
    """Score a trained run on its test part: its record (JSON-ready) and its tables (predictions, split).
    `fused` is how many runs were trained together with this one (1: alone), kept in the provenance."""
    spec, classes, test = run.spec, run.classes, run.test
    for epoch, losses in enumerate(curves):  # the fused trainer's runs are checked here, lone runs in fit too
        for term, value in losses.items():
            if not math.isfinite(value):
                raise diverged(term, value, epoch)
    posteriors = utterance_posteriors(run.method, run.test_set, device=device)
    if not np.isfinite(posteriors).all():  # argmax would silently make them class 0
        raise SerbenchError(f"the method predicted NaN or infinite posteriors for "
                            f"{int((~np.isfinite(posteriors)).any(axis=1).sum())} of {len(posteriors)} test "
                            "utterances", hint="a plugin's predict must return probabilities")
    predicted = posteriors.argmax(axis=1)
    probes = embedding_probes(run.method, run.test_set, test, device, spec.seed)

    predictions = test[["utterance_id", "corpus", "speaker", "gender", "y"]].assign(predicted=predicted)
    for k, name in enumerate(classes):
        predictions[f"p_{name}"] = posteriors[:, k]
    by_corpus = {}
    for corpus, rows in predictions.groupby("corpus", sort=True):
        y, decided = rows["y"].to_numpy(), rows["predicted"].to_numpy()
        # A model that gives every test utterance of a corpus one class has learnt nothing there: its UA is chance
        # by construction, and the summaries and leaderboards flag it.
        by_corpus[str(corpus)] = CorpusScores(**scores(y, decided, len(classes)),
                                              collapsed=bool(len(set(decided)) == 1 and len(set(y)) > 1))
    used = pd.concat([part.table for part in run.labelled.values()])
    parts = [part for part in PARTS if part != "validation" or run.validation_set is not None]
    record = RunRecord(
        run_id=spec.run_id, identity=spec.identity(), method=spec.method, protocol=spec.protocol.name,
        fold=spec.fold.name, task=spec.task, seed=spec.seed, frontend=spec.frontend.name, classes=list(classes),
        scores=by_corpus, curves=curves, selection={"policy": spec.protocol.selection, **run.method.selection},
        synthetic=run.synthetic,
        split={str(c): split_summary(rows, parts) for c, rows in used.groupby("corpus", sort=True)},
        excluded={c: part.excluded for c, part in run.labelled.items()},
        adaptation={"setting": spec.protocol.adaptation, "read_by_method": run.method.uses_adaptation,
                    "utterances": run.adaptation_set.n_utterances if run.adaptation_set is not None else 0},
        normalisation={**run.normaliser.summary(), "uses_test_audio": spec.protocol.uses_test_audio},
        probes=probes,
        provenance={**provenance(choose_device(device), run.started, fit_seconds), "fused_runs": fused},
    )
    split_table = run.split[["utterance_id", "corpus", "speaker", "part"]].reset_index(drop=True)
    return record, {"predictions": predictions.reset_index(drop=True), "split": split_table}


def split_summary(rows: pd.DataFrame, parts: Sequence[str]) -> dict[str, Any]:
    """The speakers and utterance counts of each part of one corpus's labelled utterances."""
    summary: dict[str, Any] = {}
    for part in parts:
        chosen = rows[rows["part"] == part]
        summary[f"{part}_speakers"] = sorted(chosen["speaker"].unique())
        summary[f"{part}_utterances"] = len(chosen)
    return summary


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


def fusion_groups(runs: Sequence[RunSpec], width: int) -> list[list[RunSpec]]:
    """The runs in groups that train together (same fold and task, equal Method.fusion_key, at most `width`
    each), in the order of their first run; a run that cannot be fused is a group of its own."""
    groups: list[list[RunSpec]] = []
    open_groups: dict[tuple, list[RunSpec]] = {}
    for spec in runs:
        cls = get_method(spec.method).cls
        key = cls.fusion_key(spec.hparams, adaptation=spec.protocol.adaptation != "none") if width > 1 else None
        slot = (spec.fold.name, spec.task, cls.fit_fused, key)  # one trainer per group
        group = open_groups.get(slot) if key is not None else None
        if group is None or len(group) == width:
            group = []
            groups.append(group)
            if key is not None:
                open_groups[slot] = group
        group.append(spec)
    return groups


def work(sweep: Sweep, store: ResultsStore, device: str = "auto",
         on_start: Callable[[list[RunSpec]], None] | None = None,
         on_done: Callable[[RunSpec, str], None] | None = None, on_epoch: OnEpoch | None = None,
         on_step: Callable[[float], None] | None = None) -> None:
    """Run every run of `sweep` that no one has finished or is running: claim, train (alone, or fused with
    others up to --fuse where the method can: Method.fusion_key), store. A run that raises is recorded as
    failed, with its traceback, and the sweep goes on. on_start gets each group of runs as it starts, on_done
    each run with "done" or "failed", on_epoch and on_step (epochs done, within an epoch too) follow a group's
    first run."""
    store.clean()
    for group in fusion_groups(sweep.runs, sweep.config.fuse):
        with ExitStack() as claims:
            mine = []
            for spec in group:
                if not store.is_done(spec.run_id) and claims.enter_context(store.claim(spec.run_id)) \
                        and not store.is_done(spec.run_id):
                    mine.append(spec)
            if not mine:
                continue
            if on_start is not None:
                on_start(mine)
            train_group(mine, sweep.corpora, store, device, on_done or (lambda spec, outcome: None), on_epoch,
                        on_step)


def train_group(specs: list[RunSpec], corpora: Mapping[str, CorpusData], store: ResultsStore, device: str,
                on_done: Callable[[RunSpec, str], None], on_epoch: OnEpoch | None,
                on_step: Callable[[float], None] | None = None) -> None:
    """Prepare, train and store claimed runs: fused where there are several (each with at least one full batch
    of training segments), alone otherwise. Every run ends stored or recorded as failed."""

    def failed(spec: RunSpec) -> None:  # called while handling the run's exception
        error = sys.exc_info()[1]
        message = (str(error) if isinstance(error, SerbenchError) else
                   f"the method called sys.exit({error.code!r})" if isinstance(error, SystemExit) else
                   f"{type(error).__name__}: {error}")
        store.write_failure(spec.run_id, {**spec.identity(), "label": spec.label()}, traceback.format_exc(),
                            message)
        on_done(spec, "failed")

    def store_run(run: PreparedRun, curves: list[dict[str, float]], seconds: float, fused: int) -> None:
        try:
            record, tables = finish(run, curves, seconds, device, fused)
        except RUN_ERRORS:
            failed(run.spec)
        else:
            store.write_run(run.spec.run_id, record, tables)
            on_done(run.spec, "done")

    def epoch_done(first: bool, epoch: int, epochs: int, losses: dict[str, float]) -> None:
        for spec in specs:  # claims on other hosts go stale without a heartbeat
            store.heartbeat(spec.run_id)
        if first and on_epoch is not None:  # the display follows the group's first run
            on_epoch(epoch, epochs, losses)

    prepared = []
    for spec in specs:
        try:
            prepared.append(prepare(spec, corpora))
        except RUN_ERRORS:
            failed(spec)
    fused = [run for run in prepared if can_fuse(run)] if len(prepared) > 1 else []
    fused = fused if len(fused) > 1 else []
    for run in [run for run in prepared if run not in fused]:
        epochs, first = run.method.hp.get("epochs", 1), run is prepared[0]
        protocol, spec = run.spec.protocol, run.spec
        oracle = EpochOracle(run.test_set, run.test["corpus"].to_numpy()) if protocol.oracle else None
        started = time.time()
        try:
            selection: EpochSelection | None = None
            if protocol.selection == "best-validation":
                selection = BestValidation(protocol.patience)
            elif run.held_out and run.method.trains_in_steps():  # one-call methods choose by their own rule
                selection = held_out_epoch(
                    partial(build_method, spec.method, run.method.task, spec.hparams, seed=spec.seed), run.held_out,
                    adaptation=run.adaptation_set, seed=spec.seed, device=device,
                    on_epoch=lambda epoch, losses, epochs=epochs: epoch_done(False, epoch, epochs, losses))
            curves = fit(run.method, run.train_set, adaptation=run.adaptation_set, seed=run.spec.seed,
                         device=device, validation=run.validation_set, selection=selection, oracle=oracle,
                         on_step=on_step if first else None,
                         on_epoch=lambda epoch, losses, first=first, epochs=epochs: epoch_done(
                             first, epoch, epochs, losses))
        except RUN_ERRORS:
            failed(run.spec)
        else:
            if oracle is not None and oracle.best:  # a method fitted in one call has no epochs to choose from
                run.method.selection = {**run.method.selection, "oracle": oracle.best}
            store_run(run, curves, time.time() - started, 1)
    if fused:
        started = time.time()
        try:
            histories = type(fused[0].method).fit_fused(
                [run.method for run in fused], [run.train_set for run in fused], [run.spec.seed for run in fused],
                adaptation=[run.adaptation_set for run in fused], device=choose_device(device),
                on_epoch=lambda r, epoch, losses: epoch_done(r == 0, epoch, fused[r].method.hp["epochs"], losses))
        except RUN_ERRORS:
            for run in fused:
                failed(run.spec)
        else:
            seconds = time.time() - started
            for run, curves in zip(fused, histories, strict=True):
                store_run(run, curves, seconds, len(fused))


def can_fuse(run: PreparedRun) -> bool:
    """Fused replicas step in lockstep on full batches: a run with less than one full batch of training segments
    (or of adaptation audio, where its method reads it), with a validation part, held-out training corpora to
    choose its epoch on, or under a test oracle trains alone: the fused trainer neither stops replicas one by one
    nor looks at them between epochs."""
    batch_size = run.method.hp["batch_size"]
    pool = run.adaptation_set if run.method.uses_adaptation else None
    return (len(run.train_set) >= batch_size and (pool is None or len(pool) >= batch_size)
            and run.validation_set is None and not run.held_out and not run.spec.protocol.oracle)
