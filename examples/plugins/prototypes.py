"""A user plugin on utterance vectors: a cosine-prototype classifier (normalised softmax, as in face and speaker
recognition: Wang et al., "CosFace", CVPR 2018, without the margin). docs/writing-a-method.md walks through it.

One row per utterance comes in (eGeMAPS functionals from `--frontend egemaps`: 88 values; or a self-supervised
model's averaged layers from `--frontend ssl`: layers x hidden). The method projects it, and scores each class by
the cosine between the projection and a learned prototype of the class, times a scale. Load it with
`--plugin examples/plugins/prototypes.py`.
"""

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from serbench.api import HP, Batch, Method, TaskSpec, register_method


@register_method("prototypes")
class Prototypes(Method):
    """A linear projection and one learned prototype per class; posteriors from scaled cosine similarity."""

    inputs: ClassVar[tuple[str, ...]] = ("vectors",)  # one row per utterance: what egemaps and ssl give
    hparams: ClassVar[dict[str, Any]] = {
        **Method.hparams,
        "epochs": HP(50, low=1, doc="passes over the training utterances"),
        "batch_size": HP(64, low=2, doc="utterances per mini-batch"),
        "dim": HP(64, low=1, doc="width of the projection (the embedding)"),
        "scale": HP(10.0, low=1.0, high=100.0, doc="cosine logits are scaled by this: a softmax temperature"),
        "lr": HP(1e-3, low=0.0, doc="Adam's learning rate"),
    }

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(task, hp)
        # task.input.shape is one row's shape: (88,) for eGeMAPS, (layers, hidden) for ssl; flatten either.
        self.project = nn.Linear(math.prod(task.input.shape), self.hp["dim"])
        self.prototypes = nn.Parameter(torch.randn(len(task.classes), self.hp["dim"]))
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.hp["lr"])

    def embed(self, batch: Batch) -> Tensor:
        return F.normalize(self.project(batch.inputs.flatten(1)), dim=1)

    def logits(self, batch: Batch) -> Tensor:
        return self.hp["scale"] * self.embed(batch) @ F.normalize(self.prototypes, dim=1).T

    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        loss = F.cross_entropy(self.logits(batch), batch.emotion)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"total": loss.detach()}

    def predict(self, batch: Batch) -> Tensor:
        return self.logits(batch).softmax(dim=1)
