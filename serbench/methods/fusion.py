"""Horizontal fusion: many runs of the paper's model family trained at once, as one model.

K replicas' weights are stacked along a new leading axis and trained by one set of batched kernels: grouped
convolutions (one group per replica), batch norm over the K x C stacked channels, a BLSTM written as batched
matrix products (both directions of all replicas in one bmm per time step) and batched heads. Each replica
keeps everything that makes it its own run: its initial weights (taken from the method the harness built with
the run's seed), its data, normaliser and batch order (its seed), its loss weights (gamma, lambda and the
center-loss alpha, zero where its method lacks the term), its domain heads and its optimiser state (Adadelta is
elementwise, so one optimiser over stacked tensors is K independent ones). Replicas are independent: no
gradient crosses from one to another, so a fused run gives the same losses as the run trained alone, within
float tolerance (tests/test_fusion.py). A replica with fewer steps (a smaller training part) stops early: its
trained weights are copied back into its method at its last step and its slot idles, masked, afterwards.

Only methods whose training is exactly PaperSystem's (the six built-ins, and plugins that only choose
adversaries, center loss or hyperparameters) can be fused; PaperSystem.fusion_key says which. Others take the
ordinary path. This is the paper family's own trainer: the harness only calls Method.fit_fused.
docs/performance.md has the measurements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from serbench.errors import SerbenchError
from serbench.features.normalisation import standardise
from serbench.method import DOMAINS, Method
from serbench.nn import center_step, ganin_ramp, grad_reverse
from serbench.training import BatchStream, RowSet, adaptation_seed, choose_device, epoch_batches

if TYPE_CHECKING:  # for types only: paper.py imports this module when it fuses
    from serbench.methods.paper import PaperSystem

CHUNK_STEPS = 256  # batch positions are planned and uploaded this many steps at a time
class FusedReplicas:
    """K PaperSystem methods (built for the same task and model size) as one stacked model on `device`."""

    def __init__(self, methods: Sequence[PaperSystem], device: torch.device) -> None:
        keys = {type(m).fusion_key(m.hp, adaptation=False) for m in methods}
        if None in keys or len(keys) != 1:
            raise SerbenchError("these methods cannot be trained together",
                                hint="fuse only methods with equal PaperSystem.fusion_key")
        self.methods, self.k = list(methods), len(methods)
        first = methods[0]
        self.config = first.extractor.config
        # every block's batch norm (CnnBlstm's blocks: conv, batch norm, ReLU, pool) has the same momentum and eps
        self.bn = cast(nn.BatchNorm2d, first.extractor.cnn[1])
        states = [m.state_dict() for m in methods]
        shared = [name for name in states[0] if name.startswith(("extractor.", "classifier."))]
        self.tensors = {name: torch.stack([s[name] for s in states]).to(device) for name in shared}
        n_classes, dim = len(first.task.classes), first.extractor.embedding_dim
        self.tensors["centers"] = torch.stack([m.centers.centers.to(device) if m.centers is not None
                                               else torch.zeros(n_classes, dim, device=device) for m in methods])
        # Domain heads, padded to the largest label set; replicas without the head get zeros and weight 0.
        self.domains = [d for d in DOMAINS if any(d in m.heads for m in methods)]
        self.valid: dict[str, Tensor] = {}
        for domain in self.domains:
            n_max = max(len(m.task.domains[domain]) for m in methods)
            hidden_w, hidden_b = torch.zeros(self.k, dim, dim, device=device), torch.zeros(self.k, dim, device=device)
            out_w, out_b = torch.zeros(self.k, n_max, dim, device=device), torch.zeros(self.k, n_max, device=device)
            valid = torch.zeros(self.k, n_max, dtype=torch.bool, device=device)
            with torch.no_grad():
                for r, m in enumerate(methods):
                    valid[r, :len(m.task.domains[domain])] = True
                    if domain in m.heads:
                        hidden, out = _head_layers(m.heads[domain])
                        hidden_w[r], hidden_b[r] = hidden.weight, hidden.bias
                        out_w[r, :out.out_features], out_b[r, :out.out_features] = out.weight, out.bias
            for part, value in (("0.weight", hidden_w), ("0.bias", hidden_b), ("2.weight", out_w), ("2.bias", out_b)):
                self.tensors[f"heads.{domain}.{part}"] = value
            self.valid[domain] = valid
        self.params = [t.requires_grad_() for name, t in self.tensors.items()
                       if t.is_floating_point() and "running_" not in name and name != "centers"]
        self.optimizer = torch.optim.Adadelta(self.params, lr=first.hp["lr"], rho=first.hp["rho"])

        def column(values: Sequence[float]) -> Tensor:
            return torch.tensor(values, dtype=torch.float32, device=device)

        self.center_weight = column([m.hp["lambda"] if m.centers is not None else 0.0 for m in methods])
        self.center_alpha = column([m.hp["center_alpha"] if m.centers is not None else 0.0 for m in methods])
        self.domain_weight = {d: column([float(d in m.heads) for m in methods]) for d in self.domains}

    def embed(self, segments: Tensor) -> Tensor:
        """Segments (batch, K, time, frequency), replica r's batch in [:, r] -> embeddings (K, batch, dim)."""
        t, k, config = self.tensors, self.k, self.config
        h = segments
        for i in range(len(config.channels)):
            conv, bn = f"extractor.cnn.{4 * i}", f"extractor.cnn.{4 * i + 1}"
            h = F.conv2d(h, t[f"{conv}.weight"].flatten(0, 1), padding=1, groups=k)
            h = F.batch_norm(h, t[f"{bn}.running_mean"].view(-1), t[f"{bn}.running_var"].view(-1),
                             t[f"{bn}.weight"].flatten(), t[f"{bn}.bias"].flatten(), training=True,
                             momentum=cast(float, self.bn.momentum), eps=self.bn.eps)  # a float: running averages
            h = F.max_pool2d(F.relu(h), kernel_size=(1, 2))
        batch, _, time, bins = h.shape
        # (batch, K * C, time, bins) -> (K, batch, time, C * bins), as CnnBlstm orders each replica's steps
        h = h.view(batch, k, -1, time, bins).permute(1, 0, 3, 2, 4).flatten(3)
        for layer in range(config.lstm_layers):
            h = self._bidirectional_layer(h, layer)
        return h.mean(dim=2)

    def _bidirectional_layer(self, x: Tensor, layer: int) -> Tensor:
        """One BLSTM layer of every replica, both directions as 2K batched LSTMs over (2K, batch, time, dim)."""
        t, k = self.tensors, self.k

        def both(name: str) -> Tensor:
            return torch.cat([t[f"extractor.blstm.{name}_l{layer}"], t[f"extractor.blstm.{name}_l{layer}_reverse"]])

        inputs = torch.cat([x, x.flip(2)])  # the reverse direction reads time backwards
        batch, time, dim = inputs.shape[1:]
        bias = (both("bias_ih") + both("bias_hh")).unsqueeze(1)
        projected = torch.baddbmm(bias, inputs.reshape(2 * k, batch * time, dim), both("weight_ih").transpose(1, 2))
        projected = projected.view(2 * k, batch, time, -1)
        recurrent = both("weight_hh").transpose(1, 2)
        hidden = cell = projected.new_zeros(2 * k, batch, recurrent.shape[1])
        outputs = []
        for step in range(time):
            gates = torch.baddbmm(projected[:, :, step], hidden, recurrent)
            i, f, g, o = gates.chunk(4, dim=2)  # nn.LSTM's gate order
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            hidden = torch.sigmoid(o) * torch.tanh(cell)
            outputs.append(hidden)
        out = torch.stack(outputs, dim=2)
        return torch.cat([out[:k], out[k:].flip(2)], dim=3)

    def losses(self, embedding: Tensor, emotion: Tensor, domains: Mapping[str, Tensor],
               grl: Tensor) -> dict[str, Tensor]:
        """Every loss term per replica, (K,) each, weighted as in PaperSystem.losses (0 where a replica's
        method lacks the term). emotion is (K, batch); the embedding and the domain labels may have more
        segments than that: the unlabelled adaptation segments, after the labelled ones, which only the domain
        terms see. grl is each replica's GRL coefficient."""
        t = self.tensors
        labelled = embedding[:, :emotion.shape[1]]

        def cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
            per_segment = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
            return per_segment.view(labels.shape).mean(dim=1)

        logits = torch.baddbmm(t["classifier.bias"].unsqueeze(1), labelled, t["classifier.weight"].transpose(1, 2))
        losses = {"emotion": cross_entropy(logits, emotion)}
        centers = t["centers"][torch.arange(self.k, device=emotion.device).unsqueeze(1), emotion]
        losses["center"] = self.center_weight * 0.5 * (labelled - centers).pow(2).sum(dim=2).mean(dim=1)
        if self.domains:
            reversed_embedding = grad_reverse(embedding, grl.view(-1, 1, 1))
            for d in self.domains:
                head = f"heads.{d}"
                hidden = F.relu(torch.baddbmm(t[f"{head}.0.bias"].unsqueeze(1), reversed_embedding,
                                              t[f"{head}.0.weight"].transpose(1, 2)))
                logits = torch.baddbmm(t[f"{head}.2.bias"].unsqueeze(1), hidden, t[f"{head}.2.weight"].transpose(1, 2))
                logits = logits.masked_fill(~self.valid[d].unsqueeze(1), float("-inf"))  # padding labels
                losses[f"domain_{d}"] = self.domain_weight[d] * cross_entropy(logits, domains[d])
        return losses

    def step(self, segments: Tensor, emotion: Tensor, domains: Mapping[str, Tensor], grl: Tensor,
             active: Tensor) -> Tensor:
        """One optimisation step of every replica; returns the loss terms (K, terms) in LOSS_TERMS order.
        Replicas with active False get no gradient and no center update."""
        embedding = self.embed(segments)
        losses = self.losses(embedding, emotion, domains, grl)
        total = cast(Tensor, sum(losses.values()))  # never the empty sum 0: losses always has the emotion term
        self.optimizer.zero_grad(set_to_none=True)
        torch.where(active, total, torch.zeros_like(total)).sum().backward()
        self.optimizer.step()
        self._update_centers(embedding[:, :emotion.shape[1]].detach(), emotion, self.center_alpha * active)
        for name, value in self.tensors.items():
            if name.endswith("num_batches_tracked"):
                value.add_(1)
        return torch.stack([total, *(losses.get(term, torch.zeros_like(total)) for term in LOSS_TERMS[1:])],
                           dim=1).detach()

    def _update_centers(self, x: Tensor, y: Tensor, alpha: Tensor) -> None:
        """CenterLoss.update for every replica at once: the (K, classes, dim) centers as one flat table."""
        centers = self.tensors["centers"]
        n_classes = centers.shape[1]
        index = (torch.arange(self.k, device=y.device).unsqueeze(1) * n_classes + y).flatten()
        center_step(centers.view(-1, centers.shape[2]), x.flatten(0, 1), index,
                    alpha.repeat_interleave(n_classes).unsqueeze(1))

    @torch.no_grad()
    def write_back(self, r: int) -> None:
        """Copy replica r's current weights, batch-norm statistics and centers into its method."""
        method = self.methods[r]
        state = {}
        for name, target in method.state_dict().items():
            source = self.tensors["centers" if name == "centers.centers" else name][r]
            state[name] = source[tuple(slice(0, n) for n in target.shape)]  # unpads the domain heads
        method.load_state_dict(state)


LOSS_TERMS = ("total", "emotion", "center", *(f"domain_{d}" for d in DOMAINS))


def _head_layers(head: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    """A domain head's two linear layers (serbench.nn.domain_head: Linear, ReLU, Linear)."""
    hidden, _, out = cast(nn.Sequential, head)
    return cast(nn.Linear, hidden), cast(nn.Linear, out)


def _reported_terms(method: PaperSystem) -> list[int]:
    """The columns of LOSS_TERMS that PaperSystem.update reports for this method, in its order."""
    terms = ["total", "emotion", *(["center"] if method.centers is not None else []),
             *(f"domain_{d}" for d in method.heads)]
    return [LOSS_TERMS.index(term) for term in terms]


def fit_fused(methods: Sequence[Method], datasets: Sequence[RowSet], seeds: Sequence[int], *,
              adaptation: Sequence[RowSet | None] | None = None, device: str | torch.device = "auto",
              on_epoch: Callable[[int, int, dict[str, float]], None] | None = None) -> list[list[dict[str, float]]]:
    """Train methods[r] on datasets[r] (with the unlabelled adaptation[r], where given) with seeds[r], all at
    once; returns each one's history, as serbench.training.fit would. on_epoch(r, epoch, mean losses) is called
    when replica r ends an epoch.

    The datasets must share their FeatureBank (the harness's sets do); the methods must share a fusion_key.
    """
    device = choose_device(device) if isinstance(device, str) else device
    adaptation = list(adaptation) if adaptation is not None else [None] * len(methods)
    if not (len(methods) == len(datasets) == len(seeds) == len(adaptation)) or not methods:
        raise SerbenchError("fit_fused needs one dataset and one seed per method")
    for method in methods:
        method.to(device).train()
    # Only PaperSystems reach here: Method.fit_fused is called with the methods of one class whose fusion_key is
    # not None, and only PaperSystem gives one (FusedReplicas refuses any other).
    replicas = cast("Sequence[PaperSystem]", methods)
    model = FusedReplicas(replicas, device)
    k, batch_size = model.k, methods[0].hp["batch_size"]
    pools = [pool if m.uses_adaptation else None for m, pool in zip(methods, adaptation, strict=True)]
    if len({pool is None for pool in pools}) > 1:
        raise SerbenchError("fused runs must all read adaptation batches, or none of them")
    labelled = _Stacked(datasets, model.domains, device)
    emotion = cast(Tensor, labelled.emotion)  # the training sets are labelled
    present = cast("list[RowSet]", pools)  # read only where pools[0] is set, and then every pool is (above)
    unlabelled = _Stacked(present, model.domains, device) if pools[0] is not None else None
    schedules = [_Schedule(d, s, m.hp["epochs"], batch_size) for m, d, s in zip(methods, datasets, seeds, strict=True)]
    streams = [_pool_stream(pool, seed, batch_size) for pool, seed in zip(present, seeds, strict=True)] \
        if unlabelled is not None else []
    gamma = [m.hp["gamma"] if m.heads else 0.0 for m in methods]
    ganin = [bool(m.heads) and m.hp["grl_schedule"] == "ganin" for m in methods]
    terms = [_reported_terms(m) for m in replicas]
    histories: list[list[dict[str, float]]] = [[] for _ in methods]
    sums = torch.zeros(k, len(LOSS_TERMS), device=device)
    total_steps = max(s.total for s in schedules)
    for chunk_start in range(0, total_steps, CHUNK_STEPS):
        steps = range(chunk_start, min(chunk_start + CHUNK_STEPS, total_steps))
        positions = np.stack([np.stack([s.positions(t) for s in schedules]) for t in steps]) + labelled.base[:, None]
        positions_t = torch.as_tensor(positions).to(device)
        if unlabelled is not None:
            extra = np.stack([np.concatenate([stream.take(1) for stream in streams]) for _ in steps])
            extra_t = torch.as_tensor(extra + unlabelled.base[:, None]).to(device)
        grl = [[g * (ganin_ramp(t / s.total) if ramp else 1.0) for g, ramp, s in zip(gamma, ganin, schedules,
                                                                                   strict=True)] for t in steps]
        active = [[t < s.total for s in schedules] for t in steps]
        grl_t = torch.tensor(grl, dtype=torch.float32).to(device)
        active_t = torch.tensor(active).to(device)
        for i, t in enumerate(steps):
            index = positions_t[i]  # (K, batch)
            segments = labelled.segments(index)
            domains = {d: labels[index] for d, labels in labelled.domains.items()}
            if unlabelled is not None:  # the unlabelled batch after the labelled one, as PaperSystem.update does
                segments = torch.cat([segments, unlabelled.segments(extra_t[i])], dim=1)
                domains = {d: torch.cat([labels, unlabelled.domains[d][extra_t[i]]], dim=1)
                           for d, labels in domains.items()}
            losses = model.step(segments.transpose(0, 1), emotion[index], domains, grl_t[i], active_t[i])
            sums += losses
            for r, schedule in enumerate(schedules):
                if t < schedule.total and (t + 1) % schedule.steps == 0:  # replica r ends an epoch
                    epoch = t // schedule.steps
                    mean_losses = (sums[r] / schedule.steps).tolist()  # one sync per replica and epoch
                    histories[r].append({LOSS_TERMS[j]: mean_losses[j] for j in terms[r]})
                    sums[r] = 0
                    if t + 1 == schedule.total:
                        model.write_back(r)
                    if on_epoch is not None:
                        on_epoch(r, epoch, histories[r][-1])
    return histories


def _pool_stream(pool: RowSet, seed: int, batch_size: int) -> BatchStream:
    """Replica's adaptation batches, in the order serbench.training.fit draws them."""
    if len(pool) < batch_size:
        raise SerbenchError(f"a fused run needs at least one full batch ({batch_size} segments) of adaptation audio, "
                            f"got {len(pool)}", hint="train it alone (--fuse 1), or lower batch_size")
    return BatchStream(np.random.default_rng(adaptation_seed(seed)), len(pool), batch_size)


class _Stacked:
    """Several segment sets of one feature bank as one array each (set r's positions from base[r] on), with
    their normalisation tables stacked, so that one gather per step serves every replica."""

    def __init__(self, sets: Sequence[RowSet], domains: Sequence[str], device: torch.device) -> None:
        self.bank = sets[0].features
        if any(s.features is not self.bank for s in sets) or any(not len(s) for s in sets):
            raise SerbenchError("fused runs must read non-empty segment sets of one shared feature bank")
        self.bank.make_resident(device)
        self.base = np.cumsum([0, *(len(s) for s in sets)])[:-1]
        on = [s.on(device) for s in sets]
        self.rows = torch.cat([tensors["rows"] for tensors in on])
        self.emotion = torch.cat([tensors["emotion"] for tensors in on]) if all("emotion" in t for t in on) else None
        self.domains = {d: torch.cat([tensors[f"domain_{d}"] for tensors in on]) for d in domains}
        bins = self.bank.shape[-1]
        means, stds, groups, offset = [], [], [], 0
        for data, tensors in zip(sets, on, strict=True):
            if data.normaliser is None:  # the identity: mean 0, std 1
                tensors = {"mean": torch.zeros(1, bins, dtype=torch.float64, device=device),
                           "std": torch.ones(1, bins, dtype=torch.float64, device=device),
                           "norm_group": torch.zeros(len(data), dtype=torch.int64, device=device)}
            means.append(tensors["mean"])
            stds.append(tensors["std"])
            groups.append(tensors["norm_group"] + offset)
            offset += len(tensors["mean"])
        self.mean, self.std, self.group = torch.cat(means), torch.cat(stds), torch.cat(groups)

    def segments(self, index: Tensor) -> Tensor:
        """The normalised segments at global positions `index` (K, batch): (K, batch, time, bins)."""
        k, batch = index.shape
        x = self.bank.take(self.rows[index].flatten()).view(k, batch, *self.bank.shape[1:])
        group = self.group[index]
        return standardise(x, self.mean[group].unsqueeze(2), self.std[group].unsqueeze(2))


class _Schedule:
    """One replica's batches in order: the positions fit would give it at each global step (epoch_batches
    with its own seed's generator), repeating its last batch once it is done (masked then)."""

    def __init__(self, data: RowSet, seed: int, epochs: int, batch_size: int) -> None:
        self.rng, self.n, self.batch_size = np.random.default_rng(seed), len(data), batch_size
        if self.n < batch_size:
            raise SerbenchError(f"a fused run needs at least one full batch ({batch_size} segments), got {self.n}",
                                hint="train it alone (--fuse 1), or lower batch_size")
        self.steps = self.n // batch_size  # as epoch_batches cuts them
        self.total = epochs * self.steps
        self._epoch, self._batches = -1, np.zeros((1, batch_size), dtype=np.int64)

    def positions(self, step: int) -> np.ndarray:
        epoch = min(step, self.total - 1) // self.steps
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, epoch_batches(self.rng, self.n, self.batch_size)
        return self._batches[min(step, self.total - 1) % self.steps]
