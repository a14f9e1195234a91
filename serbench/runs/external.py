"""Another toolkit's predictions as runs (`serbench score`): the other half of `serbench splits export`.

A system trained with its own code on the exported folds predicts each fold's test utterances; its file becomes one
run per (fold, seed) in the store, scored and tested on the leaderboards like serbench's own runs and shown as the
front-end `external`. Before anything is stored, everything is checked against the data serbench reads now: the
manifest's protocol settings, classes, folds and each corpus's content fingerprint, and per (fold, seed) that every
labelled test utterance is predicted exactly once, with a known class or posteriors that sum to one.

The predictions file (CSV, or JSON lines with a `.jsonl` name), one row per test utterance and seed:
    corpus, utterance_id   the utterance, as in the fold's file
    fold                   the fold's name or its file's name (may be left out where the protocol has one fold)
    seed                   the seed of the system's run (default 0; the leaderboards pair seeds by number)
    predicted              the predicted class, by name; for a dimensional task the predicted rating, a number
                           on -1 .. 1 as the exported labels are
    p_<class>              the posterior of each class (optional; without them the decision is stored as a
                           posterior of 1 for the predicted class); with posteriors and no `predicted` column,
                           the decision is their argmax. A dimensional task has none.
Rows of test utterances the task leaves unlabelled (the adaptation audio) are skipped and counted.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serbench import __version__
from serbench.errors import SerbenchError
from serbench.files import stable_hash
from serbench.method import discover_methods
from serbench.protocols.protocol import Fold, Protocol, load_protocol
from serbench.runs.export import file_name
from serbench.runs.plan import CorpusData, protocol_data, sweep_frontend
from serbench.runs.prepare import labelled_split, provenance, scored_predictions, split_summaries, split_table
from serbench.runs.record import RunRecord
from serbench.runs.settings import MAX_SEED, SweepConfig
from serbench.runs.store import ResultsStore

FRONTEND = "external"  # what pages show in a system's front-end column
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SUM_TOLERANCE = 1e-3  # posteriors written with a few decimals may miss 1 by this much; they are stored rescaled
COLUMNS = ("corpus", "utterance_id", "fold", "seed", "predicted")


@dataclass
class Scored:
    """One (fold, seed) of a predictions file: its run, and whether the store already had it."""

    record: RunRecord
    tables: dict[str, pd.DataFrame]
    stored_before: bool
    skipped: int  # rows of test utterances the task leaves unlabelled


def score_predictions(predictions: str | Path, name: str, splits: str | Path, *, data: str | None = None,
                      results: str = "results", cache: str | None = None,
                      plugins: Sequence[str] = ()) -> list[Scored]:
    """Check `predictions` (made on the splits whose manifest is `splits`, the file or its folder) against the
    data in `data` and store them in `results` as the runs of the system `name`; return them in (fold, seed)
    order. Nothing is stored unless the whole file passes."""
    check_name(name, plugins)
    manifest_path, manifest = read_manifest(Path(splits))
    config = SweepConfig.create(methods=(), protocol=manifest["reference"], tasks=(manifest["task"],), data=data,
                                results=results, cache=cache)
    protocol = load_protocol(config.protocol)
    corpora, _, folds = protocol_data(protocol, config, sweep_frontend(config, protocol))
    check_manifest(manifest, manifest_path, protocol, corpora, folds)
    path = Path(predictions)
    rows = read_predictions(path, manifest["classes"])
    fold_of = fold_names(rows, folds, path)
    store = ResultsStore(results)
    store.check_writable()
    started, digest = time.time(), hashlib.sha256(path.read_bytes()).hexdigest()
    scored = []
    for (fold_name, _), part in rows.groupby([fold_of, "seed"], sort=True):
        fold = next(f for f in folds if f.name == fold_name)
        record, tables, skipped = external_run(part, name, protocol, fold, manifest, int(part["seed"].iloc[0]),
                                               corpora, path, digest, started)
        scored.append(Scored(record, tables, store.is_done(record.run_id), skipped))
    refuse_replacing(store, scored, results)
    for run in scored:
        if not run.stored_before:
            store.write_run(run.record.run_id, run.record, run.tables)
    return scored


def check_name(name: str, plugins: Sequence[str]) -> None:
    """A system's name: a word pages can show, and no method's (a page would mix the two)."""
    if not NAME.fullmatch(name):
        raise SerbenchError(f"--name {name!r}: a system's name is letters, digits, '.', '_' and '-', starting with "
                            "a letter or digit", hint="e.g. --name wavlm_ft")
    if name in discover_methods(tuple(plugins)):
        raise SerbenchError(f"--name {name}: serbench has a method of that name, and pages would mix the two",
                            hint="name the system after what it is, e.g. --name mylab_wavlm")


def read_manifest(splits: Path) -> tuple[Path, dict[str, Any]]:
    """The manifest `serbench splits export` wrote (the file, or the task folder holding it)."""
    path = splits / "manifest.json" if splits.is_dir() else splits
    try:
        manifest = json.loads(path.read_text())
    except OSError as error:
        raise SerbenchError(f"cannot read the splits' manifest ({error.strerror})", path=path,
                            hint="pass the task folder `serbench splits export` wrote, or its manifest.json") from None
    except ValueError as error:
        raise SerbenchError(f"not a splits manifest: not JSON ({error})", path=path,
                            hint="pass the manifest.json `serbench splits export` wrote") from None
    lacking = [key for key in ("reference", "settings", "task", "classes", "data", "folds")
               if not isinstance(manifest, dict) or key not in manifest]
    if lacking:
        raise SerbenchError(f"not a splits manifest of this serbench: it lacks {', '.join(lacking)}", path=path,
                            hint="export the splits again with `serbench splits export`")
    return path, manifest


def check_manifest(manifest: Mapping[str, Any], path: Path, protocol: Protocol, corpora: Mapping[str, CorpusData],
                   folds: Sequence[Fold]) -> None:
    """Refuse predictions made on splits other than those serbench makes now from the same data and protocol."""
    def refuse(what: str) -> SerbenchError:
        return SerbenchError(f"the predictions were made on other splits than serbench makes now: {what}", path=path,
                             hint="point --data at the data the splits were exported from, or export them again "
                                  "and predict again")

    if json.loads(json.dumps(protocol.to_dict())) != manifest["settings"]:
        raise refuse(f"the protocol {protocol.name} has other settings than when they were exported")
    for corpus, data in sorted(corpora.items()):
        if manifest["data"].get(corpus) != data.fingerprint:
            raise refuse(f"{corpus}'s content fingerprint is {data.fingerprint[:12]}, the manifest's "
                         f"{str(manifest['data'].get(corpus))[:12]} (the corpus's audio or labels changed)")
    exported = [{k: v for k, v in entry.items() if k not in ("file", "utterances")} for entry in manifest["folds"]]
    if json.loads(json.dumps([asdict(fold) for fold in folds])) != exported:
        raise refuse("the protocol's folds differ")


def read_predictions(path: Path, classes: Sequence[str]) -> pd.DataFrame:
    """The predictions file as a table with a `line` column (the file's line of each row), every value checked:
    seeds, class names, posteriors (finite, in [0, 1], summing to one, then rescaled to sum to exactly one); with
    no classes (a dimensional task), predicted ratings."""
    table = read_table(path)
    if not classes:
        return rating_predictions(table, path)
    posteriors = [f"p_{c}" for c in classes]
    given = [c for c in posteriors if c in table]
    unknown = sorted(str(c) for c in table.columns if str(c).startswith("p_") and c not in posteriors)
    if unknown or (given and len(given) < len(posteriors)):
        raise SerbenchError(f"posterior columns {', '.join(unknown or sorted(set(posteriors) - set(given)))} "
                            f"{'are not' if unknown else 'are missing among'} the task's (p_ and a class)",
                            path=path, hint=f"the task's classes: {', '.join(classes)}")
    if "predicted" not in table and not given:
        raise SerbenchError("no prediction: the file has neither a `predicted` column nor posteriors", path=path,
                            hint=f"give `predicted` (a class name: {', '.join(classes)}) or p_<class> columns")
    out = prediction_rows(table, path, ("corpus", "utterance_id"), "predicted")
    if given:
        values = checked_posteriors(table, posteriors, path)
        decided = class_indices(table, classes, path) if "predicted" in table else np.argmax(values, axis=1)
    else:  # a decision alone: all its weight on the predicted class
        decided = class_indices(table, classes, path)
        values = np.eye(len(classes))[decided]
    out["predicted"] = decided
    out[posteriors] = values
    return out


def prediction_rows(table: pd.DataFrame, path: Path, required: Sequence[str], predicted: str) -> pd.DataFrame:
    """What every predictions file gives of its rows, checked: the `required` columns, and the seeds; a table of
    line, corpus, utterance_id, fold and seed. `predicted` says what the `predicted` column holds, for the hint."""
    lacking = [c for c in required if c not in table]
    if lacking:
        raise SerbenchError(f"the file lacks the column(s) {', '.join(lacking)}", path=path,
                            hint=f"one row per test utterance: corpus, utterance_id, fold, seed, {predicted}")
    table["seed"] = seeds(table, path)
    return table[[c for c in ("line", "corpus", "utterance_id", "fold", "seed") if c in table]].copy()


def rating_predictions(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A dimensional task's predictions: `predicted`, a finite number per row, on serbench's scale -1 .. 1."""
    out = prediction_rows(table, path, ("corpus", "utterance_id", "predicted"), "predicted (the rating, on -1 .. 1)")
    posteriors = sorted(str(c) for c in table.columns if str(c).startswith("p_"))
    if posteriors:
        raise SerbenchError(f"posterior columns ({', '.join(posteriors)}) for a dimensional task, which has no "
                            "classes", path=path, hint="give the predicted rating alone, in `predicted`")
    values = pd.to_numeric(table["predicted"], errors="coerce").to_numpy(np.float64)
    wrong = ~np.isfinite(values)
    if wrong.any():
        raise SerbenchError(f"predicted ratings that are not finite numbers on {bad_lines(table, wrong)}", path=path)
    if np.median(np.abs(values)) > 1:  # most of them off the scale: the corpus's own (1-5), not serbench's
        raise SerbenchError(f"most predicted ratings lie outside serbench's scale -1 .. 1 (median |rating| "
                            f"{np.median(np.abs(values)):.2f})", path=path,
                            hint="predict on the scale of the exported labels (-1 .. 1); map a 1-5 rating r to "
                                 "(r - 3) / 2")
    out["predicted"] = values
    return out


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or JSON-lines file as strings (no value read as a number or a missing value behind the user's back),
    with the line each row came from."""
    try:
        text = path.read_text()
    except OSError as error:
        raise SerbenchError(f"cannot read the predictions ({error.strerror})", path=path) from None
    except UnicodeDecodeError:
        raise SerbenchError("the predictions file is not text (UTF-8)", path=path,
                            hint="write CSV or JSON lines") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        records, lines = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise SerbenchError(f"line {number} is not JSON ({error})", path=path) from None
            if not isinstance(row, dict):
                raise SerbenchError(f"line {number} is a JSON {type(row).__name__}, not an object", path=path)
            records.append({k: "" if v is None else str(v) for k, v in row.items()})
            lines.append(number)
        table = pd.DataFrame(records).fillna("")
        table["line"] = lines
    else:
        try:
            table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as error:
            raise SerbenchError(f"not a CSV file ({error})", path=path,
                                hint="write one header line, then one row per utterance") from None
        table["line"] = np.arange(len(table)) + 2  # the header is line 1
    if table.empty:
        raise SerbenchError("the predictions file has no rows", path=path)
    return table


def bad_lines(table: pd.DataFrame, wrong: np.ndarray) -> str:
    """`line 4` or `lines 4, 9, 12 and 3 more` of the rows `wrong` marks."""
    numbers = table["line"].to_numpy()[wrong]
    shown = ", ".join(map(str, numbers[:3]))
    return f"line{'s' if len(numbers) > 1 else ''} {shown}" + (f" and {len(numbers) - 3} more" if len(numbers) > 3
                                                              else "")


def seeds(table: pd.DataFrame, path: Path) -> pd.Series:
    if "seed" not in table:
        return pd.Series(0, index=table.index)
    numbers = pd.to_numeric(table["seed"], errors="coerce")
    wrong = (numbers.isna() | (numbers < 0) | (numbers > MAX_SEED) | (numbers % 1 != 0)).to_numpy()
    if wrong.any():
        raise SerbenchError(f"seed is not an integer from 0 to {MAX_SEED} on {bad_lines(table, wrong)}", path=path)
    return numbers.astype(np.int64)


def class_indices(table: pd.DataFrame, classes: Sequence[str], path: Path) -> np.ndarray:
    index = {name: k for k, name in enumerate(classes)}
    wrong = ~table["predicted"].isin(list(index)).to_numpy()
    if wrong.any():
        values = sorted(set(table["predicted"][wrong]))[:5]
        raise SerbenchError(f"predicted class {', '.join(map(repr, values))} is not one of the task's, on "
                            f"{bad_lines(table, wrong)}", path=path, hint=f"the classes: {', '.join(classes)}")
    return table["predicted"].map(index).to_numpy()


def checked_posteriors(table: pd.DataFrame, columns: Sequence[str], path: Path) -> np.ndarray:
    values = table[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    wrong = ~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1) | (values > 1).any(axis=1)
    if wrong.any():
        raise SerbenchError(f"posteriors that are not numbers in [0, 1] on {bad_lines(table, wrong)}", path=path)
    wrong = np.abs(values.sum(axis=1) - 1) > SUM_TOLERANCE
    if wrong.any():
        raise SerbenchError(f"posteriors that do not sum to one (within {SUM_TOLERANCE}) on "
                            f"{bad_lines(table, wrong)}", path=path,
                            hint="give each utterance's class probabilities (a softmax), not scores")
    return values / values.sum(axis=1, keepdims=True)


def fold_names(rows: pd.DataFrame, folds: Sequence[Fold], path: Path) -> pd.Series:
    """Each row's fold, by its name or its exported file's name; the one fold where the file names none."""
    if "fold" not in rows:
        if len(folds) > 1:
            raise SerbenchError(f"the file has no `fold` column, and the protocol has {len(folds)} folds", path=path,
                                hint=f"name each row's fold: {', '.join(f.name for f in folds)}")
        return pd.Series(folds[0].name, index=rows.index)
    names = {**{file_name(f.name): f.name for f in folds}, **{f.name: f.name for f in folds}}
    wrong = ~rows["fold"].isin(list(names)).to_numpy()
    if wrong.any():
        raise SerbenchError(f"unknown fold {sorted(set(rows['fold'][wrong]))[0]!r} on {bad_lines(rows, wrong)}",
                            path=path, hint=f"the folds: {', '.join(f.name or 'all' for f in folds)}")
    return rows["fold"].map(names)


def external_run(rows: pd.DataFrame, name: str, protocol: Protocol, fold: Fold, manifest: Mapping[str, Any], seed: int,
                 corpora: Mapping[str, CorpusData], path: Path, digest: str,
                 started: float) -> tuple[RunRecord, dict[str, pd.DataFrame], int]:
    """The run of one (fold, seed) of the file: its rows checked against the fold's test part (each labelled test
    utterance once; none of another part), scored, with its record; and how many rows were skipped (test
    utterances the task leaves unlabelled)."""
    task, classes = manifest["task"], list(manifest["classes"])
    described, split, labelled = labelled_split(protocol, fold, task, corpora)
    if list(described.classes) != classes:
        raise SerbenchError(f"the task {task} has the classes {', '.join(described.classes)} now, and the manifest "
                            f"{', '.join(classes)}", hint="export the splits again and predict again")
    used = pd.concat([part.table for part in labelled.values()])
    test = used[used["part"] == "test"].sort_values(["corpus", "utterance_id"]).reset_index(drop=True)
    where = f"fold {fold.name or 'all'}, seed {seed}"
    keys = pd.MultiIndex.from_frame(rows[["corpus", "utterance_id"]])
    twice = keys.duplicated()
    if twice.any():
        raise SerbenchError(f"{where}: an utterance predicted more than once, on {bad_lines(rows, twice)}",
                            path=path, hint="one row per test utterance and seed")
    parts = split.set_index(["corpus", "utterance_id"])["part"]
    part = pd.Series(parts.reindex(keys).to_numpy(), index=rows.index)
    for wrong, what in ((part.isna(), "an utterance not in the fold"),
                        (part.notna() & (part != "test"), "an utterance of the fold's training or validation part")):
        if wrong.any():
            raise SerbenchError(f"{where}: {what}, on {bad_lines(rows, wrong.to_numpy())}", path=path,
                                hint="predict the test part of each fold's file, under that fold's name")
    tested = pd.MultiIndex.from_frame(test[["corpus", "utterance_id"]])
    scorable = keys.isin(tested)
    missing = tested[~tested.isin(keys)]
    if len(missing):
        raise SerbenchError(f"{where}: {len(missing)} of the {len(tested)} labelled test utterances have no "
                            f"prediction, e.g. {'/'.join(missing[0])}", path=path,
                            hint="predict every test utterance of the fold")
    mine = rows[scorable].set_index(["corpus", "utterance_id"]).loc[tested]
    predictions, scores = scored_predictions(test, classes, mine["predicted"].to_numpy(),
                                             mine[[f"p_{c}" for c in classes]].to_numpy())
    identity = {"method": name, "code": FRONTEND, "hparams": {}, "protocol": protocol.to_dict(),
                "fold": asdict(fold), "task": task, "seed": seed,
                "data": {c: corpora[c].fingerprint for c in dict.fromkeys((*fold.train, *fold.test))},
                "frontend": {"name": FRONTEND, "hash": FRONTEND},
                # the predictions themselves: other predictions of the same system are another run
                "external": stable_hash(predictions.to_dict(orient="list")), "serbench": __version__}
    record = RunRecord(
        run_id=stable_hash(identity, 20), identity=identity, method=name, protocol=protocol.name, fold=fold.name,
        task=task, seed=seed, frontend=FRONTEND, classes=classes, scores=scores, curves=[],
        selection={"policy": FRONTEND}, synthetic=any(corpora[c].synthetic for c in identity["data"]),
        split=split_summaries(labelled), excluded={c: part.excluded for c, part in labelled.items()},
        adaptation={"setting": protocol.adaptation, "read_by_method": None, "utterances": 0},
        normalisation={"mode": FRONTEND, "uses_test_audio": None},
        probes=None,
        provenance={**provenance_of(started), "predictions": {"file": str(path.resolve()), "sha256": digest,
                                                              "rows": len(rows)}},
    )
    return record, {"predictions": predictions, "split": split_table(split)}, int((~scorable).sum())


def provenance_of(started: float) -> dict[str, Any]:
    """A scoring's provenance: versions, host, commit, time and command, as a trained run's (without a device)."""
    import torch

    return {**provenance(torch.device("cpu"), started, 0.0), "device": None}


def refuse_replacing(store: ResultsStore, scored: Sequence[Scored], results: str) -> None:
    """Refuse to store a (fold, seed) of a system that the store holds from other predictions, or a system whose
    name its trained runs already use: a page would show both."""
    new = {(r.record.method, r.record.protocol, r.record.task, r.record.fold, r.record.seed): r.record.run_id
           for r in scored}
    for old in store.records():
        key = (old.method, old.protocol, old.task, old.fold, old.seed)
        if old.method == scored[0].record.method and not old.external:
            raise SerbenchError(f"the store holds runs of a trained method named {old.method}", path=store.root,
                                hint="choose another --name")
        if key in new and new[key] != old.run_id:
            raise SerbenchError(f"the store holds other predictions of {old.method} for fold {old.fold or 'all'}, "
                                f"seed {old.seed} (run {old.run_id}); nothing was stored", path=store.root,
                                hint=f"remove them first (serbench prune --results {results} --method {old.method} "
                                     f"--protocol '{old.protocol}' --yes), or choose another --name")
