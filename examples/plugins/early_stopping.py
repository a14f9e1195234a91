"""A user plugin: the paper's baseline with early stopping and model selection on the protocol's validation part.

The harness never selects anything on test data. Where a protocol holds out a validation part (`validation = 0.2`:
a share of the training speakers; or the official split's validation partitions, such as MSP-Podcast's
Development set), it scores the model on it after every epoch and calls `after_epoch` with that UA. This method keeps
the weights of its best epoch so far, stops when `patience` epochs have not improved on it, and restores the best
weights when it stops or reaches its last epoch. Without a validation part it trains its fixed schedule, like the
baseline. Load it with `--plugin examples/plugins/early_stopping.py`.
"""

import copy
from typing import Any, ClassVar

from serbench.api import HP, register_method
from serbench.methods.paper import PaperSystem


@register_method("baseline_s_es")
class EarlyStoppingBaseline(PaperSystem):
    """Baseline (CNN+BLSTM, softmax loss), its epoch chosen by validation UA."""

    hparams: ClassVar[dict[str, Any]] = {
        **PaperSystem.hparams,
        "patience": HP(5, low=1, doc="epochs without a better validation UA before training stops"),
    }

    best_ua = -1.0
    best_state: dict | None = None
    since_best = 0

    def after_epoch(self, epoch: int, validation_ua: float) -> bool:
        if validation_ua > self.best_ua:
            self.best_ua, self.since_best = validation_ua, 0
            self.best_state = copy.deepcopy(self.state_dict())
        else:
            self.since_best += 1
        stop = self.since_best >= self.hp["patience"]
        if (stop or epoch + 1 == self.hp["epochs"]) and self.best_state is not None:
            self.load_state_dict(self.best_state)  # the model scored is the best epoch's
        return stop
