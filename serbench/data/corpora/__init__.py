"""Corpus readers: each reads one corpus's release exactly as its owners distribute it.

A reader is a function `read(root) -> (table, problems)` registered with `@register_corpus(...)`. It returns
the utterance table (serbench.data.corpora.schema) and every per-file problem it found (a label without audio,
audio without a label, a line that does not parse, an unknown code); what the release holds but is left out on
purpose (RAVDESS's songs) it counts by reason in the table's attrs["excluded"], which becomes Corpus.excluded.
It raises CorpusError only when the root is not that corpus at all. `read_corpus` turns problems into one clear
error, or into an explicit skip list with skip_bad=True. Audio content (corrupt or empty WAVs) is checked where
audio is read: the feature pass and `serbench data check`.
"""

from __future__ import annotations

from pathlib import Path

from serbench.data.corpora.registry import CORPORA, CorpusInfo, Reader, register_corpus
from serbench.data.corpora.schema import Corpus
from serbench.errors import CorpusError, Problem
from serbench.files import INCOMPLETE

MAX_LISTED = 20


def problems_error(problems: list[Problem], what: str) -> CorpusError:
    """One error listing the first problems, with what to do about them."""
    lines = [str(problem) for problem in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"... and {len(problems) - MAX_LISTED} more (`serbench data check` lists them all)")
    return CorpusError(f"{len(problems)} problem(s) in {what}:\n    " + "\n    ".join(lines),
                       hint="fix or remove the files named above, or pass --skip-bad to skip them "
                            "(the skip list is printed and saved with the feature cache)")


def rating_scale(name: str) -> tuple[float, float] | None:
    """The scale of corpus `name`'s ratings: a built-in reader's (CorpusInfo.rating_scale); None for any other
    corpus, whose manifest gives them on serbench's own (serbench.data.labels.RATING_RANGE)."""
    return CORPORA[name].rating_scale if name in CORPORA else None


def read_corpus(name: str, root: str | Path, *, skip_bad: bool = False) -> Corpus:
    """Read corpus `name` from `root`: a built-in corpus's release folder, or a manifest CSV for any name."""
    from serbench.data.corpora.manifest import read_manifest

    root = Path(root).expanduser().resolve()
    if root.suffix.lower() == ".csv":
        table, problems = read_manifest(root, name)
    else:
        if name not in CORPORA:
            raise CorpusError(f"unknown corpus {name!r}",
                              hint=f"use one of {', '.join(CORPORA)}, or give a manifest CSV as the root")
        if not root.is_dir():
            raise CorpusError("no such folder", path=root,
                              hint=f"point --root at the {CORPORA[name].title} release "
                                   f"(usually named {CORPORA[name].release_dir})")
        if any((folder / INCOMPLETE).exists() for folder in (root, root.parent)):
            raise CorpusError("an incomplete synthetic set: its generation was interrupted", path=root,
                              hint="delete the set's folder and generate it again (`serbench data synth`)")
        table, problems = CORPORA[name].read(root)
    if problems and not skip_bad:
        raise problems_error(problems, f"{name} at {root}")
    return Corpus(name, root, table, problems, dict(table.attrs.pop("excluded", {})))


# The built-in readers register themselves on import.
from serbench.data.corpora import crema_d, emodb, emovo, iemocap, msp_improv, msp_podcast, ravdess, savee, tess  # noqa: E402, F401

__all__ = ["CORPORA", "CorpusInfo", "Reader", "read_corpus", "register_corpus"]
