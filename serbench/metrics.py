"""Scores of one test corpus, each registered as a `Metric` with its direction and its rule for pooling folds:
of classes, unweighted accuracy (the paper's metric), weighted accuracy and macro-F1, from a confusion matrix; of
ratings (the dimensional tasks), the concordance correlation coefficient (CCC), Pearson's r and the RMSE, from six
sums of the true and predicted values. The near-collapse rule."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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


def rating_sums(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """What every score of ratings is computed from, and pooled by adding: n, sum of x, sum of y, sum of x^2,
    sum of y^2 and sum of x*y, where x is the true rating and y the predicted one. Over the last axis (the
    utterances), the true ratings broadcast against the predictions: (..., 6), as the calibration's simulation
    computes many runs' at once."""
    y = np.asarray(y_pred, dtype=np.float64)
    x = np.broadcast_to(np.asarray(y_true, dtype=np.float64), y.shape)
    return np.stack([np.full(y.shape[:-1], y.shape[-1], dtype=np.float64), x.sum(-1), y.sum(-1), (x * x).sum(-1),
                     (y * y).sum(-1), (x * y).sum(-1)], axis=-1)


def _rating_moments(sums: np.ndarray) -> tuple[np.ndarray, ...]:
    """The means of x and y, their (population) variances and covariance, over the sums' leading axes (NaN where
    there are no ratings)."""
    n, sx, sy, sxx, syy, sxy = np.moveaxis(np.asarray(sums, dtype=np.float64), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx, my = sx / n, sy / n

        def variance(second: np.ndarray, mean: np.ndarray) -> np.ndarray:
            # from the sums, a constant's variance is a rounding error (of either sign) of its second moment: 0
            value = second - mean * mean
            return np.where(value > 1e-12 * second, value, np.where(np.isnan(value), np.nan, 0.0))

        return mx, my, variance(sxx / n, mx), variance(syy / n, my), sxy / n - mx * my


def concordances(sums: np.ndarray) -> np.ndarray:
    """concordance over the leading axes of rating sums (..., 6)."""
    mx, my, vx, vy, cov = _rating_moments(sums)
    denominator = vx + vy + (mx - my) ** 2
    return np.divide(2 * cov, denominator, out=np.full(np.shape(denominator), np.nan), where=denominator > 0)


def concordance(sums: np.ndarray) -> float:
    """Lin's concordance correlation coefficient: 2 cov(x, y) / (var x + var y + (mean x - mean y)^2), with
    population moments (Lin 1989; the AVEC challenges' and the field's score of ratings). It is 1 only where the
    predictions equal the truth, 0 for a constant prediction; NaN where both are one constant."""
    return float(concordances(sums))


def pearson(sums: np.ndarray) -> float:
    """Pearson's correlation of the true and predicted ratings: 0 for a constant prediction (it follows nothing,
    as its CCC is 0), NaN where the truth is constant."""
    _, _, vx, vy, cov = (float(value) for value in _rating_moments(sums))
    if not vx > 0:
        return float("nan")
    if vy <= 0:
        return 0.0
    return cov / float(np.sqrt(vx * vy))


def rmse(sums: np.ndarray) -> float:
    """The root mean squared error, on serbench's rating scale (data.labels.RATING_RANGE)."""
    n, _, _, sxx, syy, sxy = (float(value) for value in sums)
    return float(np.sqrt(max(0.0, (sxx + syy - 2 * sxy) / n))) if n > 0 else float("nan")


# What a metric scores, and the statistic it is computed from (and pooled by adding): a confusion matrix of classes
# or the rating sums (rating_sums) of a dimensional task's predictions.
TARGETS = {"classes": "confusion", "ratings": "rating_sums"}


@dataclass(frozen=True)
class Metric:
    """A score of one test corpus, computed from its statistic: a confusion matrix for classes, the rating sums for
    ratings (TARGETS). Its folds (and its utterances) pool by adding their statistics before the score is taken,
    never by averaging fold scores: a fold with few utterances of a class would otherwise weigh as much as the rest,
    and a mean of fold CCCs is not the CCC of the folds together."""

    name: str  # the key in run records and tables: "ua"
    title: str  # on pages: "UA"
    description: str
    of_statistic: Callable[[np.ndarray], float]
    higher_is_better: bool = True
    target: str = "classes"  # TARGETS
    percent: bool = True  # shown in per cent (UA 52.3), else as it is (CCC 0.412)
    bounds: tuple[float, float] = (0.0, 1.0)  # the values it can take: the leaderboards clip intervals to them

    @property
    def unit(self) -> str:
        """How its values are shown, for titles: "UA (%)", "CCC"."""
        return f"{self.title} (%)" if self.percent else self.title

    @property
    def digits(self) -> int:
        """The decimals tables show: 52.3 (%), 0.412."""
        return 1 if self.percent else 3

    def shown(self, value: Any) -> Any:
        """A value (or a column of them) as tables show it: in per cent, or as it is."""
        return 100 * value if self.percent else value

    def pooled(self, statistics: Sequence[np.ndarray]) -> float:
        """The score of several folds (or cycles) of one corpus together."""
        return self.of_statistic(np.sum(np.asarray(statistics, dtype=float), axis=0))


METRICS: Registry[Metric] = Registry("metric")
for metric in (Metric("ua", "UA", "unweighted accuracy: the mean recall over the classes present",
                      unweighted_accuracy),
               Metric("wa", "WA", "weighted accuracy: correct decisions over all decisions", weighted_accuracy),
               Metric("macro_f1", "macro-F1", "the mean F1 over the classes present or predicted", macro_f1),
               Metric("ccc", "CCC", "concordance correlation coefficient of the predicted and true ratings",
                      concordance, target="ratings", percent=False, bounds=(-1.0, 1.0)),
               Metric("pcc", "PCC", "Pearson's correlation of the predicted and true ratings", pearson,
                      target="ratings", percent=False, bounds=(-1.0, 1.0)),
               Metric("rmse", "RMSE", "root mean squared error of the ratings, on the scale -1 .. 1", rmse,
                      higher_is_better=False, target="ratings", percent=False, bounds=(0.0, math.inf))):
    METRICS.add(metric.name, metric)
MAIN_METRIC = "ua"  # the paper's, and the default of a protocol's main score
MAIN_METRICS = {"classes": MAIN_METRIC, "ratings": "ccc"}  # the main score of each target


def main_metric(target: str, chosen: str = MAIN_METRIC) -> Metric:
    """The main score of a task of `target`: `chosen` (a protocol's) where it scores that target, else the
    target's own (CCC for ratings)."""
    metric = METRICS[chosen]
    return metric if metric.target == target else METRICS[MAIN_METRICS[target]]


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Every registered metric of classes, n and the confusion matrix, JSON-ready."""
    return statistic_scores(confusion_matrix(y_true, y_pred, n_classes), "classes")


def rating_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Every registered metric of ratings, n and the rating sums, JSON-ready."""
    return statistic_scores(rating_sums(y_true, y_pred), "ratings")


def prediction_statistic(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """The additive statistic of predictions: the confusion matrix of class decisions, or, with no classes (a
    dimensional task), the rating sums of predicted ratings."""
    return confusion_matrix(y_true, y_pred, n_classes) if n_classes else rating_sums(y_true, y_pred)


def prediction_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Every registered metric of the predictions' target (prediction_statistic: no classes, ratings), n and the
    statistic, JSON-ready."""
    return statistic_scores(prediction_statistic(y_true, y_pred, n_classes), "classes" if n_classes else "ratings")


def statistic_scores(statistic: np.ndarray, target: str) -> dict:
    """Every registered metric of `target` from its statistic (e.g. one summed over folds), n and the statistic
    under its name (TARGETS), JSON-ready."""
    statistic = np.asarray(statistic)
    values = {name: metric.of_statistic(statistic) for name, metric in METRICS.items() if metric.target == target}
    n = int(statistic.sum()) if target == "classes" else int(statistic[0])
    return {**values, "n": n, TARGETS[target]: statistic.tolist()}
