"""The run record: one typed structure, written by the runner, kept by the store, read by status, summaries and
leaderboards. Its schema lives here alone; `SCHEMA` is bumped whenever a field changes meaning.

On disk it is plain JSON (runs/<run id>/record.json, docs/running.md), readable without serbench. Reading
checks it: a record that is not an object, lacks a field, has a field of the wrong type or was written under
another schema is a SerbenchError naming the file and what to do.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serbench.errors import SerbenchError

SCHEMA = 3  # 1: serbench 0.1's untyped records; 3: `selection`


@dataclass(frozen=True)
class CorpusScores:
    """The scores of a run on one test corpus: of classes (ua, wa, macro_f1 from `confusion`) or, for a
    dimensional task, of ratings (ccc, pcc, rmse from `rating_sums`, serbench.metrics.rating_sums); the other
    target's scores are None (null) and its statistic empty. Records written before the dimensional tasks lack the
    rating fields, and read as if they had them empty."""

    ua: float | None = None  # unweighted accuracy: the mean of per-class recalls
    wa: float | None = None  # plain accuracy
    macro_f1: float | None = None
    n: int = 0  # test utterances
    confusion: list[list[int]] = field(default_factory=list)  # rows: true class, columns: predicted class
    collapsed: bool = False  # every test utterance of the corpus got the same class (the same rating)
    ccc: float | None = None  # concordance correlation coefficient
    pcc: float | None = None  # Pearson's r
    rmse: float | None = None
    rating_sums: list[float] = field(default_factory=list)  # n, sum x, sum y, sum x^2, sum y^2, sum xy


@dataclass(frozen=True)
class RunRecord:
    """Everything a run leaves besides its tables (predictions, split)."""

    run_id: str
    identity: dict[str, Any]  # what the run id hashes (serbench.runs.plan.RunSpec.identity)
    method: str
    protocol: str
    fold: str
    task: str
    seed: int
    frontend: str  # the front-end's name (its settings and hash are in the identity)
    classes: list[str]
    scores: dict[str, CorpusScores]  # test corpus -> scores
    curves: list[dict[str, float]]  # mean losses of every epoch (none for a method fitted in one call)
    selection: dict[str, Any]  # the protocol's policy, and what was chosen on training speakers: epoch, settings
    synthetic: bool
    split: dict[str, dict[str, Any]]  # corpus -> train/test speakers and utterance counts
    excluded: dict[str, dict[str, int]]  # corpus -> reason -> utterances
    adaptation: dict[str, Any]  # setting, whether the method read it, adaptation utterances
    normalisation: dict[str, Any]  # mode, groups, whether it used the test part's audio
    probes: dict[str, dict[str, Any]] | None  # domain -> probe UA and classes; None without embeddings
    provenance: dict[str, Any]  # versions, device, host, commit, timings, memory, command line, fused runs
    schema: int = field(default=SCHEMA)

    @property
    def external(self) -> bool:
        """Whether the run scored another toolkit's predictions (`serbench score`) instead of training a method."""
        return "external" in self.identity

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1, sort_keys=True, allow_nan=True) + "\n").encode()

    @classmethod
    def from_dict(cls, data: Any, path: str | Path | None = None) -> RunRecord:
        """A record from its JSON form, checked field by field."""
        def bad(problem: str) -> SerbenchError:
            return SerbenchError(f"not a valid run record: {problem}", path=path,
                                 hint="delete the run's folder: the next sweep trains the run again")

        if not isinstance(data, dict):
            raise bad(f"a JSON {type(data).__name__}, not an object")
        if data.get("schema") != SCHEMA:
            raise bad(f"schema {data.get('schema', 1)!r}, this serbench reads schema {SCHEMA} (re-run the sweep "
                      f"with this serbench version to redo it)")
        hints = typing.get_type_hints(cls)
        values = {}
        for spec in dataclasses.fields(cls):
            if spec.name not in data:
                raise bad(f"it lacks {spec.name!r}")
            values[spec.name] = _checked(spec.name, hints[spec.name], data[spec.name], bad)
        try:
            scores = {corpus: CorpusScores(**s) for corpus, s in values["scores"].items()}
        except TypeError as error:
            raise bad(f"scores: {error}") from None
        for corpus, s in values["scores"].items():
            lacking = [key for key in ("n", "collapsed") if key not in s]
            lacking += [] if "confusion" in s or "rating_sums" in s else ["confusion (or rating_sums)"]
            if lacking:
                raise bad(f"scores: those of {corpus} lack {', '.join(lacking)}")
        return cls(**{**values, "scores": scores})

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        try:
            text = path.read_text()
        except OSError as error:
            raise SerbenchError(f"cannot read the run record ({error.strerror})", path=path,
                                hint="check the results folder's permissions") from None
        try:
            data = json.loads(text)
        except ValueError as error:
            raise SerbenchError(f"not a valid run record: not JSON ({error})", path=path,
                                hint="delete the run's folder: the next sweep trains the run again") from None
        return cls.from_dict(data, path)


def _checked(name: str, hint: Any, value: Any, bad) -> Any:
    """`value` if it has the outer type `hint` names (dict, list, str, int, float, bool, or None where allowed)."""
    origin = typing.get_origin(hint) or hint
    options = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    for option in options:
        outer = typing.get_origin(option) or option
        if option is type(None) and value is None:
            return value
        if outer is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if outer is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if outer in (dict, list, str, bool) and isinstance(value, outer):
            return value
        if outer is Any:
            return value
    raise bad(f"{name!r} is a {type(value).__name__}")
