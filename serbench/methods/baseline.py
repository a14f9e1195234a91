"""The paper's baselines: the CNN+BLSTM without domain adversaries."""

from typing import Any, ClassVar

from serbench.method import register_method
from serbench.methods.paper import CENTER_HPARAMS, PaperSystem


@register_method("baseline_s")
class BaselineS(PaperSystem):
    """Baseline: CNN+BLSTM, softmax loss only."""


@register_method("baseline_cs")
class BaselineCS(PaperSystem):
    """Baseline + center loss: CNN+BLSTM, softmax + 0.5 x center loss."""

    center_loss = True
    hparams: ClassVar[dict[str, Any]] = {**PaperSystem.hparams, **CENTER_HPARAMS}
