"""Synthetic stand-ins for IEMOCAP, MSP-IMPROV, SAVEE, Emo-DB, RAVDESS, CREMA-D, TESS and EMOVO, written in
each release's own layout and label format so that the corpus readers read them like the real thing
(docs/synthetic.md). Each is generated on its own, so a protocol pays only for the corpora it names.

A test bed for the harness and for domain adaptation methods, never a substitute for the real corpora:
every generated tree carries a SERBENCH_SYNTHETIC.txt marker (`is_synthetic`) so results can say so.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import soundfile as sf

from serbench.data.corpora import CORPORA
from serbench.data.synth.corpora import PAPER_CORPORA, SPECS, derive_seed, plan_corpus
from serbench.data.synth.voice import render
from serbench.data.synth.writers import PLACE, WRITE
from serbench.errors import SerbenchError
from serbench.files import CACHE_ENV_VAR, INCOMPLETE, cache_root, clean_stale_temp_dirs, make_temp_dir, publish_dir

__all__ = ["CORPUS_NAMES", "DEFAULT_SCALE", "GENERATOR_VERSION", "MARKER", "PAPER_CORPORA",
           "SYNTHETIC_EXPLANATION", "SYNTHETIC_LABEL", "TRUTH", "is_synthetic", "stand_in", "synthesize",
           "synthetic_corpus", "synthetic_data"]

DEFAULT_SCALE = 0.02  # the paper's four: ~470 utterances, ~10 s on two cores: enough for the CPU demo
GENERATOR_VERSION = 2  # bump whenever the same (scale, seed) would give different bytes or a different layout
MARKER = "SERBENCH_SYNTHETIC.txt"
# What everything computed from the stand-ins says about itself (summaries, run output, leaderboards).
SYNTHETIC_LABEL = "SYNTHETIC DATA"
SYNTHETIC_EXPLANATION = ("generated stand-ins (docs/synthetic.md), not the real corpora: they exercise the harness "
                         "and say nothing about emotional speech")
TRUTH = "synthetic_truth.csv"  # the generator's ground truth (latent arousal/valence), outside the releases
CORPUS_NAMES = tuple(SPECS)  # every stand-in; without `corpora`, synthesize and synthetic_data make PAPER_CORPORA

Progress = Callable[[int, int], None]  # called with (utterances written, total)


def is_synthetic(root: str | Path) -> bool:
    """True when `root` (a generated set, or one release inside it) was written by this generator."""
    return (Path(root) / MARKER).is_file()


def stand_in(name: str) -> str | None:
    """The stand-in that holds corpus `name`: the one of that name, or the one whose release the reader of `name`
    reads too (crema-d-voice reads CREMA-D's crowd votes); None where there is none."""
    if name in SPECS:
        return name
    info = CORPORA.get(name)
    return next((other for other, spec in SPECS.items() if info is not None and spec.release_dir == info.release_dir),
                None)


def _marker_text(scale: float, seed: int) -> str:
    return ("SYNTHETIC DATA - NOT A REAL CORPUS\n"
            f"Written by serbench's speech generator (version {GENERATOR_VERSION}), scale {scale:g}, seed {seed}.\n"
            "A stand-in with the real release's layout, label format, speakers and categories, for testing\n"
            "the harness and domain adaptation methods. Results on it say nothing about real emotional\n"
            "speech; see docs/synthetic.md.\n")


def _write_audio(job: tuple) -> None:
    """Render one utterance and write it as 16-bit PCM (runs in a worker process)."""
    path, spec_name, channel, voice, style, duration_s, seed = job
    audio = render(SPECS[spec_name].language, channel, voice, style, duration_s, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, channel.sample_rate, subtype="PCM_16")


def _default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run(tasks: list[tuple], workers: int, progress: Progress | None) -> None:
    """Write every task's audio, in `workers` processes; each task's bytes depend on the task alone."""
    if workers <= 1:
        done: Iterable = map(_write_audio, tasks)
        for count, _ in enumerate(done, start=1):
            if progress is not None:
                progress(count, len(tasks))
        return
    # The platform's default start method; where it is spawn, a calling script needs the usual
    # `if __name__ == "__main__":` guard. Workers use numpy and scipy only, so forking a torch process is safe.
    # Longest first, one at a time: the workers finish together, as each corpus has its own pool.
    longest_first = sorted(tasks, key=lambda task: -task[5] * task[2].sample_rate)
    with multiprocessing.Pool(workers) as pool:
        for count, _ in enumerate(pool.imap_unordered(_write_audio, longest_first), start=1):
            if progress is not None:
                progress(count, len(tasks))


def _check(names: list[str], scale: float) -> None:
    unknown = [name for name in names if name not in SPECS]
    if unknown:
        raise SerbenchError(f"no synthetic stand-in for {', '.join(unknown)}",
                            hint=f"use some of: {', '.join(CORPUS_NAMES)}")
    if not scale > 0:
        raise SerbenchError(f"scale must be positive, not {scale}", hint="1.0 gives the real corpora's sizes")


@contextmanager
def _writing(folder: Path, hint: str) -> Iterator[None]:
    """A set that cannot be written (a full disk, a read-only folder) is a SerbenchError naming `folder`. soundfile
    reports a full disk as libsndfile's bare "System error", so the free space there is said too."""
    try:
        yield
    except (OSError, sf.SoundFileError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        existing = next(p for p in (folder, *folder.parents) if p.is_dir())
        free = shutil.disk_usage(existing).free / 2**20
        raise SerbenchError(f"cannot write the synthetic set ({reason}; {free:,.0f} MiB free there)", path=folder,
                            hint=hint) from None


def synthesize(out: str | Path, *, scale: float = DEFAULT_SCALE, seed: int = 0, jobs: int | None = None,
               progress: Progress | None = None, corpora: Iterable[str] | None = None) -> dict[str, Path]:
    """Write the stand-ins `corpora` (default: the paper's four, PAPER_CORPORA) under `out`, each in its
    release folder (IEMOCAP_full_release, MSP-IMPROV, ...), and return corpus name -> release root. Same
    (scale, seed), same bytes, whatever the number of worker processes `jobs` (default: all cores)."""
    with _writing(Path(out), hint="free disk space there, or write the set to a folder with room"):
        return _synthesize(Path(out), scale=scale, seed=seed, jobs=jobs, progress=progress, corpora=corpora)


def _synthesize(out: Path, *, scale: float, seed: int, jobs: int | None, progress: Progress | None,
                corpora: Iterable[str] | None) -> dict[str, Path]:
    """synthesize, its write errors raised as they come."""
    names = list(corpora or PAPER_CORPORA)
    _check(names, scale)
    roots = {name: out / SPECS[name].release_dir for name in names}
    for root in roots.values():
        if root.exists():
            raise SerbenchError("already exists", path=root,
                                hint="write the synthetic set to an empty folder, or delete this one first")
    placed = {name: PLACE[name](plan_corpus(name, scale, seed), seed) for name in names}  # may refuse the scale
    out.mkdir(parents=True, exist_ok=True)
    # Until the last file is written, readers refuse the set (a killed generation must not pass for a corpus).
    (out / INCOMPLETE).write_text("serbench is writing this synthetic set, or was killed while writing it: delete "
                                  "this folder and generate it again\n", encoding="utf-8")
    tasks = [(roots[name] / item.relpath, name, item.channel or item.utterance.speaker.channel,
              item.utterance.speaker.voice, item.utterance.style, item.utterance.duration_s,
              derive_seed(seed, name, item.utterance_id, "audio"))
             for name in names for item in placed[name]]
    _run(tasks, min(jobs or _default_jobs(), len(tasks)), progress)
    text = _marker_text(scale, seed)
    for name in names:
        WRITE[name](roots[name], placed[name], seed)
        (roots[name] / MARKER).write_text(text, encoding="utf-8")
    with open(out / TRUTH, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["corpus", "utterance_id", "path", "speaker", "gender", "emotion_code", "emotion",
                         "arousal", "valence", "duration_s"])
        for name in names:
            for item in placed[name]:
                u = item.utterance
                writer.writerow([name, item.utterance_id, f"{SPECS[name].release_dir}/{item.relpath}",
                                 u.speaker.name, u.speaker.gender, u.code, u.emotion, f"{u.style.arousal:.4f}",
                                 f"{u.style.valence:.4f}", f"{u.duration_s:.3f}"])
    (out / MARKER).write_text(text, encoding="utf-8")
    (out / INCOMPLETE).unlink()
    return roots


def synthetic_corpus(name: str, scale: float = DEFAULT_SCALE, seed: int = 0, cache_dir: str | Path | None = None,
                     *, jobs: int | None = None, progress: Progress | None = None) -> Path:
    """The release root of stand-in `name` for (scale, seed): generated into the cache the first time it is
    asked for, then reused. `progress(done, total)` follows this corpus's utterances.

    Each corpus is a set of its own, <cache>/synthetic/v<version>/scale-<s>-seed-<n>/<name>/, generated into a
    temporary folder and renamed into place, so concurrent callers and a killed run never leave half a set:
    whoever renames first wins, the others use that set."""
    _check([name], scale)
    base = cache_root(cache_dir) / "synthetic" / f"v{GENERATOR_VERSION}" / f"scale-{scale:g}-seed-{seed}"
    final = base / name
    if not is_synthetic(final):
        if final.exists():
            raise SerbenchError("an incomplete synthetic set is in the way", path=final,
                                hint="delete this folder; it is regenerated on the next run")
        temporary = None
        with _writing(base, hint=f"free disk space there, or point --cache-dir or ${CACHE_ENV_VAR} at a writable "
                                 "folder with room"):
            try:
                base.mkdir(parents=True, exist_ok=True)
                clean_stale_temp_dirs(base)  # what killed generations left (tens of MB each)
                temporary = make_temp_dir(base, name)
                _synthesize(temporary, scale=scale, seed=seed, jobs=jobs, progress=progress, corpora=[name])
                publish_dir(temporary, final)  # if a concurrent caller got there first, theirs is used
            finally:
                if temporary is not None:
                    shutil.rmtree(temporary, ignore_errors=True)
    return final / SPECS[name].release_dir


def synthetic_data(scale: float = DEFAULT_SCALE, seed: int = 0, cache_dir: str | Path | None = None, *,
                   jobs: int | None = None, progress: Progress | None = None,
                   corpora: Iterable[str] | None = None) -> dict[str, Path]:
    """The stand-ins `corpora` (default: the paper's four) for (scale, seed): corpus name -> release root,
    each generated into the cache on first use (synthetic_corpus) and reused after."""
    names = list(corpora or PAPER_CORPORA)
    _check(names, scale)
    return {name: synthetic_corpus(name, scale, seed, cache_dir, jobs=jobs, progress=progress) for name in names}
