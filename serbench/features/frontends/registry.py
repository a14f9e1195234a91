"""The front-end registry: `@register_frontend("name")`, the lookup of a registered front-end with its settings,
and discovery of plugins (installed packages' entry points, `--plugin` files). It is apart from the package's
__init__ so that the built-ins, which register themselves on import, do not import the package back."""


from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from serbench.errors import SerbenchError
from serbench.features.frontends.base import KINDS, FrontEnd, make_settings
from serbench.plugins import PluginRegistry


def _check(where: str, cls: type[FrontEnd], source: str) -> None:
    if cls.kind not in KINDS:
        raise SerbenchError(f"{where}: kind {cls.kind!r} is not one of {', '.join(KINDS)}")
    if not hasattr(cls, "Settings"):
        raise SerbenchError(f"{where}: no Settings dataclass", hint="declare Settings, a frozen dataclass of defaults")


FRONTENDS = PluginRegistry("front-end", FrontEnd, "serbench.features.frontends", "serbench.frontends", _check)
register_frontend = FRONTENDS.register
DEFAULT_FRONTEND = "spectrogram"


def discover_frontends(plugins: Iterable[str | Path] = ()) -> PluginRegistry[FrontEnd]:
    """The built-in front-ends, those of installed packages and of the plugin files."""
    return FRONTENDS.discover(plugins)


def make_frontend(name: str = DEFAULT_FRONTEND, settings: Mapping[str, Any] | None = None) -> FrontEnd:
    """The registered front-end `name` with `settings` applied to its defaults (call discover_frontends first for
    plugins; the built-ins are always there)."""
    entry = FRONTENDS.lookup(name)
    frontend = entry.cls(make_settings(entry.cls, settings))
    frontend.code = "" if entry.source == "built-in" else entry.code
    return frontend
