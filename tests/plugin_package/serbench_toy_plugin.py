"""A method from an installed package: the small-preset baseline under another name."""

from typing import Any, ClassVar

from serbench.method import register_method
from serbench.methods.baseline import BaselineS


@register_method("toy_baseline")
class ToyBaseline(BaselineS):
    """The softmax baseline with the small preset by default (entry-point test package)."""

    hparams: ClassVar[dict[str, Any]] = {**BaselineS.hparams, "preset": "small"}
