"""Scores over the classes a pretrained classifier can name. `zero_shot` (methods/pretrained.py) never predicts a
class none of the classifier's labels maps to, so on the full task that class's recall counts 0 in its UA; its run
records the classes it can name (its selection). This score leaves the other classes' test utterances out and
decides each remaining one among the named classes alone: the largest of their posteriors, which is the decision
after renormalising them over those classes. It reads what every run stores (the predictions table: true class,
posterior per class), so any system on the same protocol, a head trained on the same checkpoint too, can be scored
over the same classes; no run record changes. docs/pretrained.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from serbench.errors import SerbenchError
from serbench.methods.pretrained import KNOWN_CLASSES
from serbench.metrics import scores
from serbench.runs.record import RunRecord


def known_classes(record: RunRecord) -> tuple[str, ...] | None:
    """The classes the classifier of a zero_shot run can name, in the task's order; None for a run of a method that
    does not say."""
    named = record.selection.get(KNOWN_CLASSES)
    return None if named is None else tuple(named.split(", "))


def subset_scores(predictions: pd.DataFrame, classes: Sequence[str], subset: Sequence[str]) -> dict[str, dict]:
    """Per test corpus, every registered metric with n and the confusion matrix (serbench.metrics.scores; class
    index k is subset[k]) over the test utterances whose true class is in `subset`, each decided by the largest
    posterior among `subset`'s classes. `predictions` is a run's table, `classes` its record's classes."""
    strangers = [label for label in subset if label not in classes]
    if strangers:
        raise SerbenchError(f"cannot score over {', '.join(subset)}: {', '.join(strangers)} not among the run's "
                            f"classes ({', '.join(classes)})")
    if len(subset) < 2:
        raise SerbenchError(f"cannot score over {', '.join(subset) or 'no class'}: a score needs two classes")
    columns = [f"p_{label}" for label in subset]
    missing = [column for column in ["corpus", "y", *columns] if column not in predictions]
    if missing:
        raise SerbenchError(f"the predictions table lacks {', '.join(missing)}",
                            hint="score a run's predictions.parquet (serbench.runs.store.ResultsStore.table)")
    position = {classes.index(label): k for k, label in enumerate(subset)}
    kept = predictions[predictions["y"].isin(position)]
    return {str(corpus): scores(rows["y"].map(position).to_numpy(), rows[columns].to_numpy().argmax(axis=1),
                                len(subset))
            for corpus, rows in kept.groupby("corpus", sort=True)}
