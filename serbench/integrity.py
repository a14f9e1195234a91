"""Checksums of the folders serbench stores (feature caches, run folders): damage is detected, never used.

Each such folder holds `checksums.json`, written last (inside the temporary folder, before it is renamed into
place): for every other file its size, its SHA-256 and the SHA-256 of a sample of fixed blocks. A full check
reads every byte; a quick one compares sizes and the sampled blocks (a few MB at most, whatever the file's size),
which is what opening a feature cache costs. Small files are sampled whole, so the quick check covers them fully.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from serbench.files import write_atomic

CHECKSUMS = "checksums.json"
BLOCK = 1 << 16  # bytes per sampled block
BLOCKS = 32  # blocks sampled per file: files up to 2 MiB are sampled whole


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _sample(path: Path, size: int) -> str:
    """The SHA-256 of BLOCKS blocks spread evenly over the file (the whole file when it is that small)."""
    if size <= BLOCK * BLOCKS:
        return _sha256(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for k in range(BLOCKS):
            handle.seek((size - BLOCK) * k // (BLOCKS - 1))
            digest.update(handle.read(BLOCK))
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != CHECKSUMS and not p.name.startswith("."))


def write_checksums(folder: Path) -> None:
    """Record the checksums of every file in `folder` (call it when the folder is complete)."""
    entries = {}
    for path in _files(folder):
        size = path.stat().st_size
        entries[path.name] = {"size": size, "sha256": _sha256(path), "sample": _sample(path, size)}
    write_atomic(folder / CHECKSUMS, (json.dumps({"files": entries}, indent=1, sort_keys=True) + "\n").encode())


def damage(folder: Path, *, full: bool = True) -> list[str]:
    """What is wrong with `folder` against its checksums (empty when it is whole). `full=False`: the quick check."""
    try:
        entries = json.loads((folder / CHECKSUMS).read_text())["files"]
        if not isinstance(entries, dict):
            raise TypeError
    except FileNotFoundError:
        return [f"it has no {CHECKSUMS} (written by an older serbench, or not finished)"]
    except (OSError, ValueError, KeyError, TypeError):
        return [f"its {CHECKSUMS} is damaged"]
    found = []
    for name, entry in sorted(entries.items()):
        path = folder / name
        try:
            size = path.stat().st_size
            if size != entry["size"]:
                found.append(f"{name} has {size} bytes, not {entry['size']}")
            elif (_sha256(path) if full else _sample(path, size)) != entry["sha256" if full else "sample"]:
                found.append(f"{name} differs from its checksum")
        except FileNotFoundError:
            found.append(f"{name} is missing")
        except (OSError, KeyError, TypeError):
            found.append(f"{name} cannot be checked")
    found += [f"{p.name} is not listed in {CHECKSUMS}" for p in _files(folder) if p.name not in entries]
    return found
