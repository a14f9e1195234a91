"""A pretrained emotion classifier as it is, zero-shot: `zero_shot` trains nothing. It reads a `posteriors`
front-end's rows (the `checkpoint` front-end: the classifier's posterior of each of serbench's emotions) and maps
them to the task's classes through the one label table (serbench.data.labels): a class gets the posteriors of the
emotions that map to it, renormalised over the task's classes, so emotions outside the task (fear, for emotion4)
count for nothing. A class none of the classifier's labels maps to is never predicted, and its recall counts 0 in
UA; the run records which classes the classifier can name (its selection), from which reports/known_classes.py
scores it over those classes alone. docs/pretrained.md.

The method sees the task's classes, not its name: it maps them by the built-in task that has them (emotion4,
arousal, valence), with the table's default columns, and records which (`label_table`). A protocol's label
overrides and the valence-no-neutral variant change the test utterances' classes, not this mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from serbench.data.labels import EMOTIONS, task_of_classes
from serbench.errors import SerbenchError
from serbench.features.frontends.base import POSTERIOR_SHAPE
from serbench.method import Batch, Method, TaskSpec, register_method

KNOWN_CLASSES = "known_classes"  # the selection's entry naming the classes the classifier can predict


@register_method("zero_shot")
class ZeroShot(Method):
    """A pretrained emotion classifier as it is (--frontend checkpoint): its emotions mapped to the task's classes."""

    inputs: ClassVar[tuple[str, ...]] = ("posteriors",)
    hparams: ClassVar[dict[str, Any]] = {}
    to_classes: Tensor  # (emotions, classes): 1 where the task's table maps the emotion to the class

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__(task, hp)
        if tuple(task.input.shape) != POSTERIOR_SHAPE:
            raise SerbenchError(f"method 'zero_shot' reads posteriors rows of shape {POSTERIOR_SHAPE}, not "
                                f"{tuple(task.input.shape)}", hint="see `posteriors` in docs/frontends.md")
        table = task_of_classes(task.classes)
        if table is None:
            raise SerbenchError(f"method 'zero_shot' maps a classifier's emotions to the classes of emotion4, arousal "
                                f"or valence, and this task's are {', '.join(task.classes)}",
                                hint="a corpus's categorical task has its own codes: use emotion4 or a binary task")
        self.label_table = table.name
        to_classes = torch.zeros(len(EMOTIONS), len(task.classes))
        for emotion, label in table.mapping.items():
            to_classes[EMOTIONS.index(emotion), table.index(label)] = 1.0
        self.register_buffer("to_classes", to_classes)

    def fit_all(self, train: Batch, validation: Batch | None) -> dict[str, Any]:
        """Nothing to fit: it refuses a classifier that can name fewer than two of the task's classes, and records
        which it can name."""
        named = train.inputs[:, 1].amax(dim=0) > 0
        emotions = [emotion for emotion, known in zip(EMOTIONS, named.tolist(), strict=True) if known]
        can = (named.float() @ self.to_classes > 0).tolist()
        known = [label for label, ok in zip(self.task.classes, can, strict=True) if ok]
        if len(known) < 2:
            what = f"only {known[0]}, so it would give every utterance that class" if known else "none of them"
            raise SerbenchError(f"method 'zero_shot': the classifier's labels name {', '.join(emotions)}, and of the "
                                f"{self.label_table} task's classes ({', '.join(self.task.classes)}) they map to "
                                f"{what}", hint="choose a classifier with labels for the task's classes "
                                                "(docs/pretrained.md), or another task")
        return {"fitted": "nothing: zero-shot", "label_table": self.label_table,
                "classifier_emotions": ", ".join(emotions), KNOWN_CLASSES: ", ".join(known),
                "unknown_classes": ", ".join(label for label in self.task.classes if label not in known)}

    def predict(self, batch: Batch) -> Tensor:
        mass = batch.inputs[:, 0] @ self.to_classes
        total = mass.sum(dim=1, keepdim=True)
        # An utterance whose posterior lies wholly outside the task's classes: even among those it can name.
        known = (batch.inputs[:, 1] @ self.to_classes > 0).float()
        return torch.where(total > 0, mass / total.clamp_min(torch.finfo(mass.dtype).tiny),
                           known / known.sum(dim=1, keepdim=True))
