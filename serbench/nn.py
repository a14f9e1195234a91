"""Neural building blocks any method can reuse: the CNN+BLSTM feature extractor, gradient reversal, domain
heads, center loss and the CCC loss of ratings. docs/methods.md describes the model layer by layer and why each
default was chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from serbench.errors import SerbenchError


@dataclass(frozen=True)
class ExtractorConfig:
    """The size of a CNN+BLSTM feature extractor."""

    channels: tuple[int, ...]  # output channels of each conv block; each block halves the frequency axis
    lstm_hidden: int  # units per direction
    lstm_layers: int

    @property
    def embedding_dim(self) -> int:
        return 2 * self.lstm_hidden


class CnnBlstm(nn.Module):
    """Segments (batch, time, frequency) of normalised log spectra -> embeddings (batch, embedding_dim);
    input_shape is one segment's (time, frequency).

    Conv blocks (3x3 convolution, batch norm, ReLU, max-pool 1x2) shrink only the frequency axis, so the
    BLSTM still sees every one of the 32 frames; the BLSTM outputs are averaged over time.
    """

    def __init__(self, config: ExtractorConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.config = config
        blocks: list[nn.Module] = []
        in_channels, bins = 1, input_shape[1]
        for channels in config.channels:
            blocks += [
                nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False),  # BN has the bias
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=(1, 2)),
            ]
            in_channels, bins = channels, bins // 2
        self.cnn = nn.Sequential(*blocks)
        self.blstm = nn.LSTM(in_channels * bins, config.lstm_hidden, num_layers=config.lstm_layers,
                             batch_first=True, bidirectional=True)
        self.embedding_dim = config.embedding_dim

    def forward(self, segments: Tensor) -> Tensor:
        maps = self.cnn(segments.unsqueeze(1))  # (batch, channels, time, bins)
        steps = maps.permute(0, 2, 1, 3).flatten(2)  # (batch, time, channels * bins)
        outputs, _ = self.blstm(steps)
        return outputs.mean(dim=1)


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, coefficient: float | Tensor) -> Tensor:  # type: ignore[override]
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return -ctx.coefficient * grad, None


def grad_reverse(x: Tensor, coefficient: float | Tensor) -> Tensor:
    """Identity in the forward pass; multiplies the gradient by -coefficient in the backward pass (a tensor
    coefficient broadcasts, e.g. one per replica of serbench/methods/fusion.py)."""
    return _GradientReversal.apply(x, coefficient)


def ganin_ramp(progress: float) -> float:
    """Ganin & Lempitsky's GRL schedule 2 / (1 + exp(-10 p)) - 1: 0 at the start of training, near 1 at the end."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


def domain_head(embedding_dim: int, n_labels: int) -> nn.Module:
    """A domain classifier: one hidden layer as in Ganin & Lempitsky's DANN, so it can learn non-linear cues."""
    return nn.Sequential(nn.Linear(embedding_dim, embedding_dim), nn.ReLU(inplace=True),
                         nn.Linear(embedding_dim, n_labels))


class CenterLoss(nn.Module):
    """Center loss (Wen et al., ECCV 2016) with the centers updated once per mini-batch, not by the optimiser.

    loss = 1/2 * mean_i ||x_i - c_{y_i}||^2. The paper writes a sum over the mini-batch; the mean keeps lambda's
    meaning independent of the batch size, like the softmax loss it is added to.
    """

    centers: Tensor  # a buffer (register_buffer): typed here, as nn.Module's attribute lookup cannot tell

    def __init__(self, n_classes: int, embedding_dim: int) -> None:
        super().__init__()
        self.register_buffer("centers", torch.zeros(n_classes, embedding_dim))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * (x - self.centers[y]).pow(2).sum(dim=1).mean()

    def update(self, x: Tensor, y: Tensor, alpha: float) -> None:
        """Move the centers towards this mini-batch's embeddings x of classes y (center_step)."""
        center_step(self.centers, x, y, alpha)


@torch.no_grad()
def center_step(centers: Tensor, x: Tensor, y: Tensor, alpha: float | Tensor) -> None:
    """c_j <- c_j - alpha * sum_{i: y_i = j} (c_j - x_i) / (1 + m_j), in place, with m_j the count of class j in y.
    `alpha` may be a tensor (one value per center, as a column). index_add_ keeps the work on the device: no
    .item() or bincount, so no host synchronisation."""
    x = x.detach().to(centers.dtype)
    counts = torch.zeros(len(centers), device=x.device, dtype=x.dtype).index_add_(
        0, y, torch.ones_like(y, dtype=x.dtype))
    sums = torch.zeros_like(centers).index_add_(0, y, x)
    delta = (counts.unsqueeze(1) * centers - sums) / (1.0 + counts.unsqueeze(1))
    centers.sub_(alpha * delta)


CCC_EPSILON = 1e-8  # keeps the CCC loss finite on a batch of equal ratings and equal predictions


def ccc_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """1 - Lin's concordance correlation coefficient of a batch's predicted and true ratings (1-d, equal lengths),
    with population moments as metrics.concordance scores them: the loss of the AVEC challenges' and the SER
    literature's regressors, which trains the predictions' location and scale as well as their correlation. Where
    the score is undefined (both constant) the denominator's epsilon makes it 1, not NaN."""
    if predicted.dim() != 1 or predicted.shape != target.shape:  # (rows, 1) against (rows,) would broadcast
        raise SerbenchError(f"ccc_loss takes two 1-d tensors of equal length, not shapes {tuple(predicted.shape)} "
                            f"and {tuple(target.shape)}", hint="pass the rating column: predicted[:, 0]")
    target = target.to(predicted.dtype)
    mean_p, mean_t = predicted.mean(), target.mean()
    covariance = ((predicted - mean_p) * (target - mean_t)).mean()
    spread = (predicted - mean_p).pow(2).mean() + (target - mean_t).pow(2).mean() + (mean_p - mean_t) ** 2
    return 1 - 2 * covariance / (spread + CCC_EPSILON)
