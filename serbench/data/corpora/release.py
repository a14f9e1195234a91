"""What several readers need to walk a release: its wav files in a fixed order, and its CSV label files."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

from serbench.errors import CorpusError


def wav_files(base: Path) -> Iterator[Path]:
    """Every .wav below `base` but dot files (macOS `._` copies), in a fixed order: the same copy of a file
    present twice is always the one reported as the second."""
    for folder, folders, files in os.walk(base):
        folders.sort()
        for name in sorted(files):
            if name.endswith(".wav") and not name.startswith("."):
                yield Path(folder) / name


def csv_records(path: Path, columns: tuple[str, ...], hint: str) -> list[tuple[int, dict[str, str] | None]]:
    """(line number, the row's cells by column, or None for a row of the wrong width) for each non-empty data row
    of the release's CSV `path`; a header without `columns` or a file that is not CSV text is a CorpusError."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = [column.strip() for column in next(reader, [])]
            missing = [column for column in columns if column not in header]
            if missing:
                raise CorpusError(f"no column {', '.join(missing)} in the header (expected {', '.join(columns)})",
                                  path=path, line=1, hint=hint)
            records = []
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    cells = [cell.strip() for cell in cells]
                    records.append((reader.line_num, dict(zip(header, cells, strict=True))
                                    if len(cells) == len(header) else None))
            return records
    except (UnicodeDecodeError, csv.Error) as error:
        raise CorpusError(f"not a readable CSV file ({error})", path=path, hint=hint) from error
