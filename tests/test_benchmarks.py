"""Speed of the feature pass (WAV files -> complete feature cache), as times real time.

Runs once as a plain test (pyproject passes --benchmark-disable); measure with
    pytest tests/test_benchmarks.py --benchmark-enable
The target is >= 2000x real time for 16 kHz input on the project's 2-core machine; there is deliberately no
assertion on time, only on the result.
"""

from __future__ import annotations

import shutil
from itertools import count

import numpy as np
import soundfile as sf

from serbench.cache import build_features
from serbench.corpora.schema import Corpus, make_table

MINUTES = 10
UTTERANCE_SECONDS = 4.0  # typical of acted emotional speech


def ten_minutes_of_speechlike_audio(root) -> Corpus:
    rng = np.random.default_rng(0)
    n = int(MINUTES * 60 / UTTERANCE_SECONDS)
    samples = int(UTTERANCE_SECONDS * 16_000)
    t = np.arange(samples) / 16_000
    rows = []
    for i in range(n):
        # a gliding tone under noise, so the spectrograms are not trivial
        tone = np.sin(2 * np.pi * (150 + (50 * i) % 200) * t * (1 + 0.1 * t))
        audio = 0.3 * tone + 0.05 * rng.standard_normal(samples)
        path = root / "wav" / f"utt{i:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio.astype(np.float32), 16_000, subtype="PCM_16")
        rows.append({"utterance_id": f"utt{i:04d}", "path": str(path), "corpus": "bench", "speaker": "bench:s",
                     "gender": "F", "language": "en-US", "emotion_code": "neu", "emotion": "neutral"})
    return Corpus("bench", root, make_table(rows))


def test_feature_pass_speed(benchmark, tmp_path) -> None:
    corpus = ten_minutes_of_speechlike_audio(tmp_path / "corpus")
    rounds = count()

    def fresh_cache():  # every round builds from scratch, into a new cache root
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        return (), {"cache_dir": tmp_path / "cache" / str(next(rounds))}

    features = benchmark.pedantic(lambda cache_dir: build_features(corpus, cache_dir=cache_dir),
                                  setup=fresh_cache, rounds=5, warmup_rounds=1)
    audio_seconds = features.meta["audio_seconds"]
    assert audio_seconds == MINUTES * 60
    assert features.features.shape == (int(MINUTES * 60 / UTTERANCE_SECONDS) * 15, 32, 129)  # 64000 // 4240
    assert np.isfinite(features.features[::50]).all()
    benchmark.extra_info["audio_seconds"] = audio_seconds
    if benchmark.stats is not None:  # None when run as a plain test
        benchmark.extra_info["x_real_time_median"] = round(audio_seconds / benchmark.stats.stats.median)
        benchmark.extra_info["x_real_time_best"] = round(audio_seconds / benchmark.stats.stats.min)
