"""A user plugin: CORAL feature alignment (Sun & Saenko, "Deep CORAL", ECCV 2016 workshops) across training
domains, on the paper's CNN+BLSTM. docs/writing-a-method.md walks through this file.

Deep CORAL aligns the covariance of source and target features. Where the protocol allows adaptation (`cross`,
`loco`), the target is the unlabelled test audio the harness passes as `batch.adaptation`: the labelled batch's
embedding covariance is aligned with the unlabelled batch's, as in the paper. Without adaptation (`cross-dg`,
`multi`) it aligns the embedding covariance of each training domain (by default each corpus) with the covariance of
the whole mini-batch instead. Load it with `--plugin examples/plugins/coral.py`.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from serbench.api import DOMAINS, HP, Batch, Method, TaskSpec, register_method
from serbench.methods.paper import PAPER_HPARAMS, PRESETS, adadelta
from serbench.nn import CnnBlstm


def covariance(x: Tensor, weight: Tensor) -> Tensor:
    """The (population) covariance of the rows of x that have weight 1; weight 0 leaves a row out."""
    n = weight.sum()
    mean = (weight @ x) / n.clamp(min=1)
    centred = (x - mean) * weight.unsqueeze(1)
    return centred.T @ centred / n.clamp(min=1)


def coral_loss(x: Tensor, domain: Tensor, n_domains: int) -> Tensor:
    """Mean over the domains present in the batch of ||C_domain - C_batch||_F^2 / (4 d^2).

    Masks instead of boolean indexing keep the shapes fixed: no host-device synchronisation on a GPU.
    """
    everyone = covariance(x, x.new_ones(len(x)))
    total, present = x.new_zeros(()), x.new_zeros(())
    for k in range(n_domains):
        weight = (domain == k).to(x.dtype)
        is_present = (weight.sum() > 1).to(x.dtype)  # one row has no spread to align
        total = total + is_present * (covariance(x, weight) - everyone).pow(2).sum()
        present = present + is_present
    return total / (4 * x.shape[1] ** 2) / present.clamp(min=1)


@register_method("coral")
class Coral(Method):
    """CNN+BLSTM with softmax loss plus CORAL alignment of each training domain's embedding covariance."""

    hparams: ClassVar[dict[str, Any]] = {
        **Method.hparams, **PAPER_HPARAMS,
        "coral_weight": HP(1.0, low=0.0, doc="weight of the CORAL term"),
        "align": HP("corpus", choices=DOMAINS, doc="the domain whose groups are aligned without adaptation"),
    }

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(task, hp)
        self.extractor = CnnBlstm(PRESETS[self.hp["preset"]], task.input.shape)
        self.classifier = nn.Linear(self.extractor.embedding_dim, len(task.classes))
        self.optimizer = adadelta(self)

    @property
    def uses_adaptation(self) -> bool:
        return True  # the harness then passes unlabelled test audio as batch.adaptation, where a protocol allows it

    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        n = len(batch.inputs)
        target = batch.adaptation
        inputs = batch.inputs if target is None else torch.cat([batch.inputs, target.inputs])
        embedding = self.extractor(inputs)
        emotion = F.cross_entropy(self.classifier(embedding[:n]), batch.emotion)  # labelled segments only
        if target is None:  # domain generalisation: align the training domains with each other
            align = self.hp["align"]
            coral = coral_loss(embedding, batch.domains[align], len(self.task.domains[align]))
        else:  # Deep CORAL proper: source (labelled) against target (unlabelled test audio)
            source, ones = embedding[:n], embedding.new_ones
            gap = covariance(source, ones(n)) - covariance(embedding[n:], ones(len(embedding) - n))
            coral = gap.pow(2).sum() / (4 * embedding.shape[1] ** 2)
        total = emotion + self.hp["coral_weight"] * coral
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return {"total": total.detach(), "emotion": emotion.detach(), "coral": coral.detach()}

    def predict(self, batch: Batch) -> Tensor:
        return self.classifier(self.extractor(batch.inputs)).softmax(dim=1)

    def embed(self, batch: Batch) -> Tensor:
        return self.extractor(batch.inputs)
