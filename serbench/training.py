"""Training and prediction for any method: mini-batches, the device choice, a plain training loop, utterance
decisions by averaging segment posteriors, and a post-hoc domain probe on embeddings.

The harness builds a SegmentSet from the feature cache (normalised 32 x 129 segments and their labels) and
calls fit and utterance_posteriors; everything here is independent of protocols and corpora.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from serbench.errors import SerbenchError
from serbench.method import Method
from serbench.metrics import confusion_matrix, unweighted_accuracy


@dataclass
class Batch:
    """One mini-batch on the training device: segments, emotion labels and the labels of every domain."""

    segments: Tensor  # (batch, time, frequency), float32
    emotion: Tensor  # (batch,), int64 class index
    domains: dict[str, Tensor]  # domain name (speaker, corpus, gender, language) -> (batch,), int64 label index


@dataclass
class SegmentSet:
    """The segments of a set of utterances with per-segment labels; numpy arrays, so memory maps work.

    utterance[i] is the index (0 .. n_utterances - 1) of the utterance segment i was cut from.
    """

    segments: np.ndarray  # (n, time, frequency)
    utterance: np.ndarray  # (n,)
    emotion: np.ndarray  # (n,)
    domains: dict[str, np.ndarray]  # name -> (n,)

    def __post_init__(self) -> None:
        n = len(self.segments)
        for what, values in [("utterance", self.utterance), ("emotion", self.emotion), *self.domains.items()]:
            if len(values) != n:
                raise SerbenchError(f"{n} segments but {len(values)} {what} labels",
                                    hint="rebuild the feature cache (`serbench data features`)")
        if n and np.bincount(self.utterance).min() == 0:
            raise SerbenchError("utterance indices of the segments are not 0 .. n_utterances - 1",
                                hint="number the utterances consecutively; drop utterances without segments")

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def n_utterances(self) -> int:
        return int(self.utterance.max()) + 1 if len(self) else 0

    def batch(self, index: np.ndarray, device: torch.device) -> Batch:
        def tensor(values: np.ndarray, dtype: torch.dtype) -> Tensor:
            return torch.as_tensor(np.asarray(values[index]), dtype=dtype).to(device, non_blocking=True)

        return Batch(tensor(self.segments, torch.float32), tensor(self.emotion, torch.int64),
                     {name: tensor(labels, torch.int64) for name, labels in self.domains.items()})


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


def fit(method: Method, data: SegmentSet, *, epochs: int | None = None, batch_size: int | None = None,
        seed: int = 0, device: str | torch.device = "auto",
        on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> list[dict[str, float]]:
    """Train `method` on `data` for a fixed number of epochs (default: the method's `epochs` and `batch_size`
    hyperparameters) and return the mean losses of every epoch.

    Each epoch visits the segments in a new random order (from `seed`) in full batches; the last incomplete
    batch is left out, and a different part of the data falls into it every epoch.
    """
    if not len(data):
        raise SerbenchError("no training segments", hint="check the protocol's training corpora and the cache")
    device = choose_device(device) if isinstance(device, str) else device
    epochs = method.hp["epochs"] if epochs is None else epochs
    batch_size = method.hp["batch_size"] if batch_size is None else batch_size
    torch.manual_seed(seed)  # randomness inside the method (dropout, sampling)
    order_rng = np.random.default_rng(seed)
    steps = max(1, len(data) // batch_size)
    method.to(device).train()
    history = []
    for epoch in range(epochs):
        order = order_rng.permutation(len(data))
        totals: dict[str, Tensor] = {}
        for step in range(steps):
            index = np.sort(order[step * batch_size:(step + 1) * batch_size])  # sorted: faster memory-map reads
            losses = method.update(data.batch(index, device), (epoch * steps + step) / (epochs * steps))
            for key, value in losses.items():
                totals[key] = totals[key] + value.detach() if key in totals else value.detach()
        history.append({key: float(total) / steps for key, total in totals.items()})  # one sync per epoch
        if on_epoch is not None:
            on_epoch(epoch, history[-1])
    return history


@torch.no_grad()
def _per_utterance(compute: Callable[[Tensor], Tensor], data: SegmentSet, batch_size: int,
                   device: torch.device) -> np.ndarray:
    """Average compute(segments) over the segments of each utterance."""
    sums: Tensor | None = None
    counts = torch.zeros(data.n_utterances, device=device)
    for start in range(0, len(data), batch_size):
        index = np.arange(start, min(start + batch_size, len(data)))
        segments = torch.as_tensor(np.asarray(data.segments[index]), dtype=torch.float32).to(device)
        utterance = torch.as_tensor(data.utterance[index], dtype=torch.int64).to(device)
        values = compute(segments).float()
        if sums is None:
            sums = torch.zeros(data.n_utterances, values.shape[1], device=device)
        sums.index_add_(0, utterance, values)
        counts.index_add_(0, utterance, torch.ones_like(utterance, dtype=counts.dtype))
    if sums is None:
        raise SerbenchError("no segments to predict", hint="check the protocol's test corpora and the cache")
    return (sums / counts.unsqueeze(1)).cpu().numpy()


def utterance_posteriors(method: Method, data: SegmentSet, *, batch_size: int = 512,
                         device: str | torch.device = "auto") -> np.ndarray:
    """(n_utterances, n_classes): each utterance's decision is the mean of its segments' posteriors."""
    device = choose_device(device) if isinstance(device, str) else device
    method.to(device).eval()
    return _per_utterance(method.predict, data, batch_size, device)


def utterance_embeddings(method: Method, data: SegmentSet, *, batch_size: int = 512,
                         device: str | torch.device = "auto") -> np.ndarray:
    """(n_utterances, dim): the mean of each utterance's segment embeddings (Method.embed), for diagnostics."""
    device = choose_device(device) if isinstance(device, str) else device
    method.to(device).eval()

    def embed(segments: Tensor) -> Tensor:
        embedding = method.embed(segments)
        if embedding is None:
            raise SerbenchError(f"method {method.name!r} does not expose embeddings",
                                hint="implement Method.embed to get embedding diagnostics")
        return embedding

    return _per_utterance(embed, data, batch_size, device)


def probe_accuracy(features: np.ndarray, labels: np.ndarray, *, seed: int = 0, l2: float = 0.1) -> float:
    """A post-hoc probe: logistic regression (full batch, L-BFGS) trained on a random half of the rows and
    scored on the other half; returns its unweighted accuracy (mean per-class recall).

    On embeddings and corpus labels it measures how much corpus information the embedding still carries.
    Features are standardised; the L2 penalty `l2` on the weights keeps the probe from overfitting when there
    are only a few rows per embedding dimension (a few hundred test utterances, 64 to 256 dimensions).
    """
    order = np.random.default_rng(seed).permutation(len(features))
    train, test = order[: len(order) // 2], order[len(order) // 2:]
    x = torch.as_tensor(features, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.int64)
    mean, std = x[train].mean(0), x[train].std(0) + 1e-8  # standardise with the training half's statistics
    x = (x - mean) / std
    n_classes = int(y.max()) + 1
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x[train] @ weight + bias, y[train]) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    predicted = (x[test] @ weight + bias).argmax(1)
    matrix = confusion_matrix(y[test].numpy(), predicted.numpy(), n_classes)
    return unweighted_accuracy(matrix)
