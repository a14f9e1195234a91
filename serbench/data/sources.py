"""Where the corpora are: a folder of releases, a data configuration file, or the synthetic stand-ins.

`--data` takes one of
- `synthetic`: the generated stand-ins (docs/synthetic.md), each made when a command first needs it (once per
  corpus, scale and seed) and kept in the cache;
- a folder holding the releases under their usual names (IEMOCAP_full_release, MSP-IMPROV, SAVEE, emodb);
- a TOML file mapping corpus names to a release root or a manifest CSV (relative paths are relative to the file):
      [corpora.emodb]
      root = "/data/emodb"
      [corpora.ravdess]
      manifest = "/data/ravdess.csv"
Without --data, $SERBENCH_DATA (any of the above) and then ./serbench.toml are used.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from serbench.data.corpora import CORPORA, CorpusInfo
from serbench.errors import CorpusError, SerbenchError
from serbench.files import read_toml

SYNTHETIC = "synthetic"
DEFAULT_CONFIG = "serbench.toml"
HOW_TO_POINT = ("pass --data with a folder of releases or a data configuration file (docs/data.md), "
                "or use --data synthetic for the generated stand-ins")


@dataclass(frozen=True)
class DataSources:
    """Corpus name -> release folder or manifest CSV, and where that mapping came from."""

    kind: str  # "synthetic", "folder" or "config"
    origin: str
    roots: dict[str, Path]  # for synthetic data: the stand-ins generated (or found in the cache) so far
    cache_dir: str | Path | None = None  # where the synthetic stand-ins are kept (None: the default cache)

    @property
    def synthetic(self) -> bool:
        return self.kind == SYNTHETIC

    def root(self, name: str, progress: Callable[[int, int], None] | None = None) -> Path:
        """The release folder or manifest of corpus `name`; a synthetic stand-in is generated on first use, so a
        protocol pays only for the corpora it names (`progress(done, total)` follows its utterances)."""
        if name in self.roots:
            return self.roots[name]
        if self.kind == SYNTHETIC:
            from serbench.data.synth import stand_in, synthetic_corpus

            held = stand_in(name)
            if held is None:
                raise self.missing_error([name])
            self.roots[name] = synthetic_corpus(held, cache_dir=self.cache_dir, progress=progress)
            return self.roots[name]
        raise self.missing_error([name])

    def require(self, names: Sequence[str]) -> None:
        """Raise one error naming every corpus of `names` these sources lack (a protocol's corpora, before any is
        read), so that a user fixes the data layout once rather than once per corpus."""
        if self.kind == SYNTHETIC:
            from serbench.data.synth import stand_in

            missing = [name for name in names if name not in self.roots and stand_in(name) is None]
        else:
            missing = [name for name in names if name not in self.roots]
        if missing:
            raise self.missing_error(missing)

    def missing_error(self, names: Sequence[str]) -> CorpusError:
        """The error for corpora these sources lack: which, where they were looked for, and what to do."""
        quoted = ", ".join(map(repr, names))
        if self.kind == SYNTHETIC:
            from serbench.data.synth import CORPUS_NAMES

            return CorpusError(f"there is no synthetic stand-in of {quoted}",
                               hint=f"--data synthetic has {', '.join(CORPUS_NAMES)}; for other corpora pass --data "
                                    "with a folder of releases or a data configuration file (docs/data.md)")
        if self.kind == "config":
            tables = ", ".join(f"[corpora.{name}]" for name in names)
            return CorpusError(f"no corpus {quoted} in this data configuration", path=self.origin,
                               hint=f"add {tables} with root = ... or manifest = ... to it (docs/data.md)")
        folder = Path(self.origin)
        looked = [f"{short_title(CORPORA[name])}: {folder / CORPORA[name].release_dir}" if name in CORPORA
                  else f"{name}: not a built-in corpus; give its manifest CSV in a data configuration file"
                  for name in names]
        hint = f"put each release in that folder under the name shown, or {HOW_TO_POINT}"
        itself = release_at(folder) if not self.roots else None  # only a folder that holds no release at all
        if itself is not None:
            hint = (f"this folder is itself the {short_title(itself)} release; pass its parent folder as --data "
                    f"(with the release named {itself.release_dir} in it), or a data configuration file (docs/data.md)")
        return CorpusError(f"the data folder lacks {quoted}; it looked for\n    " + "\n    ".join(looked),
                           path=folder, hint=hint)


def short_title(info: CorpusInfo) -> str:
    """A corpus's title without its expansion: Emo-DB, IEMOCAP."""
    return info.title.split(" (")[0].split(",")[0]


def release_at(folder: Path) -> CorpusInfo | None:
    """The built-in corpus whose release `folder` itself is (a user passed a release as the folder of releases):
    known by its usual name, else by its reader finding more of its utterances there than files it cannot parse
    (a folder holding releases under other names is not one). Only on the error path: the reader of the matching
    corpus reads the whole release."""
    for info in CORPORA.values():
        if folder.name.lower() == info.release_dir.lower():
            return info
    for info in CORPORA.values():
        try:
            table, problems = info.read(folder)
        except (CorpusError, OSError, ValueError):  # not this corpus's layout
            continue
        if len(table) > len(problems):
            return info
    return None


def data_sources(data: str | Path | None = None, cache_dir: str | Path | None = None) -> DataSources:
    """Resolve --data (or $SERBENCH_DATA, or ./serbench.toml) into corpus roots; the synthetic stand-ins are
    kept in the cache (`cache_dir`, else the default cache root)."""
    if data is None:
        data = os.environ.get("SERBENCH_DATA") or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    if data is None:
        raise SerbenchError("no data given", hint=HOW_TO_POINT)
    if str(data) == SYNTHETIC:  # nothing is generated until a corpus is asked for (DataSources.root)
        return DataSources(SYNTHETIC, "synthetic stand-ins", {}, cache_dir)
    path = Path(data).expanduser().resolve()
    if path.is_dir():
        return DataSources("folder", str(path), {name: path / info.release_dir for name, info in CORPORA.items()
                                       if (path / info.release_dir).is_dir()})
    if path.is_file() and path.suffix == ".toml":
        return DataSources("config", str(path), read_data_config(path))
    raise SerbenchError(f"no such folder or .toml file: {data}", hint=HOW_TO_POINT)


def read_data_config(path: Path) -> dict[str, Path]:
    config = read_toml(path)
    unknown = sorted(set(config) - {"corpora"})
    if unknown:  # a misspelt [corpra.emodb] would otherwise leave its corpus out without a word
        key, value = unknown[0], config[unknown[0]]
        tables = [name for name, entry in value.items() if isinstance(entry, dict)] if isinstance(value, dict) else []
        table = f"[{key}.{tables[0]}]" if tables else f"[{key}]"
        guess = f"did you mean {table.replace(key, 'corpora', 1)}? " if difflib.get_close_matches(key, ["corpora"]) \
            else ""
        raise SerbenchError(f"unknown {'table ' + table if isinstance(value, dict) else f'key {key!r}'}: a data "
                            "configuration holds only [corpora.NAME] tables", path=path,
                            hint=f"{guess}write one [corpora.NAME] table per corpus, with root = ... or manifest = ... "
                                 "(docs/data.md)")
    corpora = config.get("corpora")
    if not isinstance(corpora, dict) or not corpora:
        raise SerbenchError("no [corpora.NAME] tables", path=path,
                            hint='add one per corpus, e.g. [corpora.emodb] root = "/data/emodb"')
    roots = {}
    for name, entry in corpora.items():
        keys = set(entry) if isinstance(entry, dict) else set()
        if keys - {"root", "manifest"}:
            raise SerbenchError(f"[corpora.{name}]: unknown key {sorted(keys - {'root', 'manifest'})[0]!r} (a corpus "
                                "takes root = \"...\" or manifest = \"...\" only)", path=path,
                                hint="a corpus's speakers, languages and labels come from its reader, or from its "
                                     "manifest's columns (docs/corpora.md)")
        if len(keys) != 1 or not keys <= {"root", "manifest"} or not isinstance(entry[next(iter(keys))], str):
            raise SerbenchError(f"[corpora.{name}] needs exactly one of root = \"...\" or manifest = \"...\"",
                                path=path, hint="root: a release folder; manifest: a CSV (docs/corpora.md)")
        if "root" in entry and name not in CORPORA:
            raise SerbenchError(f"[corpora.{name}]: serbench has no reader for a {name!r} release", path=path,
                                hint=f"built-in readers: {', '.join(CORPORA)}; other corpora need a manifest")
        roots[name] = (path.parent / Path(entry[next(iter(keys))]).expanduser()).resolve()
        if "manifest" in entry and roots[name].suffix.lower() != ".csv":  # read_corpus would read it as a release
            what = "a folder" if roots[name].is_dir() else "not a .csv file"
            raise SerbenchError(f"[corpora.{name}]: manifest = {entry['manifest']!r} is {what}", path=path,
                                hint="a manifest is a CSV file (docs/corpora.md); a built-in corpus's release folder "
                                     "is given as root = \"...\"")
    return roots
