"""The logmel, eGeMAPS and self-supervised front-ends, checked against direct torchaudio, opensmile and
transformers computations. The self-supervised models are tiny random ones saved to disk; nothing downloads."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import opensmile
import pytest
import torch
import torchaudio
from scipy.signal import get_window
from tiny_ssl import save_tiny_model

from serbench.errors import SerbenchError
from serbench.features.frontends import FRONTENDS, egemaps, make_frontend
from serbench.features.frontends.base import FrontEnd

RNG = np.random.default_rng(11)


def noise(n: int, scale: float = 0.1) -> np.ndarray:
    return (scale * RNG.standard_normal(n)).astype(np.float32)


def run(frontend: FrontEnd, audio: np.ndarray) -> np.ndarray:
    """compute into a fresh array laid out from rows(), as the cache does; NaN where compute wrote nothing."""
    out = np.full((frontend.rows(len(audio)), *frontend.row_shape), np.nan, dtype=np.float32)
    frontend.compute(audio, out)
    return out


@pytest.mark.parametrize(("name", "kind"), [("logmel", "segments"), ("egemaps", "vectors"),
                                            ("egemaps-lld", "frames"), ("ssl", "vectors"), ("ssl-frames", "frames")])
def test_built_ins_are_registered(name: str, kind: str) -> None:
    assert FRONTENDS.lookup(name).source == "built-in"
    assert make_frontend(name).kind == kind


def test_importing_serbench_loads_neither_opensmile_nor_transformers() -> None:
    code = ("import sys, serbench.features.frontends; "
            "print(*(name in sys.modules for name in ('opensmile', 'transformers', 'huggingface_hub')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False", "False"]


# logmel ---------------------------------------------------------------------------------------------------------


def logmel_reference(audio: np.ndarray, frontend: FrontEnd) -> np.ndarray:
    """Segment by segment, frame by frame: window j on samples [j * hop, j * hop + win_length), zero-padded to
    n_fft, power spectrum through torchaudio's mel filter bank, in float64."""
    s = frontend.settings
    seg, hop = s.segment_samples, s.segment_hop_samples
    if len(audio) < seg:
        audio = np.concatenate([audio, np.zeros(seg - len(audio), dtype=np.float32)])
    window = get_window("hann", s.win_length)
    bank = torchaudio.functional.melscale_fbanks(s.n_fft // 2 + 1, s.f_min, s.f_max, s.n_mels, 16_000,
                                                 mel_scale=s.mel_scale).double().numpy()
    segments = []
    for start in range(0, len(audio) - seg + 1, hop):
        segment = audio[start:start + seg].astype(np.float64)
        frames = [segment[f:f + s.win_length] * window for f in range(0, seg - s.win_length + 1, s.hop_length)]
        power = np.abs(np.fft.rfft(frames, n=s.n_fft, axis=-1)) ** 2
        segments.append(np.log(power @ bank + s.log_floor))
    return np.stack(segments)


def test_logmel_default_is_25_frames_of_64_mels() -> None:
    frontend = make_frontend("logmel")
    assert frontend.row_shape == (25, 64)
    assert frontend.threads
    features = run(frontend, noise(16_000))
    assert features.shape == (3, 25, 64)
    assert features.dtype == np.float32


@pytest.mark.parametrize(("n_samples", "segments"), [(1, 1), (4239, 1), (4240, 1), (8479, 1), (8480, 2), (16_000, 3)])
def test_logmel_segment_counts(n_samples: int, segments: int) -> None:
    frontend = make_frontend("logmel")
    assert frontend.rows(n_samples) == segments
    assert run(frontend, noise(n_samples)).shape == (segments, 25, 64)


@pytest.mark.parametrize("settings", [{}, {"segment_hop_ms": 132.5}, {"n_mels": 40, "f_min": 50.0, "f_max": 7600.0},
                                      {"mel_scale": "slaney", "n_fft": 1024, "win_length": 401, "hop_length": 80}])
def test_logmel_equals_a_frame_by_frame_computation(settings: dict) -> None:
    frontend = make_frontend("logmel", settings)
    audio = noise(3 * 4240 + 1000)  # the tail is not used
    np.testing.assert_allclose(run(frontend, audio), logmel_reference(audio, frontend), atol=2e-3)


def test_logmel_equals_torchaudio_on_each_segment() -> None:
    # With the window as long as the FFT, torchaudio frames each segment exactly as the front-end does.
    frontend = make_frontend("logmel", {"n_fft": 400})
    audio = noise(2 * 4240 + 300)
    mel = torchaudio.transforms.MelSpectrogram(16_000, n_fft=400, hop_length=160, n_mels=64, f_max=8000.0,
                                               center=False)
    expected = [torch.log(mel(torch.from_numpy(audio[i * 4240:(i + 1) * 4240])) + 1e-10).T.numpy() for i in (0, 1)]
    np.testing.assert_allclose(run(frontend, audio), np.stack(expected), atol=2e-3)


def test_logmel_pads_a_short_utterance_with_silence() -> None:
    frontend = make_frontend("logmel")
    audio = noise(1000)
    features = run(frontend, audio)
    np.testing.assert_allclose(features, logmel_reference(audio, frontend), atol=2e-3)
    np.testing.assert_allclose(features[0, -1], np.log(1e-10), rtol=1e-6)  # a frame wholly in the padding


def test_logmel_from_threads_equals_one_by_one() -> None:
    frontend = make_frontend("logmel")
    audio = [noise(n) for n in RNG.integers(1000, 40_000, 12)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda samples: run(frontend, samples), audio))
    for samples, features in zip(audio, threaded, strict=True):
        np.testing.assert_array_equal(features, run(frontend, samples))


@pytest.mark.parametrize(("settings", "named"), [
    ({"win_length": 600}, "win_length"), ({"segment_ms": 20.0}, "win_length"), ({"n_mels": 0}, "n_mels"),
    ({"f_max": 9000.0}, "f_max"), ({"f_min": 8000.0}, "f_min"), ({"hop_length": 0}, "hop_length"),
    ({"mel_scale": "bark"}, "mel_scale"), ({"log_floor": 0.0}, "log_floor")])
def test_logmel_refuses_impossible_settings(settings: dict, named: str) -> None:
    with pytest.raises(SerbenchError, match=named):
        make_frontend("logmel", settings)


# eGeMAPS --------------------------------------------------------------------------------------------------------


def speech_like(n: int) -> np.ndarray:
    """A gliding harmonic tone with noise, loud and soft stretches: voiced frames for F0, formants, jitter."""
    t = np.arange(n) / 16_000
    f0 = 120 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16_000
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.2 * envelope * voiced + 0.01 * RNG.standard_normal(n)).astype(np.float32)


def direct_opensmile(audio: np.ndarray, level: str) -> np.ndarray:
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel[level])
    return smile.process_signal(audio, 16_000).to_numpy(dtype=np.float32)


def test_egemaps_is_the_88_functionals_of_opensmile() -> None:
    frontend = make_frontend("egemaps")
    assert frontend.row_shape == (88,)
    assert frontend.rows(123_456) == 1
    audio = speech_like(24_000)
    np.testing.assert_array_equal(run(frontend, audio), direct_opensmile(audio, "Functionals"))


def test_egemaps_lld_is_the_25_descriptors_of_opensmile() -> None:
    frontend = make_frontend("egemaps-lld")
    assert frontend.row_shape == (25,)
    audio = speech_like(24_000)
    expected = direct_opensmile(audio, "LowLevelDescriptors")
    assert frontend.rows(24_000) == len(expected) == 146
    np.testing.assert_array_equal(run(frontend, audio), expected)


# Around 960 samples (the shortest with frames) and steps of the 10 ms hop, plus lengths of 1 to 20 s.
LLD_LENGTHS = [0, 1, 500, 959, 960, 961, 1119, 1120, 1121, 1279, 1280, 16_000, 16_159, 16_160,
               *RNG.integers(1_000, 320_000, 6).tolist()]


@pytest.mark.parametrize("n_samples", LLD_LENGTHS)
def test_egemaps_lld_rows_are_what_opensmile_gives(n_samples: int) -> None:
    frontend = make_frontend("egemaps-lld")
    smile = egemaps.smile("eGeMAPSv02", "LowLevelDescriptors")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Segment too short, filling with NaN." below 960 samples
        frames = smile(noise(n_samples).reshape(1, -1), 16_000).shape[-1]
    assert frontend.rows(n_samples) == frames == (1 if n_samples < 960 else 2 + (n_samples - 960) // 160)


@pytest.mark.parametrize("name", ["egemaps", "egemaps-lld"])
def test_too_short_utterances_give_a_row_of_zeros_not_nan(name: str, recwarn) -> None:
    frontend = make_frontend(name)
    for n_samples in (1, 959):
        np.testing.assert_array_equal(run(frontend, noise(n_samples)), 0.0)
    assert not recwarn.list


@pytest.mark.parametrize("name", ["egemaps", "egemaps-lld"])
def test_silence_gives_finite_rows(name: str) -> None:
    assert np.isfinite(run(make_frontend(name), np.zeros(16_000, dtype=np.float32))).all()


def test_nan_and_infinities_from_opensmile_become_zero(monkeypatch) -> None:
    frontend = make_frontend("egemaps-lld")
    values = RNG.standard_normal((1, 25, frontend.rows(4000))).astype(np.float32)
    values[0, 10, :5], values[0, 3, 7], values[0, 4, 8] = np.nan, np.inf, -np.inf
    monkeypatch.setattr(egemaps, "smile", lambda feature_set, level: lambda signal, rate: values.copy())
    features = run(frontend, noise(4000))
    expected = np.nan_to_num(values[0].T, nan=0.0, posinf=0.0, neginf=0.0)
    np.testing.assert_array_equal(features, expected)


def test_frames_are_fitted_to_rows_should_opensmile_count_otherwise(monkeypatch) -> None:
    frontend = make_frontend("egemaps-lld")
    rows = frontend.rows(4000)
    for frames in (rows - 2, rows + 3):
        values = RNG.standard_normal((1, 25, frames)).astype(np.float32)
        monkeypatch.setattr(egemaps, "smile", lambda feature_set, level, values=values: lambda signal, rate: values)
        features = run(frontend, noise(4000))
        assert features.shape == (rows, 25)
        kept = min(rows, frames)
        np.testing.assert_array_equal(features[:kept], values[0].T[:kept])
        np.testing.assert_array_equal(features[kept:], np.repeat(values[0].T[-1:], rows - kept, axis=0))


def test_full_scale_samples_do_not_wrap_round() -> None:
    # opensmile casts to 16 bits: +1.0 would become -32768 without the clip to the largest 16-bit sample.
    frontend = make_frontend("egemaps")
    square = np.sign(np.sin(2 * np.pi * 200 * np.arange(16_000) / 16_000)).astype(np.float32)
    largest = np.where(square > 0, np.float32(32767 / 32768), square)  # -1.0 is -32768, a 16-bit sample already
    np.testing.assert_array_equal(run(frontend, square), run(frontend, largest))


def test_egemaps_from_threads_equals_one_by_one() -> None:
    frontend = make_frontend("egemaps-lld")
    assert frontend.threads
    audio = [speech_like(n) for n in RNG.integers(2_000, 20_000, 12)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda samples: run(frontend, samples), audio))
    for samples, features in zip(audio, threaded, strict=True):
        np.testing.assert_array_equal(features, run(frontend, samples))


def test_the_feature_set_version_is_a_setting_and_enters_the_hash(monkeypatch) -> None:
    older = make_frontend("egemaps-lld", {"feature_set": "eGeMAPSv01b"})
    assert older.row_shape == (23,)
    assert make_frontend("egemaps", {"feature_set": "eGeMAPSv01b"}).row_shape == (88,)
    assert older.hash() != make_frontend("egemaps-lld").hash()
    assert make_frontend("egemaps").hash() != make_frontend("egemaps-lld").hash()
    before = make_frontend("egemaps").hash()
    monkeypatch.setattr(egemaps, "opensmile_version", lambda: "99.0")
    assert make_frontend("egemaps").hash() != before
    with pytest.raises(SerbenchError, match="feature_set 'eGeMAPSv03'"):
        make_frontend("egemaps", {"feature_set": "eGeMAPSv03"})


# Self-supervised models -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"group": save_tiny_model(root / "group"), "layer": save_tiny_model(root / "layer", per_frame_norm=True)}


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, offline: the user's own cache and the network are out of reach."""
    from huggingface_hub import constants

    cache = tmp_path / "hub-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def direct_hidden_states(folder: Path, audio: np.ndarray) -> torch.Tensor:
    """(layers, frames, hidden) from the model run on the utterance alone, normalised as wav2vec 2.0 expects."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder).eval()
    values = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    values = np.pad(values, (0, max(0, 40 - len(values))))  # shorter than one frame: zero-padded to one
    with torch.no_grad():
        states = model(torch.from_numpy(values[None].astype(np.float32)), output_hidden_states=True).hidden_states
    return torch.stack(states)[:, 0]


def frames(folder: Path, layer: int = 1, **settings) -> FrontEnd:
    return make_frontend("ssl-frames", {"model": str(folder), "layer": layer, "device": "cpu", **settings})


def vectors(folder: Path, **settings) -> FrontEnd:
    return make_frontend("ssl", {"model": str(folder), "device": "cpu", **settings})


def test_ssl_settings() -> None:
    frontend = make_frontend("ssl-frames")
    assert frontend.settings.model == "facebook/wav2vec2-base"
    assert not frontend.threads
    assert frontend.batch_size == 8
    for settings, named in [({"device": "tpu"}, "device"), ({"batch_size": 0}, "batch_size"),
                            ({"max_chunk_s": 0.0}, "max_chunk_s"), ({"model": ""}, "model")]:
        with pytest.raises(SerbenchError, match=named):
            make_frontend("ssl", settings)


def test_rows_follow_the_convolutions(tiny_models) -> None:
    frontend = frames(tiny_models["group"])
    model = frontend.loaded[0]
    assert frontend.row_shape == (32,)
    for n_samples in [1, 39, 40, 41, 59, 60, 61, 100, 999, 1000, 1001, 4321]:
        expected = max(1, int(model._get_feat_extract_output_lengths(n_samples)))
        assert frontend.rows(n_samples) == expected
        assert len(direct_hidden_states(frontend.folder, noise(n_samples))[0]) == expected
    assert vectors(tiny_models["group"]).row_shape == (3, 32)
    assert vectors(tiny_models["group"]).rows(4321) == 1


@pytest.mark.parametrize("norm", ["group", "layer"])
@pytest.mark.parametrize("n_samples", [10, 1000, 4321])
def test_ssl_equals_the_model_run_directly(tiny_models, norm: str, n_samples: int) -> None:
    audio = noise(n_samples) + 0.05  # an offset for the normalisation to remove
    states = direct_hidden_states(tiny_models[norm], audio)
    for layer in (0, 1, 2, -1):
        np.testing.assert_allclose(run(frames(tiny_models[norm], layer), audio), states[layer].numpy(), atol=1e-5)
    np.testing.assert_allclose(run(vectors(tiny_models[norm]), audio)[0], states.mean(dim=1).numpy(), atol=1e-5)


@pytest.mark.parametrize("norm", ["group", "layer"])
@pytest.mark.parametrize("name", ["ssl", "ssl-frames"])
def test_a_batch_gives_the_rows_of_one_at_a_time(tiny_models, norm: str, name: str) -> None:
    frontend = make_frontend(name, {"model": str(tiny_models[norm]), "device": "cpu", "batch_size": 3,
                                    **({"layer": 2} if name == "ssl-frames" else {})})
    assert frontend.masks_padding == (norm == "layer")
    audio = [noise(n) for n in (3000, 1234, 3000, 20, 3000, 5555, 1234)]
    out = [np.full((frontend.rows(len(samples)), *frontend.row_shape), np.nan, np.float32) for samples in audio]
    frontend.compute_batch(audio, out)
    for samples, rows in zip(audio, out, strict=True):
        np.testing.assert_allclose(rows, run(frontend, samples), atol=1e-5)


def test_long_utterances_run_in_chunks_that_give_every_frame_once(tiny_models) -> None:
    frontend = frames(tiny_models["layer"], max_chunk_s=0.05)  # 800 samples: 39 frames at most a chunk
    for n_samples in (799, 800, 801, 3000, 4321, 8017):
        audio = noise(n_samples)
        pieces = frontend.pieces(0, audio)
        assert sum(piece.frames for piece in pieces) == frontend.rows(n_samples)
        assert all(piece.frames <= 39 for piece in pieces)
        features = run(frontend, audio)
        assert np.isfinite(features).all()
        values = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
        model = frontend.loaded[0]
        for piece in pieces:  # each chunk is the model run on its own stretch of the normalised utterance
            start = piece.first_frame * 20
            chunk = torch.from_numpy(values[start:start + len(piece.values)][None].astype(np.float32))
            with torch.no_grad():
                expected = model(chunk, output_hidden_states=True).hidden_states[1][0]
            np.testing.assert_allclose(features[piece.first_frame:piece.first_frame + piece.frames],
                                       expected[:piece.frames].numpy(), atol=1e-5)
    assert frontend.hash() != frames(tiny_models["layer"]).hash()


def test_a_layer_the_model_lacks_is_refused(tiny_models) -> None:
    with pytest.raises(SerbenchError, match="layer=3") as error:
        _ = frames(tiny_models["group"], layer=3).row_shape
    assert "0 (the embeddings' output) to 2" in error.value.hint


def test_the_hash_follows_the_weights_not_where_they_run(tiny_models, tmp_path) -> None:
    folder = save_tiny_model(tmp_path / "model", seed=1)
    first = vectors(folder).hash()
    assert vectors(folder).hash() == first  # a fresh object: same files, same hash
    assert vectors(folder, device="auto", batch_size=2).hash() == first
    assert vectors(tiny_models["group"]).hash() != first
    save_tiny_model(tmp_path / "model", seed=2)  # new weights in the same folder, the same configuration
    os.utime(folder / "model.safetensors", ns=(1, 1))  # a distinct time, however coarse the file system's clock
    assert vectors(folder).hash() != first
    assert frames(folder).hash() != vectors(folder).hash()


def fake_hub_cache(cache: Path, name: str, commit: str, model: Path) -> None:
    """The layout huggingface_hub downloads into: refs/main names the commit, snapshots/<commit> has the files."""
    storage = cache / f"models--{name.replace('/', '--')}"
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / "main").write_text(commit)
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for path in model.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())


def test_a_hub_name_loads_from_the_cache_and_its_commit_enters_the_hash(tiny_models, empty_hub_cache) -> None:
    fake_hub_cache(empty_hub_cache, "serbench/tiny", "a" * 40, tiny_models["group"])
    frontend = make_frontend("ssl-frames", {"model": "serbench/tiny", "layer": 1, "device": "cpu"})
    assert frontend.folder.name == "a" * 40
    audio = noise(1000)
    np.testing.assert_allclose(run(frontend, audio), direct_hidden_states(tiny_models["group"], audio)[1], atol=1e-5)
    first = frontend.hash()
    fake_hub_cache(empty_hub_cache, "serbench/tiny", "b" * 40, tiny_models["group"])  # main moved on
    assert make_frontend("ssl-frames", {"model": "serbench/tiny", "layer": 1}).hash() != first


def test_a_model_missing_offline_says_how_to_get_it(empty_hub_cache) -> None:
    frontend = make_frontend("ssl", {"model": "facebook/wav2vec2-base"})
    with pytest.raises(SerbenchError, match="not in the Hugging Face cache") as error:
        frontend.hash()
    assert str(empty_hub_cache) in error.value.message
    assert "HF_HUB_OFFLINE" in error.value.message
    assert "hf download facebook/wav2vec2-base" in error.value.hint
    assert "local folder" in error.value.hint
    with pytest.raises(SerbenchError, match="neither a folder nor a Hugging Face hub name"):
        _ = make_frontend("ssl", {"model": "./no/such/folder"}).row_shape
