"""Audio loading and the spectrogram front-end, checked against direct numpy/scipy computations."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import get_window

from serbench.data.audio import audio_length, load_audio
from serbench.errors import SerbenchError
from serbench.features.frontends.spectrogram import SpectrogramSettings, segment_count, segment_spectrograms

CONFIG = SpectrogramSettings()
RNG = np.random.default_rng(7)


def reference(audio: np.ndarray, config: SpectrogramSettings = CONFIG) -> np.ndarray:
    """The front-end written out frame by frame in float64 with numpy and scipy."""
    seg, hop = config.segment_samples, config.segment_hop_samples
    if len(audio) < seg:
        audio = np.concatenate([audio, np.zeros(seg - len(audio))])
    window = get_window("hann", config.win_length)  # periodic
    segments = []
    for start in range(0, len(audio) - seg + 1, hop):
        segment = audio[start:start + seg].astype(np.float64)
        frames = [segment[f:f + config.win_length] * window
                  for f in range(0, seg - config.win_length + 1, config.hop_length)]
        power = np.abs(np.fft.rfft(frames, n=config.n_fft, axis=-1)) ** 2
        segments.append(np.log(power + config.log_floor))
    return np.stack(segments)


def noise(n: int) -> np.ndarray:
    return (0.1 * RNG.standard_normal(n)).astype(np.float32)


def test_default_shape_is_the_papers_32_by_129() -> None:
    assert CONFIG.segment_samples == 4240
    assert CONFIG.shape == (32, 129)
    spectrograms = segment_spectrograms(noise(16_000), CONFIG)
    assert spectrograms.shape == (3, 32, 129)
    assert spectrograms.dtype == np.float32


@pytest.mark.parametrize(("n_samples", "segments"),
                         [(1, 1), (4239, 1), (4240, 1), (8479, 1), (8480, 2), (16_000, 3), (42_400, 10)])
def test_segment_counts(n_samples: int, segments: int) -> None:
    assert segment_count(n_samples, CONFIG) == segments
    assert segment_spectrograms(noise(n_samples), CONFIG).shape == (segments, 32, 129)


def test_overlapping_segments_follow_the_hop() -> None:
    config = SpectrogramSettings(segment_hop_ms=132.5)  # half a segment
    assert config.segment_hop_samples == 2120
    audio = noise(16_000)
    assert segment_count(16_000, config) == 1 + (16_000 - 4240) // 2120
    np.testing.assert_allclose(segment_spectrograms(audio, config), reference(audio, config), atol=2e-3)


def test_values_equal_a_direct_numpy_computation() -> None:
    audio = noise(3 * 4240 + 1000)  # the 1000-sample tail is not used
    np.testing.assert_allclose(segment_spectrograms(audio, CONFIG), reference(audio), atol=2e-3)


def test_a_25_ms_window_zero_padded_to_512_points() -> None:
    config = SpectrogramSettings(win_length=400, n_fft=512)
    assert config.shape == (31, 257)
    audio = noise(2 * 4240)
    spectrograms = segment_spectrograms(audio, config)
    assert spectrograms.shape == (2, 31, 257)
    np.testing.assert_allclose(spectrograms, reference(audio, config), atol=2e-3)


def test_equals_torch_stft_and_accepts_tensors() -> None:
    audio = torch.from_numpy(noise(2 * 4240))
    stft = torch.stft(audio.reshape(2, 4240), n_fft=256, hop_length=128, win_length=256,
                      window=torch.hann_window(256, periodic=True), center=False, return_complex=True)
    expected = torch.log(stft.abs() ** 2 + CONFIG.log_floor).transpose(1, 2).numpy()
    np.testing.assert_allclose(segment_spectrograms(audio, CONFIG), expected, atol=2e-3)


def test_short_utterance_is_zero_padded_to_one_segment() -> None:
    audio = noise(1000)
    spectrograms = segment_spectrograms(audio, CONFIG)
    assert spectrograms.shape == (1, 32, 129)
    np.testing.assert_allclose(spectrograms, reference(audio), atol=2e-3)
    # frames wholly inside the padding are silence: log(0 + floor)
    np.testing.assert_allclose(spectrograms[0, -1], np.log(CONFIG.log_floor), rtol=1e-6)


def test_out_is_filled_in_place() -> None:
    audio = noise(2 * 4240)
    out = np.zeros((2, 32, 129), dtype=np.float32)
    result = segment_spectrograms(audio, CONFIG, out=out)
    np.testing.assert_array_equal(out, segment_spectrograms(audio, CONFIG))
    assert np.shares_memory(result, out)


def test_impossible_settings_are_refused() -> None:
    with pytest.raises(SerbenchError, match="win_length"):
        segment_spectrograms(noise(8000), SpectrogramSettings(win_length=512))
    with pytest.raises(SerbenchError, match="window 'no-such-window'"):
        segment_spectrograms(noise(8000), SpectrogramSettings(window="no-such-window"))


def write(path, audio: np.ndarray, rate: int, subtype: str = "PCM_16"):
    sf.write(path, audio, rate, subtype=subtype)
    return path


def test_load_audio_reads_16_bit_pcm_as_float(tmp_path) -> None:
    pcm = RNG.integers(-30_000, 30_000, 8000, dtype=np.int16)
    path = write(tmp_path / "a.wav", pcm, 16_000)
    audio = load_audio(path)
    assert audio.dtype == np.float32
    np.testing.assert_array_equal(audio, pcm / 32768)
    assert audio_length(path) == 8000


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_stereo_is_averaged_to_mono(tmp_path, subtype: str) -> None:
    left = RNG.integers(-30_000, 30_000, 4000) / 32768
    right = RNG.integers(-30_000, 30_000, 4000) / 32768  # exact in every subtype
    path = write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 16_000, subtype)
    np.testing.assert_allclose(load_audio(path), (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("rate", [22_050, 44_100])
def test_resampling_keeps_duration_and_pitch(tmp_path, rate: int) -> None:
    seconds, tone = 1.5, 1000.0
    t = np.arange(int(rate * seconds)) / rate
    path = write(tmp_path / f"tone{rate}.wav", 0.5 * np.sin(2 * np.pi * tone * t), rate)
    audio = load_audio(path, 16_000)
    assert len(audio) == audio_length(path, 16_000) == int(np.ceil(len(t) * 16_000 / rate))
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    peak = np.argmax(spectrum) * 16_000 / len(audio)
    assert abs(peak - tone) < 2.0
    assert 0.3 < np.abs(audio[1000:-1000]).max() < 0.6
    assert len(load_audio(path, sample_rate=None)) == len(t)  # None keeps the file's own rate


def bad_files(tmp_path):
    """(description, path) of files the front-end must refuse, each in its own way."""
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    no_frames = write(tmp_path / "noframes.wav", np.zeros(0, dtype=np.int16), 16_000)
    text = tmp_path / "text.wav"
    text.write_text("this is not audio\n" * 20)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + RNG.bytes(64))
    nan = write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.5] * 100, dtype=np.float32), 16_000, "FLOAT")
    return [("empty", empty), ("0 frames", no_frames), ("text", text), ("corrupt header", garbage),
            ("NaN samples", nan), ("missing", tmp_path / "missing.wav"), ("a folder", tmp_path)]


def test_bad_files_raise_serbench_error_naming_the_file(tmp_path) -> None:
    for what, path in bad_files(tmp_path):
        with pytest.raises(SerbenchError) as caught:
            load_audio(path)
        assert caught.value.path == str(path), what
        assert str(path) in str(caught.value), what
        assert "--skip-bad" in str(caught.value), what


def test_header_check_refuses_the_same_files(tmp_path) -> None:
    for what, path in bad_files(tmp_path):
        if what == "NaN samples":  # only decoding can see the samples
            continue
        with pytest.raises(SerbenchError) as caught:
            audio_length(path)
        assert caught.value.path == str(path), what
