"""IEMOCAP, read from the IEMOCAP_full_release folder as distributed.

Labels come from SessionN/dialog/EmoEvaluation/<dialog>.txt, only the files directly in that folder (its
sub-folders hold per-rater files). Each utterance has a tab-separated summary line
`[START - END]<tab>UTTERANCE<tab>CODE<tab>[V, A, D]` followed by rater lines and a blank line. Audio is
SessionN/sentences/wav/<dialog>/<utterance>.wav.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from serbench.data.corpora.registry import register_corpus
from serbench.data.corpora.schema import make_table
from serbench.errors import CorpusError, Problem

NAME = "iemocap"
SESSIONS = range(1, 6)
CODES = {
    "ang": "anger", "hap": "happiness", "exc": "excitement", "sad": "sadness", "neu": "neutral",
    "fru": "frustration", "fea": "fear", "sur": "surprise", "dis": "disgust", "oth": "other",
    "xxx": "no_agreement",
}
SUMMARY = re.compile(r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(\S+)\s+(\S+)\s+\[([^\]]*)\]")
SUMMARY_FORMAT = "[START - END]<tab>UTTERANCE<tab>CODE<tab>[V, A, D]"
# Ses01F_impro01_M002: the F after Ses01 names who wore the motion-capture markers in that dialogue; the
# speaker is the actor named by the first letter of the last field (here session 1's male actor).
UTTERANCE = re.compile(r"Ses0([1-5])[FM]_\S+_([FM])[^_\s]*")
RATER = re.compile(r"[A-Z]+-[A-Z]+\d*:")  # C-E2:, C-F1:, A-E3:, A-M1: ...


@register_corpus(
    NAME,
    codes=CODES,
    title="IEMOCAP (Interactive Emotional Dyadic Motion Capture database)",
    release_dir="IEMOCAP_full_release",
    languages=("en-US",),
    native_sample_rate=16000,
    licence="USC SAIL release agreement (request from the owners; not redistributable)",
    homepage="https://sail.usc.edu/iemocap/",
    split_groups="session",
    rating_scale=(1.0, 5.0),
)
def read(root: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """Every labelled utterance of the release at `root`, and the problems found on the way."""
    if not any((root / f"Session{n}").is_dir() for n in SESSIONS):
        raise CorpusError("not an IEMOCAP release: there are no Session1 .. Session5 folders here", path=root,
                          hint="point --root at the IEMOCAP_full_release folder, which holds Session1 .. Session5")
    rows: list[dict] = []
    problems: list[Problem] = []
    for n in SESSIONS:
        session_rows, session_problems = _read_session(root / f"Session{n}", n)
        rows += session_rows
        problems += session_problems
    return make_table(rows), problems


def _read_session(folder: Path, session: int) -> tuple[list[dict], list[Problem]]:
    label_dir = folder / "dialog" / "EmoEvaluation"
    wav_dir = folder / "sentences" / "wav"
    missing = [path for path in (folder, label_dir, wav_dir) if not path.is_dir()]
    if missing:
        return [], [Problem(str(missing[0]), "folder missing from the IEMOCAP release; restore it from the "
                                             "release, or pass --skip-bad to go without this session")]

    audio = {path.stem: path for path in wav_dir.glob("*/*.wav") if not path.name.startswith(".")}
    rows: list[dict] = []
    problems: list[Problem] = []
    # Every utterance a summary line names, even a bad line: its audio is then not reported again as unlabelled.
    seen: set[str] = set()
    label_files = sorted(path for path in label_dir.glob("*.txt") if path.is_file() and not path.name.startswith("."))
    for label_file in label_files:
        with open(label_file, encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                row, message = _parse_line(line.strip(), session, wav_dir, audio, seen)
                if message is not None:
                    problems.append(Problem(str(label_file), message, number))
                elif row is not None:
                    rows.append(row)

    unlabelled: dict[Path, list[Path]] = {}
    for stem, path in sorted(audio.items()):
        if stem not in seen:
            unlabelled.setdefault(path.parent, []).append(path)
    for dialog_dir, paths in unlabelled.items():
        label_file = label_dir / f"{dialog_dir.name}.txt"
        if not label_file.is_file():
            problems.append(Problem(str(label_file), f"label file missing for the {len(paths)} wav file(s) in "
                                                     f"{dialog_dir}; restore it from the release"))
            continue
        problems += [Problem(str(path), f"audio without a label: no summary line names {path.stem} in "
                                        f"{label_file}") for path in paths]
    return rows, problems


def _parse_line(line: str, session: int, wav_dir: Path, audio: dict[str, Path],
                seen: set[str]) -> tuple[dict | None, str | None]:
    """(the table row, None) for a good summary line, (None, what is wrong) for a bad line, (None, None) for
    any other line."""
    if not line or line.startswith("%") or RATER.match(line):
        return None, None  # blank, header or rater line
    match = SUMMARY.fullmatch(line)
    if not line.startswith("[") or match is None:
        return None, f"line does not parse: expected a summary line {SUMMARY_FORMAT}, a rater line or a blank line"
    utterance, code, bracket = match.groups()
    if utterance in seen:
        return None, f"utterance {utterance} is labelled a second time"
    seen.add(utterance)
    id_match = UTTERANCE.fullmatch(utterance)
    if id_match is None or int(id_match[1]) != session:
        return None, (f"utterance id {utterance!r} is not an IEMOCAP utterance of Session{session} "
                      f"(like Ses0{session}F_impro01_M002)")
    if code not in CODES:
        return None, f"unknown emotion code {code!r} (IEMOCAP uses {' '.join(CODES)})"
    try:
        valence, arousal, dominance = (float(value) for value in bracket.split(","))
    except ValueError:
        return None, f"ratings [{bracket}] are not three numbers [V, A, D]"
    if utterance not in audio:
        dialog = utterance.rsplit("_", 1)[0]
        return None, f"label without audio: {wav_dir / dialog / utterance}.wav does not exist"
    letter = id_match[2]
    return {
        "utterance_id": utterance, "path": str(audio[utterance]), "corpus": NAME,
        "speaker": f"{NAME}:Ses0{session}{letter}", "gender": letter, "locale": "en-US",
        "session": str(session), "emotion_code": code, "emotion": CODES[code],
        "valence": valence, "arousal": arousal, "dominance": dominance,
    }, None
