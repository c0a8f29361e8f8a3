"""Run by test_distributed.py under torchrun: a few training steps, then each rank records its weights."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))

from conftest import pattern_dataset, small_network
from siamkit.training.config import TrainConfig
from siamkit.training.distributed import DistributedContext, gather_across_processes
from siamkit.training.trainer import train


def main(output: Path) -> None:
    dist.init_process_group("gloo")  # the trainer joins a caller's group and leaves it open
    rank = dist.get_rank()
    # The gather used for in-batch pairs must concatenate every process's rows in rank order.
    context = DistributedContext(rank=rank, world_size=dist.get_world_size())
    gathered = gather_across_processes(torch.full((2, 1), float(rank)), context)
    (output / f"gather{rank}.txt").write_text(" ".join(str(int(value)) for value in gathered.flatten()))
    config = TrainConfig(
        output_dir=output / "run", epochs=3, max_steps=4, classes_per_batch=4, samples_per_class=4,
        show_progress=False, device="cpu", log_every_steps=1,
    )  # fmt: skip
    result = train(small_network(seed=0), pattern_dataset(), config)
    digest = hashlib.sha256()
    for name, value in sorted(result.model.network.named_parameters()):
        digest.update(name.encode() + value.detach().numpy().tobytes())
    (output / f"rank{rank}.txt").write_text(f"{digest.hexdigest()} {result.steps}\n")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
