"""Files the harness keeps: written whole or not at all, and configuration files read with clear errors.

Everything serbench stores (feature caches, synthetic sets, runs) is written under a temporary name and renamed
into place, so a reader never sees half of it and a killed writer leaves only a temporary that is cleaned later.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import sys
import uuid
from pathlib import Path

from serbench.errors import SerbenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


CACHE_ENV_VAR = "SERBENCH_CACHE"
# The note a writer of a whole corpus release (the synthetic generator) leaves in it until the release is complete:
# the corpus readers refuse a release beside it.
INCOMPLETE = "SERBENCH_SYNTHETIC_INCOMPLETE.txt"


def cache_root(override: str | Path | None = None) -> Path:
    """Where serbench keeps what it computes (feature caches, synthetic sets): `override` (the --cache-dir flag),
    else $SERBENCH_CACHE, else ~/.cache/serbench."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    return Path.home() / ".cache" / "serbench"


def stable_hash(data: object, length: int = 16) -> str:
    """A short hash of JSON-able `data` that is the same in every process and version (keys sorted): how run
    ids, configuration hashes and sweep plans are named."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:length]


def fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def publish_dir(temp: Path, final: Path) -> bool:
    """Make the finished folder `temp` appear as `final` in one step (its files are flushed to disk first).
    False when `final` already exists: a concurrent writer got there first; theirs is kept and the caller
    removes `temp`."""
    for path in temp.iterdir():
        if path.is_file():
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
    fsync_dir(temp)
    try:
        os.rename(temp, final)
    except OSError:
        if not final.is_dir():
            raise
        return False
    fsync_dir(final.parent)
    return True


TEMP_PREFIX = ".tmp-"  # temporary folders: .tmp-<pid>-<host>-<random>-<final name>, ignored by every reader


def host_tag() -> str:
    """A short, stable tag of this host, for the names of temporary folders."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def make_temp_dir(parent: Path, final_name: str) -> Path:
    """A new temporary folder in `parent` for building `final_name`, named so that clean_stale_temp_dirs can tell
    whether its builder still lives."""
    temp = parent / f"{TEMP_PREFIX}{os.getpid()}-{host_tag()}-{secrets.token_hex(4)}-{final_name}"
    temp.mkdir()
    return temp


def clean_stale_temp_dirs(parent: Path) -> None:
    """Remove the temporary folders in `parent` of builders on this host whose process is gone (killed)."""
    for temp in parent.glob(f"{TEMP_PREFIX}*"):
        pid, _, rest = temp.name[len(TEMP_PREFIX):].partition("-")
        if rest.startswith(f"{host_tag()}-") and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(temp, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def read_toml(path: Path) -> dict:
    """A TOML file as a dict; a syntax error is a SerbenchError naming the file and the line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:  # its message names the line and column
        raise SerbenchError(f"not valid TOML: {error}", path=path, hint="fix the file's syntax") from None
    except UnicodeDecodeError as error:
        raise SerbenchError(f"not UTF-8 text (byte {error.start}: {error.reason})", path=path,
                            hint="save the file as UTF-8, as TOML requires") from None
    except OSError as error:
        raise SerbenchError(f"cannot read the file ({error.strerror})", path=path) from None
