"""The paper's model family: CNN+BLSTM, a linear emotion classifier, optional center loss, and optional domain
classifiers behind gradient reversal (DANN). The six built-ins are this class with different settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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

    def losses(self, embedding: Tensor, batch: Batch, progress: float) -> dict[str, Tensor]:
        """Every loss term of one step; their sum is minimised (the GRL turns the domain terms adversarial)."""
        losses = {"emotion": F.cross_entropy(self.classifier(embedding), batch.emotion)}
        if self.centers is not None:
            losses["center"] = self.hp["lambda"] * self.centers(embedding, batch.emotion)
        if self.adversaries:
            ramp = ganin_ramp(progress) if self.hp["grl_schedule"] == "ganin" else 1.0
            reversed_embedding = grad_reverse(embedding, self.hp["gamma"] * ramp)
            for domain, head in self.heads.items():
                losses[f"domain_{domain}"] = F.cross_entropy(head(reversed_embedding), batch.domains[domain])
        return losses

    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        embedding = self.extractor(batch.segments)
        losses = self.losses(embedding, batch, progress)
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        if self.centers is not None:  # the per-mini-batch center update, with this batch's embeddings
            self.centers.update(embedding, batch.emotion, self.hp["center_alpha"])
        return {"total": total.detach(), **{key: value.detach() for key, value in losses.items()}}

    def predict(self, segments: Tensor) -> Tensor:
        return self.classifier(self.extractor(segments)).softmax(dim=1)

    def embed(self, segments: Tensor) -> Tensor:
        return self.extractor(segments)


# The paper's center loss settings: lambda 0.5 (paper), alpha 0.5 (Wen et al.; the paper gives none).
CENTER_HPARAMS: dict[str, Any] = {"lambda": 0.5, "center_alpha": 0.5}
# The paper's gamma = 0.3, held constant (the paper gives one value); "ganin" ramps it up from 0 instead.
ADVERSARY_HPARAMS: dict[str, Any] = {"gamma": 0.3, "grl_schedule": "constant"}
