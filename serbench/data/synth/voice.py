"""A parametric source-filter voice: syllables -> control tracks -> excitation -> vocal tract -> room -> mic.

The source is a glottal pulse train placed period by period (so jitter and shimmer are real cycle-to-cycle
perturbations) plus aspiration noise; fricatives and bursts are a separate noise source. The vocal tract is
a cascade of five formant resonators whose magnitude (with the source tilt and the microphone response)
is applied frame by frame in the STFT domain as a minimum-phase filter, which makes time-varying formants
cheap and click-free. The room is an exponentially decaying noise impulse response, the recording chain a
noise floor with mains hum. Everything is numpy/scipy and a pure function of the utterance's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft
from scipy.signal import fftconvolve

CTRL_HZ = 1000  # control tracks (voicing, formants, F0, ...) are built on a 1 ms grid


@dataclass(frozen=True)
class Language:
    """What a language contributes: vowel qualities (male reference F1-F3, Hz), consonants, rhythm."""

    tag: str
    vowels: dict[str, tuple[float, float, float]]
    reduced: str  # the vowel unstressed syllables reduce to
    reduction: float  # probability that an unstressed syllable takes the reduced vowel
    consonants: dict[str, float]  # consonant -> relative frequency (kinds in CONSONANTS)
    coda: float  # probability that a syllable has a final consonant
    syllable_rate: float  # syllables per second in neutral speech
    stress: float  # probability that a syllable is stressed
    final_lengthening: float  # duration factor of a phrase's last syllable
    devoice_coda: bool = False  # German final devoicing
    pitch_span: float = 1.0  # pitch range relative to US English (German narrower, RP wider: Mennen 2012)
    # Syllable lengths relative to the mean: stress-timed English and German stretch stressed syllables and
    # squeeze the others; syllable-timed languages (Italian) much less.
    stressed_length: float = 1.35
    unstressed_length: float = 0.75
    geminates: float = 0.0  # probability that a consonant between vowels is long (Italian "fatto")


# kind, fricative noise centre (Hz, male reference), own formants for sonorants (None: the next vowel's)
CONSONANTS: dict[str, tuple[str, float, tuple[float, float, float] | None]] = {
    "s": ("fric", 6200, None), "z": ("vfric", 6000, None), "sh": ("fric", 3100, None),
    "f": ("fric", 5000, None), "v": ("vfric", 4500, None), "th": ("fric", 5500, None),
    "x": ("fric", 1700, None), "c": ("fric", 3800, None), "h": ("asp", 0, None),
    "p": ("stop", 900, None), "t": ("stop", 4200, None), "k": ("stop", 2200, None),
    "b": ("vstop", 900, None), "d": ("vstop", 4000, None), "g": ("vstop", 2200, None),
    "ts": ("affric", 6000, None), "pf": ("affric", 4800, None),
    "m": ("nasal", 0, (260, 1000, 2300)), "n": ("nasal", 0, (260, 1500, 2500)),
    "ng": ("nasal", 0, (260, 1900, 2400)),
    "l": ("approx", 0, (360, 1050, 2600)), "r": ("approx", 0, (420, 1150, 1650)),
    "rr": ("vfric", 1500, None), "w": ("approx", 0, (300, 700, 2300)), "j": ("approx", 0, (280, 2150, 2900)),
    "R": ("approx", 0, (380, 1450, 2500)),  # alveolar tap or trill (Italian): no F3 dip, unlike English /r/
    "tS": ("affric", 3300, None),
}


@dataclass(frozen=True)
class Channel:
    """The recording chain of a corpus: level, microphone response, room, noise floor."""

    sample_rate: int
    level_db: float  # active-speech RMS of a neutral utterance, dBFS
    highpass_hz: float
    lowpass_hz: float
    presence_hz: float  # centre of the microphone's presence bump
    presence_db: float
    tilt_db_oct: float  # colouring by microphone placement above 500 Hz (a lapel mic on the chest: dull)
    rt60_s: float  # reverberation time of the room
    drr_db: float  # direct-to-reverberant ratio
    noise_db: float  # noise floor RMS, dBFS
    noise_slope_db_oct: float  # 0 white, -3 pink
    hum_hz: float  # mains frequency (60 Hz in the US, 50 Hz in Europe)
    hum_db: float
    silence_ms: tuple[float, float] = (80.0, 300.0)  # range of the silence before and after the speech in a file


@dataclass(frozen=True)
class Voice:
    """One speaker: anatomy and habits."""

    gender: str
    f0_hz: float
    f0_range_st: float  # pitch range of neutral speech, semitones
    formant_scale: float  # inverse vocal-tract length relative to the male reference
    loudness_db: float  # habitual loudness and distance to the microphone
    rate: float  # speaking-rate factor
    jitter: float  # cycle-to-cycle period perturbation (relative sd)
    shimmer: float  # cycle-to-cycle amplitude perturbation (relative sd)
    breathiness: float  # aspiration noise relative to the harmonics
    tilt_db_oct: float  # source spectral slope above 200 Hz
    creak: float  # probability of creaky phrase endings
    expressiveness: float  # how strongly emotion shows in this voice
    vowel_habit: tuple[float, float]  # personal F1, F2 factors (accent, articulation)


@dataclass(frozen=True)
class Style:
    """How one utterance is spoken: the latent emotion and its voice-quality colouring."""

    arousal: float  # -1 (calm) .. 1 (aroused)
    valence: float  # -1 (negative) .. 1 (positive)
    breath: float = 1.0  # aspiration multiplier (sadness, fear: breathy)
    jitter: float = 1.0  # jitter multiplier (fear: tremor, disgust: creak)
    tilt_db_oct: float = 0.0  # extra source slope (anger: pressed, flatter)
    final_rise: float = 0.0  # added probability of a rising phrase end (surprise)
    creak: float = 0.0  # added probability of creaky phrase endings (boredom, disgust)


# One stretch of the plan: (ms, voicing 0-1, level dB, F1-F3 of the male reference tract,
# frication 0-1, frication centre Hz, aspiration 0-1)
Segment = tuple[float, float, float, tuple[float, float, float], float, float, float]
FRICATION_GAIN = 0.2  # frication noise relative to the voiced spectrum level


def _consonant(name: str, vowel: tuple[float, float, float], amp: float, ms: float,
               devoice: bool) -> list[Segment]:
    """The segments of one consonant next to `vowel` (whose formants a consonant without its own takes)."""
    kind, centre, own = CONSONANTS[name]
    if devoice:
        kind = {"vfric": "fric", "vstop": "stop"}.get(kind, kind)
    if kind == "fric":
        return [(ms, 0.0, amp - 6, vowel, 1.0, centre, 0.0)]
    if kind == "vfric":
        return [(ms, 0.7, amp - 6, vowel, 0.5, centre, 0.0)]
    if kind == "asp":
        return [(ms, 0.0, amp - 6, vowel, 0.0, 0.0, 1.0)]
    if kind in ("nasal", "approx"):
        return [(ms, 1.0, amp - (9 if kind == "nasal" else 4), own or vowel, 0.0, 0.0, 0.0)]
    # stops and affricates: closure, burst, then aspiration, voicing or frication
    voiced = kind == "vstop"
    closure, burst = 0.45 * ms, min(15.0, 0.2 * ms)
    release = ms - closure - burst
    segments = [(closure, 0.3 if voiced else 0.0, amp - 30, vowel, 0.0, 0.0, 0.0),
                (burst, 0.0, amp - 3, vowel, 1.0, centre, 0.0)]
    if kind == "affric":
        return [*segments, (release, 0.0, amp - 6, vowel, 1.0, centre, 0.0)]
    return [*segments, (release, 0.6 if voiced else 0.0, amp - 4, vowel, 0.0, 0.0, 0.0 if voiced else 0.8)]


def _plan(rng: np.random.Generator, lang: Language, voice: Voice, style: Style, duration_s: float,
          silence_ms: tuple[float, float]) -> tuple[list[Segment], list[tuple[float, float]], list[float]]:
    """Syllables and pauses filling about `duration_s` between leading and trailing silences drawn from
    `silence_ms`: the segments, the phrases (start, end ms) and the centres of the stressed vowels (ms)."""
    speed = voice.rate * (1 + 0.15 * style.arousal * voice.expressiveness)
    syllable_ms = 1000 / (lang.syllable_rate * speed)
    vowels = list(lang.vowels)
    consonants = list(lang.consonants)
    weights = np.array([lang.consonants[c] for c in consonants], dtype=float)
    weights /= weights.sum()
    silence = lang.vowels[lang.reduced]
    lead, trail = rng.uniform(*silence_ms, 2)
    # Phrasing follows the length of the speech, not of the file: long silences (RAVDESS) add no phrase.
    padded_s = (sum(silence_ms) - 380) / 1000
    n_phrases = 1 + int(duration_s - padded_s > 2.4) + int(duration_s - padded_s > 3.6 and rng.random() < 0.5)
    pauses = rng.uniform(150, 450, n_phrases - 1) * (1 - 0.3 * style.arousal)
    speech_ms = max(duration_s * 1000 - lead - trail - pauses.sum(), 400.0)
    cuts = np.sort(rng.uniform(0.3, 0.7, n_phrases - 1))
    phrase_ms = np.diff(np.concatenate([[0.0], cuts, [1.0]])) * speech_ms

    segments: list[Segment] = [(lead, 0.0, -60.0, silence, 0.0, 0.0, 0.0)]
    phrases: list[tuple[float, float]] = []
    accents: list[float] = []
    clock = lead
    for p, target in enumerate(phrase_ms):
        start = clock
        while True:
            stressed = rng.random() < lang.stress
            reduce = not stressed and rng.random() < lang.reduction
            vowel = lang.vowels[lang.reduced if reduce else vowels[rng.integers(len(vowels))]]
            last = clock - start + 1.5 * syllable_ms >= target
            stretch = lang.stressed_length if stressed else lang.unstressed_length
            length = syllable_ms * rng.uniform(0.8, 1.2) * stretch
            length *= lang.final_lengthening if last else 1.0
            amp = 3.0 if stressed else 0.0
            onset_ms = 0.4 * length if rng.random() < 0.8 else 0.0
            if onset_ms and lang.geminates and clock > start and rng.random() < lang.geminates:
                onset_ms *= 2
            coda_ms = 0.3 * length if rng.random() < lang.coda else 0.0
            vowel_ms = 0.6 * length
            if onset_ms:
                segments += _consonant(consonants[rng.choice(len(consonants), p=weights)], vowel, amp,
                                       onset_ms, False)
            segments.append((vowel_ms, 1.0, amp, vowel, 0.0, 0.0, 0.0))
            if stressed:
                accents.append(clock + onset_ms + vowel_ms / 2)
            if coda_ms:
                segments += _consonant(consonants[rng.choice(len(consonants), p=weights)], vowel, amp - 2,
                                       coda_ms, lang.devoice_coda)
            clock += onset_ms + vowel_ms + coda_ms
            if last:
                break
        phrases.append((start, clock))
        if p < len(pauses):
            segments.append((pauses[p], 0.0, -60.0, silence, 0.0, 0.0, 0.0))
            clock += pauses[p]
    segments.append((trail, 0.0, -60.0, silence, 0.0, 0.0, 0.0))
    return segments, phrases, accents


def _smooth(track: np.ndarray, ms: int) -> np.ndarray:
    """Moving average over `ms` control steps (coarticulation, onsets), edges held."""
    if ms <= 1:
        return track
    padded = np.pad(track, (ms // 2, ms - 1 - ms // 2), mode="edge")
    return np.convolve(padded, np.ones(ms) / ms, mode="valid")


def _pitch(rng: np.random.Generator, voice: Voice, style: Style, n: int, phrases: list[tuple[float, float]],
           accents: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """F0 in semitones relative to the speaker's F0, and the creaky-voice mask, per millisecond.

    Arousal raises level and range; valence lifts level slightly, widens the range a little and makes
    rising phrase ends likelier. Each phrase declines, stressed syllables carry accents."""
    a, v, e = style.arousal, style.valence, voice.expressiveness
    level = (4.5 * a + 1.5 * v) * e
    span = voice.f0_range_st * max(0.3, 1 + 0.45 * a * e) * (1 + 0.15 * v * e)
    st = np.full(n, level)
    creaky = np.zeros(n)
    for start, end in phrases:
        i0, i1 = int(start), min(int(end), n)
        st[i0:i1] += span * (0.25 - 0.5 * np.linspace(0, 1, i1 - i0))
        k = min(220, i1 - i0)
        rise = rng.random() < 0.2 + 0.25 * max(v, 0) + style.final_rise
        st[i1 - k:i1] += (0.6 if rise else -0.35) * span * np.linspace(0, 1, k) ** 2
        if rng.random() < voice.creak + style.creak:
            creaky[max(i1 - 150, i0):i1] = 1
    t = np.arange(n)
    for centre in accents:
        lo, hi = max(int(centre) - 200, 0), min(int(centre) + 200, n)
        st[lo:hi] += span * rng.uniform(0.3, 0.8) * np.exp(-0.5 * ((t[lo:hi] - centre) / 60) ** 2)
    st += _smooth(rng.standard_normal(n), 80) * 0.4 * np.sqrt(80)
    return st, creaky


def _pulses(rng: np.random.Generator, voice: Voice, style: Style, f0_hz: np.ndarray, voicing: np.ndarray,
            creaky: np.ndarray, sr: int, n_samples: int) -> np.ndarray:
    """Glottal pulses period by period: jitter perturbs each period, shimmer each amplitude."""
    n_ms = len(f0_hz)
    out = np.zeros(n_samples + 2)
    most = int(n_ms / 1000 * f0_hz.max() * 1.5) + 8
    z_period, z_amp = rng.standard_normal(most), rng.standard_normal(most)
    jitter = voice.jitter * style.jitter
    times, amps = [], []
    t, k = 0.0, 0
    while k < most:
        i = int(t * 1000)
        if i >= n_ms:
            break
        if voicing[i] > 0.05:
            times.append(t)
            amps.append(1 + voice.shimmer * (1 + 2 * creaky[i]) * z_amp[k])
        t += (1 + jitter * (1 + 4 * creaky[i]) * z_period[k]) / f0_hz[i]
        k += 1
    position = np.array(times) * sr
    whole = position.astype(int)
    frac = position - whole
    np.add.at(out, whole, np.array(amps) * (1 - frac))
    np.add.at(out, whole + 1, np.array(amps) * frac)
    return out[:n_samples]


def _resonance(freq: np.ndarray | float, bandwidth: np.ndarray | float, f: np.ndarray) -> np.ndarray:
    """Log magnitude of a second-order resonator (unity gain at 0 Hz): freq, bandwidth (frames, 1) or
    scalars, f (bins,)."""
    centre2 = freq**2 + bandwidth**2 / 4
    return np.log(centre2) - 0.5 * np.log((centre2 - f**2) ** 2 + (bandwidth * f) ** 2)


def _minimum_phase(log_mag: np.ndarray, n_fft: int) -> np.ndarray:
    """The minimum-phase spectrum with log magnitude `log_mag` (frames, bins), by cepstral folding."""
    cepstrum = fft.irfft(log_mag, n_fft)
    cepstrum[:, 1:n_fft // 2] *= 2
    cepstrum[:, n_fft // 2 + 1:] = 0
    return np.exp(fft.rfft(cepstrum, n_fft))


def _microphone(channel: Channel, f: np.ndarray) -> np.ndarray:
    """Log magnitude of the microphone and converter: high-pass, low-pass, presence bump, tilt."""
    f = np.maximum(f, 1.0)
    high = 2 * np.log(f / channel.highpass_hz) - 0.5 * np.log1p((f / channel.highpass_hz) ** 4)
    low = -0.5 * np.log1p((f / channel.lowpass_hz) ** 8)
    bump = channel.presence_db * np.exp(-0.5 * (np.log2(f / channel.presence_hz) / 0.7) ** 2)
    tilt = channel.tilt_db_oct * np.log2(np.maximum(f, 500) / 500)
    return high + low + (bump + tilt) / 20 * np.log(10)


def _filter(voiced: np.ndarray, noise: np.ndarray, env_voiced: np.ndarray, env_noise: np.ndarray,
            noisy: np.ndarray, win: int, n_fft: int) -> np.ndarray:
    """Time-varying filtering by overlap-add: each Hann-windowed frame (half-overlapping, so the windows
    sum to one) of each source is multiplied by its frame's minimum-phase envelope; n_fft = 2 * win leaves
    room for the filters' ringing. The noise source is filtered only in the `noisy` frames."""
    n, hop = len(voiced), win // 2
    n_frames = 1 + (n + win) // hop
    index = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    window = np.hanning(win + 1)[:-1]
    spectra = fft.rfft(np.pad(voiced, (win, win + hop))[index] * window, n_fft)
    spectra *= _minimum_phase(env_voiced, n_fft)
    if noisy.any():
        frames = np.pad(noise, (win, win + hop))[index[noisy]] * window
        spectra[noisy] += fft.rfft(frames, n_fft) * _minimum_phase(env_noise[noisy], n_fft)
    frames = fft.irfft(spectra, n_fft)
    blocks = np.zeros((n_frames + n_fft // hop, hop))
    for k in range(n_fft // hop):
        blocks[k:k + n_frames] += frames[:, k * hop:(k + 1) * hop]
    return blocks.ravel()[win:win + n]


def _room(rng: np.random.Generator, channel: Channel, speech: np.ndarray) -> np.ndarray:
    """Reverberation: a direct path plus an exponentially decaying noise tail with the room's RT60."""
    sr = channel.sample_rate
    n = max(int(channel.rt60_s * sr), 2)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    tail[0] = 0
    tail *= np.sqrt(10 ** (-channel.drr_db / 10) / np.sum(tail**2))
    tail[0] = 1
    return fftconvolve(speech, tail)[:len(speech)]


def _noise_floor(rng: np.random.Generator, channel: Channel, n: int) -> np.ndarray:
    """Coloured noise plus mains hum with its first harmonics."""
    sr = channel.sample_rate
    length = fft.next_fast_len(n, real=True)
    spectrum = fft.rfft(rng.standard_normal(length))
    f = np.maximum(fft.rfftfreq(length, 1 / sr), 20.0)
    noise = fft.irfft(spectrum * 10 ** (channel.noise_slope_db_oct / 20 * np.log2(f / 1000)), length)[:n]
    noise *= 10 ** (channel.noise_db / 20) / np.sqrt(np.mean(noise**2))
    t = np.arange(n) / sr
    phases = rng.uniform(0, 2 * np.pi, 4)
    hum = sum(np.sin(2 * np.pi * k * channel.hum_hz * t + phases[k - 1]) / k for k in range(1, 5))
    return noise + 10 ** (channel.hum_db / 20) * np.sqrt(2) * hum


def render(lang: Language, channel: Channel, voice: Voice, style: Style, duration_s: float,
           seed: int) -> np.ndarray:
    """One utterance as 16-bit PCM at the channel's sample rate: a pure function of its arguments."""
    rng = np.random.default_rng(seed)
    sr = channel.sample_rate
    a, v, e = style.arousal, style.valence, voice.expressiveness
    segments, phrases, accents = _plan(rng, lang, voice, style, duration_s, channel.silence_ms)

    # control tracks on the 1 ms grid
    bounds = np.round(np.cumsum([s[0] for s in segments])).astype(int)
    n_ms = int(bounds[-1])
    counts = np.diff(np.concatenate([[0], bounds]))
    column = [np.repeat([s[i] for s in segments], counts) for i in (1, 2, 4, 5, 6)]
    voicing, amp_db = _smooth(column[0], 5), _smooth(column[1], 5)
    fric, fric_hz, asp = _smooth(column[2], 3), column[3], _smooth(column[4], 5)
    formants = np.stack([_smooth(np.repeat([s[3][k] for s in segments], counts), 25) for k in range(3)])
    st, creaky = _pitch(rng, voice, style, n_ms, phrases, accents)
    f0_hz = voice.f0_hz * 2 ** (st / 12) * (1 - 0.4 * creaky)

    # sources at the sample rate
    n = int(n_ms / 1000 * sr)
    ms_of_sample = np.arange(n) * 1000 / sr

    def at(track: np.ndarray) -> np.ndarray:
        return np.interp(ms_of_sample, np.arange(n_ms), track)

    f0_s, voicing_s, fric_s = at(f0_hz), at(voicing), at(fric)
    gain = 10 ** (at(amp_db) / 20)
    breath = voice.breathiness * style.breath
    voiced = _pulses(rng, voice, style, f0_hz, voicing, creaky, sr, n) * voicing_s
    voiced += rng.standard_normal(n) * np.sqrt(f0_s / sr) * (breath * voicing_s + at(asp))
    noise = rng.standard_normal(n) * np.sqrt(120 / sr) * FRICATION_GAIN * fric_s
    voiced *= gain
    noise *= gain

    # envelopes per STFT frame: formants (emotion moves them a little), source tilt, microphone
    win = 2 ** round(np.log2(0.025 * sr))
    n_fft = 2 * win
    n_frames = 1 + (n + win) // (win // 2)
    frame_ms = np.clip((np.arange(n_frames) * win // 2 - win / 2) * 1000 / sr, 0, n_ms - 1).astype(int)
    f = fft.rfftfreq(n_fft, 1 / sr)
    scale = voice.formant_scale * (1 + 0.02 * v * e)
    shift = np.array([voice.vowel_habit[0] * (1 + 0.06 * a * e + 0.02 * v * e),
                      voice.vowel_habit[1] * (1 + 0.05 * v * e), 1 + 0.05 * v * e])
    freqs = np.minimum(formants[:, frame_ms].T * shift * scale, 0.45 * sr)
    bandwidths = 50 + 0.06 * freqs
    bandwidths[:, 0] *= 1 + 2 * breath
    mic = _microphone(channel, f)
    slope = voice.tilt_db_oct + 2.5 * a * e + style.tilt_db_oct
    fixed = mic + slope / 20 * np.log(10) * np.log2(np.maximum(f, 200) / 200)
    for upper in (3500 * scale, 4500 * scale):  # F4 and F5 barely move
        fixed += _resonance(upper, 50 + 0.06 * upper, f)
    env_voiced = fixed + sum(_resonance(freqs[:, k:k + 1], bandwidths[:, k:k + 1], f) for k in range(3))
    centre = np.maximum(fric_hz[frame_ms] * voice.formant_scale, 1000)[:, None]
    env_noise = -0.5 * np.log1p(((f - centre) / (0.3 * centre)) ** 2) + mic
    reach = np.clip(frame_ms[:, None] + np.arange(-win, win, 4)[None, :] * 500 // sr, 0, n_ms - 1)
    noisy = fric[reach].max(axis=1) > 1e-3
    speech = _room(rng, channel, _filter(voiced, noise, env_voiced, env_noise, noisy, win, n_fft))

    # level: habitual loudness plus about 6 dB per unit of arousal, measured over active speech
    active = (voicing_s > 0.5) | (fric_s > 0.3)
    target = 10 ** ((channel.level_db + voice.loudness_db + 6 * a * e) / 20)
    speech *= target / np.sqrt(np.mean(speech[active] ** 2) + 1e-20)
    audio = speech + _noise_floor(rng, channel, n)
    return np.clip(np.round(audio * 32768), -32768, 32767).astype(np.int16)
