"""Training checkpoints that let a killed run continue exactly where it stopped.

A checkpoint is a folder with `state.safetensors` (network, best-so-far network, the loss's learned class
proxies if it has any, the moving average of the weights if one is kept, optimiser moments and random-generator
states) and `state.json` (counters, schedule position, early-stopping state). It is written with
`atomic_directory`, so a kill during the write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel

from siamkit.atomic import atomic_directory
from siamkit.errors import DataError

TENSORS_FILE = "state.safetensors"
STATE_FILE = "state.json"


@dataclass
class LoopState:
    """Where the training loop is, in plain numbers.

    Attributes:
        step: Optimiser steps taken.
        epoch: Current epoch (0-based).
        batch_in_epoch: Batches of `epoch` already consumed.
        best_metric: Best validation value so far (None before the first validation).
        validations_without_improvement: For early stopping.
        best_step: Step at which `best_metric` was reached.
        stopped_early: Whether early stopping ended the run.
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_metric: float | None = None
    validations_without_improvement: int = 0
    best_step: int = 0
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Splits an optimiser state dict into named tensors and a JSON-friendly remainder."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for parameter_id, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{parameter_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(parameter_id), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        if name.startswith("optimizer."):
            _, parameter_id, key = name.split(".", 2)
            state.setdefault(int(parameter_id), {})[key] = tensor
    for parameter_id, values in meta["scalars"].items():
        state.setdefault(int(parameter_id), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    folder: Path,
    network: torch.nn.Module,
    best_network_state: dict[str, torch.Tensor] | None,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    augmentation_generator: torch.Generator,
    loop: LoopState,
    loss_function: torch.nn.Module | None = None,
    weight_average: AveragedModel | None = None,
) -> None:
    """Writes everything needed to resume into `folder`, replacing the previous checkpoint atomically."""
    tensors = {f"network.{name}": value.detach().cpu().contiguous() for name, value in network.state_dict().items()}
    if loss_function is not None:
        tensors.update(
            {f"loss.{name}": value.detach().cpu().contiguous() for name, value in loss_function.state_dict().items()}
        )
    if weight_average is not None:  # its own state dict holds the averaged network and the update count
        tensors.update(
            {
                f"average.{name}": value.detach().cpu().contiguous()
                for name, value in weight_average.state_dict().items()
            }
        )
    if best_network_state is not None:
        tensors.update(
            {f"best.{name}": value.detach().cpu().contiguous() for name, value in best_network_state.items()}
        )
    optimizer_tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update(optimizer_tensors)
    tensors["random.torch"] = torch.get_rng_state()
    tensors["random.augmentation"] = augmentation_generator.get_state()
    if torch.cuda.is_available():
        tensors["random.cuda"] = torch.cuda.get_rng_state()
    meta = {
        "loop": loop.__dict__,
        "optimizer": optimizer_meta,
        "scheduler": scheduler.state_dict(),
        "has_best": best_network_state is not None,
    }
    with atomic_directory(folder) as staging:
        save_file(tensors, str(staging / TENSORS_FILE))
        (staging / STATE_FILE).write_text(json.dumps(meta, indent=1, default=float))


def load_checkpoint(
    folder: Path,
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    augmentation_generator: torch.Generator,
    loss_function: torch.nn.Module | None = None,
    weight_average: AveragedModel | None = None,
) -> tuple[LoopState, dict[str, torch.Tensor] | None]:
    """Restores a checkpoint written by `save_checkpoint`; returns the loop state and best weights.

    Raises:
        DataError: The checkpoint is unreadable, or does not match the network, the loss, or whether a moving
            average of the weights is kept (a run cannot switch averaging on or off when it resumes).
    """
    try:
        tensors = load_file(str(folder / TENSORS_FILE))
        meta = json.loads((folder / STATE_FILE).read_text())
    except (OSError, SafetensorError, json.JSONDecodeError) as error:
        raise DataError(f"{folder}: checkpoint is unreadable ({error})") from None
    network_state = {name[len("network.") :]: value for name, value in tensors.items() if name.startswith("network.")}
    try:
        network.load_state_dict(network_state)
    except RuntimeError as error:
        raise DataError(f"{folder}: checkpoint does not match this network ({str(error).splitlines()[0]})") from None
    if loss_function is not None:
        loss_state = {name[len("loss.") :]: value for name, value in tensors.items() if name.startswith("loss.")}
        try:
            loss_function.load_state_dict(loss_state)
        except RuntimeError as error:
            raise DataError(f"{folder}: checkpoint does not match this loss ({str(error).splitlines()[0]})") from None
    average_state = {name[len("average.") :]: value for name, value in tensors.items() if name.startswith("average.")}
    if weight_average is not None and not average_state:
        raise DataError(
            f"{folder}: checkpoint was written without a moving average of the weights, but this recipe sets "
            "training.weight_average_decay; resume with the recipe the run started with"
        )
    if weight_average is None and average_state:
        raise DataError(
            f"{folder}: checkpoint holds a moving average of the weights, but this recipe has no "
            "training.weight_average_decay; resume with the recipe the run started with"
        )
    if weight_average is not None:
        weight_average.load_state_dict(average_state)
    optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    scheduler.load_state_dict(meta["scheduler"])
    torch.set_rng_state(tensors["random.torch"])
    augmentation_generator.set_state(tensors["random.augmentation"])
    if "random.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["random.cuda"])
    best = None
    if meta.get("has_best"):
        best = {name[len("best.") :]: value for name, value in tensors.items() if name.startswith("best.")}
    return LoopState(**meta["loop"]), best
