"""Tiny random self-supervised speech models, saved like downloaded ones: the ssl front-ends load them through
their real code path (transformers' from_pretrained on a local folder), and nothing downloads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def save_tiny_model(folder: Path, *, per_frame_norm: bool = False, seed: int = 0, hidden_size: int = 32) -> Path:
    """A random wav2vec 2.0 of 2 layers: conv kernels 10, 3, 3 and strides 5, 2, 2 (40-sample frames every 20
    samples). per_frame_norm makes it like wav2vec2-large-lv60 (layer norm, attention masks), else like
    wav2vec2-base (group norm, no masks)."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(seed)
    config = Wav2Vec2Config(**tiny_config(per_frame_norm, hidden_size))
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=per_frame_norm).save_pretrained(folder)
    return folder


def tiny_config(per_frame_norm: bool, hidden_size: int = 32) -> dict[str, Any]:
    """The settings of a tiny wav2vec 2.0 (save_tiny_model says which)."""
    return {"hidden_size": hidden_size, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
            "conv_dim": (16, 16, 16), "conv_kernel": (10, 3, 3), "conv_stride": (5, 2, 2),
            "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
            "feat_extract_norm": "layer" if per_frame_norm else "group", "do_stable_layer_norm": per_frame_norm}


def save_tiny_classifier(folder: Path, labels: Sequence[str], *, per_frame_norm: bool = False, seed: int = 0) -> Path:
    """A random wav2vec 2.0 of 2 layers with an emotion classification head whose outputs are `labels` (its
    config's id2label), saved as a fine-tuned checkpoint is: the checkpoint front-end loads it through
    AutoModelForAudioClassification, the ssl front-ends its encoder through AutoModel."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(seed)
    config = Wav2Vec2Config(**tiny_config(per_frame_norm), classifier_proj_size=16,
                            id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=per_frame_norm).save_pretrained(folder)
    return folder
