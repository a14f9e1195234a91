"""The feature cache: every corpus's features from one front-end, computed once and memory-mapped by every run.

Layout (docs/frontends.md): <cache root>/features/<corpus>-<key>/ holding features.npy (rows, *row shape)
float32, index.parquet (utterance_id, start, stop: the utterance's rows of features.npy), skipped.json,
meta.json and checksums.json (serbench.integrity: quickly checked on every open, in full by `serbench verify
--cache` and `serbench data check`). The key hashes the front-end and its settings and a stat fingerprint of the input
(relative path, size and mtime_ns of every audio file with its utterance id, the labels table, the
corpus's read problems), so any change selects a new directory. A cache is built in a temporary
directory next to the final one and renamed into place, so readers only ever see complete caches.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from serbench import __version__
from serbench.data.audio import audio_length, decode_audio
from serbench.data.corpora import problems_error
from serbench.data.corpora.schema import Corpus
from serbench.errors import Problem, SerbenchError
from serbench.features.frontends import make_frontend
from serbench.features.frontends.base import FrontEnd
from serbench.features.normalisation import Moments, segment_moments
from serbench.files import CACHE_ENV_VAR, cache_root, clean_stale_temp_dirs, make_temp_dir, publish_dir
from serbench.integrity import CHECKSUMS, damage, write_checksums

# Bump when the features or the files of a cache change meaning; it is part of every cache key and run identity
# (3: checksums.json; 4: audio resampled by a designed polyphase filter, serbench.data.audio).
CACHE_FORMAT = 4
FILES = ("features.npy", "index.parquet", "skipped.json", "meta.json", CHECKSUMS)
REBUILD = "delete this directory; the next run rebuilds it"
CHUNK_BYTES = 64 << 20  # features read at a time by the full check's finiteness pass (caches can outgrow memory)

Progress = Callable[[float, float], None]


@dataclass
class FeatureSet:
    """A complete feature cache, opened read-only."""

    path: Path
    features: np.ndarray  # memory-mapped (segments, frames, bins) float32
    index: pd.DataFrame  # utterance_id, start, stop, sha256 (of the audio file's bytes)
    skipped: list[Problem]  # the corpus's read problems, then the audio files left out
    meta: dict
    _rows: dict[str, tuple[int, int]] = field(init=False, repr=False)
    _moments: Moments | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rows = {u: (int(a), int(b)) for u, a, b in self.index[["utterance_id", "start", "stop"]].itertuples(
            index=False)}

    @classmethod
    def load(cls, path: str | Path, *, full: bool = False) -> FeatureSet:
        """Open a cache, checked against its checksums (quickly, or every byte with `full`, which also refuses
        NaN or infinite features) and for an index that tiles its rows: a damaged cache is an error that says how
        to rebuild it."""
        path = Path(path)
        missing = [name for name in FILES if not (path / name).is_file()]
        if missing:
            raise SerbenchError(f"not a complete feature cache (missing {', '.join(missing)})", path=path,
                                hint=REBUILD)
        found = damage(path, full=full)
        if found:
            raise SerbenchError(f"damaged feature cache: {'; '.join(found)}", path=path, hint=REBUILD)
        try:
            skipped = json.loads((path / "skipped.json").read_text())
            problems = [Problem(**p) for p in skipped["corpus"] + skipped["audio"]]
            features = np.load(path / "features.npy", mmap_mode="r")  # refuses pickled data
            index = pd.read_parquet(path / "index.parquet")
            meta = json.loads((path / "meta.json").read_text())
            if not isinstance(meta, dict):
                raise TypeError("meta.json is not a JSON object")
            starts, stops = index["start"].to_numpy(), index["stop"].to_numpy()
        except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
            raise SerbenchError(f"damaged feature cache: {type(error).__name__}: {error}", path=path,
                                hint=REBUILD) from None
        if not (len(index) and starts[0] == 0 and (stops > starts).all() and (starts[1:] == stops[:-1]).all()
                and stops[-1] == len(features)):
            raise SerbenchError("damaged feature cache: its index does not tile the feature rows", path=path,
                                hint=REBUILD)
        bad = _nonfinite_row(features) if full else None
        if bad is not None:  # checksums recomputed over bad features would pass; a model would learn NaN
            utterance = index["utterance_id"].iloc[int(np.searchsorted(stops, bad, side="right"))]
            raise SerbenchError(f"damaged feature cache: features.npy holds NaN or infinite values (row {bad}, "
                                f"utterance {utterance})", path=path, hint=REBUILD)
        return cls(path, features, index, problems, meta)

    def utterance_rows(self, utterance_id: str) -> np.ndarray:
        """The rows (n, *row shape) of one utterance."""
        start, stop = self._range(utterance_id)
        return self.features[start:stop]

    def rows(self, utterance_ids: Iterable[str]) -> np.ndarray:
        """The feature rows of all segments of `utterance_ids`, in that order (e.g. for fit_normaliser)."""
        ranges = [self._range(u) for u in utterance_ids]
        return np.concatenate([np.arange(start, stop) for start, stop in ranges] or [np.zeros(0, np.int64)])

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The axes of a row that normalisation treats as features: all of a vector's, else the last one."""
        row = tuple(self.features.shape[1:])
        return row if self.meta.get("kind") == "vectors" else row[-1:]

    def moments(self, utterance_ids: Iterable[str]) -> Moments:
        """Each utterance's feature moments (frames, mean and squared deviations per bin), in the order given:
        what normalisation statistics are merged from. One pass over the cache, on first use."""
        if self._moments is None:
            counts = (self.index["stop"] - self.index["start"]).to_numpy()
            owner = np.repeat(np.arange(len(self.index)), counts)
            self._moments = segment_moments(self.features, self.rows(self.index["utterance_id"]), owner,
                                            len(self.index), feature_dims=len(self.feature_shape))
        position = self._position(utterance_ids)
        return Moments(self._moments.count[position], self._moments.mean[position], self._moments.m2[position])

    def _position(self, utterance_ids: Iterable[str]) -> np.ndarray:
        positions = pd.Series(np.arange(len(self.index)), index=self.index["utterance_id"])
        ids = list(utterance_ids)
        missing = [u for u in ids if u not in positions.index]
        if missing:
            self._range(missing[0])  # raises the error that names the cache
        return positions.loc[ids].to_numpy()

    def _range(self, utterance_id: str) -> tuple[int, int]:
        try:
            return self._rows[utterance_id]
        except KeyError:
            raise SerbenchError(f"utterance {utterance_id!r} is not in this feature cache", path=self.path,
                                hint="it was skipped as bad audio, or belongs to another corpus") from None


def build_features(corpus: Corpus, frontend: FrontEnd | None = None, *,
                   cache_dir: str | Path | None = None, skip_bad: bool = False, jobs: int | None = None,
                   progress: Progress | None = None) -> FeatureSet:
    """The features of `corpus` from `frontend` (default: the paper's spectrogram): from the cache when its key
    matches, else computed and cached.

    Bad audio (unreadable, empty, truncated, non-finite, or giving non-finite features) raises one error naming
    every such file, or with skip_bad=True leaves those utterances out and lists them in the returned skip list.
    `jobs` threads (default: one per core) share the work where the front-end allows it;
    `progress(done_seconds, total_seconds)` is called as it goes.
    """
    frontend = frontend or make_frontend()
    if corpus.table["utterance_id"].duplicated().any():
        duplicate = corpus.table.loc[corpus.table["utterance_id"].duplicated(), "utterance_id"].iloc[0]
        raise SerbenchError(f"utterance id {duplicate!r} appears twice in corpus {corpus.name}", path=corpus.root,
                            hint="give every utterance a unique id")
    features_dir = cache_root(cache_dir) / "features"
    final = features_dir / f"{_folder_name(corpus.name)}-{cache_key(corpus, frontend)}"
    if not final.is_dir():
        temp = None
        try:
            features_dir.mkdir(parents=True, exist_ok=True)
            clean_stale_temp_dirs(features_dir)
            temp = make_temp_dir(features_dir, final.name)
            _build_into(temp, corpus, frontend, skip_bad=skip_bad, jobs=jobs, progress=progress)
            publish_dir(temp, final)  # if another builder got there first, theirs is kept
        except OSError as error:  # reading audio is handled inside; this is the cache's own disk
            raise SerbenchError(f"cannot write the feature cache ({error.strerror or error})",
                                path=error.filename or features_dir,
                                hint=f"free disk space, or point --cache-dir or ${CACHE_ENV_VAR} at a writable "
                                     "folder with room") from None
        finally:
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)
    features = FeatureSet.load(final)
    asked = {"corpus": corpus.name, "config_hash": frontend.hash(), "format": CACHE_FORMAT}
    wrong = [f"{key} {features.meta.get(key)!r}, not {value!r}" for key, value in asked.items()
             if features.meta.get(key) != value]
    if wrong:  # a folder copied or renamed over this key's: its features are not this corpus's, or not these
        raise SerbenchError(f"this feature cache was not built for this request: its meta.json says "
                            f"{', '.join(wrong)}", path=final, hint=REBUILD)
    audio_problems = features.skipped[len(corpus.problems):]  # the key covers corpus.problems: same count
    if audio_problems and not skip_bad:
        raise problems_error(audio_problems, f"the audio of {corpus.name}")
    return features


def cache_damage(cache_dir: str | Path | None = None, corpus: str | None = None) -> dict[Path, str | None]:
    """Every feature cache under the cache root (of `corpus` only, if given), fully checked: path -> what is
    wrong with it, or None when it is whole."""
    features_dir = cache_root(cache_dir) / "features"
    found: dict[Path, str | None] = {}
    folders = sorted(p for p in features_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if features_dir.is_dir() else []
    for path in folders:
        if corpus is not None and path.name.rpartition("-")[0] != _folder_name(corpus):
            continue
        try:
            FeatureSet.load(path, full=True)
            found[path] = None
        except SerbenchError as error:
            found[path] = error.message
    return found


def _nonfinite_row(features: np.ndarray) -> int | None:
    """The first row holding NaN or an infinity (None if there is none), read CHUNK_BYTES at a time."""
    step = max(1, CHUNK_BYTES // max(1, features[:1].nbytes))
    for start in range(0, len(features), step):
        finite = np.isfinite(features[start:start + step]).reshape(min(step, len(features) - start), -1).all(axis=1)
        if not finite.all():
            return start + int(np.argmin(finite))
    return None


def cache_key(corpus: Corpus, frontend: FrontEnd) -> str:
    """The cache key: cheap to recompute (file stats, no audio read), different whenever an input differs."""
    files = []
    for utterance_id, path in zip(corpus.table["utterance_id"], corpus.table["path"], strict=True):
        try:
            stat = os.stat(path)
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime = -1, -1  # missing: the build reports it; a file appearing later changes the key
        files.append((_relative(path, corpus.root), utterance_id, size, mtime))
    text = json.dumps({"format": CACHE_FORMAT, "config": frontend.hash(), "files": sorted(files),
                       "labels": labels_fingerprint(corpus.table),
                       "problems": [(_relative(p.path, corpus.root), p.line, p.message) for p in corpus.problems]})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def labels_fingerprint(table: pd.DataFrame) -> str:
    """A hash of the utterance table without its absolute paths (those differ between machines)."""
    return hashlib.sha256(table.drop(columns=["path"]).to_csv(index=False).encode()).hexdigest()


def _build_into(temp: Path, corpus: Corpus, frontend: FrontEnd, *, skip_bad: bool, jobs: int | None,
                progress: Progress | None) -> None:
    paths = corpus.table["path"].tolist()
    ids = corpus.table["utterance_id"].tolist()
    problems: dict[int, Problem] = {}
    lengths: dict[int, int] = {}
    for row, path in enumerate(paths):
        try:
            lengths[row] = audio_length(path, frontend.sample_rate)
        except SerbenchError as error:
            problems[row] = Problem(str(path), error.message)
    starts, total_rows = _layout(lengths, frontend)
    if total_rows == 0:
        raise _nothing_left(corpus, problems)
    digests: dict[int, str] = {}
    outcomes = _compute(temp / "features.npy", paths, lengths, starts, total_rows, frontend, jobs, progress)
    for row, outcome in outcomes.items():
        if isinstance(outcome, Problem):
            problems[row] = outcome
        else:
            digests[row] = outcome
    if problems and not skip_bad:
        raise problems_error([problems[row] for row in sorted(problems)], f"the audio of {corpus.name}")
    good = sorted(digests)
    if len(good) < len(lengths):  # files that failed only while decoding: drop their rows
        if not good:
            raise _nothing_left(corpus, problems)
        _compact(temp / "features.npy", [(starts[row], frontend.rows(lengths[row])) for row in good])
        starts, total_rows = _layout({row: lengths[row] for row in good}, frontend)

    index = pd.DataFrame({"utterance_id": [ids[row] for row in good],
                          "start": [starts[row] for row in good],
                          "stop": [starts[row] + frontend.rows(lengths[row]) for row in good],
                          "sha256": [digests[row] for row in good]})  # the leakage guard compares contents
    index.to_parquet(temp / "index.parquet", index=False)
    skipped = {"corpus": [p.as_dict() for p in corpus.problems],
               "audio": [problems[row].as_dict() for row in sorted(problems)]}
    audio_fingerprint = hashlib.sha256("".join(f"{ids[row]}\t{digests[row]}\n" for row in
                                               sorted(good, key=lambda r: ids[r])).encode()).hexdigest()
    labels = labels_fingerprint(corpus.table)
    meta = {
        "format": CACHE_FORMAT,
        "corpus": corpus.name,
        "root": str(corpus.root),
        "frontend": frontend.name,
        "kind": frontend.kind,
        "config": frontend.to_dict(),
        "config_hash": frontend.hash(),
        "shape": [total_rows, *frontend.row_shape],
        "n_utterances": len(good),
        "n_rows": total_rows,
        "n_skipped": len(problems),
        "audio_seconds": sum(lengths[row] for row in good) / frontend.sample_rate,
        "audio_fingerprint": audio_fingerprint,
        "labels_fingerprint": labels,
        "content_fingerprint": hashlib.sha256(f"{audio_fingerprint}\n{labels}".encode()).hexdigest(),
        "serbench_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (temp / "skipped.json").write_text(json.dumps(skipped, indent=1))
    (temp / "meta.json").write_text(json.dumps(meta, indent=1))
    write_checksums(temp)  # last: it covers every other file


def _compute(target: Path, paths: list[str], lengths: dict[int, int], starts: dict[int, int], total_rows: int,
             frontend: FrontEnd, jobs: int | None, progress: Progress | None) -> dict[int, str | Problem]:
    """Fill `target` (a new features.npy) with every utterance's rows; per utterance (a row of the corpus table),
    the sha256 of its file's bytes or the Problem that kept it out. Each file is read once: the same bytes are
    hashed and decoded. A front-end that batches (a neural model) gets batch_size utterances at a time."""
    features = np.lib.format.open_memmap(target, mode="w+", dtype=np.float32,
                                         shape=(total_rows, *frontend.row_shape))
    if hasattr(os, "posix_fallocate"):  # reserve the blocks: a full disk is an error here, not a SIGBUS later
        with open(target, "rb+") as file:
            os.posix_fallocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)

    def compute(rows: list[int]) -> list[tuple[int, str | Problem]]:
        results: list[tuple[int, str | Problem]] = []
        decoded: list[tuple[int, str, np.ndarray]] = []
        for row in rows:
            path = paths[row]
            try:
                data = Path(path).read_bytes()
                audio = decode_audio(data, path, frontend.sample_rate, frontend.gain)
            except OSError as error:
                results.append((row, Problem(str(path), f"cannot read audio file ({error.strerror})")))
                continue
            except SerbenchError as error:
                results.append((row, Problem(str(path), error.message)))
                continue
            if len(audio) != lengths[row]:
                results.append((row, Problem(str(path), f"the header promises {lengths[row]} samples but "
                                                        f"{len(audio)} decode: the file is truncated")))
                continue
            decoded.append((row, hashlib.sha256(data).hexdigest(), audio))
        decoded.sort(key=lambda item: len(item[2]))  # batches of similar lengths: little padding
        for begin in range(0, len(decoded), frontend.batch_size):
            part = decoded[begin:begin + frontend.batch_size]
            outs = [features[starts[row]:starts[row] + frontend.rows(lengths[row])] for row, _, _ in part]
            frontend.compute_batch([audio for _, _, audio in part], outs)
            for (row, digest, _), out in zip(part, outs, strict=True):
                if np.isfinite(out).all():
                    results.append((row, digest))
                else:  # e.g. float samples near 1e18: garbage in a model, never a feature
                    results.append((row, Problem(paths[row], f"the {frontend.name} front-end gave NaN or infinite "
                                                             "features for this audio (extreme sample values?)")))
        return results

    outcomes: dict[int, str | Problem] = {}
    total_seconds, done_seconds = sum(lengths.values()) / frontend.sample_rate, 0.0
    for rows, results in _run_chunks(compute, sorted(lengths), jobs if frontend.threads else 1,
                                     max(1, frontend.batch_size)):
        outcomes.update(results)
        done_seconds += sum(lengths[row] for row in rows) / frontend.sample_rate
        if progress is not None:
            progress(done_seconds, total_seconds)
    features.flush()
    return outcomes


def _layout(lengths: dict[int, int], frontend: FrontEnd) -> tuple[dict[int, int], int]:
    """Each utterance's first row in features.npy (utterances in table order), and the number of rows."""
    starts, total = {}, 0
    for row in sorted(lengths):
        starts[row] = total
        total += frontend.rows(lengths[row])
    return starts, total


def _run_chunks(compute: Callable[[list[int]], list], rows: list[int], jobs: int | None, least: int = 1):
    """Yield (chunk, compute(chunk)) over chunks of `rows` (at least `least` each), on `jobs` threads.

    Threads, not processes: reading, decoding, hashing and the FFTs all release the GIL, and threads start
    in microseconds where spawned processes take seconds to import torch. torch is held to one intra-op
    thread meanwhile: its thread team on these small ops is slow, and very slow when a core is busy.
    """
    jobs = max(1, jobs or _usable_cores())
    size = max(least, min(64, len(rows) // (jobs * 16)))
    chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
    if jobs == 1:  # torch keeps its threads: a front-end that cannot share (a neural model) uses them itself
        for chunk in chunks:
            yield chunk, compute(chunk)
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pool = ThreadPoolExecutor(jobs, initializer=torch.set_num_threads, initargs=(1,))
        try:
            yield from zip(chunks, pool.map(compute, chunks), strict=True)
        finally:
            pool.shutdown(cancel_futures=True)  # on an error or Ctrl-C, do not finish the queued chunks
    finally:
        torch.set_num_threads(threads)


def _compact(path: Path, keep: list[tuple[int, int]]) -> None:
    """Rewrite features.npy with only the (start, count) row ranges in `keep`."""
    source = np.load(path, mmap_mode="r")
    compact = path.with_name("compact.npy")
    target = np.lib.format.open_memmap(compact, mode="w+", dtype=source.dtype,
                                       shape=(sum(n for _, n in keep), *source.shape[1:]))
    position = 0
    for start, n in keep:
        target[position:position + n] = source[start:start + n]
        position += n
    target.flush()
    del source, target
    os.replace(compact, path)


def _nothing_left(corpus: Corpus, problems: dict[int, Problem]) -> SerbenchError:
    if problems:
        return problems_error([problems[row] for row in sorted(problems)],
                              f"the audio of {corpus.name} (no usable audio is left)")
    return SerbenchError(f"corpus {corpus.name} has no utterances", path=corpus.root,
                         hint="check that --root points at the corpus release")


def _folder_name(corpus: str) -> str:
    """A corpus name as the start of its cache folders' names."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", corpus)


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may run on, e.g. inside a container
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
