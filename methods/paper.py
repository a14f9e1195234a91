"""The paper's model family: CNN+BLSTM, a linear emotion classifier, optional center loss, and optional domain
classifiers behind gradient reversal (DANN). The six built-ins are this class with different settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from serbench.errors import SerbenchError
from serbench.method import Method, TaskSpec
from serbench.nn import CenterLoss, CnnBlstm, domain_head, ganin_ramp, grad_reverse, preset
from serbench.training import Batch

GRL_SCHEDULES = ("constant", "ganin")


class PaperSystem(Method):
    """CNN+BLSTM with softmax loss, optional center loss and optional domain adversaries."""

    adversaries: ClassVar[tuple[str, ...]] = ()  # domains with a classifier behind gradient reversal
    center_loss: ClassVar[bool] = False
    hparams: ClassVar[dict[str, Any]] = {**Method.hparams}

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(task, hp)
        self.extractor = CnnBlstm(preset(self.hp["preset"]), task.input_shape)
        dim = self.extractor.embedding_dim
        self.classifier = nn.Linear(dim, len(task.classes))
        self.centers = CenterLoss(len(task.classes), dim) if self.center_loss else None
        for domain in self.adversaries:
            if domain not in task.domains:
                raise SerbenchError(f"method {self.name!r} needs {domain} labels, which this task lacks")
        self.heads = nn.ModuleDict({d: domain_head(dim, len(task.domains[d])) for d in self.adversaries})
        if self.adversaries and self.hp["grl_schedule"] not in GRL_SCHEDULES:
            raise SerbenchError(f"method {self.name!r}: unknown grl_schedule {self.hp['grl_schedule']!r}",
                                hint=f"use one of: {', '.join(GRL_SCHEDULES)}")
        self.optimizer = self.adadelta()

    @property
    def uses_adaptation(self) -> bool:
        """DANN's domain classifiers learn from the unlabelled test audio too, where the protocol allows it."""
        return bool(self.adversaries)

    def losses(self, embedding: Tensor, batch: Batch, progress: float) -> dict[str, Tensor]:
        """Every loss term of one step; their sum is minimised (the GRL turns the domain terms adversarial).
        `embedding` holds the labelled segments first, then those of batch.adaptation if any: emotion and
        center losses see the labelled ones only, the domain classifiers all of them."""
        labelled = embedding[:len(batch.emotion)]
        losses = {"emotion": F.cross_entropy(self.classifier(labelled), batch.emotion)}
        if self.centers is not None:
            losses["center"] = self.hp["lambda"] * self.centers(labelled, batch.emotion)
        if self.adversaries:
            ramp = ganin_ramp(progress) if self.hp["grl_schedule"] == "ganin" else 1.0
            reversed_embedding = grad_reverse(embedding, self.hp["gamma"] * ramp)
            for domain, head in self.heads.items():
                losses[f"domain_{domain}"] = F.cross_entropy(head(reversed_embedding), domain_labels(batch, domain))
        return losses

    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        unlabelled = batch.adaptation
        segments = batch.segments if unlabelled is None else torch.cat([batch.segments, unlabelled.segments])
        embedding = self.extractor(segments)  # one pass: batch norm sees both parts, as in DANN
        losses = self.losses(embedding, batch, progress)
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        if self.centers is not None:  # the per-mini-batch center update, with this batch's labelled embeddings
            self.centers.update(embedding[:len(batch.emotion)], batch.emotion, self.hp["center_alpha"])
        return {"total": total.detach(), **{key: value.detach() for key, value in losses.items()}}

    def predict(self, segments: Tensor) -> Tensor:
        return self.classifier(self.extractor(segments)).softmax(dim=1)

    def embed(self, segments: Tensor) -> Tensor:
        return self.extractor(segments)


def domain_labels(batch: Batch, domain: str) -> Tensor:
    """The batch's labels of `domain`, followed by those of its unlabelled adaptation batch if it has one."""
    if batch.adaptation is None:
        return batch.domains[domain]
    return torch.cat([batch.domains[domain], batch.adaptation.domains[domain]])


# The paper's center loss settings: lambda 0.5 (paper), alpha 0.5 (Wen et al.; the paper gives none).
CENTER_HPARAMS: dict[str, Any] = {"lambda": 0.5, "center_alpha": 0.5}
# The paper's gamma = 0.3, held constant (the paper gives one value); "ganin" ramps it up from 0 instead.
ADVERSARY_HPARAMS: dict[str, Any] = {"gamma": 0.3, "grl_schedule": "constant"}
