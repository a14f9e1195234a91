"""The self-supervised-model methods of ssl.py for the dimensional tasks: the same layer weights, pooling, MLP and
Adam, with one linear output, the predicted rating, trained by the CCC loss (nn.ccc_loss); ssl_dann_ccc adds
ssl_dann's adversaries behind gradient reversal. In a file of their own so ssl.py's bytes, which enter the
classifiers' run ids, stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from serbench.method import TaskSpec, register_method
from serbench.methods.paper_ratings import adversary_losses, ccc_batches, one_output
from serbench.methods.ssl import SslDANN, SslMLP, pooled
from serbench.nn import ccc_loss
from serbench.training import Batch


@register_method("ssl_mlp_ccc")
class SslMlpCcc(SslMLP):
    """SSL hidden states (or any frames or vectors): learned layer weights, mean pooling, an MLP; one linear output,
    the rating, trained by the CCC loss."""

    targets: ClassVar[tuple[str, ...]] = ("ratings",)
    hparams: ClassVar[dict[str, Any]] = ccc_batches(SslMLP.hparams)

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(one_output(task), hp)
        self.task = task

    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        # SslMLP.update's step with the CCC loss in place of the softmax loss: that method computes its loss inline,
        # and ssl.py's bytes enter the classifiers' run ids, so the step is written again here.
        ratings = batch.emotion
        assert ratings is not None  # a training batch is labelled
        unlabelled = batch.adaptation
        inputs = pooled(batch) if unlabelled is None else torch.cat([pooled(batch), pooled(unlabelled)])
        embedding = self.encoder(inputs)
        losses = {"emotion": ccc_loss(self.classifier(embedding[:len(ratings)])[:, 0], ratings),
                  **adversary_losses(self.heads, self.hp, embedding, batch, progress)}
        total = torch.stack(list(losses.values())).sum()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return {"total": total.detach(), **{key: value.detach() for key, value in losses.items()}}

    def predict(self, batch: Batch) -> Tensor:
        return self.classifier(self.encoder(pooled(batch)))


@register_method("ssl_dann_ccc")
class SslDannCcc(SslMlpCcc, SslDANN):
    """ssl_mlp_ccc with ssl_dann's adversaries (gender, language, corpus) behind gradient reversal."""

    hparams: ClassVar[dict[str, Any]] = ccc_batches(SslDANN.hparams)
