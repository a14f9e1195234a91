"""The paper's model family: CNN+BLSTM, a linear emotion classifier, optional center loss, and optional domain
classifiers behind gradient reversal (DANN). The six built-ins are this class with different settings.

The paper's choices live here, not in serbench's core: the Adadelta optimiser, the model presets, and training
many runs of the family at once (methods/fusion.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from serbench.errors import SerbenchError
from serbench.method import HP, Method, TaskSpec
from serbench.nn import CenterLoss, CnnBlstm, ExtractorConfig, domain_head, ganin_ramp, grad_reverse
from serbench.training import Batch, SegmentSet

PRESETS: dict[str, ExtractorConfig] = {
    # 1.14 GFLOP of convolutions per segment and training step (forward + backward); docs/methods.md.
    "paper": ExtractorConfig(channels=(32, 64, 128, 128), lstm_hidden=128, lstm_layers=2),
    # About 1/30 of that: trains in seconds on a CPU, for demos and tests.
    "small": ExtractorConfig(channels=(8, 16, 16, 16), lstm_hidden=32, lstm_layers=1),
}
# Shared by the family: the model size and the optimiser (Adadelta as in the paper; lr 1.0 and rho 0.95 as Zeiler
# proposed it).
PAPER_HPARAMS: dict[str, HP] = {
    "preset": HP("paper", choices=tuple(PRESETS), doc="model size (PRESETS in methods/paper.py)"),
    "lr": HP(1.0, low=0.0, doc="Adadelta's learning rate (1.0: Zeiler's algorithm as published)"),
    "rho": HP(0.95, low=0.0, high=1.0, doc="Adadelta's decay"),
}
# The paper's center loss settings: lambda 0.5 (paper), alpha 0.5 (Wen et al.; the paper gives none).
CENTER_HPARAMS: dict[str, HP] = {
    "lambda": HP(0.5, low=0.0, doc="weight of the center loss"),
    "center_alpha": HP(0.5, low=0.0, high=1.0, doc="step of the per-batch center update"),
}
# The paper's gamma = 0.3, held constant (the paper gives one value); "ganin" ramps it up from 0 instead.
ADVERSARY_HPARAMS: dict[str, HP] = {
    "gamma": HP(0.3, low=0.0, doc="gradient reversal coefficient"),
    "grl_schedule": HP("constant", choices=("constant", "ganin"), doc="constant gamma, or Ganin's ramp"),
}
# What a fusable class must not override: the replicas of methods/fusion.py reimplement exactly these.
_OWN_TRAINING = ("__init__", "losses", "update", "predict", "embed", "aggregate")


class PaperSystem(Method):
    """CNN+BLSTM with softmax loss, optional center loss and optional domain adversaries."""

    adversaries: ClassVar[tuple[str, ...]] = ()  # domains with a classifier behind gradient reversal
    center_loss: ClassVar[bool] = False
    inputs: ClassVar[tuple[str, ...]] = ("segments",)  # (time, features): spectrograms, log-mel
    hparams: ClassVar[dict[str, Any]] = {**Method.hparams, **PAPER_HPARAMS}

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(task, hp)
        self.extractor = CnnBlstm(PRESETS[self.hp["preset"]], task.input.shape)
        dim = self.extractor.embedding_dim
        self.classifier = nn.Linear(dim, len(task.classes))
        self.centers = CenterLoss(len(task.classes), dim) if self.center_loss else None
        for domain in self.adversaries:
            if domain not in task.domains:
                raise SerbenchError(f"method {self.name!r} needs {domain} labels, which this task lacks")
        self.heads = nn.ModuleDict({d: domain_head(dim, len(task.domains[d])) for d in self.adversaries})
        self.optimizer = adadelta(self)

    @property
    def uses_adaptation(self) -> bool:
        """DANN's domain classifiers learn from the unlabelled test audio too, where the protocol allows it."""
        return bool(self.adversaries)

    def losses(self, embedding: Tensor, batch: Batch, progress: float) -> dict[str, Tensor]:
        """Every loss term of one step; their sum is minimised (the GRL turns the domain terms adversarial).
        `embedding` holds the labelled rows first, then those of batch.adaptation if any: emotion and center
        losses see the labelled ones only, the domain classifiers all of them."""
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
        inputs = batch.inputs if unlabelled is None else torch.cat([batch.inputs, unlabelled.inputs])
        embedding = self.extractor(inputs)  # one pass: batch norm sees both parts, as in DANN
        losses = self.losses(embedding, batch, progress)
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        if self.centers is not None:  # the per-mini-batch center update, with this batch's labelled embeddings
            self.centers.update(embedding[:len(batch.emotion)], batch.emotion, self.hp["center_alpha"])
        return {"total": total.detach(), **{key: value.detach() for key, value in losses.items()}}

    def predict(self, batch: Batch) -> Tensor:
        return self.classifier(self.extractor(batch.inputs)).softmax(dim=1)

    def embed(self, batch: Batch) -> Tensor:
        return self.extractor(batch.inputs)

    @classmethod
    def fusion_key(cls, hp: Mapping[str, Any], *, adaptation: bool) -> tuple | None:
        """Runs with equal keys train together (methods/fusion.py): what the replicas share is the model size,
        the batch size and the optimiser's settings; and, where the protocol offers adaptation audio, whether
        the method reads it, since that doubles the rows of its steps. A subclass with its own training step
        trains alone."""
        if any(getattr(cls, name) is not getattr(PaperSystem, name) for name in _OWN_TRAINING):
            return None
        return (hp["preset"], hp["batch_size"], hp["lr"], hp["rho"], adaptation and bool(cls.adversaries))

    @classmethod
    def fit_fused(cls, methods: Sequence[Method], datasets: Sequence[SegmentSet], seeds: Sequence[int], *,
                  adaptation: Sequence[SegmentSet | None], device: torch.device,
                  on_epoch: Callable[[int, int, dict[str, float]], None] | None = None
                  ) -> list[list[dict[str, float]]]:
        from serbench.methods.fusion import fit_fused

        return fit_fused(methods, datasets, seeds, adaptation=adaptation, device=device, on_epoch=on_epoch)


def adadelta(method: Method) -> torch.optim.Optimizer:
    """The paper's optimiser over all of `method`'s parameters, with its lr and rho."""
    return torch.optim.Adadelta(method.parameters(), lr=method.hp["lr"], rho=method.hp["rho"])


def domain_labels(batch: Batch, domain: str) -> Tensor:
    """The batch's labels of `domain`, followed by those of its unlabelled adaptation batch if it has one."""
    if batch.adaptation is None:
        return batch.domains[domain]
    return torch.cat([batch.domains[domain], batch.adaptation.domains[domain]])
