"""The method interface and registry: a method is one small class, registered with `@register_method("name")`.

A method declares its hyperparameters (each a default, and where it matters a range or a set of choices: `HP`),
the kinds of input it accepts (the rows a front-end produces: segments, frames or vectors), builds its model from
a TaskSpec, performs one training update on a mini-batch (Batch) and predicts class
posteriors; it may expose the embedding its emotion classifier sees and turn row posteriors into an utterance's
decision its own way. Methods come from the built-ins (the package serbench.methods), installed packages
(entry-point group `serbench.methods`) and local files (`--plugin path/to/file.py`); serbench.plugins keeps the
registry. docs/writing-a-method.md is the tutorial.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from serbench.errors import SerbenchError
from serbench.features.frontends.base import KINDS
from serbench.metrics import TARGETS
from serbench.plugins import Entry, PluginRegistry, convert_setting

if TYPE_CHECKING:
    from serbench.training import RowSet

DOMAINS = ("speaker", "corpus", "gender", "language")
HP_TYPES = (bool, int, float, str)


@dataclass
class Batch:
    """One mini-batch on the training device.

    `inputs` are the rows a front-end made: segments (batch, time, features), vectors (batch, features) or
    (batch, layers, features), or for frames whole utterances, padded (batch, longest, features) with their
    `lengths`. `utterance` is each row's utterance (its index in the set). `adaptation` is an unlabelled batch of
    the test part (its emotion is None), present where the protocol allows adaptation and the method reads it
    (Method.uses_adaptation): domain heads may use it, emotion losses never.
    """

    inputs: Tensor
    # (batch,), int64 class index, or a dimensional task's float32 rating (on data.labels.RATING_RANGE); None in an
    # unlabelled batch and when predicting
    emotion: Tensor | None
    domains: dict[str, Tensor]  # domain name (speaker, corpus, gender, language) -> (batch,), int64 label index
    utterance: Tensor  # (batch,), int64
    lengths: Tensor | None = None  # frames: (batch,) valid frames of each padded sequence
    adaptation: Batch | None = None


@dataclass(frozen=True)
class HP:
    """A hyperparameter's declaration: its default, and the values it may take (an interval for numbers,
    `choices` for anything), checked once when a sweep is planned (as DomainBed's registry does)."""

    default: bool | int | float | str
    low: float | None = None  # smallest allowed value (inclusive)
    high: float | None = None  # largest allowed value (inclusive)
    choices: tuple[Any, ...] = ()
    doc: str = ""

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(repr, self.choices))
        bounds = [f">= {self.low:g}" if self.low is not None else "", f"<= {self.high:g}" if self.high is not None
                  else ""]
        return " and ".join(b for b in bounds if b) or f"any {type(self.default).__name__}"

    def admits(self, value: Any) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.choices:
            return value in self.choices
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


def declaration(value: Any) -> HP:
    """A plain default stands for an HP with no constraint."""
    return value if isinstance(value, HP) else HP(value)


@dataclass(frozen=True)
class InputSpec:
    """What the front-end gives a method: the kind of rows and the shape of one row."""

    kind: str = "segments"  # serbench.features.frontends.base.KINDS
    shape: tuple[int, ...] = (32, 129)  # one row: (time, features) for segments, (features,) or (layers, features)


@dataclass(frozen=True)
class TaskSpec:
    """What a method builds its model for: the emotion classes (or, for a dimensional task, the rating it predicts
    and no classes), the label set of every domain and the input.

    Class index i means classes[i]; domain label index k of domain d means domains[d][k].
    """

    classes: tuple[str, ...]
    domains: Mapping[str, tuple[str, ...]]
    input: InputSpec = field(default_factory=InputSpec)
    rating: str | None = None  # a dimensional task's rating (arousal, valence, dominance); None: classes

    @property
    def target(self) -> str:
        """What the method predicts (serbench.metrics.TARGETS): "classes" (posteriors) or "ratings" (one number)."""
        return "classes" if self.rating is None else "ratings"

    @property
    def outputs(self) -> int:
        """The width of predict's rows: one posterior per class, or the one predicted rating."""
        return len(self.classes) if self.rating is None else 1


# What the harness's schedule reads of a method trained in steps: a number of epochs (never chosen on test data)
# and the batch size.
SCHEDULE_HPARAMS: dict[str, HP] = {
    "epochs": HP(30, low=1, doc="training epochs (a fixed schedule)"),
    "batch_size": HP(128, low=1, doc="rows per mini-batch (utterances for frames and vectors)"),
}


class Method(nn.Module, abc.ABC):
    """Base class of every method. Subclasses set `hparams` (extend the base's) and `inputs`, and implement
    `predict` and one way of training: `update` (one step; the harness runs the schedule) or `fit_all` (one
    call on every training row, as a scikit-learn estimator trains; such a class sets its own `hparams`, without
    the schedule's). `embed`, `aggregate`, `after_epoch` and `uses_adaptation` are optional.

    The harness moves the method to its device with `.to(device)` before training, switches `.train()` /
    `.eval()` and wraps predictions in torch.no_grad(); a method only computes.
    """

    name: ClassVar[str] = ""  # set by @register_method
    inputs: ClassVar[tuple[str, ...]] = ("segments",)  # the kinds of rows it accepts (KINDS)
    targets: ClassVar[tuple[str, ...]] = ("classes",)  # what it can predict (TaskSpec.target): classes, ratings
    hparams: ClassVar[dict[str, Any]] = dict(SCHEDULE_HPARAMS)

    def __init__(self, task: TaskSpec, hp: Mapping[str, Any]) -> None:
        super().__init__()
        self.task = task
        self.hp = dict(hp)
        # What model selection chose for this run, recorded with it: the epoch kept (the harness, under a protocol
        # with selection = "best-validation"), or the settings fit_all chose on the training speakers.
        self.selection: dict[str, Any] = {}

    @classmethod
    def trains_in_steps(cls) -> bool:
        """Whether the harness trains it by `update` steps on its schedule (else: one `fit_all` call)."""
        return cls.fit_all is Method.fit_all

    def update(self, batch: Batch, progress: float) -> dict[str, Tensor]:
        """One optimisation step on `batch`; `progress` is the fraction of training already done (0 to 1).
        `batch.adaptation` holds unlabelled test-part audio where the protocol allows it and uses_adaptation
        is True; its emotion labels are None, by construction.

        Returns the step's losses as detached 0-d tensors (never .item(): that would wait for the device).
        """
        raise NotImplementedError(f"{type(self).__qualname__} implements neither update nor fit_all")

    def fit_all(self, train: Batch, validation: Batch | None) -> dict[str, Any]:
        """Train in one call on every training row (`train`: all of them, normalised, with their emotion and
        domain labels, speakers included), instead of `update` steps. `validation` holds the protocol's validation
        part (training speakers held out) where it has one. Whatever it chooses, it chooses on these alone.

        Returns what it chose (settings and the score that chose them: JSON numbers and strings), which the
        run records as its selection.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def predict(self, batch: Batch) -> Tensor:
        """Class posteriors (rows, n_classes) for the rows of `batch` (its emotion labels are None); for a
        dimensional task (TaskSpec.rating), the predicted rating (rows, 1)."""

    def embed(self, batch: Batch) -> Tensor | None:
        """The embedding the emotion classifier sees (rows, dim), for diagnostics; None if not exposed."""
        return None

    def aggregate(self, posteriors: Tensor, utterance: Tensor, n_utterances: int) -> Tensor:
        """Each utterance's decision (n_utterances, n_classes) from its rows' posteriors; by default their mean
        (the paper's rule for segments; one row per utterance for frames and vectors leaves it unchanged)."""
        sums = torch.zeros(n_utterances, posteriors.shape[1], device=posteriors.device).index_add_(0, utterance,
                                                                                                   posteriors)
        counts = torch.zeros(n_utterances, device=posteriors.device).index_add_(
            0, utterance, torch.ones_like(utterance, dtype=torch.float32))
        return sums / counts.unsqueeze(1)

    def after_epoch(self, epoch: int, validation_ua: float) -> bool:
        """Called after each epoch when the protocol holds out a validation part (`validation`, or the official
        split's validation partitions: training speakers only, never the test part), with the UA of the model on
        it now (its CCC for a dimensional task). Return True to stop training here. Keeping the best epoch's
        weights needs no code: a protocol with selection = "best-validation" has the harness do it for every method
        (training.BestValidation). By default it is ignored."""
        return False

    @property
    def uses_adaptation(self) -> bool:
        """Whether `update` reads `batch.adaptation`, an unlabelled batch of the test part's audio (only ever
        given where the protocol allows adaptation). False by default: the harness then reads no such batches."""
        return False

    # Training several runs at once (optional; the paper's family does it, serbench/methods/fusion.py). Runs whose
    # methods give equal, non-None keys are trained together by the class's fit_fused.
    @classmethod
    def fusion_key(cls, hp: Mapping[str, Any], *, adaptation: bool) -> tuple | None:
        return None

    @classmethod
    def fit_fused(cls, methods: Sequence[Method], datasets: Sequence[RowSet], seeds: Sequence[int], *,
                  adaptation: Sequence[RowSet | None], device: torch.device,
                  on_epoch: Callable[[int, int, dict[str, float]], None] | None = None
                  ) -> list[list[dict[str, float]]]:
        raise NotImplementedError(f"{cls.__qualname__} does not train runs together")


def _check_method(where: str, cls: type[Method], source: str) -> None:
    steps, whole = cls.update is not Method.update, not cls.trains_in_steps()
    if steps == whole:
        raise SerbenchError(f"{where}: it implements {'both' if steps else 'neither of'} update and fit_all",
                            hint="implement update (one training step on the harness's schedule) or fit_all "
                                 "(one call on every training row), not both")
    missing = [key for key in SCHEDULE_HPARAMS if key not in cls.hparams] if steps else []
    if missing:
        raise SerbenchError(f"{where}: hparams lacks {', '.join(missing)}, which the harness reads",
                            hint="extend the base's: hparams = {**Method.hparams, ...}")
    for key, value in cls.hparams.items():
        hp = declaration(value)
        if not isinstance(hp.default, HP_TYPES):
            raise SerbenchError(f"{where}: hyperparameter {key!r} has a default of type {type(hp.default).__name__}",
                                hint="defaults must be bool, int, float or str")
        if not hp.admits(hp.default):
            raise SerbenchError(f"{where}: hyperparameter {key!r}: its default {hp.default!r} is not {hp.allowed()}")
    unknown = [kind for kind in cls.inputs if kind not in KINDS]
    if not cls.inputs or unknown:
        raise SerbenchError(f"{where}: inputs must name kinds among {', '.join(KINDS)}, not {unknown or '()'}")
    if not cls.targets or any(target not in TARGETS for target in cls.targets):
        raise SerbenchError(f"{where}: targets must name some of {', '.join(TARGETS)}, not {cls.targets!r}")


METHODS = PluginRegistry("method", Method, "serbench.methods", "serbench.methods", _check_method)
register_method = METHODS.register


def discover_methods(plugins: Iterable[str | Path] = ()) -> PluginRegistry[Method]:
    """Register the built-ins, every installed entry point of group `serbench.methods` and the given plugin
    files (which may register front-ends too); return the registry. Safe to call more than once."""
    from serbench.features.frontends import FRONTENDS

    FRONTENDS.discover()
    return METHODS.discover(plugins)


def get_method(name: str) -> Entry[Method]:
    """The registered method `name` (call discover_methods first)."""
    return METHODS.lookup(name)


def parse_settings(assignments: Sequence[str], option: str = "--hp") -> dict[str, str]:
    """`--hp key=value` (or another option's) arguments -> {key: value}, values still text (resolve_hparams and
    the front-ends convert them). A key given twice is an error: keeping one would run what was not asked for."""
    result: dict[str, str] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise SerbenchError(f"{option} {text!r} is not key=value", hint=f"write for example {option} name=value")
        if key.strip() in result:
            raise SerbenchError(f"{option} {key.strip()} is given twice ({result[key.strip()]!r} and "
                                f"{value.strip()!r})", hint="give each setting once")
        result[key.strip()] = value.strip()
    return result


def resolve_hparams(entry: Entry[Method], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The method's defaults with `overrides` applied, converted to the defaults' types and checked against
    each hyperparameter's declared values: what a run records."""
    declared = {key: declaration(value) for key, value in entry.cls.hparams.items()}
    hp = {key: d.default for key, d in declared.items()}
    for key, value in (overrides or {}).items():
        if key not in declared:
            raise SerbenchError(f"method {entry.name!r} has no hyperparameter {key!r}",
                                hint=f"its hyperparameters: {', '.join(sorted(declared))}")
        converted = convert_setting(f"method {entry.name!r}", "hyperparameter", key, declared[key].default, value)
        if not declared[key].admits(converted):
            raise SerbenchError(f"hyperparameter {key}={value!r} of method {entry.name!r} is out of range",
                                hint=f"{key} must be {declared[key].allowed()}")
        hp[key] = converted
    return hp


def check_input(entry: Entry[Method], spec: InputSpec, frontend: str) -> None:
    """A method given rows it does not accept is an error before any training."""
    if spec.kind not in entry.cls.inputs:
        raise SerbenchError(f"method {entry.name!r} takes {' or '.join(entry.cls.inputs)}, but the front-end "
                            f"{frontend!r} produces {spec.kind}",
                            hint="choose a front-end of that kind (`serbench frontends`), or another method")


def check_target(entry: Entry[Method], target: str, task: str) -> None:
    """A method asked for a target it cannot predict (a classifier on a dimensional task) is an error before any
    data is loaded."""
    if target not in entry.cls.targets:
        able = sorted(name for name, other in METHODS.items() if target in other.cls.targets)
        raise SerbenchError(f"method {entry.name!r} predicts {' or '.join(entry.cls.targets)}, and the task {task!r} "
                            f"asks for {target}", hint=f"methods that predict {target}: {', '.join(able) or 'none'}")


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
    except SerbenchError:
        raise
    except Exception as error:  # a plugin's bug: name the plugin
        raise SerbenchError(f"method {name!r} ({entry.source}) failed to build: {type(error).__name__}: {error}",
                            hint="fix the plugin's __init__") from error

