"""Speed of the feature pass (WAV files -> complete feature cache), as times real time, and of one training step.

Runs once as a plain test (pyproject passes --benchmark-disable); measure with
    pytest tests/test_benchmarks.py --benchmark-enable
The target is >= 2000x real time for 16 kHz input on the project's 2-core machine; there is deliberately no
assertion on time, only on the result. `serbench bench` measures whole pipelines (docs/performance.md).
"""

from __future__ import annotations

import shutil
from itertools import count

import numpy as np
import torch

from serbench.features.cache import build_features
from serbench.method import Batch, build_method, discover_methods
from serbench.methods.fusion import LOSS_TERMS, FusedReplicas
from serbench.runs.bench import FUSED_METHODS, TASK, UTTERANCE_SECONDS, BenchSetup, bench_method, speechlike_corpus

MINUTES = 10
BATCH = 128


def test_feature_pass_speed(benchmark, tmp_path) -> None:
    corpus = speechlike_corpus(tmp_path / "corpus", MINUTES)
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


def test_training_step_speed(benchmark, tmp_path) -> None:
    """One optimisation step of the small preset of the built-in baseline on the CPU, batch 128."""
    setup = BenchSetup.create(tmp_path, device=torch.device("cpu"), preset="small", batch_size=BATCH, steps=1,
                              warmup=0)
    method = bench_method(setup)
    batch = Batch(torch.from_numpy(setup.features), torch.from_numpy(setup.emotion),
                  {name: torch.from_numpy(labels) for name, labels in setup.domains.items()},
                  torch.arange(len(setup.features)))
    method.update(batch, 0.0)  # the process's first step sets up oneDNN: seconds, not what is measured here
    losses = benchmark.pedantic(method.update, args=(batch, 0.5), rounds=20, warmup_rounds=3)
    assert torch.isfinite(losses["total"])
    benchmark.extra_info["batch_size"] = BATCH
    if benchmark.stats is not None:  # None when run as a plain test
        benchmark.extra_info["segments_per_second_median"] = round(BATCH / benchmark.stats.stats.median)
        benchmark.extra_info["segments_per_second_best"] = round(BATCH / benchmark.stats.stats.min)


def test_fused_training_step_speed(benchmark, tmp_path) -> None:
    """One optimisation step of the six built-ins (small preset) trained as one fused model on the CPU, batch 128
    each; compare segments/s with test_training_step_speed (docs/performance.md: fusion does not pay on a CPU)."""
    setup = BenchSetup.create(tmp_path, device=torch.device("cpu"), preset="small", batch_size=BATCH, steps=1,
                              warmup=0)
    discover_methods()
    methods = [build_method(name, TASK, {"preset": "small"}, seed=r) for r, name in enumerate(FUSED_METHODS)]
    model, k = FusedReplicas(methods, torch.device("cpu")), len(methods)
    segments = torch.from_numpy(setup.features).unsqueeze(1).expand(-1, k, -1, -1)  # (batch, K, time, frequency)
    labels = {name: torch.from_numpy(values).expand(k, -1) for name, values in setup.domains.items()}
    args = (segments, torch.from_numpy(setup.emotion).expand(k, -1), labels, torch.full((k,), 0.3),
            torch.ones(k, dtype=torch.bool))
    model.step(*args)  # the first step sets up oneDNN
    losses = benchmark.pedantic(model.step, args=args, rounds=10, warmup_rounds=2)
    assert losses.shape == (k, len(LOSS_TERMS)) and torch.isfinite(losses).all()
    benchmark.extra_info["runs"] = k
    if benchmark.stats is not None:
        benchmark.extra_info["segments_per_second_median"] = round(k * BATCH / benchmark.stats.stats.median)
