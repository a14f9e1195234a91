"""eGeMAPS + a linear classifier: the standard cross-corpus baseline (Schuller et al.; Eyben et al., IEEE T-AFFC
2016), on the utterance functionals of the `egemaps` front-end."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from serbench.method import HP, Method, TaskSpec, register_method
from serbench.training import Batch


@register_method("egemaps_lr")
class EgemapsLR(Method):
    """Multinomial logistic regression on one feature vector per utterance (eGeMAPS functionals by default)."""

    inputs: ClassVar[tuple[str, ...]] = ("vectors",)
    hparams: ClassVar[dict[str, Any]] = {
        **Method.hparams,
        "epochs": HP(100, low=1, doc="passes over the training utterances"),
        "batch_size": HP(64, low=1, doc="utterances per mini-batch"),
        "lr": HP(0.01, low=0.0, doc="Adam's learning rate"),
        "weight_decay": HP(1e-3, low=0.0, doc="L2 penalty on the weights: the usual regularised linear model"),
    }

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(task, hp)
        # The harness standardises every feature (per speaker by default), so a plain linear layer is the model.
        self.classifier = nn.Linear(math.prod(task.input.shape), len(task.classes))
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.hp["lr"], weight_decay=self.hp["weight_decay"])

    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        loss = F.cross_entropy(self.classifier(batch.inputs.flatten(1)), batch.emotion)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"total": loss.detach(), "emotion": loss.detach()}

    def predict(self, batch: Batch) -> Tensor:
        return self.classifier(batch.inputs.flatten(1)).softmax(dim=1)
