"""Running the same training loop on one process or many (`torchrun --nproc_per_node N`).

Under torchrun the environment names each process's rank; we start a process group (gloo on CPUs, NCCL on
GPUs), wrap the network in DistributedDataParallel, and gather embeddings from every process so that
in-batch pairs and triplets span the global batch. Only rank 0 writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as distributed_functional

logger = logging.getLogger(__name__)


@dataclass
class DistributedContext:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_process_group: bool = False

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files."""
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """Turns `auto` into the local GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


def start_distributed(device_name: str) -> DistributedContext:
    """Joins the process group when launched by torchrun; otherwise describes a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext(device=resolve_device(device_name))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    owns_process_group = not dist.is_initialized()
    if owns_process_group:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        logger.info("joined process group: rank %d of %d (%s)", rank, world_size, backend)
    return DistributedContext(rank, world_size, local_rank, device, owns_process_group)


def stop_distributed(context: DistributedContext) -> None:
    """Leaves the process group, if this run started it (a caller's own group is left to the caller)."""
    if context.owns_process_group and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def gather_across_processes(tensor: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Concatenates each process's `tensor` along the first axis, in rank order.

    The gather is differentiable: gradients flow back to the process that produced each row, so a loss
    over the global batch trains every replica.
    """
    if not context.is_distributed:
        return tensor
    if tensor.requires_grad:
        return torch.cat(distributed_functional.all_gather(tensor))
    parts = [torch.empty_like(tensor) for _ in range(context.world_size)]
    dist.all_gather(parts, tensor)
    return torch.cat(parts)


def broadcast_flag(flag: bool, context: DistributedContext) -> bool:
    """Rank 0's value of `flag` on every process (for decisions such as early stopping)."""
    if not context.is_distributed:
        return flag
    value = torch.tensor([1 if flag else 0], device=context.device)
    dist.broadcast(value, src=0)
    return bool(value.item())
