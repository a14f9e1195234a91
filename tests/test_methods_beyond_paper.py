"""The built-ins beyond the paper (egemaps_lr, ssl_mlp, ssl_dann) learn from each kind of row they accept, on toy
features derived from the segments of toy_features: per-utterance vectors, stacked 'layers', and frames."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from toy_features import make_toy, utterance_labels

from serbench.method import InputSpec, build_method, discover_methods
from serbench.metrics import ua
from serbench.training import SegmentSet, fit, utterance_posteriors


@pytest.fixture(scope="module", autouse=True)
def methods():
    return discover_methods()


def as_kind(data: SegmentSet, kind: str, layers: int = 3, seed: int = 0) -> SegmentSet:
    """vectors: each utterance's segments averaged over segments and time (129,); layers: that vector under
    `layers` noisy gains, one of them clean (layers, 129); frames: the utterance's time frames, one row each."""
    rng = np.random.default_rng(seed)
    features = data.features.parts[0][data.rows]
    utterances = np.unique(data.utterance)
    first = np.unique(data.utterance, return_index=True)[1]
    labels = {name: values[first] for name, values in data.domains.items()}
    if kind == "frames":
        frames = np.concatenate([features[data.utterance == u].reshape(-1, features.shape[-1]) for u in utterances])
        per = len(frames) // len(utterances)
        repeat = {name: np.repeat(values, per) for name, values in labels.items()}
        return SegmentSet(frames.astype(np.float32), np.repeat(utterances, per), np.repeat(data.emotion[first], per),
                          repeat, kind="frames")
    vectors = np.stack([features[data.utterance == u].mean(axis=(0, 1)) for u in utterances])
    vectors = (vectors - vectors.mean(0)) / vectors.std(0)
    if kind == "layers":  # layer 0 carries the signal, the others mostly noise
        vectors = np.stack([vectors] + [0.2 * vectors + rng.normal(size=vectors.shape) for _ in range(layers - 1)],
                           axis=1)
    return SegmentSet(vectors.astype(np.float32), np.arange(len(utterances)), data.emotion[first], labels,
                      kind="vectors")


def toy(kind: str):
    task, train = make_toy(takes=6, seed=0)
    _, test = make_toy(takes=4, seed=1)
    train, test = as_kind(train, kind), as_kind(test, kind, seed=1)
    shape = tuple(train.features.parts[0].shape[1:])
    return dataclasses.replace(task, input=InputSpec("frames" if kind == "frames" else "vectors", shape)), train, test


@pytest.mark.parametrize(("name", "kind"), [("egemaps_lr", "vectors"), ("ssl_mlp", "vectors"),
                                            ("ssl_mlp", "layers"), ("ssl_mlp", "frames"), ("ssl_dann", "layers")])
def test_learns_emotion_well_above_chance(name, kind):
    task, train, test = toy(kind)
    method = build_method(name, task, {"epochs": 30}, seed=0)
    history = fit(method, train, epochs=30, batch_size=16, seed=0, device="cpu")
    assert history[-1]["emotion"] < history[0]["emotion"]
    posteriors = utterance_posteriors(method, test, device="cpu")
    assert posteriors.shape == (test.n_utterances, len(task.classes))
    assert np.allclose(posteriors.sum(axis=1), 1.0, atol=1e-5)
    assert ua(utterance_labels(test, test.emotion), posteriors.argmax(axis=1)) > 0.6  # chance is 0.25


def test_ssl_mlp_learns_to_weight_the_informative_layer():
    task, train, _ = toy("layers")
    method = build_method("ssl_mlp", task, {}, seed=0)
    fit(method, train, epochs=30, batch_size=16, seed=0, device="cpu")
    weights = method.encoder.layer_weights().detach()
    assert torch.isclose(weights.sum(), torch.tensor(1.0)) and weights.argmax() == 0


def test_ssl_dann_reads_unlabelled_audio_and_trains_its_adversaries():
    task, train, test = toy("layers")
    unlabelled = dataclasses.replace(test, emotion=None)
    method = build_method("ssl_dann", task, {}, seed=0)
    assert method.uses_adaptation and not build_method("ssl_mlp", task, {}, seed=0).uses_adaptation
    history = fit(method, train, adaptation=unlabelled, epochs=2, batch_size=16, seed=0, device="cpu")
    assert {"domain_gender", "domain_language", "domain_corpus"} <= set(history[0])
    assert all(history[0][f"domain_{d}"] > 0 for d in ("gender", "language", "corpus"))
