"""The GPU path: run with `pytest -m cuda` on a machine with a CUDA GPU (scripts/gpu-check does, on the H200).
Skipped elsewhere. Fused and lone training agree there, the resident feature bank returns the memory-mapped rows,
a training step never waits for the device, and runs record their peak GPU memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toy_features import make_toy

from serbench.features.normalisation import fit_normaliser
from serbench.method import build_method, discover_methods
from serbench.methods.fusion import FusedReplicas, fit_fused
from serbench.training import FeatureBank, RowSet, fit, utterance_posteriors

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)")]
SMALL = {"preset": "small", "batch_size": 32}
RUNS = [("baseline_s", 0), ("dann1_cs", 1), ("dann2_s", 2)]


@pytest.fixture(scope="module", autouse=True)
def methods():
    discover_methods()


@pytest.fixture
def toy():
    task, data = make_toy(speakers=3, takes=2, segments=2)
    data.normaliser = fit_normaliser(data.features, data.rows)
    _, other = make_toy(speakers=3, takes=2, segments=2, seed=1, corpus_strength=3.0)
    pool = RowSet(data.features, other.utterance, None, other.domains, rows=data.rows,
                      normaliser=data.normaliser)  # unlabelled, same shared bank
    return task, data, pool


def test_fused_runs_on_a_gpu_equal_runs_trained_alone_there(toy):
    task, data, pool = toy
    for adaptation in (None, pool):
        alone = [build_method(name, task, {**SMALL, "epochs": 1}, seed=seed) for name, seed in RUNS[1:]]
        histories = [fit(m, data, adaptation=adaptation, seed=seed, device="cuda")
                     for m, (_, seed) in zip(alone, RUNS[1:], strict=True)]
        fused = [build_method(name, task, {**SMALL, "epochs": 1}, seed=seed) for name, seed in RUNS[1:]]
        fused_histories = fit_fused(fused, [data] * 2, [seed for _, seed in RUNS[1:]],
                                    adaptation=[adaptation] * 2, device="cuda")
        for a, f in zip(histories, fused_histories, strict=True):
            assert f[0] == pytest.approx(a[0], rel=1e-3)  # TF32 may differ between the two paths' kernels
        for a, f in zip(alone, fused, strict=True):
            np.testing.assert_allclose(utterance_posteriors(f, data, device="cuda"),
                                       utterance_posteriors(a, data, device="cuda"), atol=1e-2)


def test_the_resident_bank_returns_the_memory_mapped_rows(tmp_path):
    path = tmp_path / "features.npy"
    features = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(300, 32, 129))
    features[:] = np.random.default_rng(0).normal(size=features.shape)
    features.flush()
    bank = FeatureBank([np.load(path, mmap_mode="r"), np.load(path, mmap_mode="r")[:100]])
    assert bank.make_resident(torch.device("cuda"))
    rows = torch.tensor([0, 299, 300, 399, 17], device="cuda")
    np.testing.assert_array_equal(bank.take(rows).cpu().numpy(), bank[rows.cpu().numpy()])


def test_a_training_step_never_waits_for_the_device(toy):
    """torch's sync debug mode raises on any operation that makes the host wait for the GPU (.item(), a
    boolean index, a host copy): none may happen inside a step, alone or fused."""
    task, data, pool = toy
    positions = torch.arange(32, device="cuda")
    method = build_method("dann2_cs", task, SMALL, seed=0).cuda().train()
    batch = data.batch(positions)
    batch.adaptation = pool.batch(positions)
    method.update(batch, 0.0)  # the first step allocates optimizer state; then no waiting is allowed
    model = FusedReplicas([build_method(name, task, SMALL, seed=seed).cuda() for name, seed in RUNS],
                          torch.device("cuda"))
    segments = torch.stack([data.inputs(positions)] * 3, dim=1)
    emotion = torch.stack([batch.emotion] * 3)
    domains = {d: torch.stack([batch.domains[d]] * 3) for d in model.domains}
    grl, active = torch.full((3,), 0.3, device="cuda"), torch.ones(3, dtype=torch.bool, device="cuda")
    model.step(segments, emotion, domains, grl, active)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        method.update(batch, 0.5)
        model.step(segments, emotion, domains, grl, active)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_runs_record_their_peak_gpu_memory(tiny_releases, tmp_path):
    from serbench.runs.launch import run
    from serbench.runs.store import ResultsStore

    run("dann2_s", "cross", tasks=["arousal"], seeds=2, data=str(tiny_releases), results=tmp_path, preset="small",
        epochs=1, device="cuda", fuse=2)
    store = ResultsStore(tmp_path)
    for run_id in store.done_ids():
        provenance = store.record(run_id).provenance
        assert provenance["peak_memory_mib"]["gpu"] > 0 and provenance["fused_runs"] == 2
