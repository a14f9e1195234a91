"""The method interface and registry: a method is one small class, registered with `@register_method("name")`.

A method declares its hyperparameter defaults, builds its model from a TaskSpec, performs one training update
on a mini-batch (serbench.training.Batch) and predicts class posteriors; it may expose the embedding its
emotion classifier sees. Methods come from three places: the built-ins (the package serbench.methods), installed
packages (entry-point group `serbench.methods`) and local files (`--plugin path/to/file.py`).
docs/writing-a-method.md is the tutorial.
"""

from __future__ import annotations

import abc
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from serbench.errors import SerbenchError

if TYPE_CHECKING:
    from serbench.training import Batch

ENTRY_POINT_GROUP = "serbench.methods"
BUILT_IN_PACKAGE = "serbench.methods"  # the methods/ folder, installed under this name
DOMAINS = ("speaker", "corpus", "gender", "language")
HP_TYPES = (bool, int, float, str)
HARNESS_HPARAMS = ("epochs", "batch_size")  # every method has them: serbench.training.fit reads them


@dataclass(frozen=True)
class TaskSpec:
    """What a method builds its model for: the emotion classes and the label set of every domain.

    Class index i means classes[i]; domain label index k of domain d means domains[d][k].
    """

    classes: tuple[str, ...]
    domains: Mapping[str, tuple[str, ...]]
    input_shape: tuple[int, int] = (32, 129)


class Method(nn.Module, abc.ABC):
    """Base class of every method. Subclasses set `hparams` (defaults; extend the base's) and implement
    `update` and `predict`; `embed` is optional.

    The harness moves the method to its device with `.to(device)` before training, switches `.train()` /
    `.eval()` and wraps predictions in torch.no_grad(); a method only computes.
    """

    name: ClassVar[str] = ""  # set by @register_method
    # Shared by every method: the model size, the optimiser (Adadelta as in the paper; lr 1.0 and rho 0.95 as
    # Zeiler proposed it) and the schedule the harness runs (a fixed number of epochs, never chosen on test data).
    hparams: ClassVar[dict[str, Any]] = {
        "preset": "paper",
        "lr": 1.0,
        "rho": 0.95,
        "epochs": 30,
        "batch_size": 128,
    }

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__()
        self.task = task
        self.hp = dict(hp)

    @abc.abstractmethod
    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        """One optimisation step on `batch`; `progress` is the fraction of training already done (0 to 1).
        `batch.adaptation` holds unlabelled test-part audio where the protocol allows it and uses_adaptation
        is True; its emotion labels are None, by construction.

        Returns the step's losses as detached 0-d tensors (never .item(): that would wait for the device).
        """

    @abc.abstractmethod
    def predict(self, segments: Tensor) -> Tensor:
        """Class posteriors (batch, n_classes) for segments (batch, time, frequency)."""

    @property
    def uses_adaptation(self) -> bool:
        """Whether `update` reads `batch.adaptation`, an unlabelled batch of the test part's audio (only ever
        given where the protocol allows adaptation). False by default: the harness then reads no such batches."""
        return False

    def embed(self, segments: Tensor) -> Tensor | None:
        """The embedding the emotion classifier sees (batch, dim), for diagnostics; None if not exposed."""
        return None

    def adadelta(self) -> torch.optim.Optimizer:
        """The paper's optimiser over all of this method's parameters, with this method's lr and rho."""
        return torch.optim.Adadelta(self.parameters(), lr=self.hp["lr"], rho=self.hp["rho"])


@dataclass(frozen=True)
class MethodEntry:
    """A registered method and where it came from."""

    name: str
    cls: type[Method]
    source: str  # "built-in", "entry point <name> (<distribution>)", "file <path>" or "module <name>"

    @property
    def description(self) -> str:
        """The first line of the class docstring."""
        doc = inspect.getdoc(self.cls) or ""
        return doc.splitlines()[0] if doc else ""


METHODS: dict[str, MethodEntry] = {}
_loading: list[str] = []  # the source being imported right now, so registrations know where they came from


def register_method(name: str):
    """Class decorator: register a Method subclass under `name`."""

    def register(cls: type) -> type:
        source = _loading[-1] if _loading else _module_source(cls.__module__)
        _check_method(name, cls, source)
        existing = METHODS.get(name)
        if existing is not None and existing.source != source:
            raise SerbenchError(f"method name {name!r} from {source} is already taken by the {existing.source} "
                                f"method {existing.cls.__module__}.{existing.cls.__qualname__}",
                                hint="rename one of them in its @register_method(...)")
        cls.name = name
        METHODS[name] = MethodEntry(name, cls, source)  # the same source loaded again replaces its entry
        return cls

    return register


def _module_source(module: str) -> str:
    """Where a class registered outside discover_methods came from (e.g. a built-in imported directly)."""
    return "built-in" if module.startswith(f"{BUILT_IN_PACKAGE}.") else f"module {module}"


def _check_method(name: str, cls: type, source: str) -> None:
    where = f"method {name!r} ({source})"
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise SerbenchError(f"{where}: a method name is letters, digits, '_' and '-'")
    if not (inspect.isclass(cls) and issubclass(cls, Method)):
        raise SerbenchError(f"{where}: {cls!r} is not a subclass of serbench.method.Method",
                            hint="derive the class from serbench.method.Method")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise SerbenchError(f"{where}: {cls.__qualname__} does not implement {missing}",
                            hint="see docs/writing-a-method.md for the interface")
    missing = [key for key in HARNESS_HPARAMS if key not in cls.hparams]
    if missing:
        raise SerbenchError(f"{where}: hparams lacks {', '.join(missing)}, which the harness reads",
                            hint="extend the base's defaults: hparams = {**Method.hparams, ...}")
    for key, value in cls.hparams.items():
        if not isinstance(value, HP_TYPES):
            raise SerbenchError(f"{where}: hyperparameter {key!r} has a default of type {type(value).__name__}",
                                hint="defaults must be bool, int, float or str")


def _import(source: str, load) -> object:
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
    """Import a method file (`--plugin path.py`) and return the names of the methods it registered."""
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

    before = set(METHODS.items())
    _import(source, load)
    added = [name for name, entry in METHODS.items() if (name, entry) not in before]
    if not added:
        raise SerbenchError("the plugin registered no method", path=path,
                            hint="decorate the method class with @register_method(\"name\")")
    return added


def discover_methods(plugins: Iterable[str | Path] = ()) -> dict[str, MethodEntry]:
    """Register the built-ins, every installed entry point of group `serbench.methods` and the given plugin
    files; return the registry. Safe to call more than once."""
    _import("built-in", lambda: importlib.import_module(BUILT_IN_PACKAGE))
    for point in entry_points(group=ENTRY_POINT_GROUP):
        distribution = point.dist.name if point.dist is not None else "unknown distribution"
        _import(f"entry point {point.name} ({distribution})", point.load)
    for path in plugins:
        load_plugin_file(path)
    return METHODS


def get_method(name: str) -> MethodEntry:
    """The registered method `name` (call discover_methods first)."""
    if name not in METHODS:
        known = ", ".join(sorted(METHODS)) or "none"
        raise SerbenchError(f"unknown method {name!r}",
                            hint=f"use one of: {known}; `serbench methods` lists them, --plugin adds a file")
    return METHODS[name]


def parse_hp(assignments: Sequence[str]) -> dict[str, str]:
    """`--hp key=value` arguments -> {key: value} (values still text; resolve_hparams converts them)."""
    result: dict[str, str] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise SerbenchError(f"--hp {text!r} is not key=value", hint="write for example --hp gamma=0.5")
        result[key.strip()] = value.strip()
    return result


def _convert(method: str, key: str, default: Any, value: Any) -> Any:
    if not isinstance(value, str):
        if isinstance(value, type(default)) or (type(default) is float and type(value) is int):
            return type(default)(value)
        raise SerbenchError(f"hyperparameter {key}={value!r} of method {method!r} is not a "
                            f"{type(default).__name__}")
    if isinstance(default, bool):  # before int: bool is a subclass of int
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if value.lower() in words:
            return words[value.lower()]
    else:
        try:
            return type(default)(value)
        except ValueError:
            pass
    raise SerbenchError(f"hyperparameter {key}={value!r} of method {method!r} is not a {type(default).__name__}",
                        hint=f"the default is {key}={default!r}")


def resolve_hparams(entry: MethodEntry, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The method's defaults with `overrides` applied and converted to the defaults' types: what a run records."""
    defaults = entry.cls.hparams
    hp = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            raise SerbenchError(f"method {entry.name!r} has no hyperparameter {key!r}",
                                hint=f"its hyperparameters: {', '.join(sorted(defaults))}")
        hp[key] = _convert(entry.name, key, defaults[key], value)
    return hp


def build_method(name: str, task: TaskSpec, overrides: Mapping[str, Any] | None = None, *,
                 seed: int = 0) -> Method:
    """Build the registered method `name` for `task`; its initial weights depend only on `seed`."""
    entry = get_method(name)
    hp = resolve_hparams(entry, overrides)
    torch.manual_seed(seed)
    if entry.source == "built-in":
        return entry.cls(task, hp)
    try:
        return entry.cls(task, hp)
    except Exception as error:  # a plugin's bug: name the plugin
        raise SerbenchError(f"method {name!r} ({entry.source}) failed to build: {type(error).__name__}: {error}",
                            hint="fix the plugin's __init__") from error
