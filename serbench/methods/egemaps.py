"""eGeMAPS with a classic classifier: the standard cross-corpus baselines (Schuller et al., IEEE T-AFFC 2010; Eyben
et al., IEEE T-AFFC 2016), on the utterance functionals of the `egemaps` front-end (any vectors front-end works).

Both are scikit-learn estimators fitted in one call on the training part (Method.fit_all), class-balanced because
the score is UA. Their regularisation is chosen by one rule, on the training speakers only: every candidate of
the grid is scored by the UA of its out-of-fold decisions under speaker-grouped cross-validation of the training
part (at most 5 folds, never a speaker on both sides; GroupKFold, so the folds are deterministic), the best is
kept (ties: the earlier, more regularised candidate) and refitted on the whole training part. Where the protocol
holds out a validation part (training speakers too), candidates are scored on it instead. The test part is never
seen: the harness gives fit_all no test row.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.svm import SVC
from torch import Tensor

from serbench.errors import SerbenchError
from serbench.method import HP, Method, TaskSpec, register_method
from serbench.metrics import confusion_matrix, unweighted_accuracy
from serbench.training import Batch

INNER_FOLDS = 5


class SpeakerCVClassifier(Method):
    """A scikit-learn classifier on one vector per utterance whose free settings (those left at 0) are chosen from
    `grid` by speaker-grouped cross-validation of the training part."""

    inputs: ClassVar[tuple[str, ...]] = ("vectors",)
    grid: ClassVar[dict[str, tuple[float, ...]]] = {}  # setting -> candidates, the most regularised first

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(task, hp)
        self.estimator: ClassifierMixin | None = None

    @abc.abstractmethod
    def make(self, settings: Mapping[str, float], n_features: int) -> ClassifierMixin:
        """A new estimator with these settings (values as the grid gives them)."""

    def fit_all(self, train: Batch, validation: Batch | None) -> dict[str, Any]:
        x, y = features(train), train.emotion.cpu().numpy()
        free = [key for key in self.grid if self.hp[key] == 0]
        fixed = {key: self.hp[key] for key in self.grid if key not in free}
        candidates = [{**fixed, **dict(zip(free, values, strict=True))}
                      for values in itertools.product(*(self.grid[key] for key in free))]
        chosen: dict[str, Any] = {**candidates[0], "chosen_by": "given"}
        if len(candidates) > 1:
            scores, how = self._score(candidates, x, y, train, validation)
            best = int(np.argmax(scores))  # the first of equal scores: the more regularised
            chosen = {**candidates[best], "selection_ua": scores[best], "chosen_by": how}
        self.estimator = self.make({key: chosen[key] for key in self.grid}, x.shape[1]).fit(x, y)
        return {key: value if isinstance(value, str) else float(value) for key, value in chosen.items()}

    def _score(self, candidates: list[dict[str, float]], x: np.ndarray, y: np.ndarray, train: Batch,
               validation: Batch | None) -> tuple[list[float], str]:
        """Each candidate's UA on the validation part, else in speaker-grouped cross-validation of the training
        part; and how they were scored."""
        if validation is not None:
            held, truth = features(validation), validation.emotion.cpu().numpy()
            return [self._ua(truth, self.make(c, x.shape[1]).fit(x, y).predict(held)) for c in candidates], \
                "validation part"
        if "speaker" not in train.domains:
            raise SerbenchError(f"method {self.name!r} chooses its settings on the training speakers, and the "
                                "training rows carry no speaker labels", hint="give the rows their speakers")
        groups = train.domains["speaker"].cpu().numpy()
        folds = min(INNER_FOLDS, len(np.unique(groups)))
        if folds < 2:
            raise SerbenchError(f"method {self.name!r} chooses its settings by speaker-grouped cross-validation, "
                                "and the training part has one speaker",
                                hint="fix the free settings with --hp (e.g. --hp C=1)")
        scores = []
        for candidate in candidates:
            decided = np.empty_like(y)
            for inner, held in GroupKFold(folds).split(x, y, groups):
                decided[held] = self.make(candidate, x.shape[1]).fit(x[inner], y[inner]).predict(x[held])
            scores.append(self._ua(y, decided))
        return scores, f"speaker-grouped {folds}-fold cross-validation of the training part"

    def _ua(self, y: np.ndarray, decided: np.ndarray) -> float:
        return unweighted_accuracy(confusion_matrix(y, decided, len(self.task.classes)))

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(rows, classes of the training part) posteriors; a subclass without calibrated ones overrides it."""
        return self.estimator.predict_proba(x)

    def predict(self, batch: Batch) -> Tensor:
        if self.estimator is None:
            raise SerbenchError(f"method {self.name!r} predicts before it was fitted")
        posteriors = np.zeros((len(batch.inputs), len(self.task.classes)))
        posteriors[:, self.estimator.classes_] = self.scores(features(batch))  # classes the training part lacks: 0
        return torch.as_tensor(posteriors, dtype=torch.float32, device=batch.inputs.device)


def features(batch: Batch) -> np.ndarray:
    return batch.inputs.flatten(1).double().cpu().numpy()


@register_method("egemaps_lr")
class EgemapsLR(SpeakerCVClassifier):
    """Multinomial logistic regression (class-balanced, L2 penalty on the weights, not on the intercept)."""

    hparams: ClassVar[dict[str, Any]] = {
        "C": HP(0.0, low=0.0, doc="inverse L2 strength; 0: chosen from 0.001, 0.01, 0.1, 1, 10 on the training "
                                  "speakers (methods/egemaps.py)"),
    }
    grid: ClassVar[dict[str, tuple[float, ...]]] = {"C": (0.001, 0.01, 0.1, 1.0, 10.0)}

    def make(self, settings: Mapping[str, float], n_features: int) -> ClassifierMixin:
        # lbfgs leaves the intercept unpenalised; the harness has standardised every feature
        return LogisticRegression(C=settings["C"], class_weight="balanced", max_iter=10_000)


@register_method("egemaps_svm")
class EgemapsSVM(SpeakerCVClassifier):
    """RBF support vector machine (class-balanced), the eGeMAPS baseline of the challenges and of nkululeko."""

    hparams: ClassVar[dict[str, Any]] = {
        "C": HP(0.0, low=0.0, doc="the margin's penalty; 0: chosen from 0.1, 1, 10, 100 on the training speakers"),
        "gamma": HP(0.0, low=0.0, doc="the RBF width times the number of features (1: scikit-learn's 'scale' on "
                                      "standardised features); 0: chosen from 0.25, 1, 4 on the training speakers"),
    }
    grid: ClassVar[dict[str, tuple[float, ...]]] = {"C": (0.1, 1.0, 10.0, 100.0), "gamma": (0.25, 1.0, 4.0)}

    def make(self, settings: Mapping[str, float], n_features: int) -> ClassifierMixin:
        return SVC(C=settings["C"], gamma=settings["gamma"] / n_features, class_weight="balanced")

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Not calibrated probabilities: a softmax of the one-vs-rest decision values, whose largest is the SVM's
        decision (Platt scaling would cost five more fits and can disagree with it)."""
        values = self.estimator.decision_function(x)
        values = np.stack([-values, values], axis=1) / 2 if values.ndim == 1 else values
        values = values - values.max(axis=1, keepdims=True)
        return np.exp(values) / np.exp(values).sum(axis=1, keepdims=True)

