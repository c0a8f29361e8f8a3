"""An exponential moving average (EMA) of the network's weights, kept beside the trained network.

The averaged weights sit in a flatter region of the loss than the last step's weights, which usually
generalises a little better and makes the result depend less on the last few batches (as in timm's
`ModelEmaV3`). Batch-norm statistics are averaged with the weights, so the averaged network is self-consistent.
The average is built on `torch.optim.swa_utils.AveragedModel`; only the per-step rule is ours.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

TensorList = list[torch.Tensor] | tuple[torch.Tensor, ...]
AverageRule = Callable[[TensorList, TensorList, torch.Tensor | int], None]


def effective_decay(decay: float, updates_so_far: int) -> float:
    """The decay used at one update: `decay`, but smaller while few updates have been averaged.

    Without the warm-up the first weights (random ones) would weigh `decay ** steps` in the final average;
    `(1 + n) / (10 + n)` lets the average follow the network closely at first, as timm's EMA does.
    """
    return min(decay, (1.0 + updates_so_far) / (10.0 + updates_so_far))


def moving_average_rule(decay: float) -> AverageRule:
    """The update `AveragedModel` applies to each group of tensors of one device and dtype, in place:
    `average <- d * average + (1 - d) * current`.

    The step's decay is worked out once per group (reading the update count is a device sync on a GPU, so not
    once per tensor). Integer buffers (batch norm's batch counter) cannot be averaged and take the current value.
    """

    @torch.no_grad()
    def update(averages: TensorList, currents: TensorList, updates_so_far: torch.Tensor | int) -> None:
        if not averages[0].is_floating_point():
            for average, current in zip(averages, currents, strict=True):
                average.copy_(current)
            return
        step_decay = effective_decay(decay, int(updates_so_far))
        torch._foreach_lerp_(list(averages), list(currents), 1.0 - step_decay)

    return update


def create_weight_average(network: nn.Module, decay: float) -> AveragedModel:
    """A copy of `network` that follows its weights and buffers as an exponential moving average.

    Call `.update_parameters(network)` after each optimiser step; the averaged network is `.module`.
    """
    if not 0.0 < decay < 1.0:
        raise ValueError(f"weight-average decay must be between 0 and 1 (exclusive), got {decay}")
    return AveragedModel(network, multi_avg_fn=moving_average_rule(decay), use_buffers=True)
