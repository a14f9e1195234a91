"""A protocol's splits as files another toolkit reads (`serbench splits export`), so that a system trained with
its own code is trained and tested on exactly the utterances serbench's runs are.

For each task of the protocol, under `out/<task>/`:
    manifest.json       the protocol and its settings, the task's classes in their index order (a dimensional
                        task: none, and the rating and its scale), the content fingerprint of every corpus
                        (docs/cache.md), and one entry per fold with its file
    <fold>.csv          one row per utterance of the fold: utterance_id, corpus, path, speaker, part, label (a
                        dimensional task's: the rating on serbench's scale -1 .. 1, which its scores compare with)
    (or <fold>.jsonl)   (`--format jsonl`: the same rows as JSON lines)
A fold's parts are those of its runs: `train`, `validation` where the protocol holds training speakers out, and
`test`; under adaptation to the test corpora, the test part's utterances the task leaves unlabelled are there too,
as `unlabelled-test` with no label (its labelled ones are the unlabelled audio a method may read as well). Folds do
not depend on the seed: every seed of a run uses the same split.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from serbench import __version__
from serbench.data.labels import RATING_RANGE, Task
from serbench.errors import SerbenchError
from serbench.files import write_atomic
from serbench.protocols.protocol import PARTS, Fold, Protocol, split_reference
from serbench.runs.plan import CorpusData, protocol_data, sweep_frontend, sweep_protocol, sweep_tasks
from serbench.runs.prepare import labelled_split
from serbench.runs.settings import SweepConfig

FORMATS = ("csv", "jsonl")
COLUMNS = ["utterance_id", "corpus", "path", "speaker", "part", "label"]


def export_splits(config: SweepConfig, out: str | Path, file_format: str = "csv") -> list[Path]:
    """Write the splits of `config`'s protocol, for its tasks (all of the protocol's when none are given), under
    `out`; return the written files. The corpora are read as a sweep reads them (their features are cached on
    the way: the content fingerprints come from there)."""
    if file_format not in FORMATS:
        raise SerbenchError(f"unknown format {file_format!r}", hint=f"use one of: {', '.join(FORMATS)}")
    protocol = sweep_protocol(config)
    tasks = sweep_tasks(config, protocol)
    corpora, _, folds = protocol_data(protocol, config, sweep_frontend(config, protocol))
    written = []
    for task_name in tasks:
        folder = Path(out) / task_name
        folder.mkdir(parents=True, exist_ok=True)
        entries, classes, rating = [], [], {}
        for fold in folds:
            task, rows = fold_rows(protocol, fold, task_name, corpora)
            classes = list(task.classes)
            rating = {"rating": task.rating, "rating_range": list(RATING_RANGE)} if task.rating else {}
            path = folder / f"{file_name(fold.name)}.{file_format}"
            write_atomic(path, table_bytes(rows, file_format))
            written.append(path)
            entries.append({**asdict(fold), "file": path.name, "utterances": rows["part"].value_counts().to_dict()})
        manifest = {"serbench": __version__, "protocol": protocol.name,
                    "reference": protocol_reference(config, protocol), "settings": protocol.to_dict(),
                    "task": task_name, "classes": classes, **rating,
                    "data": {name: data.fingerprint for name, data in corpora.items()},
                    "seeds": "every seed of a run uses the same folds", "folds": entries}
        write_atomic(folder / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
        written.append(folder / "manifest.json")
    return written


def protocol_reference(config: SweepConfig, protocol: Protocol) -> str:
    """What loads the sweep's protocol again (`serbench score` does): its name, which holds its parameters and the
    keys the sweep set (`cross[normalisation=utterance]`), with its file's absolute path for a file."""
    path = Path(split_reference(config.protocol)[0])
    return str(path.resolve()) + protocol.name[len(path.stem):] if path.suffix == ".toml" else protocol.name


def fold_rows(protocol: Protocol, fold: Fold, task_name: str,
              corpora: Mapping[str, CorpusData]) -> tuple[Task, pd.DataFrame]:
    """One fold's rows: the utterances its runs train, validate and test on, with their class names, and under
    adaptation to the test corpora the test part's utterances the task leaves unlabelled."""
    task, split, labelled = labelled_split(protocol, fold, task_name, corpora)
    rows = pd.concat([part.table for part in labelled.values()], ignore_index=True)
    if task.rating is not None:  # what a rating is scored against: its value on serbench's scale
        rows["label"] = rows["y"]
    if protocol.adaptation == "unlabelled-test":
        test = split[split["part"] == "test"]
        labelled_test = set(zip(rows["corpus"], rows["utterance_id"], strict=True))
        unlabelled = [key not in labelled_test for key in zip(test["corpus"], test["utterance_id"], strict=True)]
        rows = pd.concat([rows, test[unlabelled].assign(part="unlabelled-test", label=None)], ignore_index=True)
    order = {part: i for i, part in enumerate((*PARTS, "unlabelled-test"))}
    rows = rows.sort_values(["part", "corpus", "utterance_id"], key=lambda c: c.map(order) if c.name == "part" else c)
    return task, rows[COLUMNS].reset_index(drop=True)


def file_name(fold: str) -> str:
    """A fold's file name: its name with anything but letters, digits, '.', '_' and '-' as '_' ("all" for the
    one fold of a corpus split)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", fold) or "all"


def table_bytes(rows: pd.DataFrame, file_format: str) -> bytes:
    if file_format == "csv":
        return rows.to_csv(index=False).encode()
    return "".join(json.dumps(row) + "\n" for row in rows.to_dict(orient="records")).encode()
