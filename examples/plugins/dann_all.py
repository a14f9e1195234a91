"""A user plugin: DANN with all four domain adversaries (speaker, corpus, gender, language) and center loss.

Load it with `serbench ... --plugin examples/plugins/dann_all.py`. It reuses the built-in PaperSystem and only
changes which domains get a classifier behind gradient reversal.
"""

from typing import Any, ClassVar

from serbench.api import DOMAINS, register_method
from serbench.methods.paper import ADVERSARY_HPARAMS, CENTER_HPARAMS, PaperSystem


@register_method("dann_all_cs")
class DannAllCS(PaperSystem):
    """DANN with speaker + corpus + gender + language adversaries, softmax + center loss (plugin example)."""

    adversaries = DOMAINS
    center_loss = True
    hparams: ClassVar[dict[str, Any]] = {**PaperSystem.hparams, **ADVERSARY_HPARAMS, **CENTER_HPARAMS}
