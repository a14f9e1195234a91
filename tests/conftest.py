"""Shared fixtures: a private feature cache for the whole test session, and tiny synthetic releases. Nothing
downloads in the tests: the Hugging Face hub is off for the whole session (the ssl front-ends' tests build tiny
random models in local folders)."""

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: it reads the variable once
# Thread pools that do not spin long while they wait, here and in the serbench processes tests start, set before
# numpy and torch load them. On 2 cores shared with other processes (the tests' own workers, or a busy machine) a
# thread spinning while the other waits for a core made training and a run's embedding probes 10 times slower.
# torch keeps its thread count (runs are compared bit for bit across processes); its OpenMP threads (libgomp)
# spin 1,000 times instead of 300,000 before they sleep: as fast as the default on idle cores, as fast as never
# spinning on busy ones (OMP_WAIT_POLICY=PASSIVE, which always sleeps, made an idle machine's training 1.8 times
# slower). numpy and scipy's BLAS, whose threads spin too, runs on one: its matrices here are a few hundred rows.
os.environ["GOMP_SPINCOUNT"] = "1000"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import pytest

from serbench.data.synth import synthesize

# The smallest stand-ins: every speaker still has every main category (about 200 utterances in all).
TINY_SCALE = 0.002


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep the user's ~/.cache/serbench out of the tests (subprocesses inherit the variable)."""
    cache = tmp_path_factory.mktemp("serbench-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SERBENCH_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def tiny_releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the four synthetic releases under their usual names (for --data FOLDER)."""
    out = tmp_path_factory.mktemp("releases")
    synthesize(out, scale=TINY_SCALE, seed=0)
    return out


@pytest.fixture(autouse=True)
def torch_threads():
    """Tests that pin torch's thread count (for reproducible float sums) must not change it for later tests:
    runs compared bit for bit with a subprocess (which uses the default count) would differ in the last bits."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def method_registry(monkeypatch):
    """The methods a test's plugins register leave with it: the next test (and `--method all`) sees the
    built-ins."""
    from serbench.method import METHODS, discover_methods

    discover_methods()
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS))
    yield METHODS
