"""The built-ins beyond the paper (egemaps_lr, egemaps_svm, ssl_mlp, ssl_dann) learn from each kind of row they
accept, on toy features derived from the segments of toy_features: per-utterance vectors, stacked 'layers', and
frames. The scikit-learn estimators weigh classes for UA and choose their settings on training speakers only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from toy_features import make_toy, utterance_labels

from serbench.data.corpora import read_corpus
from serbench.method import InputSpec, TaskSpec, build_method, discover_methods
from serbench.metrics import ua
from serbench.runs.launch import run
from serbench.runs.store import ResultsStore
from serbench.training import RowSet, fit, utterance_posteriors

ESTIMATORS = ("egemaps_lr", "egemaps_svm")


@pytest.fixture(scope="module", autouse=True)
def methods():
    return discover_methods()


def as_kind(data: RowSet, kind: str, layers: int = 3, seed: int = 0) -> RowSet:
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
        return RowSet(frames.astype(np.float32), np.repeat(utterances, per), np.repeat(data.emotion[first], per),
                          repeat, kind="frames")
    vectors = np.stack([features[data.utterance == u].mean(axis=(0, 1)) for u in utterances])
    vectors = (vectors - vectors.mean(0)) / vectors.std(0)
    if kind == "layers":  # layer 0 carries the signal, the others mostly noise
        vectors = np.stack([vectors] + [0.2 * vectors + rng.normal(size=vectors.shape) for _ in range(layers - 1)],
                           axis=1)
    return RowSet(vectors.astype(np.float32), np.arange(len(utterances)), data.emotion[first], labels,
                      kind="vectors")


def toy(kind: str):
    task, train = make_toy(takes=6, seed=0)
    _, test = make_toy(takes=4, seed=1)
    train, test = as_kind(train, kind), as_kind(test, kind, seed=1)
    shape = tuple(train.features.parts[0].shape[1:])
    return dataclasses.replace(task, input=InputSpec("frames" if kind == "frames" else "vectors", shape)), train, test


@pytest.mark.parametrize(("name", "kind"), [("ssl_mlp", "vectors"),
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


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimators_learn_and_choose_their_settings_by_speaker_cross_validation(name):
    task, train, test = toy("vectors")
    method = build_method(name, task, {}, seed=0)
    assert fit(method, train, device="cpu") == []  # one call, no curve
    chosen = method.selection
    assert chosen["chosen_by"] == "speaker-grouped 5-fold cross-validation of the training part"
    assert all(chosen[key] in method.grid[key] for key in method.grid) and 0.25 < chosen["selection_ua"] <= 1
    posteriors = utterance_posteriors(method, test, device="cpu")
    assert posteriors.shape == (test.n_utterances, len(task.classes))
    assert np.allclose(posteriors.sum(axis=1), 1.0, atol=1e-5) and (posteriors >= 0).all()
    assert ua(utterance_labels(test, test.emotion), posteriors.argmax(axis=1)) > 0.6  # chance is 0.25
    given = build_method(name, task, {key: str(method.grid[key][0]) for key in method.grid}, seed=0)
    fit(given, train, device="cpu")
    assert given.selection == {**{key: method.grid[key][0] for key in method.grid}, "chosen_by": "given"}


def imbalanced(n: int, minority: float, seed: int) -> RowSet:
    """Two overlapping classes (one standard deviation apart on one of five features), `minority` of class 1,
    ten speakers."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < minority).astype(np.int64)
    x = rng.normal(size=(n, 5))
    x[:, 0] += y
    return RowSet(x.astype(np.float32), np.arange(n), y, {"speaker": rng.integers(0, 10, n)}, kind="vectors")


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimators_weigh_the_classes_for_ua(name):
    # Trained on 9 to 1, tested on 1 to 1: a classifier fitted to the prior would almost never say class 1 (its
    # recall about 0.05, UA about 0.52); weighted for UA, it puts the boundary near the middle (recall about 0.7).
    task = TaskSpec(("common", "rare"), {"speaker": tuple(map(str, range(10)))}, InputSpec("vectors", (5,)))
    method = build_method(name, task, {}, seed=0)
    fit(method, imbalanced(2000, 0.1, seed=0), device="cpu")
    test = imbalanced(2000, 0.5, seed=1)
    decided = utterance_posteriors(method, test, device="cpu").argmax(axis=1)
    assert decided[test.emotion == 1].mean() > 0.5 and ua(test.emotion, decided) > 0.62


def manifest(table: pd.DataFrame, path: Path, emotions: pd.Series | None = None) -> None:
    table = table.assign(speaker=table["speaker"].str.split(":").str[1])
    if emotions is not None:
        table = table.assign(emotion=emotions.to_numpy())
    table[["path", "speaker", "gender", "language", "emotion"]].to_csv(path, index=False)


def test_the_test_labels_never_reach_an_estimators_choice(tiny_releases, tmp_path):
    # The same sweep twice, the second with the test corpus's labels shuffled: every choice and every posterior
    # must be identical, since nothing of the test part but its audio (for per-speaker statistics) is read.
    train, test = (read_corpus(name, tiny_releases / folder).table for name, folder in
                   (("emodb", "emodb"), ("savee", "SAVEE")))
    manifest(train, tmp_path / "train.csv")
    shuffled = test["emotion"].sample(frac=1.0, random_state=0)
    assert (shuffled.to_numpy() != test["emotion"].to_numpy()).any()
    chosen, posteriors = [], []
    for labels in (None, shuffled):
        folder = tmp_path / ("shuffled" if labels is not None else "original")
        folder.mkdir()
        manifest(test, folder / "test.csv", labels)
        (folder / "data.toml").write_text(f'[corpora.train]\nmanifest = "{tmp_path / "train.csv"}"\n'
                                          '[corpora.test]\nmanifest = "test.csv"\n')
        run(list(ESTIMATORS), "transfer-dg[train=train,test=test]", tasks=["arousal", "valence"], seeds=[0],
            data=str(folder / "data.toml"), results=folder / "results", frontend="egemaps", device="cpu")
        store = ResultsStore(folder / "results")
        records = sorted(store.records(), key=lambda r: (r.method, r.task))
        assert len(records) == 4 and all(r.selection["chosen_by"].startswith("speaker-grouped") for r in records)
        chosen.append([r.selection for r in records])
        posteriors.append([store.table(r.run_id, "predictions").filter(like="p_") for r in records])
    assert chosen[0] == chosen[1]
    for original, after in zip(*posteriors, strict=True):
        pd.testing.assert_frame_equal(original, after)
