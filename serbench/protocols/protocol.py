"""Protocols: declarative TOML files saying which corpora train, which test, how speakers are split, what a
method may see of the test corpora, and how features are normalised.

A protocol file (see protocols/*.toml and docs/protocols.md) holds:
    description = "..."                    one line, shown by `serbench protocols`
    tasks = ["arousal", "valence"]         the label tasks it is scored on by default
    split = "corpus"                       whole corpora: train = [...], test = [...]
          | "speaker-folds"                corpora = [...], folds = 5: speaker-grouped K-fold cross-validation
          | "leave-one-corpus-out"         corpora = [...]: one fold per corpus
          | "leave-one-speaker-out"        corpora = [...]: one fold per speaker
          | "leave-one-session-out"        corpora = [...]: one fold per recording session
          | "official"                     corpora = [...], the releases' own partitions (the table's `split`):
    [splits]                                 train = ["Train"], test = ["Test1"], validation = ["Development"]
    validation = 0.2                       optional, other splits: this share of each training corpus's speakers
                                           (sessions where the corpus is split by session) is held out of training
                                           as a validation part a method may use (Method.after_epoch); off by default
    selection = "last"                     the model a run keeps: its schedule's last epoch, or "best-validation":
    patience = 5                             the epoch with the best UA on the validation part (which it needs),
                                             training stopped after `patience` epochs without a better one, or
                                             "leave-one-corpus-out": the epoch with the best mean UA on each
                                             training corpus, held out of a model trained on the others
    oracle = false                         true: also record, per test corpus, the epoch with the best test UA, as
                                             a labelled upper bound on the pages (never chosen, never kept)
    adaptation = "none"                    domain generalisation: training corpora only
               | "unlabelled-test"         the test part's audio and domain metadata (never emotion labels)
    normalisation = "speaker"              "training", "corpus", "speaker" or "utterance" statistics
    gain = "as-recorded"                   each file's level as recorded, or "peak": scaled to a peak of 1, for
                                             every front-end of the sweep (serbench.data.audio.GAINS)
    frontend = "spectrogram"               the default front-end, or a table: { name = "logmel", n_mels = 40 }
    paper_subsets = true                   IEMOCAP's and MSP-IMPROV's four-category subsets, as the paper
    [groups]                               optional, speaker-folds: what a fold holds out of a corpus
    mycorpus = "session"                   "speaker" or "session" (default: the corpus's own, see below)
    [labels.valence]                       optional overrides of the label table, per task:
    neutral = "negative"                   emotion = class, or "" to leave the emotion out
    [parameters]                           optional: a template, `{corpus}` in any string is replaced by the value
    corpus = "the corpus"                    given with its name, `within[corpus=emodb]` (every parameter, once)
Corpus names are the built-in ones or names given in a data configuration (manifests).

Folds are made from the data (make_folds): which speakers and sessions exist is only known once the corpora are
read. Every split is deterministic, so a fold always tests the same speakers and seeds only change training.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serbench.data.audio import GAINS
from serbench.data.corpora import CORPORA
from serbench.data.labels import CATEGORICAL, PAPER_SUBSETS, TASKS, Task, get_task
from serbench.errors import SerbenchError
from serbench.features.frontends import DEFAULT_FRONTEND
from serbench.features.normalisation import NORMALISATIONS
from serbench.files import read_toml, stable_hash
from serbench.metrics import MAIN_METRIC, METRICS

SPLITS = ("corpus", "speaker-folds", "leave-one-corpus-out", "leave-one-speaker-out", "leave-one-session-out",
          "official")
PARTS = ("train", "validation", "test")
PART_NAMES = {"train": "training", "validation": "validation", "test": "test"}
# What a protocol may say of adaptation and model selection, each with the words the pages use (normalisation's
# are beside its code, serbench.features.normalisation).
ADAPTATIONS = {
    "none": "domain generalisation: training sees the training corpora only",
    "unlabelled-test": "adaptation to the test corpora: methods that read it (the DANN systems) train on the test "
                       "part's audio and its metadata too, never on its emotion labels: their domain classifiers "
                       "learn the test utterances' corpus, speaker, gender and language, so DANN_1's speaker head "
                       "is trained on the test speakers' identities",
}
SELECTIONS = {
    "last": "the last epoch of each method's fixed schedule",
    "best-validation": "the epoch with the best UA on the validation speakers, early stopping after {patience} "
                       "epochs without a better one",
    "leave-one-corpus-out": "the epoch with the best mean UA over the training corpora, each held out of a model "
                            "trained on the others (leave-one-training-corpus-out validation)",
}
GROUP_KINDS = ("speaker", "session")
KEYS = {"description", "tasks", "split", "train", "test", "corpora", "folds", "groups", "adaptation",
        "normalisation", "frontend", "paper_subsets", "labels", "splits", "validation", "selection", "patience",
        "gain", "parameters", "oracle", "score", "references"}
DEFAULT_FOLDS = 5
DEFAULT_PATIENCE = 5
# A protocol with its parameters: `within[corpus=emodb]`, `transfer[train=emodb,test=ravdess]`.
REFERENCE = re.compile(r"(?P<base>[^\[\]]+)\[(?P<arguments>[^\[\]]*)\]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Fold:
    """One train/test assignment. `held_out` (speaker-grouped splits) names the groups (speakers, or sessions
    as `corpus:session N`) whose utterances are tested; the rest of the fold's corpora trains. Without it, whole
    corpora are on each side."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    held_out: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    split: str
    tasks: tuple[str, ...]
    corpora: tuple[str, ...]  # every corpus the protocol reads, in its file's order
    train: tuple[str, ...] = ()  # split = "corpus"
    test: tuple[str, ...] = ()  # split = "corpus"
    folds: int = 0  # split = "speaker-folds"
    groups: dict[str, str] = field(default_factory=dict)  # corpus -> "speaker" | "session", overriding the default
    adaptation: str = "none"
    normalisation: str = "speaker"
    gain: str = "as-recorded"  # GAINS: each file's level, for every front-end (it enters their settings)
    frontend: str = DEFAULT_FRONTEND
    frontend_settings: dict[str, Any] = field(default_factory=dict)
    paper_subsets: bool = True
    labels: dict[str, dict[str, str | None]] = field(default_factory=dict)
    splits: dict[str, tuple[str, ...]] = field(default_factory=dict)  # split = "official": part -> release partitions
    validation: float = 0.0  # other splits: the share of training speakers held out for validation
    selection: str = "last"  # SELECTIONS: which epoch's model a run keeps
    patience: int = DEFAULT_PATIENCE  # selection = "best-validation": epochs without a better one before stopping
    oracle: bool = False  # record the best epoch on the test part, as a reported upper bound only
    source: str = ""  # the file it was read from
    # Reporting settings: what the pages show, not what runs compute, so they stay out of to_dict() and run ids.
    score: str = MAIN_METRIC  # METRICS: the main score of the protocol's pages
    references: tuple[str, ...] = ()  # methods in order of preference: the first with runs is a page's reference

    @property
    def test_corpora(self) -> tuple[str, ...]:
        """The corpora that are scored, in the order leaderboards show them."""
        return self.test if self.split == "corpus" else self.corpora

    @property
    def uses_test_audio(self) -> bool:
        """Whether training or normalisation reads (unlabelled) audio of the test part beyond the utterance being
        classified: the leaderboards say so."""
        return self.adaptation != "none" or self.normalisation in ("corpus", "speaker")

    def task(self, name: str, table: pd.DataFrame | None = None) -> Task:
        """The label task `name` with this protocol's overrides. `categorical` takes its classes from `table`, the
        utterances of the protocol's one corpus (within the paper's subsets where the protocol applies them)."""
        self.check_task(name)
        if name == CATEGORICAL and table is not None and self.paper_subsets:
            outside = [c in PAPER_SUBSETS and e not in PAPER_SUBSETS[c] for c, e in zip(table["corpus"],
                                                                                     table["emotion"], strict=True)]
            table = table[~np.array(outside, dtype=bool)]
        return get_task(name, self.labels.get(name), table)

    def check_task(self, name: str) -> None:
        """Refuse a task the protocol cannot score, before any data is loaded."""
        if name not in TASKS:
            get_task(name)  # the error that lists the tasks
        if name == CATEGORICAL and len(self.corpora) > 1:
            raise SerbenchError(f"protocol {self.name}: the categorical task is defined within one corpus, and "
                                f"this protocol reads {len(self.corpora)}",
                                hint="corpora code their categories differently: use a protocol over one corpus "
                                     "(docs/protocols.md), or emotion4, arousal or valence")

    def to_dict(self) -> dict:
        """Everything that determines the protocol's runs: not where the file lies, nor its default front-end
        (a run's front-end, whichever chose it, is in its identity on its own), nor what its pages show."""
        data = asdict(self)
        for key in ("source", "frontend", "frontend_settings", "score", "references"):
            del data[key]
        if not self.oracle:  # the identities of the runs made before the setting existed stay as they were
            del data["oracle"]
        return {**data, "test_corpora": list(self.test_corpora)}

    def hash(self) -> str:
        return stable_hash(self.to_dict())

    def group_kind(self, corpus: str) -> str:
        """What a speaker-grouped fold holds out of `corpus`: whole sessions where the corpus's actors share
        dialogues (IEMOCAP, MSP-IMPROV: an actor tested while the partner trains would leak the partner's half
        of the same improvisations), else speakers."""
        if corpus in self.groups:
            return self.groups[corpus]
        return CORPORA[corpus].split_groups if corpus in CORPORA else "speaker"

    def make_folds(self, table: pd.DataFrame) -> tuple[Fold, ...]:
        """The protocol's folds over the utterance table of its corpora (deterministic: no seed)."""
        if self.split == "corpus":
            return (Fold("", self.train, self.test),)
        if self.split == "official":
            return (Fold("", self.corpora, self.corpora),)
        if self.split == "leave-one-corpus-out":
            return tuple(Fold(f"test-{c}", tuple(x for x in self.corpora if x != c), (c,)) for c in self.corpora)
        groups = split_groups(table, self)
        if self.split == "speaker-folds":
            self.check_fold_count(groups)
            return tuple(Fold(f"fold-{i + 1}", self.corpora,
                              tuple(c for c in self.corpora if any(g.corpus == c for g in held)),
                              tuple(sorted(g.name for g in held)))
                         for i, held in enumerate(deal_groups(groups, self.folds)))
        ordered = sorted(groups, key=lambda g: (self.corpora.index(g.corpus), g.name))
        return tuple(Fold(f"test-{g.name}", self.corpora, (g.corpus,), (g.name,)) for g in ordered)

    def check_fold_count(self, groups: list[Group]) -> None:
        """Refuse more folds than any corpus has groups: each corpus's groups are dealt from fold 1 on (deal_groups),
        so the folds beyond them would test nobody, and every run of theirs would fail."""
        counts = Counter(group.corpus for group in groups)
        most = max(counts.values(), default=0)
        if most >= self.folds:
            return
        corpus = max(self.corpora, key=lambda c: counts.get(c, 0))  # the first of the largest
        kind = "session" if self.group_kind(corpus) == "session" else "speaker"
        has = f"{most} {kind}{'' if most == 1 else 's'}"
        whose = (f"corpus {corpus} has {has}" if len(self.corpora) == 1 else
                 f"none of its corpora has more than {most} speakers or sessions ({corpus}: {has})")
        empty = f"fold {self.folds}" if most + 1 == self.folds else f"folds {most + 1} to {self.folds}"
        raise SerbenchError(f"protocol {self.name}: {whose}, fewer than the protocol's {self.folds} folds, so "
                            f"{empty} would test nobody", path=self.source or None,
                            hint=(f"give the protocol folds = {most} or fewer (copy a built-in one to a file of "
                                  'your own: docs/protocols.md), or use split = "leave-one-speaker-out"' if most >= 2
                                  else "a speaker-grouped split needs at least two speakers (or sessions) in a corpus"))


def builtin_protocols() -> dict[str, Path]:
    """The protocols shipped with serbench (the repository's serbench/protocols/ folder), by name."""
    folder = resources.files("serbench.protocols")
    return {Path(entry.name).stem: Path(str(entry)) for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".toml")}


def split_reference(reference: str) -> tuple[str, dict[str, str]]:
    """`within[corpus=emodb]` -> ("within", {"corpus": "emodb"}); a name or path without brackets has none."""
    match = REFERENCE.fullmatch(reference)
    if match is None:
        if "[" in reference or "]" in reference:
            raise SerbenchError(f"protocol {reference!r}: write its parameters as NAME[key=value,key=value]",
                                hint="for example --protocol 'within[corpus=emodb]'")
        return reference, {}
    arguments: dict[str, str] = {}
    for text in match["arguments"].split(","):
        key, sep, value = (part.strip() for part in text.partition("="))
        if not sep or not key or not VALUE.fullmatch(value):
            raise SerbenchError(f"protocol {reference!r}: {text.strip()!r} is not key=value (a value is a name: "
                                "letters, digits, '.', '_' and '-')", hint="for example 'within[corpus=emodb]'")
        if key in arguments:
            raise SerbenchError(f"protocol {reference!r}: {key} is given twice", hint="give each parameter once")
        arguments[key] = value
    return match["base"], arguments


def load_protocol(reference: str | Path) -> Protocol:
    """A built-in protocol by name, or any protocol file by path; either with its parameters, if it has any
    (`within[corpus=emodb]`)."""
    base, arguments = split_reference(str(reference))
    path = protocol_file(base)
    data = instantiate(read_toml(path), arguments, base, str(path))
    name = path.stem + (f"[{','.join(f'{k}={v}' for k, v in arguments.items())}]" if arguments else "")
    return parse_protocol(name, data, str(path))


def protocol_file(name_or_path: str) -> Path:
    """The file of a built-in protocol `name_or_path`, else that path."""
    builtin = builtin_protocols()
    if name_or_path in builtin:
        return builtin[name_or_path]
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise SerbenchError(f"no protocol {name_or_path!r}",
                            hint=f"use a built-in one ({', '.join(builtin)}) or the path of a .toml file")
    return path


def template_reference(name_or_path: str) -> str:
    """How to name the protocol `name_or_path`: itself, or with its parameters as placeholders in capitals
    (`within[corpus=CORPUS]`), for listings."""
    path = protocol_file(name_or_path)
    declared = protocol_parameters(read_toml(path), str(path))
    return f"{name_or_path}[{','.join(f'{k}={k.upper()}' for k in declared)}]" if declared else name_or_path


def protocol_parameters(data: dict, source: str = "") -> dict[str, str]:
    """A protocol file's declared parameters: name -> what it means."""
    declared = data.get("parameters", {})
    if not isinstance(declared, dict) or not all(isinstance(k, str) and k.isidentifier() and isinstance(v, str)
                                                 for k, v in declared.items()):
        raise SerbenchError("key 'parameters': must be a table of name = \"what it means\"", path=source or None,
                            hint="for example [parameters] corpus = \"the corpus\" (docs/protocols.md)")
    return declared


def instantiate(data: dict, arguments: dict[str, str], base: str, source: str) -> dict:
    """The protocol file's content with every `{parameter}` replaced by its value; every declared parameter must
    be given, and only those."""
    declared = protocol_parameters(data, source)
    usage = f"{base}[{','.join(f'{k}=...' for k in declared)}]"
    missing, unknown = [k for k in declared if k not in arguments], [k for k in arguments if k not in declared]
    if unknown:
        raise SerbenchError(f"protocol {base} has no parameter {unknown[0]!r}", path=source,
                            hint=f"write --protocol '{usage}'" if declared else f"write --protocol {base}")
    if missing:
        raise SerbenchError(f"protocol {base} needs its parameter{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(missing)} ({'; '.join(f'{k}: {declared[k]}' for k in missing)})",
                            path=source, hint=f"write --protocol '{usage}'")

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            for name in PLACEHOLDER.findall(value):
                if name not in declared:
                    raise SerbenchError(f"{{{name}}} is not a parameter of the protocol", path=source,
                                        hint="declare it in the [parameters] table, or remove the braces")
            return PLACEHOLDER.sub(lambda match: arguments[match[1]], value)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        return value

    return fill({k: v for k, v in data.items() if k != "parameters"})


def parse_protocol(name: str, data: dict, source: str = "") -> Protocol:
    def fail(key: str, problem: str) -> SerbenchError:
        return SerbenchError(f"key {key!r}: {problem}", path=source or None,
                             hint="see the protocol format in docs/protocols.md")

    def names(key: str) -> tuple[str, ...]:
        value = data.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise fail(key, "must be a non-empty list of names")
        if len(set(value)) != len(value):
            raise fail(key, "names a corpus twice")
        return tuple(value)

    def choice(key: str, allowed: Collection[str], default: str) -> str:
        value = data.get(key, default)
        if value not in allowed:
            raise fail(key, f"must be one of {', '.join(allowed)}, not {value!r}")
        return value

    if "test_fraction" in data:  # the random 80/20 speaker split of serbench 0.1
        raise SerbenchError("key 'test_fraction': speaker splits are speaker-grouped folds now, which test every "
                            "speaker exactly once", path=source or None,
                            hint='write split = "speaker-folds" and folds = 5 (about 80/20) instead')
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join(sorted(KEYS))})")
    split = choice("split", SPLITS, "")
    tasks = names("tasks") if "tasks" in data else ("arousal", "valence")
    for task in tasks:
        if task not in TASKS:
            raise fail("tasks", f"unknown task {task!r} (known: {', '.join(TASKS)})")
    train = test = ()
    if split == "corpus":
        train, test = names("train"), names("test")
        if set(train) & set(test):
            raise fail("test", "a corpus cannot be on both sides of a corpus split")
        corpora = (*train, *test)
    else:
        corpora = names("corpora")
        if split == "leave-one-corpus-out" and len(corpora) < 2:
            raise fail("corpora", "leaving one corpus out needs at least two")
    if CATEGORICAL in tasks and len(corpora) > 1:
        raise fail("tasks", "the categorical task is defined within one corpus, and this protocol reads several")
    folds = 0
    if split == "speaker-folds":
        folds = data.get("folds", DEFAULT_FOLDS)
        if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
            raise fail("folds", "must be a whole number of at least 2")
    elif "folds" in data:
        raise fail("folds", 'only split = "speaker-folds" has a number of folds')
    groups = data.get("groups", {})
    if not isinstance(groups, dict) or not all(v in GROUP_KINDS for v in groups.values()):
        raise fail("groups", f"must be a table of corpus = one of {', '.join(GROUP_KINDS)}")
    if groups and split != "speaker-folds":
        raise fail("groups", 'only split = "speaker-folds" groups speakers')
    if set(groups) - set(corpora):
        raise fail("groups", f"names a corpus the protocol does not read: {sorted(set(groups) - set(corpora))[0]}")
    frontend, frontend_settings = data.get("frontend", DEFAULT_FRONTEND), {}
    if isinstance(frontend, dict):
        frontend_settings = {k: v for k, v in frontend.items() if k != "name"}
        frontend = frontend.get("name")
    if not isinstance(frontend, str) or not frontend:
        raise fail("frontend", 'must be a front-end name, or a table with a name: { name = "logmel", n_mels = 40 }')
    paper_subsets = data.get("paper_subsets", True)
    if not isinstance(paper_subsets, bool):
        raise fail("paper_subsets", "must be true or false")
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, dict) for v in labels.values()):
        raise fail("labels", "must be tables of emotion = class, e.g. [labels.valence] neutral = \"negative\"")
    overrides = {task: {emotion: (label or None) for emotion, label in table.items()}
                 for task, table in labels.items()}
    splits = data.get("splits", {})
    if split == "official":
        if (not isinstance(splits, dict) or set(splits) - set(PARTS) or not {"train", "test"} <= set(splits)
                or not all(isinstance(v, list) and v and all(isinstance(x, str) for x in v) for v in splits.values())):
            raise fail("splits", 'needs train = [...] and test = [...] (and optionally validation = [...]): lists of '
                                 'the release\'s partitions, e.g. train = ["Train"], test = ["Test1"]')
        named = [x for v in splits.values() for x in v]
        if len(set(named)) != len(named):
            raise fail("splits", "names a partition in two parts")
    elif "splits" in data:
        raise fail("splits", 'only split = "official" uses the releases\' own partitions')
    validation = data.get("validation", 0.0)
    if isinstance(validation, bool) or not isinstance(validation, int | float) or not 0 <= validation <= 0.5:
        raise fail("validation", "must be a share of the training speakers from 0 (none, the default) to 0.5")
    if validation and split == "official":
        raise fail("validation", 'under split = "official" the validation part is the [splits] table\'s validation')
    selection = choice("selection", SELECTIONS, "last")
    if selection == "best-validation" and not (validation or "validation" in splits):
        raise fail("selection", "best-validation needs a validation part: add validation = 0.2 (a share of the "
                                "training speakers), or a validation partition under split = \"official\"")
    if selection == "leave-one-corpus-out":
        training = {"corpus": len(train), "leave-one-corpus-out": len(corpora) - 1}.get(split, len(corpora))
        if training < 2:
            raise fail("selection", f"leave-one-corpus-out holds out one training corpus at a time and needs two at "
                                    f"least; a fold here trains on {training}")
        if validation or "validation" in splits:
            raise fail("selection", "leave-one-corpus-out validates on held-out training corpora, not on a "
                                    "validation part: drop validation")
    patience = data.get("patience", DEFAULT_PATIENCE)
    if "patience" in data and selection != "best-validation":
        raise fail("patience", 'only selection = "best-validation" stops early')
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise fail("patience", "must be a whole number of epochs, at least 1")
    oracle = data.get("oracle", False)
    if not isinstance(oracle, bool):
        raise fail("oracle", "must be true or false")
    score = choice("score", METRICS, MAIN_METRIC)
    references = data.get("references", [])
    if not isinstance(references, list) or not all(isinstance(r, str) and r for r in references):
        raise fail("references", "must be a list of method names, e.g. [\"baseline_s\", \"egemaps_lr\"]")
    protocol = Protocol(name, str(data.get("description", "")), split, tasks, corpora, train, test, folds,
                        dict(groups), choice("adaptation", ADAPTATIONS, "none"),
                        choice("normalisation", NORMALISATIONS, "speaker"), choice("gain", GAINS, "as-recorded"),
                        frontend, frontend_settings, paper_subsets,
                        overrides, {part: tuple(v) for part, v in splits.items()}, float(validation), selection,
                        patience, oracle, source, score, tuple(references))
    for task in overrides:
        if task not in TASKS:
            raise fail(f"labels.{task}", f"unknown task (known: {', '.join(TASKS)})")
        try:
            if task != CATEGORICAL:  # its classes come from the data; it refuses overrides when they do
                protocol.task(task)
        except SerbenchError as error:
            raise fail(f"labels.{task}", error.message) from None
    return protocol


@dataclass(frozen=True)
class Group:
    """What a speaker-grouped split holds out as one: a speaker, or a session of a corpus."""

    name: str
    corpus: str
    gender: str  # "F" or "M" when all its speakers share one, else "mixed"


def group_column(table: pd.DataFrame, protocol: Protocol) -> pd.Series:
    """Each utterance's split group: its speaker, or `corpus:session N` where the corpus is split by session."""
    if protocol.split == "leave-one-session-out":
        sessions = pd.Series(True, index=table.index)
    elif protocol.split == "speaker-folds":
        sessions = table["corpus"].map(lambda c: protocol.group_kind(c) == "session").astype(bool)
    else:
        sessions = pd.Series(False, index=table.index)
    missing = table.loc[sessions & (table["session"] == ""), "corpus"].unique()
    if len(missing):
        raise SerbenchError(f"corpus {missing[0]} has no recording sessions, so it cannot be split by session",
                            hint="split it by speaker (protocol [groups] table, or leave-one-speaker-out), or give "
                                 "its manifest a session column")
    return group_names(table, sessions)


def group_names(table: pd.DataFrame, sessions: pd.Series) -> pd.Series:
    """Each utterance's group: its speaker, or `corpus:session N` where `sessions` says its corpus is grouped by
    session."""
    return table["speaker"].where(~sessions, table["corpus"] + ":session " + table["session"])


def split_groups(table: pd.DataFrame, protocol: Protocol) -> list[Group]:
    table = table[table["corpus"].isin(protocol.corpora)]
    table = table.assign(group=group_column(table, protocol))
    genders = table.groupby(["corpus", "group"], sort=True)["gender"].agg(lambda g: g.iloc[0] if g.nunique() == 1
                                                                          else "mixed")
    return [Group(group, corpus, gender) for (corpus, group), gender in genders.items()]


def deal_groups(groups: list[Group], k: int) -> list[list[Group]]:
    """K folds of each corpus's groups, stratified by gender: per corpus, the groups of each gender in name order
    (female, then male, then mixed) are dealt to folds 1, 2, ..., K, 1, 2, ... in one running count, so every
    group is tested exactly once, fold sizes differ by at most one group per corpus, and each fold gets both
    genders where a corpus has enough speakers of each."""
    strata = {"F": 0, "M": 1, "mixed": 2}
    folds: list[list[Group]] = [[] for _ in range(k)]
    for corpus in sorted({g.corpus for g in groups}):
        ordered = sorted((g for g in groups if g.corpus == corpus), key=lambda g: (strata.get(g.gender, 3), g.name))
        for i, group in enumerate(ordered):
            folds[i % k].append(group)
    return folds


def split_utterances(table: pd.DataFrame, protocol: Protocol, fold: Fold) -> pd.DataFrame:
    """Assign each utterance of the fold's corpora to "train", "validation" or "test": the table with a `part`
    column. Whole corpora for a corpus split; under speaker-grouped splits, the fold's held-out groups are tested
    and everything else of the fold's corpora trains; under the official split, the releases' own partitions
    (others are left out). A validation share then moves some training speakers out of training."""
    table = table[table["corpus"].isin(fold.train + fold.test)].copy()
    if protocol.split == "official":
        part_of = {partition: part for part, partitions in protocol.splits.items() for partition in partitions}
        table["part"] = table["split"].map(part_of)
        for corpus, rows in table.groupby("corpus", sort=True):
            missing = [p for p in ("train", "test") if not (rows["part"] == p).any()]
            if missing:
                present = sorted(set(rows["split"]) - {""})
                raise SerbenchError(f"corpus {corpus} has no utterance in the {missing[0]} partitions "
                                    f"{', '.join(protocol.splits[missing[0]])}",
                                    hint=f"its partitions: {', '.join(present) or 'none (its reader gives none)'}; "
                                         "name them in the protocol's [splits] table")
        table = table[table["part"].notna()]
    elif fold.held_out is None:
        table["part"] = np.where(table["corpus"].isin(fold.test), "test", "train")
    else:
        table["part"] = np.where(group_column(table, protocol).isin(fold.held_out), "test", "train")
    if protocol.validation:
        table["part"] = np.where(validation_rows(table, protocol), "validation", table["part"])
    return check_disjoint(table)


def validation_rows(table: pd.DataFrame, protocol: Protocol) -> np.ndarray:
    """Which utterances of the training part form the validation part: per training corpus, the protocol's share
    of its speakers (or of its sessions, where the corpus is split by session), at least one, never all. Chosen by
    a hash of their names, not a seed: like the folds, the same for every seed."""
    training = (table["part"] == "train").to_numpy()
    by_session = table["corpus"].map(lambda c: protocol.group_kind(c) == "session") & (table["session"] != "")
    groups = group_names(table, by_session)
    chosen: set[str] = set()
    for _, names in groups[training].groupby(table.loc[training, "corpus"], sort=True):
        ordered = sorted(set(names), key=lambda name: stable_hash(name))
        chosen |= set(ordered[:min(len(ordered) - 1, max(1, round(protocol.validation * len(ordered))))])
    return training & groups.isin(chosen).to_numpy()


def check_disjoint(split: pd.DataFrame) -> pd.DataFrame:
    """The leakage guard: refuse a split whose parts (train, validation, test) share a speaker or the same audio,
    and a part that holds the same audio under two corpora (a corpus given twice under two names: its utterances
    would count twice). Audio is compared by content (`sha256` of the file's bytes, from the feature cache) where
    the table has it, so one recording under two corpora, two utterance ids or two spellings of its path is caught;
    else by its path. Within one corpus the reader refuses a file listed twice; byte-identical files of a release
    are its own (the real RAVDESS copy has a pair) and stay."""
    audio = "sha256" if "sha256" in split.columns else "path"
    for first, second in (("train", "test"), ("validation", "test"), ("train", "validation")):
        a, b = split[split["part"] == first], split[split["part"] == second]
        for column, what in (("speaker", "speaker"), (audio, "audio recording")):
            shared = set(a[column]) & set(b[column])
            if shared:
                rows = split[split[column].isin(shared)].sort_values([column, "utterance_id"])
                named = rows["speaker"] if column == "speaker" else rows["corpus"] + "/" + rows["utterance_id"]
                examples = list(dict.fromkeys(named.astype(str)))[:5]
                raise SerbenchError(f"leakage: {len(shared)} {what}(s) in both the {PART_NAMES[first]} and the "
                                    f"{PART_NAMES[second]} part, "
                                    f"e.g. {', '.join(examples)}",
                                    hint="a corpus given twice under two names, a file listed twice, or a speaker "
                                         "id reused: fix the data configuration or the manifest so each speaker "
                                         "and recording appears once")
    for part, rows in split.groupby("part", sort=False):
        corpora = rows.groupby(audio)["corpus"].nunique()
        twice = rows[rows[audio].isin(corpora.index[corpora > 1])].sort_values([audio, "corpus", "utterance_id"])
        if len(twice):
            examples = list(dict.fromkeys(twice["corpus"] + "/" + twice["utterance_id"]))[:4]
            raise SerbenchError(f"{int((corpora > 1).sum())} audio recording(s) twice in the {PART_NAMES[part]} "
                                f"part, under two corpora: e.g. {', '.join(examples)}",
                                hint="a corpus given twice under two names, or two manifests listing the same audio: "
                                     "fix the data configuration, the protocol or the manifests so that each "
                                     "recording appears once")
    return split
