"""The package's layout is its pipeline (docs/architecture.md): each layer imports only from the layers below it,
so the import graph has no circle, not even through imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import serbench

PACKAGE = Path(serbench.__file__).parent
# Bottom to top; a module may import from its own layer and the layers below. The top-level modules that plugins
# import (api, method, training, nn, metrics, errors) keep their paths: a method's file, imports included, enters
# its code fingerprint, so moving them would change every stored run id.
LAYERS = (
    ("errors", "files", "integrity", "plugins", "metrics"),  # the base: errors, safe files, registries, scores
    ("data",),  # releases -> utterance tables
    ("features",),  # utterances -> cached rows, normalisation
    ("protocols",),  # which corpora train and test, folds
    ("nn", "method", "training"),  # the method contract, the training loop
    ("methods", "api"),  # the built-in methods; what plugins import
    ("runs",),  # sweeps: plan, prepare, train, store
    ("reports",),  # tables, tests, pages
    ("cli", "__main__"),  # the command line
)
LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def unit(module: str) -> str:
    """The layer unit of a serbench module: its package below serbench, or its top-level module."""
    return module.split(".")[1]


def imports(path: Path) -> set[str]:
    """The serbench modules `path` imports at run time, wherever the import statement is (type-checking-only
    imports left out: they never run)."""
    tree = ast.parse(path.read_text())
    checking_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                     and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                     for statement in block.body for node in ast.walk(statement)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in checking_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("serbench"):
            # `from serbench.x import y` imports the module serbench.x.y where there is one, else serbench.x
            found.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                         for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("serbench."))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_layer() -> None:
    assert {unit(name) for name in MODULES if name != "serbench"} == set(LAYER)


def test_imports_go_down_the_layers() -> None:
    upward = [f"{name} imports {target}" for name, path in MODULES.items() if name != "serbench"
              for target in imports(path) if target != "serbench" and LAYER[unit(target)] > LAYER[unit(name)]]
    assert not upward, "\n".join(upward)


def test_no_import_circle_between_modules() -> None:
    graph = {name: {target for target in imports(path) if target in MODULES and target != name}
             for name, path in MODULES.items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            cycle = (*path[path.index(name):], name)
            raise AssertionError("import circle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
