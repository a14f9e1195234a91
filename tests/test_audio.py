"""Reading audio leaves no corpus cue. Resampling removes what lies above the target band and keeps what lies inside
unchanged: a corpus recorded at 44.1 or 48 kHz and resampled to 16 kHz must look like a corpus recorded at 16 kHz
(a weak anti-aliasing filter folds its content between 8 and 11 kHz into the top spectrogram bins, a pattern only
the resampled corpora carry; torchaudio's default resampler left a 9 kHz tone at -16.8 dB). The `peak` gain gives
every file the same peak, as a third party did to the Emo-DB copy, whatever the corpus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serbench.data.audio import audio_length, decode_audio, load_audio, resample, resampled_length
from serbench.errors import SerbenchError
from serbench.features.frontends import make_frontend
from serbench.protocols.protocol import load_protocol
from serbench.runs.plan import sweep_frontend
from serbench.runs.settings import SweepConfig

TARGET = 16_000
SECONDS = 2.0


def level_db(rate: int, frequency: float) -> float:
    """The RMS level (dB re the input's) of a full-scale tone at `frequency` resampled from `rate` to 16 kHz, with
    the filter's edges (0.25 s each side) left out."""
    t = np.arange(int(rate * SECONDS)) / rate
    out = resample(np.sin(2 * np.pi * frequency * t).astype(np.float32), rate, TARGET)
    assert out.dtype == np.float32 and len(out) == resampled_length(len(t), rate, TARGET)
    middle = out[TARGET // 4:-TARGET // 4]
    return float(20 * np.log10(np.sqrt(np.mean(middle.astype(np.float64) ** 2)) / np.sqrt(0.5)))


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_an_out_of_band_tone_is_removed(rate: int) -> None:
    # 9 kHz lies above the 8 kHz Nyquist frequency of the target: it would alias to 7 kHz.
    assert level_db(rate, 9_000) <= level_db(rate, 1_000) - 60


@pytest.mark.parametrize("rate", [22_050, 44_100, 48_000])
def test_the_pass_band_is_flat_to_7_khz(rate: int) -> None:
    levels = [level_db(rate, f) for f in (100, 1_000, 3_000, 5_000, 6_000, 6_500, 7_000)]
    assert max(levels) - min(levels) <= 0.5 and all(abs(level) <= 0.5 for level in levels)


def test_upsampling_keeps_the_band_and_adds_no_images() -> None:
    # 8 kHz -> 16 kHz: a 3 kHz tone stays; its image at 5 kHz must not appear.
    t = np.arange(8_000 * 2) / 8_000
    out = resample(np.sin(2 * np.pi * 3_000 * t).astype(np.float32), 8_000, TARGET)[4_000:-4_000]
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    bin_of = lambda hz: round(hz * len(out) / TARGET)  # noqa: E731
    assert 20 * np.log10(spectrum[bin_of(5_000)] / spectrum[bin_of(3_000)]) < -60


def test_a_file_is_read_through_the_same_resampler(tmp_path: Path) -> None:
    rate = 44_100
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 9_000 * t)).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, tone, rate, subtype="FLOAT")
    audio = load_audio(path)
    assert len(audio) == audio_length(path) == resampled_length(rate, rate, TARGET)
    np.testing.assert_array_equal(audio, resample(tone, rate, TARGET))
    assert np.sqrt(np.mean(audio[4_000:-4_000] ** 2)) < 0.5 * 10 ** (-60 / 20)


def test_the_peak_gain_scales_each_file_to_a_peak_of_one(tmp_path: Path) -> None:
    quiet = (0.05 * np.sin(np.linspace(0, 200, 8_000))).astype(np.float32)
    for name, samples in (("quiet.wav", quiet), ("silent.wav", np.zeros(8_000, dtype=np.float32))):
        sf.write(tmp_path / name, samples, 16_000, subtype="FLOAT")
    data = (tmp_path / "quiet.wav").read_bytes()
    np.testing.assert_array_equal(decode_audio(data, "quiet.wav"), quiet)  # as recorded: untouched
    peaked = decode_audio(data, "quiet.wav", gain="peak")
    assert np.abs(peaked).max() == 1.0 and np.allclose(peaked, quiet / np.abs(quiet).max())
    assert not load_audio(tmp_path / "silent.wav", gain="peak").any()  # digital silence stays silent


def test_the_gain_is_a_setting_of_every_front_end_and_the_protocol_sets_it() -> None:
    for name in ("spectrogram", "logmel", "egemaps"):
        assert make_frontend(name).gain == "as-recorded"
        assert make_frontend(name, {"gain": "peak"}).hash() != make_frontend(name).hash()  # new caches and runs
    with pytest.raises(SerbenchError, match="gain 'rms' is not one of as-recorded, peak"):
        make_frontend("logmel", {"gain": "rms"})
    transfer = load_protocol("transfer-dg[train=emodb,test=ravdess]")
    assert transfer.gain == "peak" and load_protocol("cross").gain == "as-recorded"
    config = SweepConfig(methods=("egemaps_svm",), protocol=transfer.name, frontend="egemaps")
    assert sweep_frontend(config, transfer).gain == "peak"  # the protocol's, for any front-end
    assert sweep_frontend(SweepConfig(methods=("baseline_s",), protocol="cross"), load_protocol("cross")).hash() \
        == make_frontend("spectrogram").hash()
    conflicting = SweepConfig(methods=("egemaps_svm",), protocol=transfer.name, frontend="egemaps",
                              frontend_settings={"gain": "as-recorded"})
    with pytest.raises(SerbenchError, match="sets gain = 'peak' for every front-end"):
        sweep_frontend(conflicting, transfer)
