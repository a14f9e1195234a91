"""The one error type users see: it names the file (and line) at fault and says what to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class SerbenchError(Exception):
    """An error caused by the user's input or environment, printed by the CLI without a traceback."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 hint: str | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        text = f"{where}{self.message}"
        return f"{text}\n  what to do: {self.hint}" if self.hint else text


class CorpusError(SerbenchError):
    """A corpus release on disk that cannot be read as the named corpus."""


@dataclass(frozen=True)
class Problem:
    """One bad input found while reading a corpus: kept when the user asked to skip bad input."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "message": self.message}
