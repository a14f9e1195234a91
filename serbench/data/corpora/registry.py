"""The built-in corpora: each reader registered with `@register_corpus(name, **metadata)` (CorpusInfo). It is
apart from the package's __init__ so that the readers, which register themselves on import, do not import the
package back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from serbench.errors import Problem
from serbench.plugins import Registry

Reader = Callable[[Path], tuple[pd.DataFrame, list[Problem]]]


@dataclass(frozen=True)
class CorpusInfo:
    """Metadata of a built-in corpus (mteb-style), and its reader."""

    name: str  # the name used on the command line: iemocap, msp-improv, savee, emodb
    title: str
    release_dir: str  # the release's usual folder name, as distributed
    languages: tuple[str, ...]
    native_sample_rate: int
    licence: str
    homepage: str
    read: Reader
    # What a speaker-grouped fold holds out: "session" where a session's actors improvise the same dialogues
    # together (a speaker tested while the partner trains would leak the dialogue), else "speaker".
    split_groups: str = "speaker"
    # The release's emotion codes (its utterances' `emotion_code`) and the emotion each stands for: the classes of
    # the `categorical` task, spelled out on the pages ("W (anger)" for Emo-DB's letters).
    codes: Mapping[str, str] = field(default_factory=dict)
    # The lowest and highest value of its valence, arousal and dominance ratings, where it has them: what the
    # dimensional tasks map onto one range (serbench.data.labels.RATING_RANGE).
    rating_scale: tuple[float, float] | None = None


CORPORA: Registry[CorpusInfo] = Registry("corpus", hint=", or give a manifest CSV as the root")


def register_corpus(name: str, **metadata: object) -> Callable[[Reader], Reader]:
    """Register the decorated reader as the built-in corpus `name`, with CorpusInfo's other fields."""

    def register(read: Reader) -> Reader:
        CORPORA.add(name, CorpusInfo(name=name, read=read, **metadata))  # type: ignore[arg-type]
        return read

    return register
