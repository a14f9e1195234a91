"""Post-hoc probes: how much domain information (corpus, gender) a trained method's embedding still carries.

A logistic regression is trained on some test speakers' utterance embeddings and scored on other speakers':
speaker-grouped, class-stratified cross-validation. Splitting utterances at random would put every speaker on both
sides, and a probe could then name the domain by recognising the speaker (a gender probe on embeddings that hold
speaker identity and no gender at all would score near 1). Gender is probed within each corpus: gender is
confounded with corpus otherwise (SAVEE is all male), so a corpus cue would pass for a gender cue.

With 4 to 12 speakers a probe's chance level spreads widely (about +-25 points): each probe UA comes with a null
reference, the same probe on labels shuffled between speakers (null_accuracy).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serbench.method import Method
from serbench.metrics import confusion_matrix, unweighted_accuracy
from serbench.training import RowSet, utterance_embeddings

MAX_FOLDS = 5
PROBED = ("corpus", "gender")
NULL_DRAWS = 10  # relabellings behind a probe's null reference: enough for its rough spread, cheap enough per run


def probe_accuracy(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, *, seed: int = 0) -> float | None:
    """Unweighted accuracy of a logistic-regression probe predicting `labels` from `features`, with every group
    (speaker) wholly on the training or the test side of each fold; the predictions of all folds are pooled.

    Classes with fewer than two groups cannot be both trained and tested on new speakers and are left out;
    None when fewer than two classes remain. Folds: as many as the smallest class has groups, at most MAX_FOLDS.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    per_class = pd.Series(groups).groupby(labels).nunique()
    kept = per_class.index[per_class >= 2]
    if len(kept) < 2:
        return None
    mask = np.isin(labels, kept)
    x, y, g = np.asarray(features, dtype=np.float64)[mask], pd.factorize(labels[mask], sort=True)[0], groups[mask]
    folds = StratifiedGroupKFold(n_splits=min(MAX_FOLDS, int(per_class[kept].min())), shuffle=True, random_state=seed)
    predicted = np.empty_like(y)
    for train, test in folds.split(x, y, g):
        # Standardised inputs and sklearn's default L2 penalty (C = 1) keep the probe from fitting noise when
        # there are only a few hundred utterances for 64 to 256 dimensions.
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fold's training side may miss a class: predictions still count
            probe.fit(x[train], y[train])
        predicted[test] = probe.predict(x[test])
    return unweighted_accuracy(confusion_matrix(y, predicted, int(y.max()) + 1))


def null_accuracy(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                  seed: int = 0) -> dict[str, float] | None:
    """Mean and standard deviation of probe_accuracy over NULL_DRAWS draws of labels shuffled between groups
    (each speaker takes another speaker's label, the classes keeping their speaker counts): what the probe scores
    when the embedding says nothing about the domain beyond who is speaking. None where the probe is not possible.
    Labels are per speaker here (corpus, gender); a group with several takes its first."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    names, first = np.unique(groups, return_index=True)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(NULL_DRAWS):
        shuffled = dict(zip(names, rng.permutation(labels[first]), strict=True))
        ua = probe_accuracy(features, np.array([shuffled[g] for g in groups]), groups, seed=seed)
        if ua is None:
            return None
        draws.append(ua)
    return {"mean": float(np.mean(draws)), "std": float(np.std(draws, ddof=1)), "draws": NULL_DRAWS}


def embedding_probes(method: Method, test_set: RowSet, test: pd.DataFrame, device: str,
                     seed: int) -> dict[str, dict] | None:
    """The corpus probe over all test utterances and the gender probe within each test corpus (averaged over the
    corpora where it is possible), on the utterances' mean embeddings, each with its null reference
    (null_accuracy). None when the method exposes no embedding; a probe that is not possible (one class, or a
    class with a single speaker) is left out."""
    if type(method).embed is Method.embed:
        return None
    embeddings = utterance_embeddings(method, test_set, device=device)
    speakers = test["speaker"].to_numpy()
    probes = {}
    corpus = probe_accuracy(embeddings, test["corpus"].to_numpy(), speakers, seed=seed)
    if corpus is not None:
        probes["corpus"] = {"ua": corpus, "classes": int(test["corpus"].nunique()),
                            "null": null_accuracy(embeddings, test["corpus"].to_numpy(), speakers, seed=seed)}
    within, nulls = {}, []
    for name, rows in test.groupby("corpus", sort=True):
        index = rows.index.to_numpy()
        ua = probe_accuracy(embeddings[index], rows["gender"].to_numpy(), speakers[index], seed=seed)
        if ua is not None:
            within[str(name)] = ua
            nulls.append(null_accuracy(embeddings[index], rows["gender"].to_numpy(), speakers[index], seed=seed))
    if within:
        # the null of the average of independent per-corpus probes: mean of means, sd of the mean of the draws
        null = {"mean": float(np.mean([n["mean"] for n in nulls if n])),
                "std": float(np.sqrt(np.sum([n["std"] ** 2 for n in nulls if n])) / len(nulls)),
                "draws": NULL_DRAWS} if all(nulls) else None
        probes["gender"] = {"ua": float(np.mean(list(within.values()))), "classes": 2, "by_corpus": within,
                            "null": null}
    return probes
