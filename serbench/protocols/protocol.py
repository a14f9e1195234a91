"""Protocols: declarative TOML files saying which corpora train, which test, how speakers are split, what a
method may see of the test corpora, how features are normalised, and what the pages show.

Every key a protocol file may hold is declared once, in PROTOCOL_KEYS (its type, default, allowed values and
meaning; docs/protocols.md's table of keys is made from it), and read by the generic routine of schema.py. The
checks across keys follow parse_protocol: the split kind's own (splits.py, one class per kind), then CHECKS.
Corpus names are the built-in ones or names given in a data configuration (manifests).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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
from serbench.protocols.schema import (
    BOOLEAN,
    NAMES,
    TEXT,
    Key,
    Settings,
    ValueType,
    is_names,
    read_settings,
    whole_number,
)
from serbench.protocols.splits import SPLIT_KINDS, Fold, SplitKind, fold_groups

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
# The keys a protocol's name may set, besides a template's parameters (`cross[normalisation=utterance]`), as
# `serbench run --normalisation` etc. do: a grid of these settings needs no file per cell.
OVERRIDES = ("normalisation", "adaptation", "selection")
# A protocol with its parameters: `within[corpus=emodb]`, `transfer[train=emodb,test=ravdess]`.
REFERENCE = re.compile(r"(?P<base>[^\[\]]+)\[(?P<arguments>[^\[\]]*)\]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def frontend_and_settings(value: str | dict) -> tuple[str, dict[str, Any]]:
    """`"logmel"` or `{ name = "logmel", n_mels = 40 }` -> the front-end's name and its settings."""
    if isinstance(value, str):
        return value, {}
    return value["name"], {k: v for k, v in value.items() if k != "name"}


def is_frontend(value: Any) -> bool:
    name = value.get("name") if isinstance(value, dict) else value
    return isinstance(name, str) and bool(name)


def is_partition_table(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) <= set(PARTS) and {"train", "test"} <= set(value)
            and all(isinstance(v, list) and v and all(isinstance(x, str) for x in v) for v in value.values()))


# The value types of single keys (schema.py has the common ones).
FRONTEND = ValueType("string or table", is_frontend,
                     'a front-end name, or a table with a name: { name = "logmel", n_mels = 40 }',
                     frontend_and_settings)
SHARE = ValueType("number", lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 0.5,
                  "a share of the training speakers from 0 (none, the default) to 0.5", float)
GROUPS = ValueType("table", lambda v: isinstance(v, dict) and all(kind in GROUP_KINDS for kind in v.values()),
                   f"a table of corpus = one of {', '.join(GROUP_KINDS)}", dict)
PARTITIONS = ValueType("table", is_partition_table,
                       "a table of train = [...] and test = [...] (and optionally validation = [...]): lists of the "
                       "release's partitions, e.g. train = [\"Train\"], test = [\"Test1\"]",
                       lambda v: {part: tuple(partitions) for part, partitions in v.items()})
LABELS = ValueType("table of tables", lambda v: isinstance(v, dict) and all(isinstance(t, dict) for t in v.values()),
                   'tables of emotion = class, e.g. [labels.valence] neutral = "negative"',
                   lambda v: {task: {emotion: (label or None) for emotion, label in table.items()}
                              for task, table in v.items()})
PARAMETERS = ValueType("table", lambda v: isinstance(v, dict) and all(isinstance(k, str) and k.isidentifier()
                                                                      and isinstance(x, str) for k, x in v.items()),
                       'a table of name = "what it means", e.g. [parameters] corpus = "the corpus"')

METHOD_NAMES = ValueType("list of names", lambda v: is_names(v, empty=True),
                         'a list of method names, e.g. ["baseline_s", "egemaps_lr"]', tuple)

# Every key of a protocol file, in the order docs/protocols.md lists them.
PROTOCOL_KEYS = {key.name: key for key in (
    Key("description", TEXT, "", "one line, shown by `serbench protocols`"),
    Key("tasks", NAMES, ["arousal", "valence"], "the label tasks `serbench run` scores by default", TASKS),
    Key("split", TEXT, None, "how the corpora are divided into folds", SPLIT_KINDS,
        required=True),
    Key("corpora", NAMES, None, "every split but `corpus`: the corpora it reads"),
    Key("train", NAMES, None, "split = \"corpus\": the training corpora"),
    Key("test", NAMES, None, "split = \"corpus\": the test corpora, each scored on its own"),
    Key("folds", whole_number(2), 5, "split = \"speaker-folds\": the number of folds"),
    Key("groups", GROUPS, {}, "split = \"speaker-folds\": per corpus, whether a fold holds out speakers or "
                              "sessions (default: the corpus's own)"),
    Key("splits", PARTITIONS, None, "split = \"official\": the release's partitions of each part, e.g. train = "
                                    "[\"Train\"], test = [\"Test1\"], validation = [\"Development\"] (optional)"),
    Key("validation", SHARE, 0.0, "other splits: the share of each training corpus's speakers (or sessions) held "
                                  "out of training as a validation part"),
    Key("selection", TEXT, "last", "the model a run keeps (Model selection, below)", SELECTIONS),
    Key("patience", whole_number(1, "epochs"), 5, "selection = \"best-validation\": epochs without a better one "
                                                  "before training stops"),
    Key("oracle", BOOLEAN, False, "also record each run's best epoch on the test part, as an upper bound"),
    Key("adaptation", TEXT, "none", "what training may see of the test corpora (Adaptation, below)", ADAPTATIONS),
    Key("normalisation", TEXT, "speaker", "whose statistics standardise the features (Normalisation, below)",
        NORMALISATIONS),
    Key("gain", TEXT, "as-recorded", "each file's level as recorded, or scaled to a peak of 1, for every "
                                     "front-end", GAINS),
    Key("frontend", FRONTEND, DEFAULT_FRONTEND, "the default front-end, or a table with its settings "
                                                "(docs/frontends.md)"),
    Key("paper_subsets", BOOLEAN, True, "IEMOCAP's and MSP-IMPROV's four-category subsets, as the paper"),
    Key("labels", LABELS, {}, "per task, overrides of the label table: emotion = class, or \"\" to leave it out"),
    Key("score", TEXT, MAIN_METRIC, "the main score of the protocol's pages (not of its runs), for the tasks it "
        "scores: a score of classes leaves the dimensional tasks' pages CCC, a score of ratings leaves UA on the "
        "others'", METRICS),
    Key("references", METHOD_NAMES, [], "methods in order of preference: the first with runs on a page is its "
                                     "paired tests' reference"),
    Key("parameters", PARAMETERS, {}, "a template's parameters: `{name}` in any string takes the value given "
                                      "with the protocol's name"),
)}


@dataclass(frozen=True)
class Protocol:
    """A protocol as read from its file: each key of PROTOCOL_KEYS (the front-end as its name and settings)."""

    name: str
    description: str
    split: str  # a name in SPLIT_KINDS
    tasks: tuple[str, ...]
    corpora: tuple[str, ...]  # every corpus the protocol reads, in its file's order
    adaptation: str
    normalisation: str
    gain: str  # GAINS: each file's level, for every front-end (it enters their settings)
    frontend: str
    frontend_settings: dict[str, Any]
    paper_subsets: bool
    labels: dict[str, dict[str, str | None]]
    validation: float  # the share of training speakers held out for validation
    selection: str  # SELECTIONS: which epoch's model a run keeps
    patience: int  # selection = "best-validation": epochs without a better one before stopping
    oracle: bool  # record the best epoch on the test part, as a reported upper bound only
    # Reporting settings: what the pages show, not what runs compute, so they stay out of to_dict() and run ids.
    score: str  # METRICS: the main score of the protocol's pages
    references: tuple[str, ...]  # methods in order of preference: the first with runs is a page's reference
    source: str  # the file it was read from
    # The keys of some split kinds only (SplitKind.keys); under the others, these defaults.
    train: tuple[str, ...] = ()  # split = "corpus"
    test: tuple[str, ...] = ()  # split = "corpus"
    folds: int = 0  # split = "speaker-folds"
    groups: dict[str, str] = field(default_factory=dict)  # corpus -> "speaker" | "session", overriding the default
    splits: dict[str, tuple[str, ...]] = field(default_factory=dict)  # split = "official": part -> release partitions

    @property
    def test_corpora(self) -> tuple[str, ...]:
        """The corpora that are scored, in the order leaderboards show them: a corpus split's test side, else
        every corpus."""
        return self.test or self.corpora

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
        return SPLIT_KINDS[self.split].make_folds(self, table)


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


def load_protocol(reference: str | Path, overrides: Mapping[str, Any] | None = None) -> Protocol:
    """A built-in protocol by name, or any protocol file by path; either with its parameters, if it has any
    (`within[corpus=emodb]`), and with keys of OVERRIDES set in its name or by `overrides`, which win
    (`cross[normalisation=utterance]`). Those are read as the file's own keys would be (the schema, then the checks
    across keys), and each that changes the file's value names the protocol, in OVERRIDES' order: its runs get
    their own ids and pages, and the name loads the same protocol again."""
    base, arguments = split_reference(str(reference))
    path = protocol_file(base)
    parameters = {key: value for key, value in arguments.items() if key not in OVERRIDES}
    data = instantiate(read_toml(path), parameters, base, str(path))
    asked = {**{key: value for key, value in arguments.items() if key in OVERRIDES}, **(overrides or {})}
    changed = {key: asked[key] for key in OVERRIDES
               if key in asked and asked[key] != data.get(key, PROTOCOL_KEYS[key].default)}
    named = {**parameters, **changed}
    name = path.stem + (f"[{','.join(f'{k}={v}' for k, v in named.items())}]" if named else "")
    return parse_protocol(name, {**data, **changed}, str(path))


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
    parameters = {key: value for key, value in data.items() if key == "parameters"}
    declared = read_settings({"parameters": PROTOCOL_KEYS["parameters"]}, parameters, source)["parameters"]
    clash = sorted(set(declared) & set(OVERRIDES))
    if clash:
        raise SerbenchError(f"parameter {clash[0]!r}: a protocol's name sets its key {clash[0]} "
                            f"(`NAME[{clash[0]}=...]`)", path=source or None, hint="give the parameter another name")
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
    """The protocol `name` of a file's content (its parameters filled in): every key read by PROTOCOL_KEYS, then
    the checks across keys, the split kind's own and CHECKS."""
    if "test_fraction" in data:  # the random 80/20 speaker split of serbench 0.1
        raise SerbenchError("key 'test_fraction': speaker splits are speaker-grouped folds now, which test every "
                            "speaker exactly once", path=source or None,
                            hint='write split = "speaker-folds" and folds = 5 (about 80/20) instead')
    settings = read_settings(PROTOCOL_KEYS, data, source)
    kind = SPLIT_KINDS[settings["split"]]
    check_split_keys(settings, kind)
    kind.check(settings)
    for check in CHECKS:
        check(settings, kind)
    frontend, frontend_settings = settings["frontend"]
    shared = {key: settings[key] for key in PROTOCOL_KEYS if key not in split_keys() | {"frontend", "parameters"}}
    protocol = Protocol(name=name, source=source, frontend=frontend, frontend_settings=frontend_settings,
                        **shared, **kind.fields(settings))
    check_labels(protocol, settings)
    return protocol


def split_keys() -> set[str]:
    """The keys that only some split kinds read."""
    return {key for kind in SPLIT_KINDS.values() for key in kind.keys}


def check_split_keys(settings: Settings, kind: SplitKind) -> None:
    """A key of some split kinds only: given, where it has no default, if the protocol's kind reads it; refused
    if not."""
    for key in (key for key in PROTOCOL_KEYS if key in split_keys()):
        meaning = PROTOCOL_KEYS[key].meaning
        if key in kind.keys and settings[key] is None:
            raise settings.fail(key, f"missing ({meaning})")
        if key not in kind.keys and key in settings.given:
            raise settings.fail(key, f'split = "{kind.name}" does not read it ({meaning})')


def check_categorical(settings: Settings, kind: SplitKind) -> None:
    if CATEGORICAL in settings["tasks"] and len(kind.corpora(settings)) > 1:
        raise settings.fail("tasks", "the categorical task is defined within one corpus, and this protocol reads "
                                     "several")


def has_validation_part(settings: Settings) -> bool:
    return bool(settings["validation"]) or "validation" in (settings["splits"] or {})


def check_selection(settings: Settings, kind: SplitKind) -> None:
    """A selection policy's needs: best-validation a validation part, leave-one-corpus-out two training corpora
    and none; patience belongs to best-validation."""
    selection = settings["selection"]
    if selection == "best-validation" and not has_validation_part(settings):
        raise settings.fail("selection", "best-validation needs a validation part: add validation = 0.2 (a share of "
                                         "the training speakers), or a validation partition under split = "
                                         '"official"')
    training = kind.training_corpora(settings)
    if selection == "leave-one-corpus-out" and training < 2:
        raise settings.fail("selection", f"leave-one-corpus-out holds out one training corpus at a time and needs "
                                         f"two at least; a fold here trains on {training}")
    if selection == "leave-one-corpus-out" and has_validation_part(settings):
        raise settings.fail("selection", "leave-one-corpus-out validates on held-out training corpora, not on a "
                                         "validation part: drop validation")
    if "patience" in settings.given and selection != "best-validation":
        raise settings.fail("patience", 'only selection = "best-validation" stops early')


# The checks across keys every protocol gets, after its split kind's own.
CHECKS: tuple[Callable[[Settings, SplitKind], None], ...] = (check_categorical, check_selection)


def check_labels(protocol: Protocol, settings: Settings) -> None:
    """Each label override names a task and the task's own emotions and classes (the label table's checks)."""
    for task in protocol.labels:
        if task not in TASKS:
            raise settings.fail(f"labels.{task}", f"unknown task (known: {', '.join(TASKS)})")
        try:
            if task != CATEGORICAL:  # its classes come from the data; it refuses overrides when they do
                protocol.task(task)
        except SerbenchError as error:
            raise settings.fail(f"labels.{task}", error.message) from None


def split_utterances(table: pd.DataFrame, protocol: Protocol, fold: Fold) -> pd.DataFrame:
    """Assign each utterance of the fold's corpora to "train", "validation" or "test": the table with a `part`
    column. Whole corpora for a corpus split; under speaker-grouped splits, the fold's held-out groups are tested
    and everything else of the fold's corpora trains; under the official split, the releases' own partitions
    (others are left out). A validation share then moves some training speakers out of training."""
    table = table[table["corpus"].isin(fold.train + fold.test)].copy()
    table["part"] = SPLIT_KINDS[protocol.split].parts(table, protocol, fold)
    table = table[table["part"].notna()]
    if protocol.validation:
        table["part"] = np.where(validation_rows(table, protocol), "validation", table["part"])
    return check_disjoint(table)


def validation_rows(table: pd.DataFrame, protocol: Protocol) -> np.ndarray:
    """Which utterances of the training part form the validation part: per training corpus, the protocol's share
    of its speakers (or of its sessions, where the corpus is split by session), at least one, never all. Chosen by
    a hash of their names, not a seed: like the folds, the same for every seed."""
    training = (table["part"] == "train").to_numpy()
    by_session = table["corpus"].map(lambda c: protocol.group_kind(c) == "session") & (table["session"] != "")
    groups = fold_groups(table, by_session)
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
            raise SerbenchError(f"{int((corpora > 1).sum())} audio recording(s) twice in the {PART_NAMES[str(part)]} "
                                f"part, under two corpora: e.g. {', '.join(examples)}",
                                hint="a corpus given twice under two names, or two manifests listing the same audio: "
                                     "fix the data configuration, the protocol or the manifests so that each "
                                     "recording appears once")
    return split
