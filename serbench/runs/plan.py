"""Planning a sweep: its grid (methods x protocol folds x tasks x seeds) expanded into runs, each with its identity.

A run is a pure function of its identity: method and a fingerprint of its code, resolved hyperparameters,
protocol, fold (with the speakers or sessions it tests), task, seed, the content fingerprints of the corpora it
reads, the front-end and its settings, and the serbench version. The run id is a hash of that identity, so
results are never mixed across data or configuration versions, and a sweep re-launched after a crash skips every
run already in the store.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from serbench import __version__
from serbench.data.corpora import read_corpus
from serbench.data.labels import PAPER_SUBSETS, apply_task, get_task, task_target
from serbench.data.sources import data_sources
from serbench.errors import SerbenchError
from serbench.features.cache import CACHE_FORMAT, FeatureSet, build_features
from serbench.features.frontends import make_frontend
from serbench.features.frontends.base import FrontEnd
from serbench.files import stable_hash
from serbench.method import (
    InputSpec,
    Method,
    check_input,
    check_target,
    discover_methods,
    get_method,
    resolve_hparams,
)
from serbench.plugins import Entry
from serbench.protocols.protocol import PROTOCOL_KEYS, Fold, Protocol, load_protocol, split_utterances
from serbench.runs.settings import MAX_EPOCHS, SweepConfig, hp_scope
from serbench.runs.store import variant_label
from serbench.training import (
    FeatureBank,
)

LoadProgress = Callable[[str, float, float | None], None]  # (what is being done, done, total or None if unknown)


def article(word: str) -> str:
    """The indefinite article before `word`: "an arousal", "an emotion4", "a valence" label."""
    return "an" if word[:1].lower() in tuple("aeiou") else "a"


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
    sources.require(protocol.corpora)  # every missing corpus in one error, before any is read
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
    for data, offset in zip(corpora.values(), bank.offsets, strict=False):
        data.bank, data.offset = bank, int(offset)
    return corpora


def method_hparams(methods: Sequence[str], config: SweepConfig) -> dict[str, list[dict[str, Any]]]:
    """Each method's variants: its resolved hyperparameters for every combination of its --hp values
    (SweepConfig.hp_grid). --epochs applies to every method trained in epochs and --preset to those with a model
    preset (the paper's family)."""
    entries = [get_method(name) for name in methods]
    check_hp_keys(entries, config)
    if config.preset is not None and not any("preset" in entry.cls.hparams for entry in entries):
        raise SerbenchError(f"--preset {config.preset}: none of {', '.join(methods)} has a model preset",
                            hint="--preset sizes the paper's CNN+BLSTM family; leave it out")
    if config.epochs is not None and not any("epochs" in entry.cls.hparams for entry in entries):
        raise SerbenchError(f"--epochs {config.epochs}: none of {', '.join(methods)} trains in epochs",
                            hint="they train in one call on the training part; leave --epochs out")
    variants = {}
    for entry in entries:
        fixed: dict[str, Any] = {}
        if config.epochs is not None and "epochs" in entry.cls.hparams:
            fixed["epochs"] = config.epochs
        if config.preset is not None and "preset" in entry.cls.hparams:
            fixed["preset"] = config.preset
        grid = config.hp_grid(entry.name)
        combinations = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
        variants[entry.name] = [resolve_hparams(entry, {**fixed, **chosen}) for chosen in combinations]
        longest = max(hp["epochs"] for hp in variants[entry.name]) if entry.cls.trains_in_steps() else 0
        if longest > MAX_EPOCHS:  # --epochs is checked with the sweep's settings; --hp and defaults here
            raise SerbenchError(f"method {entry.name!r}: epochs={longest} is more than {MAX_EPOCHS:,}, the most "
                                "epochs a run may train", hint=f"give --hp epochs={MAX_EPOCHS} or fewer")
    return variants


def check_hp_keys(entries: Sequence[Entry[Method]], config: SweepConfig) -> None:
    """An --hp key must belong to every method of the sweep, since applying it to some would run a grid nobody
    asked for; a key scoped to a method (`egemaps_svm.C`) to that method, which must be one of the sweep's."""
    names = [entry.name for entry in entries]
    for key in config.hp:
        scope, name = hp_scope(key)
        if scope is not None and scope not in names:
            raise SerbenchError(f"--hp {key}: {scope} is not a method of this sweep",
                                hint=f"scope the key to one of its methods ({', '.join(names)}), or add --method "
                                     f"{scope}")
        lacking = [entry.name for entry in entries if scope in (None, entry.name) and name not in entry.cls.hparams]
        hint = "`serbench methods NAME` lists a method's hyperparameters"
        if scope is None:
            hint = f"scope it to each method that has it (--hp METHOD.{name}=...); {hint}"
        if lacking:
            raise SerbenchError(f"--hp {key}: {', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no "
                                "such hyperparameter", hint=hint)


def sweep_protocol(config: SweepConfig) -> Protocol:
    """The sweep's protocol with the keys it sets (--normalisation, --adaptation, --selection), each value checked
    as the file's own would be (PROTOCOL_KEYS), then with the protocol's checks across keys; named with those that
    change it: `cross[normalisation=utterance]` (load_protocol)."""
    overrides = config.protocol_overrides()
    for key, value in overrides.items():
        problem = PROTOCOL_KEYS[key].problem(value)
        if problem is not None:
            raise SerbenchError(f"--{key} {value}: {problem}", hint="docs/protocols.md describes each value")
    protocol = load_protocol(config.protocol)  # the file's own errors are told as they are
    if not overrides:
        return protocol
    try:
        return load_protocol(config.protocol, overrides)
    except SerbenchError as error:
        given = " ".join(f"--{key} {value}" for key, value in overrides.items())
        raise SerbenchError(f"protocol {protocol.name} with {given}: {error.message}", path=error.path,
                            hint=error.hint) from None


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
    protocol = sweep_protocol(config)
    frontend = sweep_frontend(config, protocol)
    if protocol.normalisation == "utterance" and frontend.kind == "vectors":
        raise SerbenchError(f"protocol {protocol.name} normalises per utterance, and the {frontend.name} front-end "
                            "gives one row per utterance: standardised by itself, every feature would be 0",
                            hint="use a protocol that normalises per speaker, corpus or training part for vectors")
    spec = InputSpec(frontend.kind, frontend.row_shape)
    tasks = sweep_tasks(config, protocol)
    targets = {task: task_target(task) for task in tasks}
    if config.methods == ("all",):  # every method that takes this front-end's rows and predicts the tasks' targets
        methods = tuple(sorted(name for name, entry in registry.items() if spec.kind in entry.cls.inputs
                               and set(targets.values()) <= set(entry.cls.targets)))
    else:
        methods = config.methods
    for name in methods:
        check_input(get_method(name), spec, frontend.name)
        for task, target in targets.items():
            check_target(get_method(name), target, task)
    variants = method_hparams(methods, config)
    corpora, table, folds = protocol_data(protocol, config, frontend, progress)
    check_test_classes(protocol, tasks, table, folds)
    runs = [RunSpec(method, hparams, protocol, fold, task, seed,
                    {c: corpora[c].fingerprint for c in dict.fromkeys((*fold.train, *fold.test))},
                    frontend, get_method(method).code, variant_label(hparams, config.hp_grid(method)))
            for method in methods for hparams in variants[method] for fold in folds for task in tasks
            for seed in config.seeds]
    return Sweep(config, protocol, frontend, corpora, runs)


def sweep_tasks(config: SweepConfig, protocol: Protocol) -> tuple[str, ...]:
    """The sweep's tasks (the protocol's unless it names some), each checked: an unknown one fails here, before
    any data is read."""
    tasks = tuple(config.tasks or protocol.tasks)
    for task in tasks:
        protocol.check_task(task)
    return tasks


def protocol_data(protocol: Protocol, config: SweepConfig, frontend: FrontEnd, progress: LoadProgress | None = None
                  ) -> tuple[dict[str, CorpusData], pd.DataFrame, tuple[Fold, ...]]:
    """The protocol's corpora (their features cached on the way), all their utterances, and its folds."""
    corpora = load_corpora(protocol, config, frontend, progress=progress)
    table = pd.concat([c.table for c in corpora.values()], ignore_index=True)
    return corpora, table, protocol.make_folds(table)


def check_test_classes(protocol: Protocol, tasks: Sequence[str], table: pd.DataFrame,
                       folds: Sequence[Fold]) -> None:
    """Refuse a task under which a test corpus, over all the folds that test it, has fewer than two classes: with
    none every run fails, and with one a constant predictor scores UA 100% (one recall, of the one class). Making
    the folds' splits also runs the leakage guard, so shared speakers or audio are refused here, before any run."""
    tested = pd.concat([split_utterances(table, protocol, fold).query("part == 'test'") for fold in folds])
    subsets = PAPER_SUBSETS if protocol.paper_subsets else {}
    for task_name in (t for t in tasks if task_target(t) == "ratings"):
        check_test_ratings(protocol, task_name, tested)
    of_classes = [t for t in tasks if task_target(t) == "classes"]
    for task_name, (corpus, rows) in itertools.product(of_classes, tested.groupby("corpus", sort=True)):
        task = protocol.task(task_name, table)
        classes = sorted(apply_task(rows, task, subsets).table["label"].unique())
        if len(classes) < 2:
            present = f"only {classes[0]!r}" if classes else f"no utterance with {article(task_name)} {task_name} label"
            raise SerbenchError(f"protocol {protocol.name}, task {task_name}: the test utterances of {corpus} have "
                                f"{present}, so UA cannot rank anything there (a constant predictor would score "
                                f"{'100%' if classes else 'nothing'})", path=protocol.source or None,
                                hint=f"leave the task out (--task), test another corpus, or check {corpus}'s labels "
                                     "and the protocol's [labels] overrides")


def check_test_ratings(protocol: Protocol, task_name: str, tested: pd.DataFrame) -> None:
    """Refuse a dimensional task whose test corpora have no rating (every run would fail), or a test corpus whose
    ratings are one value (its CCC is undefined). A test corpus without ratings is left out of the runs' scores,
    its utterances counted as excluded (`no arousal rating`) in every record."""
    rating = get_task(task_name).rating
    assert rating is not None
    rated = tested[tested[rating].notna()]
    if rated.empty:
        raise SerbenchError(f"protocol {protocol.name}, task {task_name}: none of its test corpora "
                            f"({', '.join(sorted(tested['corpus'].unique()))}) has {rating} ratings",
                            path=protocol.source or None,
                            hint="test a corpus with ratings (IEMOCAP, MSP-IMPROV, MSP-Podcast, or a manifest with "
                                 "a rating column), or leave the task out (--task)")
    for corpus, rows in rated.groupby("corpus", sort=True):
        if rows[rating].nunique() < 2:
            raise SerbenchError(f"protocol {protocol.name}, task {task_name}: every rated test utterance of {corpus} "
                                f"has the {rating} rating {rows[rating].iloc[0]:g}, so no score can rank anything "
                                "there", path=protocol.source or None,
                                hint=f"check {corpus}'s ratings, or leave the task out (--task)")
