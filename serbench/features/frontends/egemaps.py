"""`egemaps` and `egemaps-lld`: openSMILE's extended Geneva Minimalistic Acoustic Parameter Set (eGeMAPS) through
audEERING's `opensmile` package (serbench's `egemaps` extra), imported on first use.

`egemaps` gives the 88 functionals of the whole utterance (one row), `egemaps-lld` the 25 low-level descriptors of
every 10 ms frame. Rules found by running opensmile 2.6 on every length from 0 to 4,000 samples and 400 random
lengths up to 30 s (silence, noise, tones), for eGeMAPSv02 and eGeMAPSv01b alike:

- Frames: 2 + (n - 960) // 160 for n >= 960 samples: one per 10 ms step of F0's 60 ms window, and one more.
  Below 960 samples openSMILE yields no frame at all (nor functionals) and the `opensmile` package fills one row
  with NaN; that row is zeros here.
- NaN and infinite values become 0, openSMILE's own value for what is undefined in a frame (F0 and the other
  `_sma3nz` descriptors of unvoiced frames). In practice only too-short utterances give NaN; silence gives zeros
  and openSMILE's -201 dB floor of the formant amplitudes, kept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar, NamedTuple

import numpy as np

from serbench.errors import SerbenchError
from serbench.features.frontends.base import SAMPLE_RATE, AudioSettings, FrontEnd
from serbench.features.frontends.extras import load, missing_package, require
from serbench.features.frontends.registry import register_frontend
from serbench.files import stable_hash

MIN_SAMPLES = 960  # 60 ms, F0's window: shorter utterances give openSMILE no frame, their row is zeros
HOP_SAMPLES = 160  # 10 ms


class FeatureCounts(NamedTuple):
    functionals: int
    descriptors: int


# The versions served, with the sizes of their rows; the version is a setting, so a new one gives a new hash.
FEATURE_SETS = {"eGeMAPSv02": FeatureCounts(88, 25), "eGeMAPSv01b": FeatureCounts(88, 23)}


@dataclass(frozen=True)
class EGeMAPSSettings(AudioSettings):
    feature_set: str = "eGeMAPSv02"  # the current version; eGeMAPSv01b reproduces older papers


def opensmile_version() -> str:
    """The installed opensmile's version (the native openSMILE ships inside it): part of the hash."""
    try:
        return version("opensmile")
    except PackageNotFoundError:
        raise missing_package("egemaps", "opensmile") from None


@cache
def smile(feature_set: str, level: str) -> Any:
    """One opensmile.Smile per feature set and level, shared by all threads: each call builds its own native
    openSMILE instance, so concurrent calls share no state (audEERING's audinterface runs it threaded too), and
    the native code releases the GIL."""
    opensmile = load("egemaps", "opensmile")
    return opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set], feature_level=opensmile.FeatureLevel[level])


def fit_frames(values: np.ndarray, rows: int) -> np.ndarray:
    """`values` (frames, features) cut or extended to `rows` frames by repeating the last one: the layout the
    cache made from rows() holds even should an opensmile version count frames differently from the rule."""
    if len(values) >= rows:
        return values[:rows]
    return np.concatenate([values, np.repeat(values[-1:], rows - len(values), axis=0)])


class OpenSmileFrontEnd(FrontEnd):
    """What the two eGeMAPS front-ends share: the settings, the hash and running openSMILE."""

    Settings = EGeMAPSSettings
    level: ClassVar[str]  # opensmile.FeatureLevel's name

    def check(self) -> None:
        require(self.name, "opensmile")
        if self.settings.feature_set not in FEATURE_SETS:
            raise SerbenchError(f"{self.name}: unknown feature_set {self.settings.feature_set!r}",
                                hint=f"use one of {', '.join(FEATURE_SETS)}")

    @property
    def counts(self) -> FeatureCounts:
        return FEATURE_SETS[self.settings.feature_set]

    def settings_hash(self) -> str:
        # A new opensmile may compute the same feature set differently: its version keeps caches apart.
        return stable_hash({**self.to_dict(), "opensmile": opensmile_version()})

    def features(self, audio: np.ndarray) -> np.ndarray:
        """openSMILE's rows for one utterance, (frames, features) float32 with NaN and infinities set to 0."""
        samples = np.asarray(audio, dtype=np.float32).reshape(1, -1)
        # opensmile multiplies by 32768 and casts to int16, which wraps full-scale samples round to the other sign.
        samples = np.clip(samples, -1.0, 32767 / 32768)
        values = smile(self.settings.feature_set, self.level)(samples, SAMPLE_RATE)[0].T  # (frames, features)
        return np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


@register_frontend("egemaps")
class EGeMAPS(OpenSmileFrontEnd):
    """The 88 eGeMAPSv02 functionals of the whole utterance (openSMILE), one row per utterance."""

    kind = "vectors"
    level = "Functionals"

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.counts.functionals,)

    def rows(self, n_samples: int) -> int:
        return 1

    def compute(self, audio: np.ndarray, out: np.ndarray) -> None:
        if len(audio) < MIN_SAMPLES:
            out[:] = 0.0  # what openSMILE's NaN row would become, without its warning
        else:
            out[:] = self.features(audio)


@register_frontend("egemaps-lld")
class EGeMAPSLowLevel(OpenSmileFrontEnd):
    """The 25 eGeMAPSv02 low-level descriptors of every 10 ms frame (openSMILE)."""

    kind = "frames"
    level = "LowLevelDescriptors"

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.counts.descriptors,)

    def rows(self, n_samples: int) -> int:
        return 1 if n_samples < MIN_SAMPLES else 2 + (n_samples - MIN_SAMPLES) // HOP_SAMPLES

    def compute(self, audio: np.ndarray, out: np.ndarray) -> None:
        if len(audio) < MIN_SAMPLES:
            out[:] = 0.0
        else:
            out[:] = fit_frames(self.features(audio), len(out))
