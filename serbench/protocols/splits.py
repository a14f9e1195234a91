"""Split kinds: how a protocol divides its corpora into folds. Each kind is one class registered in SPLIT_KINDS,
holding the protocol keys it reads, its checks when a file is read, and how it makes its folds and assigns each
utterance to a part. Adding a split kind is one class here (docs/protocols.md, "Adding a split kind").

Folds are made from the data: which speakers and sessions exist is only known once the corpora are read. Every
split is deterministic, so a fold always tests the same speakers and seeds only change training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from serbench.errors import SerbenchError
from serbench.plugins import Registry

if TYPE_CHECKING:  # both import this module
    from serbench.protocols.protocol import Protocol
    from serbench.protocols.schema import Settings


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
class Group:
    """What a speaker-grouped split holds out as one: a speaker, or a session of a corpus."""

    name: str
    corpus: str
    gender: str  # "F" or "M" when all its speakers share one, else "mixed"


class SplitKind(ABC):
    """A value of the protocol key `split`. The base reads `corpora` and tests whole corpora; subclasses change
    what they need. Every method is deterministic: folds never depend on the seed."""

    name: ClassVar[str]
    # The split-specific protocol keys this kind reads (a file giving another kind's key is refused); a protocol
    # holds its dataclass default ("not this split") for the others.
    keys: ClassVar[tuple[str, ...]] = ("corpora",)

    def check(self, settings: Settings) -> None:
        """Refuse what this kind cannot split, when the file is read (settings.fail names the key)."""
        return None  # most kinds take any corpora

    def fields(self, settings: Settings) -> dict[str, Any]:
        """The protocol's fields of its split: its corpora, and each split-specific key this kind reads."""
        return {"corpora": self.corpora(settings), **{key: settings[key] for key in self.keys}}

    def corpora(self, settings: Settings) -> tuple[str, ...]:
        """Every corpus the protocol reads, in its file's order."""
        return settings["corpora"]

    def training_corpora(self, settings: Settings) -> int:
        """How many corpora a fold trains on (leave-one-corpus-out model selection needs two)."""
        return len(self.corpora(settings))

    @abstractmethod
    def describe(self, protocol: Protocol) -> str:
        """The protocol's split in a few words, for `serbench protocols`."""

    @abstractmethod
    def make_folds(self, protocol: Protocol, table: pd.DataFrame) -> tuple[Fold, ...]:
        """The protocol's folds over the utterance table of its corpora."""

    def by_session(self, protocol: Protocol, table: pd.DataFrame) -> pd.Series:
        """Which utterances a fold holds out by session rather than by speaker."""
        return pd.Series(False, index=table.index)

    def parts(self, table: pd.DataFrame, protocol: Protocol, fold: Fold) -> pd.Series:
        """Each utterance of the fold's corpora: "train" or "test" (or missing: left out of the run)."""
        if fold.held_out is None:
            return pd.Series(np.where(table["corpus"].isin(fold.test), "test", "train"), index=table.index)
        return pd.Series(np.where(group_column(table, protocol).isin(fold.held_out), "test", "train"),
                         index=table.index)


SPLIT_KINDS: Registry[SplitKind] = Registry("split kind", hint=" (docs/protocols.md, Splits)")


def split_kind(cls: type[SplitKind]) -> type[SplitKind]:
    """Class decorator: register one instance of a split kind under its name."""
    SPLIT_KINDS.add(cls.name, cls())
    return cls


@split_kind
class CorpusSplit(SplitKind):
    """Whole corpora on each side: train = [...], test = [...]."""

    name = "corpus"
    keys = ("train", "test")

    def describe(self, protocol: Protocol) -> str:
        return f"{'+'.join(protocol.train)} -> {'+'.join(protocol.test)}"

    def check(self, settings: Settings) -> None:
        if set(settings["train"]) & set(settings["test"]):
            raise settings.fail("test", "a corpus cannot be on both sides of a corpus split")

    def corpora(self, settings: Settings) -> tuple[str, ...]:
        return (*settings["train"], *settings["test"])

    def training_corpora(self, settings: Settings) -> int:
        return len(settings["train"])

    def make_folds(self, protocol: Protocol, table: pd.DataFrame) -> tuple[Fold, ...]:
        return (Fold("", protocol.train, protocol.test),)


@split_kind
class SpeakerFolds(SplitKind):
    """Speaker-grouped K-fold cross-validation: corpora = [...], folds = K, optionally [groups]."""

    name = "speaker-folds"
    keys = ("corpora", "folds", "groups")

    def describe(self, protocol: Protocol) -> str:
        return f"{'+'.join(protocol.corpora)}: {protocol.folds} folds, each speaker group tested once"

    def check(self, settings: Settings) -> None:
        unread = sorted(set(settings["groups"]) - set(settings["corpora"]))
        if unread:
            raise settings.fail("groups", f"names a corpus the protocol does not read: {unread[0]}")

    def make_folds(self, protocol: Protocol, table: pd.DataFrame) -> tuple[Fold, ...]:
        groups = split_groups(table, protocol)
        check_fold_count(protocol, groups)
        return tuple(Fold(f"fold-{i + 1}", protocol.corpora,
                          tuple(c for c in protocol.corpora if any(g.corpus == c for g in held)),
                          tuple(sorted(g.name for g in held)))
                     for i, held in enumerate(deal_groups(groups, protocol.folds)))

    def by_session(self, protocol: Protocol, table: pd.DataFrame) -> pd.Series:
        return table["corpus"].map(lambda c: protocol.group_kind(c) == "session").astype(bool)


@split_kind
class LeaveOneCorpusOut(SplitKind):
    """One fold per corpus, trained on the others."""

    name = "leave-one-corpus-out"

    def describe(self, protocol: Protocol) -> str:
        return f"{'+'.join(protocol.corpora)}: each corpus tested once, the others train"

    def check(self, settings: Settings) -> None:
        if len(settings["corpora"]) < 2:
            raise settings.fail("corpora", "leaving one corpus out needs at least two")

    def training_corpora(self, settings: Settings) -> int:
        return len(settings["corpora"]) - 1

    def make_folds(self, protocol: Protocol, table: pd.DataFrame) -> tuple[Fold, ...]:
        return tuple(Fold(f"test-{c}", tuple(x for x in protocol.corpora if x != c), (c,)) for c in protocol.corpora)


@split_kind
class LeaveOneSpeakerOut(SplitKind):
    """One fold per speaker of the protocol's corpora."""

    name = "leave-one-speaker-out"
    unit = "speaker"  # what one fold tests

    def describe(self, protocol: Protocol) -> str:
        return f"{'+'.join(protocol.corpora)}: each {self.unit} tested once, the rest trains"

    def make_folds(self, protocol: Protocol, table: pd.DataFrame) -> tuple[Fold, ...]:
        ordered = sorted(split_groups(table, protocol), key=lambda g: (protocol.corpora.index(g.corpus), g.name))
        return tuple(Fold(f"test-{g.name}", protocol.corpora, (g.corpus,), (g.name,)) for g in ordered)


@split_kind
class LeaveOneSessionOut(LeaveOneSpeakerOut):
    """One fold per recording session; a corpus without sessions is an error."""

    name = "leave-one-session-out"
    unit = "session"

    def by_session(self, protocol: Protocol, table: pd.DataFrame) -> pd.Series:
        return pd.Series(True, index=table.index)


@split_kind
class OfficialSplit(SplitKind):
    """The releases' own partitions (the table's `split` column), named per part in the [splits] table."""

    name = "official"
    keys = ("corpora", "splits")

    def describe(self, protocol: Protocol) -> str:
        return f"{'+'.join(protocol.corpora)}: the releases' own partitions"

    def check(self, settings: Settings) -> None:
        named = [partition for partitions in settings["splits"].values() for partition in partitions]
        if len(set(named)) != len(named):
            raise settings.fail("splits", "names a partition in two parts")
        if settings["validation"]:
            raise settings.fail("validation", "under split = \"official\" the validation part is the [splits] "
                                              "table's validation")

    def make_folds(self, protocol: Protocol, table: pd.DataFrame) -> tuple[Fold, ...]:
        return (Fold("", protocol.corpora, protocol.corpora),)

    def parts(self, table: pd.DataFrame, protocol: Protocol, fold: Fold) -> pd.Series:
        part_of = {partition: part for part, partitions in protocol.splits.items() for partition in partitions}
        parts = table["split"].map(part_of)
        for corpus, rows in table.assign(part=parts).groupby("corpus", sort=True):
            missing = [p for p in ("train", "test") if not (rows["part"] == p).any()]
            if missing:
                present = sorted(set(rows["split"]) - {""})
                raise SerbenchError(f"corpus {corpus} has no utterance in the {missing[0]} partitions "
                                    f"{', '.join(protocol.splits[missing[0]])}",
                                    hint=f"its partitions: {', '.join(present) or 'none (its reader gives none)'}; "
                                         "name them in the protocol's [splits] table")
        return parts


def group_column(table: pd.DataFrame, protocol: Protocol) -> pd.Series:
    """Each utterance's split group: its speaker, or `corpus:session N` where the corpus is split by session."""
    sessions = SPLIT_KINDS[protocol.split].by_session(protocol, table)
    missing = table.loc[sessions & (table["session"] == ""), "corpus"].unique()
    if len(missing):
        raise SerbenchError(f"corpus {missing[0]} has no recording sessions, so it cannot be split by session",
                            hint="split it by speaker (protocol [groups] table, or leave-one-speaker-out), or give "
                                 "its manifest a session column")
    return fold_groups(table, sessions)


def fold_groups(table: pd.DataFrame, sessions: pd.Series) -> pd.Series:
    """Each utterance's fold group, what a fold holds out as one: its speaker, or `corpus:session N` where
    `sessions` says its corpus is grouped by session."""
    return table["speaker"].where(~sessions, table["corpus"] + ":session " + table["session"])


def split_groups(table: pd.DataFrame, protocol: Protocol) -> list[Group]:
    """The fold groups of the protocol's corpora, each with its gender."""
    table = table[table["corpus"].isin(protocol.corpora)]
    table = table.assign(group=group_column(table, protocol))
    genders = table.groupby(["corpus", "group"], sort=True)["gender"].agg(lambda g: g.iloc[0] if g.nunique() == 1
                                                                          else "mixed")
    return [Group(str(group), str(corpus), str(gender))
            for (corpus, group), gender in zip(genders.index, genders, strict=True)]


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


def check_fold_count(protocol: Protocol, groups: list[Group]) -> None:
    """Refuse more folds than any corpus has groups: each corpus's groups are dealt from fold 1 on (deal_groups),
    so the folds beyond them would test nobody, and every run of theirs would fail."""
    counts = Counter(group.corpus for group in groups)
    most = max(counts.values(), default=0)
    if most >= protocol.folds:
        return
    corpus = max(protocol.corpora, key=lambda c: counts.get(c, 0))  # the first of the largest
    kind = "session" if protocol.group_kind(corpus) == "session" else "speaker"
    has = f"{most} {kind}{'' if most == 1 else 's'}"
    whose = (f"corpus {corpus} has {has}" if len(protocol.corpora) == 1 else
             f"none of its corpora has more than {most} speakers or sessions ({corpus}: {has})")
    empty = f"fold {protocol.folds}" if most + 1 == protocol.folds else f"folds {most + 1} to {protocol.folds}"
    raise SerbenchError(f"protocol {protocol.name}: {whose}, fewer than the protocol's {protocol.folds} folds, so "
                        f"{empty} would test nobody", path=protocol.source or None,
                        hint=(f"give the protocol folds = {most} or fewer (copy a built-in one to a file of "
                              'your own: docs/protocols.md), or use split = "leave-one-speaker-out"' if most >= 2
                              else "a speaker-grouped split needs at least two speakers (or sessions) in a corpus"))
