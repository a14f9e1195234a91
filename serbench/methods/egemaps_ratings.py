"""eGeMAPS with a classic regressor, for the dimensional tasks: ridge regression and an RBF support vector
regressor on the utterance functionals, the baselines of the AVEC challenges and of nkululeko's regression
experiments.

They are methods/egemaps.py's speaker-grouped search with a regressor in place of the classifier: their
regularisation is chosen by the CCC of the out-of-fold predictions under speaker-grouped cross-validation of the
training part (or on the protocol's validation part), the best kept and refitted on the whole training part. The
test part is never seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.linear_model import Ridge
from sklearn.svm import SVR
from torch import Tensor

from serbench.errors import SerbenchError
from serbench.method import HP, register_method
from serbench.methods.egemaps import SpeakerCVClassifier, features
from serbench.metrics import concordance, rating_sums
from serbench.training import Batch


class SpeakerCVRegressor(SpeakerCVClassifier):
    """SpeakerCVClassifier's search for a scikit-learn regressor of the task's rating, scored by CCC."""

    targets: ClassVar[tuple[str, ...]] = ("ratings",)

    def fit_all(self, train: Batch, validation: Batch | None) -> dict[str, Any]:
        chosen = super().fit_all(train, validation)
        if "selection_ua" in chosen:  # the search's score is a CCC here (_ua)
            chosen["selection_ccc"] = chosen.pop("selection_ua")
        return chosen

    def _ua(self, y: np.ndarray, decided: np.ndarray) -> float:
        """The search's score of a candidate: the CCC of its predictions (the base class's hook is named by UA)."""
        return concordance(rating_sums(y, decided))

    def predict(self, batch: Batch) -> Tensor:
        if self.estimator is None:
            raise SerbenchError(f"method {self.name!r} predicts before it was fitted")
        values = self.estimator.predict(features(batch))
        return torch.as_tensor(values, dtype=torch.float32, device=batch.inputs.device).unsqueeze(1)


@register_method("egemaps_ridge")
class EgemapsRidge(SpeakerCVRegressor):
    """Ridge regression of the rating (L2 penalty on the weights, not on the intercept)."""

    hparams: ClassVar[dict[str, Any]] = {
        "alpha": HP(0.0, low=0.0, doc="the L2 penalty; 0: chosen from 10000, 1000, 100, 10, 1 on the training "
                                      "speakers (methods/egemaps_ratings.py)"),
    }
    grid: ClassVar[dict[str, tuple[float, ...]]] = {"alpha": (10_000.0, 1000.0, 100.0, 10.0, 1.0)}

    def make(self, settings: Mapping[str, float], n_features: int) -> ClassifierMixin:
        return Ridge(alpha=settings["alpha"])


@register_method("egemaps_svr")
class EgemapsSVR(SpeakerCVRegressor):
    """RBF support vector regression of the rating (epsilon 0.1 on the scale -1 .. 1)."""

    hparams: ClassVar[dict[str, Any]] = {
        "C": HP(0.0, low=0.0, doc="the penalty of errors beyond epsilon; 0: chosen from 0.1, 1, 10 on the training "
                                  "speakers"),
        "gamma": HP(0.0, low=0.0, doc="the RBF width times the number of features (1: scikit-learn's 'scale' on "
                                      "standardised features); 0: chosen from 0.25, 1, 4 on the training speakers"),
    }
    grid: ClassVar[dict[str, tuple[float, ...]]] = {"C": (0.1, 1.0, 10.0), "gamma": (0.25, 1.0, 4.0)}

    def make(self, settings: Mapping[str, float], n_features: int) -> ClassifierMixin:
        return SVR(C=settings["C"], gamma=settings["gamma"] / n_features, epsilon=0.1)
