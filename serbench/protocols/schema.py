"""A declarative schema for TOML settings files: each key declared once (its value type, default, allowed values
and meaning), and one routine that reads a file's keys by it. The protocol's keys are declared in protocol.py
(PROTOCOL_KEYS); docs/protocols.md's table of keys is `key_table` of them, checked by a test."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from serbench.errors import SerbenchError

FORMAT_HINT = "see the protocol format in docs/protocols.md"


def unchanged(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class ValueType:
    """What a key's value must be: its name in the docs, a test, what a wrong value is told, and how a good one
    becomes the protocol's field (TOML lists become tuples)."""

    name: str  # "list of names"
    accepts: Callable[[Any], bool]
    must: str  # completes "must be ...": "true or false"
    convert: Callable[[Any], Any] = unchanged


def is_names(value: Any, empty: bool = False) -> bool:
    return isinstance(value, list) and (empty or bool(value)) and all(isinstance(v, str) and v for v in value)


TEXT = ValueType("string", lambda v: isinstance(v, str), "a string")
BOOLEAN = ValueType("boolean", lambda v: isinstance(v, bool), "true or false")
NAMES = ValueType("list of names", is_names, "a non-empty list of names", tuple)


def whole_number(minimum: int, unit: str = "") -> ValueType:
    """An integer of at least `minimum` (TOML's true and false are not numbers here)."""
    return ValueType("integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
                     f"a whole number of {unit}, at least {minimum}" if unit else
                     f"a whole number of at least {minimum}")


@dataclass(frozen=True)
class Key:
    """One key of a settings file."""

    name: str
    type: ValueType
    default: Any  # in TOML form; None: no default (`required`, or needed by some settings only: a check says)
    meaning: str  # one line, for the docs and for errors
    choices: Collection[str] = ()  # the closed set of allowed values (of each item, for a list); empty: open
    required: bool = False

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this key, or None."""
        known = f"one of {', '.join(self.choices)}" if self.choices else ""
        if not self.type.accepts(value):
            return f"must be {self.type.must}" + (f" ({known})" if known else "")
        items = value if isinstance(value, list) else [value]
        repeated = [item for i, item in enumerate(items) if item in items[:i]]
        if repeated:
            return f"names {repeated[0]!r} twice"
        unknown = [item for item in items if self.choices and item not in self.choices]
        if unknown:
            return f"must be {known}, not {unknown[0]!r}"
        return None


@dataclass(frozen=True)
class Settings:
    """A file's keys read by a schema: every key's value, converted, or its default where the file leaves it out
    (None where it has none)."""

    values: dict[str, Any]
    given: frozenset[str]  # the keys the file gives
    source: str  # the file, for errors

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def fail(self, key: str, problem: str, hint: str = FORMAT_HINT) -> SerbenchError:
        """The error to raise for `key`, naming the file."""
        return SerbenchError(f"key {key!r}: {problem}", path=self.source or None, hint=hint)


def read_settings(schema: dict[str, Key], data: dict[str, Any], source: str) -> Settings:
    """Check every key of `data` against `schema` (an unknown key is refused with the known ones) and fill in the
    defaults. Checks across keys are the caller's."""
    settings = Settings({}, frozenset(data), source)
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise settings.fail(unknown[0], f"unknown key (known: {', '.join(sorted(schema))})")
    for key in schema.values():
        if key.name not in data and key.required:
            raise settings.fail(key.name, f"missing: {key.meaning}" + (f", one of {', '.join(key.choices)}"
                                                                      if key.choices else ""))
        value = data.get(key.name, key.default)
        problem = key.problem(value) if key.name in data else None
        if problem:
            raise settings.fail(key.name, problem)
        settings.values[key.name] = None if value is None else key.type.convert(value)
    return settings


def toml_text(value: Any) -> str:
    """A default as it is written in a TOML file."""
    return str(value).lower() if isinstance(value, bool) else json.dumps(value)


def key_table(keys: Iterable[Key]) -> str:
    """The keys as a Markdown table: key, type, default, meaning (docs/protocols.md holds it)."""
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key in keys:
        default = ("required" if key.required else "none (needed where read)" if key.default is None
                   else f"`{toml_text(key.default)}`")
        kind = key.type.name + (f": {', '.join(f'`{c}`' for c in key.choices)}" if key.choices else "")
        rows.append(f"| `{key.name}` | {kind} | {default} | {key.meaning} |")
    return "\n".join(rows) + "\n"
