"""Emotion names and label tasks: the one place where categories become classes.

Every corpus reader maps its own codes onto the normalised names in EMOTIONS. A label task maps those
names onto its classes through LABEL_TABLE. The binary arousal and valence columns are the default of
docs/labels.md (after Schuller et al., IEEE T-AFFC 2010), which the paper leaves open; a protocol may
override single entries. The dimensional tasks predict a rating instead, each corpus's scale mapped onto one
(RATING_RANGE). Utterances a task cannot use are counted per reason, never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from serbench.errors import SerbenchError

# Not emotion categories: the raters did not agree, or chose "other". No task uses them.
NO_AGREEMENT = "no_agreement"
OTHER = "other"

#                 emotion4      arousal  valence
LABEL_TABLE: dict[str, tuple[str | None, str | None, str | None]] = {
    "anger":       ("anger",     "high", "negative"),
    "happiness":   ("happiness", "high", "positive"),
    "excitement":  ("happiness", "high", "positive"),  # IEMOCAP's exc, merged into happiness as usual
    "sadness":     ("sadness",   "low",  "negative"),
    "neutral":     ("neutral",   "low",  "positive"),
    "fear":        (None,        "high", "negative"),
    "surprise":    (None,        "high", "positive"),
    "disgust":     (None,        "high", "negative"),
    "boredom":     (None,        "low",  "negative"),
    "frustration": (None,        None,   None),
    "calm":        (None,        "low",  "positive"),  # RAVDESS; not in the paper's corpora
    "contempt":    (None,        None,   None),
    OTHER:         (None,        None,   None),
    NO_AGREEMENT:  (None,        None,   None),
}
EMOTIONS = tuple(LABEL_TABLE)
TASK_CLASSES: dict[str, tuple[str, ...]] = {  # one per column of LABEL_TABLE, in its order
    "emotion4": ("anger", "happiness", "sadness", "neutral"),
    "arousal": ("low", "high"),
    "valence": ("negative", "positive"),
}
# Built-in variants: a column of LABEL_TABLE with some entries changed (docs/labels.md says why each exists).
TASK_VARIANTS: dict[str, tuple[str, Mapping[str, str | None]]] = {
    # Whether neutral speech has positive valence is disputed; this variant leaves neutral out.
    "valence-no-neutral": ("valence", {"neutral": None}),
}
# Each corpus's own categories (its emotion codes as written: Emo-DB's seven letters, RAVDESS's eight numbers), for
# protocols within one corpus: the classes come from the corpus's table, so two corpora never share them.
CATEGORICAL = "categorical"
# The dimensional tasks: a rating column of the utterance table (data/corpora/schema.py), predicted as a number and
# scored by CCC. Every rated utterance counts, whatever its category (the paper's subsets select categories).
DIMENSIONAL_TASKS: dict[str, str] = {"arousal-dim": "arousal", "valence-dim": "valence", "dominance-dim": "dominance"}
TASKS = (*TASK_CLASSES, *TASK_VARIANTS, CATEGORICAL, *DIMENSIONAL_TASKS)
# The one scale of every corpus's ratings: its scale's lowest value (CorpusInfo.rating_scale) becomes -1, its
# highest 1, linearly, so corpora rated 1-5 and 1-7 train and test together and CCC compares like with like. A
# corpus without a declared scale (a manifest) gives its ratings on this one.
RATING_RANGE = (-1.0, 1.0)

# How pretrained emotion classifiers spell the emotions (their model.config.id2label): the released checkpoints'
# words and the codes of the corpora they were trained on (IEMOCAP's, CREMA-D's, TESS's), lower case. Each emotion's
# own name matches too (emotion_of_label). Single letters are left out: Emo-DB's A is fear, MSP-IMPROV's anger.
LABEL_ALIASES: dict[str, str] = {
    "ang": "anger", "angry": "anger",
    "hap": "happiness", "happy": "happiness", "joy": "happiness",
    "exc": "excitement", "excited": "excitement",
    "sad": "sadness",
    "neu": "neutral",
    "fea": "fear", "fearful": "fear",
    "sur": "surprise", "surprised": "surprise", "ps": "surprise", "pleasant_surprise": "surprise",
    "dis": "disgust", "disgusted": "disgust",
    "bored": "boredom",
    "fru": "frustration", "frustrated": "frustration",
    "oth": OTHER,
}

# The utterances the paper uses from each corpus ("utterances used" in docs/paper.md): IEMOCAP's and
# MSP-IMPROV's four-category subsets, all seven categories of SAVEE and Emo-DB. Corpora not named here
# (manifests) contribute every emotion the task maps.
PAPER_SUBSETS: dict[str, frozenset[str]] = {
    "iemocap": frozenset({"anger", "happiness", "excitement", "sadness", "neutral"}),
    "msp-improv": frozenset({"anger", "happiness", "sadness", "neutral"}),
}


@dataclass(frozen=True)
class Task:
    """A label task: its classes in a fixed order, and the emotion -> class mapping; or, for a dimensional task,
    the rating it predicts (no classes)."""

    name: str
    classes: tuple[str, ...]
    mapping: Mapping[str, str]  # value of `column` -> class
    column: str = "emotion"  # what the mapping reads: the normalised emotion, or the corpus's own code
    rating: str | None = None  # a dimensional task's rating column (DIMENSIONAL_TASKS); None: a task of classes

    def index(self, label: str) -> int:
        return self.classes.index(label)


def get_task(name: str, overrides: Mapping[str, str | None] | None = None,
             table: pd.DataFrame | None = None) -> Task:
    """The task `name`, with `overrides` (emotion -> class, or None to exclude) applied to LABEL_TABLE (after a
    variant's own changes). `categorical` takes its classes from the utterance `table` of one corpus."""
    if name not in TASKS:
        raise SerbenchError(f"unknown task {name!r}", hint=f"use one of: {', '.join(TASKS)}")
    if name == CATEGORICAL:
        return categorical_task(table, overrides)
    if name in DIMENSIONAL_TASKS:
        if overrides:
            raise SerbenchError(f"the {name} task takes no label overrides",
                                hint=f"it predicts the {DIMENSIONAL_TASKS[name]} rating itself; remove its "
                                     f"[labels.{name}] table")
        return Task(name, (), {}, column=DIMENSIONAL_TASKS[name], rating=DIMENSIONAL_TASKS[name])
    base, variant = TASK_VARIANTS.get(name, (name, {}))
    column = list(TASK_CLASSES).index(base)
    labels = {emotion: row[column] for emotion, row in LABEL_TABLE.items()}
    mapping = {emotion: label for emotion, label in labels.items() if label is not None}
    for emotion, label in {**variant, **(overrides or {})}.items():
        if emotion not in LABEL_TABLE:
            raise SerbenchError(f"label override names unknown emotion {emotion!r}",
                                hint=f"use one of: {', '.join(EMOTIONS)}")
        if label is None:
            mapping.pop(emotion, None)
        elif label not in TASK_CLASSES[base]:
            raise SerbenchError(f"label override maps {emotion!r} to {label!r}, not a class of {name}",
                                hint=f"use one of: {', '.join(TASK_CLASSES[base])}")
        else:
            mapping[emotion] = label
    return Task(name, TASK_CLASSES[base], mapping)


def task_target(name: str) -> str:
    """What task `name` asks a method to predict (serbench.metrics.TARGETS): ratings or classes."""
    return "ratings" if name in DIMENSIONAL_TASKS else "classes"


def emotion_of_label(label: str) -> str | None:
    """The normalised emotion a classifier's label names (LABEL_ALIASES, ignoring case, spaces as `_`); None for a
    label that names none."""
    key = "_".join(label.strip().lower().replace("-", " ").split())
    return key if key in LABEL_TABLE else LABEL_ALIASES.get(key)


def task_of_classes(classes: Sequence[str]) -> Task | None:
    """The built-in task (emotion4, arousal or valence) whose classes these are, as LABEL_TABLE's column defines
    it, for code that sees a task's classes but not its name or a protocol's overrides; None if none has them."""
    names = [name for name, own in TASK_CLASSES.items() if own == tuple(classes)]
    return get_task(names[0]) if names else None


def categorical_task(table: pd.DataFrame | None, overrides: Mapping[str, str | None] | None = None) -> Task:
    """The corpus's own categories: every emotion code of `table` (one corpus) with an agreed emotion, sorted."""
    if overrides:
        raise SerbenchError("the categorical task takes no label overrides",
                            hint="its classes are the corpus's own codes; remove its [labels.categorical] table")
    if table is None:
        raise SerbenchError("the categorical task needs its corpus's utterance table")
    if table["corpus"].nunique() > 1:
        raise SerbenchError(f"the categorical task is defined within one corpus, not across "
                            f"{', '.join(sorted(table['corpus'].unique()))}",
                            hint="corpora code their categories differently: use emotion4, arousal or valence")
    agreed = table[~table["emotion"].isin([NO_AGREEMENT, OTHER])]
    codes = tuple(sorted(agreed["emotion_code"].unique()))
    return Task(CATEGORICAL, codes, {code: code for code in codes}, column="emotion_code")


@dataclass
class Labelled:
    """A task applied to an utterance table: the rows it uses (with `label` and class index `y`) and why
    the others were left out."""

    table: pd.DataFrame
    excluded: dict[str, int]


def exclusion_reason(emotion: str, corpus: str, task: Task | None,
                     subsets: Mapping[str, frozenset[str]] = PAPER_SUBSETS, code: str = "") -> str | None:
    """Why an utterance of `emotion` (its corpus's `code`) from `corpus` is not used by `task` (when task is None:
    why it has no usable emotion label at all). None when it is used."""
    if emotion == NO_AGREEMENT:
        return "no agreed emotion"
    if emotion == OTHER:
        return "emotion 'other'"
    if task is None:
        return None
    if corpus in subsets and emotion not in subsets[corpus]:
        return f"{emotion}: outside the paper's {corpus} subset"
    if (code if task.column == "emotion_code" else emotion) not in task.mapping:
        return f"{emotion}: not a class of {task.name}"
    return None


def apply_task(table: pd.DataFrame, task: Task | None, subsets: Mapping[str, frozenset[str]] = PAPER_SUBSETS,
               scale: tuple[float, float] | None = None) -> Labelled:
    """Keep the utterances `task` uses (all usable ones when task is None) and count the rest by reason. A
    dimensional task reads the ratings of one corpus on its `scale` (None: RATING_RANGE already)."""
    if task is not None and task.rating is not None:
        return apply_rating(table, task.rating, scale)
    reasons = [exclusion_reason(e, c, task, subsets, code) for e, c, code in
               zip(table["emotion"], table["corpus"], table["emotion_code"], strict=True)]
    keep = [reason is None for reason in reasons]
    kept = table.loc[keep].copy()
    if task is None:
        kept["label"] = kept["emotion_code"]
    else:
        kept["label"] = kept[task.column].map(task.mapping)
        kept["y"] = [task.index(label) for label in kept["label"]]
    excluded = Counter(reason for reason in reasons if reason is not None)
    return Labelled(kept.reset_index(drop=True), dict(sorted(excluded.items())))


def apply_rating(table: pd.DataFrame, rating: str, scale: tuple[float, float] | None) -> Labelled:
    """The utterances of one corpus rated on `rating`, with `label` the rating as given and `y` the rating on
    RATING_RANGE; those without one are counted."""
    rated = table[rating].notna()
    kept = table.loc[rated].copy().reset_index(drop=True)
    values = kept[rating].to_numpy(dtype=float)
    low, high = scale or RATING_RANGE
    if len(values) and (values.min() < low or values.max() > high):
        corpus = ", ".join(sorted(set(kept["corpus"])))
        where = f"its scale {low:g} to {high:g}" if scale else f"serbench's scale {low:g} to {high:g}"
        raise SerbenchError(f"{corpus}: {rating} ratings from {values.min():g} to {values.max():g} lie outside "
                            f"{where}", hint="give a manifest's ratings on -1 .. 1 (docs/corpora.md)" if scale is
                            None else "check the release's rating files; report the corpus's scale if it differs")
    target_low, target_high = RATING_RANGE
    kept["label"] = values
    kept["y"] = target_low + (values - low) * (target_high - target_low) / (high - low)
    missing = int((~rated).sum())
    return Labelled(kept, {f"no {rating} rating": missing} if missing else {})
