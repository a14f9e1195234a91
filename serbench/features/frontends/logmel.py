"""`logmel`: log-mel spectrograms in the segment scheme of `spectrogram` (265 ms segments, the short tail unused).

Why these defaults: a 25 ms window (400 samples) moved by 10 ms (160 samples) is the usual framing of speech
front-ends (Kaldi, most SER papers), zero-padded to a 512-point FFT; 64 mel bands from 0 Hz to the 8 kHz
Nyquist frequency keep every band wider than one FFT bin. A 265 ms segment then holds exactly
1 + (4240 - 400) // 160 = 25 frames with no sample left over, so a row is 25 x 64.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torchaudio.transforms import MelSpectrogram

from serbench.errors import SerbenchError
from serbench.features.frontends.base import SAMPLE_RATE, AudioSettings, FrontEnd
from serbench.features.frontends.registry import register_frontend

MEL_SCALES = ("htk", "slaney")


@dataclass(frozen=True)
class LogMelSettings(AudioSettings):
    segment_ms: float = 265.0
    segment_hop_ms: float = 265.0  # segments do not overlap; the tail shorter than a segment is not used
    n_fft: int = 512
    win_length: int = 400  # 25 ms, a periodic Hann window zero-padded to n_fft
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8000.0  # the Nyquist frequency at 16 kHz
    mel_scale: str = "htk"  # torchaudio's default; "slaney" is librosa's
    log_floor: float = 1e-10  # log(power + floor) keeps digital silence finite, as in `spectrogram`

    @property
    def segment_samples(self) -> int:
        return round(SAMPLE_RATE * self.segment_ms / 1000)

    @property
    def segment_hop_samples(self) -> int:
        return round(SAMPLE_RATE * self.segment_hop_ms / 1000)

    @property
    def frames(self) -> int:
        """Whole frames in one segment, without edge padding."""
        return 1 + (self.segment_samples - self.win_length) // self.hop_length


@register_frontend("logmel")
class LogMel(FrontEnd):
    """Log-mel spectrograms of 265 ms segments: 25 frames x 64 mels (25 ms window, 10 ms hop) by default."""

    kind = "segments"
    Settings = LogMelSettings

    def check(self) -> None:
        s = self.settings
        if s.n_fft < 1 or s.win_length < 1:
            raise SerbenchError("logmel: n_fft and win_length must be positive",
                                hint=f"got n_fft={s.n_fft}, win_length={s.win_length}")
        if s.win_length > s.n_fft:
            raise SerbenchError(f"logmel: win_length {s.win_length} is longer than n_fft {s.n_fft}",
                                hint="use an FFT at least as long as the window")
        if s.hop_length < 1 or s.segment_hop_samples < 1:
            raise SerbenchError("logmel: hop_length and segment_hop_ms must be positive",
                                hint=f"got hop_length={s.hop_length}, segment_hop_ms={s.segment_hop_ms}")
        if s.segment_samples < s.win_length:
            raise SerbenchError(f"logmel: a {s.segment_ms} ms segment is shorter than one {s.win_length}-sample "
                                "window (win_length)", hint="lengthen segment_ms or shorten win_length")
        if s.n_mels < 1:
            raise SerbenchError(f"logmel: n_mels={s.n_mels} must be at least 1")
        if not 0 <= s.f_min < s.f_max <= SAMPLE_RATE / 2:
            raise SerbenchError(f"logmel: f_min={s.f_min}, f_max={s.f_max} Hz is not a band within 0 to "
                                f"{SAMPLE_RATE // 2} Hz", hint="the audio is 16 kHz: keep 0 <= f_min < f_max <= 8000")
        if s.mel_scale not in MEL_SCALES:
            raise SerbenchError(f"logmel: unknown mel_scale {s.mel_scale!r}",
                                hint=f"use one of {', '.join(MEL_SCALES)}")
        if s.log_floor <= 0:
            raise SerbenchError(f"logmel: log_floor={s.log_floor} must be positive",
                                hint="it keeps log(power + floor) finite on silence")

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.settings.frames, self.settings.n_mels)

    def rows(self, n_samples: int) -> int:
        s = self.settings
        return max(1, 1 + (n_samples - s.segment_samples) // s.segment_hop_samples)

    @cached_property
    def _mel(self) -> MelSpectrogram:
        # Stateless once built (a window and a filter bank), so threads can share it.
        s = self.settings
        return MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=s.n_fft, win_length=s.win_length,
                              hop_length=s.hop_length, f_min=s.f_min, f_max=s.f_max, n_mels=s.n_mels,
                              power=2.0, center=False, mel_scale=s.mel_scale)

    def compute(self, audio: np.ndarray, out: np.ndarray) -> None:
        s = self.settings
        samples = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
        if samples.numel() < s.segment_samples:
            samples = torch.nn.functional.pad(samples, (0, s.segment_samples - samples.numel()))
        n = self.rows(samples.numel())
        with torch.no_grad():
            segments = samples.unfold(0, s.segment_samples, s.segment_hop_samples)[:n]
            # torch.stft takes n_fft samples per frame and centres the shorter window in them; padding each
            # segment by the difference puts frame j's window on samples [j * hop, j * hop + win_length), as in
            # `spectrogram`: the added zeros meet only the window's zero-padding, never its taps.
            left = (s.n_fft - s.win_length) // 2
            segments = torch.nn.functional.pad(segments, (left, s.n_fft - s.win_length - left))
            power = self._mel(segments).transpose(1, 2)  # (segments, mels, frames) -> (segments, frames, mels)
            torch.log(power.add_(s.log_floor), out=torch.from_numpy(out))
