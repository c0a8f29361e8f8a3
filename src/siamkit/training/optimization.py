"""The optimiser and the learning-rate schedule of a training run, built from its `TrainConfig`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from siamkit.training.config import TrainConfig


def build_optimizer(
    network: nn.Module, config: TrainConfig, loss_function: nn.Module | None = None
) -> torch.optim.Optimizer:
    """AdamW or SGD; biases and normalisation weights get no weight decay, nor do a loss's class proxies
    (their length is normalised away, so decay would only raise their effective learning rate); the proxies
    learn at `config.loss_learning_rate` when it is set."""
    decayed = [parameter for parameter in network.parameters() if parameter.ndim > 1]
    undecayed = [parameter for parameter in network.parameters() if parameter.ndim <= 1]
    groups: list[dict[str, Any]] = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": undecayed, "weight_decay": 0.0},
    ]
    loss_parameters = [] if loss_function is None else list(loss_function.parameters())
    if loss_parameters:
        groups.append(
            {"params": loss_parameters, "weight_decay": 0.0, "lr": config.loss_learning_rate or config.learning_rate}
        )
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.learning_rate, momentum=config.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def schedule_factor(
    config: TrainConfig, total_steps: int, time_fraction: Callable[[], float] | None = None
) -> Callable[[int], float]:
    """Learning-rate multiplier for each step: linear warm-up, then the chosen decay.

    `time_fraction` (the share of a time budget used) moves the decay along when it is ahead of the steps.
    """

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
        if time_fraction is not None:
            progress = max(progress, time_fraction())
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if config.schedule == "step":
            return 1.0 if progress < 0.6 else 0.1 if progress < 0.85 else 0.01
        return 1.0

    return factor
