"""Synthetic stand-ins for IEMOCAP, MSP-IMPROV, SAVEE and Emo-DB, written in each release's own layout
and label format so that the corpus readers read them like the real thing (docs/synthetic.md).

A test bed for the harness and for domain adaptation methods, never a substitute for the real corpora:
every generated tree carries a SERBENCH_SYNTHETIC.txt marker (`is_synthetic`) so results can say so.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import soundfile as sf

from serbench.errors import SerbenchError
from serbench.files import clean_stale_temp_dirs, make_temp_dir, publish_dir
from serbench.synth.corpora import SPECS, derive_seed, plan_corpus
from serbench.synth.voice import render
from serbench.synth.writers import PLACE, WRITE

__all__ = ["CORPUS_NAMES", "DEFAULT_SCALE", "GENERATOR_VERSION", "INCOMPLETE", "MARKER", "SYNTHETIC_EXPLANATION",
           "SYNTHETIC_LABEL", "is_synthetic", "synthesize", "synthetic_data"]

DEFAULT_SCALE = 0.02  # ~470 utterances, ~10 s on two cores: enough for the CPU demo
GENERATOR_VERSION = 1  # bump whenever the same (scale, seed) would give different bytes
MARKER = "SERBENCH_SYNTHETIC.txt"
# In a set's folder from before its first file until after its last: readers refuse a set that has it.
INCOMPLETE = "SERBENCH_SYNTHETIC_INCOMPLETE.txt"
# What everything computed from the stand-ins says about itself (summaries, run output, leaderboards).
SYNTHETIC_LABEL = "SYNTHETIC DATA"
SYNTHETIC_EXPLANATION = ("generated stand-ins (docs/synthetic.md), not the real corpora: they exercise the harness "
                         "and say nothing about emotional speech")
TRUTH = "synthetic_truth.csv"  # the generator's ground truth (latent arousal/valence), outside the releases
CORPUS_NAMES = tuple(SPECS)

Progress = Callable[[int, int], None]  # called with (utterances written, total)


def is_synthetic(root: str | Path) -> bool:
    """True when `root` (a generated set, or one release inside it) was written by this generator."""
    return (Path(root) / MARKER).is_file()


def _marker_text(scale: float, seed: int) -> str:
    return ("SYNTHETIC DATA - NOT A REAL CORPUS\n"
            f"Written by serbench's speech generator (version {GENERATOR_VERSION}), scale {scale:g}, seed {seed}.\n"
            "A stand-in with the real release's layout, label format, speakers and categories, for testing\n"
            "the harness and domain adaptation methods. Results on it say nothing about real emotional\n"
            "speech; see docs/synthetic.md.\n")


def _write_audio(job: tuple) -> None:
    """Render one utterance and write it as 16-bit PCM (runs in a worker process)."""
    path, spec_name, voice, style, duration_s, seed = job
    spec = SPECS[spec_name]
    audio = render(spec.language, spec.channel, voice, style, duration_s, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, spec.channel.sample_rate, subtype="PCM_16")


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
    with multiprocessing.Pool(workers) as pool:
        for count, _ in enumerate(pool.imap_unordered(_write_audio, tasks, chunksize=4), start=1):
            if progress is not None:
                progress(count, len(tasks))


def synthesize(out: str | Path, *, scale: float = DEFAULT_SCALE, seed: int = 0, jobs: int | None = None,
               progress: Progress | None = None, corpora: Iterable[str] | None = None) -> dict[str, Path]:
    """Write the stand-ins under `out` (IEMOCAP_full_release, MSP-IMPROV, SAVEE, emodb) and return
    corpus name -> release root. Same (scale, seed), same bytes, whatever the number of worker processes
    `jobs` (default: all cores). `corpora` limits the set (default: all four)."""
    names = list(corpora or CORPUS_NAMES)
    unknown = [name for name in names if name not in SPECS]
    if unknown:
        raise SerbenchError(f"no synthetic stand-in for {', '.join(unknown)}",
                            hint=f"use some of: {', '.join(CORPUS_NAMES)}")
    if not scale > 0:
        raise SerbenchError(f"scale must be positive, not {scale}", hint="1.0 gives the real corpora's sizes")
    out = Path(out)
    roots = {name: out / SPECS[name].release_dir for name in names}
    for root in roots.values():
        if root.exists():
            raise SerbenchError("already exists", path=root,
                                hint="write the synthetic set to an empty folder, or delete this one first")
    out.mkdir(parents=True, exist_ok=True)
    # Until the last file is written, readers refuse the set (a killed generation must not pass for a corpus).
    (out / INCOMPLETE).write_text("serbench is writing this synthetic set, or was killed while writing it: delete "
                                  "this folder and generate it again\n", encoding="utf-8")
    placed = {name: PLACE[name](plan_corpus(name, scale, seed), seed) for name in names}
    tasks = [(roots[name] / item.relpath, name, item.utterance.speaker.voice, item.utterance.style,
              item.utterance.duration_s, derive_seed(seed, name, item.utterance_id, "audio"))
             for name in names for item in placed[name]]
    try:
        _run(tasks, min(jobs or _default_jobs(), len(tasks)), progress)
    except OSError as error:
        raise SerbenchError(f"cannot write the synthetic set: {error}", path=out,
                            hint="check free disk space and write permission") from error
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


def synthetic_data(scale: float = DEFAULT_SCALE, seed: int = 0, cache_dir: str | Path | None = None, *,
                   jobs: int | None = None, progress: Progress | None = None) -> dict[str, Path]:
    """The four stand-ins for (scale, seed), generated once into the cache and reused.

    Generated into a temporary folder and renamed into place, so concurrent callers and a killed run
    never leave a half set: whoever renames first wins, the others use that set."""
    from serbench.cache import cache_root  # imported here: it brings torch, which the generator never needs

    base = cache_root(cache_dir) / "synthetic" / f"v{GENERATOR_VERSION}"
    final = base / f"scale-{scale:g}-seed-{seed}"
    if not is_synthetic(final):
        if final.exists():
            raise SerbenchError("an incomplete synthetic set is in the way", path=final,
                                hint="delete this folder; it is regenerated on the next run")
        base.mkdir(parents=True, exist_ok=True)
        clean_stale_temp_dirs(base)  # what killed generations left (tens of MB each)
        temporary = make_temp_dir(base, final.name)
        try:
            synthesize(temporary, scale=scale, seed=seed, jobs=jobs, progress=progress)
            publish_dir(temporary, final)  # if a concurrent caller got there first, theirs is used
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return {name: final / SPECS[name].release_dir for name in CORPUS_NAMES}
