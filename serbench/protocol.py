"""Protocols: declarative TOML files saying which corpora train, which test, and how speakers are split.

A protocol file (see protocols/*.toml) holds:
    description = "..."                    one line, shown by `serbench protocols`
    tasks = ["arousal", "valence"]         the label tasks it is scored on by default
    split = "corpus" | "speaker" | "leave-one-corpus-out"
    train = [...], test = [...]            split = "corpus": whole corpora on each side
    corpora = [...]                        split = "speaker" or "leave-one-corpus-out"
    test_fraction = 0.2                    split = "speaker": share of each corpus's speakers held out
    [labels.valence]                       optional overrides of the label table, per task:
    neutral = "negative"                   emotion = class, or "" to leave the emotion out
Corpus names are the built-in ones or names given in a data configuration (manifests).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from serbench.errors import SerbenchError
from serbench.files import read_toml, stable_hash
from serbench.labels import TASKS, Task, get_task

SPLITS = ("corpus", "speaker", "leave-one-corpus-out")
KEYS = {"description", "tasks", "split", "train", "test", "corpora", "test_fraction", "labels"}


@dataclass(frozen=True)
class Fold:
    """One train/test assignment of corpora. Protocols have one fold, except leave-one-corpus-out."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    split: str
    tasks: tuple[str, ...]
    folds: tuple[Fold, ...]
    test_fraction: float = 0.0
    labels: dict[str, dict[str, str | None]] = field(default_factory=dict)
    source: str = ""  # the file it was read from

    @property
    def corpora(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for fold in self.folds for c in (*fold.train, *fold.test)))

    def task(self, name: str) -> Task:
        """The label task `name` with this protocol's overrides."""
        return get_task(name, self.labels.get(name))

    def to_dict(self) -> dict:
        """Everything that determines the protocol's runs (not where the file lies)."""
        data = asdict(self)
        del data["source"]
        return data

    def hash(self) -> str:
        return stable_hash(self.to_dict())


def builtin_protocols() -> dict[str, Path]:
    """The protocols shipped with serbench (the repository's protocols/ folder), by name."""
    folder = resources.files("serbench.protocols")
    return {Path(entry.name).stem: Path(str(entry)) for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".toml")}


def load_protocol(name_or_path: str | Path) -> Protocol:
    """A built-in protocol by name, or any protocol file by path."""
    builtin = builtin_protocols()
    if str(name_or_path) in builtin:
        path = builtin[str(name_or_path)]
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise SerbenchError(f"no protocol {str(name_or_path)!r}",
                                hint=f"use a built-in one ({', '.join(builtin)}) or the path of a .toml file")
    return parse_protocol(path.stem, read_toml(path), str(path))


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

    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join(sorted(KEYS))})")
    split = data.get("split")
    if split not in SPLITS:
        raise fail("split", f"must be one of {', '.join(SPLITS)}, not {split!r}")
    tasks = names("tasks") if "tasks" in data else ("arousal", "valence")
    for task in tasks:
        if task not in TASKS:
            raise fail("tasks", f"unknown task {task!r} (known: {', '.join(TASKS)})")
    test_fraction = 0.0
    if split == "corpus":
        train, test = names("train"), names("test")
        if set(train) & set(test):
            raise fail("test", "a corpus cannot be on both sides of a corpus split")
        folds = (Fold("", train, test),)
    elif split == "speaker":
        corpora = names("corpora")
        test_fraction = data.get("test_fraction", 0.2)
        if not isinstance(test_fraction, float | int) or not 0 < test_fraction < 1:
            raise fail("test_fraction", "must be a number between 0 and 1")
        folds = (Fold("", corpora, corpora),)
    else:
        corpora = names("corpora")
        if len(corpora) < 2:
            raise fail("corpora", "leaving one corpus out needs at least two")
        folds = tuple(Fold(f"test-{c}", tuple(x for x in corpora if x != c), (c,)) for c in corpora)
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, dict) for v in labels.values()):
        raise fail("labels", "must be tables of emotion = class, e.g. [labels.valence] neutral = \"negative\"")
    overrides = {task: {emotion: (label or None) for emotion, label in table.items()}
                 for task, table in labels.items()}
    protocol = Protocol(name, str(data.get("description", "")), split, tasks, folds, float(test_fraction),
                        overrides, source)
    for task in overrides:
        if task not in TASKS:
            raise fail(f"labels.{task}", f"unknown task (known: {', '.join(TASKS)})")
        try:
            protocol.task(task)
        except SerbenchError as error:
            raise fail(f"labels.{task}", error.message) from None
    return protocol


def split_utterances(table: pd.DataFrame, protocol: Protocol, fold: Fold, seed: int) -> pd.DataFrame:
    """Assign each utterance of the fold's corpora to "train" or "test": the table with a `part` column.

    For a speaker split, each corpus's speakers are held out per gender (so both genders are tested where a
    corpus has both): round(test_fraction x speakers of that gender), at least one speaker per corpus, drawn
    with a generator seeded by (seed, corpus), so a split depends only on the seed and the speaker list.
    """
    table = table[table["corpus"].isin(fold.train + fold.test)].copy()
    if protocol.split != "speaker":
        table["part"] = np.where(table["corpus"].isin(fold.test), "test", "train")
        return check_disjoint(table)
    test_speakers: set[str] = set()
    for corpus, rows in table.groupby("corpus", sort=True):
        rng = np.random.default_rng([seed, *str(corpus).encode()])
        held_out: list[str] = []
        for _, speakers in rows.groupby("gender", sort=True)["speaker"]:
            candidates = sorted(speakers.unique())
            held_out += list(rng.permutation(candidates)[: round(protocol.test_fraction * len(candidates))])
        if not held_out:
            candidates = sorted(rows["speaker"].unique())
            held_out = [candidates[rng.integers(len(candidates))]]
        if len(held_out) == rows["speaker"].nunique():
            raise SerbenchError(f"corpus {corpus} has too few speakers ({len(held_out)}) for a speaker split",
                                hint="use a corpus split for it, or a smaller test_fraction")
        test_speakers.update(held_out)
    table["part"] = np.where(table["speaker"].isin(test_speakers), "test", "train")
    return check_disjoint(table)


def check_disjoint(split: pd.DataFrame) -> pd.DataFrame:
    """The leakage guard: refuse a split whose train and test parts share a speaker or an utterance."""
    train, test = split[split["part"] == "train"], split[split["part"] == "test"]
    for column, what in (("speaker", "speaker"), ("path", "audio file")):
        shared = sorted(set(train[column]) & set(test[column]))
        if shared:
            raise SerbenchError(f"leakage: {len(shared)} {what}(s) in both the training and the test part, "
                                f"e.g. {', '.join(shared[:5])}",
                                hint="a corpus given twice under two names, or a speaker id reused: fix the "
                                     "data configuration or the manifest so each speaker and file appears once")
    return split
