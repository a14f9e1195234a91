"""The paper's DANN systems: domain classifiers behind gradient reversal (gamma 0.3) on the CNN+BLSTM embedding."""

from typing import Any, ClassVar

from serbench.method import register_method
from serbench.methods.paper import ADVERSARY_HPARAMS, CENTER_HPARAMS, PaperSystem


@register_method("dann1_s")
class Dann1S(PaperSystem):
    """DANN_1: speaker + corpus adversaries, softmax loss."""

    adversaries = ("speaker", "corpus")
    hparams: ClassVar[dict[str, Any]] = {**PaperSystem.hparams, **ADVERSARY_HPARAMS}


@register_method("dann1_cs")
class Dann1CS(PaperSystem):
    """DANN_1 + center loss: speaker + corpus adversaries, softmax + center loss."""

    adversaries = ("speaker", "corpus")
    center_loss = True
    hparams: ClassVar[dict[str, Any]] = {**PaperSystem.hparams, **ADVERSARY_HPARAMS, **CENTER_HPARAMS}


@register_method("dann2_s")
class Dann2S(PaperSystem):
    """DANN_2: gender + language + corpus adversaries, softmax loss."""

    adversaries = ("gender", "language", "corpus")
    hparams: ClassVar[dict[str, Any]] = {**PaperSystem.hparams, **ADVERSARY_HPARAMS}


@register_method("dann2_cs")
class Dann2CS(PaperSystem):
    """DANN_2 + center loss: gender + language + corpus adversaries, softmax + center loss."""

    adversaries = ("gender", "language", "corpus")
    center_loss = True
    hparams: ClassVar[dict[str, Any]] = {**PaperSystem.hparams, **ADVERSARY_HPARAMS, **CENTER_HPARAMS}
