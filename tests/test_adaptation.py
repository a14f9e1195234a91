"""Adaptation under the paper's cross protocol: DANN's domain classifiers see the unlabelled test audio, their
losses and gradients are real, and the test corpora's emotion labels never reach training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from serbench.runs.plan import plan
from serbench.runs.prepare import prepare
from serbench.runs.settings import SweepConfig
from serbench.training import fit

SMALL = {"preset": "small", "epochs": 1}


def sweep(tiny_releases, protocol: str, methods: tuple[str, ...] = ("dann1_s", "dann2_s")):
    config = SweepConfig(methods=methods, protocol=protocol, tasks=("arousal",), seeds=(0,),
                         data=str(tiny_releases), epochs=1, preset="small", device="cpu")
    return plan(config)


def first_batch(run):
    """The first training step's batch, with its adaptation batch where the run has adaptation audio."""
    positions = torch.arange(min(32, len(run.train_set)))
    batch = run.train_set.batch(positions)
    if run.adaptation_set is not None:
        batch.adaptation = run.adaptation_set.batch(torch.arange(min(32, len(run.adaptation_set))))
    return batch


@pytest.mark.parametrize("method", ["dann1_s", "dann2_s"])
def test_under_cross_the_corpus_and_language_adversaries_learn_and_reach_the_extractor(tiny_releases, method):
    plans = {name: sweep(tiny_releases, name, (method,)) for name in ("cross", "cross-dg")}
    adapted = prepare(plans["cross"].runs[0], plans["cross"].corpora)
    assert adapted.method.uses_adaptation and adapted.adaptation_set is not None
    # every test-corpus utterance is adaptation audio, labelled or not, and none of it is labelled
    assert adapted.adaptation_set.n_utterances == int((adapted.split["part"] == "test").sum())
    assert adapted.adaptation_set.emotion is None
    assert set(adapted.method.task.domains["corpus"]) == {"iemocap", "msp-improv", "savee", "emodb"}
    assert set(adapted.method.task.domains["language"]) == {"en", "de"}

    batch = first_batch(adapted)
    model = adapted.method
    inputs = torch.cat([batch.inputs, batch.adaptation.inputs])
    losses = model.losses(model.extractor(inputs), batch, progress=0.5)
    for domain in [d for d in ("corpus", "language") if d in model.heads]:
        assert losses[f"domain_{domain}"].item() > 0.1
        gradients = torch.autograd.grad(losses[f"domain_{domain}"], list(model.extractor.parameters()),
                                        retain_graph=True)
        assert sum(g.abs().sum() for g in gradients) > 0  # the reversed gradient reaches the extractor

    # Without adaptation (cross-dg) IEMOCAP is the only corpus and all English: these heads have one label, a loss
    # of exactly 0 and no gradient. That was the paper's systems under cross before adaptation.
    alone = prepare(plans["cross-dg"].runs[0], plans["cross-dg"].corpora)
    assert alone.adaptation_set is None
    batch = first_batch(alone)
    losses = alone.method.losses(alone.method.extractor(batch.inputs), batch, progress=0.5)
    assert losses["domain_corpus"].item() == 0.0


def relabelled(corpora, corpus: str):
    """The corpora with every emotion label of `corpus` replaced by another (a rotation of the categories)."""
    table = corpora[corpus].table
    emotions = sorted(table["emotion"].unique())
    rotate = dict(zip(emotions, emotions[1:] + emotions[:1], strict=True))
    changed = table.assign(emotion=table["emotion"].map(rotate), emotion_code="x", arousal=np.nan, valence=np.nan)
    assert (changed["emotion"] != table["emotion"]).all()
    return {**corpora, corpus: type(corpora[corpus])(**{**vars(corpora[corpus]), "table": changed})}


def test_the_test_corpora_emotion_labels_are_never_read_in_training(tiny_releases):
    planned = sweep(tiny_releases, "cross", ("dann2_cs",))
    spec = planned.runs[0]

    def train(corpora) -> tuple[list, dict]:
        run = prepare(spec, corpora)
        curves = fit(run.method, run.train_set, adaptation=run.adaptation_set, seed=spec.seed, device="cpu")
        return curves, {k: v.clone() for k, v in run.method.state_dict().items()}

    curves, weights = train(planned.corpora)
    corpora = planned.corpora
    for corpus in ("msp-improv", "savee", "emodb"):
        corpora = relabelled(corpora, corpus)
    other_curves, other_weights = train(corpora)
    assert other_curves == curves  # bit-identical training
    assert all(torch.equal(weights[k], other_weights[k]) for k in weights)
    # ...while the test part's labels did change, so the check above is not vacuous
    assert not prepare(spec, corpora).test["y"].equals(prepare(spec, planned.corpora).test["y"])


def test_the_baselines_ignore_the_adaptation_audio(tiny_releases):
    plans = {name: sweep(tiny_releases, name, ("baseline_s",)) for name in ("cross", "cross-dg")}
    histories = []
    for planned in plans.values():
        run = prepare(planned.runs[0], planned.corpora)
        assert not run.method.uses_adaptation
        histories.append(fit(run.method, run.train_set, adaptation=run.adaptation_set, seed=0, device="cpu"))
    assert histories[0] == histories[1]


def test_the_record_says_what_adaptation_and_normalisation_saw(tiny_releases, tmp_path):
    from serbench.runs.launch import run

    run("dann2_s", "cross", tasks=["arousal"], seeds=1, data=str(tiny_releases), results=tmp_path, preset="small",
        epochs=1, device="cpu")
    from serbench.runs.store import ResultsStore

    store = ResultsStore(tmp_path)
    record = store.record(next(iter(store.done_ids()))).to_dict()
    assert record["adaptation"] == {"setting": "unlabelled-test", "read_by_method": True,
                                    "utterances": pd.read_parquet(store.runs / record["run_id"] / "split.parquet")
                                    .query("part == 'test'").shape[0]}
    assert record["normalisation"]["mode"] == "speaker" and record["normalisation"]["uses_test_audio"]
    assert record["normalisation"]["groups"] == 10 + 12 + 4 + 10  # every speaker of the four corpora
