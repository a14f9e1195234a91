"""The results store: one folder per finished run, written so that nothing is ever half there.

Layout under the results folder (default ./results):
    runs/<run id>/record.json          identity, scores, curves, provenance (plain JSON)
    runs/<run id>/<table>.parquet      per-utterance predictions, the split (readable by pandas, arrow, R, ...)
    runs/<run id>/checksums.json       sizes and SHA-256 of the other files (serbench.integrity), checked on reading
    failed/<run id>.json               the spec and traceback of a run that raised (removed once it succeeds)
    claims/<run id>.claim              who is running it now (host, pid); stale claims are taken over
A run is complete exactly when runs/<run id>/ exists: its files are written into a temporary folder and the
folder is renamed, which is atomic. `kill -9` at any moment leaves at most a temporary folder and a claim of a
dead process, both ignored and cleaned by the next sweep. Workers on several machines sharing the folder
coordinate through claim files created with O_EXCL; if two ever compute the same run, the first rename wins.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import socket
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from serbench.errors import SerbenchError
from serbench.files import pid_alive, publish_dir, write_atomic
from serbench.integrity import damage, write_checksums
from serbench.metrics import METRICS, prediction_statistic, statistic_scores
from serbench.runs.record import CorpusScores, RunRecord

# A claim whose owner cannot be checked (it runs on another host) is stale when its heartbeat, refreshed every
# epoch, is older than this.
STALE_CLAIM_SECONDS = 2 * 3600
# How far a stored posterior row may sum from 1: float32 means of softmax rows stray by ~1e-7, logits by far more.
POSTERIOR_TOLERANCE = 1e-4
# The tokens of claims this process could not release (the results filesystem turned read-only): stale to this
# process, whose next sweep (a notebook's `run`) takes them over; to others they are stale as any claim of a
# dead worker is, once this process ends (at once on this host, after STALE_CLAIM_SECONDS on another).
ABANDONED_CLAIMS: set[str] = set()
UNWRITABLE_STORE = ("make the results folder writable again (a filesystem remounted read-only: remount it; a full "
                    "disk: free space), then run the same command: stored runs are kept and the rest is trained")


def json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, allow_nan=True) + "\n").encode()


def variant_label(settings: Mapping[str, object], keys: Iterable[str]) -> str:
    """`[gamma=0.5,lr=1]`: the values of `keys` among `settings`, or "" when there are none."""
    shown = ",".join(f"{key}={settings[key]}" for key in sorted(keys))
    return f"[{shown}]" if shown else ""


def variant_names(records: Sequence[RunRecord], always: Iterable[str] = ()) -> dict[str, str]:
    """run id -> its method's name with the settings in which that method's variants among `records` differ
    (hyperparameters, the front-end's name, and the method's code or serbench's version), plus the keys in
    `always`: `dann2_cs[gamma=0.5]`, `baseline_s[frontend=logmel]`. A method with a single variant keeps its plain
    name."""
    def settings(record: RunRecord) -> dict[str, object]:
        identity = record.identity
        return {**identity["hparams"], "frontend": record.frontend, "code": str(identity.get("code", ""))[:8],
                "serbench": identity["serbench"]}

    variants: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        variants[record.method].append(settings(record))
    names = {}
    for record in records:
        own, others = settings(record), variants[record.method]
        keys = {k for k in own if len({json.dumps(v.get(k), sort_keys=True) for v in others}) > 1}
        names[record.run_id] = record.method + variant_label(own, keys | (set(always) & set(own)))
    return names


def name_variants(records: Sequence[RunRecord], always: Iterable[str] = ()) -> list[RunRecord]:
    """The records with each method named by its variant (variant_names), so that tables keep variants apart."""
    names = variant_names(records, always)
    return [dataclasses.replace(r, method=names[r.run_id]) for r in records]


def record_damage(folder: Path, record: RunRecord) -> list[str]:
    """Where a finished run's record disagrees with its folder or with itself (empty when all agree): the folder's
    name and the record's run id; each test corpus's scores and its statistic (confusion matrix, or a dimensional
    task's rating sums); the predictions table and those statistics; the predicted utterances and the test part of
    split.parquet. Checksums cannot see these: a score edited or a table copied from another run with checksums
    recomputed, run folders renamed or exchanged."""
    found = []
    if record.run_id != folder.name:
        found.append(f"its record is that of run {record.run_id}, not {folder.name} (run folders renamed or "
                     "exchanged?)")
    target = "classes" if record.classes else "ratings"
    statistics = {}
    for corpus, stored in sorted(record.scores.items()):
        statistic = _statistic(stored, len(record.classes))
        if statistic is None:
            found.append(f"the confusion matrix of {corpus} is not {len(record.classes)} x {len(record.classes)} "
                         "counts" if record.classes else f"the rating sums of {corpus} are not 6 numbers from n "
                                                         "utterances")
            continue
        statistics[corpus] = statistic
        computed = statistic_scores(statistic, target)
        keys = [*(name for name, metric in METRICS.items() if metric.target == target), "n"]
        wrong = [f"{key} {getattr(stored, key)!r}, not {computed[key]!r}" for key in keys
                 if not _same(getattr(stored, key), computed[key])]
        if wrong:
            found.append(f"the scores of {corpus} disagree with its "
                         f"{'confusion matrix' if record.classes else 'rating sums'}: {', '.join(wrong)}")
    return found + _predictions_damage(folder, record, statistics)


def _statistic(stored: CorpusScores, size: int) -> np.ndarray | None:
    """A corpus's stored statistic, if it has the shape its target gives it: a size x size matrix of counts, or
    (no classes) six finite rating sums whose n is a count."""
    try:
        statistic = np.asarray(stored.confusion if size else stored.rating_sums)
    except ValueError:  # ragged rows
        return None
    if size:
        good = statistic.shape == (size, size) and np.issubdtype(statistic.dtype, np.integer) and \
            not (statistic < 0).any()
    else:
        good = statistic.shape == (6,) and bool(np.isfinite(statistic).all()) and statistic[0] >= 0 and \
            float(statistic[0]).is_integer()
    return statistic if good else None


def _same(a: float | None, b: float) -> bool:
    return a is not None and ((math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))


def _predictions_damage(folder: Path, record: RunRecord, statistics: Mapping[str, np.ndarray]) -> list[str]:
    """What is wrong with predictions.parquet against the record's `statistics` (confusion matrices or rating
    sums) and split.parquet."""
    if not (folder / "predictions.parquet").is_file():
        return ["it has scores but no predictions.parquet"] if record.scores else []
    try:
        predictions = pd.read_parquet(folder / "predictions.parquet")
    except (OSError, ValueError) as error:
        return [f"predictions.parquet cannot be read ({error})"]
    posteriors = [f"p_{name}" for name in record.classes]
    missing = [c for c in ("utterance_id", "corpus", "y", "predicted", *posteriors) if c not in predictions]
    if missing:
        return [f"predictions.parquet lacks the column(s) {', '.join(missing)}"]
    size = len(record.classes)
    labels = predictions[["y", "predicted"]].to_numpy()
    if size and (not np.issubdtype(labels.dtype, np.integer) or
                 (labels.size and not (0 <= labels.min() <= labels.max() < size))):
        return [f"predictions.parquet: y and predicted are not class numbers 0 .. {size - 1}"]
    if not size and (not np.issubdtype(labels.dtype, np.floating) or not np.isfinite(labels).all()):
        return ["predictions.parquet: y and predicted are not finite ratings"]
    found = []
    for corpus in sorted(set(map(str, predictions["corpus"].unique())) | set(record.scores)):
        rows = predictions[predictions["corpus"] == corpus]
        if corpus not in record.scores:
            found.append(f"predictions.parquet holds {len(rows)} utterance(s) of {corpus}, which the record does "
                         "not score")
        elif corpus in statistics and not _reproduces(rows, statistics[corpus], size):
            found.append(f"predictions.parquet does not reproduce the "
                         f"{'confusion matrix' if size else 'rating sums'} of {corpus} ({len(rows)} predictions, "
                         f"n = {record.scores[corpus].n} in the record)")
    if not size:
        return found + _coverage_damage(folder, predictions)
    try:
        values = predictions[posteriors].to_numpy(np.float64)
    except (ValueError, TypeError):
        return [*found, f"predictions.parquet: the posteriors ({', '.join(posteriors)}) are not numbers"]
    bad = (~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1) | (values > 1).any(axis=1)
           | (np.abs(values.sum(axis=1) - 1) > POSTERIOR_TOLERANCE))
    if bad.any():
        found.append(f"predictions.parquet: the posteriors of {int(bad.sum())} of {len(values)} utterances are not "
                     f"probabilities (finite, in [0, 1], summing to 1), e.g. row {int(np.argmax(bad))}")
    return found + _coverage_damage(folder, predictions)


def _reproduces(rows: pd.DataFrame, statistic: np.ndarray, size: int) -> bool:
    """Whether a corpus's predictions give its stored statistic (rating sums up to rounding)."""
    found = prediction_statistic(rows["y"].to_numpy(), rows["predicted"].to_numpy(), size)
    return bool(np.array_equal(found, statistic) if size else np.allclose(found, statistic, rtol=1e-9, atol=1e-9))


def _coverage_damage(folder: Path, predictions: pd.DataFrame) -> list[str]:
    """Whether the predictions cover the test part of split.parquet: each predicted utterance in it, none twice."""
    if not (folder / "split.parquet").is_file():  # serbench writes one with every run; hand-made stores may lack it
        return []
    try:
        split = pd.read_parquet(folder / "split.parquet")
        tested = split[split["part"] == "test"]
        test = set(zip(tested["corpus"], tested["utterance_id"], strict=True))
    except (OSError, ValueError, KeyError) as error:
        return [f"split.parquet cannot be read ({type(error).__name__}: {error})"]
    predicted = list(zip(predictions["corpus"], predictions["utterance_id"], strict=True))
    found = []
    twice = sorted((key for key, count in Counter(predicted).items() if count > 1), key=str)
    if twice:
        found.append(f"predictions.parquet predicts {len(twice)} utterance(s) more than once, e.g. "
                     f"{'/'.join(map(str, twice[0]))}")
    outside = sorted(set(predicted) - test, key=str)
    if outside:
        found.append(f"predictions.parquet predicts {len(outside)} utterance(s) outside the test part of "
                     f"split.parquet, e.g. {'/'.join(map(str, outside[0]))}")
    return found


class ResultsStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs, self.failed, self.claims = self.root / "runs", self.root / "failed", self.root / "claims"

    def check_writable(self) -> None:
        """A SerbenchError, before any work, if runs could not be stored here: the path is a file, lies under a
        file, or is not writable."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            problem = ("is a file, not a folder" if self.root.is_file() else
                       "lies under a file" if isinstance(error, NotADirectoryError | FileExistsError) else
                       f"cannot be written ({error.strerror or error})")
            raise SerbenchError(f"the results folder {problem}", path=self.root,
                                hint="give --results a folder you can write to (it is created if missing)") from None

    def is_done(self, run_id: str) -> bool:
        return (self.runs / run_id / "record.json").is_file()

    def done_ids(self) -> set[str]:
        """The runs stored whole (a folder with its record; temporary folders and stray files are not runs)."""
        if not self.runs.is_dir():
            return set()
        return {p.name for p in self.runs.iterdir() if not p.name.startswith(".") and (p / "record.json").is_file()}

    def failure(self, run_id: str) -> dict | None:
        """The failure record of a run that raised (None if there is none): spec, traceback ("error") and the
        error in one line ("message"). A damaged record still says the run failed, and what to do."""
        path = self.failed / f"{run_id}.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("error", ""), str):
                raise ValueError("not a failure record")
        except (OSError, ValueError):
            return {"spec": {}, "error": "", "message": f"its failure record {path} is damaged: delete it, and the "
                                                        "next sweep tries the run again"}
        data.setdefault("message", (data.get("error", "").strip().splitlines() or ["unknown error"])[-1])
        return data

    def write_run(self, run_id: str, record: RunRecord, tables: Mapping[str, pd.DataFrame]) -> bool:
        """Store a finished run atomically. False when another worker stored it first (theirs is kept). A write
        error (a full disk) is a SerbenchError, and nothing half-written stays."""
        final = self.runs / run_id
        tmp = self.runs / f".tmp-{run_id}-{uuid.uuid4().hex}"
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
            if final.is_dir() and not (final / "record.json").is_file():  # debris, not a run: it would block it
                shutil.rmtree(final)
            tmp.mkdir()
            for name, table in tables.items():
                table.to_parquet(tmp / f"{name}.parquet", index=False)
            (tmp / "record.json").write_bytes(record.to_json())
            write_checksums(tmp)
            if not publish_dir(tmp, final):  # a concurrent worker finished the same run first
                return False
        except OSError as error:
            raise SerbenchError(f"cannot store run {run_id} ({error.strerror or error})",
                                path=error.filename or self.runs,
                                hint="free disk space or give --results a writable folder; the same command "
                                     "then trains the runs not stored") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (self.failed / f"{run_id}.json").unlink(missing_ok=True)
        return True

    def write_failure(self, run_id: str, spec: Mapping, error: str, message: str = "") -> None:
        """Record a failed run: its spec, the traceback (`error`) and the error itself in one line (`message`,
        what the console shows; by default the traceback's last line)."""
        self.failed.mkdir(parents=True, exist_ok=True)
        message = message or (error.strip().splitlines() or [""])[-1]
        write_atomic(self.failed / f"{run_id}.json", json_bytes({"spec": dict(spec), "error": error,
                                                                 "message": message, "time": time.time()}))

    def _inspect(self, run_id: str) -> tuple[RunRecord | None, list[str]]:
        """A finished run's record (None when its folder is not whole) and what is wrong with its folder: a link
        (a run folder replaced by a link to another would hide one run and count the other twice), files that
        differ from their checksums, a record at odds with its folder (record_damage). A record that cannot be
        read raises its own error, naming record.json."""
        folder = self.runs / run_id
        if folder.is_symlink():
            return None, [f"it is a symbolic link to {os.readlink(folder)}, not a run folder of its own"]
        if folder.resolve().parent != self.runs.resolve():
            return None, [f"it lies at {folder.resolve()}, outside {self.runs}"]
        found = damage(folder)
        if found:
            return None, found
        record = RunRecord.read(folder / "record.json")
        return record, record_damage(folder, record)

    def damage(self, run_id: str) -> list[str]:
        """What is wrong with a finished run's folder (empty when it is whole: ResultsStore.record)."""
        try:
            return self._inspect(run_id)[1]
        except SerbenchError as error:
            return [error.message]

    def record(self, run_id: str) -> RunRecord:
        """A finished run's record, its folder checked: no link, its files against their checksums, the record
        against its folder's name and tables (record_damage). Damage is an error naming the folder."""
        record, found = self._inspect(run_id)
        if record is None or found:
            raise SerbenchError(f"run folder damaged: {'; '.join(found)}", path=self.runs / run_id,
                                hint=f"remove it (`serbench prune --damaged --results {self.root} --yes`); the next "
                                     "sweep trains the run again")
        return record

    def table(self, run_id: str, name: str) -> pd.DataFrame:
        self.record(run_id)
        return pd.read_parquet(self.runs / run_id / f"{name}.parquet")

    def read_all(self) -> tuple[dict[str, RunRecord], dict[str, SerbenchError]]:
        """Every finished run, in run-id order: the records of the whole ones, and the error of each damaged one."""
        records, damaged = {}, {}
        for run_id in sorted(self.done_ids()):
            try:
                records[run_id] = self.record(run_id)
            except SerbenchError as error:
                damaged[run_id] = error
        return records, damaged

    def records(self) -> list[RunRecord]:
        """Every finished run's record, in run-id order; damaged runs are one error that lists them all."""
        records, damaged = self.read_all()
        if damaged:
            listed = "\n    ".join(f"{error.path}: {error.message}" for error in damaged.values())
            raise SerbenchError(f"{len(damaged)} damaged run folder(s):\n    {listed}",
                                hint=f"remove them (`serbench prune --damaged --results {self.root} --yes`); the "
                                     "next sweep trains those runs again")
        return list(records.values())

    def remove(self, run_id: str) -> None:
        """Delete a run (its folder and any failure record): the next sweep that plans it trains it again. The
        folder is renamed away first, so no reader ever sees half of it."""
        folder = self.runs / run_id
        if folder.is_symlink():  # a link where a run folder should be: remove the link, never what it points to
            folder.unlink()
        elif folder.is_dir():
            grave = self.runs / f".tmp-{run_id}-{uuid.uuid4().hex}-removed"
            os.rename(folder, grave)
            shutil.rmtree(grave, ignore_errors=True)
        (self.failed / f"{run_id}.json").unlink(missing_ok=True)

    def failed_ids(self) -> set[str]:
        """The runs with a failure record and no finished folder."""
        if not self.failed.is_dir():
            return set()
        return {p.stem for p in self.failed.glob("*.json") if not p.name.startswith(".")} - self.done_ids()

    @contextmanager
    def claim(self, run_id: str) -> Iterator[bool]:
        """Claim `run_id` for this process; yields False when a live worker holds it. Released on exit. A store that
        cannot be written is a SerbenchError naming claims/."""
        path = self.claims / f"{run_id}.claim"
        token = uuid.uuid4().hex
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "token": token}
        try:
            self.claims.mkdir(parents=True, exist_ok=True)
            got = self._create_claim(path, owner) or (self._is_stale(path) and self._take_over(path, owner))
        except OSError as error:
            raise SerbenchError(f"cannot claim run {run_id} ({error.strerror or error})", path=self.claims,
                                hint=UNWRITABLE_STORE) from None
        try:
            yield got
        finally:
            if got and self._owner(path).get("token") == token:
                try:
                    path.unlink(missing_ok=True)
                except OSError:  # read-only now: raising here would hide the error that ends the sweep
                    ABANDONED_CLAIMS.add(token)

    def live_claims(self) -> dict[str, dict]:
        """run id -> owner (host, pid) of every run a live worker holds now (is_claimed), from one listing."""
        if not self.claims.is_dir():
            return {}
        return {path.stem: self._owner(path) for path in self.claims.glob("*.claim") if self.is_claimed(path.stem)}

    def is_claimed(self, run_id: str) -> bool:
        """Whether a live worker is running `run_id` now."""
        path = self.claims / f"{run_id}.claim"
        return path.exists() and not self._is_stale(path)

    def heartbeat(self, run_id: str) -> None:
        """Show that the claim's owner is still working (claims on other hosts go stale without this)."""
        (self.claims / f"{run_id}.claim").touch(exist_ok=True)

    def clean(self) -> None:
        """Remove what killed workers left: temporary run folders, and claims of dead processes."""
        if self.runs.is_dir():
            for tmp in self.runs.glob(".tmp-*"):
                if not self.is_claimed(tmp.name.split("-")[1]):
                    shutil.rmtree(tmp, ignore_errors=True)
        if self.claims.is_dir():
            for path in self.claims.glob("*.claim"):
                if self._is_stale(path):
                    path.unlink(missing_ok=True)

    @staticmethod
    def _create_claim(path: Path, owner: dict) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(owner, handle)
        except OSError:  # a full disk: an empty claim would hold the run for a minute
            path.unlink(missing_ok=True)
            raise
        return True

    @staticmethod
    def _owner(path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # gone, or being written this instant
            return {}

    def _is_stale(self, path: Path) -> bool:
        owner = self._owner(path)
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return False
        if owner.get("token") in ABANDONED_CLAIMS:  # this process's own, left behind by a read-only store
            return True
        if age > STALE_CLAIM_SECONDS:  # no heartbeat for that long: dead, whatever owns its pid now
            return True
        if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
            return not pid_alive(owner["pid"])
        return not owner and age > 60  # empty: its writer was killed while creating it

    def _take_over(self, path: Path, owner: dict) -> bool:
        # Rename the stale claim away first, so that of several workers taking it over only one succeeds.
        grave = path.with_name(f".{path.name}.{uuid.uuid4().hex}.stale")
        try:
            os.rename(path, grave)
        except FileNotFoundError:
            return False
        grave.unlink(missing_ok=True)
        return self._create_claim(path, owner)
