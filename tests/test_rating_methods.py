"""The neural methods of ratings (baseline_ccc, dann1_ccc, dann2_ccc, ssl_mlp_ccc, ssl_dann_ccc): the CCC loss is
metrics' CCC, each method learns a rating from toy features, model selection keeps the best validation CCC, a
method is refused a target it cannot predict, and one run goes from `serbench run` to a verified record."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_methods_beyond_paper import as_kind
from toy_features import make_toy, utterance_labels

from serbench.cli import main
from serbench.errors import SerbenchError
from serbench.method import (
    InputSpec,
    TaskSpec,
    build_method,
    check_target,
    discover_methods,
    get_method,
    resolve_hparams,
)
from serbench.metrics import concordance, rating_sums
from serbench.nn import ccc_loss
from serbench.runs.store import ResultsStore
from serbench.training import BestValidation, RowSet, fit, utterance_posteriors

torch.set_num_threads(2)
PAPER_RATINGS = ["baseline_ccc", "dann1_ccc", "dann2_ccc"]
SSL_RATINGS = ["ssl_mlp_ccc", "ssl_dann_ccc"]
# An arousal-like rating of each toy emotion (anger, happiness, sadness, neutral), on serbench's scale -1 .. 1
AROUSAL = np.array([0.8, 0.4, -0.6, -0.2])


@pytest.fixture(scope="module", autouse=True)
def methods():
    return discover_methods()


def rated(task: TaskSpec, data: RowSet, seed: int) -> tuple[TaskSpec, RowSet]:
    """The toy set as a dimensional task: each utterance rated by its emotion's arousal plus its own noise, so the
    rating is correlated with the inputs but not a function of the class alone."""
    noise = np.random.default_rng(seed).normal(scale=0.15, size=data.n_utterances)
    ratings = np.clip(AROUSAL[data.emotion] + noise[data.utterance], -1, 1).astype(np.float32)
    return dataclasses.replace(task, classes=(), rating="arousal"), dataclasses.replace(data, emotion=ratings)


def toy(kind: str = "segments") -> tuple[TaskSpec, RowSet, RowSet]:
    """Rated toy training and test sets: the paper's segments, or per-utterance vectors for the ssl methods."""
    task, train = make_toy(takes=4, seed=0)
    _, test = make_toy(takes=3, seed=1)
    if kind != "segments":
        train, test = as_kind(train, kind), as_kind(test, kind, seed=1)
        task = dataclasses.replace(task, input=InputSpec(kind, tuple(train.features.parts[0].shape[1:])))
    task, train = rated(task, train, seed=0)
    return task, train, rated(task, test, seed=1)[1]


def test_the_ccc_loss_is_one_minus_the_ccc_that_scores_runs():
    rng = np.random.default_rng(0)
    truth = rng.uniform(-1, 1, 64)
    predicted = 0.5 * truth + 0.2 + rng.normal(scale=0.3, size=64)
    loss = ccc_loss(torch.tensor(predicted), torch.tensor(truth, dtype=torch.float32))
    assert loss.item() == pytest.approx(1 - concordance(rating_sums(truth, predicted)), abs=1e-6)
    assert ccc_loss(torch.tensor(truth), torch.tensor(truth)).item() == pytest.approx(0, abs=1e-6)
    constant = torch.zeros(8)
    assert ccc_loss(constant, constant).item() == 1  # undefined CCC: the loss stays finite
    with pytest.raises(SerbenchError, match=r"two 1-d tensors of equal length, not shapes \(64, 1\) and \(64,\)"):
        ccc_loss(torch.tensor(predicted).unsqueeze(1), torch.tensor(truth))


@pytest.mark.parametrize(("name", "kind", "epochs"), [*((name, "segments", 2) for name in PAPER_RATINGS),
                                                      *((name, "vectors", 10) for name in SSL_RATINGS)])
def test_learns_a_rating(name, kind, epochs):
    task, train, test = toy(kind)
    method = build_method(name, task, {"preset": "small"} if kind == "segments" else {}, seed=0)
    history = fit(method, train, epochs=epochs, batch_size=16 if kind == "vectors" else 32, seed=0, device="cpu")
    assert history[-1]["emotion"] < history[0]["emotion"]
    if method.adversaries:
        assert {f"domain_{domain}" for domain in method.adversaries} <= set(history[0])
    predicted = utterance_posteriors(method, test, device="cpu")
    assert predicted.shape == (test.n_utterances, 1)
    ccc = concordance(rating_sums(utterance_labels(test, test.emotion), predicted[:, 0]))
    assert ccc > 0.5  # a constant or unrelated prediction scores about 0


def test_best_validation_keeps_the_epoch_of_the_best_validation_ccc():
    task, train, validation = toy("vectors")
    method = build_method("ssl_mlp_ccc", task, {}, seed=0)
    history = fit(method, train, epochs=8, batch_size=16, seed=0, device="cpu", validation=validation,
                  selection=BestValidation(patience=3))
    curve = [epoch["validation_ccc"] for epoch in history]
    best = int(np.argmax(curve))
    assert method.selection == {"epoch": best + 1, "validation_ccc": curve[best]}
    assert "validation_ua" not in history[0]


def test_a_method_is_refused_a_target_it_cannot_predict():
    with pytest.raises(SerbenchError, match="'baseline_s' predicts classes, and the task 'arousal-dim' asks") as error:
        check_target(get_method("baseline_s"), "ratings", "arousal-dim")
    assert all(name in (error.value.hint or "") for name in [*PAPER_RATINGS, *SSL_RATINGS])
    with pytest.raises(SerbenchError, match="'dann1_ccc' predicts ratings, and the task 'emotion4' asks for classes"):
        check_target(get_method("dann1_ccc"), "classes", "emotion4")
    for name in [*PAPER_RATINGS, *SSL_RATINGS]:
        check_target(get_method(name), "ratings", "valence-dim")


@pytest.mark.parametrize("name", [*PAPER_RATINGS, *SSL_RATINGS])
def test_a_batch_of_one_rating_is_refused_and_the_rest_is_the_classifiers(name):
    """One rating has no CCC; every other hyperparameter is the classifier's (dann1_ccc's are dann1_s's)."""
    with pytest.raises(SerbenchError, match=f"batch_size=1 of method '{name}' is out of range"):
        resolve_hparams(get_method(name), {"batch_size": 1})
    classifier = get_method(name.replace("_ccc", "_s" if name in PAPER_RATINGS else ""))

    def unbatched(hparams: dict) -> dict:
        return {key: value for key, value in hparams.items() if key != "batch_size"}

    assert unbatched(get_method(name).cls.hparams) == unbatched(classifier.cls.hparams)


def test_a_run_of_baseline_ccc_is_scored_by_ccc_and_verified(tiny_releases, tmp_path):
    results = tmp_path / "results"
    assert main(["run", "--method", "baseline_ccc", "--hp", "preset=small", "--hp", "epochs=1", "--task",
                 "arousal-dim", "--protocol", "multi", "--data", str(tiny_releases), "--device", "cpu", "--seed",
                 "0", "--results", str(results)]) == 0
    store = ResultsStore(results)
    records = [store.record(run_id) for run_id in store.done_ids()]
    assert len(records) == 5 and {record.method for record in records} == {"baseline_ccc"}  # the protocol's folds
    for record in records:
        assert set(record.scores) == {"iemocap", "msp-improv"} and record.classes == []  # the rated corpora
        for scores in record.scores.values():  # every scored corpus: its CCC, from its rating sums
            assert scores.ua is None and scores.n == scores.rating_sums[0] > 0
            assert scores.ccc == pytest.approx(concordance(np.array(scores.rating_sums)))
    assert main(["verify", "--results", str(results)]) == 0

