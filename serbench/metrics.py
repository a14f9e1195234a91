"""Scores of one test corpus: unweighted accuracy (the paper's metric), weighted accuracy, macro-F1, each
registered as a `Metric` with its direction and its rule for pooling folds; the near-collapse rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from serbench.plugins import Registry


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def unweighted_accuracy(matrix: np.ndarray) -> float:
    """The mean of per-class recalls over the classes present in the test part (UA, also UAR or balanced
    accuracy): a class the test part does not contain has no recall and does not count."""
    support = matrix.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(matrix)[present] / support[present])) if present.any() else float("nan")


def weighted_accuracy(matrix: np.ndarray) -> float:
    """Plain accuracy (WA): correct decisions over all decisions."""
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else float("nan")


def macro_f1(matrix: np.ndarray) -> float:
    """The mean F1 over the classes present in the test part or predicted for it."""
    tp = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    seen = (support + predicted) > 0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros_like(tp), where=seen)
    return float(f1[seen].mean()) if seen.any() else float("nan")


def ua(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted accuracy of integer labels (the classes are 0 .. the largest label seen)."""
    n_classes = int(max(np.max(y_true), np.max(y_pred))) + 1
    return unweighted_accuracy(confusion_matrix(y_true, y_pred, n_classes))


# A run that gives all but a sliver of a corpus's test utterances one class has practically learnt nothing there
# either (one gave 2 of 356 utterances the other class: UA 50.2): from this share of one predicted class on, and
# short of all of them (collapsed), it is flagged as near-collapsed.
NEAR_COLLAPSE_SHARE = 0.99


def degenerate(matrices: np.ndarray) -> np.ndarray:
    """Per confusion matrix (over the leading axes, true classes as rows): collapsed or near-collapsed, that is at
    least NEAR_COLLAPSE_SHARE of the test utterances got one class, where several classes are true."""
    matrices = np.asarray(matrices)
    predicted, true = matrices.sum(axis=-2), matrices.sum(axis=-1)
    total = predicted.sum(axis=-1)
    share = np.divide(predicted.max(axis=-1), total, out=np.zeros(total.shape), where=total > 0)
    return ((true > 0).sum(axis=-1) > 1) & (share >= NEAR_COLLAPSE_SHARE)


def near_collapsed(matrix: np.ndarray) -> bool:
    """At least NEAR_COLLAPSE_SHARE of the test utterances, but not all, got one class, where several are true."""
    matrix = np.asarray(matrix)
    return bool(degenerate(matrix)) and int(matrix.sum(axis=0).max()) < int(matrix.sum())


@dataclass(frozen=True)
class Metric:
    """A score of one test corpus, computed from its confusion matrix. Its folds (and its utterances) pool by
    summing their confusion matrices before the score is taken, never by averaging fold scores: a fold with few
    utterances of a class would otherwise weigh as much as the rest."""

    name: str  # the key in run records and tables: "ua"
    title: str  # on pages: "UA"
    description: str
    of_matrix: Callable[[np.ndarray], float]
    higher_is_better: bool = True

    def pooled(self, matrices: Sequence[np.ndarray]) -> float:
        """The score of several folds (or cycles) of one corpus together."""
        return self.of_matrix(np.sum(np.asarray(matrices), axis=0))


METRICS: Registry[Metric] = Registry("metric")
for metric in (Metric("ua", "UA", "unweighted accuracy: the mean recall over the classes present",
                      unweighted_accuracy),
               Metric("wa", "WA", "weighted accuracy: correct decisions over all decisions", weighted_accuracy),
               Metric("macro_f1", "macro-F1", "the mean F1 over the classes present or predicted", macro_f1)):
    METRICS.add(metric.name, metric)
MAIN_METRIC = "ua"  # the paper's, and the default of a protocol's main score


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Every registered metric, n and the confusion matrix, JSON-ready."""
    return matrix_scores(confusion_matrix(y_true, y_pred, n_classes))


def matrix_scores(matrix: np.ndarray) -> dict:
    """Every registered metric, n and the confusion matrix of a confusion matrix (e.g. one summed over folds)."""
    matrix = np.asarray(matrix)
    return {**{name: metric.of_matrix(matrix) for name, metric in METRICS.items()}, "n": int(matrix.sum()),
            "confusion": matrix.tolist()}
