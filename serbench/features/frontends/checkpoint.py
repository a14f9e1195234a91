"""`checkpoint`: a pretrained emotion classifier, run as it is: an audio-classification checkpoint of Hugging Face
transformers (wav2vec 2.0, HuBERT, WavLM, Whisper, ... fine-tuned on emotion), loaded through its auto classes.
Its rows are of the `posteriors` kind (base.py): the classifier's posterior of each of serbench's normalised
emotions, and which of them it has a label for. The `zero_shot` method maps them to a task's classes
(methods/pretrained.py); docs/pretrained.md.

Its label names (model.config.id2label) are read as a corpus reader reads its codes, through the one alias table
(serbench.data.labels.LABEL_ALIASES); the posteriors of labels that name the same emotion add up. A label that
names no emotion is an error unless the `ignore` setting leaves it out (its posterior then counts for nothing):
never dropped silently.

The weights are found and fingerprinted as the ssl front-ends' are (ssl.py: a local folder or the Hugging Face
cache; the commit, or the folder's fingerprint, in the hash), and the label mapping enters the hash too, so a
changed alias never mixes with cached rows. Each utterance runs whole, as the classifier decides on it alone;
utterances run together only where padding leaves each one's output as it is alone (ssl.py says why), else only
those of equal length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from serbench.data.labels import EMOTIONS, emotion_of_label
from serbench.errors import SerbenchError
from serbench.features.frontends.base import POSTERIOR_SHAPE, SAMPLE_RATE, AudioSettings
from serbench.features.frontends.registry import register_frontend
from serbench.features.frontends.ssl import (
    EXECUTION_SETTINGS,
    HubModel,
    Loaded,
    _import,
    geometry,
)
from serbench.files import stable_hash

NOT_ONE_EMOTION = ("regression", "multi_label_classification")  # heads that give no single emotion per utterance


@dataclass(frozen=True)
class CheckpointSettings(AudioSettings):
    # a hub name or a local folder (save_pretrained). The default was fine-tuned on IEMOCAP: not zero-shot there.
    model: str = "superb/wav2vec2-base-superb-er"
    revision: str = "main"  # for a hub name: a branch, tag or commit
    device: str = "auto"  # auto: cuda where there is one, else cpu
    batch_size: int = 8  # utterances per compute_batch
    ignore: str = ""  # the model's labels to leave out, comma-separated: those that name no emotion serbench knows


@register_frontend("checkpoint")
class Checkpoint(HubModel):
    """A pretrained emotion classifier's posteriors over serbench's emotions (transformers audio classification)."""

    kind = "posteriors"
    Settings = CheckpointSettings

    @property
    def row_shape(self) -> tuple[int, ...]:
        return POSTERIOR_SHAPE

    def rows(self, n_samples: int) -> int:
        return 1

    def settings_hash(self) -> str:
        identity = {key: value for key, value in self.to_dict().items() if key not in EXECUTION_SETTINGS}
        labels = [[label, emotion] for label, emotion in zip(self.labels, self.emotions, strict=True)]
        return stable_hash({**identity, "weights": self.weights, "labels": labels})

    @cached_property
    def config(self) -> Any:
        config = self.read_config()
        if getattr(config, "problem_type", None) in NOT_ONE_EMOTION:
            raise SerbenchError(f"checkpoint: the model's head does {config.problem_type}, not one emotion per "
                                "utterance", path=self.folder, hint="use a single-label emotion classifier")
        return config

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """The model's label names, in the order of its outputs."""
        return tuple(str(self.config.id2label[index]) for index in range(len(self.config.id2label)))

    @cached_property
    def emotions(self) -> tuple[str | None, ...]:
        """The emotion each label names (None: left out by `ignore`); a label naming none is an error."""
        ignored = {name.strip() for name in self.settings.ignore.split(",") if name.strip()}
        strangers = sorted(ignored - set(self.labels))
        if strangers:
            raise SerbenchError(f"checkpoint: ignore names {', '.join(strangers)}, not a label of the model",
                                path=self.folder, hint=f"its labels: {', '.join(self.labels)}")
        emotions = tuple(None if label in ignored else emotion_of_label(label) for label in self.labels)
        unknown = [label for label, emotion in zip(self.labels, emotions, strict=True)
                   if emotion is None and label not in ignored]
        if unknown:
            raise SerbenchError(
                f"checkpoint: the model's labels {', '.join(map(repr, unknown))} name no emotion serbench knows "
                f"(its labels: {', '.join(self.labels)})", path=self.folder,
                hint=f"leave them out with --frontend-setting ignore={','.join(unknown)} (their posterior then "
                     f"counts for nothing), or, where one names an emotion ({', '.join(EMOTIONS)}), add its "
                     "spelling to LABEL_ALIASES in serbench/data/labels.py. LABEL_0, LABEL_1, ... are transformers' "
                     "names for a model without a trained head: its hidden states are the ssl front-end's")
        if not any(emotions):
            raise SerbenchError("checkpoint: ignore leaves out every label of the model", path=self.folder)
        return emotions

    @cached_property
    def to_emotions(self) -> np.ndarray:
        """(labels, emotions): 1 where a label names the emotion; a posterior row times it gives the emotions'."""
        matrix = np.zeros((len(self.labels), len(EMOTIONS)), dtype=np.float32)
        for index, emotion in enumerate(self.emotions):
            if emotion is not None:
                matrix[index, EMOTIONS.index(emotion)] = 1.0
        return matrix

    @cached_property
    def loaded(self) -> Loaded:
        """The classifier and its feature extractor, loaded on first use, once; every weight of the classifier
        must come from the checkpoint (a head it lacks would be random)."""
        transformers = _import("transformers", self.name)
        device = self.torch_device()
        try:
            extractor = transformers.AutoFeatureExtractor.from_pretrained(self.folder)
            model, loading = transformers.AutoModelForAudioClassification.from_pretrained(
                self.folder, dtype=torch.float32, output_loading_info=True)
        except (OSError, ValueError) as error:
            raise SerbenchError(f"checkpoint: cannot load the model as an audio classifier: {error}", path=self.folder,
                                hint="the folder needs config.json, preprocessor_config.json and the weights of a "
                                     "transformers audio-classification model (save_pretrained)") from None
        if loading["missing_keys"]:
            raise SerbenchError(f"checkpoint: the checkpoint lacks weights of {type(model).__name__}: "
                                f"{', '.join(sorted(loading['missing_keys']))}", path=self.folder,
                                hint="its head is not the one transformers builds for this model (a custom class), or "
                                     "it has none: it would classify with random weights")
        self.check_rate(extractor)
        return Loaded(model.eval().to(device), extractor, device)

    @property
    def masks_padding(self) -> bool:
        """Whether padded batches give every utterance the output it has alone: per-frame normalisation and an
        attention mask (ssl.py). Otherwise only utterances of equal length run together."""
        norm = getattr(self.config, "feat_extract_norm", "group")
        return norm == "layer" and bool(getattr(self.loaded.extractor, "return_attention_mask", False))

    @property
    def shortest(self) -> int:
        """The fewest samples the model takes: one frame of a convolutional feature encoder's, where it has one."""
        return geometry(self.config).receptive_field if hasattr(self.config, "conv_kernel") else 1

    def groups(self, audio: Sequence[np.ndarray]) -> list[list[int]]:
        """The utterances (indices into `audio`) that run together."""
        if self.masks_padding:
            return [list(range(len(audio)))]
        by_length: dict[int, list[int]] = {}
        for index, samples in enumerate(audio):
            by_length.setdefault(len(samples), []).append(index)
        return list(by_length.values())

    def posteriors(self, audio: list[np.ndarray]) -> np.ndarray:
        """(utterances, labels): the classifier's posteriors of utterances that run together."""
        model, extractor, device = self.loaded
        values = [np.pad(np.asarray(samples, dtype=np.float32), (0, max(0, self.shortest - len(samples))))
                  for samples in audio]
        padding = {"padding": True} if len({len(samples) for samples in values}) > 1 else {}
        inputs = extractor(values, sampling_rate=SAMPLE_RATE, return_tensors="pt", **padding)
        with torch.inference_mode():
            logits = model(**{key: value.to(device) for key, value in inputs.items()}).logits
        return logits.float().softmax(dim=-1).cpu().numpy()

    def compute_batch(self, audio: Sequence[np.ndarray], out: Sequence[np.ndarray]) -> None:
        named = self.to_emotions.max(axis=0)
        for group in self.groups(audio):
            for index, posterior in zip(group, self.posteriors([audio[i] for i in group]), strict=True):
                out[index][0] = np.stack([posterior @ self.to_emotions, named])
