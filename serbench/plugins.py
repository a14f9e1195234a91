"""Registries: the one typed `Registry` of named things, and the registries of plugin classes (methods, front-ends)
and where plugins come from.

A plugin registry is filled by its decorator (`@register_method("name")`, `@register_frontend("name")`) and knows where
each entry came from: the built-ins, an installed package (entry-point group `serbench.methods` or
`serbench.frontends`), or a local file (`--plugin path.py`, which may register entries of either kind). Every
entry carries a fingerprint of its code, which enters run identities, so editing a plugin retrains its runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

from serbench.errors import SerbenchError

_loading: list[str] = []  # the source being imported right now, so registrations know where they came from

T = TypeVar("T")
P = TypeVar("P")


class Registry(Mapping[str, T]):
    """Named things of one kind (corpora, bench rows, split kinds, metrics, and the plugin classes below): a
    read-only mapping from name to entry, filled once per name, whose `lookup` answers an unknown name with the
    known ones."""

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind  # "corpus", "metric", ...: for messages
        self.hint = hint  # where the names are listed, added to the error for an unknown one
        self._entries: dict[str, T] = {}  # in registration order

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise SerbenchError(f"{self.kind} {name!r} is registered twice", hint="give each one its own name")
        self._entries[name] = entry
        return entry

    def lookup(self, name: str) -> T:
        """The entry `name`, or an error listing the known names."""
        if name not in self._entries:
            known = ", ".join(self._entries) or "none"
            raise SerbenchError(f"unknown {self.kind} {name!r}", hint=f"use one of: {known}{self.hint}")
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class Entry(Generic[P]):
    """A registered plugin class and where it came from."""

    name: str
    cls: type[P]
    source: str  # "built-in", "entry point <name> (<distribution> <version>)", "file <path>" or "module <name>"

    @property
    def description(self) -> str:
        """The first line of the class docstring."""
        doc = inspect.getdoc(self.cls) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def code(self) -> str:
        """A fingerprint of the code that defines the entry's behaviour: for an installed package its distribution
        and version; otherwise a hash of the source files of every class it inherits from, up to serbench's own
        base class (so a plugin subclassing a built-in changes with either file)."""
        if self.source.startswith("entry point "):
            return self.source.split("(", 1)[1].rstrip(")")
        digest = hashlib.sha256()
        for klass in self.cls.__mro__:
            if klass.__module__ in BASE_MODULES:  # serbench's own base class: versioned with serbench
                break
            path = getattr(sys.modules.get(klass.__module__), "__file__", None)
            if path and Path(path).is_file():
                digest.update(Path(path).read_bytes())
        return digest.hexdigest()[:16]


# The modules of the registries' base classes: their code is serbench's, versioned with it, not the plugin's.
BASE_MODULES = {"serbench.method", "serbench.features.frontends.base"}


class PluginRegistry(Registry[Entry[P]]):
    """One kind of plugin class: its base class, the built-in package and the entry-point group it is found in,
    and a check each registered class must pass (it raises a SerbenchError naming the problem)."""

    # `base` is P's class, typed `type` since the bases are abstract and mypy takes no abstract class for type[P]
    # (python/mypy#4717); `check` binds P.
    def __init__(self, kind: str, base: type, builtin_package: str, entry_point_group: str,
                 check: Callable[[str, type[P], str], None]) -> None:
        super().__init__(kind, hint=f"; `serbench {kind.replace('-', '')}s` lists them, --plugin adds a file")
        self.base = base
        self.builtin_package = builtin_package
        self.entry_point_group = entry_point_group
        self.check = check
        REGISTRIES.append(self)

    def register(self, name: str) -> Callable[[type[P]], type[P]]:
        """Class decorator: register a subclass of the base under `name`."""

        def register(cls: type[P]) -> type[P]:
            source = _loading[-1] if _loading else self._module_source(cls.__module__)
            where = f"{self.kind} {name!r} ({source})"
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise SerbenchError(f"{where}: a {self.kind} name is letters, digits, '_' and '-'")
            if not (inspect.isclass(cls) and issubclass(cls, self.base)):
                raise SerbenchError(f"{where}: {cls!r} is not a subclass of {self.base.__module__}."
                                    f"{self.base.__qualname__}",
                                    hint=f"derive the class from {self.base.__module__}.{self.base.__qualname__}")
            if inspect.isabstract(cls):
                missing = ", ".join(sorted(cls.__abstractmethods__))  # type: ignore[attr-defined]
                raise SerbenchError(f"{where}: {cls.__qualname__} does not implement {missing}",
                                    hint="see docs/writing-a-method.md and docs/frontends.md for the interfaces")
            self.check(where, cls, source)
            existing = self._entries.get(name)
            if existing is not None and existing.source != source:
                raise SerbenchError(f"{self.kind} name {name!r} from {source} is already taken by the "
                                    f"{existing.source} {self.kind} {existing.cls.__module__}."
                                    f"{existing.cls.__qualname__}",
                                    hint="rename one of them in its @register_... decorator")
            cls.name = name  # type: ignore[attr-defined]
            self._entries[name] = Entry(name, cls, source)  # the same source loaded again replaces its entry
            return cls

        return register

    def _module_source(self, module: str) -> str:
        return "built-in" if module.startswith(f"{self.builtin_package}.") else f"module {module}"

    def discover(self, plugins: Iterable[str | Path] = ()) -> PluginRegistry[P]:
        """Register the built-ins, every installed entry point of this registry's group and the given plugin
        files; return the registry. Safe to call more than once."""
        _import("built-in", lambda: importlib.import_module(self.builtin_package))
        for point in entry_points(group=self.entry_point_group):
            dist = point.dist
            label = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
            _import(f"entry point {point.name} ({label})", point.load)
        for path in plugins:
            load_plugin_file(path)
        return self


REGISTRIES: list[PluginRegistry] = []  # every registry, so a plugin file's registrations can be counted


def _import(source: str, load: Callable[[], Any]) -> Any:
    """Run `load()` (an import) with registrations attributed to `source`; any failure names the plugin."""
    _loading.append(source)
    try:
        return load()
    except SerbenchError as error:
        message = error.message if source in error.message else f"{source}: {error.message}"
        raise SerbenchError(message, path=error.path, line=error.line, hint=error.hint) from error
    except Exception as error:  # a plugin's own bug: report it as the plugin's, not as serbench's
        raise SerbenchError(f"plugin {source} failed to import: {type(error).__name__}: {error}",
                            hint="fix the plugin, or leave it out") from error
    finally:
        _loading.pop()


def load_plugin_file(path: str | Path) -> list[str]:
    """Import a plugin file (`--plugin path.py`) and return the names of the methods and front-ends it registered."""
    path = Path(path).expanduser().resolve()
    if path.suffix != ".py" or not path.is_file():
        raise SerbenchError("no such plugin file", path=path, hint="--plugin takes the path of a .py file")
    source = f"file {path}"
    # A unique module name per file, so two plugins called methods.py do not replace each other.
    module_name = f"serbench_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]

    def load() -> None:
        sys.modules[module_name] = module  # dataclasses and pickling look the module up here
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except BaseException:
            del sys.modules[module_name]
            raise

    before = {(registry.kind, name, entry) for registry in REGISTRIES for name, entry in registry.items()}
    _import(source, load)
    added = [name for registry in REGISTRIES for name, entry in registry.items()
             if (registry.kind, name, entry) not in before]
    if not added:
        raise SerbenchError("the plugin registered no method or front-end", path=path,
                            hint='decorate the class with @register_method("name") or @register_frontend("name")')
    return added


def convert_setting(owner: str, noun: str, key: str, default: Any, value: Any) -> Any:
    """A plugin's setting (a method's hyperparameter, a front-end's setting) as the type of its default: bool,
    int, float or str; text from a command line or a file is parsed. Anything else is an error naming the owner
    ("method 'dann2_cs'"), the key and the value."""
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        with contextlib.suppress(KeyError, ValueError):  # left as text: refused below, naming the value
            value = words[value.lower()] if kind is bool else kind(value)
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        article = "an" if kind.__name__[0] in "aeiou" else "a"  # an int; a bool, a float, a str
        raise SerbenchError(f"{owner}: {noun} {key}={value!r} is not {article} {kind.__name__}",
                            hint=f"the default is {key}={default!r}")
    return value
