"""A sweep's settings: everything `serbench run` (or `serbench.runs.launch.run`) was asked for, checked before
anything is loaded, and the same on every worker that plans the sweep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from serbench.data.sources import SYNTHETIC
from serbench.errors import SerbenchError
from serbench.protocols.protocol import OVERRIDES, split_reference

MAX_SEED = 2**63 - 1  # the largest seed torch.manual_seed and numpy's generators both take
MAX_EPOCHS = 100_000  # the most epochs a run may train: more is a typo, or a run that never ends
DEFAULT_SEEDS = 5


@dataclass(frozen=True)
class SweepConfig:
    """Everything `serbench run` was asked for: enough for any worker, on any machine, to plan the same runs. Its
    fields are the one list of a sweep's settings and their defaults: the command line and the Python `run` build
    it with `create`, by these names."""

    methods: tuple[str, ...]
    protocol: str  # a built-in name or a file path
    tasks: tuple[str, ...] = ()  # empty: the protocol's tasks
    seeds: tuple[int, ...] = tuple(range(DEFAULT_SEEDS))
    data: str | None = None  # --data; None: $SERBENCH_DATA or ./serbench.toml
    results: str = "results"
    device: str = "auto"
    preset: str | None = None
    epochs: int | None = None
    hp: Mapping[str, str] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    skip_bad: bool = False
    cache: str | None = None
    fuse: int = 1  # runs trained together at most (methods that can: Method.fusion_key)
    frontend: str | None = None  # --frontend; None: the protocol's
    frontend_settings: Mapping[str, str] = field(default_factory=dict)  # --frontend-setting KEY=VALUE
    # The protocol's keys of these names, set for the sweep (protocol.OVERRIDES; None: the protocol's own)
    normalisation: str | None = None
    adaptation: str | None = None
    selection: str | None = None

    @classmethod
    def create(cls, **settings: Any) -> SweepConfig:
        """A sweep from settings as a person gives them, by field name: `methods` (and `tasks`, `plugins`) a name
        or several, `seeds` a count (seeds 0 .. n-1) or the seeds, paths as str or Path, `hp` and
        `frontend_settings` mappings; None leaves a field's default. A name that is no field is an error."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise SerbenchError(f"unknown sweep setting {', '.join(unknown)}", hint=f"the settings: {', '.join(names)}")
        values = {key: value for key, value in settings.items() if value is not None}
        for key in ("methods", "tasks", "plugins"):
            if key in values:
                values[key] = (values[key],) if isinstance(values[key], str) else tuple(map(str, values[key]))
        if "seeds" in values:
            seeds = values["seeds"]
            values["seeds"] = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds)
        for key in ("protocol", "data", "results", "cache"):
            if key in values:
                values[key] = str(values[key])
        for key in ("hp", "frontend_settings"):
            if key in values:
                values[key] = dict(values[key])
        return cls(**values)

    def to_dict(self) -> dict:
        return {**asdict(self), "hp": dict(self.hp), "frontend_settings": dict(self.frontend_settings)}

    def check(self) -> None:
        """Refuse settings no sweep can run with, before anything is loaded: the one place they are checked
        (each hyperparameter's own range is checked by resolve_hparams when the sweep is planned)."""
        self._check_methods()
        self._check_seeds()
        self._check_hp()
        if self.epochs is not None and self.epochs < 1:
            raise SerbenchError(f"--epochs {self.epochs}: a run trains for at least one epoch")
        if self.epochs is not None and self.epochs > MAX_EPOCHS:
            raise SerbenchError(f"--epochs {self.epochs}: more than {MAX_EPOCHS:,}, the most epochs a run may train",
                                hint=f"give --epochs {MAX_EPOCHS} or fewer")
        for option, path in (("--results", self.results), ("--data", self.data), ("--cache-dir", self.cache)):
            if path is not None and not path.strip():  # an empty path is the current folder
                raise SerbenchError(f"{option} {path!r}: an empty path would use the current folder",
                                    hint=f"name a folder (or file), or leave {option} out for its default")
        if self.fuse < 1:
            raise SerbenchError(f"--fuse {self.fuse}: needs at least 1 (1 trains every run alone)")

    def _check_methods(self) -> None:
        if not self.methods:
            raise SerbenchError("no method given", hint="name one with --method, or --method all")
        if "all" in self.methods and len(self.methods) > 1:
            raise SerbenchError("--method all cannot be combined with other methods")
        repeated = given_twice(self.methods)
        if repeated is not None:
            raise SerbenchError(f"--method {repeated} is given twice", hint="name each method once")

    def _check_seeds(self) -> None:
        if not self.seeds:
            raise SerbenchError("no seeds: the sweep would run nothing", hint="give --seeds 1 or more")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
                raise SerbenchError(f"seed {seed!r} is not an integer from 0 to {MAX_SEED}",
                                    hint="seeds seed numpy's and torch's generators, which take 64-bit values")
        repeated = given_twice(self.seeds)
        if repeated is not None:
            raise SerbenchError(f"seed {repeated} is given twice", hint="give each --seed once")

    def _check_hp(self) -> None:
        for key, text in self.hp.items():
            scope, name = hp_scope(key)
            if scope == "" or not name:
                raise SerbenchError(f"--hp {key}={text}: {key!r} is no hyperparameter name",
                                    hint="write --hp KEY=VALUES for every method, or --hp METHOD.KEY=VALUES for one")
            values = hp_values(text)
            if "" in values:
                raise SerbenchError(f"--hp {key}={text}: an empty value",
                                    hint="write one value, or several separated by commas: --hp gamma=0.1,0.3")
            repeated = given_twice(values)
            if repeated is not None:
                raise SerbenchError(f"--hp {key}: the value {repeated} is given twice", hint="give each value once")
            if scope is not None and name in self.hp:
                raise SerbenchError(f"--hp {name} and --hp {key} both set {name} of {scope}",
                                    hint="give one of them")
        for option, name, value in (("--epochs", "epochs", self.epochs), ("--preset", "preset", self.preset)):
            both = [key for key in self.hp if hp_scope(key)[1] == name]
            if value is not None and both:
                raise SerbenchError(f"{option} {value} and --hp {both[0]}={self.hp[both[0]]} both set {name}",
                                    hint="give one of them")

    def hp_grid(self, method: str) -> dict[str, list[str]]:
        """--hp for `method` as a grid, by hyperparameter name: the keys for every method (`gamma=0.1,0.3` sweeps
        both values) and those scoped to it (`dann2_cs.gamma=0.1,0.3`); every combination of their values is
        run."""
        grid = {}
        for key, text in self.hp.items():
            scope, name = hp_scope(key)
            if scope in (None, method):
                grid[name] = hp_values(text)
        return grid

    def protocol_overrides(self) -> dict[str, str]:
        """The protocol's keys the sweep sets (--normalisation, --adaptation, --selection), in OVERRIDES' order."""
        return {key: getattr(self, key) for key in OVERRIDES if getattr(self, key) is not None}

    def absolute(self) -> SweepConfig:
        """The same sweep with every path made absolute, so workers started elsewhere read the same files."""
        def absolute(path: str) -> str:
            return str(Path(path).expanduser().resolve())

        data = self.data if self.data is None or self.data == SYNTHETIC else absolute(self.data)
        base, _ = split_reference(self.protocol)
        protocol = f"{absolute(base)}{self.protocol[len(base):]}" if base.endswith(".toml") else self.protocol
        return replace(self, data=data, protocol=protocol, results=absolute(self.results),
                       plugins=tuple(absolute(p) for p in self.plugins),
                       cache=None if self.cache is None else absolute(self.cache))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepConfig:
        sequences = ("methods", "tasks", "seeds", "plugins")
        values: dict[str, Any] = {k: tuple(v) if k in sequences else v for k, v in data.items()}
        return cls(**values)


def hp_scope(key: str) -> tuple[str | None, str]:
    """An --hp key's method and hyperparameter: `dann2_cs.gamma` -> ("dann2_cs", "gamma"), `gamma` -> (None,
    "gamma") for every method of the sweep."""
    scope, dot, name = key.rpartition(".")
    return (scope if dot else None), name


def hp_values(text: str) -> list[str]:
    """`0.1, 0.3` -> ["0.1", "0.3"]: the values an --hp key sweeps."""
    return [value.strip() for value in text.split(",")]


def given_twice(values: Sequence) -> Any:
    """The first value that occurs twice in `values` (None when each occurs once)."""
    seen = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None
