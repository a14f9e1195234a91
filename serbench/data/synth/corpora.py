"""The stand-ins' parameters: languages, recording channels, speakers, emotions and their counts.

Counts are the real releases' (docs/corpora.md); where the documentation gives no split (MSP-IMPROV's
"other" vs "no agreement", IEMOCAP's per-speaker counts) the assumption is stated next to the number.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace

import numpy as np

from serbench.data.synth.voice import Channel, Language, Style, Voice

# The paper's four corpora: what a stand-in set holds unless told otherwise (the others cost time nobody asked for).
PAPER_CORPORA = ("iemocap", "msp-improv", "savee", "emodb")

EN_CONSONANTS: dict[str, float] = {"n": 7, "t": 7, "d": 4, "s": 5, "l": 4, "r": 4, "m": 3, "k": 3, "w": 2, "z": 3,
                                   "v": 2, "h": 2, "b": 2, "p": 2, "f": 2, "g": 1, "th": 2, "sh": 1, "j": 1, "ng": 1}

# Californian English (IEMOCAP's Los Angeles actors): Hillenbrand et al. (1995) male means, with the
# West-Coast fronted /u/ and /U/, lowered /ae/ and the cot-caught merger.
EN_US_WEST = Language(
    tag="en-US",
    vowels={"i": (342, 2322, 3000), "I": (427, 2034, 2684), "e": (476, 2089, 2691), "E": (580, 1799, 2605),
            "ae": (700, 1700, 2550), "A": (760, 1250, 2520), "o": (497, 1050, 2459), "U": (469, 1300, 2434),
            "u": (378, 1450, 2343), "V": (623, 1200, 2550), "3r": (474, 1379, 1710), "@": (500, 1500, 2500)},
    reduced="@", reduction=0.7, consonants=EN_CONSONANTS, coda=0.45, syllable_rate=4.8, stress=0.4,
    final_lengthening=1.3)

# Texan English (MSP-IMPROV, recorded in Dallas): raised /ae/, raised lax front vowels, monophthongal /ai/.
EN_US_SOUTH = Language(
    tag="en-US",
    vowels={"i": (330, 2290, 2950), "I": (400, 2100, 2700), "e": (450, 2150, 2700), "E": (520, 1900, 2620),
            "ae": (560, 2050, 2650), "A": (760, 1330, 2520), "O": (650, 1000, 2540), "o": (500, 950, 2460),
            "U": (470, 1150, 2430), "u": (380, 1250, 2340), "ai": (740, 1450, 2500), "3r": (480, 1380, 1720),
            "@": (510, 1480, 2500)},
    reduced="@", reduction=0.65, consonants=EN_CONSONANTS, coda=0.45, syllable_rate=5.0, stress=0.4,
    final_lengthening=1.35)

# Southern British English (SAVEE's RP speakers): Deterding (1997)-like values, non-rhotic, fronted /u:/.
EN_GB = Language(
    tag="en-GB",
    vowels={"i:": (280, 2250, 2890), "I": (370, 1850, 2600), "e": (480, 1750, 2550), "ae": (690, 1550, 2480),
            "V": (640, 1190, 2550), "A:": (650, 1050, 2450), "Q": (560, 920, 2450), "O:": (420, 750, 2400),
            "U": (380, 1100, 2300), "u:": (300, 1250, 2250), "3:": (480, 1400, 2450), "@": (500, 1450, 2500)},
    reduced="@", reduction=0.75, consonants={**EN_CONSONANTS, "r": 2}, coda=0.35, syllable_rate=4.2,
    stress=0.4, final_lengthening=1.3, pitch_span=1.15)

# Standard German (Emo-DB): front rounded vowels, uvular r, [C] and [x], affricates, final devoicing.
DE = Language(
    tag="de",
    vowels={"i:": (270, 2300, 3000), "I": (350, 2000, 2600), "e:": (330, 2200, 2700), "E": (500, 1800, 2550),
            "a:": (700, 1300, 2500), "a": (680, 1350, 2500), "o:": (350, 750, 2350), "O": (480, 950, 2450),
            "u:": (290, 700, 2250), "U": (370, 900, 2300), "y:": (270, 1750, 2100), "Y": (350, 1500, 2200),
            "2:": (340, 1400, 2150), "9": (470, 1400, 2250), "@": (480, 1450, 2450), "6": (600, 1300, 2400)},
    reduced="@", reduction=0.5,
    consonants={"n": 10, "t": 6, "rr": 6, "s": 4, "d": 5, "h": 2, "l": 3, "g": 3, "m": 3, "sh": 2.5, "c": 2,
                "x": 1.5, "f": 2, "b": 2, "k": 2, "ts": 1.5, "pf": 0.3, "v": 1.5, "z": 2, "j": 0.5, "ng": 0.8},
    coda=0.55, syllable_rate=4.4, stress=0.4, final_lengthening=1.5, devoice_coda=True,
    pitch_span=0.8)

# General American (RAVDESS's actors speak "a neutral North American accent"): Hillenbrand et al. (1995) male
# means as published, with /O/ distinct from /A/.
EN_US = Language(
    tag="en-US",
    vowels={"i": (342, 2322, 3000), "I": (427, 2034, 2684), "e": (476, 2089, 2691), "E": (580, 1799, 2605),
            "ae": (588, 1952, 2601), "A": (768, 1333, 2522), "O": (652, 997, 2538), "o": (497, 910, 2459),
            "U": (469, 1122, 2434), "u": (378, 997, 2343), "V": (623, 1200, 2550), "3r": (474, 1379, 1710),
            "@": (500, 1500, 2500)},
    reduced="@", reduction=0.7, consonants=EN_CONSONANTS, coda=0.45, syllable_rate=4.0, stress=0.4,
    final_lengthening=1.4)

# Philadelphia English (CREMA-D's actors were recruited there), after Labov, Ash & Boberg (2006): raised /ae/
# (the split short-a, between its lax and tense variants), raised /O/, fronted /o/ and /u/.
EN_US_PHILADELPHIA = Language(
    tag="en-US",
    vowels={"i": (340, 2320, 3000), "I": (430, 2030, 2680), "e": (470, 2100, 2700), "E": (580, 1800, 2600),
            "ae": (620, 1950, 2620), "A": (760, 1300, 2520), "O": (560, 950, 2550), "o": (500, 1200, 2460),
            "U": (470, 1200, 2430), "u": (370, 1400, 2340), "V": (620, 1250, 2550), "3r": (474, 1379, 1710),
            "@": (500, 1500, 2500)},
    reduced="@", reduction=0.7, consonants=EN_CONSONANTS, coda=0.45, syllable_rate=4.6, stress=0.4,
    final_lengthening=1.3)

# Canadian English (TESS's Toronto speakers): the Canadian shift (Clarke, Elms & Youssef 1995; Boberg 2005):
# /I/ and /E/ lowered, /ae/ lowered and retracted, /A/ and /O/ merged low back, fronted /u/. "Say the word _"
# is read slowly and carefully.
EN_CA = Language(
    tag="en-CA",
    vowels={"i": (330, 2300, 3000), "I": (460, 1950, 2650), "e": (470, 2100, 2700), "E": (620, 1740, 2560),
            "ae": (760, 1560, 2480), "Q": (720, 1080, 2480), "o": (490, 980, 2450), "U": (460, 1250, 2420),
            "u": (360, 1550, 2300), "V": (640, 1220, 2500), "3r": (470, 1370, 1700), "@": (500, 1500, 2500)},
    reduced="@", reduction=0.6, consonants=EN_CONSONANTS, coda=0.55, syllable_rate=3.4, stress=0.5,
    final_lengthening=1.5)

# Standard Italian (EMOVO): seven vowels after Ferrero (1972)'s male means (rounded), no vowel reduction,
# syllable-timed (stressed syllables barely longer), few codas, an alveolar tap or trill, geminates.
IT = Language(
    tag="it",
    vowels={"i": (280, 2250, 2900), "e": (360, 2100, 2650), "E": (500, 1850, 2550), "a": (750, 1300, 2500),
            "O": (560, 950, 2450), "o": (410, 850, 2400), "u": (300, 750, 2350)},
    reduced="a", reduction=0.0,  # unstressed vowels keep their quality
    consonants={"n": 7, "t": 7, "R": 6, "l": 6, "s": 5, "k": 4, "d": 4, "m": 3, "p": 3, "v": 2.5, "tS": 1.5,
                "ts": 1, "g": 1, "f": 1, "b": 1, "z": 1, "j": 1, "sh": 0.5, "w": 0.5},
    coda=0.2, syllable_rate=5.2, stress=0.35, final_lengthening=1.4, pitch_span=1.1,
    stressed_length=1.15, unstressed_length=0.9, geminates=0.15)

# The emotions as they act on the voice (arousal, valence and voice quality), after the usual findings
# (Scherer 2003; Juslin & Laukka 2003): anger pressed, sadness and fear breathy, fear tremulous,
# boredom and disgust creaky, surprise rising.
STYLES: dict[str, Style] = {
    "anger": Style(0.8, -0.6, breath=0.6, jitter=1.3, tilt_db_oct=2.0),
    "happiness": Style(0.55, 0.7),
    "excitement": Style(0.8, 0.6, tilt_db_oct=0.5),
    "sadness": Style(-0.7, -0.6, breath=1.8, jitter=1.4, tilt_db_oct=-1.0),
    "neutral": Style(-0.35, 0.1),
    "fear": Style(0.6, -0.7, breath=1.6, jitter=1.8),
    "surprise": Style(0.7, 0.4, final_rise=0.4),
    "disgust": Style(0.25, -0.7, jitter=1.5, creak=0.3),
    "boredom": Style(-0.8, -0.3, jitter=1.2, creak=0.4),
    "frustration": Style(0.25, -0.5, breath=1.2, tilt_db_oct=0.5),
    "calm": Style(-0.65, 0.35, breath=1.2, tilt_db_oct=-0.5),  # RAVDESS: relaxed, softer than neutral
    "other": Style(0.0, 0.0),
}

# RAVDESS's code "EE-II": emotion 01-08 and intensity (01 normal, 02 strong; neutral only normal). Per actor,
# 2 statements x 2 repetitions of each: neutral 4 files, every other emotion 8, so 24 x 60 = 1,440.
RAVDESS_EMOTIONS = ("neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise")
RAVDESS_CODES = {f"{e:02d}-{i:02d}": emotion for e, emotion in enumerate(RAVDESS_EMOTIONS, start=1)
                 for i in (1, 2) if e > 1 or i == 1}
# CREMA-D's code "EEE_LL": emotion and level. Its sentence IEO is acted at LO, MD and HI, the eleven others at
# XX (unspecified); neutral is always XX. 91 actors x 82 = 7,462 clips, of which the release lacks 20 (all XX:
# 3 of each emotion, 5 neutral), so 7,442.
CREMA_D_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral",
                    "SAD": "sadness"}
CREMA_D_COUNTS = {**{f"{e}_XX": 91 * 11 - 3 for e in CREMA_D_EMOTIONS if e != "NEU"}, "NEU_XX": 91 * 12 - 5,
                  **{f"{e}_{level}": 91 for e in CREMA_D_EMOTIONS if e != "NEU" for level in ("LO", "MD", "HI")}}


@dataclass(frozen=True)
class CorpusSpec:
    """One stand-in: its release folder, language, channel, speakers and real category counts."""

    name: str
    release_dir: str
    language: Language
    channel: Channel
    speakers: tuple[tuple[str, str, str], ...]  # (name as the corpus writes it, gender, session)
    counts: dict[str, int]  # corpus code -> utterances in the real release
    emotions: dict[str, str]  # corpus code -> serbench emotion name ("no_agreement" mixes two)
    keep: frozenset[str]  # codes every speaker keeps at least once at small scales
    speaker_share: dict[str, float] | None  # real utterances per speaker; None: equal
    expressiveness: float  # acted (SAVEE, Emo-DB) > improvised (IEMOCAP) > natural (MSP-IMPROV)
    spread: float  # sd of the latent arousal/valence within one category
    register_st: float  # F0 offset of the speaking situation (projecting to a partner vs reading to a mic)
    duration_s: float  # median planned utterance length (files come out about 5% longer, slow speech more)
    duration_sigma: float  # log-normal sd of utterance length
    intensity: dict[str, float] = field(default_factory=dict)  # code -> how strongly it is acted (default 1)
    ages: dict[str, int] = field(default_factory=dict)  # speaker -> age in years, where the release gives it
    session_spread: float = 0.0  # how much the channel differs between speakers' recording sessions (CREMA-D)


SPECS: dict[str, CorpusSpec] = {spec.name: spec for spec in (
    CorpusSpec(
        "iemocap", "IEMOCAP_full_release", EN_US_WEST,
        # USC studio, lapel microphones on the chest (dull), 16 kHz; a room you can hear, 60 Hz mains.
        Channel(16_000, -28, 120, 6800, 3000, -2.0, -1.5, 0.4, 5.0, -56, -3.0, 60, -60),
        tuple((f"Ses{s:02d}{g}", g, str(s)) for s in range(1, 6) for g in "FM"),
        # All 10,039 turns; the 4-class subset (ang, hap+exc, sad, neu) is 5,531.
        {"neu": 1708, "fru": 1849, "ang": 1103, "sad": 1084, "exc": 1041, "hap": 595, "sur": 107, "fea": 40,
         "dis": 2, "oth": 3, "xxx": 2507},
        {"neu": "neutral", "fru": "frustration", "ang": "anger", "sad": "sadness", "exc": "excitement",
         "hap": "happiness", "sur": "surprise", "fea": "fear", "dis": "disgust", "oth": "other",
         "xxx": "no_agreement"},
        frozenset({"ang", "hap", "exc", "sad", "neu"}), None, 0.85, 0.3, 1.5, 2.6, 0.3),
    CorpusSpec(
        "msp-improv", "MSP-IMPROV", EN_US_SOUTH,
        # UT Dallas sound booth, head-worn microphones (close: bright), 44.1 kHz: little room, low noise.
        Channel(44_100, -24, 90, 12000, 4000, 2.0, 0.5, 0.18, 10.0, -68, 0.0, 60, -72),
        tuple((f"{g}{s:02d}", g, str(s)) for s in range(1, 7) for g in "FM"),
        # 8,438 turns; 4-class 7,798. The remaining 640 split as other 190 / no agreement 450 (assumed).
        {"A": 792, "H": 2644, "S": 885, "N": 3477, "O": 190, "X": 450},
        {"A": "anger", "H": "happiness", "S": "sadness", "N": "neutral", "O": "other", "X": "no_agreement"},
        frozenset("AHSN"), None, 0.85, 0.3, 0.5, 2.8, 0.3),
    CorpusSpec(
        "savee", "SAVEE", EN_GB,
        # University of Surrey lab, 44.1 kHz: some hiss, 50 Hz mains, a bright microphone.
        Channel(44_100, -20, 60, 15000, 5000, 4.0, 1.0, 0.3, 8.0, -58, -1.5, 50, -64),
        tuple((name, "M", "") for name in ("DC", "JE", "JK", "KL")),
        {"a": 60, "d": 60, "f": 60, "h": 60, "n": 120, "sa": 60, "su": 60},
        {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness",
         "su": "surprise"},
        frozenset({"a", "d", "f", "h", "n", "sa", "su"}), None, 1.0, 0.2, -1.0, 3.3, 0.2),
    CorpusSpec(
        "emodb", "emodb", DE,
        # TU Berlin anechoic chamber, 48 kHz downsampled to 16 kHz: almost no room, quiet.
        Channel(16_000, -23, 50, 7600, 2500, 0.0, 0.0, 0.06, 20.0, -72, -3.0, 50, -80),
        tuple((name, "M" if name in ("03", "10", "11", "12", "15") else "F", "")
              for name in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")),
        {"W": 127, "L": 81, "N": 79, "F": 71, "A": 69, "T": 62, "E": 46},
        {"W": "anger", "L": "boredom", "N": "neutral", "F": "happiness", "A": "fear", "T": "sadness",
         "E": "disgust"},
        frozenset("WLNFATE"),
        {"03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61, "14": 69, "15": 56, "16": 71},
        1.1, 0.18, -1.5, 2.3, 0.25),
    CorpusSpec(
        "ravdess", "Audio_Speech_Actors_01-24", EN_US,
        # Ryerson University studio, 48 kHz: a little room, very quiet (the microphone is assumed: a condenser
        # out of the camera's view). Each file keeps about a second of silence before and after the statement.
        Channel(48_000, -26, 50, 18000, 7000, 1.5, 0.0, 0.12, 15.0, -74, -3.0, 60, -86, (600, 1200)),
        tuple((f"{a:02d}", "M" if a % 2 else "F", "") for a in range(1, 25)),  # odd actors male, even female
        dict.fromkeys(RAVDESS_CODES, 96), RAVDESS_CODES,
        frozenset(code for code in RAVDESS_CODES if code.endswith("-01")), None,
        1.0, 0.2, 0.0, 3.5, 0.09,  # files: median 3.67 s
        intensity={code: 0.85 if code.endswith("-01") else 1.25 for code in RAVDESS_CODES if code != "01-01"}),
    CorpusSpec(
        "crema-d", "CREMA-D", EN_US_PHILADELPHIA,
        # Audio taken from the video sessions and resampled to 16 kHz. Every actor had their own session, and the
        # quality varies from clip to clip: level, noise, hum and microphone differ by session (session_spread).
        Channel(16_000, -22, 80, 7200, 3000, 1.0, -0.5, 0.25, 9.0, -58, -2.0, 60, -66, (150, 400)),
        tuple((str(1001 + i), sex, "") for i, sex in enumerate(
            "MFFFMFFFFFMFFMMMMFMFFMMFFMMFFFMMMMMMFMMMMMFMMFFMFMMFFFFFMFMFFMFMMMMMMMMFFFFFMFFMMFMFMMMMFMF")),
        CREMA_D_COUNTS, {code: CREMA_D_EMOTIONS[code[:3]] for code in CREMA_D_COUNTS},
        frozenset(code for code in CREMA_D_COUNTS if code.endswith("_XX")), None,
        # Actors of every level of experience, and listeners recognised only 41% of the clips by voice alone
        # (Cao et al. 2014): little expressiveness, much scatter.
        0.7, 0.32, 0.0, 2.4, 0.19,  # files: median 2.50 s
        intensity={code: {"LO": 0.7, "MD": 0.95, "HI": 1.25}.get(code[4:], 1.0) for code in CREMA_D_COUNTS},
        # VideoDemographics.csv: ages 20 to 74.
        ages={str(1001 + i): age for i, age in enumerate(
            (51, 21, 21, 42, 29, 58, 38, 46, 24, 27, 32, 23, 22, 24, 32, 61, 42, 25, 29, 61, 30, 22, 22, 59, 48, 33,
             44, 57, 33, 42, 31, 30, 31, 74, 48, 49, 45, 21, 51, 42, 42, 37, 25, 40, 22, 22, 22, 38, 25, 62, 56, 33,
             35, 36, 57, 52, 25, 36, 21, 28, 51, 56, 33, 53, 38, 25, 66, 34, 27, 25, 41, 33, 24, 31, 40, 25, 20, 21,
             21, 21, 30, 20, 45, 46, 34, 33, 62, 23, 24, 50, 29))},
        session_spread=1.0),
    CorpusSpec(
        "tess", "TESS Toronto emotional speech set data", EN_CA,
        # University of Toronto sound booth, recorded through a Tucker-Davis system at its native 24,414 Hz:
        # close microphone, quiet. "Say the word _" fills about 1.3 s of each 2 s file.
        Channel(24_414, -24, 60, 10000, 4000, 1.0, 0.0, 0.08, 18.0, -68, -3.0, 60, -80, (200, 450)),
        (("OAF", "F", ""), ("YAF", "F", "")),  # the older (64) and the younger (26) actress
        {"angry": 400, "disgust": 400, "fear": 400, "happy": 400, "neutral": 400, "ps": 400, "sad": 400},
        {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "neutral": "neutral",
         "ps": "surprise", "sad": "sadness"},  # ps: pleasant surprise
        frozenset({"angry", "disgust", "fear", "happy", "neutral", "ps", "sad"}), None,
        # Two trained actresses, each emotion portrayed 200 times: very expressive and consistent.
        1.3, 0.12, -0.5, 1.75, 0.16,  # files: median 2.05 s
        ages={"OAF": 64, "YAF": 26}),
    CorpusSpec(
        "emovo", "EMOVO", IT,
        # Fondazione Ugo Bordoni laboratory, 48 kHz; the microphone and room are assumed (a dynamic vocal
        # microphone in a treated room), with 50 Hz mains.
        Channel(48_000, -22, 70, 14000, 4500, 3.0, 0.5, 0.25, 9.0, -62, -1.5, 50, -70, (100, 400)),
        tuple((name, name[0].upper(), "") for name in ("f1", "f2", "f3", "m1", "m2", "m3")),
        # 6 actors x 14 sentences x 7 emotions = 588 files.
        {code: 84 for code in ("dis", "gio", "neu", "pau", "rab", "sor", "tri")},
        {"dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear", "rab": "anger", "sor": "surprise",
         "tri": "sadness"},
        frozenset({"dis", "gio", "neu", "pau", "rab", "sor", "tri"}), None, 1.0, 0.22, -0.5, 2.65, 0.38,  # 2.77 s
        ages={"f1": 28, "f2": 23, "f3": 25, "m1": 30, "m2": 27, "m3": 30}),
)}


@dataclass(frozen=True)
class Speaker:
    name: str
    gender: str
    session: str
    voice: Voice
    channel: Channel  # the corpus's, or this speaker's recording session's


@dataclass(frozen=True)
class Utterance:
    """One planned utterance, before it has a name in its corpus's layout."""

    corpus: str
    speaker: Speaker
    code: str
    emotion: str
    style: Style
    duration_s: float


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, stable across processes, platforms and Python versions."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_voice(rng: np.random.Generator, gender: str, spec: CorpusSpec, age: int | None = None) -> Voice:
    """A speaker of `spec` drawn from the population: female voices higher and with shorter vocal tracts;
    the corpus's language and speaking situation set the pitch range and register, and the speaker's age
    (where known) the ageing of the voice."""
    female = gender == "F"
    voice = Voice(
        gender=gender,
        f0_hz=(rng.normal(205, 18) if female else rng.normal(112, 10)) * 2 ** (spec.register_st / 12),
        f0_range_st=rng.uniform(3.0, 6.0) * spec.language.pitch_span,
        formant_scale=(1.16 if female else 1.0) * rng.normal(1, 0.035),
        loudness_db=rng.normal(0, 2.0),
        rate=rng.normal(1, 0.08),
        jitter=rng.uniform(0.005, 0.015),
        shimmer=rng.uniform(0.03, 0.08),
        breathiness=rng.uniform(0.04, 0.12) * (1.4 if female else 1.0),
        tilt_db_oct=rng.normal(-7.5 if female else -6.5, 1.0),
        creak=rng.uniform(0, 0.3),
        expressiveness=spec.expressiveness * rng.uniform(0.8, 1.2),
        vowel_habit=(rng.normal(1, 0.03), rng.normal(1, 0.03)),
    )
    if age is None:
        return voice
    # After about 35, women's F0 falls and men's rises a little; jitter, shimmer and breathiness grow
    # (Xue & Deliyski 2001; Nishio & Niimi 2008).
    older = max(age - 35, 0) / 30
    return replace(voice, f0_hz=voice.f0_hz * (1 - 0.1 * older if female else 1 + 0.04 * older),
                   jitter=voice.jitter * (1 + 0.5 * older), shimmer=voice.shimmer * (1 + 0.4 * older),
                   breathiness=voice.breathiness * (1 + 0.3 * older))


def session_channel(rng: np.random.Generator, spec: CorpusSpec) -> Channel:
    """The channel of one speaker's recording session: the corpus's, varied by its session_spread."""
    base, spread = spec.channel, spec.session_spread
    if not spread:
        return base
    lowpass = base.lowpass_hz * np.exp(rng.normal(0, 0.1 * spread))
    return replace(base, level_db=base.level_db + rng.normal(0, 3 * spread),
                   lowpass_hz=float(min(lowpass, 0.49 * base.sample_rate)),
                   presence_db=base.presence_db + rng.normal(0, 2 * spread),
                   tilt_db_oct=base.tilt_db_oct + rng.normal(0, spread),
                   rt60_s=base.rt60_s * np.exp(rng.normal(0, 0.3 * spread)),
                   drr_db=base.drr_db + rng.normal(0, 3 * spread),
                   noise_db=base.noise_db + rng.normal(0, 6 * spread),
                   hum_db=base.hum_db + rng.normal(0, 6 * spread))


def allocate(weights: dict, total: int) -> dict:
    """Split `total` over the keys in proportion to `weights` (largest remainder, ties in key order)."""
    whole = sum(weights.values())
    raw = {key: weight * total / whole for key, weight in weights.items()}
    counts = {key: math.floor(value) for key, value in raw.items()}
    order = sorted(weights, key=lambda key: counts[key] - raw[key])  # stable: ties keep key order
    for key in order[:total - sum(counts.values())]:
        counts[key] += 1
    return counts


def _style(rng: np.random.Generator, spec: CorpusSpec, emotion: str, acted: float = 1.0) -> Style:
    """The latent emotion of one utterance: its category's prototype at a random intensity (scaled by how
    strongly the code is `acted`), scattered."""
    if emotion == "no_agreement":  # raters disagreed: a blend of two plausible categories
        # an object array of the styles, as choice would make of the list itself
        styles = np.array([STYLES[e] for e in spec.emotions.values() if e in STYLES], dtype=object)
        first, second = rng.choice(styles, 2, replace=False)
        base = Style((first.arousal + second.arousal) / 2, (first.valence + second.valence) / 2)
    elif emotion == "other":
        base = Style(*rng.uniform(-0.6, 0.6, 2))
    else:
        base = STYLES[emotion]
    intensity = rng.uniform(0.7, 1.1) * acted
    latent = np.array([base.arousal, base.valence]) * intensity + rng.normal(0, spec.spread, 2)
    arousal, valence = np.clip(latent, -1, 1)
    return replace(base, arousal=float(arousal), valence=float(valence),
                   breath=1 + (base.breath - 1) * intensity, jitter=1 + (base.jitter - 1) * intensity,
                   tilt_db_oct=base.tilt_db_oct * intensity)


def plan_corpus(name: str, scale: float, seed: int) -> list[Utterance]:
    """The utterances of one stand-in: round(real size x scale), every speaker keeping each of the
    corpus's main categories at least once. Deterministic in (name, scale, seed)."""
    spec = SPECS[name]
    speakers = [Speaker(s, g, session,
                        make_voice(np.random.default_rng(derive_seed(seed, name, "speaker", s)), g, spec,
                                   spec.ages.get(s)),
                        session_channel(np.random.default_rng(derive_seed(seed, name, "session", s)), spec))
                for s, g, session in spec.speakers]
    share = spec.speaker_share or {s.name: 1.0 for s in speakers}
    # The category sizes first (so small scales keep the real proportions), then each category over the
    # speakers, rotating which speakers take the rounding remainders.
    per_code = allocate(spec.counts, round(sum(spec.counts.values()) * scale))
    cells = {}
    for i, code in enumerate(spec.counts):
        order = [s.name for s in speakers[i % len(speakers):] + speakers[:i % len(speakers)]]
        for speaker, n in allocate({name: share[name] for name in order}, per_code[code]).items():
            cells[speaker, code] = max(n, 1 if code in spec.keep else 0)
    utterances = []
    for speaker in speakers:
        for code in spec.counts:
            for k in range(cells[speaker.name, code]):
                rng = np.random.default_rng(derive_seed(seed, name, speaker.name, code, k))
                emotion = spec.emotions[code]
                style = _style(rng, spec, emotion, spec.intensity.get(code, 1.0))
                length = rng.lognormal(np.log(spec.duration_s), spec.duration_sigma) * (1 - 0.1 * style.arousal)
                utterances.append(Utterance(name, speaker, code, emotion, style, float(np.clip(length, 1.2, 5.0))))
    return utterances
