"""Normalisation by group: moments against numpy, the protocol's groupings, label-free statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from serbench.errors import SerbenchError
from serbench.features.normalisation import Normaliser, fit_normaliser, normalisation_groups, segment_moments

RNG = np.random.default_rng(7)


def frames_of(features: np.ndarray) -> np.ndarray:
    return features.reshape(-1, features.shape[-1]).astype(np.float64)


def test_one_group_equals_numpys_statistics() -> None:
    features = RNG.normal(3.0, 2.0, (50, 32, 129)).astype(np.float32)
    normaliser = fit_normaliser(features)
    np.testing.assert_allclose(normaliser.mean[0], frames_of(features).mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(normaliser.std[0], frames_of(features).std(axis=0), rtol=1e-9)
    standardised = frames_of(normaliser.apply(features))
    np.testing.assert_allclose(standardised.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(standardised.std(axis=0), 1, atol=1e-5)


def test_groups_in_uneven_chunks_of_a_memmap_equal_numpy(tmp_path) -> None:
    features = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.float32, shape=(40, 32, 129))
    features[:] = RNG.normal(0, 1, features.shape) + np.arange(40)[:, None, None] % 3 * 50  # groups far apart
    rows = np.array([25, 3, 4, 5, 17, 0, 38, 12])
    owner = np.array([2, 0, 1, 0, 2, 1, 0, 2])
    moments = segment_moments(np.load(tmp_path / "f.npy", mmap_mode="r"), rows, owner, 4, chunk_segments=3)
    for group in range(3):
        frames = frames_of(features[rows[owner == group]])
        assert moments.count[group] == len(frames)
        np.testing.assert_allclose(moments.mean[group], frames.mean(axis=0), rtol=1e-9)
        np.testing.assert_allclose(moments.m2[group] / len(frames), frames.var(axis=0), rtol=1e-8)
    assert moments.count[3] == 0  # a group without segments


def test_merging_per_utterance_moments_equals_computing_per_group() -> None:
    features = RNG.normal(-5, 3, (30, 32, 129)).astype(np.float32)
    utterance = np.repeat(np.arange(10), 3)
    speaker = np.array([0, 1, 0, 2, 2, 1, 0, 1, 2, 0])
    per_utterance = segment_moments(features, np.arange(30), utterance, 10)
    direct = segment_moments(features, np.arange(30), speaker[utterance], 3)
    merged = per_utterance.merge(speaker, 3)
    np.testing.assert_array_equal(merged.count, direct.count)
    np.testing.assert_allclose(merged.mean, direct.mean, rtol=1e-10)
    np.testing.assert_allclose(merged.m2, direct.m2, rtol=1e-8)


def test_apply_to_tensors_equals_numpy_and_a_constant_bin_stays_finite() -> None:
    features = RNG.normal(-5, 3, (10, 32, 129)).astype(np.float32)
    features[..., 0] = 1.0  # a constant bin must not divide by zero
    normaliser = fit_normaliser(features)
    tensor = normaliser.apply(torch.from_numpy(features))
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    np.testing.assert_array_equal(tensor.numpy(), normaliser.apply(features))  # both in float64
    assert np.isfinite(normaliser.apply(features)).all()


def test_refuses_no_segments_and_empty_groups() -> None:
    with pytest.raises(SerbenchError, match="zero segments"):
        fit_normaliser(np.zeros((5, 32, 129), dtype=np.float32), rows=np.array([], dtype=np.int64))
    moments = segment_moments(np.ones((2, 32, 129), np.float32), np.arange(2), np.zeros(2, np.int64), 2)
    with pytest.raises(SerbenchError, match="group 'b' has no audio"):
        Normaliser.from_moments(moments, ("a", "b"), "speaker")


def test_group_names_of_each_mode() -> None:
    split = pd.DataFrame({"utterance_id": ["u1", "u2", "u3", "u4"], "corpus": ["a", "a", "b", "b"],
                          "speaker": ["a:1", "a:2", "b:1", "b:1"], "part": ["train", "test", "test", "test"]})
    names, contributes = normalisation_groups(split, "training")
    assert set(names) == {"training"} and list(contributes) == [True, False, False, False]
    assert list(normalisation_groups(split, "corpus")[0]) == ["train:a", "test:a", "test:b", "test:b"]
    assert list(normalisation_groups(split, "speaker")[0]) == ["a:1", "a:2", "b:1", "b:1"]
    assert list(normalisation_groups(split, "utterance")[0]) == ["a/u1", "a/u2", "b/u3", "b/u4"]
    for mode in ("corpus", "speaker", "utterance"):
        assert normalisation_groups(split, mode)[1].all()  # every utterance's audio counts, labelled or not
