"""Each release's layout and label format (docs/corpora.md): where the utterances go and what the label
files say. `place_<corpus>` names the planned utterances; `write_<corpus>` writes the label files."""

from __future__ import annotations

import csv
import math
import string
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from serbench.data.synth.corpora import SPECS, Utterance, derive_seed
from serbench.data.synth.voice import Channel
from serbench.errors import SerbenchError


@dataclass(frozen=True)
class Placed:
    """An utterance with its corpus's own id and its path inside the release."""

    utterance: Utterance
    utterance_id: str
    relpath: str
    info: dict = field(default_factory=dict)  # layout details the label file needs (dialog, times, ...)
    channel: Channel | None = None  # a file recorded unlike its speaker's others (None: the speaker's)


def _rating(rng: np.random.Generator, centre: float) -> int:
    """One rater's 1-5 rating around `centre`."""
    return int(np.clip(round(centre + rng.normal(0, 0.6)), 1, 5))


def _centres(utterance: Utterance) -> tuple[float, float, float]:
    """Valence, activation, dominance on the 1-5 scale that the latent emotion suggests to raters."""
    style = utterance.style
    return 3 + 1.6 * style.valence, 3 + 1.6 * style.arousal, 3 + 1.0 * style.arousal + 0.3 * style.valence


# --- IEMOCAP -------------------------------------------------------------------------------------------

IEMOCAP_DIALOGS = [f"impro{i:02d}" for i in range(1, 9)] + [f"script0{i}_{j}" for i in (1, 2, 3) for j in (1, 2, 3)]
IEMOCAP_CATEGORY = {"ang": "Anger", "hap": "Happiness", "exc": "Excited", "sad": "Sadness", "neu": "Neutral",
                    "fru": "Frustration", "fea": "Fear", "sur": "Surprise", "dis": "Disgust", "oth": "Other"}
IEMOCAP_CONFUSABLE = ["Frustration", "Anger", "Neutral", "Sadness", "Excited", "Happiness"]
IEMOCAP_COMMENTS = ["", "", "", "", "tense", "a bit annoyed", "calm, polite", "mildly amused", "tired"]


def place_iemocap(utterances: list[Utterance], seed: int) -> list[Placed]:
    """Dialogues of both actors of a session, alternating which actor wears the markers (Ses01F_... and
    Ses01M_...), so both Ses01F_impro01_M002-style and ..._F003-style ids occur."""
    by_session: dict[str, list[Utterance]] = defaultdict(list)
    for utterance in utterances:
        by_session[utterance.speaker.session].append(utterance)
    placed = []
    for session, members in sorted(by_session.items()):
        rng = np.random.default_rng(derive_seed(seed, "iemocap", "dialogs", session))
        order = [members[i] for i in rng.permutation(len(members))]
        n_dialogs = min(max(2, math.ceil(len(order) / 25)), 2 * len(IEMOCAP_DIALOGS))
        names = [f"Ses{int(session):02d}{marker}_{kind}" for kind in IEMOCAP_DIALOGS for marker in "FM"]
        for d in range(n_dialogs):
            dialog, clock, turns = names[d], rng.uniform(1, 8), {"F": 0, "M": 0}
            for utterance in order[d::n_dialogs]:
                letter = utterance.speaker.gender
                uid = f"{dialog}_{letter}{turns[letter]:03d}"
                turns[letter] += 1
                start = clock
                clock += utterance.duration_s
                placed.append(Placed(utterance, uid, f"Session{session}/sentences/wav/{dialog}/{uid}.wav",
                                     {"dialog": dialog, "start": start, "end": clock}))
                clock += rng.uniform(0.2, 2.5)
    return placed


def _iemocap_block(rng: np.random.Generator, item: Placed) -> tuple[str, str]:
    """The block of one utterance in its dialogue's EmoEvaluation file, and evaluator 1's Categorical line."""
    code, letter = item.utterance.code, item.utterance.speaker.gender
    if code == "xxx":  # three evaluators, three different answers
        answers = [[c] for c in rng.choice(IEMOCAP_CONFUSABLE, 3, replace=False)]
    else:
        answers = [[IEMOCAP_CATEGORY[code]] for _ in range(3)]
        answers[2] = [IEMOCAP_CONFUSABLE[rng.integers(len(IEMOCAP_CONFUSABLE))]]
    if rng.random() < 0.15:  # an evaluator who ticked two boxes
        answers[1].append(IEMOCAP_CONFUSABLE[rng.integers(len(IEMOCAP_CONFUSABLE))])
    evaluators = sorted(rng.choice(6, 3, replace=False) + 1)
    lines = [f"C-E{e}:\t{' '.join(a + ';' for a in answer)}\t()" for e, answer in zip(evaluators, answers, strict=True)]
    if rng.random() < 0.5:  # the actor's own rating
        lines.append(f"C-{letter}1:\t{answers[0][0]};\t()")
    centres = _centres(item.utterance)
    ratings = []
    for e in sorted(rng.choice(6, 2 + int(rng.random() < 0.4), replace=False) + 1):
        val, act, dom = (_rating(rng, c) for c in centres)
        comment = IEMOCAP_COMMENTS[rng.integers(len(IEMOCAP_COMMENTS))]
        if rng.random() < 0.08:  # dominance left out
            lines.append(f"A-E{e}:\tval {val}; act {act};\t({comment})")
            ratings.append((val, act, math.nan))
        else:
            lines.append(f"A-E{e}:\tval {val}; act {act}; dom  {dom};\t({comment})")
            ratings.append((val, act, dom))
    if rng.random() < 0.5:
        lines.append(f"A-{letter}1:\tval {_rating(rng, centres[0])}; act {_rating(rng, centres[1])}; "
                     f"dom  {_rating(rng, centres[2])};\t()")
    means = [float(np.nanmean([r[k] for r in ratings])) if any(not math.isnan(r[k]) for r in ratings) else 3.0
             for k in range(3)]
    summary = (f"[{item.info['start']:.4f} - {item.info['end']:.4f}]\t{item.utterance_id}\t{code}\t"
               f"[{means[0]:.4f}, {means[1]:.4f}, {means[2]:.4f}]")
    return "\n".join([summary, *lines]) + "\n", f"{item.utterance_id} :{'; '.join(answers[0])}; ()\n"


def write_iemocap(root: Path, placed: list[Placed], seed: int) -> None:
    """SessionN/dialog/EmoEvaluation/<dialog>.txt, and evaluator 1's file in its Categorical/ sub-folder."""
    by_dialog: dict[str, list[Placed]] = defaultdict(list)
    for item in placed:
        by_dialog[item.info["dialog"]].append(item)
    for dialog, items in sorted(by_dialog.items()):
        rng = np.random.default_rng(derive_seed(seed, "iemocap", "labels", dialog))
        items.sort(key=lambda item: item.info["start"])
        folder = root / f"Session{items[0].utterance.speaker.session}" / "dialog" / "EmoEvaluation"
        (folder / "Categorical").mkdir(parents=True, exist_ok=True)
        blocks, categorical = zip(*(_iemocap_block(rng, item) for item in items), strict=True)
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        (folder / f"{dialog}.txt").write_text(header + "\n".join(blocks) + "\n", encoding="utf-8")
        (folder / "Categorical" / f"{dialog}_e1_cat.txt").write_text("".join(categorical), encoding="utf-8")


# --- MSP-IMPROV ----------------------------------------------------------------------------------------

MSP_CONDITIONS = {"R": 0.07, "T": 0.08, "S": 0.33, "P": 0.52}  # read, target improvised, other, natural
MSP_CATEGORY = {"A": "Angry", "H": "Happy", "S": "Sad", "N": "Neutral", "O": "Other"}
MSP_SECONDARY = {"Angry": "Angry,Frustrated", "Happy": "Happy,Excited", "Sad": "Sad,Disappointed",
                 "Neutral": "Neutral", "Other": "Other,Concerned"}


def place_msp_improv(utterances: list[Utterance], seed: int) -> list[Placed]:
    """session<k>/S<nn><target>/<condition>/MSP-IMPROV-S<nn><target>-<speaker>-<condition>-<turn>.wav"""
    rng = np.random.default_rng(derive_seed(seed, "msp-improv", "layout"))
    turns: dict[tuple, int] = defaultdict(int)
    placed = []
    for utterance in utterances:
        condition = str(rng.choice(list(MSP_CONDITIONS), p=list(MSP_CONDITIONS.values())))
        sentence = int(rng.integers(1, 16))
        acted = condition in "RT" and utterance.code in "AHSN"
        target = utterance.code if acted else str(rng.choice(list("AHSN")))
        speaker = utterance.speaker.name
        key = (sentence, target, speaker, condition)
        turns[key] += 1
        pair = "FM" if utterance.speaker.gender == "F" else "MF"
        name = f"S{sentence:02d}{target}-{speaker}-{condition}-{pair}{turns[key]:02d}"
        relpath = f"session{utterance.speaker.session}/S{sentence:02d}{target}/{condition}/MSP-IMPROV-{name}.wav"
        placed.append(Placed(utterance, f"MSP-IMPROV-{name}", relpath, {"name": name}))
    return placed


def _msp_value(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:.6f}"


def _msp_block(rng: np.random.Generator, item: Placed) -> str:
    """Consensus line and rater lines of one turn."""
    code = item.utterance.code
    n_raters = int(rng.integers(5, 8))
    if code == "X":  # no category reaches a majority
        first, second, third = (str(c) for c in rng.choice(list(MSP_CATEGORY.values()), 3, replace=False))
        choices = [first, second, third, first, second, third, first][:n_raters]
    else:
        majority = n_raters // 2 + 1
        choices = [MSP_CATEGORY[code]] * majority + [str(c) for c in rng.choice(
            [c for c in MSP_CATEGORY.values() if c != MSP_CATEGORY[code]], n_raters - majority)]
    centres = (*_centres(item.utterance), 3.5)  # arousal, valence, dominance, naturalness below
    raters = sorted(rng.choice(400, n_raters, replace=False))
    ratings, lines = [], []
    for rater, choice in zip(raters, choices, strict=True):
        val, act, dom, nat = (float(_rating(rng, c)) for c in centres)
        if rng.random() < 0.03:
            dom = math.nan
        if rng.random() < 0.05:
            nat = math.nan
        ratings.append((act, val, dom, nat))
        lines.append(f"rater{rater:03d}; {choice}; {MSP_SECONDARY[choice]}; A:{_msp_value(act)}; "
                     f"V:{_msp_value(val)}; D:{_msp_value(dom)}; N:{_msp_value(nat)};")
    means = [float(np.nanmean(column)) if not np.all(np.isnan(column)) else math.nan
             for column in np.array(ratings).T]
    consensus = (f"UTD-IMPROV-{item.info['name']}.avi; {code}; A:{_msp_value(means[0])}; "
                 f"V:{_msp_value(means[1])}; D:{_msp_value(means[2])};")
    if rng.random() < 0.8:  # most turns also carry the naturalness mean
        consensus += f" ; N:{_msp_value(means[3])};"
    return "\n".join([consensus, *lines]) + "\n"


def write_msp_improv(root: Path, placed: list[Placed], seed: int) -> None:
    """Evalution.txt (sic) at the release root: one block per turn, blocks separated by blank lines."""
    rng = np.random.default_rng(derive_seed(seed, "msp-improv", "labels"))
    items = sorted(placed, key=lambda item: item.utterance_id)
    (root / "Evalution.txt").write_text("\n".join(_msp_block(rng, item) for item in items) + "\n", encoding="utf-8")


# --- SAVEE ---------------------------------------------------------------------------------------------

SAVEE_INFO = """SAVEE (Surrey Audio-Visual Expressed Emotion) - SYNTHETIC STAND-IN written by serbench
Speakers: DC, JE, JK, KL (male). File names: <code><nn>.wav with codes
a = anger, d = disgust, f = fear, h = happiness, n = neutral, sa = sadness, su = surprise.
"""


def place_savee(utterances: list[Utterance], seed: int) -> list[Placed]:
    """AudioData/<speaker>/<code><nn>.wav, numbered from 01 per speaker and code."""
    del seed  # the layout is fixed by the plan's order
    numbers: dict[tuple[str, str], int] = defaultdict(int)
    placed = []
    for utterance in utterances:
        key = (utterance.speaker.name, utterance.code)
        numbers[key] += 1
        name = f"{utterance.code}{numbers[key]:02d}"
        placed.append(Placed(utterance, f"{key[0]}_{name}", f"AudioData/{key[0]}/{name}.wav"))
    return placed


def write_savee(root: Path, placed: list[Placed], seed: int) -> None:
    del placed, seed  # SAVEE's labels are its file names
    (root / "AudioData").mkdir(parents=True, exist_ok=True)
    (root / "AudioData" / "Info.txt").write_text(SAVEE_INFO, encoding="utf-8")


# --- Emo-DB --------------------------------------------------------------------------------------------

EMODB_TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")
EMODB_EXPLANATION = """SYNTHETISCHER ERSATZ der Berliner Datenbank emotionaler Sprache, von serbench erzeugt.
Dateinamen: SSTTTEV.wav - Sprecher, Text, Emotion (W Ärger, L Langeweile, E Ekel, A Angst, F Freude,
T Trauer, N neutral), Version. erkennung.txt: Erkennungsrate und Natürlichkeit in Prozent.
"""


def place_emodb(utterances: list[Utterance], seed: int) -> list[Placed]:
    """wav/SSTTTEV.wav: each speaker's takes of an emotion cycle through the ten texts, versions a, b, ..."""
    takes: dict[tuple[str, str], int] = defaultdict(int)
    placed = []
    for utterance in utterances:
        key = (utterance.speaker.name, utterance.code)
        offset = derive_seed(seed, "emodb", *key) % len(EMODB_TEXTS)
        take = takes[key]
        takes[key] += 1
        text = EMODB_TEXTS[(offset + take) % len(EMODB_TEXTS)]
        name = f"{key[0]}{text}{key[1]}{string.ascii_lowercase[take // len(EMODB_TEXTS)]}"
        placed.append(Placed(utterance, name, f"wav/{name}.wav"))
    return placed


def write_emodb(root: Path, placed: list[Placed], seed: int) -> None:
    """erkennung.txt as distributed: Latin-1, tab separated, decimal comma, no-break-space padding."""
    rng = np.random.default_rng(derive_seed(seed, "emodb", "labels"))
    nbsp = "\xa0"
    rows = ["Nr.\tSatz\terkannt\tnatuerlich\n"]
    for number, item in enumerate(sorted(placed, key=lambda item: item.utterance_id), start=1):
        recognised = 5 * rng.integers(16, 21)  # the release kept takes recognised by >= 80% of listeners
        natural = 5 * rng.integers(12, 21)
        rows.append(f"{number}".ljust(3, nbsp) + f"\t{item.utterance_id}.wav\t{recognised},00{nbsp * 5}"
                    f"\t{natural},00{nbsp * 5}\n")
    (root / "erkennung.txt").write_text("".join(rows), encoding="latin-1")
    (root / "erklaerung.txt").write_text(EMODB_EXPLANATION, encoding="latin-1")


# --- fully crossed designs (RAVDESS, CREMA-D, TESS, EMOVO) ---------------------------------------------

def _takes(utterances: list[Utterance], seed: int, corpus: str, slots: Mapping[str, Sequence]) -> list[tuple]:
    """Each utterance with its slot in the design: the takes of one speaker and code get distinct slots of
    `slots[code]` (sentences, words, repetitions), in an order drawn from the seed."""
    cells: dict[tuple[str, str], list[Utterance]] = defaultdict(list)
    for utterance in utterances:
        cells[utterance.speaker.name, utterance.code].append(utterance)
    taken = []
    for (speaker, code), members in cells.items():
        options = slots[code]
        if len(members) > len(options):
            raise SerbenchError(f"the {corpus} release has {len(options)} takes of {code} per speaker, and this "
                                f"scale asks for {len(members)}", hint=f"{corpus} is a full design: use a scale "
                                                                       "of at most 1.0")
        order = np.random.default_rng(derive_seed(seed, corpus, "takes", speaker, code)).permutation(len(options))
        taken += [(utterance, options[i]) for utterance, i in zip(members, order, strict=False)]
    return taken


# --- RAVDESS -------------------------------------------------------------------------------------------

RAVDESS_TAKES = tuple((statement, repetition) for statement in (1, 2) for repetition in (1, 2))


def place_ravdess(utterances: list[Utterance], seed: int) -> list[Placed]:
    """Actor_NN/03-01-EE-II-SS-RR-NN.wav: audio-only (03), speech (01), the code (emotion, intensity),
    statement, repetition, actor."""
    slots = {code: RAVDESS_TAKES for code in SPECS["ravdess"].counts}
    placed = []
    for utterance, (statement, repetition) in _takes(utterances, seed, "ravdess", slots):
        actor = utterance.speaker.name
        name = f"03-01-{utterance.code}-{statement:02d}-{repetition:02d}-{actor}"
        placed.append(Placed(utterance, name, f"Actor_{actor}/{name}.wav"))
    return placed


def write_ravdess(root: Path, placed: list[Placed], seed: int) -> None:
    del root, placed, seed  # RAVDESS's labels are its file names; the speech release has no other file


# --- CREMA-D -------------------------------------------------------------------------------------------

CREMA_D_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
# VideoDemographics.csv's race and ethnicity columns, in the release's proportions (drawn per actor).
CREMA_D_ORIGINS = ([("Caucasian", "Not Hispanic")] * 53 + [("African American", "Not Hispanic")] * 21
                   + [("Caucasian", "Hispanic")] * 8 + [("Asian", "Not Hispanic")] * 7
                   + [("Unknown", "Hispanic"), ("African American", "Hispanic")])


def place_crema_d(utterances: list[Utterance], seed: int) -> list[Placed]:
    """AudioWAV/AAAA_SSS_EEE_LL.wav: actor, sentence, emotion, level. IEO is the one sentence acted at LO,
    MD and HI; the eleven others are XX, and neutral is XX on all twelve."""
    slots: dict[str, Sequence[str]] = {}
    for code in SPECS["crema-d"].counts:
        if code == "NEU_XX":
            slots[code] = CREMA_D_SENTENCES
        elif code.endswith("_XX"):
            slots[code] = CREMA_D_SENTENCES[1:]
        else:
            slots[code] = CREMA_D_SENTENCES[:1]
    placed = []
    for utterance, sentence in _takes(utterances, seed, "crema-d", slots):
        emotion, level = utterance.code.split("_")
        name = f"{utterance.speaker.name}_{sentence}_{emotion}_{level}"
        placed.append(Placed(utterance, name, f"AudioWAV/{name}.wav"))
    return placed


CREMA_D_VOTES = "ADFHNS"  # anger, disgust, fear, happy, neutral, sad: the crowd's letters
# How often one rater names the intended emotion, by modality (voice alone, face alone, both), before the clip's
# own strength moves it: the release's recognition rates were 41%, 58% and 64% (Cao et al. 2014).
CREMA_D_MODALITIES = {"Voice": 0.36, "Face": 0.43, "MultiModal": 0.46}


def _crema_d_vote(rng: np.random.Generator, item: Placed, accuracy: float) -> tuple[str, str]:
    """One modality's majority vote over 8 to 12 raters and its mean level (0-100), ties joined by ':' as the
    release writes them ("A:D", "30.67:51.00"). A rater who misses the emotion mostly answers neutral."""
    style = item.utterance.style
    intended = item.utterance.code[0]
    strength = min(1.0, float(np.hypot(style.arousal, style.valence)))
    hit = float(np.clip(accuracy + 0.35 * (strength - 0.6), 0.05, 0.95))
    others = [letter for letter in CREMA_D_VOTES if letter != intended]
    votes: dict[str, list[float]] = defaultdict(list)
    for _ in range(int(rng.integers(8, 13))):
        if rng.random() < hit:
            answer = intended
        elif intended != "N" and rng.random() < 0.75:
            answer = "N"
        else:
            answer = others[int(rng.integers(len(others)))]
        votes[answer].append(float(np.clip(rng.normal(45 + 30 * strength, 20), 1, 100)))
    most = max(len(levels) for levels in votes.values())
    winners = sorted(letter for letter, levels in votes.items() if len(levels) == most)
    means = [float(np.mean(votes[letter])) for letter in winners]
    if len(winners) == 1:
        return winners[0], f"{means[0]:.2f}".rstrip("0").rstrip(".")
    return ":".join(winners), ":".join(f"{mean:.2f}" for mean in means)


def write_crema_d(root: Path, placed: list[Placed], seed: int) -> None:
    """VideoDemographics.csv as distributed (every actor's age and sex, the release's; race and ethnicity)
    and processedResults/summaryTable.csv, the crowd's majority votes per modality (what crema-d-voice reads)."""
    spec = SPECS["crema-d"]
    rng = np.random.default_rng(derive_seed(seed, "crema-d", "demographics"))
    origins = [CREMA_D_ORIGINS[i] for i in rng.permutation(len(CREMA_D_ORIGINS))]
    with open(root / "VideoDemographics.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(["ActorID", "Age", "Sex", "Race", "Ethnicity"])
        for (actor, gender, _), (race, ethnicity) in zip(spec.speakers, origins, strict=True):
            writer.writerow([int(actor), spec.ages[actor], "Female" if gender == "F" else "Male", race, ethnicity])
    rng = np.random.default_rng(derive_seed(seed, "crema-d", "votes"))
    (root / "processedResults").mkdir(parents=True, exist_ok=True)
    # As R's write.csv wrote it: every field quoted, the row numbers first under an empty header.
    with open(root / "processedResults" / "summaryTable.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["", "FileName", *(f"{m}{part}" for m in CREMA_D_MODALITIES for part in ("Vote", "Level"))])
        for number, item in enumerate(sorted(placed, key=lambda item: item.utterance_id), start=1):
            cells = [cell for accuracy in CREMA_D_MODALITIES.values() for cell in _crema_d_vote(rng, item, accuracy)]
            writer.writerow([str(number), item.utterance_id, *cells])


# --- TESS ----------------------------------------------------------------------------------------------

# The 200 target words of NU-6 (Tillman & Carhart 1966) that both actresses say in "Say the word _".
TESS_WORDS = ("back", "bar", "base", "bath", "bean", "beg", "bite", "boat", "bone", "book", "bought", "burn", "cab",
              "calm", "came", "cause", "chain", "chair", "chalk", "chat", "check", "cheek", "chief", "choice", "cool",
              "dab", "date", "dead", "death", "deep", "dime", "dip", "ditch", "dodge", "dog", "doll", "door", "fail",
              "fall", "far", "fat", "fit", "five", "food", "gap", "gas", "gaze", "germ", "get", "gin", "goal", "good",
              "goose", "gun", "half", "hall", "hash", "hate", "have", "haze", "hire", "hit", "hole", "home", "hurl",
              "hush", "jail", "jar", "join", "judge", "jug", "juice", "keen", "keep", "keg", "kick", "kill", "king",
              "kite", "knock", "late", "laud", "lean", "learn", "lease", "lid", "life", "limb", "live", "loaf",
              "long", "lore", "lose", "lot", "love", "luck", "make", "match", "merge", "mess", "met", "mill", "mob",
              "mode", "mood", "moon", "mop", "mouse", "nag", "name", "near", "neat", "nice", "note", "numb", "pad",
              "page", "pain", "pass", "pearl", "peg", "perch", "phone", "pick", "pike", "pole", "pool", "puff", "rag",
              "raid", "rain", "raise", "rat", "reach", "read", "red", "ring", "ripe", "road", "room", "rose", "rot",
              "rough", "rush", "said", "sail", "search", "seize", "sell", "shack", "shall", "shawl", "sheep", "shirt",
              "should", "shout", "size", "soap", "soup", "sour", "south", "sub", "such", "sure", "take", "talk",
              "tape", "team", "tell", "thin", "third", "thought", "thumb", "time", "tip", "tire", "ton", "tool",
              "tough", "turn", "vine", "voice", "void", "vote", "wag", "walk", "wash", "week", "wheat", "when",
              "which", "whip", "white", "wife", "wire", "witch", "yearn", "yes", "young", "youth")
# The release's folder names, inconsistent spellings and all.
TESS_FOLDERS = {
    "OAF": {"angry": "OAF_angry", "disgust": "OAF_disgust", "fear": "OAF_Fear", "happy": "OAF_happy",
            "neutral": "OAF_neutral", "ps": "OAF_Pleasant_surprise", "sad": "OAF_Sad"},
    "YAF": {"angry": "YAF_angry", "disgust": "YAF_disgust", "fear": "YAF_fear", "happy": "YAF_happy",
            "neutral": "YAF_neutral", "ps": "YAF_pleasant_surprised", "sad": "YAF_sad"},
}


# Two files of the release are odd, and the stand-in has both at every scale: OAF_neutral/OA_bite_neutral.wav is
# misnamed, and OAF_Fear/OAF_food_fear.wav is the one file at 96 kHz.
TESS_MISNAMED = {"OAF_bite_neutral": "OA_bite_neutral"}
TESS_96K = "OAF_food_fear"


def place_tess(utterances: list[Utterance], seed: int) -> list[Placed]:
    """<speaker>_<emotion folder>/<speaker>_<word>_<code>.wav, e.g. OAF_Fear/OAF_back_fear.wav and
    YAF_pleasant_surprised/YAF_dog_ps.wav."""
    slots = {code: TESS_WORDS for code in SPECS["tess"].counts}
    taken = _takes(utterances, seed, "tess", slots)
    for odd in (*TESS_MISNAMED, TESS_96K):  # give the odd file's word to the first take of its cell
        speaker, word, code = odd.split("_")
        cell = [i for i, (u, _) in enumerate(taken) if (u.speaker.name, u.code) == (speaker, code)]
        if cell and all(taken[i][1] != word for i in cell):
            taken[cell[0]] = (taken[cell[0]][0], word)
    placed = []
    for utterance, word in taken:
        speaker = utterance.speaker.name
        name = f"{speaker}_{word}_{utterance.code}"
        channel = replace(utterance.speaker.channel, sample_rate=96_000) if name == TESS_96K else None
        name = TESS_MISNAMED.get(name, name)
        placed.append(Placed(utterance, name, f"{TESS_FOLDERS[speaker][utterance.code]}/{name}.wav", channel=channel))
    return placed


def write_tess(root: Path, placed: list[Placed], seed: int) -> None:
    del root, placed, seed  # TESS's labels are its folder and file names


# --- EMOVO ---------------------------------------------------------------------------------------------

# Short (b), long (l) and nonsense (n) sentences and two questions (d).
EMOVO_SENTENCES = ("b1", "b2", "b3", "l1", "l2", "l3", "l4", "n1", "n2", "n3", "n4", "n5", "d1", "d2")


def place_emovo(utterances: list[Utterance], seed: int) -> list[Placed]:
    """<actor>/<emotion>-<actor>-<sentence>.wav, e.g. f1/dis-f1-b1.wav."""
    slots = {code: EMOVO_SENTENCES for code in SPECS["emovo"].counts}
    placed = []
    for utterance, sentence in _takes(utterances, seed, "emovo", slots):
        actor = utterance.speaker.name
        name = f"{utterance.code}-{actor}-{sentence}"
        placed.append(Placed(utterance, name, f"{actor}/{name}.wav"))
    return placed


EMOVO_INFO = """EMOVO - SYNTHETIC STAND-IN written by serbench, not the Italian emotional speech database.
Files: <actor>/<emotion>-<actor>-<sentence>.wav. Actors f1 f2 f3 (female), m1 m2 m3 (male). Emotions:
dis disgusto, gio gioia, neu neutro, pau paura, rab rabbia, sor sorpresa, tri tristezza. Sentences: b1-b3 short,
l1-l4 long, n1-n5 nonsense, d1 d2 questions.
"""


def write_emovo(root: Path, placed: list[Placed], seed: int) -> None:
    """EMOVO's labels are its file names; the release's documents/ folder gets a note in their place."""
    del placed, seed
    (root / "documents").mkdir(parents=True, exist_ok=True)
    (root / "documents" / "README.txt").write_text(EMOVO_INFO, encoding="utf-8")


PLACE = {"iemocap": place_iemocap, "msp-improv": place_msp_improv, "savee": place_savee, "emodb": place_emodb,
         "ravdess": place_ravdess, "crema-d": place_crema_d, "tess": place_tess, "emovo": place_emovo}
WRITE = {"iemocap": write_iemocap, "msp-improv": write_msp_improv, "savee": write_savee, "emodb": write_emodb,
         "ravdess": write_ravdess, "crema-d": write_crema_d, "tess": write_tess, "emovo": write_emovo}
