"""Each release's layout and label format (docs/corpora.md): where the utterances go and what the label
files say. `place_<corpus>` names the planned utterances; `write_<corpus>` writes the label files."""

from __future__ import annotations

import math
import string
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serbench.synth.corpora import Utterance, derive_seed


@dataclass(frozen=True)
class Placed:
    """An utterance with its corpus's own id and its path inside the release."""

    utterance: Utterance
    utterance_id: str
    relpath: str
    info: dict = field(default_factory=dict)  # layout details the label file needs (dialog, times, ...)


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


PLACE = {"iemocap": place_iemocap, "msp-improv": place_msp_improv, "savee": place_savee, "emodb": place_emodb}
WRITE = {"iemocap": write_iemocap, "msp-improv": write_msp_improv, "savee": write_savee, "emodb": write_emodb}
