"""Training and prediction for any method: mini-batches (labelled, and unlabelled ones for adaptation), the
device choice, a plain training loop and utterance decisions by averaging segment posteriors.

The harness builds SegmentSets from the feature cache (segments normalised as they are read, and their labels) and
calls fit and utterance_posteriors; everything here is independent of protocols and corpora.
"""

from __future__ import annotations

import inspect
import math
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from serbench.errors import SerbenchError
from serbench.features.normalisation import Normaliser, standardise

# Batch belongs to the method contract (serbench.method); the built-in methods import it from here, and their
# files' bytes enter run identities, so the name stays importable here too.
from serbench.method import Batch, Method, TaskSpec
from serbench.metrics import TARGETS, main_metric, prediction_scores


class FeatureBank:
    """The segment rows of several feature caches as one row space (part i's rows follow part i-1's), read in
    place: the memory maps are shared by every run and process, never copied whole into host memory.

    On a GPU, `make_resident` uploads the rows once, so batches are gathered on the device without a host copy.
    """

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        if not parts:
            raise SerbenchError("a feature bank needs at least one feature array")
        self.parts = list(parts)
        self.offsets = np.cumsum([0, *(len(part) for part in self.parts)])
        self.shape = (int(self.offsets[-1]), *self.parts[0].shape[1:])
        self._resident: dict[torch.device, Tensor] = {}

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        """The segments of `rows` (an index array) as one float32 array, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.parts) == 1:
            return np.asarray(self.parts[0][rows], dtype=np.float32)
        part = np.searchsorted(self.offsets, rows, side="right") - 1
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        for i in np.unique(part):
            mine = part == i
            out[mine] = self.parts[i][rows[mine] - self.offsets[i]]
        return out

    def take(self, rows: Tensor) -> Tensor:
        """The segments of `rows` on rows' device: gathered there when the bank is resident, else read here."""
        resident = self._resident.get(rows.device)
        if resident is not None:
            return resident[rows]
        return torch.from_numpy(self[rows.cpu().numpy()]).to(rows.device, non_blocking=True)

    def make_resident(self, device: torch.device, *, headroom: float = 0.5) -> bool:
        """Upload every row to the GPU `device` once, if they take at most `headroom` of its free memory;
        returns whether the bank is resident there. A CPU reads the memory maps directly instead."""
        if device.type != "cuda":
            return False
        device = torch.empty(0, device=device).device  # "cuda" -> "cuda:0": the key take() looks up
        if device not in self._resident:
            size = int(np.prod(self.shape)) * 4
            if size > headroom * torch.cuda.mem_get_info(device)[0]:
                return False
            resident = torch.empty(self.shape, dtype=torch.float32, device=device)
            for part, start in zip(self.parts, self.offsets, strict=False):
                for begin in range(0, len(part), 65536):  # in chunks: a bounded host copy at a time
                    chunk = np.asarray(part[begin:begin + 65536], dtype=np.float32)
                    resident[start + begin:start + begin + len(chunk)].copy_(torch.from_numpy(chunk))
            self._resident[device] = resident
        return True


@dataclass
class RowSet:
    """The rows (segments, frames, vectors or posteriors) of a set of utterances with their labels.

    `features` holds the rows, maybe shared with other sets (a FeatureBank; a plain array is wrapped in one);
    `rows` picks this set's among them (None: every row, in order), an utterance's rows consecutive.
    `normaliser`, if given, is applied to each batch as it is read, row i with the statistics of its group
    norm_group[i] (default: the first group), so no normalised copy of the data is ever made; never to posteriors,
    which are read as they are. utterance[i] is the index (0 .. n_utterances - 1) of the utterance row i belongs
    to. An unlabelled set (adaptation audio) has emotion None. `kind` decides what a batch is: rows for segments,
    vectors and posteriors, whole utterances for frames.
    """

    features: FeatureBank  # a plain array is accepted too, and wrapped in one
    utterance: np.ndarray  # (n,)
    emotion: np.ndarray | None  # (n,)
    domains: dict[str, np.ndarray]  # name -> (n,)
    rows: np.ndarray = None  # type: ignore[assignment]  # (n,) indices into features; None (every row) is filled in
    normaliser: Normaliser | None = None
    norm_group: np.ndarray | None = None  # (n,) row of the normaliser's statistics for each row
    kind: str = "segments"
    _on_device: dict[torch.device, dict[str, Tensor]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.features, FeatureBank):
            self.features = FeatureBank([self.features])
        if self.rows is None:
            self.rows = np.arange(len(self.features))
        n = len(self.rows)
        labels = [("utterance", self.utterance), *self.domains.items()]
        labels += [("emotion", self.emotion)] if self.emotion is not None else []
        labels += [("normalisation group", self.norm_group)] if self.norm_group is not None else []
        for what, values in labels:
            if len(values) != n:
                raise SerbenchError(f"{n} rows but {len(values)} {what} labels",
                                    hint="rebuild the feature cache (`serbench data features`)")
        if n and (np.bincount(self.utterance).min() == 0 or (np.diff(self.utterance) < 0).any()):
            raise SerbenchError("utterance indices of the rows are not 0 .. n_utterances - 1 in order",
                                hint="number the utterances consecutively; drop utterances without rows")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_utterances(self) -> int:
        return int(self.utterance.max()) + 1 if len(self) else 0

    @property
    def units(self) -> int:
        """How many things a batch picks from: rows, or utterances for frames."""
        return self.n_utterances if self.kind == "frames" else len(self)

    def on(self, device: torch.device) -> dict[str, Tensor]:
        """Rows, labels and normaliser statistics as tensors on `device`, made once per device."""
        if device not in self._on_device:
            arrays = {"rows": self.rows, "utterance": self.utterance,
                      **({"emotion": self.emotion} if self.emotion is not None else {}),
                      **{f"domain_{name}": labels for name, labels in self.domains.items()}}
            # labels are indices, except a dimensional task's ratings
            tensors = {key: torch.as_tensor(np.asarray(values), dtype=torch.float32 if key == "emotion" and
                                            np.asarray(values).dtype.kind == "f" else torch.int64).to(device)
                       for key, values in arrays.items()}
            if self.normaliser is not None:
                groups = self.norm_group if self.norm_group is not None else np.zeros(len(self), dtype=np.int64)
                tensors["norm_group"] = torch.as_tensor(groups, dtype=torch.int64).to(device)
                tensors["mean"] = torch.as_tensor(self.normaliser.mean, dtype=torch.float64).to(device)
                tensors["std"] = torch.as_tensor(self.normaliser.safe_std, dtype=torch.float64).to(device)
            self._on_device[device] = tensors
        return self._on_device[device]

    def inputs(self, positions: Tensor) -> Tensor:
        """The (normalised) rows at `positions` of this set, on positions' device."""
        on = self.on(positions.device)
        rows = self.features.take(on["rows"][positions])
        if self.normaliser is None or self.kind == "posteriors":  # probabilities: standardised, they would be none
            return rows
        features = self.normaliser.shape  # the statistics' axes: the last of a row
        shape = (len(positions), *([1] * (rows.dim() - 1 - len(features))), *features)
        group = on["norm_group"][positions]
        return standardise(rows, on["mean"][group].view(shape), on["std"][group].view(shape))

    def batch(self, positions: Tensor) -> Batch:
        """The mini-batch of the units at `positions` (a tensor on the training device): rows, or for frames
        whole utterances (padded with zeros after their last frame)."""
        on = self.on(positions.device)
        if self.kind == "frames":
            return self._utterance_batch(positions)
        return Batch(self.inputs(positions), on["emotion"][positions] if "emotion" in on else None,
                     {name: on[f"domain_{name}"][positions] for name in self.domains}, on["utterance"][positions])

    def _utterance_batch(self, utterances: Tensor) -> Batch:
        starts, counts = self._utterance_ranges()
        chosen = utterances.cpu().numpy()
        lengths = counts[chosen]
        offsets = np.arange(int(lengths.max()))
        valid = offsets[None, :] < lengths[:, None]
        index = np.where(valid, starts[chosen][:, None] + offsets[None, :], starts[chosen][:, None])
        device = utterances.device
        flat = self.inputs(torch.as_tensor(index.reshape(-1), device=device))
        frames = flat.view(*index.shape, *flat.shape[1:]) * torch.as_tensor(valid, device=device)[..., None]
        first = torch.as_tensor(starts[chosen], device=device)  # an utterance's labels are its first row's
        on = self.on(device)
        return Batch(frames, on["emotion"][first] if "emotion" in on else None,
                     {name: on[f"domain_{name}"][first] for name in self.domains}, utterances,
                     lengths=torch.as_tensor(lengths, device=device))

    def _utterance_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        counts = np.bincount(self.utterance, minlength=self.n_utterances)
        return np.concatenate([[0], np.cumsum(counts)[:-1]]), counts


# The class's name until it held frames and vectors too: methods/paper.py imports it by that name, and its bytes
# enter run identities (as with Batch above).
SegmentSet = RowSet


def epoch_batches(order_rng: np.random.Generator, n: int, batch_size: int) -> np.ndarray:
    """One epoch's mini-batches (steps, batch_size) of positions 0 .. n-1: a new random order cut into full
    batches, each sorted (faster memory-map reads); the incomplete tail batch is left out, and a different
    part of the data falls into it every epoch. An epoch of fewer than batch_size segments is one batch."""
    order = order_rng.permutation(n)
    steps = max(1, n // batch_size)
    return np.sort(order[:steps * min(batch_size, n)].reshape(steps, -1), axis=1)


class BatchStream:
    """An endless sequence of mini-batches of positions 0 .. n-1: epoch_batches, one epoch after another, from
    `rng`. The adaptation batches come from one: the unlabelled part has its own size and its own epochs."""

    def __init__(self, rng: np.random.Generator, n: int, batch_size: int) -> None:
        self.rng, self.n, self.batch_size = rng, n, batch_size
        self._queue = np.zeros((0, min(batch_size, n)), dtype=np.int64)

    def take(self, steps: int) -> np.ndarray:
        """The next `steps` batches, (steps, min(batch_size, n))."""
        while len(self._queue) < steps:
            self._queue = np.concatenate([self._queue, epoch_batches(self.rng, self.n, self.batch_size)])
        taken, self._queue = self._queue[:steps], self._queue[steps:]
        return taken


def adaptation_seed(seed: int) -> list[int]:
    """The generator seed of a run's adaptation batches: its own stream, so labelled batches are the same with
    or without adaptation."""
    return [seed, 1]


def choose_device(name: str = "auto") -> torch.device:
    """`auto` (CUDA when there is a GPU, else CPU), `cpu`, `cuda` or `cuda:N`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SerbenchError(f"--device {name}: this torch sees no CUDA GPU",
                            hint="use --device cpu, or install a CUDA build of torch on a machine with a GPU")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise SerbenchError(f"--device {name!r} is not a device ({error})",
                            hint="use auto, cpu, cuda or cuda:N") from error


class EpochSelection:
    """A protocol's model selection during training (its `selection`): it sees every epoch (with the validation
    UA where fit has a validation part), may stop training, and puts the chosen epoch's weights back at the end."""

    needs_validation = False

    def observe(self, method: Method, epoch: int, score: float | None) -> bool:
        """Note epoch `epoch` (0-based); True when training should stop."""
        raise NotImplementedError

    def restore(self, method: Method) -> None:
        raise NotImplementedError


def weights(method: Method) -> dict[str, Tensor]:
    return {key: value.detach().clone() for key, value in method.state_dict().items()}


@dataclass
class BestValidation(EpochSelection):
    """Model selection on the validation part (protocol `selection = "best-validation"`): keep the weights of the
    epoch with the best validation score (UA, or CCC for ratings; the earliest of equals), stop once `patience`
    epochs have passed without a better one, and restore the kept weights when training ends."""

    patience: int
    best_score: float = -math.inf
    best_epoch: int = -1
    state: dict[str, Tensor] = field(default_factory=dict)
    needs_validation = True

    def observe(self, method: Method, epoch: int, score: float | None) -> bool:
        assert score is not None  # fit gives a validation score: needs_validation
        if score > self.best_score:
            self.best_score, self.best_epoch, self.state = score, epoch, weights(method)
        return epoch - self.best_epoch >= self.patience

    def restore(self, method: Method) -> None:
        method.load_state_dict(self.state)
        method.selection = {"epoch": self.best_epoch + 1, validation_key(method.task): self.best_score}


@dataclass
class ChosenEpoch(EpochSelection):
    """An epoch chosen before training (protocol `selection = "leave-one-corpus-out"`: held_out_epoch): keep its
    weights, train the whole schedule (a method's schedule, such as DANN's reversal weight, depends on it), and
    put them back at the end; `chosen` is what the record says of the choice."""

    epoch: int  # 0-based
    chosen: dict[str, Any]
    state: dict[str, Tensor] = field(default_factory=dict)

    def observe(self, method: Method, epoch: int, score: float | None) -> bool:
        if epoch == self.epoch:
            self.state = weights(method)
        return False

    def restore(self, method: Method) -> None:
        if not self.state:
            raise SerbenchError(f"the chosen epoch {self.epoch + 1} was never reached",
                                hint="the held-out runs and this run must train the same schedule")
        method.load_state_dict(self.state)
        method.selection = self.chosen


def held_out_epoch(build: Callable[[], Method], held_out: Mapping[str, tuple[RowSet, RowSet]], *,
                   adaptation: RowSet | None, seed: int, device: str | torch.device,
                   on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> ChosenEpoch:
    """Leave-one-training-corpus-out model selection (DomainBed's leave-one-domain-out, for the epoch): for each
    training corpus, a fresh model (`build`) trains on the other training corpora (`held_out[corpus]`: those and
    the corpus's own training utterances) with the run's seed and schedule, and is scored on the held-out corpus
    after every epoch. The epoch with the best mean score (UA, or CCC for ratings) over the held-out corpora (the
    earliest of equals; over the epochs every model reached, where a method stops early) is the one the run keeps;
    the record gets each held-out corpus's curve (`held_out`) and the mean at the chosen epoch (`validation_ua`,
    `validation_ccc`)."""
    curves = {}
    for corpus, (train, validation) in sorted(held_out.items()):
        model = build()
        key = validation_key(model.task)
        history = fit(model, train, adaptation=adaptation, seed=seed, device=device, validation=validation,
                      on_epoch=on_epoch)
        curves[corpus] = [epoch[key] for epoch in history]
    reached = min(len(curve) for curve in curves.values())
    mean = np.mean([curve[:reached] for curve in curves.values()], axis=0)
    best = int(np.argmax(mean))
    return ChosenEpoch(best, {"epoch": best + 1, key: float(mean[best]), "held_out": curves})


@dataclass
class EpochOracle:
    """The protocol's `oracle = true`: after every epoch, each test corpus's main score (UA, or CCC for ratings),
    keeping for each corpus the best epoch and its statistic (confusion matrix or rating sums). Only reported, as an
    upper bound of what choosing an epoch could give, and labelled as chosen on the test part: it never chooses,
    stops or restores anything."""

    data: RowSet  # the test part, labelled
    corpora: np.ndarray  # each test utterance's corpus, in the set's utterance order
    best: dict[str, dict[str, Any]] = field(default_factory=dict)

    def observe(self, method: Method, epoch: int, device: torch.device) -> None:
        labels = utterance_labels(self.data)
        outputs = utterance_posteriors(method, self.data, device=device)
        method.train()
        main, statistic = main_metric(method.task.target).name, TARGETS[method.task.target]
        for corpus in sorted(set(self.corpora)):
            chosen = self.corpora == corpus
            result = task_scores(method.task, labels[chosen], outputs[chosen])
            if corpus not in self.best or result[main] > self.best[corpus][main]:
                self.best[str(corpus)] = {"epoch": epoch + 1, main: result[main], statistic: result[statistic]}


def fit(method: Method, data: RowSet, *, adaptation: RowSet | None = None, epochs: int | None = None,
        batch_size: int | None = None, seed: int = 0, device: str | torch.device = "auto",
        on_epoch: Callable[[int, dict[str, float]], None] | None = None,
        validation: RowSet | None = None, on_step: Callable[[float], None] | None = None,
        selection: EpochSelection | None = None, oracle: EpochOracle | None = None) -> list[dict[str, float]]:
    """Train `method` on `data` for a fixed number of epochs (default: the method's `epochs` and `batch_size`
    hyperparameters) and return the mean losses of every epoch; a method that trains in one call (fit_all) gets
    every training row at once instead, and returns no curve.

    Each epoch's batches come from epoch_batches, with the order drawn from `seed`. `adaptation` is the unlabelled
    audio the protocol allows (None: none); a method that reads it (Method.uses_adaptation) gets one unlabelled
    batch of the same size with every labelled one, from its own BatchStream. With a labelled `validation` set
    (training speakers held out), each epoch's score on it is recorded (`validation_ua`; `validation_ccc` for
    ratings) and given to Method.after_epoch, which may stop training early. `selection` sees every epoch and keeps
    its choice's weights. An `oracle` sees the test part after every epoch and only records what it saw.
    `on_step` gets the epochs done so far (a fraction within an epoch) after every step, for progress displays.
    """
    if not len(data):
        raise SerbenchError("no training rows", hint="check the protocol's training corpora and the cache")
    device = choose_device(device) if isinstance(device, str) else device
    if not method.trains_in_steps():
        return fit_all(method, data, validation, seed, device)
    if selection is not None and selection.needs_validation and validation is None:
        raise SerbenchError("selection on the validation part needs a validation part",
                            hint='give the protocol validation = 0.2, or selection = "last"')
    epochs = method.hp["epochs"] if epochs is None else epochs
    batch_size = method.hp["batch_size"] if batch_size is None else batch_size
    torch.manual_seed(seed)  # randomness inside the method (dropout, sampling)
    order_rng = np.random.default_rng(seed)
    unlabelled = adaptation if adaptation is not None and len(adaptation) and method.uses_adaptation else None
    stream = BatchStream(np.random.default_rng(adaptation_seed(seed)), unlabelled.units, batch_size) \
        if unlabelled is not None else None
    data.features.make_resident(device)  # on a GPU: gather batches there, no host copy per step
    method.to(device).train()
    history: list[dict[str, float]] = []
    for epoch in range(epochs):
        # one upload of the epoch's batch positions; each step then only slices tensors already on the device
        batches = torch.as_tensor(epoch_batches(order_rng, data.units, batch_size)).to(device)
        extra = torch.as_tensor(stream.take(len(batches))).to(device) if stream is not None else None
        losses = EpochLosses(epoch, len(batches), on_cpu=device.type == "cpu")
        for step in range(len(batches)):
            batch = data.batch(batches[step])
            if unlabelled is not None and extra is not None:
                batch.adaptation = unlabelled.batch(extra[step])
            step_losses = method.update(batch, (epoch * len(batches) + step) / (epochs * len(batches)))
            check_losses(method, step_losses)
            losses.add(step, step_losses)
            if on_step is not None:
                on_step(epoch + (step + 1) / len(batches))
        history.append(losses.means())
        if end_epoch(method, epoch, history[-1], validation=validation, selection=selection, oracle=oracle,
                     device=device, on_epoch=on_epoch):
            break
    if selection is not None:
        selection.restore(method)
    return history


class EpochLosses:
    """An epoch's loss terms summed over its steps, checked for divergence: at once on a CPU (free to look), and
    elsewhere tracked on the device (no step waits for a GPU) with the first step whose value was not finite."""

    def __init__(self, epoch: int, steps: int, *, on_cpu: bool) -> None:
        self.epoch, self.steps, self.on_cpu = epoch, steps, on_cpu
        self.totals: dict[str, Tensor] = {}
        self.first_bad: dict[str, Tensor] = {}

    def add(self, step: int, losses: Mapping[str, Tensor]) -> None:
        for key, value in losses.items():
            value = value.detach()
            self.totals[key] = self.totals[key] + value if key in self.totals else value
            if self.on_cpu:
                if not math.isfinite(value):
                    raise diverged(key, float(value), self.epoch, step, self.steps)
                continue
            finite = torch.isfinite(value).long()
            bad = finite * self.steps + (1 - finite) * step
            self.first_bad[key] = torch.minimum(self.first_bad[key], bad) if key in self.first_bad else bad

    def means(self) -> dict[str, float]:
        """Each term's mean over the epoch (one sync per epoch), or the divergence error."""
        means = {key: float(total) / self.steps for key, total in self.totals.items()}
        for key, mean in means.items():
            if not math.isfinite(mean):
                first = int(self.first_bad[key]) if key in self.first_bad else None
                raise diverged(key, mean, self.epoch, first, self.steps)
        return means


def end_epoch(method: Method, epoch: int, losses: dict[str, float], *, validation: RowSet | None,
              selection: EpochSelection | None, oracle: EpochOracle | None, device: torch.device,
              on_epoch: Callable[[int, dict[str, float]], None] | None) -> bool:
    """After an epoch: its validation score (added to `losses`, the epoch's record), the selection's and the
    oracle's look, the progress callback; whether training stops early."""
    score, stop = None, False
    if validation is not None:
        score = losses[validation_key(method.task)] = validation_score(method, validation, device)
        method.train()
        stop = method.after_epoch(epoch, score)
    if selection is not None:
        stop = selection.observe(method, epoch, score) or stop
    if oracle is not None:
        oracle.observe(method, epoch, device)
    if on_epoch is not None:
        on_epoch(epoch, losses)
    return stop


def fit_all(method: Method, data: RowSet, validation: RowSet | None, seed: int,
            device: torch.device) -> list[dict[str, float]]:
    """Train a method that fits in one call (Method.fit_all) on every row of `data`; no curve."""
    def everything(rows: RowSet) -> Batch:
        return rows.batch(torch.arange(rows.units, device=device))

    torch.manual_seed(seed)
    method.to(device).train()
    chosen = method.fit_all(everything(data), everything(validation) if validation is not None else None)
    method.selection = checked_selection(method, chosen)
    return []


def validation_score(method: Method, data: RowSet, device: torch.device) -> float:
    """The method's main score now (UA, or CCC for ratings) on a labelled set of utterances (its decisions by
    Method.aggregate)."""
    outputs = utterance_posteriors(method, data, device=device)
    return float(task_scores(method.task, utterance_labels(data), outputs)[main_metric(method.task.target).name])


def validation_key(task: TaskSpec) -> str:
    """Where an epoch's validation score is kept: `validation_ua` (classes), `validation_ccc` (ratings)."""
    return f"validation_{main_metric(task.target).name}"


def task_scores(task: TaskSpec, truth: np.ndarray, outputs: np.ndarray) -> dict:
    """Every registered score of utterances' outputs (utterance_posteriors) against their truth, of their
    decisions."""
    return prediction_scores(truth, decisions(outputs, len(task.classes)), len(task.classes))


def decisions(outputs: np.ndarray, n_classes: int) -> np.ndarray:
    """Each utterance's decision from its outputs (utterance_posteriors): the class of the highest posterior, or,
    with no classes (a dimensional task), the one predicted rating."""
    return outputs.argmax(axis=1) if n_classes else outputs[:, 0]


def utterance_labels(data: RowSet) -> np.ndarray:
    """Each utterance's emotion class (a dimensional task's rating) in a labelled set, from its rows' labels."""
    assert data.emotion is not None, "an unlabelled set (adaptation audio) has no emotion classes"
    labels = np.zeros(data.n_utterances, dtype=data.emotion.dtype)
    labels[data.utterance] = data.emotion
    return labels


def diverged(term: str, value: float, epoch: int, step: int | None = None, steps: int = 0) -> SerbenchError:
    """The error of a run whose loss became NaN or infinite (at `step`, where known): it is recorded as failed,
    never stored as done."""
    where = f"step {step + 1} of {steps} in epoch {epoch + 1}" if step is not None else f"epoch {epoch + 1}"
    return SerbenchError(f"training diverged: the {term!r} loss was {value} at {where}",
                         hint="lower the learning rate (--hp lr=...), check the features (serbench data check) "
                              "or, for a plugin, its loss")


@torch.no_grad()
def _per_row(compute: Callable[[Batch], Tensor], data: RowSet, batch_size: int,
             device: torch.device) -> tuple[Tensor, Tensor]:
    """compute(batch) over the whole set, in batches: the values (units, dim) and each one's utterance."""
    if not data.units:
        raise SerbenchError("nothing to predict", hint="check the protocol's test corpora and the cache")
    data.features.make_resident(device)
    values, utterances = [], []
    for start in range(0, data.units, batch_size):
        batch = data.batch(torch.arange(start, min(start + batch_size, data.units), device=device))
        batch.emotion = None  # predictions never see labels
        values.append(compute(batch).float())
        utterances.append(batch.utterance)
    return torch.cat(values), torch.cat(utterances)


def utterance_posteriors(method: Method, data: RowSet, *, batch_size: int = 512,
                         device: str | torch.device = "auto") -> np.ndarray:
    """(n_utterances, n_classes): each utterance's decision, from its rows' posteriors by Method.aggregate
    (the mean by default); for a dimensional task (n_utterances, 1), each utterance's predicted rating."""
    device = choose_device(device) if isinstance(device, str) else device
    method.to(device).eval()
    outputs, ratings = method.task.outputs, method.task.rating is not None

    def predict(batch: Batch) -> Tensor:
        posteriors = method.predict(batch)
        check_shape(method, "predict", posteriors, (len(batch.utterance), outputs),
                    RATING_CONTRACT if ratings else PREDICT_CONTRACT)
        return posteriors

    posteriors, utterance = _per_row(predict, data, batch_size, device)
    if ratings:
        check_ratings(method, posteriors)
    else:
        check_probabilities(method, posteriors)
    with torch.no_grad():
        decided = method.aggregate(posteriors, utterance, data.n_utterances)
    check_shape(method, "aggregate", decided, (data.n_utterances, outputs),
                RATING_AGGREGATE_CONTRACT if ratings else AGGREGATE_CONTRACT)
    return decided.cpu().numpy()


def utterance_embeddings(method: Method, data: RowSet, *, batch_size: int = 512,
                         device: str | torch.device = "auto") -> np.ndarray:
    """(n_utterances, dim): the mean of each utterance's row embeddings (Method.embed), for diagnostics."""
    device = choose_device(device) if isinstance(device, str) else device
    method.to(device).eval()

    def embed(batch: Batch) -> Tensor:
        embedding = method.embed(batch)
        if embedding is None:
            raise SerbenchError(f"method {method.name!r} does not expose embeddings",
                                hint="implement Method.embed to get embedding diagnostics")
        return embedding

    embeddings, utterance = _per_row(embed, data, batch_size, device)
    with torch.no_grad():
        return Method.aggregate(method, embeddings, utterance, data.n_utterances).cpu().numpy()


# The contract of a method's hooks, checked where the harness calls them (docs/writing-a-method.md): a breach is a
# failed run whose message names the method, its file, the contract and what came back.
UPDATE_CONTRACT = "a dict of loss name (str) -> detached 0-d tensor"
FIT_ALL_CONTRACT = "a dict of str -> JSON numbers or strings (what it chose: the run records it as its selection)"
PREDICT_CONTRACT = ("a float tensor of shape (rows of the batch, classes) holding probabilities: finite, >= 0, each "
                    "row summing to 1")
AGGREGATE_CONTRACT = "a float tensor of shape (utterances, classes): each utterance's posteriors"
RATING_CONTRACT = "for a dimensional task, a float tensor of shape (rows of the batch, 1): each row's rating, finite"
RATING_AGGREGATE_CONTRACT = "for a dimensional task, a float tensor of shape (utterances, 1): each one's rating"
PROBABILITY_TOLERANCE = 1e-4  # how far a row of predict's posteriors may sum from 1


def breach(method: Method, hook: str, contract: str, returned: str, advice: str = "") -> SerbenchError:
    """The error of a method whose `hook` returned `returned` (described), which its contract does not allow;
    it names the file of the class that defines the hook."""
    owner = next((cls for cls in type(method).__mro__ if hook in vars(cls)), type(method))
    try:
        source = inspect.getsourcefile(owner)
    except TypeError:  # a class without a source file (defined in an interactive session)
        source = None
    return SerbenchError(f"method {method.name or type(method).__qualname__!r}: {hook} returned {returned}, and it "
                         f"must return {contract}", path=source,
                         hint=f"fix {owner.__qualname__}.{hook} (docs/writing-a-method.md, \"The interface\"){advice}")


def described(value: object) -> str:
    """What a hook returned, for an error message: a tensor's dtype and shape, else its type and a short repr."""
    if isinstance(value, Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    return "None" if value is None else f"{reprlib.repr(value)} (type {type(value).__name__})"


def check_losses(method: Method, losses: object) -> None:
    """update's contract, on every step: types and shapes only, which never wait for the device (its values are
    checked where fit reads them anyway)."""
    if not isinstance(losses, Mapping):
        raise breach(method, "update", UPDATE_CONTRACT, described(losses))
    for key, value in losses.items():
        if not isinstance(key, str) or not isinstance(value, Tensor) or value.dim() != 0:
            raise breach(method, "update", UPDATE_CONTRACT, f"a dict whose {key!r} is {described(value)}")


def checked_selection(method: Method, chosen: object) -> dict:
    """fit_all's contract: what it returns goes into the run's JSON record as it is."""
    if not isinstance(chosen, Mapping):
        raise breach(method, "fit_all", FIT_ALL_CONTRACT, described(chosen))
    for key, value in chosen.items():
        # numpy's float64 is a float, its int64 no int: json cannot write it
        number = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
        if not isinstance(key, str) or not (isinstance(value, str) or number):
            raise breach(method, "fit_all", FIT_ALL_CONTRACT, f"a dict whose {key!r} is {described(value)}")
    return dict(chosen)


def check_shape(method: Method, hook: str, values: object, shape: tuple[int, int], contract: str) -> None:
    """A hook's tensor of rows x classes: its type and shape, which never wait for the device."""
    if not isinstance(values, Tensor) or not values.is_floating_point() or tuple(values.shape) != shape:
        raise breach(method, hook, contract, f"{described(values)} where {shape} was due")


def check_ratings(method: Method, ratings: Tensor) -> None:
    """predict's ratings, every row of a prediction pass at once: finite (a NaN would pass model selection and the
    scores as a NaN CCC)."""
    not_finite = int((~torch.isfinite(ratings)).sum())
    if not_finite:
        raise breach(method, "predict", RATING_CONTRACT, f"{described(ratings)} with NaN or infinite values in "
                     f"{not_finite} of {len(ratings)} rows", "; check the model's training (a diverging loss)")


def check_probabilities(method: Method, posteriors: Tensor) -> None:
    """predict's values, every row of a prediction pass at once: one wait for the device, whose posteriors are
    copied to the host next anyway."""
    finite = torch.isfinite(posteriors).all(dim=1)
    sums = posteriors.sum(dim=1)
    stats = torch.stack([value.double() for value in (
        (~finite).sum(), (finite & (posteriors < 0).any(dim=1)).sum(),
        (finite & ((sums - 1).abs() > PROBABILITY_TOLERANCE)).sum(),
        torch.where(finite[:, None], posteriors, 0).min(), torch.where(finite, sums, 1).min(),
        torch.where(finite, sums, 1).max())]).tolist()
    not_finite, negative, off, least, low, high = stats
    rows = f"of {len(posteriors)} rows"
    problems = [f"NaN or infinite values in {not_finite:.0f} {rows}" if not_finite else "",
                f"negative values in {negative:.0f} {rows} (the least {least:.4g})" if negative else "",
                f"{off:.0f} {rows} not summing to 1 (sums from {low:.6g} to {high:.6g})" if off else ""]
    if any(problems):
        raise breach(method, "predict", PREDICT_CONTRACT,
                     f"{described(posteriors)} with {'; '.join(p for p in problems if p)}",
                     "; a classifier's logits become probabilities with .softmax(dim=1)")
