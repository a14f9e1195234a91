"""Methods on a self-supervised speech model's hidden states, as SSL benchmarks such as SUPERB and EmoBox evaluate
them: a learned softmax-weighted sum of the layers, mean pooling over time, then an MLP. `ssl_dann` adds the
paper's DANN_2 adversaries. On the `ssl` front-end (every layer already averaged over the utterance: one row of
(layers, hidden)) the layers are weighted; on frames (`ssl-frames`: one layer, or any other frames front-end such
as `egemaps-lld`) the method averages each utterance's valid frames itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from serbench.method import HP, Method, TaskSpec, register_method
from serbench.methods.paper import ADVERSARY_HPARAMS, domain_labels
from serbench.nn import domain_head, ganin_ramp, grad_reverse
from serbench.training import Batch


class LayerWeightedMLP(nn.Module):
    """(batch, layers, hidden) or (batch, hidden) -> embedding (batch, mlp_hidden): softmax(w) . layers, then a
    hidden layer with ReLU and dropout."""

    def __init__(self, shape: tuple[int, ...], hidden: int, dropout: float) -> None:
        super().__init__()
        layers, width = (1, shape[0]) if len(shape) == 1 else shape
        self.layer_logits = nn.Parameter(torch.zeros(layers))  # equal weights to start
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout))

    def layer_weights(self) -> Tensor:
        return self.layer_logits.softmax(dim=0)

    def forward(self, inputs: Tensor) -> Tensor:
        stacked = inputs if inputs.dim() == 3 else inputs.unsqueeze(1)
        return self.mlp(torch.einsum("l,bld->bd", self.layer_weights(), stacked))


def pooled(batch: Batch) -> Tensor:
    """One row per utterance: vectors as they are, frames averaged over each utterance's valid (unpadded) ones."""
    if batch.lengths is None:
        return batch.inputs
    valid = torch.arange(batch.inputs.shape[1], device=batch.inputs.device)[None, :] < batch.lengths[:, None]
    return (batch.inputs * valid.unsqueeze(-1)).sum(dim=1) / batch.lengths.unsqueeze(1)


SSL_HPARAMS: dict[str, HP] = {
    "epochs": HP(30, low=1, doc="passes over the training utterances"),
    "batch_size": HP(32, low=1, doc="utterances per mini-batch"),
    "hidden": HP(256, low=1, doc="width of the MLP's hidden layer (the embedding)"),
    "dropout": HP(0.1, low=0.0, high=1.0, doc="dropout after the hidden layer"),
    "lr": HP(1e-3, low=0.0, doc="Adam's learning rate"),
    "weight_decay": HP(1e-4, low=0.0, doc="Adam's L2 penalty"),
}


@register_method("ssl_mlp")
class SslMLP(Method):
    """SSL hidden states (or any frames or vectors): learned layer weights, mean pooling, an MLP; softmax loss."""

    inputs: ClassVar[tuple[str, ...]] = ("vectors", "frames")
    adversaries: ClassVar[tuple[str, ...]] = ()  # domains with a classifier behind gradient reversal
    hparams: ClassVar[dict[str, Any]] = {**Method.hparams, **SSL_HPARAMS}

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(task, hp)
        self.encoder = LayerWeightedMLP(task.input.shape, self.hp["hidden"], self.hp["dropout"])
        self.classifier = nn.Linear(self.hp["hidden"], len(task.classes))
        self.heads = nn.ModuleDict({d: domain_head(self.hp["hidden"], len(task.domains[d])) for d in self.adversaries})
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.hp["lr"], weight_decay=self.hp["weight_decay"])

    @property
    def uses_adaptation(self) -> bool:
        return bool(self.adversaries)

    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        unlabelled = batch.adaptation
        inputs = pooled(batch) if unlabelled is None else torch.cat([pooled(batch), pooled(unlabelled)])
        embedding = self.encoder(inputs)
        losses = {"emotion": F.cross_entropy(self.classifier(embedding[:len(batch.emotion)]), batch.emotion)}
        if self.adversaries:
            ramp = ganin_ramp(progress) if self.hp["grl_schedule"] == "ganin" else 1.0
            reversed_embedding = grad_reverse(embedding, self.hp["gamma"] * ramp)
            for domain, head in self.heads.items():
                losses[f"domain_{domain}"] = F.cross_entropy(head(reversed_embedding), domain_labels(batch, domain))
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return {"total": total.detach(), **{key: value.detach() for key, value in losses.items()}}

    def predict(self, batch: Batch) -> Tensor:
        return self.classifier(self.encoder(pooled(batch))).softmax(dim=1)

    def embed(self, batch: Batch) -> Tensor:
        return self.encoder(pooled(batch))


@register_method("ssl_dann")
class SslDANN(SslMLP):
    """ssl_mlp with the paper's DANN_2 adversaries (gender, language, corpus) behind gradient reversal."""

    adversaries = ("gender", "language", "corpus")
    hparams: ClassVar[dict[str, Any]] = {**SslMLP.hparams, **ADVERSARY_HPARAMS}
