"""Reading audio: any file libsndfile decodes (WAV above all), as float32 mono at the front-end's rate.

Every failure becomes a SerbenchError that names the file and says what to do, so the feature pass can
either stop with a clear message or put the file on its skip list.
"""

from __future__ import annotations

import io
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import firwin, kaiserord, resample_poly

from serbench.errors import SerbenchError

# What is done to each file's level after it is read (a front-end setting, `gain`): nothing, or scaling it to a peak
# of 1. Copies of corpora differ here: a third party peak-normalised every file of the Emo-DB copy we use, which
# erases the loudness differences between its utterances that other corpora keep, a cue only some corpora carry.
GAINS = ("as-recorded", "peak")
BAD_AUDIO_HINT = ("re-extract or re-copy this file from the corpus release, or pass --skip-bad to leave it out "
                  "(it is then listed in the skip list)")
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})


def _bad(path: str | Path, message: str) -> SerbenchError:
    return SerbenchError(message, path=path, hint=BAD_AUDIO_HINT)


# Every rate change low-passes with one Kaiser-windowed FIR designed for the lower of the two rates: flat (ripple
# far below 0.01 dB) up to PASSBAND of its Nyquist frequency, and at least STOPBAND_DB down from that Nyquist
# frequency on, so nothing above the target band folds back into it. A weaker filter leaves corpora recorded at
# 44.1 or 48 kHz with an aliased pattern in their top frequency bins that native 16 kHz corpora lack: a corpus
# cue (torchaudio's default resampler let a 9 kHz tone through at -17 dB). docs/cache.md has the measurements.
PASSBAND = 0.9
STOPBAND_DB = 90.0


@lru_cache(maxsize=16)
def _filter(orig_rate: int, new_rate: int) -> tuple[int, int, np.ndarray]:
    """(up, down, taps) of the polyphase resampler from `orig_rate` to `new_rate`; designed once per rate pair
    (milliseconds, even for 44.1 -> 16 kHz's 50,407 taps at the 7.056 MHz intermediate rate)."""
    common = gcd(orig_rate, new_rate)
    up, down = new_rate // common, orig_rate // common
    nyquist = min(orig_rate, new_rate) / 2
    intermediate = orig_rate * up
    taps, beta = kaiserord(STOPBAND_DB, (1 - PASSBAND) * nyquist / (intermediate / 2))
    taps |= 1  # odd: a whole-sample delay, which resample_poly removes
    return up, down, firwin(taps, (1 + PASSBAND) / 2 * nyquist, window=("kaiser", beta), fs=intermediate)


def resample(audio: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample float32 mono `audio` with a polyphase filter (scipy's resample_poly and the designed taps)."""
    if orig_rate == new_rate:
        return audio
    up, down, taps = _filter(orig_rate, new_rate)
    return resample_poly(audio, up, down, window=taps).astype(np.float32)


def resampled_length(frames: int, orig_rate: int, new_rate: int) -> int:
    """The number of samples `resample` returns for `frames` input samples: ceil(frames x new / orig)."""
    if orig_rate == new_rate:
        return frames
    common = gcd(orig_rate, new_rate)
    orig, new = orig_rate // common, new_rate // common
    return -(-frames * new // orig)


HEADER_BYTES = 1 << 16  # enough for a WAV's chunks before its data


def wav_shortfall(head: bytes, size: int) -> int:
    """How many bytes of a RIFF/WAVE file's data chunk are missing (a copy cut short), from its first bytes `head`
    and its size; 0 when it is whole, is not a WAV, or leaves its data length open (streamed writers)."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    position = 12
    while position + 8 <= len(head):
        chunk, length = head[position:position + 4], int.from_bytes(head[position + 4:position + 8], "little")
        if chunk == b"data":
            return 0 if length in (0, 0xFFFFFFFF) else max(0, position + 8 + length - size)
        position += 8 + length + (length & 1)
    return 0


def _truncated(path: str | Path, missing: int) -> SerbenchError:
    return _bad(path, f"audio file is truncated: {missing} bytes of the audio its header announces are missing")


def audio_length(path: str | Path, sample_rate: int = 16_000) -> int:
    """The length in samples at `sample_rate` that load_audio will return, read from the header alone."""
    size = _size(path)
    if size == 0:
        raise _bad(path, "audio file is empty (0 bytes)")
    try:
        with open(path, "rb") as handle:
            missing = wav_shortfall(handle.read(HEADER_BYTES), size)
    except OSError as error:
        raise _bad(path, f"cannot read audio file ({error.strerror})") from None
    if missing:
        raise _truncated(path, missing)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as error:
        raise _bad(path, f"not a readable audio file ({_reason(error)})") from None
    if info.frames <= 0:
        raise _bad(path, "audio file has no audio frames")
    return resampled_length(info.frames, info.samplerate, sample_rate)


def load_audio(path: str | Path, sample_rate: int | None = 16_000, gain: str = "as-recorded") -> np.ndarray:
    """Read `path` as float32 mono at `sample_rate` (None: the file's own rate): channels averaged, then
    resampled if needed, then scaled as `gain` says (GAINS)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise _bad(path, f"cannot read audio file ({error.strerror})") from None
    return decode_audio(data, path, sample_rate, gain)


def decode_audio(data: bytes, path: str | Path, sample_rate: int | None = 16_000,
                 gain: str = "as-recorded") -> np.ndarray:
    """load_audio for the bytes of `path` read already (the feature cache hashes the same bytes)."""
    if not data:
        raise _bad(path, "audio file is empty (0 bytes)")
    missing = wav_shortfall(data[:HEADER_BYTES], len(data))
    if missing:
        raise _truncated(path, missing)
    try:
        with sf.SoundFile(io.BytesIO(data)) as sound:
            rate, subtype = sound.samplerate, sound.subtype
            if subtype == "PCM_16":
                # libsndfile's own float conversion of 16-bit PCM (x / 32768) is 4x slower than numpy's
                samples = sound.read(dtype="int16", always_2d=True).astype(np.float32) * np.float32(1 / 32768)
            else:
                samples = sound.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise _bad(path, f"not a readable audio file ({_reason(error)})") from None
    if samples.shape[0] == 0:
        raise _bad(path, "audio file has no audio frames")
    mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1, dtype=np.float32)
    # Only float files can hold NaN or infinity; integer PCM is always finite.
    if subtype in FLOAT_SUBTYPES and not np.isfinite(mono).all():
        raise _bad(path, "audio file contains NaN or infinite samples")
    audio = np.ascontiguousarray(resample(mono, rate, sample_rate or rate), dtype=np.float32)
    peak = float(np.abs(audio).max()) if gain == "peak" else 0.0
    return audio / np.float32(peak) if peak > 0 else audio


def _reason(error: Exception) -> str:
    # libsndfile's own words ("Format not recognised."), without soundfile's "Error opening <object>" prefix
    return str(getattr(error, "error_string", error)).rstrip(".")


def _size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError as error:
        raise _bad(path, f"cannot read audio file ({error.strerror})") from None
