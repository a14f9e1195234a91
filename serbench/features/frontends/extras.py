"""The packages some built-in front-ends need beyond serbench's own dependencies, and the install extra of serbench
that brings each (pyproject.toml's [project.optional-dependencies]; tests/test_packaging.py checks that they
agree). A front-end refuses to start without them, naming itself, the package and the extra."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from serbench.errors import SerbenchError

EXTRAS = {"opensmile": "egemaps", "transformers": "ssl", "huggingface_hub": "ssl"}  # import name -> extra


def missing_package(frontend: str, package: str, why: str = "is not installed") -> SerbenchError:
    extra = EXTRAS[package]
    return SerbenchError(f"front-end {frontend!r} needs the {package} package, which {why}",
                         hint=f"install serbench's {extra} extra: pip install 'serbench[{extra}]'")


def require(frontend: str, *packages: str) -> None:
    """Refuse `frontend` where one of `packages` is not installed: front-ends call it from check(), so a sweep
    stops when it is planned, before any data is read. Nothing is imported."""
    for package in packages:
        if importlib.util.find_spec(package) is None:
            raise missing_package(frontend, package)


def load(frontend: str, module: str) -> Any:
    """`module` (of a package in EXTRAS), imported where `frontend` first needs it; an install that does not
    import is the same error as a missing one, with the reason."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise missing_package(frontend, module.partition(".")[0], f"does not import ({error})") from None
