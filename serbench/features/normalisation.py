"""Feature normalisation by group: each segment is standardised per feature bin with the statistics of its group.

A protocol chooses the groups (docs/protocols.md, "Normalisation"):
- `training`: one group, the training part's utterances; test segments use the training statistics.
- `corpus`: each corpus's utterances in each part (its training utterances, and separately its test utterances).
- `speaker`: each speaker's own utterances (speakers are never in both parts).
- `utterance`: each utterance's own frames.
Statistics are computed from audio alone, over every utterance of the group whatever its emotion label, so they
never depend on labels (the test corpora's labels cannot leak into training through them).

Moments are computed once per utterance (in float64, chunk by chunk, so a memory-mapped cache larger than memory
is fine) and merged into any grouping; merging is exact (Chan et al.'s pairwise update in sum form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from serbench.errors import SerbenchError


@dataclass(frozen=True)
class Moments:
    """First and second moments per owner (utterance or group): frames counted, mean and sum of squared
    deviations per bin, float64."""

    count: np.ndarray  # (owners,)
    mean: np.ndarray  # (owners, bins)
    m2: np.ndarray  # (owners, bins)

    @classmethod
    def concat(cls, parts: list[Moments]) -> Moments:
        return cls(*(np.concatenate([getattr(m, name) for m in parts]) for name in ("count", "mean", "m2")))

    def merge(self, owner: np.ndarray, owners: int) -> Moments:
        """The moments of `owners` groups, entry i of self belonging to group owner[i]."""
        return _pool(self.count, self.mean, self.m2, owner, owners)


def _pool(count: np.ndarray, mean: np.ndarray, m2: np.ndarray, owner: np.ndarray, owners: int) -> Moments:
    """Merge parts (count, mean, m2) into their owners."""
    return _finish(_sums(count, mean, m2, owner, owners))


def _sums(count: np.ndarray, mean: np.ndarray, m2: np.ndarray, owner: np.ndarray,
          owners: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Additive sums per owner: C = sum c, S1 = sum c mean, S2 = sum (m2 + c mean^2)."""
    index = torch.as_tensor(np.asarray(owner, dtype=np.int64))
    c = torch.as_tensor(np.asarray(count, dtype=np.float64))
    mu = torch.as_tensor(np.asarray(mean, dtype=np.float64))
    bins = mu.shape[1]
    total = torch.zeros(owners, dtype=torch.float64).index_add_(0, index, c)
    first = torch.zeros(owners, bins, dtype=torch.float64).index_add_(0, index, c[:, None] * mu)
    second = torch.zeros(owners, bins, dtype=torch.float64).index_add_(
        0, index, torch.as_tensor(np.asarray(m2, dtype=np.float64)) + c[:, None] * mu.square())
    return total, first, second


def _finish(sums: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> Moments:
    """mean = S1 / C; m2 = S2 - C mean^2."""
    total, first, second = sums
    mean = first / total.clamp(min=1)[:, None]
    m2 = (second - total[:, None] * mean.square()).clamp(min=0)  # rounding can go a hair below 0
    return Moments(total.numpy().astype(np.int64), mean.numpy(), m2.numpy())


def segment_moments(features: np.ndarray, rows: np.ndarray, owner: np.ndarray, owners: int, *,
                    feature_dims: int = 1, chunk_segments: int = 1024) -> Moments:
    """The moments of the rows `rows` of `features` (rows, *row shape), row rows[i] belonging to owner[i]; read
    chunk by chunk in row order. The last `feature_dims` axes of a row are its features (one statistic each),
    the axes before them are frames over which the statistics are taken: segments (time, bins) have 1, vectors
    (layers, features) 2. Each row's own moments are centred on its mean before they are summed, which keeps
    the sums accurate. The moments' features are flat: (owners, product of the feature axes)."""
    rows, owner = np.asarray(rows, dtype=np.int64), np.asarray(owner, dtype=np.int64)
    order = np.argsort(rows, kind="stable")  # sorted reads of a memory map
    row_shape = features.shape[1:]
    width = int(np.prod(row_shape[len(row_shape) - feature_dims:]))
    frames = int(np.prod(row_shape[:len(row_shape) - feature_dims]))
    sums = None
    for begin in range(0, len(rows), chunk_segments):
        part = order[begin:begin + chunk_segments]
        x = np.asarray(features[rows[part]], dtype=np.float64).reshape(len(part), frames, width)
        mean = x.mean(axis=1)
        chunk = _sums(np.full(len(part), frames), mean, np.square(x - mean[:, None]).sum(axis=1), owner[part],
                      owners)
        sums = chunk if sums is None else (sums[0] + chunk[0], sums[1] + chunk[1], sums[2] + chunk[2])
    if sums is None:
        return Moments(np.zeros(owners, np.int64), np.zeros((owners, width)), np.zeros((owners, width)))
    return _finish(sums)


@dataclass(frozen=True)
class Normaliser:
    """Per-bin standardisation (x - mean) / std with one row of statistics per group. Bins with (almost) no
    spread are divided by MIN_STD instead of 0."""

    mean: np.ndarray  # (groups, features) float64, features flat
    std: np.ndarray  # (groups, features) float64, population standard deviation (ddof=0)
    groups: tuple[str, ...]
    mode: str = "training"
    feature_shape: tuple[int, ...] = ()  # the feature axes of a row, () for a single one

    MIN_STD = 1e-6

    @classmethod
    def from_moments(cls, moments: Moments, groups: tuple[str, ...], mode: str,
                     feature_shape: tuple[int, ...] = ()) -> Normaliser:
        empty = [name for name, n in zip(groups, moments.count, strict=True) if n == 0]
        if empty:
            raise SerbenchError(f"cannot fit the feature normalisation: group {empty[0]!r} has no audio frames",
                                hint="check that the protocol's parts have utterances")
        return cls(moments.mean, np.sqrt(moments.m2 / moments.count[:, None]), groups, mode, feature_shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """The feature axes the statistics apply to (the last axes of a row)."""
        return self.feature_shape or (self.mean.shape[1],)

    @property
    def safe_std(self) -> np.ndarray:
        return np.maximum(self.std, self.MIN_STD)

    def apply(self, x: np.ndarray | torch.Tensor, group: int = 0) -> np.ndarray | torch.Tensor:
        """Standardise `x` (..., bins) with group `group`'s statistics: a numpy array or a torch tensor (kept on
        its device), returned as float32. Both compute in float64, so they agree bit for bit."""
        mean, std = self.mean[group].reshape(self.shape), self.safe_std[group].reshape(self.shape)
        if isinstance(x, torch.Tensor):
            return standardise(x, *(torch.as_tensor(v, device=x.device) for v in (mean, std)))
        return ((x - mean) / std).astype(np.float32)

    def summary(self) -> dict:
        """What a run record keeps: the mode and the number of groups (the statistics are recomputable)."""
        return {"mode": self.mode, "groups": len(self.groups)}


def standardise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std in float64, returned as float32: bit for bit what numpy computes for Normaliser.apply.
    mean and std broadcast against x: (bins,) for one group, or (batch, 1, bins) for each segment's own."""
    return ((x.double() - mean) / std).float()


def fit_normaliser(features: np.ndarray, rows: np.ndarray | None = None) -> Normaliser:
    """One group: the statistics of every frame of `features` (segments, frames, bins), or of its segments `rows`."""
    rows = np.arange(len(features)) if rows is None else np.asarray(rows, dtype=np.int64)
    if not len(rows):
        raise SerbenchError("cannot fit the feature normaliser on zero segments",
                            hint="check that the protocol's training part has utterances")
    return Normaliser.from_moments(segment_moments(features, rows, np.zeros(len(rows), np.int64), 1), ("all",),
                                   "training")


# The normalisation modes a protocol may name, with the words the pages use.
NORMALISATIONS = {
    "training": "with the training part's statistics",
    "corpus": "per corpus and part (test corpora with their own unlabelled audio's statistics)",
    "speaker": "per speaker (test speakers with their own unlabelled audio's statistics)",
    "utterance": "per utterance",
}


def normalisation_groups(split: pd.DataFrame, mode: str) -> tuple[pd.Series, pd.Series]:
    """For the utterances of a split (with its `part` column): each one's normalisation group, and whether its
    audio enters its group's statistics (under `training`, only the training part's does)."""
    if mode == "training":
        return pd.Series("training", index=split.index), split["part"] == "train"
    if mode == "corpus":
        names = split["part"] + ":" + split["corpus"]
    elif mode == "speaker":
        names = split["speaker"]
    elif mode == "utterance":
        names = split["corpus"] + "/" + split["utterance_id"]
    else:
        raise SerbenchError(f"unknown normalisation {mode!r}", hint=f"use one of: {', '.join(NORMALISATIONS)}")
    return names, pd.Series(True, index=split.index)
