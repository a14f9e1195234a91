"""The paper's model for the dimensional tasks: the CNN+BLSTM of paper.py (its presets, Adadelta, and for DANN the
same adversaries behind gradient reversal as dann1_s and dann2_s) with one linear output, the predicted rating,
trained by the CCC loss (nn.ccc_loss) in place of the softmax loss.

In a file of their own so the classifiers' files, whose bytes enter their run ids, stay as they are. Their own
__init__, losses and predict make them train alone, not fused with the classifiers (PaperSystem.fusion_key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

from torch import Tensor, nn
from torch.nn import functional as F

from serbench.method import TaskSpec, declaration, register_method
from serbench.methods.baseline import BaselineS
from serbench.methods.dann import Dann1S, Dann2S
from serbench.methods.paper import PaperSystem, domain_labels
from serbench.nn import ccc_loss, ganin_ramp, grad_reverse
from serbench.training import Batch


def one_output(task: TaskSpec) -> TaskSpec:
    """`task` for the constructors of PaperSystem and SslMLP, which size the output layer by the classes: a single
    "class", the rating, gives the one linear output a dimensional task predicts. (Its classes are none: building a
    layer of no units and replacing it would warn of an empty tensor and build the optimiser twice.)"""
    return replace(task, classes=("rating",))


def ccc_batches(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """A classifier's hyperparameters for its CCC-trained twin: batch_size at least 2, refused when the sweep is
    planned, since one rating has no CCC (the loss would be a constant 1, and nothing would learn)."""
    size = declaration(hparams["batch_size"])
    return {**hparams, "batch_size": replace(size, low=2, doc=f"{size.doc}; two or more: one rating has no CCC")}


def adversary_losses(heads: nn.ModuleDict, hp: Mapping[str, Any], embedding: Tensor, batch: Batch,
                     progress: float) -> dict[str, Tensor]:
    """Each domain classifier's loss behind gradient reversal, on every row of `embedding` (labelled, then
    adaptation): the lines of PaperSystem.losses and SslMLP.update, written again here because those files' bytes
    enter the classifiers' run ids and cannot give them a function of their own."""
    if not heads:
        return {}
    ramp = ganin_ramp(progress) if hp["grl_schedule"] == "ganin" else 1.0
    reversed_embedding = grad_reverse(embedding, hp["gamma"] * ramp)
    return {f"domain_{domain}": F.cross_entropy(head(reversed_embedding), domain_labels(batch, domain))
            for domain, head in heads.items()}


class PaperRegressor(PaperSystem):
    """CNN+BLSTM with one linear output, the rating, trained by the CCC loss; the adversaries of the system it
    is mixed with (baseline: none)."""

    targets: ClassVar[tuple[str, ...]] = ("ratings",)

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(one_output(task), hp)
        self.task = task

    def losses(self, embedding: Tensor, batch: Batch, progress: float) -> dict[str, Tensor]:
        ratings = batch.emotion
        assert ratings is not None  # a training batch is labelled
        return {"emotion": ccc_loss(self.classifier(embedding[:len(ratings)])[:, 0], ratings),
                **adversary_losses(self.heads, self.hp, embedding, batch, progress)}

    def predict(self, batch: Batch) -> Tensor:
        return self.classifier(self.extractor(batch.inputs))


@register_method("baseline_ccc")
class BaselineCcc(PaperRegressor, BaselineS):
    """Baseline for ratings: CNN+BLSTM, one linear output, CCC loss."""

    hparams: ClassVar[dict[str, Any]] = ccc_batches(BaselineS.hparams)


@register_method("dann1_ccc")
class Dann1Ccc(PaperRegressor, Dann1S):
    """DANN_1 for ratings: speaker + corpus adversaries, CCC loss."""

    hparams: ClassVar[dict[str, Any]] = ccc_batches(Dann1S.hparams)


@register_method("dann2_ccc")
class Dann2Ccc(PaperRegressor, Dann2S):
    """DANN_2 for ratings: gender + language + corpus adversaries, CCC loss."""

    hparams: ClassVar[dict[str, Any]] = ccc_batches(Dann2S.hparams)
