"""A tiny parametric stand-in for the feature cache: normalised 32 x 129 segments in which emotion, corpus,
gender and speaker each leave a detectable, partly overlapping signature."""

from __future__ import annotations

import numpy as np

from serbench.method import TaskSpec
from serbench.training import RowSet

EMOTIONS = ("anger", "happiness", "sadness", "neutral")
TIME, BINS = 32, 129


def _bump(centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((np.arange(BINS) - centre) / width) ** 2)


def make_toy(*, corpora: int = 2, speakers: int = 4, takes: int = 3, segments: int = 3,
             emotion_strength: float = 1.0, corpus_strength: float = 1.0,
             corpus_overlap: float = 0.3, noise: float = 1.0,
             seed: int = 0) -> tuple[TaskSpec, RowSet]:
    """`takes` utterances per (corpus, speaker, emotion), `segments` segments each; speakers alternate F, M.

    Emotion k: a frequency band (centres 25 apart, so neighbours overlap) pulsing at its own rate over time.
    Corpus c: a strong narrow band of its own at the top of the spectrum, plus a spectral tilt (weight
    corpus_overlap) across the emotion bands. Gender: a harmonic comb.
    Speaker: a small smooth random offset. Every segment adds Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    time = np.arange(TIME)[:, None]
    emotion_maps = [emotion_strength * _bump(25 + 25 * k, 10) * np.cos(2 * np.pi * (k + 1) * time / TIME)
                    + 0.5 * emotion_strength * _bump(25 + 25 * k, 10) for k in range(len(EMOTIONS))]
    tilt = np.linspace(-1, 1, BINS)
    corpus_maps = [corpus_strength * (2 * _bump(112 + 6 * c, 4) + corpus_overlap * (-1) ** c * tilt)
                   for c in range(corpora)]
    gender_maps = [0.5 * np.cos(2 * np.pi * np.arange(BINS) / spacing) for spacing in (9.0, 6.0)]
    rows = []
    for c in range(corpora):
        for s in range(speakers):
            speaker_map = 0.3 * np.convolve(rng.normal(size=BINS), np.ones(9) / 3, mode="same")
            for e in range(len(EMOTIONS)):
                for _ in range(takes):
                    clean = emotion_maps[e] + corpus_maps[c] + gender_maps[s % 2] + speaker_map
                    gain = rng.normal(scale=0.2)
                    for _ in range(segments):
                        rows.append((clean + gain + rng.normal(scale=noise, size=(TIME, BINS)),
                                     e, c * speakers + s, c, s % 2, c % 2))
    features, emotion, speaker, corpus, gender, language = zip(*rows, strict=True)
    task = TaskSpec(classes=EMOTIONS, domains={
        "speaker": tuple(f"c{c}:s{s}" for c in range(corpora) for s in range(speakers)),
        "corpus": tuple(f"c{c}" for c in range(corpora)),
        "gender": ("F", "M"),
        "language": ("en-US", "de"),
    })
    data = RowSet(
        features=np.stack(features).astype(np.float32),
        utterance=np.arange(len(rows)) // segments,
        emotion=np.array(emotion),
        domains={name: np.array(values) for name, values in
                 [("speaker", speaker), ("corpus", corpus), ("gender", gender), ("language", language)]},
    )
    return task, data


def utterance_labels(data: RowSet, labels: np.ndarray) -> np.ndarray:
    """Per-utterance labels from per-segment ones (all segments of an utterance share them)."""
    first = np.unique(data.utterance, return_index=True)[1]
    return labels[first]
