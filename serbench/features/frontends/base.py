"""The front-end interface: what turns 16 kHz mono audio into the rows of a feature cache.

A front-end is one class registered with `@register_frontend("name")` (serbench.features.frontends). It declares its
settings (a frozen dataclass: every setting with its default, hashed into the cache key and every run's
identity), the kind of rows it produces, and computes them for one utterance at a time (or a batch, where the
work batches well, as a neural model on a GPU does):

- `segments`: fixed-size segments, each row (time, features): the paper's 32 x 129 spectrograms, log-mel.
- `frames`: a variable-length sequence of feature frames, each row (features,): eGeMAPS low-level descriptors,
  one layer of a self-supervised model.
- `vectors`: one row per utterance, (features,) or (layers, features): eGeMAPS functionals, a self-supervised
  model's hidden states averaged over time.
- `posteriors`: one row per utterance, POSTERIOR_SHAPE: a pretrained classifier's decision (docs/pretrained.md).
  Row 0 holds its posterior of each of serbench's normalised emotions (serbench.data.labels.EMOTIONS, in order),
  row 1 is 1 where it has a label naming that emotion, else 0. They are probabilities, so methods read them as
  they are: the protocol's normalisation never applies to them (training.RowSet).

The cache lays its file out from the number of rows each utterance gives (`rows`, from the sample count in
the file's header), then fills them (`compute`); rows are always float32 and must be finite.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from serbench.data.audio import GAINS
from serbench.data.labels import EMOTIONS
from serbench.errors import SerbenchError
from serbench.files import stable_hash
from serbench.plugins import convert_setting

KINDS = ("segments", "frames", "vectors", "posteriors")
POSTERIOR_SHAPE = (2, len(EMOTIONS))  # the row of a `posteriors` front-end: posteriors, and which emotions it names
SAMPLE_RATE = 16_000  # every front-end reads audio resampled to this rate (serbench.data.audio)


@dataclass(frozen=True)
class AudioSettings:
    """What every built-in front-end's settings share: how each file's level is set before the features
    (serbench.data.audio.GAINS; a protocol may decide it for every front-end of its sweeps: docs/protocols.md)."""

    gain: str = "as-recorded"


class FrontEnd(abc.ABC):
    """Base class of every front-end. Subclasses set `kind` and `Settings` and implement `row_shape`, `rows` and
    `compute` (or `compute_batch`)."""

    name: ClassVar[str] = ""  # set by @register_frontend
    kind: ClassVar[str] = ""  # one of KINDS
    Settings: ClassVar[type]  # a frozen dataclass: every setting and its default
    batch_size: ClassVar[int] = 1  # utterances per compute_batch call (a neural model batches on its device)
    threads: ClassVar[bool] = True  # whether the cache may call compute from several threads at once

    def __init__(self, settings: Any = None) -> None:
        self.settings = self.Settings() if settings is None else settings
        self.code = ""  # a plugin's code fingerprint (plugins.Entry.code), set by make_frontend; "" for built-ins
        if self.gain not in GAINS:
            raise SerbenchError(f"front-end {self.name!r}: gain {self.gain!r} is not one of {', '.join(GAINS)}")
        self.check()

    @property
    def gain(self) -> str:
        """How each file's level is set before compute sees it (a plugin's settings may leave it out)."""
        return getattr(self.settings, "gain", "as-recorded")

    def check(self) -> None:  # noqa: B027 - optional: most front-ends' settings need no check
        """Refuse settings the features cannot be computed with: a SerbenchError naming the setting."""

    @property
    def sample_rate(self) -> int:
        """The rate the audio is resampled to before compute sees it."""
        return SAMPLE_RATE

    @property
    @abc.abstractmethod
    def row_shape(self) -> tuple[int, ...]:
        """The shape of one row of the cache: (time, features) for segments, (features,) for frames, (features,)
        or (layers, features) for vectors."""

    @abc.abstractmethod
    def rows(self, n_samples: int) -> int:
        """How many rows an utterance of `n_samples` samples gives (at least 1); exact, as the cache lays out its
        file from it before any audio is decoded."""

    def compute(self, audio: np.ndarray, out: np.ndarray) -> None:
        """Fill `out` (rows(len(audio)), *row_shape), float32, with the rows of one utterance (mono, 16 kHz)."""
        self.compute_batch([audio], [out])

    def compute_batch(self, audio: Sequence[np.ndarray], out: Sequence[np.ndarray]) -> None:
        """Fill out[i] with the rows of audio[i]; batch_size utterances at most. The default calls compute."""
        if type(self).compute is FrontEnd.compute:
            raise NotImplementedError(f"front-end {self.name!r} implements neither compute nor compute_batch")
        for samples, rows in zip(audio, out, strict=True):
            self.compute(samples, rows)

    def to_dict(self) -> dict:
        return {"frontend": self.name, **dataclasses.asdict(self.settings)}

    def settings_hash(self) -> str:
        """A stable short hash of what decides the rows besides the front-end's code: by default its name and every
        setting. A front-end overrides it to add what else its rows depend on (a library's version, the weights)."""
        return stable_hash(self.to_dict())

    def hash(self) -> str:
        """What the cache key and run identities use: settings_hash, and for a plugin its code fingerprint too
        (`code`, set by make_frontend), so that editing a plugin gives new caches and new runs. A built-in
        front-end's code is versioned with serbench and the cache format, and its hash stays as it was."""
        own = self.settings_hash()
        return stable_hash({"settings": own, "code": self.code}) if self.code else own

    def describe(self) -> str:
        """The first line of the class docstring."""
        doc = inspect.getdoc(type(self)) or ""
        return doc.splitlines()[0] if doc else ""


def make_settings(frontend: type[FrontEnd], overrides: Mapping[str, Any] | None = None) -> Any:
    """The front-end's settings with `overrides` applied, text values converted to each default's type; an
    unknown key or a value of the wrong type is an error naming the front-end, the key and the value."""
    defaults = frontend.Settings()
    fields = {field.name: getattr(defaults, field.name) for field in dataclasses.fields(defaults)}
    changed = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise SerbenchError(f"front-end {frontend.name!r} has no setting {key!r}",
                                hint=f"its settings: {', '.join(fields)} (`serbench frontends {frontend.name}`)")
        changed[key] = convert_setting(f"front-end {frontend.name!r}", "setting", key, fields[key], value)
    return dataclasses.replace(defaults, **changed)
