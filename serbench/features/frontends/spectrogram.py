"""The paper's front-end, `spectrogram` (the default): 16 kHz audio cut into 265 ms segments, each a 32 x 129
log-power spectrogram.

All settings live in SpectrogramSettings; its hash names the feature cache and enters every run's identity.
Why these numbers: 265 ms at 16 kHz is 4,240 samples. A 256-point FFT gives 129 frequency bins, and a
256-sample Hann window (16 ms) moved by 128 samples (8 ms) fits 1 + (4240 - 256) // 128 = 32 whole frames
into a segment, with no padding at the edges. The paper's "25 ms frames" cannot give 129 bins with a
256-point FFT; docs/frontends.md explains the choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.signal import get_window

from serbench.errors import SerbenchError
from serbench.features.frontends.base import AudioSettings, FrontEnd
from serbench.features.frontends.registry import register_frontend
from serbench.files import stable_hash


@dataclass(frozen=True)
class SpectrogramSettings(AudioSettings):
    sample_rate: int = 16_000
    segment_ms: float = 265.0
    segment_hop_ms: float = 265.0  # segments do not overlap; the tail shorter than a hop is not used
    n_fft: int = 256
    win_length: int = 256
    hop_length: int = 128
    window: str = "hann"  # periodic Hann, as torch.hann_window and scipy.signal.get_window give
    log_floor: float = 1e-10  # log(power + floor) keeps silence finite

    @property
    def segment_samples(self) -> int:
        return round(self.sample_rate * self.segment_ms / 1000)

    @property
    def segment_hop_samples(self) -> int:
        return round(self.sample_rate * self.segment_hop_ms / 1000)

    @property
    def frames(self) -> int:
        return 1 + (self.segment_samples - self.win_length) // self.hop_length

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def shape(self) -> tuple[int, int]:
        """(time, frequency) of one segment: (32, 129) by default."""
        return (self.frames, self.bins)

    def to_dict(self) -> dict:
        return asdict(self)

    def hash(self) -> str:
        """A stable short hash of every setting (same settings, same hash, in any process or version)."""
        return stable_hash(self.to_dict())


DEFAULT_SETTINGS = SpectrogramSettings()


def check_config(config: SpectrogramSettings) -> None:
    """Refuse settings the spectrogram cannot be computed with, naming the setting."""
    if config.win_length > config.n_fft:
        raise SerbenchError(f"front-end win_length {config.win_length} is longer than n_fft {config.n_fft}",
                            hint="use an FFT at least as long as the window")
    if config.segment_samples < config.win_length:
        raise SerbenchError(f"a {config.segment_ms} ms segment is shorter than one {config.win_length}-sample "
                            "window", hint="lengthen segment_ms or shorten win_length")
    if config.hop_length <= 0 or config.segment_hop_samples <= 0:
        raise SerbenchError("front-end hops must be positive", hint="set hop_length and segment_hop_ms above 0")
    try:
        _window(config.window, config.win_length)
    except ValueError:
        raise SerbenchError(f"unknown front-end window {config.window!r}",
                            hint="use a name scipy.signal.get_window knows, such as hann or hamming") from None


def segment_count(n_samples: int, config: SpectrogramSettings) -> int:
    """How many segments an utterance of `n_samples` gives: at least one (short ones are zero-padded)."""
    return max(1, 1 + (n_samples - config.segment_samples) // config.segment_hop_samples)


@lru_cache(maxsize=8)
def _window(name: str, length: int) -> torch.Tensor:
    # get_window's default fftbins=True is the periodic window, as torch.hann_window(periodic=True).
    return torch.from_numpy(get_window(name, length).astype(np.float32))


def segment_spectrograms(audio: np.ndarray | torch.Tensor, config: SpectrogramSettings = DEFAULT_SETTINGS, *,
                         out: np.ndarray | None = None) -> np.ndarray:
    """Log-power spectrograms of an utterance's segments, shape (n_segments, frames, bins), float32.

    `audio` is mono at config.sample_rate. Segments start every segment_hop_samples; the tail shorter than a
    segment is not used, except that an utterance shorter than one segment is zero-padded to one. Each
    segment is framed without edge padding, windowed and FFT'd; the value is log(|X|^2 + log_floor).
    `out`, if given, is filled in place (e.g. rows of a memory-mapped cache) and returned.
    """
    check_config(config)
    samples = torch.as_tensor(audio, dtype=torch.float32, device="cpu").reshape(-1)
    if samples.numel() < config.segment_samples:
        samples = torch.nn.functional.pad(samples, (0, config.segment_samples - samples.numel()))
    n = segment_count(samples.numel(), config)
    with torch.no_grad():
        # (segments, frames, window) as one strided view, so every frame of the utterance is in one FFT call.
        frames = samples.unfold(0, config.segment_samples, config.segment_hop_samples)[:n]
        frames = frames.unfold(-1, config.win_length, config.hop_length)
        # Zero-padding a frame at its end instead of centring it (as torch.stft does) changes only the phase.
        spectrum = torch.view_as_real(torch.fft.rfft(frames * _window(config.window, config.win_length),
                                                     n=config.n_fft))
        power = spectrum[..., 0].square().addcmul_(spectrum[..., 1], spectrum[..., 1])
        result = torch.from_numpy(out) if out is not None else torch.empty(power.shape)
        if tuple(result.shape) != tuple(power.shape):
            raise ValueError(f"out has shape {tuple(result.shape)}, the spectrograms {tuple(power.shape)}")
        torch.log(power.add_(config.log_floor), out=result)
    return result.numpy()


@register_frontend("spectrogram")
class Spectrogram(FrontEnd):
    """The paper's: 265 ms segments of 32 x 129 log-power spectrograms (256-point FFT, hop 128)."""

    kind = "segments"
    Settings = SpectrogramSettings

    def check(self) -> None:
        check_config(self.settings)

    @property
    def sample_rate(self) -> int:
        return self.settings.sample_rate

    @property
    def row_shape(self) -> tuple[int, ...]:
        return self.settings.shape

    def rows(self, n_samples: int) -> int:
        return segment_count(n_samples, self.settings)

    def compute(self, audio: np.ndarray, out: np.ndarray) -> None:
        segment_spectrograms(audio, self.settings, out=out)

    def settings_hash(self) -> str:
        # The settings alone, as serbench 0.1 hashed them, so that its feature caches stay valid.
        return self.settings.hash()
